// join_all.hpp — waiting for a group of child tasks, and cancelling them together.
//
// gather and wait_for both own child tasks, and both must obey one rule that C++ lifetimes
// impose: a child must never outlive the coroutine that started it, because it may hold
// references into that coroutine's frame. So when the group ends early — a child fails,
// the timeout passes, or the awaiting task is itself cancelled — JoinAll cancels the
// children that are still running and keeps waiting until every one of them has finished.
// Only then does the awaiting coroutine continue (and unwind its frame).
//
// asyncio's gather lets the other children run on after the first exception; lesson 03
// shows why coop does not.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "coop/loop.hpp"

namespace coop::detail {

class JoinAll final : public Wait, private TimerNode {
 public:
  // Watches `children`; with a deadline, gives up on them when it passes (timed_out()).
  JoinAll(WaitKind kind, std::vector<TaskBase*> children, std::optional<Clock::time_point> deadline = {});

  bool await_ready() const noexcept { return remaining_ == 0; }
  bool await_suspend(std::coroutine_handle<> h);
  // Throws CancelledError if the awaiting task was cancelled (after its children finished).
  void await_resume() const { check_cancelled(); }

  // The child whose failure (exception or cancellation) ended the group early, if any.
  TaskBase* first_failure() const noexcept { return first_failure_; }
  bool timed_out() const noexcept { return timed_out_; }

  std::string describe() const override;

 private:
  struct Watch final : DoneObserver {
    JoinAll* owner = nullptr;
    void on_done(TaskBase& child) noexcept override { owner->child_done(child); }
  };

  void child_done(TaskBase& child) noexcept;
  void stop_children() noexcept;  // cancel every child still running; wait on for them
  void on_timer() noexcept override;
  bool on_cancel() noexcept override;

  std::vector<TaskBase*> children_;
  std::unique_ptr<Watch[]> watches_;  // one per child: told when it finishes
  std::optional<Clock::time_point> deadline_;
  std::size_t remaining_ = 0;         // children not finished yet
  TaskBase* first_failure_ = nullptr;
  bool stopping_ = false;             // the group ended early; children are being cancelled
  bool timed_out_ = false;
};

}  // namespace coop::detail
