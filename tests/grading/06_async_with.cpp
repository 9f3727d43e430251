// Grader for exercise 06 — async with. Every check runs under virtual time and compares the
// pool's log, with times, against what must happen: which connection was taken, what ran on
// it, when it was given back, and when the caller went on. A connection that leaks, an exit
// that did not wait, a cleanup skipped on cancellation or an exception that changed type all
// show up as a different log. Cancellations are checked in the trace too: the task must end
// cancelled (not swallow the CancelledError).
#include "06_async_with.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <typeinfo>

#include "exercise.hpp"
#include "grader.hpp"

using namespace std::chrono_literals;
using coop::Task;
using ex06::Pool;

namespace {

// One scenario: a pool, and when the scenario's main task began (log times count from it).
struct Scene {
  explicit Scene(int size, std::set<int> broken = {}) : pool(size, std::move(broken)) {}
  Pool pool;
  coop::Clock::time_point t0{};

  void start() { t0 = coop::now(); }
  // The log as "<ms> ms: <what>" lines.
  std::vector<std::string> log() const {
    std::vector<std::string> out;
    for (const Pool::Entry& e : pool.log())
      out.push_back(
          fmt::format("{} ms: {}", std::chrono::duration_cast<std::chrono::milliseconds>(e.at - t0).count(), e.what));
    return out;
  }
};

void check_log(const Scene& s, const std::vector<std::string>& want, std::string_view what) {
  grading::check_eq(s.log(), want, fmt::format("the pool's log ({})", what),
                    grading::Hint{"Compare the two logs line by line: the first line that differs is the first thing "
                                  "done at the wrong time, or not at all. No \"back 1\": a give_back never awaited; "
                                  "the caller going on before it: an exit that did not wait."});
}

void check_all_back(const Scene& s, std::string_view what) {
  grading::check(s.pool.available() == s.pool.size(),
                 fmt::format("{}: {} of {} connections are available at the end, expected all: {} never given back",
                             what, s.pool.available(), s.pool.size(), s.pool.leased()),
                 grading::Hint{"Every connection taken goes back on every path: in aexit for a lease, and in aenter "
                               "itself when aenter fails after taking one (async_with then calls no aexit)."});
}

void check_cancelled(const grading::Run& run, std::string_view task, std::string_view what) {
  const coop::Outcome o = run.outcome(task);
  grading::check(
      o == coop::Outcome::cancelled,
      fmt::format("{}: task '{}' ended {}, expected cancelled (CancelledError must go on, after the cleanup)", what,
                  task, coop::to_string(o)),
      grading::Hint{"A cancel must go on after the cleanup: async_with re-throws it once aexit is done; don't catch "
                    "CancelledError in the body or in aexit (or re-throw it when you must catch it)."});
  grading::check(!run.has_diagnostic(coop::Diagnostic::Kind::swallowed_cancellation),
                 fmt::format("{}: the runtime warned that a task swallowed its cancellation", what),
                 grading::Hint{"A catch (...) that does not re-throw swallows CancelledError too: keep the "
                               "exception, clean up, then std::rethrow_exception it."});
}

// What an exception is, in words, for failure messages.
std::string describe(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const coop::CancelledError&) {
    return "CancelledError";
  } catch (const std::exception& x) {
    int status = 0;
    char* name = abi::__cxa_demangle(typeid(x).name(), nullptr, nullptr, &status);
    std::string type = status == 0 && name != nullptr ? name : typeid(x).name();
    std::free(name);
    return fmt::format("{}(\"{}\")", type, x.what());
  } catch (...) {
    return "something that is not a std::exception";
  }
}

// A body: notes which connection it holds, then keeps it for `d`.
Task<void> hold(Pool& pool, int conn, std::string who, coop::Clock::duration d) {
  pool.note(fmt::format("{} has {}", who, conn));
  co_await coop::sleep(d);
}

// ---- part 1 ----

Task<void> lease_returns(Scene& s) {
  s.start();
  ex06::Lease lease(s.pool);
  co_await coop::async_with(lease, [&](ex06::Lease& l) { return hold(s.pool, l.connection(), "body", 100ms); });
  s.pool.note("caller goes on");
}

Task<void> lease_throws(Scene& s, std::exception_ptr& caught) {
  s.start();
  ex06::Lease lease(s.pool);
  try {
    co_await coop::async_with(lease, [&](ex06::Lease& l) { return s.pool.execute(l.connection(), "!bad"); });
  } catch (const exercise::NotDone&) {
    throw;  // a stub: "not started", not a wrong answer
  } catch (...) {
    caught = std::current_exception();
  }
  s.pool.note("caller caught it");
}

Task<void> lease_user(Scene& s, std::string who, coop::Clock::duration d) {
  ex06::Lease lease(s.pool);
  co_await coop::async_with(lease, [&](ex06::Lease& l) { return hold(s.pool, l.connection(), who, d); });
}

// Starts `client` as a task named "client", cancels it after `after`, waits for it to end.
Task<void> cancel_after(Scene& s, Task<void> client, coop::Clock::duration after) {
  auto h = coop::create_task(std::move(client), "client");
  co_await coop::sleep(after);
  s.pool.note("cancel");
  h.cancel();
  try {
    co_await h;
  } catch (const coop::CancelledError&) {
  }
  s.pool.note("client ended");
}

Task<void> lease_cancelled(Scene& s) {
  s.start();
  co_await cancel_after(s, lease_user(s, "body", 1s), 100ms);
}

Task<void> three_users(Scene& s) {
  s.start();
  auto a = coop::create_task(lease_user(s, "a", 100ms), "a");
  auto b = coop::create_task(lease_user(s, "b", 100ms), "b");
  auto c = coop::create_task(lease_user(s, "c", 100ms), "c");
  co_await coop::gather(a, b, c);
}

// ---- part 2 ----

Task<void> query_ok(Scene& s, std::string& result) {
  s.start();
  result = co_await ex06::query(s.pool, "SELECT 1");
  s.pool.note("caller got the result");
}

Task<void> query_fails(Scene& s, std::string sql, std::exception_ptr& caught) {
  s.start();
  try {
    (void)co_await ex06::query(s.pool, sql);
  } catch (const exercise::NotDone&) {
    throw;  // a stub: "not started", not a wrong answer
  } catch (...) {
    caught = std::current_exception();
  }
  s.pool.note("caller caught it");
}

Task<void> query_void(Scene& s, std::string sql) { (void)co_await ex06::query(s.pool, std::move(sql)); }

Task<void> query_cancelled(Scene& s) {
  s.start();
  co_await cancel_after(s, query_void(s, "SELECT 1"), 50ms);
}

Task<std::vector<std::string>> two_queries(Scene& s) {
  s.start();
  std::vector<Task<std::string>> qs;
  qs.push_back(ex06::query(s.pool, "A"));
  qs.push_back(ex06::query(s.pool, "B"));
  co_return co_await coop::gather(std::move(qs));
}

// ---- part 3 ----

Task<void> transaction(Scene& s, std::vector<std::string> statements, std::exception_ptr& caught) {
  s.start();
  try {
    co_await ex06::run_in_transaction(s.pool, std::move(statements));
  } catch (const exercise::NotDone&) {
    throw;  // a stub: "not started", not a wrong answer
  } catch (...) {
    caught = std::current_exception();
  }
  s.pool.note("caller goes on");
}

// A Transaction used directly, on a connection the grader holds; the body runs `sql`.
Task<void> direct_transaction(Scene& s, std::string sql, std::exception_ptr& caught) {
  s.start();
  const int conn = co_await s.pool.take();
  ex06::Transaction tx(s.pool, conn);
  try {
    co_await coop::async_with(tx, [&](ex06::Transaction&) { return s.pool.execute(conn, sql); });
  } catch (const exercise::NotDone&) {
    throw;
  } catch (...) {
    caught = std::current_exception();
  }
  s.pool.note("caller goes on");
  co_await s.pool.give_back(conn);
}

Task<void> transaction_cancelled(Scene& s) {
  s.start();
  // A named vector: GCC 12 rejects a braced list inside a co_await expression.
  std::vector<std::string> statements{"UPDATE a", "UPDATE b", "UPDATE c"};
  co_await cancel_after(s, ex06::run_in_transaction(s.pool, std::move(statements)), 250ms);
}

// ---- part 4 ----

Task<void> checked(Scene& s, std::exception_ptr& caught) {
  s.start();
  ex06::CheckedLease lease(s.pool);
  try {
    co_await coop::async_with(lease,
                              [&](ex06::CheckedLease& l) { return hold(s.pool, l.connection(), "body", 100ms); });
  } catch (const exercise::NotDone&) {
    throw;  // a stub: "not started", not a wrong answer
  } catch (...) {
    caught = std::current_exception();
  }
  s.pool.note("caller goes on");
}

Task<void> checked_user(Scene& s) {
  ex06::CheckedLease lease(s.pool);
  co_await coop::async_with(lease, [&](ex06::CheckedLease& l) { return hold(s.pool, l.connection(), "body", 1s); });
}

Task<void> checked_cancelled(Scene& s) {
  s.start();
  co_await cancel_after(s, checked_user(s), 50ms);
}

template <class E>
void check_caught(const std::exception_ptr& caught, const std::string& message, std::string_view what,
                  std::string_view type) {
  grading::check(caught != nullptr, fmt::format("{}: the caller got no exception, expected {}", what, type),
                 grading::Hint{"The body's exception must reach the caller as it was thrown: async_with re-throws it after "
                              "aexit, so neither the body nor aexit may catch, replace or swallow it."});
  try {
    std::rethrow_exception(caught);
  } catch (const E& e) {
    grading::check_eq(std::string(e.what()), message, fmt::format("{}: the {}'s message", what, type), grading::Hint{"The body's exception must reach the caller as it was thrown: async_with re-throws it after "
                              "aexit, so neither the body nor aexit may catch, replace or swallow it."});
  } catch (...) {
    grading::fail(
        fmt::format("{}: the caller got {}, expected the {} itself, unchanged", what, describe(caught), type),
        grading::Hint{"The body's exception must reach the caller as it was thrown: async_with re-throws it after "
                              "aexit, so neither the body nor aexit may catch, replace or swallow it."});
  }
}

}  // namespace

int main(int argc, char** argv) {
  grading::Grader g(6, "async_with", "a leased connection always goes back");

  g.part("Lease: taken in aenter, given back in aexit, however the body ends",
         "Through coop::async_with, a Lease takes a connection before the body and gives it back after it — "
         "when the body returns, throws, or is cancelled — and the caller goes on only once it is back "
         "(20 ms later). With a pool of 1, three users get the connection in turn, in the order they asked.",
         {"aenter and aexit are coroutines: aenter awaits pool_.take(), aexit awaits pool_.give_back(...).",
          "aexit must give the connection back whatever `error` says, and must co_await give_back: a Task "
          "that is not awaited never runs, and one that is started but not awaited lets the caller go on "
          "before the connection is back.",
          "Task<void> Lease::aenter() { conn_ = co_await pool_.take(); }  Task<void> Lease::aexit("
          "std::exception_ptr) { co_await pool_.give_back(std::exchange(conn_, 0)); }"},
         [] {
           {
             Scene s(2);
             grading::run(lease_returns(s));
             check_log(s, {"0 ms: take 1", "0 ms: body has 1", "120 ms: back 1", "120 ms: caller goes on"},
                       "the body returns after 100 ms");
             check_all_back(s, "the body returns");
           }
           {
             Scene s(2);
             std::exception_ptr caught;
             grading::run(lease_throws(s, caught));
             check_log(s, {"0 ms: take 1", "100 ms: 1: !bad FAILED", "120 ms: back 1", "120 ms: caller caught it"},
                       "the body throws QueryError after 100 ms");
             check_caught<ex06::QueryError>(caught, "!bad: syntax error", "the body throws", "QueryError");
             check_all_back(s, "the body throws");
           }
           {
             Scene s(2);
             grading::Run run;
             grading::run(lease_cancelled(s), &run);
             check_log(s,
                       {"0 ms: take 1", "0 ms: body has 1", "100 ms: cancel", "120 ms: back 1", "120 ms: client ended"},
                       "the task is cancelled 100 ms into its body");
             check_cancelled(run, "client", "cancelled in the body");
             check_all_back(s, "cancelled in the body");
           }
           {
             Scene s(1);
             grading::run(three_users(s));
             check_log(s,
                       {"0 ms: take 1", "0 ms: a has 1", "120 ms: back 1", "120 ms: take 1", "120 ms: b has 1",
                        "240 ms: back 1", "240 ms: take 1", "240 ms: c has 1", "360 ms: back 1"},
                       "a pool of 1; a, b and c each hold a lease for 100 ms");
             check_all_back(s, "three users in turn");
           }
         });

  g.part(grading::BuildsOn{1}, "query: the result, or the error unchanged, after the connection is back",
         "query(pool, sql) leases a connection with async_with, executes sql and returns the result; a "
         "QueryError or ConnectionError reaches the caller unchanged, and on success, failure or cancellation "
         "the connection is back (20 ms after the statement) before the caller goes on.",
         {"Do not write the try/catch yourself: coop::async_with already awaits aexit on every path and "
          "re-throws the body's own exception.",
          "Lease lease(pool); then co_return co_await coop::async_with(lease, body); where body is a lambda "
          "taking Lease& that returns pool.execute(l.connection(), sql). Capture by reference: the lambda runs "
          "inside that co_await, while sql is alive (a capture by value written there is freed twice by GCC 12).",
          "Lease lease(pool); co_return co_await coop::async_with(lease, [&](Lease& l) { return "
          "pool.execute(l.connection(), sql); });"},
         [] {
           {
             Scene s(1);
             std::string result;
             grading::run(query_ok(s, result));
             grading::check_eq(result, std::string("SELECT 1 ok on 1"), "query(pool, \"SELECT 1\")'s result",
                               grading::Hint{"co_await coop::async_with(...) gives what the body gave: co_return "
                                             "that, the result of pool.execute on the leased connection."});
             check_log(s, {"0 ms: take 1", "100 ms: 1: SELECT 1", "120 ms: back 1", "120 ms: caller got the result"},
                       "a query that succeeds");
             check_all_back(s, "a query that succeeds");
           }
           {
             Scene s(1);
             std::exception_ptr caught;
             grading::run(query_fails(s, "!SELEKT", caught));
             check_caught<ex06::QueryError>(caught, "!SELEKT: syntax error", "a bad statement", "QueryError");
             check_log(s, {"0 ms: take 1", "100 ms: 1: !SELEKT FAILED", "120 ms: back 1", "120 ms: caller caught it"},
                       "a bad statement");
             check_all_back(s, "a bad statement");
           }
           {
             Scene s(1, {1});
             std::exception_ptr caught;
             grading::run(query_fails(s, "SELECT 1", caught));
             check_caught<ex06::ConnectionError>(caught, "connection 1 is broken", "a broken connection",
                                                 "ConnectionError");
             check_log(s, {"0 ms: take 1", "100 ms: 1: SELECT 1 FAILED", "120 ms: back 1", "120 ms: caller caught it"},
                       "a broken connection");
           }
           {
             Scene s(1);
             grading::Run run;
             grading::run(query_cancelled(s), &run);
             check_log(s, {"0 ms: take 1", "50 ms: cancel", "70 ms: back 1", "70 ms: client ended"},
                       "the task is cancelled 50 ms into the statement");
             check_cancelled(run, "client", "a cancelled query");
             check_all_back(s, "a cancelled query");
           }
           {
             Scene s(1);
             const auto results = grading::run(two_queries(s));
             grading::check_eq(results, std::vector<std::string>{"A ok on 1", "B ok on 1"},
                               "two queries at once on a pool of 1",
                               grading::Hint{"Each query returns its own statement's result: the body must use the sql "
                                             "of its own call and the connection of its own lease."});
             check_log(
                 s,
                 {"0 ms: take 1", "100 ms: 1: A", "120 ms: back 1", "120 ms: take 1", "220 ms: 1: B", "240 ms: back 1"},
                 "two queries at once on a pool of 1: the second waits for the connection");
           }
         });

  g.part(
      grading::BuildsOn{1}, "run_in_transaction: COMMIT or ROLLBACK, awaited, even when cancelled",
      "run_in_transaction nests a Transaction inside a Lease: take, BEGIN, the statements, then COMMIT — or "
      "ROLLBACK when a statement fails or the task is cancelled, awaited (100 ms) before the connection goes "
      "back (20 ms); the failure reaches the caller unchanged, after both exits.",
      {"Transaction::aexit looks only at whether `error` is null: null means the body returned (COMMIT), "
       "anything else, CancelledError included, means it did not (ROLLBACK).",
       "Two async_with, one inside the other: the outer body is a lambda calling a named coroutine "
       "in_transaction(pool, l.connection(), statements), which makes a Transaction and runs its own "
       "async_with whose body executes the statements. Exits run innermost first.",
       "Task<void> in_tx(Pool& p, int c, std::vector<std::string> st) { Transaction tx(p, c); co_await "
       "coop::async_with(tx, [&](Transaction&) { return execute_all(p, c, std::move(st)); }); } and "
       "run_in_transaction: Lease lease(pool); co_await coop::async_with(lease, [&](Lease& l) { return "
       "in_tx(pool, l.connection(), std::move(statements)); });"},
      [] {
        {
          Scene s(2);
          std::exception_ptr caught;
          grading::run(direct_transaction(s, "UPDATE a", caught));
          grading::check(caught == nullptr,
                         "a Transaction whose body succeeds threw " + (caught ? describe(caught) : std::string()),
                         grading::Hint{"When the body succeeds nothing is thrown: aexit gets a null error, ends the resource "
                                       "normally (COMMIT, give back) and returns."});
          check_log(s,
                    {"0 ms: take 1", "100 ms: 1: BEGIN", "200 ms: 1: UPDATE a", "300 ms: 1: COMMIT",
                     "300 ms: caller goes on", "320 ms: back 1"},
                    "async_with on a Transaction whose body runs UPDATE a");
        }
        {
          Scene s(2);
          std::exception_ptr caught;
          grading::run(direct_transaction(s, "!UPDATE a", caught));
          check_caught<ex06::QueryError>(caught, "!UPDATE a: syntax error", "a Transaction whose body fails",
                                         "QueryError");
          check_log(s,
                    {"0 ms: take 1", "100 ms: 1: BEGIN", "200 ms: 1: !UPDATE a FAILED", "300 ms: 1: ROLLBACK",
                     "300 ms: caller goes on", "320 ms: back 1"},
                    "async_with on a Transaction whose body fails");
        }
        {
          Scene s(2);
          std::exception_ptr caught;
          grading::run(transaction(s, {"UPDATE a", "UPDATE b"}, caught));
          grading::check(caught == nullptr,
                         "a transaction whose statements succeed threw " + (caught ? describe(caught) : std::string()),
                         grading::Hint{"When the body succeeds nothing is thrown: aexit gets a null error, ends the resource "
                                       "normally (COMMIT, give back) and returns."});
          check_log(s,
                    {"0 ms: take 1", "100 ms: 1: BEGIN", "200 ms: 1: UPDATE a", "300 ms: 1: UPDATE b",
                     "400 ms: 1: COMMIT", "420 ms: back 1", "420 ms: caller goes on"},
                    "both statements succeed");
          check_all_back(s, "a committed transaction");
        }
        {
          Scene s(2);
          std::exception_ptr caught;
          grading::run(transaction(s, {"UPDATE a", "!UPDATE b", "UPDATE c"}, caught));
          check_caught<ex06::QueryError>(caught, "!UPDATE b: syntax error", "the second statement fails", "QueryError");
          check_log(s,
                    {"0 ms: take 1", "100 ms: 1: BEGIN", "200 ms: 1: UPDATE a", "300 ms: 1: !UPDATE b FAILED",
                     "400 ms: 1: ROLLBACK", "420 ms: back 1", "420 ms: caller goes on"},
                    "the second statement fails: no third statement, ROLLBACK, then the connection goes back");
          check_all_back(s, "a failed transaction");
        }
        {
          Scene s(2);
          grading::Run run;
          grading::run(transaction_cancelled(s), &run);
          check_log(s,
                    {"0 ms: take 1", "100 ms: 1: BEGIN", "200 ms: 1: UPDATE a", "250 ms: cancel", "350 ms: 1: ROLLBACK",
                     "370 ms: back 1", "370 ms: client ended"},
                    "cancelled at 250 ms, during UPDATE b: the ROLLBACK still runs, and is awaited");
          check_cancelled(run, "client", "a cancelled transaction");
          check_all_back(s, "a cancelled transaction");
        }
      });

  g.part(
      "CheckedLease: a failed aenter gives back what it took",
      "CheckedLease::aenter takes a connection and checks it with SELECT 1. When the check fails "
      "(ConnectionError) or the task is cancelled during it, aenter gives the connection back, waits for "
      "that, and re-throws the same exception; the body never runs. async_with does not call aexit when "
      "aenter throws.",
      {"If aenter throws, async_with runs neither the body nor aexit: whatever aenter took before it failed, "
       "aenter itself must give back.",
       "Wrap the check in try/catch (...) — catch (...) so CancelledError is caught too — and in the handler "
       "only keep std::current_exception(). After the handler: if there was an error, co_await give_back, "
       "then std::rethrow_exception. (A catch block cannot co_await.)",
       "conn_ = co_await pool_.take(); std::exception_ptr e; try { co_await pool_.execute(conn_, \"SELECT "
       "1\"); } catch (...) { e = std::current_exception(); } if (e) { co_await "
       "pool_.give_back(std::exchange(conn_, 0)); std::rethrow_exception(e); }"},
      [] {
        {
          Scene s(2);
          std::exception_ptr caught;
          grading::run(checked(s, caught));
          grading::check(caught == nullptr,
                         "a CheckedLease on a good connection threw " + (caught ? describe(caught) : std::string()),
                         grading::Hint{"When the check (SELECT 1) succeeds, aenter keeps the connection and returns "
                                       "normally: re-throw only when the check threw."});
          check_log(
              s,
              {"0 ms: take 1", "100 ms: 1: SELECT 1", "100 ms: body has 1", "220 ms: back 1", "220 ms: caller goes on"},
              "a good connection: checked, used by the body for 100 ms, given back");
        }
        {
          Scene s(2, {1});
          std::exception_ptr caught;
          grading::run(checked(s, caught));
          check_caught<ex06::ConnectionError>(caught, "connection 1 is broken", "the check fails", "ConnectionError");
          check_log(s, {"0 ms: take 1", "100 ms: 1: SELECT 1 FAILED", "120 ms: back 1", "120 ms: caller goes on"},
                    "connection 1 is broken: the check fails, the connection goes back, no body");
          check_all_back(s, "the check fails");
        }
        {
          Scene s(1);
          grading::Run run;
          grading::run(checked_cancelled(s), &run);
          check_log(s, {"0 ms: take 1", "50 ms: cancel", "70 ms: back 1", "70 ms: client ended"},
                    "cancelled at 50 ms, during the check: the connection goes back, no body");
          check_cancelled(run, "client", "cancelled during the check");
          check_all_back(s, "cancelled during the check");
        }
      });

  return g.main(argc, argv);
}
