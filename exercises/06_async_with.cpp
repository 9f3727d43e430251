// Exercise 06 — async with. Replace each exercise::todo(...) with your code; the hints in the
// TODO comments get you started, `./coop run 6` grades it, `./coop hint 6` helps more.
#include "06_async_with.hpp"

#include "exercise.hpp"

namespace ex06 {

// ---- Part 1 --------------------------------------------------------------------------------

coop::Task<void> Lease::aenter() {
  // TODO: take a connection from pool_ (co_await pool_.take()) and keep it in conn_.
  (void)pool_;
  exercise::todo("Lease::aenter");
  co_return;
}

coop::Task<void> Lease::aexit(std::exception_ptr error) {
  // TODO: give conn_ back to pool_, and co_await that: the caller must go on only once the
  //       connection is back. Whatever `error` says.
  (void)error;
  exercise::todo("Lease::aexit");
  co_return;
}

// ---- Part 2 --------------------------------------------------------------------------------

coop::Task<std::string> query(Pool& pool, std::string sql) {
  // TODO: make a Lease on `pool`, then co_return co_await coop::async_with(lease, body) where
  //       body is a lambda taking Lease& that returns pool.execute(l.connection(), sql).
  //       Capture by reference ([&]); do not catch anything yourself.
  (void)pool, (void)sql;
  exercise::todo("query");
  co_return {};
}

// ---- Part 3 --------------------------------------------------------------------------------

coop::Task<void> Transaction::aenter() {
  // TODO: execute "BEGIN" on conn_ (with pool_.execute), and co_await it.
  (void)pool_, (void)conn_;
  exercise::todo("Transaction::aenter");
  co_return;
}

coop::Task<void> Transaction::aexit(std::exception_ptr error) {
  // TODO: execute "COMMIT" if error is null, else "ROLLBACK"; co_await it.
  (void)error;
  exercise::todo("Transaction::aexit");
  co_return;
}

coop::Task<void> run_in_transaction(Pool& pool, std::vector<std::string> statements) {
  // TODO: two async_with, nested: a Lease, and inside its body a Transaction on
  //       l.connection() whose body executes the statements one after the other. Write the
  //       inner parts as named coroutines (with by-value parameters), e.g.
  //       Task<void> in_transaction(Pool&, int conn, std::vector<std::string>), and make each
  //       body a lambda that only calls one of them.
  (void)pool, (void)statements;
  exercise::todo("run_in_transaction");
  co_return;
}

// ---- Part 4 --------------------------------------------------------------------------------

coop::Task<void> CheckedLease::aenter() {
  // TODO: take a connection, then execute "SELECT 1" on it. If that throws (anything,
  //       CancelledError too), give the connection back, co_await that, and re-throw the same
  //       exception. You cannot co_await inside a catch block: keep std::current_exception()
  //       and do the rest after it.
  (void)pool_;
  exercise::todo("CheckedLease::aenter");
  co_return;
}

coop::Task<void> CheckedLease::aexit(std::exception_ptr error) {
  // TODO: like Lease::aexit.
  (void)error;
  exercise::todo("CheckedLease::aexit");
  co_return;
}

}  // namespace ex06
