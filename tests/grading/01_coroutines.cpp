// Grader for exercise 01 — coroutines: awaitables written by hand. Every check runs under
// virtual time and reads the loop's trace: whether a task suspended, on what kind of wait,
// and when the loop woke it. So an awaitable that gets the right value the wrong way (it
// suspended when it should not have, resumed the task behind the loop's back, woke it at the
// wrong time, swallowed a cancellation) cannot pass.
#include "01_coroutines.hpp"

#include <string>
#include <utility>
#include <vector>

#include "grader.hpp"

using namespace std::chrono_literals;
using coop::Task;
using Kind = coop::TraceEvent::Kind;
using Duration = coop::Clock::duration;

namespace {

std::string secs(Duration d) { return coop::format_duration(d); }

// When main finished, on the loop's clock (from the trace: grading::Run::took is not filled
// in by the framework).
Duration main_took(const grading::Run& run) { return run.finished_at("main"); }

// grading::run, with the loop's UsageError (an awaitable that suspended without going
// through the loop's door) turned into a failure that says what it means.
template <class T>
T run_traced(Task<T> main, grading::Run& run) {
  try {
    return grading::run(std::move(main), &run);
  } catch (const coop::UsageError& e) {
    grading::fail(fmt::format("the loop stopped with UsageError: {}", e.what()));
  }
}

// A task's trace events of one kind.
std::vector<coop::TraceEvent> events(const grading::Run& run, std::string_view task, Kind kind) {
  std::vector<coop::TraceEvent> out;
  for (const coop::TraceEvent& e : run.trace.events_of(task))
    if (e.kind == kind) out.push_back(e);
  return out;
}

// Checks that `task` parked once, on a Latch wait described as `what`, at `parked_at`, and was
// woken through the loop at `woken_at`.
void check_latch_wait(const grading::Run& run, const std::string& task, const std::string& what, Duration parked_at,
                      Duration woken_at) {
  const auto parked = events(run, task, Kind::suspended);
  grading::check(!parked.empty(), fmt::format("task '{}' never parked on the loop: the trace has no suspension for it. "
                                              "Waiter::await_suspend must call park(h) (the one door)",
                                              task),
                 grading::Hint{"The loop knows only the waits that go through its door: park(h) in await_suspend "
                               "registers the task as waiting, so the trace, cancellation and deadlock detection "
                               "see it."});
  const coop::TraceEvent& p = parked.front();
  grading::check(p.wait == coop::WaitKind::other && p.detail == what,
                 fmt::format("task '{}' suspended on {} \"{}\", expected the Waiter itself: other \"{}\"", task,
                             coop::to_string(p.wait), p.detail, what),
                 grading::Hint{"Park the Waiter itself, not a sleep or another awaitable inside it: what the task "
                               "waits on is the Wait that called park(h), and the trace names it by its describe()."});
  grading::check(p.at == parked_at,
                 fmt::format("task '{}' suspended at {}, expected {}", task, secs(p.at), secs(parked_at)),
                 grading::Hint{"A waiter parks at its co_await, at once: nothing (no sleep, no extra turn) comes "
                               "before park(h)."});
  const auto woken = events(run, task, Kind::woken);
  grading::check(!woken.empty(), fmt::format("task '{}' was never woken by the loop: resume a task by calling wake(), "
                                             "never h.resume() (the loop must do it)",
                                             task),
                 grading::Hint{"wake() puts the task back on the loop's ready queue and the loop resumes it; "
                               "h.resume() would run it inside count_down, behind the loop's back."});
  grading::check(woken.front().at == woken_at,
                 fmt::format("task '{}' was woken at {}, expected {}", task, secs(woken.front().at), secs(woken_at)),
                 grading::Hint{"Wake a waiter only when its wait is over: when count_down brings the count to 0 (or, "
                               "in wait_for, when the timer fires first), never before."});
}

// ---- part 1 ----------------------------------------------------------------------------------

Task<void> set_flag(bool& flag) {
  flag = true;
  co_return;
}

struct ReadyResult {
  int sum = 0;
  bool other_ran = false;  // the other task had run by the time the 1000 co_awaits were done
};

Task<ReadyResult> await_ready_many() {
  bool ran = false;
  coop::TaskHandle<void> other = coop::create_task(set_flag(ran), "other");  // ready: runs at the next turn
  ReadyResult r;
  for (int i = -500; i <= 1000; ++i) r.sum += co_await ex01::Ready(i);
  r.other_ran = ran;
  co_await other;
  co_return r;
}

// ---- part 2 ----------------------------------------------------------------------------------

Task<Duration> timed(Duration d) { co_return co_await ex01::TimedSleep(d); }

Task<Duration> made_early() {
  ex01::TimedSleep s(100ms);  // made now...
  co_await coop::sleep(50ms);
  co_return co_await s;  // ...awaited 50 ms later: it sleeps 100 ms from here
}

struct ZeroResult {
  Duration took{};
  bool other_ran = false;
};

Task<ZeroResult> zero_gives_a_turn() {
  bool ran = false;
  coop::TaskHandle<void> other = coop::create_task(set_flag(ran), "other");
  ZeroResult r;
  r.took = co_await ex01::TimedSleep(0ms);
  r.other_ran = ran;
  co_await other;
  co_return r;
}

Task<void> join_quietly(coop::TaskHandle<void> h) {
  try {
    co_await h;
  } catch (const coop::CancelledError&) {
    // expected: it was cancelled
  }
}

Task<void> long_timed_sleep(bool& after) {
  co_await ex01::TimedSleep(1h);
  after = true;  // must not run: the task was cancelled during the sleep
}

Task<bool> cancel_while_sleeping() {
  bool after = false;
  coop::TaskHandle<void> sleeper = coop::create_task(long_timed_sleep(after), "sleeper");
  co_await coop::sleep(10ms);
  sleeper.cancel();
  co_await join_quietly(sleeper);
  co_return after;
}

struct SelfSlot {
  coop::TaskHandle<void> self;
};

Task<void> cancels_itself(SelfSlot& slot, bool& after) {
  slot.self.cancel();  // running: the cancellation is pending, for the next co_await
  co_await ex01::TimedSleep(1h);
  after = true;
}

Task<bool> cancel_before_sleeping() {
  SelfSlot slot;
  bool after = false;
  slot.self = coop::create_task(cancels_itself(slot, after), "self-cancelling");
  co_await join_quietly(slot.self);
  co_return after;
}

// ---- parts 3 and 4 ---------------------------------------------------------------------------

struct Record {
  std::string who;
  bool opened = false;
  Duration at{};
  bool operator==(const Record&) const = default;
};

std::string show(const std::vector<Record>& log) {
  std::string s;
  for (const Record& r : log)
    s += fmt::format("{}{} {} at {}", s.empty() ? "" : ", ", r.who, r.opened ? "true" : "false", secs(r.at));
  return "[" + s + "]";
}

Task<void> waiter(ex01::Latch& latch, std::vector<Record>& log, std::string who) {
  const bool opened = co_await latch.wait();
  log.push_back({who, opened, grading::elapsed()});
}

Task<void> timed_waiter(ex01::Latch& latch, std::vector<Record>& log, std::string who, Duration limit) {
  const bool opened = co_await latch.wait_for(limit);
  log.push_back({who, opened, grading::elapsed()});
}

Task<void> count_down_after(ex01::Latch& latch, Duration after) {
  co_await coop::sleep(after);
  latch.count_down();
}

struct LatchRun {
  std::vector<Record> log;
  std::size_t count_after = 0;
};

Task<LatchRun> three_wait_two_count() {
  ex01::Latch latch(2, "start");
  LatchRun r;
  std::vector<coop::TaskHandle<void>> tasks;
  for (const char* w : {"w1", "w2", "w3"}) tasks.push_back(coop::create_task(waiter(latch, r.log, w), w));
  tasks.push_back(coop::create_task(count_down_after(latch, 100ms), "counter 1"));
  tasks.push_back(coop::create_task(count_down_after(latch, 300ms), "counter 2"));
  co_await coop::gather(std::move(tasks));
  r.count_after = latch.count();
  co_return r;
}

struct OpenRun {
  std::size_t after_two_downs = 0, after_one_of_two = 0;
};

Task<OpenRun> open_latches() {
  OpenRun r;
  ex01::Latch zero(0, "zero");
  co_await zero.wait();  // open: must not suspend
  ex01::Latch one(1, "one");
  one.count_down();
  co_await one.wait();
  one.count_down();  // already 0: stays 0
  r.after_two_downs = one.count();
  ex01::Latch two(2, "two");
  two.count_down();
  r.after_one_of_two = two.count();
  co_return r;
}

Task<std::vector<Record>> cancel_one_waiter() {
  ex01::Latch latch(1, "gate");
  std::vector<Record> log;
  coop::TaskHandle<void> a = coop::create_task(waiter(latch, log, "a"), "a");
  coop::TaskHandle<void> b = coop::create_task(waiter(latch, log, "b"), "b");
  co_await coop::sleep(50ms);
  a.cancel();
  co_await coop::sleep(50ms);
  latch.count_down();
  co_await join_quietly(a);
  co_await b;
  co_return log;
}

Task<void> wait_forever() {
  ex01::Latch latch(1, "never");
  co_await latch.wait();
}

Task<std::vector<Record>> timed_waits() {
  ex01::Latch latch(1, "ready");
  std::vector<Record> log;
  std::vector<coop::TaskHandle<void>> tasks;
  tasks.push_back(coop::create_task(timed_waiter(latch, log, "a", 100ms), "a"));
  tasks.push_back(coop::create_task(timed_waiter(latch, log, "b", 500ms), "b"));
  tasks.push_back(coop::create_task(waiter(latch, log, "c"), "c"));
  tasks.push_back(coop::create_task(count_down_after(latch, 300ms), "counter"));
  co_await coop::gather(std::move(tasks));
  co_return log;
}

Task<bool> timed_wait_on_open() {
  ex01::Latch latch(0, "open");
  co_return co_await latch.wait_for(1s);
}

Task<std::vector<Record>> cancel_timed_waiter() {
  ex01::Latch latch(1, "gate");
  std::vector<Record> log;
  coop::TaskHandle<void> d = coop::create_task(timed_waiter(latch, log, "d", 1h), "d");
  co_await coop::sleep(50ms);
  d.cancel();
  co_await join_quietly(d);
  co_return log;
}

// A waiter that wakes must leave nothing registered behind it: whichever of the latch and the
// timer woke it, the other is unregistered before wake(). A Timer's destructor cancels a timer
// left set, and a waiter is normally destroyed right after it wakes (it lives in the co_await
// expression), so a forgotten timer does no visible harm there. These waiters are named, so
// they outlive their co_await, and the check reads scheduled() while they are still alive:
// no destructor has had the chance to clean up.
struct NamedWait {
  bool opened = false;
  bool timer_left = false;  // w.scheduled() right after the co_await returned or threw
};

Task<void> named_timed_waiter(ex01::Latch& latch, NamedWait& out, Duration limit) {
  auto w = latch.wait_for(limit);
  try {
    out.opened = co_await w;
  } catch (const coop::CancelledError&) {
    out.timer_left = w.scheduled();
    throw;  // stay cancelled: only look, don't swallow it
  }
  out.timer_left = w.scheduled();
}

// Opened by count_down at 50 ms, well before its 1 h limit.
Task<NamedWait> opened_before_the_limit() {
  ex01::Latch latch(1, "gate");
  NamedWait r;
  coop::TaskHandle<void> e = coop::create_task(named_timed_waiter(latch, r, 1h), "e");
  co_await coop::sleep(50ms);
  latch.count_down();
  co_await e;
  co_return r;
}

// Cancelled at 50 ms while parked in wait_for(1h).
Task<NamedWait> cancelled_before_the_limit() {
  ex01::Latch latch(1, "gate");
  NamedWait r;
  coop::TaskHandle<void> f = coop::create_task(named_timed_waiter(latch, r, 1h), "f");
  co_await coop::sleep(50ms);
  f.cancel();
  co_await join_quietly(f);
  co_return r;
}

}  // namespace

int main(int argc, char** argv) {
  grading::Grader g(1, "coroutines", "awaitables by hand");

  g.part("Ready: an awaitable that never suspends",
         "co_await Ready(v) gives v; 1,501 of them in a row never suspend the task: another task that is "
         "ready meanwhile has not run, and the trace shows no suspension.",
         {"The three calls of co_await: await_ready, await_suspend, await_resume. Which one can say \"no need to "
          "suspend\"?",
          "await_ready() returning true skips the suspension altogether; await_resume() then gives the value of the "
          "co_await. await_suspend is never called (returning false there would also mean \"don't suspend\").",
          "Each of the three is one line. The value is in the awaiter already (value_), so nothing has to happen "
          "later and nothing needs to wait: await_ready() says so, await_resume() hands value_ out, and "
          "await_suspend() gives the answer that means \"resume at once\" (its bool), in case it is ever asked: "
          "the other answer would suspend the task with nobody to resume it. If awaiter, handle or suspension "
          "point is the stumbling block: docs/glossary.md."},
         [] {
           grading::Run run;
           const ReadyResult r = run_traced(await_ready_many(), run);
           grading::check_eq(r.sum, 375250, "the sum of co_await Ready(i) for i = -500..1000",
                             grading::Hint{"What await_resume() returns is the value of the co_await: the value the "
                                           "Ready was made with."});
           grading::check(!r.other_ran,
                          "another task ran while main was awaiting Ready(i): a Ready let the loop run others, so it "
                          "suspended. It must give its value without suspending");
           const auto susp = events(run, "main", Kind::suspended);
           grading::check(
               susp.size() == 1 && susp.front().wait == coop::WaitKind::task,
               fmt::format("main suspended {} time(s); expected only once, at its final co_await on the "
                           "other task (first suspension: on {})",
                           susp.size(), susp.empty() ? "-" : std::string(coop::to_string(susp.front().wait))));
           grading::check(main_took(run) == 0ms, "the run took " + secs(main_took(run)) + " of loop time, expected 0");
         });

  g.part("TimedSleep: wrap an awaitable, keep what it does",
         "co_await TimedSleep(d) sleeps like coop::sleep(d) and gives how long the task was suspended: 250 ms for "
         "250 ms; 100 ms when awaited 50 ms after it was made; 0 for 0 ms, after the other tasks had their turn; "
         "and a cancelled task gets CancelledError there, also when cancel() came before the co_await.",
         {"Forward each of the three calls to inner_, the SleepAwaiter, and measure with coop::now() between "
          "await_suspend and await_resume.",
          "Start the clock in await_suspend (not in the constructor: the TimedSleep may be made long before it is "
          "awaited). Return what inner_.await_suspend returns: it is false, without parking, when a cancellation is "
          "pending. Call inner_.await_resume() before measuring: it throws CancelledError when it must.",
          "Let inner_ make every decision and add only the measuring. await_ready and await_suspend give inner_'s "
          "answer unchanged (in await_suspend, after noting coop::now() in suspended_at_); await_resume calls "
          "inner_'s first, so its CancelledError goes through, and only then returns coop::now() minus "
          "suspended_at_. sleep(0) is not \"ready\": it suspends for one turn of the loop. Turn, step and "
          "suspension point: docs/glossary.md."},
         [] {
           {
             grading::Run run;
             const Duration d = run_traced(timed(250ms), run);
             grading::check(d == 250ms, "co_await TimedSleep(250ms) gave " + secs(d) + ", expected 250 ms");
             const auto susp = events(run, "main", Kind::suspended);
             grading::check(!susp.empty() && susp.front().wait == coop::WaitKind::sleep,
                            "the task should be suspended on the wrapped sleep (WaitKind::sleep) in the trace");
             grading::check(main_took(run) == 250ms,
                            "the sleep took " + secs(main_took(run)) + " of loop time, expected 250 ms");
           }
           {
             grading::Run run;
             const Duration d = run_traced(made_early(), run);
             grading::check(d == 100ms, "a TimedSleep(100ms) made 50 ms before its co_await gave " + secs(d) +
                                            ", expected 100 ms: measure from the co_await, not from its construction",
                            grading::Hint{"A TimedSleep may be made long before it is awaited: start the clock in "
                                          "await_suspend, when the task really suspends, not in the constructor."});
           }
           {
             grading::Run run;
             const ZeroResult r = run_traced(zero_gives_a_turn(), run);
             grading::check(r.other_ran,
                            "co_await TimedSleep(0ms) did not give the other ready task its turn, as coop::sleep(0) "
                            "does: let the wrapped sleep decide (await_ready), don't skip it",
                            grading::Hint{"A sleep of 0 is not \"ready\": it gives the other tasks one turn. Return "
                                          "inner_.await_ready() rather than deciding yourself."});
             grading::check(r.took == 0ms, "co_await TimedSleep(0ms) gave " + secs(r.took) + ", expected 0");
           }
           {
             grading::Run run;
             const bool after = run_traced(cancel_while_sleeping(), run);
             grading::check(
                 !after && run.outcome("sleeper") == coop::Outcome::cancelled,
                 fmt::format("a task cancelled during co_await TimedSleep(1h) carried on after it (outcome: "
                             "{}): await_resume must call inner_.await_resume(), which throws CancelledError",
                             coop::to_string(run.outcome("sleeper"))),
                 grading::Hint{"The CancelledError comes out of the inner sleep's await_resume: call "
                                           "inner_.await_resume() first in yours, before measuring, and let what it "
                                           "throws go through."});
             grading::check(run.finished_at("sleeper") == 10ms, "the cancelled task ended at " +
                                                                    secs(run.finished_at("sleeper")) +
                                                                    ", expected 10 ms, when it was cancelled",
                            grading::Hint{"The CancelledError comes out of the inner sleep's await_resume: call "
                                           "inner_.await_resume() first in yours, before measuring, and let what it "
                                           "throws go through."});
           }
           {
             grading::Run run;
             bool after = false;
             try {
               after = grading::run(cancel_before_sleeping(), &run);
             } catch (const coop::UsageError& e) {
               grading::fail(fmt::format(
                   "a task with a pending cancel() reached co_await TimedSleep and the loop stopped: {}. The wrapped "
                   "sleep's await_suspend returned false without parking the task (to deliver the cancellation at "
                   "once); return its answer instead of true",
                   e.what()),
                   grading::Hint{"await_suspend's bool is an answer: false means \"don't suspend after all\" (a "
                                 "pending cancel is delivered at once). Return what inner_.await_suspend(h) returns."});
             }
             grading::check(
                 !after && run.outcome("self-cancelling") == coop::Outcome::cancelled,
                 fmt::format("a task that cancelled itself and then awaited TimedSleep(1h) carried on (outcome: "
                             "{}): the CancelledError must come out of that co_await",
                             coop::to_string(run.outcome("self-cancelling"))),
                 grading::Hint{"A cancel that came before the co_await is delivered there: forward await_suspend's "
                               "answer, then inner_.await_resume() throws the CancelledError."});
             grading::check(main_took(run) == 0ms, "the self-cancelled task took " + secs(main_took(run)) +
                                                       " of loop time, expected 0: it must not sleep at all",
                            grading::Hint{"With a cancel pending, the inner sleep's await_suspend returns false "
                                          "without parking: return that answer, don't sleep anyway."});
           }
         });

  g.part(
      "Latch: a Wait that wakes everyone at zero",
      "With Latch(2), three tasks co_await wait() and two tasks count_down() at 100 ms and 300 ms: each waiter "
      "parks on the loop (trace: other, \"Latch 'start'\") and is woken at 300 ms, in the order they came; an "
      "open latch does not suspend; a cancelled waiter stops waiting at once; a latch that never opens is named "
      "in the DeadlockError.",
      {"Read event.hpp: coop::Event is built exactly like this, on coop::Wait and a coop::WaitList.",
       "await_ready: is the count 0 already? await_suspend: go through the door first, park(h); when it refuses "
       "(a cancel is pending) answer false and register nowhere; else join the latch's waiters_ (push_back) and "
       "answer true. count_down: lower the count, never below 0; the call that reaches 0 takes the waiters out "
       "of line, oldest first (pop_front), and tells each (opened(), which wakes it). await_resume: "
       "throw_if_interrupted(), then the wait is over.",
       "Lay Event's Waiter (event.hpp) beside yours: the same door, the same line; count_down at 0 is its set(), "
       "with opened() in place of wake() so that part 4 has a place to drop the timer. What trips people: waking "
       "is not resuming (wake() puts the task on the ready queue, the loop resumes it on a later turn: never "
       "h.resume()); a waiter is out of line before it is woken (pop_front does that); and a cancel needs nothing "
       "from on_cancel but its answer, true (the loop has already taken the waiter out of line, and wakes it). "
       "The Waiter lives in the awaiting task's coroutine frame, which is why the list can point at it. Frame, "
       "handle, turn, ready queue: docs/glossary.md."},
      [] {
        {
          grading::Run run;
          const LatchRun r = run_traced(three_wait_two_count(), run);
          const std::vector<Record> want{{"w1", true, 300ms}, {"w2", true, 300ms}, {"w3", true, 300ms}};
          grading::check(r.log == want,
                         fmt::format("the waiters went on as {}, expected {} (all at 300 ms, when the count reached "
                                     "0, in the order they started waiting)",
                                     show(r.log), show(want)),
                         grading::Hint{"When count_down brings the count to 0, wake every waiter, first come first "
                                       "(pop_front until the list is empty); before that, wake none."});
          for (const char* w : {"w1", "w2", "w3"}) check_latch_wait(run, w, "Latch 'start'", 0ms, 300ms);
          grading::check_eq(r.count_after, std::size_t{0}, "count() after two count_down()s of Latch(2)",
                            grading::Hint{"count_down lowers the count by one, and never below 0."});
        }
        {
          grading::Run run;
          const grading::Hint open_hint{"await_ready is asked before anything else: when the count is 0 already, "
                                        "return true and the task never suspends (and count_down must bring the "
                                        "count to 0)."};
          OpenRun r;
          try {
            r = run_traced(open_latches(), run);
          } catch (const coop::DeadlockError& e) {
            // Parked on a latch that is open already: nothing will ever count it down again.
            grading::fail(fmt::format("co_await wait() on an open latch suspended the task, and nothing can wake it. "
                                      "The runtime says: {}",
                                      e.what()),
                          open_hint);
          }
          grading::check_eq(r.after_two_downs, std::size_t{0}, "count() of Latch(1) after two count_down()s",
                            grading::Hint{"count_down lowers the count by one, and never below 0."});
          grading::check_eq(r.after_one_of_two, std::size_t{1}, "count() of Latch(2) after one count_down()",
                            grading::Hint{"count_down lowers the count by one, and never below 0."});
          const auto susp = events(run, "main", Kind::suspended);
          grading::check(susp.empty(), fmt::format("co_await wait() on an open latch suspended the task (on {}); "
                                                   "it must go straight on",
                                                   susp.empty() ? "" : susp.front().detail),
                         open_hint);
        }
        {
          grading::Run run;
          const std::vector<Record> log = run_traced(cancel_one_waiter(), run);
          grading::check(run.outcome("a") == coop::Outcome::cancelled,
                         fmt::format("waiter 'a', cancelled while waiting, ended as {}, expected cancelled: "
                                     "await_resume must throw_if_interrupted()",
                                     coop::to_string(run.outcome("a"))),
                         grading::Hint{"A cancelled waiter is woken like any other; its await_resume tells the two "
                                       "apart: throw_if_interrupted() throws the CancelledError."});
          grading::check(run.finished_at("a") == 50ms,
                         "the cancelled waiter ended at " + secs(run.finished_at("a")) +
                             ", expected 50 ms, when it was cancelled",
                         grading::Hint{"on_cancel must return true: the loop then wakes the cancelled task at once "
                                       "(it has already taken the waiter out of the latch's line), and its "
                                       "await_resume throws."});
          const std::vector<Record> want{{"b", true, 100ms}};
          grading::check(log == want, fmt::format("after one waiter was cancelled, the waiters went on as {}, "
                                                  "expected {}",
                                                  show(log), show(want)),
                         grading::Hint{"A cancelled waiter must not go on as if the latch had opened: its "
                                       "await_resume calls throw_if_interrupted() before anything else, and "
                                       "count_down wakes only the waiters still in line."});
          check_latch_wait(run, "b", "Latch 'gate'", 0ms, 100ms);
        }
        {
          grading::Run run;
          std::string message;
          try {
            run_traced(wait_forever(), run);
          } catch (const coop::DeadlockError& e) {
            message = e.what();
          }
          grading::check(!message.empty(),
                         "a task waiting on a Latch that never opens should end the run with "
                         "DeadlockError (nothing can ever wake it); the run ended normally",
                         grading::Hint{"A latch whose count is not 0 is closed: wait() must suspend (park) until "
                                       "count_down opens it, not go straight on."});
          grading::check(message.find("Latch 'never'") != std::string::npos,
                         "the DeadlockError should name what main waits for, \"Latch 'never'\"; it said: " + message,
                         grading::Hint{"The deadlock report names what each task waits on by the parked Wait's "
                                       "describe(): park the Waiter itself."});
        }
      });

  g.part(grading::BuildsOn{3}, "Latch::wait_for: two ways to wake, one wake",
         "With Latch(1) opened at 300 ms: wait_for(100ms) gives false at 100 ms, wait_for(500ms) gives true at "
         "300 ms, wait() true at 300 ms; wait_for on an open latch gives true without suspending; a task cancelled "
         "in wait_for(1h) ends at once; a waiter that wakes leaves no timer set.",
         {"The Waiter is also a coop::Timer, like sleep's awaiter: the loop calls on_timer() when the "
          "deadline passes. Either the latch or the timer wakes the task; the other must be unregistered.",
          "wait_for makes a Waiter that carries the timeout; the timer is set in await_suspend, once parked and in "
          "line (call_later), and only for a wait with a timeout_. Each way to wake unregisters the other before "
          "wake(): on_timer leaves the latch's line (leave_list()) and notes that the time ran out (timed_out_); "
          "opened drops the timer (cancel_timer()). await_resume answers whether the latch opened.",
          "Follow one waiter from park(h) to its end; it ends exactly one of three ways, and each leaves one thing "
          "registered that is yours to undo before the task is woken. The latch opens: count_down took it out of "
          "line, the timer is still set. The time runs out: the loop took the timer off its heap, the waiter is "
          "still in line. A cancel: the loop took it out of line, the timer is still set (on_cancel undoes it, then "
          "answers true). sleep.hpp is the same pattern with only a timer: compare its on_timer and on_cancel with "
          "yours. The timer fires at the start of a turn: docs/glossary.md."},
         [] {
           {
             grading::Run run;
             const std::vector<Record> log = run_traced(timed_waits(), run);
             const std::vector<Record> want{{"a", false, 100ms}, {"b", true, 300ms}, {"c", true, 300ms}};
             grading::check(log == want, fmt::format("the waiters went on as {}, expected {}", show(log), show(want)),
                            grading::Hint{"Each waiter is woken once, by whichever comes first: on_timer (time ran "
                                          "out: unlink from the list, timed_out_ = true) or opened (remove the timer). "
                                          "await_resume returns !timed_out_."});
             check_latch_wait(run, "a", "Latch 'ready'", 0ms, 100ms);
             check_latch_wait(run, "b", "Latch 'ready'", 0ms, 300ms);
           }
           {
             grading::Run run;
             const bool opened = run_traced(timed_wait_on_open(), run);
             grading::check(opened, "co_await wait_for(1s) on an open latch gave false, expected true", grading::Hint{"wait_for asks await_ready first, like wait(): an open latch gives true at once, "
                                          "whatever the timeout, and no timer is set."});
             grading::check(events(run, "main", Kind::suspended).empty() && main_took(run) == 0ms,
                            "co_await wait_for(1s) on an open latch suspended the task; it must go straight on",
                            grading::Hint{"wait_for asks await_ready first, like wait(): an open latch gives true at once, "
                                          "whatever the timeout, and no timer is set."});
           }
           {
             grading::Run run;
             const std::vector<Record> log = run_traced(cancel_timed_waiter(), run);
             grading::check(
                 run.outcome("d") == coop::Outcome::cancelled && log.empty(),
                 fmt::format("a task cancelled during wait_for(1h) ended as {} and went on as {}; expected it to "
                             "end cancelled, at its co_await",
                             coop::to_string(run.outcome("d")), show(log)),
                 grading::Hint{"A cancel ends a wait_for as it ends a wait(): on_cancel drops the timer "
                               "(cancel_timer()) and returns true, the loop wakes the task at once, and "
                               "await_resume throws before it looks at timed_out_."});
             grading::check(run.finished_at("d") == 50ms,
                            "the cancelled task ended at " + secs(run.finished_at("d")) +
                                ", expected 50 ms, when it was cancelled",
                            grading::Hint{"A cancel ends a wait_for as it ends a wait(): on_cancel drops the timer "
                                          "(cancel_timer()) and returns true, the loop wakes the task at once, and "
                                          "await_resume throws before it looks at timed_out_."});
           }
           {
             grading::Run run;
             const NamedWait r = run_traced(opened_before_the_limit(), run);
             grading::check(r.opened, "a named wait_for(1h) opened by count_down at 50 ms gave false, expected true");
             grading::check(!r.timer_left,
                            "after `bool ok = co_await w;` with w = latch.wait_for(1h), opened by count_down at "
                            "50 ms, w.scheduled() is still true: the waiter was woken with its 1 h timer still set",
                            grading::Hint{"opened() must cancel_timer() before wake(): the latch woke the task, so the "
                                          "timer has nothing left to do. Left set, it would fire later and call "
                                          "on_timer() on a wait that is already over."});
           }
           {
             grading::Run run;
             const NamedWait r = run_traced(cancelled_before_the_limit(), run);
             grading::check(run.outcome("f") == coop::Outcome::cancelled,
                            fmt::format("a named wait_for(1h) cancelled at 50 ms ended as {}, expected cancelled",
                                        coop::to_string(run.outcome("f"))));
             grading::check(!r.timer_left,
                            "after a named w = latch.wait_for(1h) was cancelled at 50 ms and its co_await threw "
                            "CancelledError, w.scheduled() is still true: the cancelled wait kept its 1 h timer",
                            grading::Hint{"on_cancel() must cancel_timer(): the task stops waiting, so the timer has "
                                          "nothing left to do. (The latch's list needs nothing from you: the loop "
                                          "takes a cancelled waiter out of its WaitList before on_cancel runs.)"});
           }
         });

  return g.main(argc, argv);
}
