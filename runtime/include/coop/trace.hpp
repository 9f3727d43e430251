// trace.hpp — watching the loop: tracing hooks and diagnostics.
//
// Read the two enums first (what a task can wait on, how a task ends): they are the words
// the loop speaks in, and loop.hpp uses them. The rest makes most sense after loop.hpp.
//
// Every suspension and every step goes through the loop (loop.hpp), so the loop can tell
// an observer exactly what happened: a task was spawned, began a step, suspended on *what*,
// was woken, finished *how*. Lessons draw their timelines from these events and graders
// check the order things ran in with them; nothing has to be printed from inside a task.
//
// Diagnostics are the loop's warnings to a human (a step that blocked the loop, a swallowed
// cancellation, an exception nobody looked at). They go to stderr unless RunOptions says
// otherwise, so a test can capture and check them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "coop/clock.hpp"

namespace coop {

class Wait;
namespace detail {
class TaskBase;
}  // namespace detail

// What a suspended task is waiting for.
enum class WaitKind : std::uint8_t {
  sleep,      // a timer (coop::sleep)
  yield,      // sleep(0): one turn of the loop
  event,      // Event::wait
  lock,       // Lock::lock
  queue_get,  // Queue::get on an empty queue
  queue_put,  // Queue::put on a full queue
  task,       // co_await on a TaskHandle
  gather,     // gather's children
  wait_for,   // wait_for's child, or its timeout
  io,         // a socket
  thread,     // a job on a thread pool
  other,      // anything else built on coop::Wait (lowlevel.hpp)
};
std::string_view to_string(WaitKind kind) noexcept;

// How a task ended.
enum class Outcome : std::uint8_t {
  pending,    // not finished yet
  returned,   // its body returned normally
  failed,     // its body threw
  cancelled,  // it ended with CancelledError
  abandoned,  // it never finished; run() destroyed its frame at shutdown
};
std::string_view to_string(Outcome outcome) noexcept;

// A read-only view of a task, handed to tracers.
class TaskInfo {
 public:
  explicit TaskInfo(const detail::TaskBase& task) noexcept : task_(&task) {}
  std::uint64_t id() const noexcept;  // 1, 2, 3, ... in spawn order within one run()
  const std::string& name() const;    // as given to create_task, else "Task-<id>"
  Outcome outcome() const noexcept;
  std::string waiting_on() const;  // what it is suspended on, or "" when it is not

 private:
  const detail::TaskBase* task_;
};

// A read-only view of what a task suspended on.
class WaitInfo {
 public:
  explicit WaitInfo(const Wait& wait) noexcept : wait_(&wait) {}
  WaitKind kind() const noexcept;
  std::string describe() const;  // e.g. "sleep(250 ms)", "Event 'ready'", "task 'worker'"

 private:
  const Wait* wait_;
};

// Receives the loop's events. Override what you need; every hook runs on the loop thread,
// synchronously, at the moment it happens, so `coop::now()` inside a hook is its time.
class Tracer {
 public:
  virtual ~Tracer() = default;
  virtual void task_spawned(TaskInfo /*task*/, const TaskInfo* /*parent, or null*/) {}
  virtual void step_began(TaskInfo /*task*/) {}
  virtual void step_ended(TaskInfo /*task*/) {}
  virtual void task_suspended(TaskInfo /*task*/, WaitInfo /*on*/) {}
  virtual void task_woken(TaskInfo /*task*/) {}
  virtual void cancel_requested(TaskInfo /*task*/) {}
  virtual void task_finished(TaskInfo /*task*/, Outcome /*how*/) {}
};

// One recorded event. `at` is measured on the loop's clock from the start of run(), so
// under virtual time it is exact.
struct TraceEvent {
  enum class Kind : std::uint8_t { spawned, step_began, step_ended, suspended, woken, cancel_requested, finished };
  Clock::duration at{};
  Kind kind{};
  std::uint64_t task = 0;
  std::string task_name;
  std::uint64_t parent = 0;              // spawned: the spawning task's id, 0 if none
  WaitKind wait = WaitKind::other;       // suspended: on what kind of thing
  Outcome outcome = Outcome::pending;    // finished: how
  std::string detail;                    // suspended: WaitInfo::describe()
};
std::string_view to_string(TraceEvent::Kind kind) noexcept;

// A Tracer that keeps every event, for timelines and for tests.
class TraceRecorder : public Tracer {
 public:
  const std::vector<TraceEvent>& events() const noexcept { return events_; }
  void clear() noexcept { events_.clear(); }

  // Names of the tasks in the order their steps began (a task appears once per step).
  std::vector<std::string> step_order() const;
  // The events of one task, by name.
  std::vector<TraceEvent> events_of(std::string_view task_name) const;

  void task_spawned(TaskInfo task, const TaskInfo* parent) override;
  void step_began(TaskInfo task) override;
  void step_ended(TaskInfo task) override;
  void task_suspended(TaskInfo task, WaitInfo on) override;
  void task_woken(TaskInfo task) override;
  void cancel_requested(TaskInfo task) override;
  void task_finished(TaskInfo task, Outcome how) override;

 private:
  TraceEvent& add(TraceEvent::Kind kind, TaskInfo task);
  std::vector<TraceEvent> events_;
};

// A warning from the loop to a human.
struct Diagnostic {
  enum class Kind : std::uint8_t {
    slow_step,               // one step blocked the loop longer than RunOptions::slow_step_warning
    swallowed_cancellation,  // a task was cancelled, caught CancelledError and returned normally
    unretrieved_exception,   // a task failed and nobody ever looked at its exception
    abandoned,               // a task did not finish after cancellation at shutdown
  };
  Kind kind{};
  std::string task;     // the task's name
  std::string message;  // one complete line, e.g. "task 'flusher' blocked the loop for 250 ms ..."
};
std::string_view to_string(Diagnostic::Kind kind) noexcept;

}  // namespace coop
