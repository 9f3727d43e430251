// Wrong answer for exercise 01: the reference solution, but Latch::Waiter::on_cancel() leaves
// its timer set (part 4). Every earlier check passes: the waiter is usually destroyed right
// after the cancelled co_await, and coop::Timer's destructor cancels a timer left set. The
// grader sees it with a named waiter, alive after its co_await.
#include "01_coroutines.hpp"

namespace ex01 {

// ---- Part 1: Ready ---------------------------------------------------------------------------

// The result is here already: say so, and co_await goes straight to await_resume. The task
// never leaves its step, so no other task can run in between: nothing was suspended.
bool Ready::await_ready() const { return true; }

// Never called, since await_ready said true. Had it been, `false` would still be right:
// "don't suspend after all". Returning true here would suspend the task without parking it
// anywhere, and the loop would report it (nothing could ever resume it).
bool Ready::await_suspend(std::coroutine_handle<>) const { return false; }

int Ready::await_resume() const { return value_; }

// ---- Part 2: TimedSleep ----------------------------------------------------------------------

// Forward: the sleep decides whether to suspend (it never skips, not even sleep(0), which
// must give the others one turn).
bool TimedSleep::await_ready() { return inner_.await_ready(); }

// The task is suspending now: this is where the measured time starts (the constructor ran
// when the TimedSleep was made, which may be long before the co_await). Then hand over to
// the sleep and pass its answer on: it returns false, without parking, when a cancellation
// is pending; returning true anyway would suspend a task that nobody will resume.
bool TimedSleep::await_suspend(std::coroutine_handle<> h) {
  suspended_at_ = coop::now();
  return inner_.await_suspend(h);
}

// The inner await_resume throws CancelledError if the sleep was cancelled (or refused to
// park for a pending cancel); skipping it would swallow the cancellation. Only then measure.
coop::Clock::duration TimedSleep::await_resume() {
  inner_.await_resume();
  return coop::now() - suspended_at_;
}

// ---- Parts 3 and 4: Latch --------------------------------------------------------------------

// Code between two awaits runs alone on the loop's thread: no lock needed. Only the step
// that reaches 0 opens the latch; each waiter is unlinked before it is told (opened() must
// not find itself still on the list), and popping from the front keeps arrival order.
void Latch::count_down() {
  if (count_ == 0) return;  // never below 0: an open latch stays open
  if (--count_ > 0) return;
  while (!waiters_.empty()) waiters_.pop_front().opened();
}

// A Waiter with a time limit. The timer is not set here but in await_suspend: nothing
// happens until the co_await, and an open latch needs no timer at all.
Latch::Waiter Latch::wait_for(coop::Clock::duration timeout) { return Waiter(*this, timeout); }

// Open already: don't suspend (and wait_for gives true at once).
bool Latch::Waiter::await_ready() const { return latch_.count_ == 0; }

// The one door: park first. If a cancellation is pending, park() refuses and returns false,
// and we must return false too (await_resume then throws CancelledError), without
// registering anywhere. Once parked, register with what can wake us: the latch's list and,
// for wait_for, the loop's timer heap.
bool Latch::Waiter::await_suspend(std::coroutine_handle<> h) {
  if (!park(h)) return false;
  latch_.waiters_.push_back(*this);
  if (timeout_) call_later(*timeout_);
  return true;
}

// Cancelled (CancelledError) or orphaned (UsageError) waits throw here; otherwise the wait
// completed, and the only question is which way.
bool Latch::Waiter::await_resume() const {
  throw_if_interrupted();
  return !timed_out_;
}

// The latch opened (count_down already unlinked us): the timer, if any, is no longer
// needed. Unregister everything, then wake, exactly once.
void Latch::Waiter::opened() noexcept {
  cancel_timer();
  wake();
}

// The time ran out first (the loop took the timer off its heap before calling us): leave
// the latch's list, so a later count_down() does not find us, note why, and wake.
void Latch::Waiter::on_timer() noexcept {
  leave_list();
  timed_out_ = true;
  wake();
}

// Cancelled while parked: abandon the timer (the loop has already taken us out of the latch's
// WaitList). Returning true has the loop wake the task now; its await_resume throws
// CancelledError.
bool Latch::Waiter::on_cancel() noexcept {
  // The mistake: the task stops waiting, but the timer of a wait_for is left set.
  return true;
}

}  // namespace ex01
