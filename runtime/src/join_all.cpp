// join_all.cpp — see join_all.hpp.
#include "coop/join_all.hpp"

#include <fmt/format.h>

namespace coop::detail {

JoinAll::JoinAll(WaitKind kind, std::vector<TaskBase*> children, std::optional<Clock::time_point> deadline)
    : Wait(kind),
      children_(std::move(children)),
      watches_(std::make_unique<Watch[]>(children_.size())),
      deadline_(deadline),
      remaining_(children_.size()) {
  for (std::size_t i = 0; i < children_.size(); ++i) {
    watches_[i].owner = this;
    if (children_[i]->done())
      child_done(*children_[i]);
    else
      children_[i]->add_observer(watches_[i]);
  }
}

bool JoinAll::await_suspend(std::coroutine_handle<> h) {
  if (!park(h)) return false;  // a pending cancellation, and no child left to wait for
  if (deadline_ && !stopping_) {
    Loop& loop = Loop::current("wait_for");
    loop.add_timer(*this, *deadline_);
  }
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
    if (scheduled()) Loop::current_or_null()->remove_timer(*this);
    if (parked()) wake();
  }
}

void JoinAll::stop_children() noexcept {
  stopping_ = true;
  if (scheduled()) Loop::current_or_null()->remove_timer(*this);
  for (TaskBase* c : children_)
    if (!c->done()) c->cancel();
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
  if (kind() == WaitKind::wait_for && children_.size() == 1)
    return fmt::format("wait_for task '{}'{}", children_[0]->name(), stopping_ ? " (cancelling it)" : "");
  std::string names;
  for (TaskBase* c : children_)
    if (!c->done()) names += fmt::format("{}'{}'", names.empty() ? "" : ", ", c->name());
  return fmt::format("gather of {} tasks, {} still running ({}){}", children_.size(), remaining_, names,
                     stopping_ ? ", being cancelled" : "");
}

}  // namespace coop::detail
