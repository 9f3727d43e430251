// event.hpp — Event: one task says "now", any number of waiting tasks go (asyncio.Event).
//
// An Event is a flag. wait() returns at once while it is set, and otherwise parks the task
// until set() is called; set() wakes every waiter, in the order they started waiting.
// clear() lowers the flag again. Nothing here is thread-safe, and nothing needs to be:
// everything runs on the loop's one thread, between awaits. Setting it from another thread
// is a UsageError (see LoopAffinity in loop.hpp): the wake-up would be lost. A thread hands
// its result back through to_thread instead.
#pragma once

#include <string>

#include "coop/lowlevel.hpp"

namespace coop {

class Event {
 public:
  // The name shows in deadlock reports and traces ("Event 'ready'").
  explicit Event(std::string name = {}) : name_(std::move(name)) {}
  Event(const Event&) = delete;  // parked tasks point at it
  Event& operator=(const Event&) = delete;
  ~Event() { waiters_.orphan_all(); }  // see Wait::orphan

  void set() {
    affinity_.check_loop("Event::set()");
    set_ = true;
    waiters_.wake_all();
  }
  void clear() {
    affinity_.check_loop("Event::clear()");
    set_ = false;
  }
  bool is_set() const noexcept { return set_; }

 private:
  class Waiter final : public Wait {
   public:
    explicit Waiter(Event& e) noexcept : Wait(WaitKind::event), event_(e) {}
    bool await_ready() const noexcept { return event_.set_; }
    bool await_suspend(std::coroutine_handle<> h) {
      // Checked when parking only: a set Event read from another thread changes nothing.
      event_.affinity_.check_loop("Event::wait()");
      if (!park(h)) return false;
      event_.waiters_.push_back(*this);
      return true;
    }
    void await_resume() const { throw_if_interrupted(); }
    std::string describe() const override {
      if (orphaned()) return "an Event destroyed while this task waited on it";
      return event_.name_.empty() ? std::string("Event.wait()") : "Event '" + event_.name_ + "'";
    }

   private:
    Event& event_;
  };

 public:
  // Suspend until the event is set (returns at once if it is).
  [[nodiscard]] Waiter wait() noexcept { return Waiter(*this); }

 private:
  WaitList<Waiter> waiters_;               // parked tasks, in the order they arrived
  std::string name_;                       // for reports ("Event 'ready'")
  detail::LoopAffinity affinity_;          // the loop it belongs to
  bool set_ = false;                       // the flag
};

}  // namespace coop
