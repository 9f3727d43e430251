// queue.hpp — Queue<T>: hand items from producers to consumers (asyncio.Queue).
//
// get() takes the oldest item, parking while the queue is empty; put() adds one, parking
// while a bounded queue is full. That parking is backpressure: a producer faster than its
// consumers is slowed to their pace, and memory stays bounded by maxsize.
//
// Hand-offs, and what a cancel does to them. Room or an item that appears goes to a parked
// task at once, so a woken task never finds it taken by another that ran first: a put()
// with a parked getter hands the item straight to it, and a get() from a full queue lets
// the first parked putter's item in (the putter is "admitted"). A task cancelled after such
// a wake, before it resumed, gets CancelledError at that co_await and gives back what the
// wake handed it (Wait::give_back), so nothing is lost or duplicated:
//   * a getter's item goes to the next getter (one handed an item after it, else a parked
//     one), or back to the FRONT of the queue (it was the oldest): order kept;
//   * an admitted putter's item is taken out of the queue again: the put never happened,
//     and the room goes to the next parked putter.
// Three corners cannot be undone, and there the wake stands and the cancel lands at the
// task's next co_await instead: the admitted item was already taken by a getter; the queue
// filled up again before a cancelled getter's item could go back (it would exceed
// maxsize); or a getter that came later took a newer item meanwhile (the old one, given
// back, could reach that getter after the newer one: each getter sees a producer's items
// in the order they were put, as in asyncio). So `wait_for(q.get(), d)` never loses an
// item, whenever the deadline falls.

#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>

#include "coop/lowlevel.hpp"

namespace coop {

template <class T>
class Queue {
 public:
  // 0 = unbounded. asyncio also takes any maxsize <= 0 for "unbounded"; here the type is
  // unsigned, so Queue<int> q(-1) would silently become a queue of 2^64 - 1 slots. No queue
  // can hold more than PTRDIFF_MAX items, so a larger maxsize is a negative number that was
  // converted: it is rejected, and the error says to write 0 for "unbounded".
  explicit Queue(std::size_t maxsize = 0) : maxsize_(checked_maxsize(maxsize)) {}
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;
  ~Queue() {  // tasks still waiting are woken with a UsageError (see Wait::orphan)
    getters_.orphan_all();
    putters_.orphan_all();
    handed_.orphan_all();  // woken already: they throw
    admitted_.orphan_all();
  }

  std::size_t size() const noexcept { return items_.size(); }
  bool empty() const noexcept { return items_.empty(); }
  bool full() const noexcept { return maxsize_ != 0 && items_.size() >= maxsize_; }
  std::size_t maxsize() const noexcept { return maxsize_; }

 private:
  class Getter final : public Wait {
   public:
    explicit Getter(Queue& q) noexcept : Wait(WaitKind::queue_get), queue_(q) {}
    bool await_ready() {
      queue_.affinity_.check_loop("Queue::get()");
      if (queue_.items_.empty()) return false;
      item_.emplace(queue_.pop_front());
      // Taken past the items handed to getters that have not resumed: theirs are older, and
      // one given back now would reach a getter after a newer one (see give_back).
      queue_.handed_.for_each([](Getter& g) { g.overtaken_ = true; });
      queue_.admit_putters();
      return true;
    }
    bool await_suspend(std::coroutine_handle<> h) {
      if (!park(h)) return false;
      queue_.getters_.push_back(*this);
      return true;
    }
    T await_resume() {
      throw_if_interrupted();
      leave_list();  // off queue_.handed_, if an item was handed to us
      return std::move(*item_);
    }
    std::string describe() const override {
      return orphaned() ? "a Queue destroyed while this task waited on it" : "Queue.get() on an empty queue";
    }
    void hand(T&& item) {  // a putter gives us its item directly (already unlinked)
      item_.emplace(std::move(item));
      queue_.handed_.push_back(*this);
      wake();
    }

   private:
    // Cancelled after an item was handed to us: it goes back, unless the queue is full
    // again (then we keep it: see the top). The getters handed items after ours have not
    // resumed either (they were woken after us, so they run after us): ours, the oldest,
    // goes to the first of them, theirs to the next, and the newest of those items goes to
    // the next parked getter or to the front of the queue. So every getter still sees each
    // producer's items in the order they were put, as in asyncio, where items wait in the
    // queue until a getter runs.
    // Nor when a getter that came later took a newer item meanwhile (overtaken_): ours,
    // given back, could reach that getter after its newer one; the hand-over stands.
    bool give_back() noexcept override {
      if (overtaken_ || (queue_.getters_.empty() && queue_.full())) return false;
      bool after_us = false;
      queue_.handed_.for_each([&](Getter& later) {
        if (after_us) std::swap(*item_, *later.item_);  // pass the older item down the line
        after_us = after_us || &later == this;
      });
      leave_list();  // off queue_.handed_
      queue_.put_back(std::move(*item_));
      item_.reset();
      return true;
    }
    Queue& queue_;
    std::optional<T> item_;   // the item, once taken or handed over
    bool overtaken_ = false;  // handed an item, and a later getter took a newer one since
  };

  class Putter final : public Wait {
   public:
    Putter(Queue& q, T item) : Wait(WaitKind::queue_put), queue_(q), item_(std::move(item)) {}
    bool await_ready() {
      queue_.affinity_.check_loop("Queue::put()");
      if (!queue_.getters_.empty()) {
        queue_.getters_.pop_front().hand(std::move(item_));
        return true;
      }
      if (queue_.full()) return false;
      queue_.items_.push_back(std::move(item_));
      return true;
    }
    bool await_suspend(std::coroutine_handle<> h) {
      if (!park(h)) return false;
      queue_.putters_.push_back(*this);
      return true;
    }
    void await_resume() {
      throw_if_interrupted();
      leave_list();  // off queue_.admitted_, if we were admitted
    }
    std::string describe() const override {
      if (orphaned()) return "a Queue destroyed while this task waited on it";
      return "Queue.put() on a full queue (maxsize " + std::to_string(queue_.maxsize_) + ")";
    }
    void admit() {  // there is room now: our item goes in (already unlinked)
      index_ = queue_.items_.size();
      queue_.items_.push_back(std::move(item_));
      queue_.admitted_.push_back(*this);
      wake();
    }

   private:
    friend class Queue;
    // (Cancelled while parked: the loop takes us out of putters_, and the item is never
    // added. The default on_cancel does the rest.)
    // Cancelled after being admitted: take our item out again, and pass the room on. If a
    // getter took it already (we are off queue_.admitted_), the put stands.
    bool give_back() noexcept override {
      if (!in_list()) return false;
      leave_list();
      queue_.erase_at(index_);
      queue_.admit_putters();
      return true;
    }
    Queue& queue_;
    T item_;
    std::size_t index_ = 0;  // admitted: where our item is in items_, kept up to date by Queue
  };

  // Every change at the front of items_ goes through these two, which keep the admitted
  // putters' indexes right (there are rarely more than one or two of them).
  T pop_front() {
    T item = std::move(items_.front());
    items_.pop_front();
    admitted_.for_each([](Putter& p) {
      if (p.index_ == 0)
        p.leave_list();  // its item was just taken: that put can no longer be undone
      else
        --p.index_;
    });
    return item;
  }
  // A cancelled getter's item comes back: it was the oldest, so it goes first.
  void put_back(T&& item) noexcept {
    if (!getters_.empty()) {  // getters park only on an empty queue: the item is theirs
      getters_.pop_front().hand(std::move(item));
      return;
    }
    items_.push_front(std::move(item));
    admitted_.for_each([](Putter& p) { ++p.index_; });
  }
  void erase_at(std::size_t index) noexcept {
    items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(index));
    admitted_.for_each([&](Putter& p) {
      if (p.index_ > index) --p.index_;
    });
  }
  // Room appeared: admit parked putters while it lasts, oldest first.
  void admit_putters() {
    while (!putters_.empty() && !full()) putters_.pop_front().admit();
  }
  static std::size_t checked_maxsize(std::size_t maxsize) {
    if (maxsize > static_cast<std::size_t>(PTRDIFF_MAX))
      throw UsageError("Queue(maxsize): maxsize " + std::to_string(maxsize) +
                       " is a negative number converted to std::size_t; use 0 for an unbounded queue");
    return maxsize;
  }

 public:
  // Suspend until there is room, then add `item`.
  [[nodiscard]] Putter put(T item) { return Putter(*this, std::move(item)); }
  // Suspend until there is an item, then take the oldest.
  [[nodiscard]] Getter get() noexcept { return Getter(*this); }

 private:
  // Invariants: getters_ is empty unless items_ is; putters_ is empty unless full().
  std::deque<T> items_;
  WaitList<Getter> getters_;  // parked on an empty queue, oldest first
  WaitList<Putter> putters_;  // parked on a full queue, oldest first
  WaitList<Getter> handed_;   // woken with an item, not resumed yet
  WaitList<Putter> admitted_; // woken with their item in items_, not resumed yet
                                           // and the item not taken yet
  std::size_t maxsize_;                    // 0 = unbounded
  detail::LoopAffinity affinity_;          // the loop it belongs to
};

}  // namespace coop
