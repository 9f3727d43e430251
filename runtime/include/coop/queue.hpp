// queue.hpp — Queue<T>: hand items from producers to consumers (asyncio.Queue).
//
// get() takes the oldest item, parking while the queue is empty; put() adds one, parking
// while a bounded queue is full. That parking is backpressure: a producer faster than its
// consumers is slowed to their pace, and memory stays bounded by maxsize.
//
// Hand-offs, and what a cancel does to them. A put() with a parked getter gives the item
// straight to it, so a woken getter never finds its item taken by a task that ran first.
// A get() from a full queue wakes the first parked putter with a slot *reserved* for it;
// the putter adds its item when it resumes (as asyncio's does), so others cannot take the
// room meanwhile. A task cancelled after such a wake but before it resumed gets
// CancelledError at that co_await, and gives back what the wake handed it (Wait::give_back):
//   * a getter's item goes to the next parked getter, or back to the FRONT of the queue,
//     so order is kept and nothing is lost (the queue may then briefly hold maxsize + 1);
//   * a putter's reserved slot goes to the next parked putter: its own item is never added.
// So `wait_for(q.get(), d)` never loses an item, whenever the deadline falls.

#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>

#include "coop/detail/intrusive_list.hpp"
#include "coop/loop.hpp"

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
    while (!getters_.empty()) getters_.pop_front().orphan();
    while (!putters_.empty()) putters_.pop_front().orphan();
    while (!admitted_.empty()) admitted_.pop_front().orphan();  // woken already: they throw
  }

  std::size_t size() const noexcept { return items_.size(); }
  bool empty() const noexcept { return items_.empty(); }
  bool full() const noexcept { return maxsize_ != 0 && items_.size() >= maxsize_; }
  std::size_t maxsize() const noexcept { return maxsize_; }

 private:
  class Getter final : public detail::Wait, public detail::ListNode {
   public:
    explicit Getter(Queue& q) noexcept : Wait(WaitKind::queue_get), queue_(q) {}
    bool await_ready() {
      queue_.affinity_.check_loop("Queue::get()");
      if (queue_.items_.empty()) return false;
      item_.emplace(std::move(queue_.items_.front()));
      queue_.items_.pop_front();
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
      return std::move(*item_);
    }
    std::string describe() const override {
      return orphaned() ? "a Queue destroyed while this task waited on it" : "Queue.get() on an empty queue";
    }
    void hand(T&& item) {  // a putter gives us its item directly (already unlinked)
      item_.emplace(std::move(item));
      wake();
    }

   private:
    bool on_cancel() noexcept override {
      ListNode::unlink();
      return true;
    }
    // Cancelled after an item was handed to us: it goes back, to the next getter or to
    // the front of the queue (where it was the oldest).
    bool give_back() noexcept override {
      queue_.put_back(std::move(*item_));
      item_.reset();
      return true;
    }
    Queue& queue_;
    std::optional<T> item_;  // the item, once taken or handed over
  };

  class Putter final : public detail::Wait, public detail::ListNode {
   public:
    Putter(Queue& q, T item) : Wait(WaitKind::queue_put), queue_(q), item_(std::move(item)) {}
    Putter(Putter&&) = delete;
    // Woken with a slot reserved, and destroyed without resuming (run() abandoning its
    // task): the slot goes to the next putter.
    ~Putter() {
      if (linked() && !orphaned()) give_back();
    }
    bool await_ready() {
      queue_.affinity_.check_loop("Queue::put()");
      if (!queue_.getters_.empty()) {
        queue_.getters_.pop_front().hand(std::move(item_));
        return true;
      }
      if (!queue_.has_room()) return false;
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
      if (!linked()) return;  // added at once, in await_ready
      // Admitted: our slot was reserved. Fill it, or hand the item to a getter that parked
      // meanwhile (the queue is empty then).
      ListNode::unlink();  // off queue_.admitted_
      --queue_.reserved_;
      if (!queue_.getters_.empty())
        queue_.getters_.pop_front().hand(std::move(item_));
      else
        queue_.items_.push_back(std::move(item_));
    }
    std::string describe() const override {
      if (orphaned()) return "a Queue destroyed while this task waited on it";
      return "Queue.put() on a full queue (maxsize " + std::to_string(queue_.maxsize_) + ")";
    }
    void admit() noexcept {  // there is room now: a slot is reserved for us (already unlinked)
      queue_.admitted_.push_back(*this);
      ++queue_.reserved_;
      wake();
    }

   private:
    bool on_cancel() noexcept override {
      ListNode::unlink();  // the item is never added
      return true;
    }
    // Cancelled after being admitted: the item is never added; the slot goes on.
    bool give_back() noexcept override {
      ListNode::unlink();  // off queue_.admitted_
      --queue_.reserved_;
      queue_.admit_putters();
      return true;
    }
    Queue& queue_;
    T item_;
  };

  // Room for one more item, counting the slots reserved for admitted putters.
  bool has_room() const noexcept { return maxsize_ == 0 || items_.size() + reserved_ < maxsize_; }
  // Wake parked putters while there is room, oldest first.
  void admit_putters() noexcept {
    while (!putters_.empty() && has_room()) putters_.pop_front().admit();
  }
  // A cancelled getter's item comes back: it was the oldest, so it goes first.
  void put_back(T&& item) noexcept {
    if (!getters_.empty())  // getters park only on an empty queue: the item is theirs
      getters_.pop_front().hand(std::move(item));
    else
      items_.push_front(std::move(item));
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
  // Invariants: getters_ is empty unless items_ is; putters_ is empty unless there is no
  // room (items_.size() + reserved_ >= maxsize_).
  std::deque<T> items_;
  detail::IntrusiveList<Getter> getters_;  // parked on an empty queue, oldest first
  detail::IntrusiveList<Putter> putters_;  // parked on a full queue, oldest first
  detail::IntrusiveList<Putter> admitted_; // woken with a slot reserved, not resumed yet
  std::size_t reserved_ = 0;               // how many of them there are
  std::size_t maxsize_;                    // 0 = unbounded
  detail::LoopAffinity affinity_;          // the loop it belongs to
};

}  // namespace coop
