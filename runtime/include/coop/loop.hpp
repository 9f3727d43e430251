// loop.hpp — the event loop behind the kernel (lowlevel.hpp): tasks, turns, cancellation.
//
// asyncio's loop, in miniature. The loop owns three things:
//   * the ready queue: tasks that can run now, in FIFO order;
//   * the timers: a heap of deadlines, earliest first, equal deadlines in the order set;
//   * the live tasks: every task that has not finished yet (the loop holds a reference to
//     each, so a task whose handles were all dropped still runs to the end).
// One turn of the loop fires the timers that are due, then runs one *step* of each task
// that is ready at that point; tasks made ready by those steps wait for the next turn (that
// is what makes sleep(0) "one turn"). A step resumes the task's coroutine and lasts until
// it suspends again or finishes: code between two co_awaits runs without interruption,
// because nothing else runs on this thread until the step returns.
//
// The one suspension mechanism is the kernel's Wait (lowlevel.hpp): an awaitable parks the
// task in await_suspend and wakes it when the thing it waits for happens. This file is the
// other side of that door: what the loop does with a parked, woken or cancelled task.
//
// The outside world. Sockets wait in the poller (poller.hpp), which is also where the loop
// sleeps. Other threads reach the loop only through ThreadsafeCallback (lowlevel.hpp): the
// loop counts the callbacks in flight, so that waiting for one is not a deadlock, and runs
// each on its own thread when it comes back. The loop knows nothing of thread pools.
//
// Cancellation, in the loop's terms (asyncio's Task.cancel and Task.__step):
//   * parked (waiting): its Wait leaves its WaitList and abandons the operation
//     (on_cancel); the task is woken and its await_resume throws CancelledError, unless
//     on_cancel returns false (JoinAll: gather, wait_for), which wakes it itself once its
//     cancelled children have finished.
//   * woken, not resumed yet (ready): the CancelledError is thrown at the co_await it
//     resumes from, and that Wait first gives back whatever the wake handed it (give_back:
//     the lock to the next waiter, a queue item to the queue). Where that cannot be undone
//     (give_back returns false), the wake stands and the cancel is left pending.
//   * not started: step() ends it cancelled; its body never runs.
//   * running, or left pending: the next park() delivers it instead of suspending; if the
//     body returns first, the task ends cancelled.
// A cancel() while one is already on its way merges into it: one CancelledError per
// delivery, after which the task's awaits work again (its cleanup can await).
//
// Optimisations, labelled. A loop written only to be read would keep the ready queue in a
// std::deque<TaskBase*>, time every step with steady_clock, and put park()/wake() in the
// .cpp file. This one links ready tasks through the records themselves (no allocation per
// wake), times steps with the kernel's coarse clock (a few ns instead of ~30), and keeps
// park()/wake() (both halves: Loop's and Wait's) inline at the bottom of this file; bench/
// measures what each buys. The logic is the same.
#pragma once

#include <chrono>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "coop/detail/intrusive_list.hpp"
#include "coop/errors.hpp"
#include "coop/frame_allocator.hpp"
#include "coop/lowlevel.hpp"
#include "coop/trace.hpp"

namespace coop {

// How run() drives the loop.
struct RunOptions {
  // Autojump clock (trio's MockClock): when no task is ready, time leaps to the next timer
  // instead of waiting for it. sleep(3600s) returns at once with now() exactly 3600 s later.
  bool virtual_time = false;
  // Warn when one step keeps the loop busy longer than this (real time); 0 turns it off.
  std::chrono::milliseconds slow_step_warning{100};
  // At shutdown, how long tasks get to finish after being cancelled before their frames
  // are destroyed (on the loop's clock, and on the real one too, since virtual time stands
  // still while tasks keep running). asyncio waits forever; we don't, so a task that
  // ignores cancellation cannot hang run().
  std::chrono::milliseconds shutdown_timeout{5000};
  // Receives every scheduling event (trace.hpp); null for none. Its hooks must not throw.
  Tracer* tracer = nullptr;
  // Receives warnings; when empty they are printed to stderr as "coop: warning: ...".
  // Should not throw (warnings can come from destructors); if it does, the exception is
  // dropped and the warning printed to stderr.
  std::function<void(const Diagnostic&)> on_diagnostic;
};

namespace detail {

class Poller;

// Throws the UsageError for an object (a task, Event, Lock, Queue) used where its loop does
// not run: `what` names the operation.
[[noreturn]] void throw_foreign_loop(const std::string& what);

// Notified when a task finishes: asyncio's done callbacks. JoinAll uses them, for gather and
// wait_for (one parked task, many children); `co_await handle` parks on joiners() instead.
class DoneObserver : public ListNode {
 public:
  virtual void on_done(TaskBase& task) noexcept = 0;

 protected:
  ~DoneObserver() = default;
};

// The loop's record of one scheduled task: the bookkeeping half of asyncio.Task (its state,
// how it ended, its exception, who waits for it). TaskState<T> (task_handle.hpp) adds the
// result; TaskHandle<T> is the asyncio.Task that user code holds.
class TaskBase : public ListNode, public Pooled {
 public:
  TaskBase(std::coroutine_handle<> root, std::string&& name);
  TaskBase(const TaskBase&) = delete;
  TaskBase& operator=(const TaskBase&) = delete;

  std::uint64_t id() const noexcept { return id_; }
  const std::string& name() const;
  Outcome outcome() const noexcept { return outcome_; }
  bool done() const noexcept { return outcome_ != Outcome::pending; }
  // The Wait it is parked on, or null when it is not waiting.
  const Wait* waiting_on() const noexcept { return state_ == State::waiting ? wait_ : nullptr; }
  // The loop that runs it (null before create_task hands it to one).
  const Loop* loop() const noexcept { return loop_; }
  const std::exception_ptr& exception() const noexcept { return exception_; }

  // asyncio Task.cancel(): false when the task has already finished.
  bool cancel();

  // Tell `observer` when this task finishes (it is unlinked just before).
  void add_observer(DoneObserver& observer) noexcept { observers_.push_back(observer); }
  // The tasks awaiting its handle (co_await handle): woken, all of them, when it finishes.
  WaitList<>& joiners() noexcept { return joiners_; }

  // The exception has been looked at; the "never retrieved" report is off.
  void mark_retrieved() noexcept { retrieved_ = true; }

  void add_ref() noexcept { ++refs_; }
  void drop_ref() noexcept {
    if (--refs_ == 0) delete this;
  }

 protected:
  virtual ~TaskBase();
  // The root coroutine has finished: move its value into the record and return the
  // exception its body threw (null if it returned). Called once, before the frame goes.
  virtual std::exception_ptr take_outcome() noexcept = 0;
  // Forget the value (the task ended cancelled after all).
  virtual void drop_value() noexcept = 0;
  std::coroutine_handle<> root_;  // the task's outermost coroutine, until it finishes

 private:
  friend class Loop;
  friend class coop::Wait;

  // A task's life, one state at a time, and what wait_ means in each:
  //   created   in the ready queue; its body has not begun.            wait_ == null
  //   running   its step is executing (Loop::running_ == this).         wait_ == null
  //   waiting   parked on exactly one Wait; not in the ready queue.     wait_ == that Wait
  //   ready     woken, in the ready queue; its next step resumes the    wait_ == that Wait
  //             co_await of wait_ (whose await_resume runs first)
  //   done      finished (outcome_ != pending); off the live list.      wait_ == null
  // Transitions, all made by Loop: created -> running (step) or -> done (cancelled before
  // it began); running -> waiting (park; back to running if its await_suspend then fails:
  // unpark) or -> done (its body ended); waiting -> ready
  // (wake); ready -> running (step); anything -> done when run() abandons it.
  // Cancellation invariant: at most one CancelledError is on its way. It is on its way when
  // cancel_pending_ is set, or when wait_ is set and wait_->cancelled_; the two never hold
  // together, and a further cancel() while one is on its way merges into it.
  enum class State : std::uint8_t { created, running, waiting, ready, done };

  std::coroutine_handle<> resume_;             // where the next step continues: the innermost
                                               // suspended coroutine (the root, at first)
  Wait* wait_ = nullptr;                       // see State: parked on, or woken from
  Loop* loop_ = nullptr;                       // the loop that runs it (set by spawn); it may be
                                               // cancelled or awaited only on that loop's thread
  TaskBase* next_ready_ = nullptr;             // the ready queue's link
  IntrusiveList<DoneObserver> observers_;      // told when it finishes (gather, wait_for)
  WaitList<> joiners_;                         // parked in co_await on its handle
  std::exception_ptr exception_;               // how it failed, or the CancelledError
  mutable std::unique_ptr<std::string> name_;  // made on first use when not given
  std::uint64_t id_ = 0;
  std::uint32_t refs_ = 1;                     // the loop's, until it finishes; +1 per handle
  State state_ = State::created;
  Outcome outcome_ = Outcome::pending;
  // The five flags are bit-fields: one byte between them keeps the record within the
  // pool's 128-byte class (labelled optimisation; plain bools read the same).
  bool cancel_pending_ : 1 = false;            // a cancel() for the next park() to deliver (it
                                               // came while created or running, or its wake
                                               // handed over what cannot be given back)
  bool cancel_delivered_ : 1 = false;          // a CancelledError was thrown into it: returning
                                               // normally afterwards swallows it (warned)
  bool shutdown_cancelled_ : 1 = false;        // run() is winding down and cancelled it
  bool retrieved_ : 1 = false;                 // someone looked at its exception
  bool reported_ : 1 = false;                  // its exception was reported as unretrieved
};

class Loop {
 public:
  explicit Loop(RunOptions options);
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  // The loop running on this thread; `what` names the caller in the UsageError otherwise.
  static Loop& current(const char* what) {
    if (current_ == nullptr) no_loop(what);
    return *current_;
  }
  static Loop* current_or_null() noexcept { return current_; }

  Clock::time_point now() const noexcept { return virtual_time_ ? virtual_now_ : Clock::now(); }
  // now() + d, saturating: sleep(Clock::duration::max()) means "forever", not an overflow
  // into the past.
  Clock::time_point deadline_after(Clock::duration d) const noexcept {
    const Clock::time_point t = now();
    const Clock::duration since = t.time_since_epoch();
    // Each comparison is arranged so that it cannot overflow itself.
    if (d > Clock::duration::zero() && since > Clock::duration::max() - d) return Clock::time_point::max();
    if (d < Clock::duration::zero() && since < Clock::duration::min() - d) return Clock::time_point::min();
    return t + d;
  }
  Clock::time_point start_time() const noexcept { return start_; }
  // Distinguishes loops over time (1, 2, 3, ... per process): a socket registered with one
  // loop's poller must register again with the next.
  std::uint64_t id() const noexcept { return id_; }
  TaskBase* running() const noexcept { return running_; }
  // run() is destroying the frames of tasks that did not finish (see abandon_remaining).
  bool abandoning() const noexcept { return abandoning_; }
  Tracer* tracer() const noexcept { return tracer_; }

  // A new task (refs_ == 1 is the loop's reference): number it, make it live, queue it.
  void spawn(TaskBase& task);
  bool cancel(TaskBase& task);

  void add_timer(Timer& timer, Clock::time_point deadline);
  void remove_timer(Timer& timer) noexcept;

  // The outside world: sockets wait in the poller (poller.hpp); other threads call back
  // through ThreadsafeCallback. While a socket wait is parked or a callback is in flight,
  // an empty ready queue with no timer means waiting for them, not a deadlock.
  Poller& poller() noexcept { return *poller_; }
  // Callbacks in flight plus socket waits parked (outside_work_in_flight(), lowlevel.hpp).
  std::size_t outside_work() const noexcept;
  // Loop thread: one more callback is in other hands (ThreadsafeCallback::mark_in_flight).
  void outside_work_started() noexcept { ++outside_in_flight_; }
  // Any thread: queue `callback` for the loop thread and wake the loop.
  void call_soon_threadsafe(ThreadsafeCallback& callback) noexcept;
  // Something that must live as long as this loop and go after the outside work in flight
  // has come back: to_thread's default pool (thread_pool.cpp makes it on first use). The
  // loop only keeps it; it does not know what it is.
  std::shared_ptr<void>& default_executor() noexcept { return default_executor_; }

  // Runs until `main` finishes, then winds down (shutdown). Throws DeadlockError when main
  // can never finish, after winding down.
  void run_main(TaskBase& main);

  // Hands a warning to RunOptions::on_diagnostic (or stderr). Never throws: it runs in
  // destructors; an exception from the sink is caught and the warning printed instead.
  void report(Diagnostic::Kind kind, const TaskBase& task, std::string message) noexcept;

 private:
  friend class coop::Wait;
  friend class TaskBase;

  [[noreturn]] static void no_loop(const char* what);
  bool park(Wait& wait, std::coroutine_handle<> h);
  void unpark(Wait& wait) noexcept;
  void wake(TaskBase& task) noexcept;
  void push_ready(TaskBase& task) noexcept;
  TaskBase* pop_ready() noexcept;
  bool run_once(Clock::time_point limit);
  bool idle(Clock::time_point limit);
  void poll_outside(std::optional<Clock::duration> timeout);
  void run_callbacks() noexcept;
  void wait_for_outside() noexcept;
  void fire_due_timers();
  void step(TaskBase& task);
  void finish(TaskBase& task, Outcome how);
  void shutdown();
  void abandon_remaining();
  void report_unretrieved(TaskBase& task);
  [[gnu::cold, gnu::noinline]] void report_slow_step(const TaskBase& task, std::int64_t ns);
  [[gnu::cold, gnu::noinline]] void report_swallowed(const TaskBase& task);
  std::string describe_deadlock() const;
  static bool earlier(const Timer& a, const Timer& b) noexcept;
  void heap_up(std::size_t i) noexcept;
  void heap_down(std::size_t i) noexcept;

  static inline thread_local Loop* current_ = nullptr;

  RunOptions options_;
  std::uint64_t id_;                    // see id()
  Tracer* tracer_;                      // options_.tracer, read on every event
  bool virtual_time_;
  Clock::time_point start_;             // when run() began, on the loop's clock
  Clock::time_point virtual_now_;       // the virtual clock's reading
  TaskBase* running_ = nullptr;         // the task whose step is executing
  TaskBase* ready_head_ = nullptr;      // the ready queue: FIFO, linked through next_ready_
  TaskBase* ready_tail_ = nullptr;
  std::size_t ready_count_ = 0;
  std::vector<Timer*> timers_;          // binary min-heap on (deadline, seq)
  std::uint64_t timer_seq_ = 0;
  IntrusiveList<TaskBase> live_;        // unfinished tasks
  IntrusiveList<TaskBase> failed_;      // finished with an unretrieved exception, still referenced
  std::uint64_t next_id_ = 1;
  std::unique_ptr<Poller> poller_;      // where the loop sleeps when nothing is ready
  std::size_t outside_in_flight_ = 0;   // callbacks marked in flight whose on_call has not run
  std::mutex callbacks_mutex_;          // guards the callback queue, which other threads fill
  ThreadsafeCallback* callbacks_head_ = nullptr;  // called back, not run yet: FIFO through next_
  ThreadsafeCallback* callbacks_tail_ = nullptr;
  std::shared_ptr<void> default_executor_;        // see default_executor()
  std::size_t shutdown_waiting_ = 0;    // tasks cancelled by shutdown that have not finished
  bool abandoning_ = false;             // destroying frames: wake() does nothing
  std::int64_t slow_step_ns_;           // options_.slow_step_warning, in ns; 0 = off
  std::int64_t last_tick_ = 0;          // coarse clock at the end of the previous step
};

// ---- the hot path, inline: parking, waking and the ready queue ---------------------------

inline void Loop::push_ready(TaskBase& t) noexcept {
  t.next_ready_ = nullptr;
  if (ready_tail_ != nullptr)
    ready_tail_->next_ready_ = &t;
  else
    ready_head_ = &t;
  ready_tail_ = &t;
  ++ready_count_;
}

inline TaskBase* Loop::pop_ready() noexcept {
  TaskBase* t = ready_head_;
  ready_head_ = t->next_ready_;
  if (ready_head_ == nullptr) ready_tail_ = nullptr;
  --ready_count_;
  return t;
}

inline bool Loop::park(Wait& w, std::coroutine_handle<> h) {
  TaskBase* t = running_;
  if (t == nullptr) throw UsageError("a coop awaitable was awaited outside a task run by coop::run");
  w.task_ = t;
  if (t->cancel_pending_) {
    // cancel() arrived while the task was running (or could not be thrown at the co_await
    // it resumed from): deliver it at this co_await.
    t->cancel_pending_ = false;
    w.cancelled_ = true;
    if (w.on_cancel()) return false;  // resume at once; await_resume throws CancelledError
    // The wait finishes the cancellation itself (gather draining its children): park.
  }
  t->resume_ = h;
  t->wait_ = &w;
  t->state_ = TaskBase::State::waiting;
  if (tracer_) tracer_->task_suspended(TaskInfo(*t), WaitInfo(w));
  return true;
}

// waiting -> running again: the park is undone within the same step (Wait::unpark).
inline void Loop::unpark(Wait& w) noexcept {
  TaskBase* t = w.task_;
  if (t == nullptr || t != running_ || t->wait_ != &w) return;
  t->state_ = TaskBase::State::running;
  t->wait_ = nullptr;
  if (tracer_) tracer_->task_woken(TaskInfo(*t));
}

// waiting -> ready. wait_ stays: it is the co_await the task resumes from, where a cancel()
// that comes before the task runs is thrown.
inline void Loop::wake(TaskBase& t) noexcept {
  if (abandoning_ || t.state_ != TaskBase::State::waiting) return;
  t.state_ = TaskBase::State::ready;
  push_ready(t);
  if (tracer_) tracer_->task_woken(TaskInfo(t));
}

inline bool TaskBase::cancel() {
  if (done()) return false;
  Loop* loop = Loop::current_or_null();
  if (loop != loop_) [[unlikely]]
    throw_foreign_loop("cancel() of task '" + name() + "'");
  return loop->cancel(*this);
}

// Which loop an Event, Lock or Queue belongs to: the one running on the thread that made
// it, or, if it was made outside any loop, the first loop that uses it. Every operation
// checks it (a thread-local read and a compare): an object used from another thread would
// link that thread's tasks into its lists, or wake them from the wrong thread, with no lock
// anywhere. asyncio has the same rule ("not thread-safe"); it only does not check it.
class LoopAffinity {
 public:
  LoopAffinity() noexcept : loop_(Loop::current_or_null()) {}
  // Throws UsageError when called where the owning loop does not run. `what` names the
  // operation ("Event::set()").
  void check_loop(const char* what) {
    if (Loop::current_or_null() == loop_ && loop_ != nullptr) [[likely]]
      return;
    bind_or_throw(what);
  }

 private:
  void bind_or_throw(const char* what);
  // The owner, compared by address only (never dereferenced): that is one load and one
  // compare on every operation. After the owner is gone, a later loop that happens to live
  // at the same address on the same thread is taken for it; that is harmless.
  Loop* loop_;
};

}  // namespace detail

// ---- the kernel's Wait, inline: the other half of park and wake ------------------------

inline bool Wait::park(std::coroutine_handle<> h) { return detail::Loop::current("co_await").park(*this, h); }

inline void Wait::unpark() noexcept {
  if (detail::Loop* loop = detail::Loop::current_or_null()) loop->unpark(*this);
}

inline void Wait::wake() noexcept {
  if (detail::Loop* loop = detail::Loop::current_or_null()) loop->wake(*task_);
}

inline bool Wait::parked() const noexcept {
  return task_ != nullptr && task_->wait_ == this && task_->state_ == detail::TaskBase::State::waiting;
}

inline void Wait::throw_if_interrupted() const {
  if (cancelled_) {
    task_->cancel_delivered_ = true;  // delivered: a later cancel() is a new one
    throw CancelledError();
  }
  if (orphaned_) throw_orphaned();
}

inline void ThreadsafeCallback::call_soon_threadsafe() noexcept { loop_->call_soon_threadsafe(*this); }

}  // namespace coop

