// intrusive_list.hpp — a doubly linked list whose links live inside the elements.
//
// Why not std::list? The runtime parks a task by linking an object that already exists
// (an awaiter inside the suspended coroutine's frame) into a waiting list, and it must be
// able to unlink that object in O(1) when the task is cancelled, without knowing which list
// it is on. Intrusive links give both, and parking allocates nothing.
#pragma once

#include <cstddef>

namespace coop::detail {

// A link. An element derives from ListNode and can be on one list at a time.
class ListNode {
 public:
  ListNode() = default;
  ListNode(const ListNode&) = delete;             // a linked node's address is in its
  ListNode& operator=(const ListNode&) = delete;  // neighbours: it must not move
  ~ListNode() { unlink(); }

  bool linked() const noexcept { return next_ != nullptr; }

  // Removes the node from whatever list holds it; harmless when it is on none.
  void unlink() noexcept {
    if (next_ == nullptr) return;
    prev_->next_ = next_;
    next_->prev_ = prev_;
    prev_ = next_ = nullptr;
  }

 private:
  template <class T>
  friend class IntrusiveList;
  ListNode* prev_ = nullptr;
  ListNode* next_ = nullptr;
};

// A circular list with a sentinel head; T must derive from ListNode.
template <class T>
class IntrusiveList {
 public:
  IntrusiveList() noexcept { head_.prev_ = head_.next_ = &head_; }
  IntrusiveList(const IntrusiveList&) = delete;
  IntrusiveList& operator=(const IntrusiveList&) = delete;
  ~IntrusiveList() {
    while (!empty()) pop_front();
    head_.prev_ = head_.next_ = nullptr;  // so ~ListNode of the sentinel does nothing
  }

  bool empty() const noexcept { return head_.next_ == &head_; }

  void push_back(T& item) noexcept {
    ListNode& n = item;
    n.unlink();
    n.prev_ = head_.prev_;
    n.next_ = &head_;
    head_.prev_->next_ = &n;
    head_.prev_ = &n;
  }

  T& front() noexcept { return static_cast<T&>(*head_.next_); }

  T& pop_front() noexcept {
    T& item = front();
    static_cast<ListNode&>(item).unlink();
    return item;
  }

  // Calls fn(T&) for each element, front to back. fn may unlink the element it is given
  // (the next one is looked up first), but no other.
  template <class Fn>
  void for_each(Fn fn) {
    for (ListNode* n = head_.next_; n != &head_;) {
      ListNode* next = n->next_;
      fn(static_cast<T&>(*n));
      n = next;
    }
  }

  std::size_t size() const noexcept {
    std::size_t count = 0;
    for (const ListNode* n = head_.next_; n != &head_; n = n->next_) ++count;
    return count;
  }

 private:
  ListNode head_;
};

}  // namespace coop::detail
