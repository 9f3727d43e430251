// Wrong answer for exercise 06: the reference solution, but Lease::aexit does not await the
// give-back (part 1). query and run_in_transaction (parts 2 and 3) use that Lease and fail
// with it; CheckedLease (part 4) has its own exit and passes.
#include "06_async_with.hpp"

namespace ex06 {

// ---- Part 1 --------------------------------------------------------------------------------

coop::Task<void> Lease::aenter() {
  // Taking may wait (every connection is leased): that is why aenter is a coroutine and not
  // a constructor. The connection is kept in the lease, for the body and for aexit.
  conn_ = co_await pool_.take();
}

coop::Task<void> Lease::aexit(std::exception_ptr /*error*/) {
  // The mistake: the give-back is started as a task of its own and not awaited, so the
  // caller goes on before the connection is back.
  coop::create_task(pool_.give_back(std::exchange(conn_, 0)), "give back");
  co_return;
}

// ---- Part 2 --------------------------------------------------------------------------------

coop::Task<std::string> query(Pool& pool, std::string sql) {
  Lease lease(pool);
  // The body only calls a coroutine and returns its Task; it captures by reference, which is
  // safe here: async_with keeps the lambda in its frame and runs it inside this co_await
  // expression, while `pool`, `sql` and `lease` are alive. async_with awaits aexit before it
  // returns the result or re-throws the body's exception, the very same exception object.
  co_return co_await coop::async_with(lease, [&](Lease& l) { return pool.execute(l.connection(), sql); });
}

// ---- Part 3 --------------------------------------------------------------------------------

coop::Task<void> Transaction::aenter() { co_await pool_.execute(conn_, "BEGIN"); }

coop::Task<void> Transaction::aexit(std::exception_ptr error) {
  // A null error means the body returned. Anything else, CancelledError included, means the
  // work is incomplete, and ROLLBACK is awaited like COMMIT: cleanup that takes time is
  // exactly what an async exit is for.
  co_await pool_.execute(conn_, error ? "ROLLBACK" : "COMMIT");
}

namespace {
// The statements, one after the other, on the connection the caller holds. By-value
// vector: the frame keeps its own copy.
coop::Task<void> execute_all(Pool& pool, int conn, std::vector<std::string> statements) {
  for (const std::string& sql : statements) co_await pool.execute(conn, sql);
}

// The inner `async with`: a transaction on the leased connection. A named coroutine, so the
// Transaction lives in its frame for as long as the transaction runs.
coop::Task<void> in_transaction(Pool& pool, int conn, std::vector<std::string> statements) {
  Transaction tx(pool, conn);
  co_await coop::async_with(tx, [&](Transaction&) { return execute_all(pool, conn, std::move(statements)); });
}
}  // namespace

coop::Task<void> run_in_transaction(Pool& pool, std::vector<std::string> statements) {
  // The outer `async with`: the lease. Exits run innermost first: ROLLBACK/COMMIT, then the
  // connection goes back; then the exception, if any, goes on, unchanged, to our caller.
  Lease lease(pool);
  co_await coop::async_with(lease,
                            [&](Lease& l) { return in_transaction(pool, l.connection(), std::move(statements)); });
}

// ---- Part 4 --------------------------------------------------------------------------------

coop::Task<void> CheckedLease::aenter() {
  conn_ = co_await pool_.take();
  // From here on we hold a connection, and async_with will not call aexit if we throw: we
  // entered only half-way. So the failure must be undone here. The shape is lesson 05's:
  // co_await is not allowed in a handler, so keep the exception, leave the handler, await
  // the cleanup, re-throw. catch (...) and not catch (const std::exception&): CancelledError
  // is not a std::exception, and a cancelled check must give the connection back too.
  std::exception_ptr error;
  try {
    co_await pool_.execute(conn_, "SELECT 1");
  } catch (...) {
    error = std::current_exception();
  }
  if (error) {
    co_await pool_.give_back(std::exchange(conn_, 0));
    std::rethrow_exception(error);  // the same exception: ConnectionError, or CancelledError
  }
}

coop::Task<void> CheckedLease::aexit(std::exception_ptr /*error*/) {
  co_await pool_.give_back(std::exchange(conn_, 0));
}

}  // namespace ex06
