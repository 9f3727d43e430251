// Exercise 01 — coroutines. Replace each exercise::todo(...) with your code; the hints in the
// TODO comments get you started, `./coop run 1` grades it, `./coop hint 1` helps more.
// Read exercises/01_coroutines.hpp first: it says what each part must do, and which file of
// the runtime to read before each part.
#include "01_coroutines.hpp"

#include "exercise.hpp"

namespace ex01 {

// ---- Part 1: Ready ---------------------------------------------------------------------------

bool Ready::await_ready() const {
  // TODO: is the result already here? Then the task need not suspend.
  exercise::todo("Ready::await_ready");
}

bool Ready::await_suspend(std::coroutine_handle<> h) const {
  // TODO: never called if await_ready says the result is here. What should a "suspend"
  //       that must not suspend return?
  (void)h;
  exercise::todo("Ready::await_suspend");
}

int Ready::await_resume() const {
  // TODO: this is the value of the co_await expression.
  (void)value_;
  exercise::todo("Ready::await_resume");
}

// ---- Part 2: TimedSleep ----------------------------------------------------------------------

bool TimedSleep::await_ready() {
  // TODO: forward to inner_.
  exercise::todo("TimedSleep::await_ready");
}

bool TimedSleep::await_suspend(std::coroutine_handle<> h) {
  // TODO: the task is suspending now: note the time (coop::now()), then hand `h` to inner_.
  //       Its answer matters: pass it on.
  (void)h;
  exercise::todo("TimedSleep::await_suspend");
}

coop::Clock::duration TimedSleep::await_resume() {
  // TODO: let inner_ finish first (it throws when the sleep was cancelled), then return the
  //       time since the task suspended.
  exercise::todo("TimedSleep::await_resume");
}

// ---- Parts 3 and 4: Latch --------------------------------------------------------------------
// On the kernel: coop::Wait, WaitList and Timer (runtime/include/coop/lowlevel.hpp). Read
// event.hpp first: its Waiter is the same shape as this one.

void Latch::count_down() {
  // TODO: lower the count (not below 0); when it reaches 0, take every waiter off waiters_,
  //       front first, and tell it (opened()).
  exercise::todo("Latch::count_down");
}

Latch::Waiter Latch::wait_for(coop::Clock::duration timeout) {
  // TODO (part 4): a Waiter with a time limit.
  (void)timeout;
  exercise::todo("Latch::wait_for");
}

bool Latch::Waiter::await_ready() const {
  // TODO: when is there nothing to wait for?
  exercise::todo("Latch::Waiter::await_ready");
}

bool Latch::Waiter::await_suspend(std::coroutine_handle<> h) {
  // TODO: go through the loop's door: park(h) first (see sleep.hpp and event.hpp for what
  //       its result means), then join the latch's waiters_. Part 4: with a timeout_, also
  //       set a timer (call_later, from coop::Timer: see lowlevel.hpp).
  (void)h;
  exercise::todo("Latch::Waiter::await_suspend");
}

bool Latch::Waiter::await_resume() const {
  // TODO: a cancelled wait must throw here (Wait has a function for it). Then: did the latch
  //       open, or did the time run out?
  (void)timed_out_;
  exercise::todo("Latch::Waiter::await_resume");
}

void Latch::Waiter::opened() noexcept {
  // TODO: count_down() reached 0 and took us off its list: wake the task (Wait::wake).
  //       Part 4: drop the timer first, if one is set. (noexcept: no exercise::todo here.)
}

void Latch::Waiter::on_timer() noexcept {
  // TODO (part 4): the time ran out: leave the latch's list, remember why, wake the task.
}

bool Latch::Waiter::on_cancel() noexcept {
  // TODO: the task is cancelled while parked here: stop waiting. The loop has already taken
  //       it out of the latch's list (a WaitList is cancel-safe); part 4: drop the timer.
  //       Return true: the loop then wakes the task, and await_resume throws CancelledError.
  return true;
}

}  // namespace ex01
