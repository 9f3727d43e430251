// thread_pool.hpp — the blocking world: ThreadPool, to_thread, run_in_executor.
//
// Key point 9 of the lecture. A function that blocks (a synchronous database driver, a
// long computation, std::this_thread::sleep_for) freezes the loop and every task on it. If
// you cannot replace it with an async one, run it on another thread and await the result:
//
//     std::string body = co_await coop::to_thread(read_file, path);   // asyncio.to_thread
//     auto rows = co_await coop::run_in_executor(db_pool, [&] { return db.query(q); });
//
// The awaiting task parks; the loop runs everyone else; the function runs on a pool
// thread; when it returns (or throws), its outcome is handed back to the loop thread
// through the loop's one door for other threads (ThreadsafeCallback, lowlevel.hpp), and the
// task resumes with the value (or the exception).
//
// The atomicity of key point 8 stops at the thread boundary: the function runs at the
// same time as the loop's tasks, so anything it shares with them needs a real mutex.
//
// Cancelling the awaiting task abandons the wait at once, but a thread cannot be stopped
// from outside: the function runs on and its result is dropped. run() ends only after
// every job in flight has finished, and a task waiting for a job is never reported as
// deadlocked (the job will wake it).
//
// A caution for GCC 12 (a compiler bug, measured on GCC 12.2): a lambda temporary whose
// captures own memory, inside a co_await expression — `co_await to_thread([s] { ... })`
// with a std::string s — is destroyed twice by the caller's generated code, whatever
// to_thread does with it. Capture by reference ([&] is safe: the caller's locals outlive
// the await), name the lambda first, or pass arguments: `co_await to_thread(f, s)`.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "coop/lowlevel.hpp"

namespace coop {

namespace detail {

class ThreadWait;

// One call of a function on a pool thread, on its way there and back. Made on the loop's
// thread; the pool thread runs it, then sends it back with call_soon_threadsafe(), and the
// loop hands it to the task awaiting it (on_call), if one still does.
class Job : public ThreadsafeCallback {
 public:
  ~Job() override = default;
  virtual void run() noexcept = 0;  // on a pool thread: call the function, keep the outcome
  ThreadWait* waiter = nullptr;     // loop thread only: who awaits it (null once nobody does)

 private:
  void on_call() noexcept override;  // back on the loop thread (thread_pool.cpp)
};

// What a task parks on while its job runs (WaitKind::thread).
class ThreadWait : public Wait {
 public:
  ThreadWait() noexcept : Wait(WaitKind::thread) {}
  // On the loop thread: the job came back; the wait takes it.
  virtual void job_finished(std::unique_ptr<Job> job) noexcept = 0;

 protected:
  ~ThreadWait() = default;
};

}  // namespace detail

// A fixed set of threads that run jobs in the order they were submitted
// (concurrent.futures.ThreadPoolExecutor). Jobs may come from any number of loops.
class ThreadPool {
 public:
  explicit ThreadPool(std::size_t threads);
  // Finishes the jobs already submitted, then joins the threads.
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  std::size_t size() const noexcept { return threads_.size(); }

  // For the runtime: throws UsageError if the pool is being destroyed (checked before a
  // task parks, so that submit() does not fail after it).
  void check_open();
  // For the runtime: queue a job. If it throws, the job is still the caller's.
  void submit(std::unique_ptr<detail::Job>&& job);
  // For the runtime: the running loop's default pool (to_thread's), made on first use with
  // min(32, cores + 4) threads, like Python's, and kept until that run() ends.
  static ThreadPool& default_pool();

 private:
  void work();

  std::mutex mutex_;                                // guards jobs_ and stopping_
  std::condition_variable work_available_;
  std::deque<std::unique_ptr<detail::Job>> jobs_;  // submitted, not yet taken by a thread
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

namespace detail {

// The job for a function `fn` returning R: keeps R (or the exception) until the loop
// takes it.
template <class F>
class FunctionJob final : public Job {
 public:
  using R = std::remove_cvref_t<std::invoke_result_t<F&>>;
  explicit FunctionJob(F&& fn) : fn_(std::move(fn)) {}

  void run() noexcept override {
    try {
      if constexpr (std::is_void_v<R>)
        fn_();
      else
        result_.emplace(fn_());
    } catch (...) {
      error_ = std::current_exception();
    }
  }

  R take() {
    if (error_) std::rethrow_exception(error_);
    if constexpr (!std::is_void_v<R>) return std::move(*result_);
  }

 private:
  struct Empty {};
  F fn_;
  [[no_unique_address]] std::conditional_t<std::is_void_v<R>, Empty, std::optional<R>> result_;
  std::exception_ptr error_;
};

// `co_await to_thread(fn)`: submit the job, park until it comes back.
template <class F>
class [[nodiscard]] ThreadAwaiter final : public ThreadWait {
 public:
  using R = typename FunctionJob<F>::R;

  ThreadAwaiter(ThreadPool* pool, F&& fn) : pool_(pool), job_(std::make_unique<FunctionJob<F>>(std::move(fn))) {}
  ThreadAwaiter(ThreadAwaiter&&) = delete;  // the job points at us while in flight
  ~ThreadAwaiter() {
    if (in_flight_ != nullptr) in_flight_->waiter = nullptr;  // abandoned: the job runs on alone
  }

  bool await_ready() const noexcept { return false; }

  bool await_suspend(std::coroutine_handle<> h) {
    ThreadPool& pool = pool_ != nullptr ? *pool_ : ThreadPool::default_pool();
    pool.check_open();           // what can fail, fails before the task parks
    if (!park(h)) return false;  // a pending cancellation: the job never starts
    Job* job = job_.get();
    job->waiter = this;
    job->mark_in_flight();  // the loop counts it until it is back
    try {
      pool.submit(std::move(job_));
    } catch (...) {  // not queued after all (the pool began closing since check_open)
      job->waiter = nullptr;
      job_.release()->call_soon_threadsafe();  // comes back at once, uncounted, and is freed
      unpark();  // the task runs on, and the exception reaches its co_await
      throw;
    }
    in_flight_ = job;
    return true;  // not a single member is touched after this point until the loop wakes us
  }

  R await_resume() {
    throw_if_interrupted();
    return static_cast<FunctionJob<F>&>(*job_).take();
  }

  std::string describe() const override { return "a function running on a thread pool (to_thread)"; }

 private:
  void job_finished(std::unique_ptr<Job> job) noexcept override {
    in_flight_ = nullptr;
    job_ = std::move(job);
    wake();
  }
  bool on_cancel() noexcept override {
    if (in_flight_ != nullptr) {  // stop waiting; the function cannot be stopped
      in_flight_->waiter = nullptr;
      in_flight_ = nullptr;
    }
    return true;
  }

  ThreadPool* pool_;             // null: the loop's default pool
  std::unique_ptr<Job> job_;     // ours before submitting and after it came back
  Job* in_flight_ = nullptr;     // while the pool has it
};

// Binds the arguments into one callable, made here rather than in the caller's co_await
// expression (see the GCC 12 caution above).
template <class F, class... Args>
auto bind_call(F&& fn, Args&&... args) {
  if constexpr (sizeof...(Args) == 0) {
    return std::move(fn);
  } else {
    return [fn = std::move(fn), ... args = std::move(args)]() mutable {
      return std::invoke(std::move(fn), std::move(args)...);
    };
  }
}

}  // namespace detail

// asyncio.to_thread(fn, *args): run fn(args...) on the loop's default pool (created on first
// use, min(32, cores + 4) threads, like Python's) and await its result.
template <class F, class... Args>
[[nodiscard]] auto to_thread(F fn, Args... args) {
  detail::Loop::current("coop::to_thread()");  // a clear error where no loop runs
  auto call = detail::bind_call(std::move(fn), std::move(args)...);
  return detail::ThreadAwaiter<decltype(call)>(nullptr, std::move(call));
}

// loop.run_in_executor(pool, fn, *args): the same on a pool of your choosing.
template <class F, class... Args>
[[nodiscard]] auto run_in_executor(ThreadPool& pool, F fn, Args... args) {
  detail::Loop::current("coop::run_in_executor()");
  auto call = detail::bind_call(std::move(fn), std::move(args)...);
  return detail::ThreadAwaiter<decltype(call)>(&pool, std::move(call));
}

}  // namespace coop
