// Exercise 01 — coroutines: write awaitables by hand (lesson 01).
//
// Two halves. Parts 1 and 2 need only the awaiter protocol (below) and coop::sleep: read
// runtime/include/coop/sleep.hpp first, the smallest awaitable in coop. Parts 3 and 4
// build on the public kernel, runtime/include/coop/lowlevel.hpp (Wait, WaitList, Timer):
// read event.hpp first for part 3 (an Event is a Latch that opens at once), and sleep.hpp
// again for part 4 (its awaiter is a Wait and a Timer, as your Waiter will be). Frame,
// handle, promise, awaiter, suspension point, step, turn: docs/glossary.md says each in a
// few lines.
//
// `co_await x` asks x three questions, in this order (lesson 01, step 2):
//   await_ready()     Is the result already here? true: don't suspend at all, go straight
//                     to await_resume.
//   await_suspend(h)  The task is suspending at `h`: hand it to whoever will resume it.
//                     Returning false means "don't suspend after all": resume at once.
//   await_resume()    The task goes on: return the value of the co_await expression (or throw).
//
// In coop, whoever resumes a task is always the loop, and every wait goes through its one
// door, coop::Wait (lowlevel.hpp): park(h) in await_suspend, wake() when the awaited thing
// happens, throw_if_interrupted() in await_resume. That is how the loop can trace every
// suspension, cancel any wait and name every blocked task in a deadlock report. An
// awaitable that keeps the handle for itself (and calls h.resume() later) is a UsageError:
// the loop sees a task that suspended without parking, which nothing would ever resume.
// Part 2 meets this door only through the SleepAwaiter it wraps; parts 3 and 4 use it.
//
// You write the member functions declared below (without a body) in
// exercises/01_coroutines.cpp. The grader (tests/grading/01_coroutines.cpp) runs them under
// virtual time and reads the loop's trace: when each task suspended, on what, and when it was
// woken. The members already here are all you need; an awaiter lives in the awaiting
// coroutine's frame while the task waits, and the loop and the latch point at it, so it is
// never copied or moved.
#pragma once

#include <coop/coop.hpp>

#include <coroutine>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>

namespace ex01 {

// Part 1. An awaitable that never suspends: `int v = co_await Ready(42);` gives 42 at once.
// The task keeps running and no other task gets a turn: a co_await is only a *possible*
// suspension point; the awaitable decides.
class Ready {
 public:
  explicit Ready(int value) noexcept : value_(value) {}

  bool await_ready() const;
  bool await_suspend(std::coroutine_handle<> h) const;  // never called when await_ready is true
  int await_resume() const;

 private:
  int value_;
};

// Part 2. An awaitable that wraps another (like lesson 01's LoudSleep): `co_await
// TimedSleep(d)` sleeps exactly like `co_await coop::sleep(d)` and gives back how long the
// task was suspended, on the loop's clock (coop::now()). The wrapped SleepAwaiter does the
// waiting; forward each of the three calls to it, and keep every property of the sleep:
//   * the time is measured from the co_await, not from when the TimedSleep was made (an
//     awaitable, like a Task, does nothing until it is awaited);
//   * TimedSleep(0ms) still gives the other ready tasks one turn, and gives back 0;
//   * a cancelled task gets its CancelledError at this co_await, also when the cancel()
//     came before the task reached it (then the sleep refuses to park: see sleep.hpp).
class TimedSleep {
 public:
  explicit TimedSleep(coop::Clock::duration d) noexcept : inner_(d) {}

  bool await_ready();
  bool await_suspend(std::coroutine_handle<> h);
  coop::Clock::duration await_resume();

 private:
  coop::SleepAwaiter inner_;                // the sleep that does the waiting
  coop::Clock::time_point suspended_at_{};  // when the task suspended
};

// Parts 3 and 4. A countdown latch (C++20's std::latch, for tasks). It starts at `count`;
// count_down() lowers it by one (never below 0); `co_await latch.wait()` suspends the task
// until the count is 0, and does not suspend at all when it is 0 already. When the count
// reaches 0, every waiting task is woken, in the order they started waiting.
//
// Its waits go through the loop's one door (Waiter derives from coop::Wait), so the
// loop knows about them: a task waiting on a Latch shows in the trace as suspended on
// WaitKind::other, "Latch 'name'", and in a deadlock report; a waiting task that is cancelled
// gets CancelledError from its co_await at once and stops waiting (the others wait on).
//
// Part 4. `bool opened = co_await latch.wait_for(timeout);` waits at most `timeout`: true if
// the latch opened in time (at once if it was open), false when the time ran out first. The
// same Waiter, with a timer too (it is a coop::Timer, like sleep's awaiter):
// whichever comes first, the latch opening or the timer, wakes the task, and the other must
// be unregistered.
class Latch {
 public:
  explicit Latch(std::size_t count, std::string name = {}) : count_(count), name_(std::move(name)) {}
  Latch(const Latch&) = delete;  // parked tasks point at it
  Latch& operator=(const Latch&) = delete;
  ~Latch() {
    // Given. Tasks still waiting are told the latch is gone (their co_await throws UsageError).
    while (!waiters_.empty()) waiters_.pop_front().orphan();
  }

  void count_down();  // Part 3
  std::size_t count() const noexcept { return count_; }
  const std::string& name() const noexcept { return name_; }

  class Waiter final : public coop::Wait, public coop::Timer {
   public:
    // wait() makes one without a time limit, wait_for() one with `timeout`.
    Waiter(Latch& latch, std::optional<coop::Clock::duration> timeout) noexcept
        : Wait(coop::WaitKind::other), latch_(latch), timeout_(timeout) {}

    bool await_ready() const;                       // Part 3
    bool await_suspend(std::coroutine_handle<> h);  // Part 3 (and the timer: part 4)
    bool await_resume() const;                      // Part 3: true; part 4: false when timed out

    // Given: what the trace and deadlock reports say this task waits for.
    std::string describe() const override { return "Latch '" + latch_.name_ + "'"; }

   private:
    friend class Latch;
    void opened() noexcept;              // Part 3: count_down() reached 0 and unlinked us
    bool on_cancel() noexcept override;  // Part 3: the task is being cancelled while parked
    void on_timer() noexcept override;   // Part 4: the time ran out

    Latch& latch_;
    std::optional<coop::Clock::duration> timeout_;  // wait_for's limit; none for wait()
    bool timed_out_ = false;                        // on_timer() woke us, not the latch
  };

  // Suspend until the count is 0 (Part 3). Given.
  [[nodiscard]] Waiter wait() noexcept { return Waiter(*this, std::nullopt); }
  // The same, for at most `timeout` (Part 4).
  [[nodiscard]] Waiter wait_for(coop::Clock::duration timeout);

 private:
  std::size_t count_;
  std::string name_;
  coop::WaitList<Waiter> waiters_;  // parked tasks, in the order they arrived
};

}  // namespace ex01
