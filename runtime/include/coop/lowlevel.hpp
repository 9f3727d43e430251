// lowlevel.hpp — the kernel: what every awaitable in coop is built on, and what you build
// your own on (after trio.lowlevel).
//
//   Wait                  the one door to suspension: park(), wake(), and what a cancel does
//   WaitList<W>           tasks waiting in line (trio's ParkingLot): FIFO, wake one, wake all,
//                         or take one out to hand it something; a cancelled wait leaves it
//   Timer                 a deadline on the loop's clock (asyncio's call_at / call_later)
//   now(), elapsed()      the loop's time, and the time since run() began (loop_running():
//                         whether there is one)
//   ThreadsafeCallback    the one way another thread reaches the loop (asyncio's
//                         call_soon_threadsafe), counted as outside work while in flight
//
// Event, Lock and Queue are written with these and nothing else; so are sleep, to_thread and
// the sockets. `co_await handle` parks on the task's own WaitList of joiners, which the loop
// wakes when the task finishes; gather (join_all.hpp) is one Wait, and each of its child
// tasks tells it when it finishes through the loop's done callbacks (DoneObserver in
// loop.hpp: asyncio's add_done_callback, which its gather uses too), since one parked task
// waits on many children there. Read sleep.hpp for the smallest Wait and event.hpp for
// the smallest WaitList (both come later in the reading order: this file is the interface
// they are written against). The loop that drives them is in loop.hpp (this file
// includes it at the end: the classes here are the interface, loop.hpp the machine).
//
// Everything here runs on the loop's thread, except ThreadsafeCallback::call_soon_threadsafe.
#pragma once

#include <coroutine>
#include <cstddef>
#include <string>

#include "coop/clock.hpp"
#include "coop/detail/intrusive_list.hpp"
#include "coop/errors.hpp"
#include "coop/trace.hpp"

namespace coop {

namespace detail {
class Loop;
class TaskBase;
}  // namespace detail

// The running loop's clock: virtual under RunOptions::virtual_time, else Clock::now().
// Throws UsageError when no loop runs on this thread.
Clock::time_point now();
// How long the running loop has been running: now() minus the moment run() began. Under
// virtual time it is exact ("the gather took 300 ms", never 300.4).
Clock::duration elapsed();
// Whether a loop runs on this thread (now() and elapsed() would not throw).
bool loop_running() noexcept;

// The base of every awaitable that can make a task wait: the one door to suspension.
// Because every wait passes through park() and wake(), the loop always knows who waits for
// what: cancellation can abandon any wait, deadlock detection can name every blocked task,
// and tracing sees every suspension. There is no other way to suspend.
//
// Protocol for a subclass (sleep.hpp is the smallest one):
//   await_suspend(h):  if (!park(h)) return false;   // a pending cancel is delivered here
//                      ...register (join a WaitList, call_later a Timer)...; return true;
//                      What can fail goes before park() (sleep sets its timer first:
//                      on_cancel removes it if park refuses); if something must come
//                      after and throws: unpark(), then let it propagate.
//   when it happens:   ...unregister...; wake();
//   on_cancel():       unregister (a WaitList is left for you); return true, or false to
//                      wake() later yourself (gather, waiting for its cancelled children)
//   give_back():       woken (the operation completed) but cancelled before it resumed:
//                      return what the wake handed over (the lock, the item) and return
//                      true; CancelledError is then thrown at this co_await. Return false
//                      when it cannot be undone (a child's result): the result stands and
//                      the cancel lands at the next co_await.
//   await_resume():    throw_if_interrupted(); then produce the result
//   destructor:        a frame can be destroyed while parked (run() abandons a task at
//                      shutdown): a WaitList and a Timer let go by themselves; anything
//                      else you registered with, you must undo.
// The object a wait is registered with (an Event, a Lock) orphans its waiters if it is
// destroyed while they wait (WaitList::orphan_all), so they fail clearly instead of hanging.
//
// A Wait is on at most one WaitList at a time; its link is inside it, so parking allocates
// nothing. Waits are not copied or moved: the loop and the lists point at them.
class Wait : private detail::ListNode {
 public:
  explicit Wait(WaitKind kind) noexcept : kind_(kind) {}
  Wait(const Wait&) = delete;
  Wait& operator=(const Wait&) = delete;

  WaitKind kind() const noexcept { return kind_; }
  // A short description for deadlock reports and traces ("Event 'ready'").
  virtual std::string describe() const;

  // What this wait is registered with is being destroyed while a task waits on it: wake the
  // task; its co_await throws UsageError. Call it after unregistering.
  void orphan() noexcept {
    orphaned_ = true;
    wake();
  }

 protected:
  ~Wait() = default;

  // The task parked here is being cancelled: abandon the operation (the loop has already
  // taken the wait off its WaitList). Return true to have the task woken now (await_resume
  // throws CancelledError), or false if the wait will wake it later itself.
  virtual bool on_cancel() noexcept { return true; }

  // The task was woken from this wait, and is cancelled before it resumed (asyncio throws
  // the CancelledError into the await it resumes from; so do we). Give back what the wake
  // handed over, so that nothing is lost or duplicated. Return true to have CancelledError
  // thrown at this co_await; false if the hand-over cannot be undone: the co_await then
  // completes normally and the cancel waits for the next one. The default hands over
  // nothing that could be lost.
  virtual bool give_back() noexcept { return true; }

  // Parks the running task on this wait, to be resumed at `h`. Returns false, and does not
  // park, when a cancellation is pending: it is delivered at this co_await instead.
  bool park(std::coroutine_handle<> h);
  // await_suspend parked, then could not register after all (it is about to throw): undo
  // the park, so that the task is running again and the exception reaches its co_await.
  // Without it the loop would take the task for parked on a Wait that is about to be
  // destroyed. Do what can fail before park() where you can (sleep sets its timer first);
  // this is for what must come after (to_thread hands its job to the pool only once parked,
  // and the pool may have begun closing since it checked).
  void unpark() noexcept;
  // Makes the parked task ready to run. Call it once, after unregistering.
  void wake() noexcept;
  // Whether a task is parked here now.
  bool parked() const noexcept;
  // In await_resume: throws CancelledError if the wait was cancelled, UsageError if it was
  // orphaned; otherwise the wait completed and the result can be produced.
  void throw_if_interrupted() const;
  bool orphaned() const noexcept { return orphaned_; }
  [[noreturn]] void throw_orphaned() const;
  // The task that parked here (null before park()).
  detail::TaskBase* task() const noexcept { return task_; }
  // On a WaitList now (parked in line, or on a list of handed-over waits).
  bool in_list() const noexcept { return linked(); }
  // Leaves its WaitList, if it is on one (a wait woken by its timer instead, say).
  void leave_list() noexcept { unlink(); }

 private:
  friend class detail::Loop;
  template <class W>
  friend class WaitList;
  template <class T>
  friend class detail::IntrusiveList;

  detail::TaskBase* task_ = nullptr;  // the task that parked here (set by park())
  WaitKind kind_;
  bool cancelled_ = false;  // cancel() reached the task here: await_resume throws CancelledError
  bool orphaned_ = false;   // what it was registered with died: await_resume throws UsageError
};

// Tasks waiting in line for something (trio's ParkingLot): an Event's waiters, a Lock's, a
// Queue's getters and putters, the tasks awaiting a TaskHandle. W is the owner's own Wait
// subclass, so what comes out of the line is the owner's type.
//
// Cancel-safe: a waiter cancelled while in line is taken out by the loop before its
// on_cancel() runs, and a waiter destroyed in line takes itself out. So the line only ever
// holds parked tasks, oldest first, and wake_one() never wakes a task that stopped waiting.
// A hand-over (Lock to the next waiter, an item to the next getter) is pop_front(), give the
// waiter what it gets, then its wake(); a woken waiter may be kept on another WaitList of
// handed-over waits until it resumes (push_back moves it), so give_back can find it.
template <class W = Wait>
class WaitList {
 public:
  WaitList() = default;
  WaitList(const WaitList&) = delete;
  WaitList& operator=(const WaitList&) = delete;

  bool empty() const noexcept { return list_.empty(); }
  std::size_t size() const noexcept { return list_.size(); }

  // Joins the back of the line (after park(); leaving any other WaitList).
  void push_back(W& w) noexcept { list_.push_back(w); }
  W& front() noexcept { return static_cast<W&>(list_.front()); }
  // Takes the oldest out of line without waking it: for a hand-over.
  W& pop_front() noexcept { return static_cast<W&>(list_.pop_front()); }
  // Wakes the oldest; false when nobody waits.
  bool wake_one() noexcept {
    if (empty()) return false;
    pop_front().wake();
    return true;
  }
  // Wakes everyone in line now, oldest first.
  void wake_all() noexcept {
    while (!empty()) pop_front().wake();
  }
  // The owner is being destroyed: everyone in line is woken to a UsageError (Wait::orphan).
  void orphan_all() noexcept {
    while (!empty()) pop_front().orphan();
  }
  // fn(W&) for each, oldest first; fn may take out the one it is given, but no other.
  template <class Fn>
  void for_each(Fn fn) {
    list_.for_each([&](Wait& w) { fn(static_cast<W&>(w)); });
  }

 private:
  detail::IntrusiveList<Wait> list_;
};

// A deadline on the loop's clock (asyncio's loop.call_at / call_later). When it passes, the
// loop calls on_timer(), having taken the timer off its heap. Equal deadlines fire in the
// order they were set. Destroying a scheduled timer cancels it.
class Timer {
 public:
  Timer() = default;
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  bool scheduled() const noexcept { return heap_index_ != kNotScheduled; }
  Clock::time_point deadline() const noexcept { return deadline_; }

 protected:
  ~Timer();
  virtual void on_timer() noexcept = 0;

  // Fire at `when` (replacing an earlier setting); needs a running loop.
  void call_at(Clock::time_point when);
  // Fire `d` from now; saturating, so call_later(Clock::duration::max()) means "never".
  void call_later(Clock::duration d);
  // No longer fire; harmless when not scheduled.
  void cancel_timer() noexcept;

 private:
  friend class detail::Loop;
  static constexpr std::size_t kNotScheduled = static_cast<std::size_t>(-1);
  Clock::time_point deadline_{};
  std::uint64_t seq_ = 0;                    // order of setting, to break deadline ties FIFO
  std::size_t heap_index_ = kNotScheduled;  // position in the loop's heap, for O(log n) removal
};

// The one door into the loop from another thread (asyncio's loop.call_soon_threadsafe).
// On the loop's thread, mark_in_flight() ties it to the running loop; then hand it to
// another thread. When that thread is done, it calls call_soon_threadsafe() once, and the
// loop runs on_call() on its own thread soon after (waking itself if it was asleep in the
// poller). This is how the thread pool hands results back; no other code touches the loop
// from another thread.
//
// Outside work in flight: between mark_in_flight() and on_call(), the loop counts the
// callback. A loop with nothing ready and no timer waits for it instead of reporting a
// deadlock, and run() does not end (nor the loop go away) before it has come back.
// outside_work_in_flight() reads the count (plus the socket waits parked in the poller,
// the other thing outside the loop that can wake a task).
class ThreadsafeCallback {
 public:
  ThreadsafeCallback() = default;
  ThreadsafeCallback(const ThreadsafeCallback&) = delete;
  ThreadsafeCallback& operator=(const ThreadsafeCallback&) = delete;

  // Loop thread, once, before the callback is handed to the other thread (which must see
  // what this wrote: a thread's start, or a mutex, orders it). UsageError with no loop.
  void mark_in_flight();
  // Any thread, once, after mark_in_flight(): queue on_call() for the loop. The caller must
  // not touch the callback afterwards: the loop may run it (and free it) at once.
  void call_soon_threadsafe() noexcept;

 protected:
  virtual ~ThreadsafeCallback() = default;
  // On the loop's thread: the other thread's work has come back.
  virtual void on_call() noexcept = 0;

 private:
  friend class detail::Loop;
  detail::Loop* loop_ = nullptr;              // the loop it is in flight to (mark_in_flight)
  ThreadsafeCallback* next_ = nullptr;        // the loop's queue of callbacks, under its mutex
};

// Loop thread: callbacks in flight plus socket waits parked in the poller.
std::size_t outside_work_in_flight();

}  // namespace coop

// The loop that drives all of the above, and the inline hot path (park, wake).
#include "coop/loop.hpp"
