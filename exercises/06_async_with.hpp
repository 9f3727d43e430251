// Exercise 06 — async with: a leased connection always goes back (lesson 06).
//
// You write the members and functions declared below, after the given Pool, in
// exercises/06_async_with.cpp. They are async context managers: classes with
//     coop::Task<void> aenter();                        // Python's __aenter__
//     coop::Task<void> aexit(std::exception_ptr error); // __aexit__; null when the body returned
// used through coop::async_with(resource, body) (runtime/include/coop/async_with.hpp), which
// awaits aenter, then body(resource), then aexit — whether the body returned, threw or was
// cancelled — and then lets the body's exception go on. If aenter throws, neither the body
// nor aexit runs.
//
// The grader (tests/grading/06_async_with.cpp) runs everything under virtual time and reads
// the pool's log: which connection was taken and given back, by then, in what order. So it
// sees a connection that leaks, a cleanup that did not wait, or an error that changed type.
//
// Two C++ traps, both taught in lesson 06:
//   * A destructor cannot co_await, and neither can a catch block. Cleanup that awaits goes
//     after the handler: keep std::current_exception(), leave the catch, co_await the cleanup,
//     then std::rethrow_exception.
//   * The body is a callable taking the resource and returning a Task. Write the coroutine as
//     a named function with by-value parameters, and make the body a lambda that only calls
//     it, capturing by reference:  [&](Lease& l) { return pool.execute(l.connection(), sql); }
//     Never `co_await async_with(r, [sql](Lease&) -> coop::Task<...> {...})`: a lambda whose
//     captures own memory, written inside the co_await expression, is destroyed twice by
//     GCC 12 (a double free); and a lambda that is itself a coroutine keeps its captures in
//     the closure, which may die before the coroutine does.
#pragma once

#include <coop/coop.hpp>

#include <chrono>
#include <exception>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace ex06 {

// A statement failed (given): a bad statement, see Pool::execute.
class QueryError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The connection is broken (given): every statement on it fails with this.
class ConnectionError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A pool of at most `size` database connections (given; read it, do not change it).
// Connections are numbered 1, 2, ... in the order the pool opens them (on demand). A task
// takes one with take(), uses it with execute(), and must give it back with give_back():
// a connection never given back is lost to every other task, and once all are lost every
// take() waits forever.
class Pool {
 public:
  static constexpr coop::Clock::duration statement_time = std::chrono::milliseconds(100);
  static constexpr coop::Clock::duration reset_time = std::chrono::milliseconds(20);

  // `broken`: the connections on which every statement fails with ConnectionError.
  explicit Pool(int size, std::set<int> broken = {}) : size_(size), broken_(std::move(broken)) {}
  Pool(const Pool&) = delete;  // tasks wait inside it
  Pool& operator=(const Pool&) = delete;

  // Takes a connection: an idle one, or a new one while fewer than `size` are open, or else
  // waits until one is given back. Waiting tasks are served first come, first served.
  // Logs "take N".
  coop::Task<int> take() {
    int conn = 0;
    if (idle_.empty() && opened_ < size_)
      conn = ++opened_;  // open a new one (instantly, in this simulation)
    else
      conn = co_await idle_.get();  // wait in line (a Queue serves its getters in order)
    ++leased_;
    note("take " + std::to_string(conn));
    co_return conn;
  }

  // Gives a connection back. That takes reset_time (20 ms: the server resets the session),
  // so it is a coroutine that awaits; only when it has finished is the connection available
  // again (to the first waiting task, if any). Logs "back N".
  coop::Task<void> give_back(int conn) {
    check(conn, "give_back");
    co_await coop::sleep(reset_time);
    --leased_;
    note("back " + std::to_string(conn));
    co_await idle_.put(conn);  // never waits (the queue is unbounded)
  }

  // Runs one SQL statement on connection `conn`; takes statement_time (100 ms). Returns
  // "<sql> ok on N", and logs "N: <sql>". Fails, logging "N: <sql> FAILED", with
  //   ConnectionError when `conn` is broken, and
  //   QueryError("<sql>: syntax error") when sql starts with '!' (a bad statement).
  coop::Task<std::string> execute(int conn, std::string sql) {
    check(conn, "execute");
    co_await coop::sleep(statement_time);
    const std::string line = std::to_string(conn) + ": " + sql;
    if (broken_.contains(conn)) {
      note(line + " FAILED");
      throw ConnectionError("connection " + std::to_string(conn) + " is broken");
    }
    if (!sql.empty() && sql[0] == '!') {
      note(line + " FAILED");
      throw QueryError(sql + ": syntax error");
    }
    note(line);
    co_return sql + " ok on " + std::to_string(conn);
  }

  int size() const noexcept { return size_; }
  // How many connections a take() would get without waiting (size minus those leased; a
  // connection being given back still counts as leased until give_back has finished).
  int available() const noexcept { return size_ - leased_; }
  int leased() const noexcept { return leased_; }

  // The log: what happened, when (on the loop's clock). note() adds a line of your own.
  struct Entry {
    coop::Clock::time_point at;
    std::string what;
  };
  const std::vector<Entry>& log() const noexcept { return log_; }
  void note(std::string what) { log_.push_back({coop::now(), std::move(what)}); }

 private:
  void check(int conn, const char* what) const {
    if (conn < 1 || conn > opened_)
      throw std::logic_error(std::string(what) + "(" + std::to_string(conn) +
                             "): no such connection (take() one first; 0 means none is held)");
  }

  int size_;                // the most connections open at once
  std::set<int> broken_;    // connections whose statements fail
  int opened_ = 0;          // connections opened so far: 1..opened_
  int leased_ = 0;          // taken and not yet given back
  coop::Queue<int> idle_;   // connections given back, waiting for a taker
  std::vector<Entry> log_;  // everything that happened
};

// ---- Part 1 --------------------------------------------------------------------------------
// A lease on one connection of a pool, as an async context manager:
//   aenter(): take a connection from the pool (waiting while none is available) and keep it
//             in conn_;
//   aexit():  give it back, and wait until that has finished (it takes 20 ms); always, however
//             the body ended (`error` says how: null, its exception, or CancelledError).
// Usage:  Lease lease(pool);
//         co_await coop::async_with(lease, [&](Lease& l) { return pool.execute(l.connection(), "SELECT 1"); });
class Lease {
 public:
  explicit Lease(Pool& pool) noexcept : pool_(pool) {}
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;

  coop::Task<void> aenter();
  coop::Task<void> aexit(std::exception_ptr error);

  // The connection held, between aenter and aexit; 0 when none is held.
  int connection() const noexcept { return conn_; }

 private:
  Pool& pool_;
  int conn_ = 0;
};

// ---- Part 2 --------------------------------------------------------------------------------
// Runs one statement on a leased connection: lease one (with a Lease and coop::async_with),
// execute `sql` on it, and return execute's result. The connection is back in the pool
// before query returns, whether execute returned, threw, or the task was cancelled; an
// exception (QueryError, ConnectionError, CancelledError) reaches the caller unchanged.
coop::Task<std::string> query(Pool& pool, std::string sql);

// ---- Part 3 --------------------------------------------------------------------------------
// A transaction on a connection the caller holds, as an async context manager:
//   aenter(): execute "BEGIN";
//   aexit():  execute "COMMIT" when the body returned, "ROLLBACK" when it did not (threw, or
//             was cancelled); awaited in both cases, also after a cancellation.
class Transaction {
 public:
  Transaction(Pool& pool, int conn) noexcept : pool_(pool), conn_(conn) {}
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  coop::Task<void> aenter();
  coop::Task<void> aexit(std::exception_ptr error);

 private:
  Pool& pool_;
  int conn_;
};

// Runs `statements` in one transaction: lease a connection, BEGIN, execute each statement in
// order, COMMIT; or, if a statement fails or the task is cancelled, ROLLBACK. Then give the
// connection back. That is two async_with, one inside the other:
//     take N, N: BEGIN, N: <statements...>, N: COMMIT or ROLLBACK, back N
// The failure (the statement's exception, or CancelledError) goes on to the caller
// unchanged, after the connection is back.
coop::Task<void> run_in_transaction(Pool& pool, std::vector<std::string> statements);

// ---- Part 4 --------------------------------------------------------------------------------
// A lease that checks its connection before handing it out:
//   aenter(): take a connection, then execute "SELECT 1" on it (a health check, 100 ms). If
//             the check fails (ConnectionError) or the task is cancelled during it, give the
//             connection back, wait for that, and re-throw the same exception: async_with
//             does not call aexit when aenter throws, so nobody else will return it.
//   aexit():  like Lease's: give the connection back.
class CheckedLease {
 public:
  explicit CheckedLease(Pool& pool) noexcept : pool_(pool) {}
  CheckedLease(const CheckedLease&) = delete;
  CheckedLease& operator=(const CheckedLease&) = delete;

  coop::Task<void> aenter();
  coop::Task<void> aexit(std::exception_ptr error);

  int connection() const noexcept { return conn_; }

 private:
  Pool& pool_;
  int conn_ = 0;
};

}  // namespace ex06
