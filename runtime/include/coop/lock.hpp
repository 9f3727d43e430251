// lock.hpp — Lock: mutual exclusion *across* awaits (asyncio.Lock).
//
// Between two awaits a task runs alone, so a read-modify-write with no co_await inside
// needs no lock at all. A lock is for the other case: an update that awaits in the middle
// (read, await something, write back), where another task could run in the gap and its
// update would be lost. Lesson 08 shows exactly that.
//
//     auto guard = co_await lock.lock();   // async with lock:
//     ...                                  //     ...
//                                          // (released when `guard` goes out of scope)
//
// Fair: waiters get the lock in the order they asked, handed over directly on release, so
// a task that releases and immediately asks again goes to the back of the line. A waiter
// cancelled after the lock was handed to it, before it resumed, passes it straight on
// (give_back): it never runs its critical section, and the next in line is not held up.
#pragma once

#include <string>
#include <utility>

#include "coop/lowlevel.hpp"

namespace coop {

class Lock {
 public:
  // The name shows in deadlock reports and traces ("Lock 'accounts'").
  explicit Lock(std::string name = {}) : name_(std::move(name)) {}
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;
  // A Lock should outlive its users. If it does not, tasks still waiting are woken with a
  // UsageError (see Wait::orphan), and the Guard holding it becomes empty instead of
  // unlocking freed memory later.
  ~Lock() {
    waiters_.orphan_all();
    if (handed_to_ != nullptr) handed_to_->orphan();  // woken already: its co_await throws
    if (guard_ != nullptr) guard_->lock_ = nullptr;
    set_owner(nullptr);
  }

  // Holds the lock; releases it on destruction or unlock(). Move-only.
  class [[nodiscard]] Guard {
   public:
    Guard() noexcept = default;
    Guard(Guard&& other) noexcept : lock_(std::exchange(other.lock_, nullptr)) {
      if (lock_ != nullptr) lock_->guard_ = this;
    }
    Guard& operator=(Guard&& other) noexcept {
      if (this != &other) {
        unlock();
        lock_ = std::exchange(other.lock_, nullptr);
        if (lock_ != nullptr) lock_->guard_ = this;
      }
      return *this;
    }
    ~Guard() { unlock(); }
    void unlock() noexcept {
      if (lock_ != nullptr) std::exchange(lock_, nullptr)->release();
    }
    bool owns_lock() const noexcept { return lock_ != nullptr; }

   private:
    friend class Lock;
    explicit Guard(Lock& lock) noexcept : lock_(&lock) { lock.guard_ = this; }
    Lock* lock_ = nullptr;
  };

  bool locked() const noexcept { return locked_; }

 private:
  class Waiter final : public Wait {
   public:
    explicit Waiter(Lock& l) noexcept : Wait(WaitKind::lock), lock_(l) {}
    bool await_ready() {
      lock_.affinity_.check_loop("Lock::lock()");
      if (lock_.locked_) return false;
      lock_.locked_ = true;  // free: take it without suspending
      lock_.set_owner(detail::Loop::current_or_null() ? detail::Loop::current_or_null()->running() : nullptr);
      return true;
    }
    bool await_suspend(std::coroutine_handle<> h) {
      if (!park(h)) return false;
      lock_.waiters_.push_back(*this);
      return true;
    }
    Guard await_resume() {
      throw_if_interrupted();
      lock_.handed_to_ = nullptr;
      return Guard(lock_);
    }
    std::string describe() const override {
      if (orphaned()) return "a Lock destroyed while this task waited on it";
      std::string s = lock_.name_.empty() ? std::string("Lock.lock()") : "Lock '" + lock_.name_ + "'";
      if (lock_.owner_ != nullptr) s += ", held by task '" + lock_.owner_->name() + "'";
      return s;
    }
    // The lock is handed to this waiter (already unlinked).
    void grant() noexcept {
      lock_.handed_to_ = this;
      lock_.set_owner(task());
      wake();
    }
    // Handed the lock but destroyed before it resumed (run() abandoning its task): the
    // lock is passed on, not left held by nobody.
    ~Waiter() {
      if (!orphaned() && lock_.handed_to_ == this) {
        lock_.handed_to_ = nullptr;
        lock_.release();
      }
    }

   private:
    // Cancelled after the lock was handed over, before resuming: pass it on.
    bool give_back() noexcept override {
      lock_.handed_to_ = nullptr;
      lock_.release();
      return true;
    }
    Lock& lock_;
  };

 public:
  // Suspend until the lock is ours; yields the Guard that will release it.
  [[nodiscard]] Waiter lock() noexcept { return Waiter(*this); }

 private:
  void release() noexcept {
    guard_ = nullptr;
    if (waiters_.empty()) {
      locked_ = false;
      set_owner(nullptr);
    } else {
      waiters_.pop_front().grant();  // straight to the next in line: it stays locked
    }
  }
  // The owner is kept (counted) only to name it in deadlock reports.
  void set_owner(detail::TaskBase* t) noexcept {
    if (t != nullptr) t->add_ref();
    if (owner_ != nullptr) owner_->drop_ref();
    owner_ = t;
  }

  WaitList<Waiter> waiters_;               // in the order they asked
  detail::TaskBase* owner_ = nullptr;      // the task holding it, for reports
  Guard* guard_ = nullptr;                 // the Guard holding it (there is at most one)
  Waiter* handed_to_ = nullptr;            // the waiter it was handed to, until that one
                                           // resumes (then guard_ holds it) or gives it back
  std::string name_;                       // for reports ("Lock 'accounts'")
  detail::LoopAffinity affinity_;          // the loop it belongs to
  bool locked_ = false;                    // held, or handed to a waiter that has not resumed
};

}  // namespace coop
