// loop.cpp — the event loop: steps, timers, cancellation, deadlock, shutdown.
#include "coop/loop.hpp"

#include <fmt/format.h>

#include "coop/poller.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <thread>
#include <time.h>
#include <utility>

namespace coop {

Clock::time_point now() { return detail::Loop::current("coop::now()").now(); }

bool loop_running() noexcept { return detail::Loop::current_or_null() != nullptr; }

Clock::duration elapsed() {
  const detail::Loop& loop = detail::Loop::current("coop::elapsed()");
  return loop.now() - loop.start_time();
}

// ---- the kernel's classes (lowlevel.hpp) -------------------------------------------------

std::string Wait::describe() const { return std::string(to_string(kind_)); }

void Wait::throw_orphaned() const {
  if (kind_ == WaitKind::io) throw UsageError("the socket was closed while this task waited on it");
  throw UsageError(fmt::format("the object this task waited on ({}) was destroyed while it waited; an "
                               "Event, Lock or Queue must outlive the tasks waiting on it",
                               to_string(kind_)));
}

Timer::~Timer() { cancel_timer(); }

void Timer::call_at(Clock::time_point when) {
  detail::Loop& loop = detail::Loop::current("Timer::call_at()");
  loop.remove_timer(*this);
  loop.add_timer(*this, when);
}

void Timer::call_later(Clock::duration d) {
  detail::Loop& loop = detail::Loop::current("Timer::call_later()");
  loop.remove_timer(*this);
  loop.add_timer(*this, loop.deadline_after(d));
}

void Timer::cancel_timer() noexcept {
  if (scheduled())
    if (detail::Loop* loop = detail::Loop::current_or_null()) loop->remove_timer(*this);
}

void ThreadsafeCallback::mark_in_flight() {
  loop_ = &detail::Loop::current("ThreadsafeCallback::mark_in_flight()");
  loop_->outside_work_started();
}

std::size_t outside_work_in_flight() { return detail::Loop::current("coop::outside_work_in_flight()").outside_work(); }

namespace detail {
namespace {

// The slow-step check reads a clock after every step. steady_clock costs ~30 ns here, as
// much as a whole task switch, so it uses the kernel's coarse clock (a few ns, ticking
// every few milliseconds): plenty for a warning whose threshold is 100 ms.
std::int64_t coarse_now_ns() noexcept {
#if defined(CLOCK_MONOTONIC_COARSE)
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
#else
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
#endif
}

bool holds_cancelled_error(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const CancelledError&) {
    return true;
  } catch (...) {
    return false;
  }
}

std::string exception_message(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (const CancelledError& x) {
    return fmt::format("CancelledError: {}", x.what());
  } catch (...) {
    return "an exception not derived from std::exception";
  }
}

std::string format_ms(Clock::duration d) {
  return fmt::format("{} ms", std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

}  // namespace

// ---- TaskBase ------------------------------------------------------------------------

// What a parked task costs is its frame plus this record (lesson 01 prints the sum); the
// record fits the pool's 128-byte class on a 64-bit system. A member added here shows in
// that figure: this is where to notice.
static_assert(sizeof(void*) != 8 || sizeof(TaskBase) <= 128, "the task record outgrew 128 bytes");

TaskBase::TaskBase(std::coroutine_handle<> root, std::string&& name) : root_(root), resume_(root) {
  if (!name.empty()) name_ = std::make_unique<std::string>(std::move(name));
  detail::count_task(+1);
}

TaskBase::~TaskBase() {
  detail::count_task(-1);
  // The loop destroys the frame when the task finishes (or is abandoned), and holds a
  // reference until then; this is only a safety net.
  if (root_) root_.destroy();
  if (outcome_ == Outcome::failed && !retrieved_ && !reported_) {
    if (Loop* loop = Loop::current_or_null()) {
      reported_ = true;
      loop->report(Diagnostic::Kind::unretrieved_exception, *this,
                   fmt::format("task '{}' failed and its exception was never retrieved: {}", name(),
                               exception_message(exception_)));
    } else {
      std::fprintf(stderr, "coop: task '%s' failed and its exception was never retrieved: %s\n", name().c_str(),
                   exception_message(exception_).c_str());
    }
  }
}

const std::string& TaskBase::name() const {
  if (!name_) name_ = std::make_unique<std::string>(fmt::format("Task-{}", id_));
  return *name_;
}


// ---- Loop: setting up ------------------------------------------------------------------

namespace {
std::atomic<std::uint64_t> loops_made{0};
}

Loop::Loop(RunOptions options)
    : options_(std::move(options)),
      id_(++loops_made),
      tracer_(options_.tracer),
      virtual_time_(options_.virtual_time),
      start_(Clock::now()),
      virtual_now_(start_),
      slow_step_ns_(std::chrono::duration_cast<std::chrono::nanoseconds>(options_.slow_step_warning).count()) {
  if (current_ != nullptr)
    throw UsageError(
        "coop::run() called while a loop is already running on this thread; "
        "inside a coroutine, co_await the Task (or create_task it) instead");
  poller_ = std::make_unique<Poller>();
  current_ = this;
}

Loop::~Loop() {
  wait_for_outside();         // other threads hold pointers to this loop until they called back
  default_executor_.reset();  // then what it kept for this run (it may have threads to join)
  // Records still referenced by handles outlive the loop; they must not point into it.
  while (!failed_.empty()) failed_.pop_front();
  while (!live_.empty()) live_.pop_front();
  for (Timer* n : timers_) n->heap_index_ = Timer::kNotScheduled;
  current_ = nullptr;
}

void Loop::no_loop(const char* what) {
  throw UsageError(fmt::format("{} needs a running loop, and none is running on this thread "
                               "(call it from a coroutine driven by coop::run)",
                               what));
}

void Loop::report(Diagnostic::Kind kind, const TaskBase& task, std::string message) noexcept {
  try {
    Diagnostic d{kind, task.name(), std::move(message)};
    if (options_.on_diagnostic) {
      try {
        options_.on_diagnostic(d);
        return;
      } catch (...) {
        // fall through: print it, at least
      }
    }
    std::fprintf(stderr, "coop: warning: %s\n", d.message.c_str());
  } catch (...) {
    std::fputs("coop: warning: (a warning could not be formatted)\n", stderr);
  }
}

// ---- Loop: spawning and cancelling (park, wake and the ready queue are in loop.hpp) ----

void Loop::spawn(TaskBase& t) {
  t.id_ = next_id_++;
  t.loop_ = this;
  live_.push_back(t);
  push_ready(t);
  if (tracer_) {
    if (running_ != nullptr) {
      TaskInfo parent(*running_);
      tracer_->task_spawned(TaskInfo(t), &parent);
    } else {
      tracer_->task_spawned(TaskInfo(t), nullptr);
    }
  }
}

bool Loop::cancel(TaskBase& t) {
  if (t.done()) return false;
  if (tracer_) tracer_->cancel_requested(TaskInfo(t));
  switch (t.state_) {
    case TaskBase::State::waiting: {
      // Parked: abandon the operation and wake the task to throw at this co_await.
      Wait& w = *t.wait_;
      if (!w.cancelled_) {  // else a cancellation is on its way already: this one merges
        w.cancelled_ = true;
        w.leave_list();  // out of its WaitList's line first: that is what makes WaitList cancel-safe
        if (w.on_cancel()) wake(t);
      }
      break;
    }
    case TaskBase::State::ready: {
      // Woken, not resumed yet: throw at the co_await it resumes from (asyncio's
      // Task.__step does the same), once its Wait has given back what the wake handed over.
      Wait& w = *t.wait_;
      if (w.cancelled_ || t.cancel_pending_) break;  // one is on its way already: merge
      if (w.orphaned_ || w.give_back())
        w.cancelled_ = true;
      else
        t.cancel_pending_ = true;  // the hand-over stands; the next co_await gets it
      break;
    }
    case TaskBase::State::created:
    case TaskBase::State::running:
      // Not started: step() ends it cancelled before its body runs. Running: the next
      // park() delivers it, or, if the body returns first, the task ends cancelled.
      t.cancel_pending_ = true;
      break;
    case TaskBase::State::done:
      break;
  }
  return true;
}

void throw_foreign_loop(const std::string& what) {
  throw UsageError(fmt::format(
      "{} from a thread where its loop does not run: a task, Event, Lock or Queue belongs to the "
      "loop that made it and may be used only from that loop's thread (to_thread is the door "
      "between threads: hand results back through its return value)",
      what));
}

void LoopAffinity::bind_or_throw(const char* what) {
  Loop* loop = Loop::current_or_null();
  if (loop_ == nullptr) {  // made outside any loop: the first loop to use it owns it
    loop_ = loop;
    return;
  }
  throw_foreign_loop(what);
}

// ---- Loop: timers ------------------------------------------------------------------------
// A binary min-heap of Timer pointers ordered by (deadline, seq). Each node knows its
// index, so a cancelled sleep is removed in O(log n) instead of lingering until it fires.

bool Loop::earlier(const Timer& a, const Timer& b) noexcept {
  return a.deadline_ < b.deadline_ || (a.deadline_ == b.deadline_ && a.seq_ < b.seq_);
}

void Loop::heap_up(std::size_t i) noexcept {
  Timer* n = timers_[i];
  while (i > 0) {
    std::size_t parent = (i - 1) / 2;
    Timer* p = timers_[parent];
    if (!earlier(*n, *p)) break;
    timers_[i] = p;
    p->heap_index_ = i;
    i = parent;
  }
  timers_[i] = n;
  n->heap_index_ = i;
}

void Loop::heap_down(std::size_t i) noexcept {
  Timer* n = timers_[i];
  const std::size_t size = timers_.size();
  for (;;) {
    std::size_t child = 2 * i + 1;
    if (child >= size) break;
    Timer* c = timers_[child];
    if (child + 1 < size) {
      Timer* r = timers_[child + 1];
      if (earlier(*r, *c)) {
        ++child;
        c = r;
      }
    }
    if (!earlier(*c, *n)) break;
    timers_[i] = c;
    c->heap_index_ = i;
    i = child;
  }
  timers_[i] = n;
  n->heap_index_ = i;
}

void Loop::add_timer(Timer& node, Clock::time_point deadline) {
  node.deadline_ = deadline;
  node.seq_ = timer_seq_++;
  timers_.push_back(&node);
  heap_up(timers_.size() - 1);
}

void Loop::remove_timer(Timer& node) noexcept {
  if (!node.scheduled()) return;
  std::size_t i = node.heap_index_;
  node.heap_index_ = Timer::kNotScheduled;
  Timer* last = timers_.back();
  timers_.pop_back();
  if (last == &node) return;
  timers_[i] = last;
  last->heap_index_ = i;
  heap_down(i);
  heap_up(last->heap_index_);
}

void Loop::fire_due_timers() {
  if (timers_.empty()) return;
  const Clock::time_point t = now();
  if (timers_.front()->deadline_ > t) return;
  do {
    Timer* n = timers_.front();
    remove_timer(*n);
    n->on_timer();
  } while (!timers_.empty() && timers_.front()->deadline_ <= t);
  // Firing many timers is the loop's own work: don't charge it to the next task's step.
  if (slow_step_ns_ > 0) last_tick_ = coarse_now_ns();
}

// ---- Loop: turns and steps -------------------------------------------------------------

// One turn: fire due timers, then run one step of each task that is ready (tasks readied
// by those steps wait for the next turn; that is what makes sleep(0) "one loop turn").
// When nothing is ready, first wait for something to happen (idle). Returns false when
// nothing can ever happen again, or the next thing lies beyond `limit`.
bool Loop::run_once(Clock::time_point limit) {
  if (ready_count_ == 0) {
    if (!idle(limit)) return false;
  } else if (outside_work()) {
    poll_outside(Clock::duration::zero());  // a quick look, so busy tasks cannot starve sockets
  }
  fire_due_timers();
  std::size_t n = ready_count_;
  while (n-- > 0) step(*pop_ready());
  return true;
}

std::size_t Loop::outside_work() const noexcept { return outside_in_flight_ + poller_->parked(); }

// Nothing is ready: wait for whatever comes first, the next timer or the outside world.
//   * Only timers: sleep until the first one (real time), or leap to it (virtual time).
//   * Something outside too (a parked socket, a callback in flight): wait in the poller, for
//     real, until the next timer at most. Under virtual time the clock then moves by the
//     real time waited: virtual time only leaps when nothing outside could come first.
// Returns false when there is nothing to wait for (a deadlock), or only timers beyond
// `limit`.
bool Loop::idle(Clock::time_point limit) {
  const bool outside = outside_work();
  if (timers_.empty() && !outside) return false;
  Clock::time_point until = limit;
  if (!timers_.empty()) until = std::min(until, timers_.front()->deadline_);
  if (!outside) {
    if (timers_.front()->deadline_ > limit) return false;
    if (virtual_time_)
      virtual_now_ = std::max(virtual_now_, until);
    else
      std::this_thread::sleep_until(until);
  } else {
    std::optional<Clock::duration> timeout;  // forever, unless something is due
    const Clock::time_point t = now();
    if (until != Clock::time_point::max()) timeout = until > t ? until - t : Clock::duration::zero();
    const Clock::time_point real_start = Clock::now();
    poll_outside(timeout);
    if (virtual_time_) {
      const Clock::duration waited = Clock::now() - real_start;
      virtual_now_ = (timeout && waited >= *timeout) ? until : virtual_now_ + waited;
    }
  }
  // The loop idled: the next step's time starts now, not at the end of the last step.
  if (slow_step_ns_ > 0) last_tick_ = coarse_now_ns();
  return true;
}

// Asks the poller what happened outside (waiting up to `timeout`), then runs the callbacks
// that came back from other threads.
void Loop::poll_outside(std::optional<Clock::duration> timeout) {
  poller_->wait(timeout);
  if (outside_in_flight_ > 0) run_callbacks();
}

// ---- Loop: the door from other threads (ThreadsafeCallback) --------------------------------

// On another thread. The notification is sent while the lock is held: once the loop can
// see the callback, this thread no longer touches the loop (which may then finish and be
// destroyed).
void Loop::call_soon_threadsafe(ThreadsafeCallback& cb) noexcept {
  std::lock_guard<std::mutex> lock(callbacks_mutex_);
  cb.next_ = nullptr;
  if (callbacks_tail_ != nullptr)
    callbacks_tail_->next_ = &cb;
  else
    callbacks_head_ = &cb;
  callbacks_tail_ = &cb;
  poller_->notify();
}

// On the loop thread: run each callback that came back, in the order they came.
void Loop::run_callbacks() noexcept {
  ThreadsafeCallback* cb;
  {
    std::lock_guard<std::mutex> lock(callbacks_mutex_);
    cb = std::exchange(callbacks_head_, nullptr);
    callbacks_tail_ = nullptr;
  }
  while (cb != nullptr) {
    ThreadsafeCallback* next = cb->next_;  // read first: on_call may free cb
    --outside_in_flight_;
    cb->on_call();
    cb = next;
  }
}

void Loop::wait_for_outside() noexcept {
  while (outside_in_flight_ > 0) {
    try {
      poll_outside(std::nullopt);
    } catch (...) {
      run_callbacks();  // the poller failed: keep collecting (the queue fills regardless)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
}

void Loop::step(TaskBase& t) {
  if (t.state_ == TaskBase::State::created && t.cancel_pending_) {
    // Cancelled before it ever ran: its body never starts (asyncio does the same).
    t.exception_ = std::make_exception_ptr(CancelledError());
    t.root_.destroy();
    t.root_ = {};
    finish(t, Outcome::cancelled);
    return;
  }
  t.state_ = TaskBase::State::running;
  t.wait_ = nullptr;  // resumed: the co_await it waited at is completing now
  running_ = &t;
  if (tracer_) tracer_->step_began(TaskInfo(t));
  t.resume_.resume();
  running_ = nullptr;
  if (tracer_) tracer_->step_ended(TaskInfo(t));

  if (slow_step_ns_ > 0) {
    std::int64_t tick = coarse_now_ns();
    if (tick - last_tick_ > slow_step_ns_) [[unlikely]]
      report_slow_step(t, tick - last_tick_);
    last_tick_ = tick;
  }

  if (t.root_.done()) {
    // The body ended: take its value or exception out of the frame, then free the frame.
    t.exception_ = t.take_outcome();
    t.root_.destroy();
    t.root_ = {};
    Outcome how = Outcome::returned;
    if (t.exception_) {
      how = holds_cancelled_error(t.exception_) ? Outcome::cancelled : Outcome::failed;
    } else if (t.cancel_pending_) {
      // Cancelled while running, and it returned before reaching another co_await: the
      // cancellation was never delivered, so the task ends cancelled (asyncio agrees).
      how = Outcome::cancelled;
      t.exception_ = std::make_exception_ptr(CancelledError());
    }
    if (how == Outcome::returned && t.cancel_delivered_) [[unlikely]]
      report_swallowed(t);
    if (how != Outcome::returned) t.drop_value();
    finish(t, how);
  } else if (t.state_ == TaskBase::State::running) {
    throw UsageError(fmt::format(
        "task '{}' suspended on an awaitable that does not go through coop's loop, so nothing "
        "will ever resume it; co_await coop's awaitables (Task, TaskHandle, sleep, Event, Lock, "
        "Queue, ...) or ones built on coop::Wait (lowlevel.hpp)",
        t.name()));
  }
}

// The warnings are kept out of step(), the hottest function of the loop: formatting code
// inlined there slows every step down, although it almost never runs.
void Loop::report_slow_step(const TaskBase& t, std::int64_t ns) {
  report(Diagnostic::Kind::slow_step, t,
         fmt::format("task '{}' blocked the loop for {} in one step (slow_step_warning is {}); "
                     "no other task could run meanwhile",
                     t.name(), format_ms(std::chrono::nanoseconds(ns)), format_ms(options_.slow_step_warning)));
}

void Loop::report_swallowed(const TaskBase& t) {
  report(Diagnostic::Kind::swallowed_cancellation, t,
         fmt::format("task '{}' was cancelled but returned normally: it caught CancelledError and did "
                     "not re-throw it, so whoever cancelled it believes it stopped. Clean up, then re-throw",
                     t.name()));
}

void Loop::finish(TaskBase& t, Outcome how) {
  t.outcome_ = how;
  t.state_ = TaskBase::State::done;
  t.cancel_pending_ = false;
  t.wait_ = nullptr;
  static_cast<ListNode&>(t).unlink();  // off the live list
  if (t.shutdown_cancelled_) --shutdown_waiting_;
  if (tracer_) tracer_->task_finished(TaskInfo(t), how);
  while (!t.observers_.empty()) t.observers_.pop_front().on_done(t);
  t.joiners_.wake_all();  // every co_await on its handle
  if (how == Outcome::failed && !t.retrieved_) failed_.push_back(t);  // reported if never looked at
  t.drop_ref();  // the loop's reference
}

// ---- Loop: running main, deadlock, shutdown --------------------------------------------

void Loop::run_main(TaskBase& main) {
  main.mark_retrieved();  // run() hands main's outcome to its caller, exception included
  std::exception_ptr error;
  std::string deadlock;
  last_tick_ = coarse_now_ns();
  try {
    while (!main.done()) {
      if (!run_once(Clock::time_point::max())) {
        deadlock = describe_deadlock();
        break;
      }
    }
  } catch (...) {
    error = std::current_exception();
  }
  try {
    shutdown();
  } catch (...) {
    if (!error) error = std::current_exception();  // the first error is the one to report
  }
  if (error) std::rethrow_exception(error);
  if (!deadlock.empty()) throw DeadlockError(deadlock);
}

std::string Loop::describe_deadlock() const {
  std::string s =
      "deadlock: the main task can never finish. No task is ready, no timer is set, and nothing "
      "outside the loop can wake a task. Blocked:";
  const_cast<IntrusiveList<TaskBase>&>(live_).for_each([&](TaskBase& t) {
    s += fmt::format("\n  task '{}' waits on {}", t.name(),
                     t.waiting_on() != nullptr ? t.waiting_on()->describe() : std::string("nothing coop knows of"));
  });
  return s;
}

// asyncio.run's ending, with a time limit: cancel every task still alive and run the loop
// until they have finished (cleanup code may await). Tasks spawned meanwhile are cancelled
// in the next round. Whatever is left when nothing can run any more, or the
// shutdown_timeout has passed, is abandoned: its frame destroyed, with a warning.
//
// The limit is on the loop's clock, and also on the real clock: under virtual time the
// clock stands still while any task is ready, so a task that swallows its cancellation
// and keeps yielding (sleep(0) in a loop) would otherwise never let the limit arrive.
void Loop::shutdown() {
  const Clock::time_point limit = deadline_after(options_.shutdown_timeout);
  const Clock::time_point real_limit = Clock::now() + options_.shutdown_timeout;
  bool stuck = false;
  try {
    while (!live_.empty() && !stuck) {
      live_.for_each([&](TaskBase& t) {
        if (!t.shutdown_cancelled_) {
          t.shutdown_cancelled_ = true;
          ++shutdown_waiting_;
          cancel(t);
        }
      });
      while (shutdown_waiting_ > 0) {
        if (now() >= limit || Clock::now() >= real_limit) {
          stuck = true;
          break;
        }
        if (!run_once(limit)) {
          // Nothing can run, and a task of this round ignores its cancellation, so the round
          // will never end. Tasks spawned during it have not been cancelled yet: give them
          // their next round before giving up (found by tests/stress; they used to be
          // abandoned without ever seeing a CancelledError, their cleanup never run).
          bool spawned_meanwhile = false;
          live_.for_each([&](TaskBase& t) { spawned_meanwhile = spawned_meanwhile || !t.shutdown_cancelled_; });
          stuck = !spawned_meanwhile;
          break;
        }
      }
    }
  } catch (...) {
    abandon_remaining();  // whatever went wrong, no frame is left behind
    throw;
  }
  abandon_remaining();
  wait_for_outside();  // run() ends only after the work in other threads' hands came back
  failed_.for_each([&](TaskBase& t) { report_unretrieved(t); });
  while (!failed_.empty()) failed_.pop_front();
}

void Loop::report_unretrieved(TaskBase& t) {
  if (t.retrieved_ || t.reported_) return;
  t.reported_ = true;
  report(Diagnostic::Kind::unretrieved_exception, t,
         fmt::format("task '{}' failed and its exception was never retrieved: {}", t.name(),
                     exception_message(t.exception_)));
}

void Loop::abandon_remaining() {
  if (live_.empty()) return;
  std::vector<TaskBase*> left;
  live_.for_each([&](TaskBase& t) { left.push_back(&t); });
  for (TaskBase* t : left)
    report(Diagnostic::Kind::abandoned, *t,
           fmt::format("task '{}' did not finish after being cancelled at shutdown (waiting on {}); "
                       "its frame was destroyed",
                       t->name(), t->waiting_on() != nullptr ? t->waiting_on()->describe() : std::string("nothing")));
  // Destroying frames runs destructors, which unregister waits and drop handles. Nothing
  // may be woken meanwhile, and the ready queue is forgotten, not walked.
  abandoning_ = true;
  ready_head_ = ready_tail_ = nullptr;
  ready_count_ = 0;
  for (TaskBase* t : left) {
    t->add_ref();  // keep the record while frames' destructors drop handles to it
    t->outcome_ = Outcome::abandoned;  // done(): a cancel() from a destructor is a no-op
    t->state_ = TaskBase::State::done;
    t->wait_ = nullptr;  // its Wait is about to be destroyed with the frame
  }
  // Newest first: a child is always spawned after its parent, so its frame (which may hold
  // references into the parent's frame, a Lock guard, say) goes before the parent's.
  for (auto it = left.rbegin(); it != left.rend(); ++it) {
    TaskBase* t = *it;
    if (t->root_) {
      t->root_.destroy();
      t->root_ = {};
    }
    t->exception_ = std::make_exception_ptr(CancelledError("abandoned at shutdown"));
    t->drop_value();
  }
  for (TaskBase* t : left) {
    finish(*t, Outcome::abandoned);
    t->drop_ref();
  }
  abandoning_ = false;
}

}  // namespace detail
}  // namespace coop
