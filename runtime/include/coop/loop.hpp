// loop.hpp — the event loop, and the one door every suspension goes through.
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
// The one suspension mechanism. An awaitable that can make a task wait derives from
// detail::Wait. In await_suspend it calls park(); when the thing it waits for happens, it
// calls wake(). Because every wait passes through these two calls, the loop always knows
// who waits for what: cancellation can abandon any wait, deadlock detection can name every
// blocked task, and tracing sees every suspension. There is no other way to suspend.
//
// Cancellation, in the loop's terms (asyncio's Task.cancel and Task.__step):
//   * parked (waiting): its Wait abandons the operation (on_cancel) and the task is woken;
//     its await_resume throws CancelledError.
//   * woken, not resumed yet (ready): the CancelledError is thrown at the co_await it
//     resumes from, and that Wait first gives back whatever the wake handed it (give_back:
//     the lock to the next waiter, a queue item to the queue).
//   * not started, or running: left pending; the next park() delivers it instead of
//     suspending (a task that never started never runs its body).
//
// Optimisations, labelled. A loop written only to be read would keep the ready queue in a
// std::deque<TaskBase*>, time every step with steady_clock, and put park()/wake() in the
// .cpp file. This one links ready tasks through the records themselves (no allocation per
// wake), times steps with the kernel's coarse clock (a few ns instead of ~30), and keeps
// park()/wake() inline at the bottom of this file; bench/ measures what each buys. The
// logic is the same.
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
#include "coop/trace.hpp"

namespace coop {

class ThreadPool;

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

// The running loop's clock: virtual under RunOptions::virtual_time, else Clock::now().
// Throws UsageError when no loop runs on this thread.
Clock::time_point now();

namespace detail {

class Loop;
class Wait;
class Job;
class Poller;

// Throws the UsageError for an object (a task, Event, Lock, Queue) used where its loop does
// not run: `what` names the operation.
[[noreturn]] void throw_foreign_loop(const std::string& what);

// Notified when a task finishes (gather, wait_for and `co_await handle` use this).
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
  friend class Wait;

  // A task's life, one state at a time, and what wait_ means in each:
  //   created   in the ready queue; its body has not begun.            wait_ == null
  //   running   its step is executing (Loop::running_ == this).         wait_ == null
  //   waiting   parked on exactly one Wait; not in the ready queue.     wait_ == that Wait
  //   ready     woken, in the ready queue; its next step resumes the    wait_ == that Wait
  //             co_await of wait_ (whose await_resume runs first)
  //   done      finished (outcome_ != pending); off the live list.      wait_ == null
  // Transitions, all made by Loop: created -> running (step) or -> done (cancelled before
  // it began); running -> waiting (park) or -> done (its body ended); waiting -> ready
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
  IntrusiveList<DoneObserver> observers_;      // told when it finishes
  std::exception_ptr exception_;               // how it failed, or the CancelledError
  mutable std::unique_ptr<std::string> name_;  // made on first use when not given
  std::uint64_t id_ = 0;
  std::uint32_t refs_ = 1;                     // the loop's, until it finishes; +1 per handle
  State state_ = State::created;
  Outcome outcome_ = Outcome::pending;
  bool cancel_pending_ = false;                // a cancel() for the next park() to deliver (it
                                               // came while created or running, or its wake
                                               // handed over what cannot be given back)
  bool cancel_delivered_ = false;              // a CancelledError was thrown into it: returning
                                               // normally afterwards swallows it (warned)
  bool shutdown_cancelled_ = false;            // run() is winding down and cancelled it
  bool retrieved_ = false;                     // someone looked at its exception
  bool reported_ = false;                      // its exception was reported as unretrieved
};

// The base of every awaitable that can make a task wait: the one door to suspension.
//
// Protocol for a subclass (see sleep.hpp for the smallest one):
//   await_suspend(h):  if (!park(h)) return false;   // a pending cancel is delivered here
//                      ...register (link into a list, set a timer)...; return true;
//   when it happens:   ...unregister...; wake();
//   on_cancel():       unregister; return true (or false to wake() later yourself)
//   give_back():       the task was woken (the operation completed) but is cancelled before
//                      it resumed: return what the wake handed over (the lock, the item)
//                      and return true; CancelledError is then thrown at this co_await.
//                      Return false when it cannot be undone (bytes already read, a child's
//                      result): the result stands and the cancel lands at the next co_await.
//   await_resume():    throw_if_interrupted(); then produce the result
//   destructor:        unregister if still registered (a frame can be destroyed while
//                      parked, when run() abandons a task). Deriving from ListNode or
//                      TimerNode does it for you; anything else you must undo yourself.
// And the object a wait is registered with (an Event, a Lock) calls orphan() on its waiters
// if it is destroyed while they wait, so they fail clearly instead of waiting forever.
class Wait {
 public:
  explicit Wait(WaitKind kind) noexcept : kind_(kind) {}
  Wait(const Wait&) = delete;
  Wait& operator=(const Wait&) = delete;

  WaitKind kind() const noexcept { return kind_; }
  // A short description for deadlock reports and traces.
  virtual std::string describe() const;

  // What this wait is registered with is being destroyed while a task waits on it (an
  // Event or Lock that died before its waiters): wake the task; its co_await throws
  // UsageError. Call it after unlinking.
  void orphan() noexcept {
    orphaned_ = true;
    wake();
  }

 protected:
  ~Wait() = default;

  // The task parked here is being cancelled: abandon the operation. Return true to have
  // the task woken now (its await_resume throws CancelledError), or false if the wait will
  // wake it later itself (gather, which first waits for its cancelled children).
  virtual bool on_cancel() noexcept { return true; }

  // The task was woken from this wait, and is cancelled before it resumed (asyncio throws
  // the CancelledError into the await it resumes from; so do we). Give back what the wake
  // handed over, so that nothing is lost or duplicated: Lock passes the lock on, Queue puts
  // the item back at the front, or gives up the room it had reserved. Return true to have
  // CancelledError thrown at this co_await; false if the hand-over cannot be undone, in
  // which case the co_await completes normally and the cancel waits for the next one.
  // Most waits hand over nothing that could be lost: the default gives back nothing.
  virtual bool give_back() noexcept { return true; }

  // Parks the running task on this wait, to be resumed at `h`. Returns false, and does not
  // park, when a cancellation is pending: it is delivered at this co_await instead.
  bool park(std::coroutine_handle<> h);
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
  TaskBase* task() const noexcept { return task_; }

 private:
  friend class Loop;
  friend class Poller;  // wakes the socket waits it finished
  TaskBase* task_ = nullptr;  // the task that parked here (set by park())
  WaitKind kind_;
  bool cancelled_ = false;    // cancel() reached the task here: await_resume throws CancelledError
  bool orphaned_ = false;     // what it was registered with died: await_resume throws UsageError
};

// An entry in the loop's timer heap. The owner is told when the deadline passes.
class TimerNode {
 public:
  TimerNode() = default;
  TimerNode(const TimerNode&) = delete;
  TimerNode& operator=(const TimerNode&) = delete;

  bool scheduled() const noexcept { return heap_index_ != kNotScheduled; }
  Clock::time_point deadline() const noexcept { return deadline_; }

  virtual void on_timer() noexcept = 0;

 protected:
  ~TimerNode();

 private:
  friend class Loop;
  static constexpr std::size_t kNotScheduled = static_cast<std::size_t>(-1);
  Clock::time_point deadline_{};
  std::uint64_t seq_ = 0;                    // order of setting, to break deadline ties FIFO
  std::size_t heap_index_ = kNotScheduled;  // position in the heap, for O(log n) removal
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

  void add_timer(TimerNode& node, Clock::time_point deadline);
  void remove_timer(TimerNode& node) noexcept;

  // The outside world: sockets wait in the poller (poller.hpp), blocking functions run on
  // thread pools (thread_pool.hpp). While a socket wait is parked or a job is in flight,
  // an empty ready queue with no timer means waiting for them, not a deadlock.
  Poller& poller() noexcept { return *poller_; }
  ThreadPool& default_pool();  // to_thread's, made on first use
  // Loop thread: send a job to a pool; it counts as in flight until it comes back.
  void submit_job(ThreadPool& pool, std::unique_ptr<Job> job);
  // Any thread (a pool's): the job has run; queue it for the loop and wake the loop.
  void job_done(std::unique_ptr<Job> job) noexcept;

  // Runs until `main` finishes, then winds down (shutdown). Throws DeadlockError when main
  // can never finish, after winding down.
  void run_main(TaskBase& main);

  // Hands a warning to RunOptions::on_diagnostic (or stderr). Never throws: it runs in
  // destructors; an exception from the sink is caught and the warning printed instead.
  void report(Diagnostic::Kind kind, const TaskBase& task, std::string message) noexcept;

 private:
  friend class Wait;
  friend class TaskBase;

  [[noreturn]] static void no_loop(const char* what);
  bool park(Wait& wait, std::coroutine_handle<> h);
  void wake(TaskBase& task) noexcept;
  void push_ready(TaskBase& task) noexcept;
  TaskBase* pop_ready() noexcept;
  bool run_once(Clock::time_point limit);
  bool idle(Clock::time_point limit);
  bool outside_work() const noexcept;
  void poll_outside(std::optional<Clock::duration> timeout);
  void collect_jobs() noexcept;
  void wait_for_jobs() noexcept;
  void fire_due_timers();
  void step(TaskBase& task);
  void finish(TaskBase& task, Outcome how);
  void shutdown();
  void abandon_remaining();
  void report_unretrieved(TaskBase& task);
  [[gnu::cold, gnu::noinline]] void report_slow_step(const TaskBase& task, std::int64_t ns);
  [[gnu::cold, gnu::noinline]] void report_swallowed(const TaskBase& task);
  std::string describe_deadlock() const;
  static bool earlier(const TimerNode& a, const TimerNode& b) noexcept;
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
  std::vector<TimerNode*> timers_;      // binary min-heap on (deadline, seq)
  std::uint64_t timer_seq_ = 0;
  IntrusiveList<TaskBase> live_;        // unfinished tasks
  IntrusiveList<TaskBase> failed_;      // finished with an unretrieved exception, still referenced
  std::uint64_t next_id_ = 1;
  std::unique_ptr<Poller> poller_;      // where the loop sleeps when nothing is ready
  std::size_t jobs_in_flight_ = 0;      // submitted to a pool and not collected yet
  std::mutex jobs_mutex_;               // guards jobs_done_, which pool threads fill
  std::vector<std::unique_ptr<Job>> jobs_done_;
  std::unique_ptr<ThreadPool> default_pool_;
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

// waiting -> ready. wait_ stays: it is the co_await the task resumes from, where a cancel()
// that comes before the task runs is thrown.
inline void Loop::wake(TaskBase& t) noexcept {
  if (abandoning_ || t.state_ != TaskBase::State::waiting) return;
  t.state_ = TaskBase::State::ready;
  push_ready(t);
  if (tracer_) tracer_->task_woken(TaskInfo(t));
}

inline bool Wait::park(std::coroutine_handle<> h) { return Loop::current("co_await").park(*this, h); }

inline void Wait::wake() noexcept {
  if (Loop* loop = Loop::current_or_null()) loop->wake(*task_);
}

inline bool Wait::parked() const noexcept {
  return task_ != nullptr && task_->wait_ == this && task_->state_ == TaskBase::State::waiting;
}

inline void Wait::throw_if_interrupted() const {
  if (cancelled_) {
    task_->cancel_delivered_ = true;  // delivered: a later cancel() is a new one
    throw CancelledError();
  }
  if (orphaned_) throw_orphaned();
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
}  // namespace coop
