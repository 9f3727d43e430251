// test_sleep.cpp — coop::sleep and the loop's timers, under virtual time.
//
// Proves: with virtual time, sleep(3600s) advances now() by exactly 3600 s and returns at
// once in real time; sleep(d <= 0) gives way for exactly one loop turn (shown by the order
// two tasks interleave in); timers fire in deadline order, and equal deadlines in the order
// they were set (FIFO), even when that differs from spawn order; fractional durations work;
// and a cancelled sleep takes its timer with it at once, so the clock does not leap to its
// deadline and the stale timer cannot wake the task out of a later wait.
#include <chrono>
#include <string>
#include <vector>

#include "support.hpp"

using namespace coop;
using namespace coop::testing;

namespace {

using Log = std::vector<std::string>;

Task<Clock::duration> sleep_then_elapsed(Clock::duration d) {
  co_await sleep(d);
  co_return elapsed();
}

Task<Clock::duration> now_advances_by(Clock::duration d) {
  Clock::time_point before = now();
  co_await sleep(d);
  co_return now() - before;
}

// --- sleep(0): exactly one loop turn -----------------------------------------------------

Task<void> log_yield_log(Log* log, std::string name, Clock::duration d) {
  log->push_back(name + "1");
  co_await sleep(d);
  log->push_back(name + "2");
  co_await sleep(d);
  log->push_back(name + "3");
}

Task<Log> two_tasks_yielding(Clock::duration d) {
  Log log;
  auto a = create_task(log_yield_log(&log, "a", d));
  auto b = create_task(log_yield_log(&log, "b", d));
  co_await a;
  co_await b;
  CHECK(elapsed() == 0ms);  // yielding takes no time
  co_return log;
}

// Counts loop turns: one increment per step, then gives way.
Task<void> turn_counter(int* turns, const bool* stop) {
  while (!*stop) {
    ++*turns;
    co_await sleep(0ms);
  }
}

// How many steps of the counter ran while this task waited in one sleep(d).
Task<int> counter_steps_during_one_yield(Clock::duration d) {
  int turns = 0;
  bool stop = false;
  auto counter = create_task(turn_counter(&turns, &stop));
  co_await sleep(0ms);  // let the counter start: it has counted 1 and yielded
  const int before = turns;
  co_await sleep(d);
  const int during = turns - before;
  stop = true;
  co_await counter;
  co_return during;
}

// --- timer order ---------------------------------------------------------------------------

Task<void> sleep_and_log(Log* log, std::string name, Clock::duration d, std::vector<Clock::duration>* times) {
  co_await sleep(d);
  log->push_back(name);
  if (times != nullptr) times->push_back(elapsed());
}

Task<Log> timers_in_deadline_order(std::vector<Clock::duration>* times) {
  Log log;
  auto a = create_task(sleep_and_log(&log, "300", 300ms, times));
  auto b = create_task(sleep_and_log(&log, "100", 100ms, times));
  auto c = create_task(sleep_and_log(&log, "200", 200ms, times));
  auto d = create_task(sleep_and_log(&log, "50", 50ms, times));
  co_await a;
  co_await b;
  co_await c;
  co_await d;
  co_return log;
}

Task<Log> equal_deadlines_in_spawn_order(int n) {
  Log log;
  std::vector<TaskHandle<void>> hs;
  for (int i = 0; i < n; ++i) hs.push_back(create_task(sleep_and_log(&log, std::to_string(i), 100ms, nullptr)));
  for (auto& h : hs) co_await h;
  CHECK(elapsed() == 100ms);
  co_return log;
}

// Yields `yields` times (no time passes), then sleeps until 100 ms after the start.
Task<void> set_timer_late(Log* log, std::string name, int yields) {
  for (int i = 0; i < yields; ++i) co_await sleep(0ms);
  co_await sleep(100ms - elapsed());
  log->push_back(name);
}

// Task i sets its timer after (n - 1 - i) yields: the timers are set in reverse spawn
// order, all for the same deadline, so they must fire in reverse spawn order.
Task<Log> equal_deadlines_in_order_set(int n) {
  Log log;
  std::vector<TaskHandle<void>> hs;
  for (int i = 0; i < n; ++i) hs.push_back(create_task(set_timer_late(&log, std::to_string(i), n - 1 - i)));
  for (auto& h : hs) co_await h;
  CHECK(elapsed() == 100ms);
  co_return log;
}

// Equal deadlines reached from different start times and durations.
Task<Log> equal_deadlines_from_different_durations() {
  Log log;
  auto late = create_task(sleep_and_log(&log, "set at 0", 100ms, nullptr));
  co_await sleep(40ms);
  auto later = create_task(sleep_and_log(&log, "set at 40", 60ms, nullptr));
  co_await sleep(20ms);
  auto latest = create_task(sleep_and_log(&log, "set at 60", 40ms, nullptr));
  co_await late;
  co_await later;
  co_await latest;
  CHECK(elapsed() == 100ms);
  co_return log;
}

// --- fractional durations --------------------------------------------------------------

Task<Clock::duration> fractional_sleeps() {
  co_await sleep(0.25s);
  CHECK(elapsed() == 250ms);
  co_await sleep(std::chrono::duration<double, std::milli>(1.5));
  co_return elapsed();
}

// --- cancelled sleeps --------------------------------------------------------------------

Task<void> sleep_an_hour(bool* woke_normally) {
  co_await sleep(3600s);
  *woke_normally = true;
}

Task<Clock::duration> cancel_a_long_sleeper(bool* woke_normally, bool* saw_cancelled_error) {
  auto sleeper = create_task(sleep_an_hour(woke_normally), "sleeper");
  co_await sleep(10ms);
  CHECK(sleeper.cancel());
  try {
    co_await sleeper;
  } catch (const CancelledError&) {
    *saw_cancelled_error = true;
  }
  co_return elapsed();
}

// Main ends soon after cancelling the sleeper, without awaiting it.
Task<void> cancel_and_leave(TaskHandle<void>* out, bool* woke_normally) {
  *out = create_task(sleep_an_hour(woke_normally), "sleeper");
  co_await sleep(10ms);
  CHECK(out->cancel());
  co_await sleep(5ms);
}

// A task that sleeps 1 h, is cancelled, catches it, and then sleeps a short while: the
// clock must leap to the short deadline, not the abandoned one-hour deadline.
Task<void> cancelled_then_short_sleep(Clock::duration* after_cleanup) {
  std::exception_ptr e;
  try {
    co_await sleep(3600s);
  } catch (const CancelledError&) {
    e = std::current_exception();
  }
  co_await sleep(30ms);
  *after_cleanup = elapsed();
  if (e) std::rethrow_exception(e);
}

Task<Clock::duration> cancel_one_of_many(Clock::duration* after_cleanup) {
  auto a = create_task(cancelled_then_short_sleep(after_cleanup), "a");
  co_await sleep(10ms);
  a.cancel();
  try {
    co_await a;
  } catch (const CancelledError&) {
  }
  co_return elapsed();
}

// The sleep's awaiter is a named local, so it outlives the cancelled co_await. Its timer
// must be gone at cancel time, not only when the awaiter is destroyed: otherwise the stale
// one-hour timer would fire during the later two-hour sleep and wake the task early.
Task<void> keeps_its_cancelled_awaiter(Clock::duration* woke_at) {
  auto nap = sleep(3600s);
  std::exception_ptr e;
  try {
    co_await nap;
  } catch (const CancelledError&) {
    e = std::current_exception();
  }
  co_await sleep(7200s);
  *woke_at = elapsed();
  if (e) std::rethrow_exception(e);
}

Task<void> cancel_a_named_sleep(Clock::duration* woke_at) {
  auto h = create_task(keeps_its_cancelled_awaiter(woke_at));
  co_await sleep(10ms);
  h.cancel();
  try {
    co_await h;
  } catch (const CancelledError&) {
  }
}

}  // namespace

TEST_CASE("virtual time: sleep(3600s) advances now() by exactly 3600 s and returns at once") {
  const auto real_start = Clock::now();
  CHECK(run_virtual(now_advances_by(3600s)) == 3600s);
  CHECK(run_virtual(sleep_then_elapsed(3600s)) == 3600s);
  const auto real_taken = Clock::now() - real_start;
  CHECK(real_taken < 10s);  // an hour of loop time, a blink of real time
}

TEST_CASE("sequential sleeps add up exactly") {
  CHECK(run_virtual(sleep_then_elapsed(300ms)) == 300ms);
  CHECK(run_virtual(sleep_then_elapsed(1ns)) == 1ns);
}

TEST_CASE("sleep(0) gives way for one loop turn: two yielding tasks interleave") {
  Log log = run_virtual(two_tasks_yielding(0ms));
  CHECK(log == Log{"a1", "b1", "a2", "b2", "a3", "b3"});
}

TEST_CASE("sleep(negative) behaves like sleep(0): one loop turn, no time") {
  Log log = run_virtual(two_tasks_yielding(-5ms));
  CHECK(log == Log{"a1", "b1", "a2", "b2", "a3", "b3"});
}

TEST_CASE("sleep(0) yields exactly one loop turn: another task runs exactly one step meanwhile") {
  CHECK(run_virtual(counter_steps_during_one_yield(0ms)) == 1);
  CHECK(run_virtual(counter_steps_during_one_yield(-1s)) == 1);
}

TEST_CASE("timers fire in deadline order, each at exactly its deadline") {
  std::vector<Clock::duration> times;
  Log log = run_virtual(timers_in_deadline_order(&times));
  CHECK(log == Log{"50", "100", "200", "300"});
  CHECK(times == std::vector<Clock::duration>{50ms, 100ms, 200ms, 300ms});
}

TEST_CASE("equal deadlines fire in the order they were set (FIFO): spawn order") {
  Log expected;
  for (int i = 0; i < 40; ++i) expected.push_back(std::to_string(i));
  CHECK(run_virtual(equal_deadlines_in_spawn_order(40)) == expected);
}

TEST_CASE("equal deadlines fire in the order they were set (FIFO), not the order tasks were spawned") {
  Log expected;
  for (int i = 39; i >= 0; --i) expected.push_back(std::to_string(i));
  CHECK(run_virtual(equal_deadlines_in_order_set(40)) == expected);
}

TEST_CASE("equal deadlines reached with different durations fire in the order they were set") {
  CHECK(run_virtual(equal_deadlines_from_different_durations()) == Log{"set at 0", "set at 40", "set at 60"});
}

TEST_CASE("fractional durations work: sleep(0.25s) takes exactly 250 ms") {
  CHECK(run_virtual(fractional_sleeps()) == 250ms + 1500us);
}

TEST_CASE("a cancelled sleep stops at once: the sleeper ends cancelled at the moment of cancel") {
  bool woke_normally = false;
  bool saw_cancelled_error = false;
  CHECK(run_virtual(cancel_a_long_sleeper(&woke_normally, &saw_cancelled_error)) == 10ms);
  CHECK(saw_cancelled_error);
  CHECK_FALSE(woke_normally);
}

TEST_CASE("a cancelled sleep removes its timer: the clock never leaps to the abandoned deadline") {
  Clock::duration after_cleanup{};
  CHECK(run_virtual(cancel_one_of_many(&after_cleanup)) == 40ms);
  CHECK(after_cleanup == 40ms);  // cancelled at 10 ms, then a 30 ms cleanup sleep
}

TEST_CASE("a cancelled sleeper left behind does not keep run() alive until its deadline") {
  TaskHandle<void> h;
  bool woke_normally = false;
  TraceRecorder rec;
  run_virtual(cancel_and_leave(&h, &woke_normally), nullptr, &rec);
  CHECK_FALSE(woke_normally);
  REQUIRE(h);
  CHECK(h.cancelled());
  REQUIRE_FALSE(rec.events().empty());
  CHECK(rec.events().back().at == 15ms);  // the last thing happened at 15 ms, not at 1 h
}

TEST_CASE("a cancelled sleep removes its timer at once, even while its awaiter lives on") {
  Clock::duration woke_at{};
  run_virtual(cancel_a_named_sleep(&woke_at));
  CHECK(woke_at == 10ms + 7200s);  // not 3600 s: the abandoned timer did not fire
}

namespace {
Task<Clock::duration> sleep_min_duration() {
  const auto start = elapsed();
  co_await sleep(Clock::duration::min());  // a huge negative duration: one loop turn, no overflow
  co_return elapsed() - start;
}
Task<bool> cancel_an_endless_sleep() {
  auto h = create_task([]() -> Task<void> { co_await sleep(Clock::duration::max()); }(), "endless");
  co_await sleep(1s);
  h.cancel();
  try {
    co_await h;
  } catch (const CancelledError&) {
    co_return true;
  }
  co_return false;
}
}  // namespace

TEST_CASE("sleep at the extremes: Clock::duration::min() is one turn, max() sleeps until cancelled (no overflow)") {
  CHECK(run_virtual(sleep_min_duration()) == 0s);
  CHECK(run_virtual(cancel_an_endless_sleep()));
}
