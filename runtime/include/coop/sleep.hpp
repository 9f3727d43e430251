// sleep.hpp — coop::sleep, the smallest awaitable that makes a task wait.
//
// asyncio: `await asyncio.sleep(0.5)`. The task parks on a timer; the loop runs other
// tasks meanwhile and wakes this one when the deadline passes. `sleep(0)` (or any d <= 0)
// sets no timer: the task goes to the back of the ready queue and runs again on the next
// turn of the loop, after everything that was already ready — a polite "let others run".
//
// Read this file as the worked example of the Wait protocol in lowlevel.hpp: a Wait that is
// also a Timer.
#pragma once

#include <chrono>
#include <cmath>
#include <string>

#include "coop/lowlevel.hpp"

namespace coop {

class SleepAwaiter final : public Wait, public Timer {
 public:
  explicit SleepAwaiter(Clock::duration d) noexcept
      : Wait(d > Clock::duration::zero() ? WaitKind::sleep : WaitKind::yield), duration_(d) {}
  bool await_ready() const noexcept { return false; }  // even sleep(0) gives way once

  bool await_suspend(std::coroutine_handle<> h) {
    // The timer is set before parking because setting it can fail (the heap allocates):
    // what can fail comes first. It cannot fire yet (timers fire between steps), and if
    // park() refuses, on_cancel below has already removed it.
    if (kind() == WaitKind::sleep) call_later(duration_);
    if (!park(h)) return false;  // a pending cancellation lands here
    if (kind() == WaitKind::yield) wake();  // back of the ready queue: runs next turn
    return true;
  }

  void await_resume() const { throw_if_interrupted(); }

  std::string describe() const override {
    return kind() == WaitKind::yield ? "sleep(0), one loop turn" : "sleep(" + format_duration(duration_) + ")";
  }

 private:
  void on_timer() noexcept override { wake(); }
  bool on_cancel() noexcept override {
    cancel_timer();  // abandon the timer
    return true;
  }

  Clock::duration duration_;
};

// Suspend the calling task for `d` (on the loop's clock: virtual time leaps ahead).
[[nodiscard]] inline SleepAwaiter sleep(Clock::duration d) {
  detail::Loop::current("coop::sleep()");  // a clear error where no loop runs
  return SleepAwaiter(d);
}

// The same for fractional durations, e.g. sleep(0.25s) with std::chrono_literals.
// Converting a double to Clock::duration overflows (undefined behaviour; in practice a
// huge sleep became a negative one and returned at once) beyond ~292 years, so: longer
// than Clock::duration can hold saturates to Clock::duration::max(), "never" (the deadline
// saturates too, see Loop::deadline_after); as negative saturates to min(), one loop turn
// like any d <= 0; NaN is no duration at all and is a UsageError.
template <class Rep, class Period>
  requires std::chrono::treat_as_floating_point_v<Rep>
[[nodiscard]] SleepAwaiter sleep(std::chrono::duration<Rep, Period> d) {
  using Exact = std::chrono::duration<long double, Clock::period>;
  const long double ticks = std::chrono::duration_cast<Exact>(d).count();
  if (std::isnan(ticks)) throw UsageError("coop::sleep(): the duration is NaN");
  // Compared as long double: max() itself may round up on conversion, so stay just below.
  constexpr long double limit = static_cast<long double>(Clock::duration::max().count()) * 0.999L;
  if (ticks >= limit) return sleep(Clock::duration::max());
  if (ticks <= -limit) return sleep(Clock::duration::min());
  return sleep(std::chrono::ceil<Clock::duration>(Exact(ticks)));
}

}  // namespace coop
