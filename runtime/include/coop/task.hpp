// task.hpp — Task<T>: a coroutine, and what `co_await` on it means.
//
// asyncio: `async def fetch() -> bytes` — calling fetch() returns a coroutine object and
// runs none of its body. Task<T> is that object. (asyncio's *Task*, a coroutine scheduled
// to run on its own, is coop's TaskHandle: task_handle.hpp.) It is lazy: the body starts only when
// something drives it, either `co_await task` from another coroutine (the body then runs
// inside the awaiting task, like `await fetch()`), or create_task(), which hands it to the
// loop to run on its own (task_handle.hpp).
//
// The one idea in this file is how control moves between an awaiting coroutine and the
// coroutine it awaits:
//   * `co_await child` records the parent as the child's continuation and starts the child.
//   * If the child finishes without ever suspending, the parent simply carries on.
//   * If the child suspends (on a sleep, an event, ...), the whole chain is parked; when the
//     child later finishes, its final suspend point resumes the parent.
//
// Stack safety. The obvious way to start the child is "symmetric transfer": return the
// child's handle from await_suspend and let the compiler jump to it, and likewise jump back
// to the parent from the child's final suspend. The jump is only a real tail call when GCC
// optimises (-O2) without sanitizers; at -O0 or under ASan each transfer is a nested call,
// so `for (1M times) co_await child_that_returns_at_once();` overflows the stack. So the
// parent starts the child with an ordinary call, child.resume(), and when that call comes
// back with the child already finished, await_suspend returns false ("don't suspend after
// all") and the parent continues in the same stack frame. Symmetric transfer is used only to
// resume the parent after a child that really did suspend, which happens from the loop with
// an empty stack.
#pragma once

#include <coroutine>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "coop/errors.hpp"
#include "coop/frame_allocator.hpp"

namespace coop {

template <class T = void>
class Task;

namespace detail {

// What every Task's promise holds, whatever T is.
class PromiseBase {
 public:
  // Frames come from the recycling pool (frame_allocator.hpp).
  static void* operator new(std::size_t size) { return allocate_frame(size); }
  static void operator delete(void* p, std::size_t size) noexcept { deallocate_frame(p, size); }

  // Lazy: a fresh coroutine is suspended before the first line of its body.
  std::suspend_always initial_suspend() noexcept { return {}; }

  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> self) noexcept {
      PromiseBase& p = self.promise();
      // Finished inside the parent's child.resume() call: just return to that call.
      // A task's outermost coroutine has no parent: return to the loop.
      if (p.starting_inline_ || !p.continuation_) return std::noop_coroutine();
      return p.continuation_;  // finished later: resume the parent
    }
    void await_resume() noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }

  void unhandled_exception() noexcept { exception_ = std::current_exception(); }

  std::coroutine_handle<> continuation_;  // the coroutine awaiting this one, if any
  std::exception_ptr exception_;          // what the body threw, if it did
  bool started_ = false;                  // driven once already: a Task runs only once
  bool starting_inline_ = false;          // inside the parent's child.resume() call
};

template <class T>
class Promise : public PromiseBase {
 public:
  Task<T> get_return_object() noexcept;
  void return_value(T value) { value_.emplace(std::move(value)); }

  // The outcome: the value, or the exception rethrown. Moves the value out.
  T result() {
    if (exception_) std::rethrow_exception(exception_);
    return std::move(*value_);
  }

 private:
  std::optional<T> value_;
};

template <>
class Promise<void> : public PromiseBase {
 public:
  Task<void> get_return_object() noexcept;
  void return_void() noexcept {}
  void result() {
    if (exception_) std::rethrow_exception(exception_);
  }
};

template <class T>
class TaskState;

// Throws UsageError unless `task` can still run (not empty, never driven). gather checks
// every child with it before scheduling any, so a bad argument cannot leave the children
// already scheduled running on without a parent.
template <class T>
void require_runnable(const Task<T>& task, const char* what);

}  // namespace detail

// A lazy coroutine returning T. Move-only; destroying it destroys the coroutine's frame.
template <class T>
class [[nodiscard]] Task {
  static_assert(!std::is_reference_v<T>, "Task<T&> is not supported: return a pointer or a value");

 public:
  using promise_type = detail::Promise<T>;
  using value_type = T;

  Task() noexcept = default;
  Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      reset();
      handle_ = std::exchange(other.handle_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { reset(); }

  // False for a moved-from or default-constructed Task.
  explicit operator bool() const noexcept { return static_cast<bool>(handle_); }

  // Runs the body inside the awaiting coroutine; yields its result or rethrows.
  auto operator co_await() & { return Awaiter{handle_}; }
  auto operator co_await() && { return Awaiter{handle_}; }

 private:
  friend class detail::Promise<T>;
  template <class U>
  friend class detail::TaskState;
  friend void detail::require_runnable<T>(const Task<T>&, const char*);

  explicit Task(std::coroutine_handle<promise_type> h) noexcept : handle_(h) {}

  void reset() noexcept {
    if (handle_) std::exchange(handle_, {}).destroy();
  }

  // Hands the frame to a task record (create_task), checking it can still run.
  std::coroutine_handle<promise_type> take_frame(const char* what) {
    check_runnable(handle_, what);
    return std::exchange(handle_, {});
  }

  static void check_runnable(std::coroutine_handle<promise_type> h, const char* what) {
    if (!h) throw UsageError(std::string(what) + " on an empty Task (it was moved from, or default-constructed)");
    if (h.promise().started_)
      throw UsageError(std::string(what) +
                       " on a Task that already ran: a Task runs once. To await one "
                       "result from several places, create_task() it and await the handle");
  }

  struct Awaiter {
    std::coroutine_handle<promise_type> child;

    bool await_ready() const {
      check_runnable(child, "co_await");
      return false;
    }

    bool await_suspend(std::coroutine_handle<> parent) {
      detail::PromiseBase& p = child.promise();
      p.started_ = true;
      p.continuation_ = parent;
      p.starting_inline_ = true;
      child.resume();  // an ordinary call: runs the child until it suspends or finishes
      if (child.done()) return false;  // finished already: the parent goes straight on
      // The child suspended. Nothing else can run before we return to the loop (one
      // thread, and the loop is not running during this call), so the frame is ours.
      p.starting_inline_ = false;
      return true;  // park the parent too; the child's final suspend will resume it
    }

    T await_resume() { return child.promise().result(); }
  };

  std::coroutine_handle<promise_type> handle_;
};

namespace detail {
template <class T>
Task<T> Promise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<Promise<T>>::from_promise(*this));
}
inline Task<void> Promise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<Promise<void>>::from_promise(*this));
}
template <class T>
void require_runnable(const Task<T>& task, const char* what) {
  Task<T>::check_runnable(task.handle_, what);
}
}  // namespace detail

}  // namespace coop
