// generator.hpp — AsyncGenerator<T>: `async for` and async generators.
//
// asyncio:   async def numbers():                 C++:   AsyncGenerator<int> numbers() {
//                for i in range(3):                          for (int i = 0; i < 3; ++i) {
//                    await asyncio.sleep(0.1)                  co_await sleep(100ms);
//                    yield i                                   co_yield i;
//                                                            }
//                                                          }
//            async for x in numbers():                     auto gen = numbers();
//                print(x)                                  while (auto x = co_await gen.next())
//                                                            std::cout << *x << '\n';
//
// Why C++ has no `async for`. C++'s range-for calls begin(), operator++ and operator!=,
// and none of them can co_await. The Coroutines TS had a `for co_await (x : range)` loop,
// but it was left out of C++20 (it presumed a design for asynchronous ranges that did not
// exist yet), so the idiom is a while loop around `co_await gen.next()`: next() is
// asyncio's __anext__, std::optional<T> is "an item, or the end" (std::nullopt plays
// StopAsyncIteration), and the `auto x = ...` in the condition reads like `for x in`.
//
// The one idea in this file: a generator is a coroutine that is resumed once per item, and
// is suspended in between at its co_yield. Each `co_await gen.next()` resumes the body; the
// body runs until it yields an item, finishes, or throws, and then the consumer continues.
// Nothing is produced ahead: the body runs only while someone awaits next(). So a stream of
// a million items costs one item and one frame at a time — streaming in constant memory.
//
// The body may also co_await anything (sleep, an Event, a Queue, a Task). It runs INSIDE
// the consumer's task, like a Task that the consumer awaits: when the body waits, the
// consumer's whole task is parked on that wait, and the loop resumes the body when it is
// over. So cancelling the consumer while the body waits throws CancelledError at the body's
// co_await; it propagates out of the body, and next() rethrows it to the consumer, like any
// other exception of the body.
//
// Control moves exactly as in task.hpp, and for the same reason (stack safety at -O0 and
// under ASan, where symmetric transfer is a nested call): next() resumes the body with an
// ordinary call, body.resume(). When that call comes back with an item (or the end), next()
// does not suspend at all (await_suspend returns false) and the consumer carries on in the
// same stack frame; a loop pulling a million items that are yielded at once never deepens
// the stack. Only when the body really waited does the consumer park; the body is then
// resumed later by the loop, and its co_yield (or its end) resumes the consumer by
// symmetric transfer, from the loop's nearly empty stack.
//
// Dropping a generator before its end destroys its frame: the destructors of its locals
// run (they are its cleanup), but no code after its current co_yield does.
// Simplification, labelled: Python's async generators have aclose(), which throws
// GeneratorExit into the body so that its `finally` blocks may await; C++ destructors
// cannot await, so cleanup that must await belongs after the loop in the consumer (or in
// async_with, async_with.hpp), not in the generator's destructors.
#pragma once

#include <concepts>
#include <coroutine>
#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "coop/errors.hpp"
#include "coop/frame_allocator.hpp"
#include "coop/lowlevel.hpp"

namespace coop {

// A coroutine that co_yields T's and may co_await in between; consumed with
// `while (auto x = co_await gen.next()) { ... }`. Lazy, move-only; destroying it destroys
// the frame. Use it from one task at a time (see next()). Destroying it while a next() of
// it is in progress (another task drops it while the consumer waits inside the body) is a
// misuse, made safe: the frame lives on until the body stops (at its next co_yield, or its
// end), and that next() then throws UsageError instead of yielding.
template <class T>
class [[nodiscard]] AsyncGenerator {
  static_assert(!std::is_reference_v<T>, "AsyncGenerator<T&> is not supported: yield a pointer or a value");

 public:
  class promise_type;
  using value_type = T;

  AsyncGenerator() noexcept = default;
  AsyncGenerator(AsyncGenerator&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  AsyncGenerator& operator=(AsyncGenerator&& other) noexcept {
    if (this != &other) {
      reset();
      handle_ = std::exchange(other.handle_, {});
    }
    return *this;
  }
  AsyncGenerator(const AsyncGenerator&) = delete;
  AsyncGenerator& operator=(const AsyncGenerator&) = delete;
  ~AsyncGenerator() { reset(); }

  // False for a moved-from or default-constructed generator.
  explicit operator bool() const noexcept { return static_cast<bool>(handle_); }

  // asyncio's __anext__. `co_await gen.next()` runs the body until its next co_yield and
  // yields that item; std::nullopt once the body has ended (and every time after); rethrows
  // what the body threw (once: after that the generator has ended). Awaiting next() while
  // another next() of the same generator is still in progress (two tasks sharing it) is a
  // UsageError, like asyncio's "asynchronous generator is already running".
  [[nodiscard]] auto next() { return NextAwaiter{handle_}; }

 private:
  using Handle = std::coroutine_handle<promise_type>;

  explicit AsyncGenerator(Handle h) noexcept : handle_(h) {}

  void reset() noexcept {
    if (!handle_) return;
    Handle h = std::exchange(handle_, {});
    // A consumer is inside the body, parked on one of its waits: destroying the frame now
    // would leave that task parked on freed memory. Detach it instead; next() destroys it.
    // (Unless run() is abandoning the tasks: then nobody will ever resume the body.)
    detail::Loop* loop = detail::Loop::current_or_null();
    if (h.promise().running_ && loop != nullptr && !loop->abandoning()) {
      h.promise().detached_ = true;
      return;
    }
    h.destroy();
  }

  // Where control goes when the body stops for now (at a co_yield) or for good (at its end):
  // back into next()'s body.resume() call if it is still on the stack, else to the consumer.
  struct ReturnToConsumer {
    bool await_ready() noexcept { return false; }
    std::coroutine_handle<> await_suspend(Handle self) noexcept {
      promise_type& p = self.promise();
      if (p.starting_inline_) return std::noop_coroutine();  // back into body.resume()
      return p.consumer_;                                    // the body had waited: resume the consumer
    }
    void await_resume() noexcept {}
  };

  struct NextAwaiter {
    Handle body;

    // The generator was dropped during this next() and the consumer's frame is destroyed
    // before the body stopped (run() abandoning it): the body is nobody else's to free.
    ~NextAwaiter() {
      if (body && body.promise().detached_) body.destroy();
    }

    // Checks for misuse, and answers at once for a generator that has ended.
    bool await_ready() const {
      if (!body)
        throw UsageError("next() on an empty AsyncGenerator (it was moved from, or default-constructed)");
      if (body.promise().running_)
        throw UsageError(
            "next() on an AsyncGenerator that is already running: another next() of the same "
            "generator has not finished yet. A generator serves one consumer at a time; to "
            "share its items between tasks, have one task pull them and put them in a Queue");
      return body.done();  // ended: nullopt, without resuming anything
    }

    bool await_suspend(std::coroutine_handle<> consumer) noexcept {
      promise_type& p = body.promise();
      p.consumer_ = consumer;
      p.running_ = true;
      p.item_.reset();  // empty already, unless moving the last item out threw
      p.starting_inline_ = true;
      body.resume();  // an ordinary call: runs the body until it yields, ends, or waits
      p.starting_inline_ = false;
      // Yielded or ended inside that call: the consumer goes straight on, same stack frame.
      if (p.item_.has_value() || body.done()) return false;
      // The body waits (inside the consumer's task, which is now parked on that wait).
      // Nothing else can run before this step returns to the loop, so clearing
      // starting_inline_ above cannot race with the body being resumed.
      return true;  // park the consumer too; the body's next co_yield or its end resumes it
    }

    std::optional<T> await_resume() {
      promise_type& p = body.promise();
      p.running_ = false;
      if (p.detached_) {
        std::exchange(body, {}).destroy();
        throw UsageError(
            "the AsyncGenerator was destroyed while this task was inside its next(); a generator "
            "must outlive the next() calls in progress (drop it between items)");
      }
      if (p.exception_) std::rethrow_exception(std::exchange(p.exception_, nullptr));
      if (!p.item_.has_value()) return std::nullopt;  // the end
      std::optional<T> item(std::move(*p.item_));
      p.item_.reset();
      return item;
    }
  };

  Handle handle_;
};

template <class T>
class AsyncGenerator<T>::promise_type {
 public:
  // Frames come from the recycling pool (frame_allocator.hpp), like a Task's.
  static void* operator new(std::size_t size) { return detail::allocate_frame(size); }
  static void operator delete(void* p, std::size_t size) noexcept { detail::deallocate_frame(p, size); }

  AsyncGenerator get_return_object() noexcept { return AsyncGenerator(Handle::from_promise(*this)); }

  // Lazy: nothing of the body runs before the first next().
  std::suspend_always initial_suspend() noexcept { return {}; }

  // `co_yield v`: hand v to the consumer and stop until the next next().
  template <class U = T>
    requires std::constructible_from<T, U&&>
  ReturnToConsumer yield_value(U&& value) {
    item_.emplace(std::forward<U>(value));
    return {};
  }

  void return_void() noexcept {}
  void unhandled_exception() noexcept { exception_ = std::current_exception(); }
  ReturnToConsumer final_suspend() noexcept { return {}; }

 private:
  friend class AsyncGenerator;

  std::optional<T> item_;                // the item just yielded, until next() hands it over
  std::exception_ptr exception_;         // what the body threw, until next() rethrows it
  std::coroutine_handle<> consumer_;     // the coroutine awaiting next(), while running_
  bool running_ = false;                 // a next() is in progress
  bool detached_ = false;                // the AsyncGenerator was destroyed meanwhile; the
                                         // next() in progress destroys the frame
  bool starting_inline_ = false;         // inside next()'s body.resume() call
};

}  // namespace coop
