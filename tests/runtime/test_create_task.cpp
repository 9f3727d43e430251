// test_create_task.cpp — create_task and TaskHandle<T> (asyncio.create_task, asyncio.Task).
//
// Proves: create_task schedules and returns at once, the body first runs on a later loop
// turn; ready tasks run in FIFO (spawn) order; `co_await handle` yields a copy of the
// result, rethrows the task's exception, or throws CancelledError, and any number of tasks
// may await one handle; dropping every handle neither stops nor destroys a running task;
// done(), name(), result() and exception() report what happened; result() before the task
// finishes and a task awaiting its own handle are UsageErrors; default names are "Task-<id>".
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "support.hpp"

using namespace coop;
using namespace coop::testing;

namespace {

using Log = std::vector<std::string>;

// A value that counts how often it is copied; moving from it leaves -1 behind, so a
// result that was moved out instead of copied would show.
struct Counted {
  int value = 0;
  int* copies = nullptr;
  Counted(int v, int* c) : value(v), copies(c) {}
  Counted(const Counted& o) : value(o.value), copies(o.copies) { ++*copies; }
  Counted(Counted&& o) noexcept : value(std::exchange(o.value, -1)), copies(o.copies) {}
  Counted& operator=(const Counted& o) {
    value = o.value;
    copies = o.copies;
    ++*copies;
    return *this;
  }
  Counted& operator=(Counted&& o) noexcept {
    value = std::exchange(o.value, -1);
    copies = o.copies;
    return *this;
  }
  ~Counted() = default;
};


Task<void> append(Log* log, std::string what) {
  log->push_back(std::move(what));
  co_return;
}

// --- laziness ------------------------------------------------------------------------------

Task<Log> create_task_is_lazy() {
  Log log;
  auto h = create_task(append(&log, "body"));
  log.push_back("after create_task");
  log.push_back("still the same step");
  co_await sleep(0ms);  // one loop turn: now it has run
  log.push_back("after one turn");
  co_await h;
  co_return log;
}

Task<Log> ready_tasks_run_fifo() {
  Log log;
  std::vector<TaskHandle<void>> hs;
  for (int i = 0; i < 10; ++i) hs.push_back(create_task(append(&log, std::to_string(i))));
  for (auto& h : hs) co_await h;
  co_return log;
}

Task<void> step_twice(Log* log, std::string name) {
  log->push_back(name + "1");
  co_await sleep(0ms);
  log->push_back(name + "2");
}

// A task spawned by a running task goes to the back of the queue, behind those already ready.
Task<void> spawns_a_child(Log* log, std::vector<TaskHandle<void>>* children) {
  log->push_back("parent");
  children->push_back(create_task(append(log, "child")));
  co_return;
}
Task<Log> spawned_tasks_join_the_back_of_the_queue() {
  Log log;
  std::vector<TaskHandle<void>> children;
  auto p = create_task(spawns_a_child(&log, &children));
  auto a = create_task(step_twice(&log, "a"));
  co_await p;
  co_await a;
  for (auto& c : children) co_await c;
  co_return log;
}

// --- awaiting a handle ---------------------------------------------------------------------

Task<Counted> make_counted(int v, int* copies) {
  co_await sleep(10ms);
  co_return Counted(v, copies);
}

struct CopyOutcome {
  int first = 0;
  int second = 0;
  int via_result = 0;
  int copies_made = 0;
};
Task<CopyOutcome> await_handle_yields_copies(int* copies) {
  auto h = create_task(make_counted(5, copies));
  const int copies_before = *copies;
  Counted a = co_await h;
  Counted b = co_await h;  // a second await of a done task: another copy, same value
  Counted c = h.result();
  co_return CopyOutcome{a.value, b.value, c.value, *copies - copies_before};
}

Task<int> throws_later(std::string message) {
  co_await sleep(10ms);
  throw std::runtime_error(message);
}

Task<std::string> await_handle_rethrows() {
  auto h = create_task(throws_later("task failed"));
  try {
    co_await h;
  } catch (const std::runtime_error& e) {
    co_return e.what();
  }
  co_return "no exception";
}

Task<int> sleeps_then_returns(Clock::duration d, int v) {
  co_await sleep(d);
  co_return v;
}

Task<bool> await_handle_of_cancelled_task() {
  auto h = create_task(sleeps_then_returns(1s, 1));
  co_await sleep(10ms);
  h.cancel();
  bool threw = false;
  try {
    int v = co_await h;
    (void)v;
  } catch (const CancelledError&) {
    threw = true;
  }
  CHECK(elapsed() == 10ms);
  co_return threw;
}

Task<void> await_and_record(TaskHandle<int> h, std::vector<int>* got, std::vector<Clock::duration>* at) {
  int v = co_await h;
  got->push_back(v);
  at->push_back(elapsed());
}

Task<void> several_awaiters(std::vector<int>* got, std::vector<Clock::duration>* at) {
  auto h = create_task(sleeps_then_returns(100ms, 9));
  std::vector<TaskHandle<void>> waiters;
  for (int i = 0; i < 5; ++i) waiters.push_back(create_task(await_and_record(h, got, at)));
  for (auto& w : waiters) co_await w;
  co_await h;  // and main too, after the fact
}

// --- dropping handles ------------------------------------------------------------------------

Task<void> works_in_background(Log* log, bool* frame_destroyed) {
  SetOnDestroy witness(frame_destroyed);
  for (int i = 0; i < 3; ++i) {
    co_await sleep(10ms);
    log->push_back("tick at " + std::to_string(elapsed() / 1ms) + " ms");
  }
}

Task<void> drops_the_handle(Log* log, bool* frame_destroyed, bool* destroyed_while_running) {
  {
    auto h = create_task(works_in_background(log, frame_destroyed));
  }  // the only handle is gone
  (void)create_task(works_in_background(log, frame_destroyed));  // never kept at all
  co_await sleep(15ms);
  *destroyed_while_running = *frame_destroyed;
  co_await sleep(100ms);
}

// --- handle accessors ----------------------------------------------------------------------

struct Accessors {
  bool done_before = true;
  bool done_after = false;
  std::string name;
  int result = 0;
  bool exception_null_on_success = false;
  bool result_before_done_is_usage_error = false;
  std::string result_before_done_message;
  bool exception_kept = false;
  std::string failed_message;
  bool result_rethrows = false;
  bool cancelled_result_throws_cancelled = false;
  bool cancelled_exception_holds_cancelled = false;
};

Task<Accessors> use_accessors() {
  Accessors a;
  auto ok = create_task(sleeps_then_returns(10ms, 3), "worker");
  a.done_before = ok.done();
  a.name = ok.name();
  try {
    (void)ok.result();
  } catch (const UsageError& e) {
    a.result_before_done_is_usage_error = true;
    a.result_before_done_message = e.what();
  }
  co_await sleep(20ms);  // it finishes meanwhile; nobody awaits it
  a.done_after = ok.done();
  a.result = ok.result();
  a.exception_null_on_success = ok.exception() == nullptr;

  auto bad = create_task(throws_later("bad"), "bad");
  co_await sleep(20ms);
  std::exception_ptr e = bad.exception();
  a.exception_kept = e != nullptr;
  try {
    std::rethrow_exception(e);
  } catch (const std::runtime_error& x) {
    a.failed_message = x.what();
  }
  try {
    (void)bad.result();
  } catch (const std::runtime_error&) {
    a.result_rethrows = true;
  }

  auto cancelled = create_task(sleeps_then_returns(1s, 0), "cancelled");
  co_await sleep(0ms);
  cancelled.cancel();
  co_await sleep(0ms);
  try {
    (void)cancelled.result();
  } catch (const CancelledError&) {
    a.cancelled_result_throws_cancelled = true;
  }
  try {
    std::rethrow_exception(cancelled.exception());
  } catch (const CancelledError&) {
    a.cancelled_exception_holds_cancelled = true;
  } catch (...) {
  }
  co_return a;
}

// --- awaiting one's own handle ---------------------------------------------------------------

Task<void> awaits_itself(const TaskHandle<void>* self, std::string* message) {
  try {
    co_await *self;
  } catch (const UsageError& e) {
    *message = e.what();
  }
}

Task<std::string> self_await() {
  std::string message;
  TaskHandle<void> h;
  h = create_task(awaits_itself(&h, &message), "narcissus");
  co_await h;  // it returns after catching the error
  co_return message;
}

// --- names -------------------------------------------------------------------------------------

Task<Log> default_names() {
  Log names;
  Log ignored;
  auto a = create_task(append(&ignored, "x"));
  auto b = create_task(append(&ignored, "y"), "named");
  auto c = create_task(append(&ignored, "z"));
  names.push_back(a.name());
  names.push_back(b.name());
  names.push_back(c.name());
  names.push_back(std::to_string(a.id()) + "," + std::to_string(b.id()) + "," + std::to_string(c.id()));
  co_await a;
  co_await b;
  co_await c;
  co_return names;
}

}  // namespace

TEST_CASE("create_task is lazy: the body runs on a later loop turn, never inside create_task") {
  Log log = run_virtual(create_task_is_lazy());
  CHECK(log == Log{"after create_task", "still the same step", "body", "after one turn"});
}

TEST_CASE("ready tasks run in FIFO order: the order they were spawned in") {
  Log expected;
  for (int i = 0; i < 10; ++i) expected.push_back(std::to_string(i));
  CHECK(run_virtual(ready_tasks_run_fifo()) == expected);
}

TEST_CASE("a task spawned during a turn runs after the tasks that were already ready") {
  CHECK(run_virtual(spawned_tasks_join_the_back_of_the_queue()) == Log{"parent", "a1", "child", "a2"});
}

TEST_CASE("co_await handle yields a copy of the result; awaiting again or result() gives it again") {
  int copies = 0;
  CopyOutcome out = run_virtual(await_handle_yields_copies(&copies));
  CHECK(out.first == 5);
  CHECK(out.second == 5);
  CHECK(out.via_result == 5);
  CHECK(out.copies_made >= 3);  // each of the three reads copied; the stored value stays
}

TEST_CASE("co_await handle rethrows the exception the task threw") {
  CHECK(run_virtual(await_handle_rethrows()) == "task failed");
}

TEST_CASE("co_await handle of a cancelled task throws CancelledError") {
  CHECK(run_virtual(await_handle_of_cancelled_task()));
}

TEST_CASE("several tasks can await one handle; all get the value when it finishes") {
  std::vector<int> got;
  std::vector<Clock::duration> at;
  run_virtual(several_awaiters(&got, &at));
  CHECK(got == std::vector<int>(5, 9));
  CHECK(at == std::vector<Clock::duration>(5, 100ms));
}

TEST_CASE("dropping every handle neither stops nor destroys a running task: it runs to completion") {
  Log log;
  bool frame_destroyed = false;
  bool destroyed_while_running = true;
  run_virtual(drops_the_handle(&log, &frame_destroyed, &destroyed_while_running));
  CHECK_FALSE(destroyed_while_running);
  CHECK(log == Log{"tick at 10 ms", "tick at 10 ms", "tick at 20 ms", "tick at 20 ms", "tick at 30 ms",
                   "tick at 30 ms"});
  CHECK(frame_destroyed);  // once finished, the frame is freed
}

TEST_CASE("handle accessors: done(), name(), result(), exception(); result() before done is a UsageError") {
  Accessors a = run_virtual(use_accessors());
  CHECK_FALSE(a.done_before);
  CHECK(a.done_after);
  CHECK(a.name == "worker");
  CHECK(a.result == 3);
  CHECK(a.exception_null_on_success);
  CHECK(a.result_before_done_is_usage_error);
  CHECK(a.result_before_done_message.find("worker") != std::string::npos);
  CHECK(a.exception_kept);
  CHECK(a.failed_message == "bad");
  CHECK(a.result_rethrows);
  CHECK(a.cancelled_result_throws_cancelled);
  CHECK(a.cancelled_exception_holds_cancelled);
}

TEST_CASE("a task awaiting its own handle is a UsageError, not a silent hang") {
  std::string message = run_virtual(self_await());
  CHECK(message.find("narcissus") != std::string::npos);
  CHECK(message.find("its own handle") != std::string::npos);
}

TEST_CASE("default task names are \"Task-<id>\"; ids count up from main's 1 in spawn order") {
  Log names = run_virtual(default_names());
  CHECK(names == Log{"Task-2", "named", "Task-4", "2,3,4"});
}

TEST_CASE("using an empty TaskHandle is a UsageError") {
  TaskHandle<int> h;
  CHECK_FALSE(h);
  CHECK_THROWS_AS((void)h.done(), UsageError);
  CHECK_THROWS_AS((void)h.result(), UsageError);
}
