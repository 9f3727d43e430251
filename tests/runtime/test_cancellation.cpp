// test_cancellation.cpp — TaskHandle::cancel() and CancelledError (asyncio's Task.cancel).
//
// Proves: a task cancelled before it starts never runs its body and ends cancelled; a task
// cancelled while suspended (sleep, Event.wait) has that wait abandoned and gets
// CancelledError at that co_await; a task cancelled while ready (woken, not resumed) gets
// it at the co_await it resumes from; a task cancelled while running keeps running until
// its NEXT co_await, where CancelledError is thrown; one cancel() delivers one
// CancelledError, so cleanup may await before re-throwing; a task that swallows the error
// and returns is reported (naming it) and is not cancelled(); cancel() returns false once the
// task is done; cancelling a task that awaits a handle does not cancel the awaited task (a
// documented difference from asyncio); CancelledError is not a std::exception; and a task
// cancelled while running that returns before another co_await ends cancelled.
#include <exception>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "support.hpp"

using namespace coop;
using namespace coop::testing;

static_assert(!std::is_base_of_v<std::exception, CancelledError>,
              "CancelledError must not derive from std::exception (like asyncio's BaseException)");

namespace {

using Log = std::vector<std::string>;

// --- before start ----------------------------------------------------------------------------

Task<void> marks_if_started(bool* started) {
  *started = true;
  co_return;
}

struct BeforeStart {
  bool cancel_returned = false;
  bool await_threw_cancelled = false;
  bool cancelled = false;
  bool done = false;
};
Task<BeforeStart> cancel_before_start(bool* started) {
  BeforeStart out;
  auto h = create_task(marks_if_started(started));
  out.cancel_returned = h.cancel();  // it has not had a turn yet
  try {
    co_await h;
  } catch (const CancelledError&) {
    out.await_threw_cancelled = true;
  }
  out.done = h.done();
  out.cancelled = h.cancelled();
  co_return out;
}

// --- while suspended ---------------------------------------------------------------------------

Task<void> sleep_logging(Log* log, Clock::duration d) {
  log->push_back("before sleep");
  try {
    co_await sleep(d);
    log->push_back("after sleep");
  } catch (const CancelledError&) {
    log->push_back("CancelledError at sleep, t=" + std::to_string(elapsed() / 1ms) + "ms");
    throw;
  }
}

Task<Log> cancel_while_sleeping() {
  Log log;
  auto h = create_task(sleep_logging(&log, 3600s));
  co_await sleep(25ms);
  CHECK(h.cancel());
  co_await sleep(0ms);  // give it its turn
  CHECK(h.done());
  CHECK(h.cancelled());
  log.push_back("main at " + std::to_string(elapsed() / 1ms) + "ms");
  co_return log;
}

Task<void> wait_logging(Event* ev, Log* log) {
  try {
    co_await ev->wait();
    log->push_back("event seen");
  } catch (const CancelledError&) {
    log->push_back("CancelledError at wait");
    throw;
  }
}

Task<Log> cancel_while_waiting_on_event() {
  Log log;
  Event ev("never");
  auto cancelled = create_task(wait_logging(&ev, &log), "cancelled");
  auto other = create_task(wait_logging(&ev, &log), "other");
  co_await sleep(10ms);
  CHECK(cancelled.cancel());
  try {
    co_await cancelled;
  } catch (const CancelledError&) {
    log.push_back("main saw it cancelled");
  }
  // The cancelled waiter was unlinked from the event: setting it wakes only the other one.
  ev.set();
  co_await other;
  CHECK(cancelled.cancelled());
  CHECK_FALSE(other.cancelled());
  co_return log;
}

// The waiter is a named local that outlives the cancelled co_await: it must be unlinked from
// the event at cancel time, or a later set() would wake the task out of an unrelated wait.
Task<void> keeps_its_cancelled_waiter(Event* ev, Clock::duration* resumed_at) {
  auto waiter = ev->wait();
  std::exception_ptr e;
  try {
    co_await waiter;
  } catch (const CancelledError&) {
    e = std::current_exception();
  }
  co_await sleep(3600s);
  *resumed_at = elapsed();
  if (e) std::rethrow_exception(e);
}

Task<void> cancel_a_named_event_wait(Clock::duration* resumed_at) {
  Event ev;
  auto h = create_task(keeps_its_cancelled_waiter(&ev, resumed_at));
  co_await sleep(10ms);
  h.cancel();
  co_await sleep(10ms);
  ev.set();  // must not reach the cancelled waiter
  try {
    co_await h;
  } catch (const CancelledError&) {
  }
}

// --- while running or ready ------------------------------------------------------------------

Task<void> cancels_itself(TaskHandle<void>* self, Log* log) {
  log->push_back("running");
  bool accepted = self->cancel();
  log->push_back(accepted ? "cancel() returned true" : "cancel() returned false");
  log->push_back("code after cancel() still runs");
  try {
    co_await sleep(1s);
    log->push_back("slept anyway");
  } catch (const CancelledError&) {
    log->push_back("CancelledError at the next co_await, t=" + std::to_string(elapsed() / 1ms) + "ms");
    throw;
  }
}

Task<Log> self_cancel() {
  Log log;
  TaskHandle<void> h;
  h = create_task(cancels_itself(&h, &log));
  try {
    co_await h;
  } catch (const CancelledError&) {
    log.push_back("main saw it cancelled");
  }
  co_return log;
}

Task<void> yields_then_sleeps(Log* log) {
  log->push_back("step 1");
  co_await sleep(0ms);  // ready again: main cancels it now
  log->push_back("step 2 still runs");
  try {
    co_await sleep(10ms);
    log->push_back("slept anyway");
  } catch (const CancelledError&) {
    log->push_back("CancelledError at the next co_await");
    throw;
  }
}

Task<Log> cancel_while_ready() {
  Log log;
  auto h = create_task(yields_then_sleeps(&log));
  co_await sleep(0ms);  // h runs step 1 and yields; now it is ready, not suspended on a timer
  log.push_back("main cancels");
  CHECK(h.cancel());
  try {
    co_await h;
  } catch (const CancelledError&) {
    log.push_back("main saw it cancelled");
  }
  CHECK(elapsed() == 0ms);  // its 10 ms sleep never happened
  co_return log;
}

// --- delivered once; cleanup that awaits -------------------------------------------------

Task<void> cleans_up_then_rethrows(Log* log) {
  std::exception_ptr cancelled;
  try {
    co_await sleep(3600s);
  } catch (const CancelledError&) {
    cancelled = std::current_exception();  // no co_await in a catch block: keep it, leave
  }
  if (cancelled) {
    log->push_back("cleanup starts at " + std::to_string(elapsed() / 1ms) + "ms");
    co_await sleep(50ms);  // awaiting works again: the cancel was delivered once
    co_await sleep(0ms);
    log->push_back("cleanup done at " + std::to_string(elapsed() / 1ms) + "ms");
    std::rethrow_exception(cancelled);
  }
}

Task<Log> cleanup_idiom() {
  Log log;
  auto h = create_task(cleans_up_then_rethrows(&log), "cleaner");
  co_await sleep(10ms);
  h.cancel();
  try {
    co_await h;
  } catch (const CancelledError&) {
    log.push_back("main saw it cancelled at " + std::to_string(elapsed() / 1ms) + "ms");
  }
  CHECK(h.cancelled());
  co_return log;
}

// Two cancels, two deliveries: each one lands at one co_await.
Task<int> counts_cancellations(int* delivered) {
  for (int i = 0; i < 3; ++i) {
    try {
      co_await sleep(1s);
    } catch (const CancelledError&) {
      ++*delivered;
    }
  }
  co_return *delivered;
}

Task<Clock::duration> cancel_twice(int* delivered) {
  auto h = create_task(counts_cancellations(delivered), "counter");
  co_await sleep(10ms);
  h.cancel();
  co_await sleep(10ms);
  h.cancel();
  int n = co_await h;  // it swallowed both and returned
  CHECK(n == 2);
  CHECK_FALSE(h.cancelled());
  co_return elapsed();
}

// --- swallowed cancellation ----------------------------------------------------------------------

Task<int> swallows_cancellation() {
  try {
    co_await sleep(3600s);
  } catch (const CancelledError&) {
    // swallowed: no re-throw
  }
  co_return 17;
}

struct Swallowed {
  int value = 0;
  bool cancelled = true;
  Outcome outcome = Outcome::pending;
};
Task<Swallowed> swallow() {
  auto h = create_task(swallows_cancellation(), "swallower");
  co_await sleep(10ms);
  h.cancel();
  Swallowed s;
  s.value = co_await h;
  s.cancelled = h.cancelled();
  s.outcome = h.outcome();
  co_return s;
}

// --- cancel() once done -----------------------------------------------------------------------

Task<int> returns_one() { co_return 1; }
Task<void> fails() {
  co_await sleep(1ms);
  throw std::runtime_error("failed");
}

Task<std::vector<bool>> cancel_after_done() {
  std::vector<bool> results;
  auto ok = create_task(returns_one());
  auto bad = create_task(fails());
  auto victim = create_task(returns_one());
  results.push_back(victim.cancel());  // not done yet: accepted
  co_await sleep(10ms);
  results.push_back(ok.cancel());      // returned: false
  results.push_back(bad.cancel());     // failed: false
  results.push_back(victim.cancel());  // already cancelled: false
  CHECK_FALSE(ok.cancelled());
  CHECK(ok.result() == 1);
  CHECK_FALSE(bad.cancelled());
  CHECK(bad.exception() != nullptr);
  CHECK(victim.cancelled());
  co_return results;
}

// --- awaiting a handle -----------------------------------------------------------------------------

Task<int> slow_seven() {
  co_await sleep(100ms);
  co_return 7;
}

Task<void> awaits_other(TaskHandle<int> other, Log* log) {
  try {
    int v = co_await other;
    log->push_back("got " + std::to_string(v));
  } catch (const CancelledError&) {
    log->push_back("waiter cancelled at " + std::to_string(elapsed() / 1ms) + "ms");
    throw;
  }
}

Task<Log> cancel_a_task_awaiting_a_handle() {
  Log log;
  auto target = create_task(slow_seven(), "target");
  auto waiter = create_task(awaits_other(target, &log), "waiter");
  co_await sleep(10ms);
  waiter.cancel();
  try {
    co_await waiter;
  } catch (const CancelledError&) {
  }
  CHECK(waiter.cancelled());
  CHECK_FALSE(target.done());  // the awaited task runs on
  int v = co_await target;
  log.push_back("target returned " + std::to_string(v) + " at " + std::to_string(elapsed() / 1ms) + "ms");
  CHECK_FALSE(target.cancelled());
  co_return log;
}

// --- not a std::exception --------------------------------------------------------------------------

Task<void> catches_std_exception(bool* caught_as_std, bool* continued) {
  try {
    co_await sleep(3600s);
  } catch (const std::exception&) {
    *caught_as_std = true;
  }
  *continued = true;
}

Task<bool> cancel_through_std_exception_handler(bool* caught_as_std, bool* continued) {
  auto h = create_task(catches_std_exception(caught_as_std, continued));
  co_await sleep(10ms);
  h.cancel();
  try {
    co_await h;
  } catch (const CancelledError&) {
  }
  co_return h.cancelled();
}

// --- cancelled while running, returns before the next co_await ---------------------------------

Task<int> cancels_itself_then_returns(TaskHandle<int>* self, bool* reached_return) {
  co_await sleep(1ms);
  (void)self->cancel();
  *reached_return = true;
  co_return 5;  // no co_await after cancel(): the cancellation was never delivered
}

struct ReturnedAnyway {
  bool cancelled = false;
  Outcome outcome = Outcome::pending;
  bool await_threw_cancelled = false;
};
Task<ReturnedAnyway> cancelled_while_running_then_returns(bool* reached_return) {
  ReturnedAnyway r;
  TaskHandle<int> h;
  h = create_task(cancels_itself_then_returns(&h, reached_return));
  try {
    int v = co_await h;
    (void)v;
  } catch (const CancelledError&) {
    r.await_threw_cancelled = true;
  }
  r.cancelled = h.cancelled();
  r.outcome = h.outcome();
  co_return r;
}

// Cancelled by another task while ready: the CancelledError comes out of its sleep(0), so
// the code after it never runs.
Task<int> yields_then_returns(bool* reached_return) {
  co_await sleep(0ms);
  *reached_return = true;
  co_return 5;
}
Task<bool> cancelled_while_ready_then_returns(bool* reached_return) {
  auto h = create_task(yields_then_returns(reached_return));
  co_await sleep(0ms);  // h has yielded and is ready
  h.cancel();
  try {
    int v = co_await h;
    (void)v;
  } catch (const CancelledError&) {
    co_return h.cancelled();
  }
  co_return false;
}

}  // namespace

TEST_CASE("cancel before start: the body never runs and the task ends cancelled") {
  bool started = false;
  BeforeStart out = run_virtual(cancel_before_start(&started));
  CHECK_FALSE(started);
  CHECK(out.cancel_returned);
  CHECK(out.await_threw_cancelled);
  CHECK(out.done);
  CHECK(out.cancelled);
}

TEST_CASE("cancel while sleeping: the sleep is abandoned and CancelledError is thrown at that co_await") {
  CHECK(run_virtual(cancel_while_sleeping()) ==
        Log{"before sleep", "CancelledError at sleep, t=25ms", "main at 25ms"});
}

TEST_CASE("cancel while waiting on an Event: the wait is abandoned, the waiter unlinked, CancelledError thrown") {
  CHECK(run_virtual(cancel_while_waiting_on_event()) ==
        Log{"CancelledError at wait", "main saw it cancelled", "event seen"});
}

TEST_CASE("a cancelled Event wait is unlinked at once: a later set() does not reach it") {
  Clock::duration resumed_at{};
  run_virtual(cancel_a_named_event_wait(&resumed_at));
  CHECK(resumed_at == 10ms + 3600s);  // the hour-long cleanup sleep ran in full
}

TEST_CASE("cancel while running (a task cancels itself): code until the next co_await still runs, then CancelledError") {
  CHECK(run_virtual(self_cancel()) == Log{"running", "cancel() returned true", "code after cancel() still runs",
                                          "CancelledError at the next co_await, t=0ms", "main saw it cancelled"});
}

TEST_CASE("cancel while ready (by another task): thrown at the co_await it resumes from, as asyncio's Task.__step does") {
  // The code between its sleep(0) and the next co_await never runs.
  CHECK(run_virtual(cancel_while_ready()) == Log{"step 1", "main cancels", "main saw it cancelled"});
}

TEST_CASE("delivered once per cancel(): after catching, cleanup can await, then re-throw") {
  CHECK(run_virtual(cleanup_idiom()) ==
        Log{"cleanup starts at 10ms", "cleanup done at 60ms", "main saw it cancelled at 60ms"});
}

TEST_CASE("each cancel() delivers exactly one CancelledError") {
  int delivered = 0;
  std::vector<Diagnostic> diags;
  Clock::duration t = run_virtual(cancel_twice(&delivered), &diags);
  CHECK(delivered == 2);
  CHECK(t == 1020ms);  // third sleep ran in full: 20 ms + 1 s
  CHECK(count(diags, Diagnostic::Kind::swallowed_cancellation) == 1);
}

TEST_CASE("a task that catches CancelledError and returns normally is reported by name, and is not cancelled()") {
  std::vector<Diagnostic> diags;
  Swallowed s = run_virtual(swallow(), &diags);
  CHECK(s.value == 17);
  CHECK_FALSE(s.cancelled);
  CHECK(s.outcome == Outcome::returned);
  REQUIRE(diags.size() == 1);
  CHECK(diags[0].kind == Diagnostic::Kind::swallowed_cancellation);
  CHECK(diags[0].task == "swallower");
  CHECK(diags[0].message.find("swallower") != std::string::npos);
}

TEST_CASE("cancel() returns true while the task is unfinished, false once it is done") {
  CHECK(run_virtual(cancel_after_done()) == std::vector<bool>{true, false, false, false});
}

TEST_CASE("cancelling a task that awaits a handle abandons that wait but does not cancel the awaited task") {
  // A documented difference from asyncio, which would forward the cancellation.
  CHECK(run_virtual(cancel_a_task_awaiting_a_handle()) == Log{"waiter cancelled at 10ms", "target returned 7 at 100ms"});
}

TEST_CASE("CancelledError is not a std::exception: catch (std::exception&) does not swallow it") {
  bool caught_as_std = false;
  bool continued = false;
  CHECK(run_virtual(cancel_through_std_exception_handler(&caught_as_std, &continued)));
  CHECK_FALSE(caught_as_std);
  CHECK_FALSE(continued);
}

TEST_CASE("a task cancelled while running that returns before any further co_await ends cancelled") {
  bool reached_return = false;
  ReturnedAnyway r = run_virtual(cancelled_while_running_then_returns(&reached_return));
  CHECK(reached_return);
  CHECK(r.cancelled);
  CHECK(r.outcome == Outcome::cancelled);
  CHECK(r.await_threw_cancelled);
}

TEST_CASE("a task cancelled while ready ends cancelled without running the code after the co_await it resumes from") {
  bool reached_return = false;
  CHECK(run_virtual(cancelled_while_ready_then_returns(&reached_return)));
  CHECK_FALSE(reached_return);
}

// --- cancellations already on their way merge -------------------------------------------------

namespace {
// Waits, is cancelled, then cleans up with an await before re-throwing (lesson 05's idiom).
Task<void> cleans_up_after_cancel(Event& never, bool* cleanup_finished) {
  std::exception_ptr cancelled;
  try {
    co_await never.wait();
  } catch (const CancelledError&) {
    cancelled = std::current_exception();
  }
  co_await sleep(10ms);  // must not be interrupted by the second cancel() below
  *cleanup_finished = true;
  std::rethrow_exception(cancelled);
}

Task<void> cancel_twice_before_it_runs(bool* cleanup_finished) {
  Event never;
  auto h = create_task(cleans_up_after_cancel(never, cleanup_finished), "worker");
  co_await sleep(0ms);  // the worker parks on the event
  CHECK(h.cancel());    // wakes it to receive CancelledError...
  CHECK(h.cancel());    // ...and this one, before it ran, merges into that one
  try {
    co_await h;
  } catch (const CancelledError&) {
  }
  CHECK(h.cancelled());
}
}  // namespace

TEST_CASE("two cancel() calls before the task runs deliver ONE CancelledError, so its cleanup can await") {
  bool cleanup_finished = false;
  run_virtual(cancel_twice_before_it_runs(&cleanup_finished));
  CHECK(cleanup_finished);
}
