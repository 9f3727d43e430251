// join_all.cpp — see join_all.hpp.
#include "coop/join_all.hpp"

#include <fmt/format.h>

namespace coop::detail {

JoinAll::JoinAll(WaitKind kind, std::size_t capacity, std::optional<Clock::time_point> deadline)
    : Wait(kind), watches_(std::make_unique<Watch[]>(capacity)), capacity_(capacity), deadline_(deadline) {}

void JoinAll::add(TaskBase& child) {
  if (size_ == capacity_) throw UsageError("JoinAll: more children than its capacity");
  Watch& w = watches_[size_++];
  w.owner = this;
  w.child = &child;
  ++remaining_;
  if (child.done())
    child_done(child);
  else
    child.add_observer(w);
  if (stopping_ && !child.done()) child.cancel();  // the group already failed: no new work
}

bool JoinAll::await_suspend(std::coroutine_handle<> h) {
  // The deadline is set first, because setting it can fail (the heap allocates); if park()
  // refuses, on_cancel() has already removed it (stop_children).
  if (deadline_ && !stopping_) call_at(*deadline_);
  if (!park(h)) return false;  // a pending cancellation, and no child left to wait for
  return true;
}

void JoinAll::child_done(TaskBase& child) noexcept {
  --remaining_;
  // The group owns its children: their exceptions are either rethrown by gather (the first)
  // or deliberately dropped (those that came while cancelling the rest), never "unretrieved".
  child.mark_retrieved();
  if (!stopping_ && child.outcome() != Outcome::returned) {
    first_failure_ = &child;
    stop_children();
  }
  if (remaining_ == 0) {
    cancel_timer();
    if (parked()) wake();
  }
}

void JoinAll::stop_children() noexcept {
  stopping_ = true;
  cancel_timer();
  for (std::size_t i = 0; i < size_; ++i)
    if (!watches_[i].child->done()) watches_[i].child->cancel();
}

void JoinAll::on_timer() noexcept {
  timed_out_ = true;
  stop_children();
}

bool JoinAll::on_cancel() noexcept {
  stop_children();
  return remaining_ == 0;  // else keep waiting; child_done() wakes us when the last one ends
}

std::string JoinAll::describe() const {
  if (kind() == WaitKind::wait_for && size_ == 1)
    return fmt::format("wait_for task '{}'{}", watches_[0].child->name(), stopping_ ? " (cancelling it)" : "");
  std::string names;
  for (std::size_t i = 0; i < size_; ++i)
    if (!watches_[i].child->done()) names += fmt::format("{}'{}'", names.empty() ? "" : ", ", watches_[i].child->name());
  return fmt::format("gather of {} tasks, {} still running ({}){}", size_, remaining_, names,
                     stopping_ ? ", being cancelled" : "");
}

}  // namespace coop::detail
