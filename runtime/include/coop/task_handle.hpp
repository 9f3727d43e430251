// task_handle.hpp — create_task: run a coroutine on its own, and keep a handle to it.
//
// asyncio: `t = asyncio.create_task(coro())` returns at once; the coroutine starts on a
// later turn of the loop and runs alongside the caller. `await t` waits for it and yields
// its result. `t.cancel()` asks it to stop.
//
// Here the loop keeps a record of each scheduled task, TaskState<T> (the result lives
// there once the body finishes), and TaskHandle<T> is a counted reference to that record.
// Differences from asyncio, on purpose:
//   * The loop holds its own reference until the task finishes, so dropping every handle
//     never destroys a running task. (asyncio keeps only weak references, and a task
//     nobody references can be garbage-collected mid-flight; its docs tell you to keep
//     a set of your tasks to prevent that.)
//   * Cancelling a task that is awaiting a handle abandons that wait at once (like any
//     other wait); it does not cancel the awaited task. asyncio forwards the cancellation
//     to the awaited task. Cancel it yourself if you mean to, or use gather/wait_for,
//     which own their children and do cancel them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "coop/lowlevel.hpp"
#include "coop/task.hpp"

namespace coop {

template <class T>
class TaskHandle;

// Schedule `task` to run on its own; returns at once. Its body first runs on a later turn
// of the loop, never inside create_task. `name` shows in traces, timelines and reports
// (default "Task-<id>").
template <class T>
TaskHandle<T> create_task(Task<T> task, std::string name = {});

namespace detail {

// The record of one scheduled task: TaskBase plus its result.
template <class T>
class TaskState final : public TaskBase {
 public:
  TaskState(Task<T>&& task, std::string&& name) : TaskBase(task.take_frame("create_task"), std::move(name)) {}

  // The result, for someone who shares it (a copy), or for its only owner (moved out).
  // Rethrows the task's exception (and counts as retrieving it).
  T copy_result() {
    rethrow_if_failed();
    if constexpr (!std::is_void_v<T>) return *value_;
  }
  T take_result() {
    rethrow_if_failed();
    if constexpr (!std::is_void_v<T>) return std::move(*value_);
  }

 private:
  using Handle = std::coroutine_handle<Promise<T>>;
  struct Empty {};

  void rethrow_if_failed() {
    if (!done()) throw UsageError(fmt_not_done());
    mark_retrieved();
    if (exception()) std::rethrow_exception(exception());
  }
  std::string fmt_not_done() const { return "the result of task '" + name() + "' was asked for before it finished"; }

  std::exception_ptr take_outcome() noexcept override {
    auto& p = Handle::from_address(root_.address()).promise();
    if (p.exception_) return std::move(p.exception_);
    if constexpr (!std::is_void_v<T>) {
      try {
        value_.emplace(p.result());
      } catch (...) {
        return std::current_exception();  // the value's move constructor threw
      }
    }
    return nullptr;
  }
  void drop_value() noexcept override {
    if constexpr (!std::is_void_v<T>) value_.reset();
  }

  [[no_unique_address]] std::conditional_t<std::is_void_v<T>, Empty, std::optional<T>> value_;
};

// `co_await handle`: park until the task finishes (or return at once if it has).
// While parked it holds a reference to the record: the last TaskHandle may be dropped by
// another task meanwhile, and await_resume still reads the result from it.
template <class T>
class JoinAwaiter final : public Wait {
 public:
  explicit JoinAwaiter(TaskState<T>& state) noexcept : Wait(WaitKind::task), state_(state) {}
  ~JoinAwaiter() {
    if (holds_ref_) state_.drop_ref();
  }

  bool await_ready() const {
    if (Loop::current_or_null() != state_.loop()) [[unlikely]]
      throw_foreign_loop("co_await on the handle of task '" + state_.name() + "'");
    return state_.done();
  }
  bool await_suspend(std::coroutine_handle<> h) {
    if (Loop::current("co_await on a TaskHandle").running() == &state_)
      throw UsageError("task '" + state_.name() + "' awaits its own handle; it would wait for itself forever");
    if (!park(h)) return false;
    state_.joiners().push_back(*this);  // woken, all of them, when the task finishes
    state_.add_ref();
    holds_ref_ = true;
    return true;
  }
  T await_resume() {
    throw_if_interrupted();
    return state_.copy_result();
  }
  std::string describe() const override { return "task '" + state_.name() + "'"; }

 private:
  // (Cancelled while parked: the loop takes us out of the joiners; the awaited task runs on.)
  TaskState<T>& state_;
  bool holds_ref_ = false;  // a reference taken while parked, dropped with the awaiter
};

}  // namespace detail

// A shared reference to a scheduled task (asyncio.Task). Copyable; cheap to pass around.
// Not thread-safe: use it on the loop's thread.
template <class T = void>
class TaskHandle {
 public:
  TaskHandle() noexcept = default;
  TaskHandle(const TaskHandle& other) noexcept : state_(other.state_) {
    if (state_) state_->add_ref();
  }
  TaskHandle(TaskHandle&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
  TaskHandle& operator=(TaskHandle other) noexcept {
    std::swap(state_, other.state_);
    return *this;
  }
  ~TaskHandle() {
    if (state_) state_->drop_ref();
  }

  explicit operator bool() const noexcept { return state_ != nullptr; }

  // Ask the task to stop: CancelledError is thrown at its current (or next) suspension
  // point. Returns false if it has already finished.
  bool cancel() { return state().cancel(); }
  bool done() const { return state().done(); }
  // It ended with CancelledError, or was abandoned by run() at shutdown (false if it caught
  // the error and returned normally).
  bool cancelled() const {
    Outcome o = state().outcome();
    return o == Outcome::cancelled || o == Outcome::abandoned;
  }
  Outcome outcome() const { return state().outcome(); }
  const std::string& name() const { return state().name(); }
  std::uint64_t id() const { return state().id(); }

  // The task's result once it is done: the value (a copy), or its exception rethrown
  // (CancelledError if it was cancelled). UsageError before it finishes. asyncio: result().
  T result() const { return state().copy_result(); }
  // The exception it failed with, or null (asyncio: exception()); counts as retrieving it.
  std::exception_ptr exception() const {
    state().mark_retrieved();
    return state().exception();
  }

  // Wait for the task; yields a copy of its result, rethrows its exception, or throws
  // CancelledError if it was cancelled. Any number of tasks may await the same handle.
  auto operator co_await() const { return detail::JoinAwaiter<T>(state()); }

  // For the runtime (gather, wait_for): the record itself.
  detail::TaskState<T>& state() const {
    if (state_ == nullptr) throw UsageError("use of an empty TaskHandle");
    return *state_;
  }

 private:
  template <class U>
  friend TaskHandle<U> create_task(Task<U> task, std::string name);
  explicit TaskHandle(detail::TaskState<T>* adopted) noexcept : state_(adopted) {}
  detail::TaskState<T>* state_ = nullptr;
};

// The bytes the loop keeps per task of type T beside its coroutine frame (for benchmarks).
template <class T>
inline constexpr std::size_t task_record_size = sizeof(detail::TaskState<T>);

template <class T>
TaskHandle<T> create_task(Task<T> task, std::string name) {
  detail::Loop& loop = detail::Loop::current("coop::create_task()");
  auto* state = new detail::TaskState<T>(std::move(task), std::move(name));
  loop.spawn(*state);  // the record starts with one reference: the loop's
  state->add_ref();    // and one for the handle
  return TaskHandle<T>(state);
}

}  // namespace coop
