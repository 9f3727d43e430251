// queue.hpp — Queue<T>: hand items from producers to consumers (asyncio.Queue).
//
// get() takes the oldest item, parking while the queue is empty; put() adds one, parking
// while a bounded queue is full. That parking is backpressure: a producer faster than its
// consumers is slowed to their pace, and memory stays bounded by maxsize.
//
// Items are handed over directly when someone is already waiting: a put() with a parked
// getter gives the item straight to it, and a get() from a full queue lets the first
// parked putter's item in. So a woken task never finds its item taken by another that ran
// first, and a cancelled putter's item is simply never added.
#pragma once

#include <cstddef>
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
  explicit Queue(std::size_t maxsize = 0) : maxsize_(maxsize) {}  // 0 = unbounded
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;
  ~Queue() {  // tasks still waiting are woken with a UsageError (see Wait::orphan)
    while (!getters_.empty()) getters_.pop_front().orphan();
    while (!putters_.empty()) putters_.pop_front().orphan();
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
      if (queue_.items_.empty()) return false;
      item_.emplace(std::move(queue_.items_.front()));
      queue_.items_.pop_front();
      queue_.admit_putter();
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
    Queue& queue_;
    std::optional<T> item_;
  };

  class Putter final : public detail::Wait, public detail::ListNode {
   public:
    Putter(Queue& q, T item) : Wait(WaitKind::queue_put), queue_(q), item_(std::move(item)) {}
    bool await_ready() {
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
    void await_resume() const { throw_if_interrupted(); }
    std::string describe() const override {
      if (orphaned()) return "a Queue destroyed while this task waited on it";
      return "Queue.put() on a full queue (maxsize " + std::to_string(queue_.maxsize_) + ")";
    }
    void admit() {  // there is room now: our item goes in (already unlinked)
      queue_.items_.push_back(std::move(item_));
      wake();
    }

   private:
    bool on_cancel() noexcept override {
      ListNode::unlink();  // the item is never added
      return true;
    }
    Queue& queue_;
    T item_;
  };

  void admit_putter() {
    if (!putters_.empty()) putters_.pop_front().admit();
  }

 public:
  // Suspend until there is room, then add `item`.
  [[nodiscard]] Putter put(T item) { return Putter(*this, std::move(item)); }
  // Suspend until there is an item, then take the oldest.
  [[nodiscard]] Getter get() noexcept { return Getter(*this); }

 private:
  std::deque<T> items_;
  detail::IntrusiveList<Getter> getters_;  // parked on an empty queue, oldest first
  detail::IntrusiveList<Putter> putters_;  // parked on a full queue, oldest first
  std::size_t maxsize_;
};

}  // namespace coop
