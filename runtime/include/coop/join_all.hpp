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

#include "coop/lowlevel.hpp"

namespace coop::detail {

class JoinAll final : public Wait, private Timer {
 public:
  // A group of up to `capacity` children; with a deadline, the group gives up on them when
  // it passes (timed_out()).
  JoinAll(WaitKind kind, std::size_t capacity, std::optional<Clock::time_point> deadline = {});

  // Watch one more child (at most `capacity` of them).
  void add(TaskBase& child);

  bool await_ready() const noexcept { return remaining_ == 0; }
  bool await_suspend(std::coroutine_handle<> h);
  // Throws CancelledError if the awaiting task was cancelled (after its children finished).
  void await_resume() const { throw_if_interrupted(); }

  // Rethrows the exception of the child whose failure (an exception, or a cancellation)
  // ended the group early, if one did.
  void rethrow_first_failure() const {
    if (first_failure_ != nullptr) std::rethrow_exception(first_failure_->exception());
  }
  bool timed_out() const noexcept { return timed_out_; }

  std::string describe() const override;

 private:
  struct Watch final : DoneObserver {
    JoinAll* owner = nullptr;
    TaskBase* child = nullptr;
    void on_done(TaskBase& done) noexcept override { owner->child_done(done); }
  };

  void child_done(TaskBase& child) noexcept;
  void stop_children() noexcept;  // cancel every child still running; wait on for them
  void on_timer() noexcept override;
  bool on_cancel() noexcept override;
  // Woken because every child finished, then cancelled before resuming: the children's
  // results stand (they cannot be un-computed; dropping them could lose a queue item that
  // wait_for(q.get(), d) took), so the cancel lands at the awaiting task's next co_await.
  // If the group was ending early anyway (a failure, the timeout, a cancel), it is thrown
  // here.
  bool give_back() noexcept override { return stopping_; }

  std::unique_ptr<Watch[]> watches_;  // one per child: told when it finishes
  std::size_t capacity_;
  std::size_t size_ = 0;              // children added
  std::optional<Clock::time_point> deadline_;
  std::size_t remaining_ = 0;         // children not finished yet
  TaskBase* first_failure_ = nullptr;
  bool stopping_ = false;             // the group ended early; children are being cancelled
  bool timed_out_ = false;
};

}  // namespace coop::detail
