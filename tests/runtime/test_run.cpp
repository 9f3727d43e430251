// test_run.cpp — coop::run, the way into the loop (asyncio.run).
//
// Proves: run() returns main's value or rethrows main's exception; the main task is named
// "main"; run() inside a running loop and loop functions called with no loop running are
// UsageErrors with a message that says what went wrong; run() can be called again, in
// sequence, after it returned or threw; when main finishes, the tasks still alive are
// cancelled and may await while they clean up; a task that ignores cancellation is
// abandoned after RunOptions::shutdown_timeout (a diagnostic, and its frame destroyed);
// and every coroutine frame is freed once run() returns.
#include <stdexcept>
#include <string>
#include <vector>

#include "support.hpp"

using namespace coop;
using namespace coop::testing;

namespace {


Task<int> returns_after_sleeping(int v) {
  co_await sleep(50ms);
  co_return v;
}

Task<int> throws_after_sleeping() {
  co_await sleep(50ms);
  throw std::runtime_error("main failed");
}

Task<void> do_nothing() { co_return; }

Task<std::string> calls_run_inside_the_loop() {
  try {
    run(do_nothing());
  } catch (const UsageError& e) {
    co_return e.what();
  }
  co_return "no error";
}

// Still usable afterwards: the failed nested run() did not disturb the running loop.
Task<Clock::duration> loop_still_works_after_nested_run() {
  std::string message = co_await calls_run_inside_the_loop();
  CHECK(message.find("already running") != std::string::npos);
  co_await sleep(20ms);
  co_return elapsed();
}

Task<std::string> spawn_and_name() {
  TaskHandle<void> h = create_task(do_nothing());
  co_await h;
  co_return h.name();
}

// Sleeps an hour; when cancelled, cleans up with an await (the documented idiom), records
// the loop time, then re-throws.
Task<void> cleans_up_when_cancelled(Clock::duration* cleaned_at, bool* body_after_sleep) {
  std::exception_ptr cancelled;
  try {
    co_await sleep(3600s);
    *body_after_sleep = true;
  } catch (const CancelledError&) {
    cancelled = std::current_exception();
  }
  if (cancelled) {
    co_await sleep(20ms);  // cleanup that awaits
    *cleaned_at = elapsed();
    std::rethrow_exception(cancelled);
  }
}

Task<void> marks_if_started(bool* started) {
  *started = true;
  co_return;
}

struct ShutdownCleanupWitness {
  TaskHandle<void> cleaner;
  TaskHandle<void> never_started;
};
Task<int> main_leaves_tasks_behind(ShutdownCleanupWitness* w, Clock::duration* cleaned_at, bool* body_after_sleep,
                                   bool* started) {
  w->cleaner = create_task(cleans_up_when_cancelled(cleaned_at, body_after_sleep), "cleaner");
  co_await sleep(10ms);
  w->never_started = create_task(marks_if_started(started), "late");  // main returns before it starts
  co_return 7;
}

// Ignores cancellation: catches CancelledError and goes back to sleep. It gives up after
// 1000 naps (1000 s of loop time), so a runtime that never abandons it makes the test fail
// instead of hang.
Task<void> ignores_cancellation(bool* frame_destroyed, int* cancels_seen, bool* gave_up) {
  SetOnDestroy witness(frame_destroyed);
  for (int naps = 0; naps < 1000; ++naps) {
    try {
      co_await sleep(1s);
    } catch (const CancelledError&) {
      ++*cancels_seen;
    }
  }
  *gave_up = true;
}

Task<void> main_leaves_a_stubborn_task(TaskHandle<void>* out, bool* frame_destroyed, int* cancels_seen,
                                       bool* gave_up) {
  *out = create_task(ignores_cancellation(frame_destroyed, cancels_seen, gave_up), "stubborn");
  co_await sleep(10ms);
}

// Sleeps until cancelled, then ignores the cancellation without ever sleeping again: it
// spins on sleep(0), one loop turn at a time. It gives up after 10 s of real time (the runtime
// should abandon it after the test's shutdown_timeout of a few ms), so a runtime that never
// abandons it makes the test fail instead of hang.
Task<void> spins_ignoring_cancellation(bool* frame_destroyed, bool* gave_up) {
  SetOnDestroy witness(frame_destroyed);
  try {
    co_await sleep(3600s);
  } catch (const CancelledError&) {
  }
  const auto give_up_at = Clock::now() + 10s;  // real time: virtual time stands still here
  while (Clock::now() < give_up_at) co_await sleep(0ms);
  *gave_up = true;
}

Task<void> main_leaves_a_spinner(TaskHandle<void>* out, bool* frame_destroyed, bool* gave_up) {
  *out = create_task(spins_ignoring_cancellation(frame_destroyed, gave_up), "spinner");
  co_await sleep(10ms);
}

Task<void> sleeps_forever() { co_await sleep(3600s); }
Task<int> main_with_assorted_tasks() {
  auto a = create_task(sleeps_forever());
  auto b = create_task(returns_after_sleeping(3));
  (void)create_task(do_nothing());
  int v = co_await b;
  co_return v + 1;
}

}  // namespace

TEST_CASE("run() returns the value main returned") {
  CHECK(run_virtual(returns_after_sleeping(41)) == 41);
}

TEST_CASE("run() rethrows the exception main threw") {
  CHECK_THROWS_WITH_AS(run_virtual(throws_after_sleeping()), "main failed", std::runtime_error);
}

TEST_CASE("the main task is named \"main\"") {
  TraceRecorder rec;
  run_virtual(do_nothing(), nullptr, &rec);
  REQUIRE_FALSE(rec.events().empty());
  CHECK(rec.events().front().kind == TraceEvent::Kind::spawned);
  CHECK(rec.events().front().task_name == "main");
  CHECK(rec.events().front().task == 1);
  CHECK(rec.step_order() == std::vector<std::string>{"main"});
}

TEST_CASE("run() inside a running loop is a UsageError, and the running loop carries on") {
  CHECK(run_virtual(loop_still_works_after_nested_run()) == 20ms);
}

TEST_CASE("now() with no loop running is a UsageError that says a loop is needed") {
  CHECK_THROWS_AS(now(), UsageError);
  try {
    (void)now();
  } catch (const UsageError& e) {
    const std::string m = e.what();
    CHECK(m.find("now()") != std::string::npos);
    CHECK(m.find("needs a running loop") != std::string::npos);
  }
}

TEST_CASE("sleep() with no loop running is a UsageError that says a loop is needed") {
  CHECK_THROWS_AS((void)sleep(1s), UsageError);
  try {
    (void)sleep(1s);
  } catch (const UsageError& e) {
    const std::string m = e.what();
    CHECK(m.find("sleep") != std::string::npos);
    CHECK(m.find("needs a running loop") != std::string::npos);
  }
}

TEST_CASE("create_task() with no loop running is a UsageError, and the Task's frame is freed") {
  const std::size_t frames_before = frame_stats().live_frames;
  bool started = false;
  try {
    (void)create_task(marks_if_started(&started));
    FAIL("create_task did not throw");
  } catch (const UsageError& e) {
    const std::string m = e.what();
    CHECK(m.find("create_task") != std::string::npos);
    CHECK(m.find("needs a running loop") != std::string::npos);
  }
  CHECK_FALSE(started);
  CHECK(frame_stats().live_frames == frames_before);
}

TEST_CASE("run() can be called again after it returned, and after it threw") {
  CHECK(run_virtual(returns_after_sleeping(1)) == 1);
  CHECK_THROWS_AS(run_virtual(throws_after_sleeping()), std::runtime_error);
  CHECK(run_virtual(returns_after_sleeping(2)) == 2);
  // No loop is left behind: loop functions are errors again.
  CHECK_THROWS_AS(now(), UsageError);
}

TEST_CASE("a second run() starts afresh: its own clock and its own task numbering") {
  CHECK(run_virtual(spawn_and_name()) == "Task-2");
  CHECK(run_virtual(spawn_and_name()) == "Task-2");  // ids restart at 1 for main
  CHECK(run_virtual(loop_still_works_after_nested_run()) == 20ms);
  CHECK(run_virtual(loop_still_works_after_nested_run()) == 20ms);  // elapsed() restarts at 0
}

TEST_CASE("when main returns, the tasks still alive are cancelled and may await while cleaning up") {
  ShutdownCleanupWitness w;
  Clock::duration cleaned_at{-1};
  bool body_after_sleep = false;
  bool started = false;
  CHECK(run_virtual(main_leaves_tasks_behind(&w, &cleaned_at, &body_after_sleep, &started)) == 7);
  CHECK(cleaned_at == 30ms);  // cancelled at 10 ms, then a 20 ms cleanup sleep
  CHECK_FALSE(body_after_sleep);
  REQUIRE(w.cleaner);
  CHECK(w.cleaner.done());
  CHECK(w.cleaner.cancelled());
  CHECK(w.cleaner.outcome() == Outcome::cancelled);
  // A task spawned but never started is cancelled before its body runs.
  REQUIRE(w.never_started);
  CHECK_FALSE(started);
  CHECK(w.never_started.cancelled());
}

TEST_CASE("shutdown_timeout: a task that ignores cancellation is abandoned, reported, and its frame destroyed") {
  std::vector<Diagnostic> diags;
  RunOptions o = virtual_options(&diags);
  o.shutdown_timeout = 100ms;
  TaskHandle<void> h;
  bool frame_destroyed = false;
  int cancels_seen = 0;
  bool gave_up = false;
  run(main_leaves_a_stubborn_task(&h, &frame_destroyed, &cancels_seen, &gave_up), std::move(o));
  CHECK_FALSE(gave_up);
  CHECK(cancels_seen == 1);
  CHECK(frame_destroyed);
  REQUIRE(diags.size() == 1);
  CHECK(diags[0].kind == Diagnostic::Kind::abandoned);
  CHECK(diags[0].task == "stubborn");
  CHECK(diags[0].message.find("stubborn") != std::string::npos);
  REQUIRE(h);
  CHECK(h.done());
  CHECK(h.outcome() == Outcome::abandoned);
  CHECK(h.cancelled());
}

TEST_CASE("shutdown_timeout (real time): a task spinning on sleep(0) and ignoring cancellation is abandoned") {
  std::vector<Diagnostic> diags;
  RunOptions o;
  o.virtual_time = false;
  o.shutdown_timeout = 20ms;
  o.slow_step_warning = std::chrono::milliseconds(0);
  o.on_diagnostic = [&diags](const Diagnostic& d) { diags.push_back(d); };
  TaskHandle<void> h;
  bool frame_destroyed = false;
  bool gave_up = false;
  run(main_leaves_a_spinner(&h, &frame_destroyed, &gave_up), std::move(o));
  CHECK_FALSE(gave_up);
  CHECK(frame_destroyed);
  CHECK(count(diags, Diagnostic::Kind::abandoned) == 1);
  REQUIRE(h);
  CHECK(h.outcome() == Outcome::abandoned);
}

TEST_CASE("shutdown_timeout (virtual time): a task spinning on sleep(0) and ignoring cancellation cannot hang run()") {
  // Under virtual time the clock only moves when nothing is ready; a task that yields
  // forever keeps something ready, so the shutdown limit must not rely on the clock alone.
  std::vector<Diagnostic> diags;
  RunOptions o = virtual_options(&diags);
  o.shutdown_timeout = 100ms;
  o.slow_step_warning = std::chrono::milliseconds(0);
  TaskHandle<void> h;
  bool frame_destroyed = false;
  bool gave_up = false;
  run(main_leaves_a_spinner(&h, &frame_destroyed, &gave_up), std::move(o));
  CHECK_FALSE(gave_up);  // the runtime abandoned it; it did not have to give up by itself
  CHECK(frame_destroyed);
  CHECK(count(diags, Diagnostic::Kind::abandoned) == 1);
}

TEST_CASE("after run(), live coroutine frames are back to where they started") {
  const std::size_t frames_before = frame_stats().live_frames;
  const std::size_t bytes_before = frame_stats().live_bytes;
  CHECK(run_virtual(main_with_assorted_tasks()) == 4);
  CHECK(frame_stats().live_frames == frames_before);
  CHECK(frame_stats().live_bytes == bytes_before);

  // Also when a task had to be abandoned at shutdown.
  {
    std::vector<Diagnostic> diags;
    RunOptions o = virtual_options(&diags);
    o.shutdown_timeout = 100ms;
    TaskHandle<void> h;
    bool frame_destroyed = false;
    int cancels_seen = 0;
    bool gave_up = false;
    run(main_leaves_a_stubborn_task(&h, &frame_destroyed, &cancels_seen, &gave_up), std::move(o));
    CHECK(frame_destroyed);
  }
  CHECK(frame_stats().live_frames == frames_before);
  CHECK(frame_stats().live_bytes == bytes_before);

  // And when main threw.
  CHECK_THROWS_AS(run_virtual(throws_after_sleeping()), std::runtime_error);
  CHECK(frame_stats().live_frames == frames_before);
}

// --- shutdown: the order frames go in, children of gather, errors while winding down ------------

namespace {
// A child of gather that ignores cancellation while holding a lock owned by its parent's
// frame: at shutdown both are abandoned, and the child's frame (whose guard unlocks the
// parent's lock) must be destroyed first.
Task<void> holds_parents_lock(Lock& lock, std::vector<std::string>* destroyed) {
  struct Note {
    std::vector<std::string>* log;
    ~Note() { log->push_back("child"); }
  } note{destroyed};
  auto guard = co_await lock.lock();
  for (;;) {
    try {
      co_await sleep(3600s);
    } catch (const CancelledError&) {
    }
  }
}

Task<void> parent_with_a_lock(std::vector<std::string>* destroyed) {
  struct Note {
    std::vector<std::string>* log;
    ~Note() { log->push_back("parent"); }
  } note{destroyed};
  Lock lock;
  co_await gather(holds_parents_lock(lock, destroyed));
}

Task<void> leaves_parent_and_child(std::vector<std::string>* destroyed) {
  auto p = create_task(parent_with_a_lock(destroyed), "parent");
  co_await sleep(1ms);
}

// gather's child cleans up with an await when run() cancels everything at the end.
Task<void> child_with_cleanup(bool* cleanup_finished) {
  std::exception_ptr cancelled;
  try {
    co_await sleep(3600s);
  } catch (const CancelledError&) {
    cancelled = std::current_exception();
  }
  co_await sleep(10ms);
  *cleanup_finished = true;
  std::rethrow_exception(cancelled);
}

Task<void> gathers_it(bool* cleanup_finished) { co_await gather(child_with_cleanup(cleanup_finished)); }

Task<void> leaves_a_gather_behind(bool* cleanup_finished) {
  auto h = create_task(gathers_it(cleanup_finished), "parent");
  co_await sleep(1ms);
}

// During shutdown, a task's cleanup awaits something that is not coop's: the loop's
// UsageError must not leave other frames behind.
struct Foreign {
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<>) const noexcept {}
  void await_resume() const noexcept {}
};
Task<void> bad_cleanup() {
  try {
    co_await sleep(3600s);
  } catch (const CancelledError&) {
  }
  co_await Foreign{};
}
Task<void> sleeps_an_hour() { co_await sleep(3600s); }
Task<void> leaves_a_bad_cleanup() {
  auto a = create_task(sleeps_an_hour(), "sleeper");
  auto b = create_task(bad_cleanup(), "bad_cleanup");
  co_await sleep(1ms);
}
}  // namespace

TEST_CASE("shutdown destroys abandoned frames newest first: a child's before its parent's") {
  std::vector<std::string> destroyed;
  std::vector<Diagnostic> diags;
  RunOptions o = virtual_options(&diags);
  o.shutdown_timeout = 100ms;
  run(leaves_parent_and_child(&destroyed), std::move(o));
  CHECK(destroyed == std::vector<std::string>{"child", "parent"});
  CHECK(count(diags, Diagnostic::Kind::abandoned) == 2);
}

TEST_CASE("at run()'s end a gather child's cleanup can await: it gets one CancelledError, not two") {
  bool cleanup_finished = false;
  run_virtual(leaves_a_gather_behind(&cleanup_finished));
  CHECK(cleanup_finished);
}

TEST_CASE("an error while winding down is reported, and still no frame is left behind") {
  const std::size_t frames_before = frame_stats().live_frames;
  std::vector<Diagnostic> diags;
  CHECK_THROWS_AS(run_virtual(leaves_a_bad_cleanup(), &diags), UsageError);
  CHECK(frame_stats().live_frames == frames_before);
}

// Found by the stress test (tests/stress, seed 2159): a task spawned while run() winds down
// is cancelled in the next round of the shutdown, even when an earlier task refuses to stop
// and keeps that round from ever finishing. It used to be abandoned (its frame destroyed,
// its cleanup never run) without ever having been cancelled.
namespace {
Task<void> waits_then_cleans_up(Event& never, bool* cancelled) {
  try {
    co_await never.wait();
  } catch (const CancelledError&) {
    *cancelled = true;  // it was cancelled, and could clean up
    throw;
  }
}

// Refuses to stop; the first cancellation spawns a task on its way (a cleanup task, say).
Task<void> stubborn_spawner(Event& never, bool* late_cancelled) {
  bool spawned = false;
  for (;;) {
    try {
      co_await never.wait();
    } catch (const CancelledError&) {
      if (!spawned) (void)create_task(waits_then_cleans_up(never, late_cancelled), "late");
      spawned = true;
    }
  }
}

Task<void> leaves_a_stubborn_spawner(Event& never, bool* late_cancelled) {
  (void)create_task(stubborn_spawner(never, late_cancelled), "stubborn");
  co_await sleep(1ms);
}
}  // namespace

TEST_CASE("shutdown cancels a task spawned while winding down, even when another task refuses to stop") {
  Event never("never");  // outlives run(): the tasks waiting on it are abandoned or cancelled first
  bool late_cancelled = false;
  std::vector<Diagnostic> diags;
  RunOptions o = virtual_options(&diags);
  o.shutdown_timeout = 100ms;
  run(leaves_a_stubborn_spawner(never, &late_cancelled), std::move(o));
  CHECK(late_cancelled);
  REQUIRE(count(diags, Diagnostic::Kind::abandoned) == 1);  // the stubborn task only
  CHECK(diags[0].task == "stubborn");
}
