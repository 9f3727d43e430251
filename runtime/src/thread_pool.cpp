// thread_pool.cpp — ThreadPool: a locked queue of jobs and the threads that take them.
#include "coop/thread_pool.hpp"

#include <algorithm>

namespace coop {

ThreadPool::ThreadPool(std::size_t threads) {
  if (threads == 0) throw UsageError("ThreadPool needs at least one thread");
  threads_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_available_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void ThreadPool::check_open() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_) throw UsageError("a job was submitted to a ThreadPool that is being destroyed");
}

void ThreadPool::submit(std::unique_ptr<detail::Job>&& job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) throw UsageError("a job was submitted to a ThreadPool that is being destroyed");
    jobs_.push_back(std::move(job));
  }
  work_available_.notify_one();
}

// Each thread: take the oldest job, run it, send it back to its loop; until the pool stops
// and the queue is empty.
void ThreadPool::work() {
  for (;;) {
    std::unique_ptr<detail::Job> job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      work_available_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping, and nothing left
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job->run();
    job.release()->call_soon_threadsafe();  // the last touch of the job on this thread
  }
}

ThreadPool& ThreadPool::default_pool() {
  std::shared_ptr<void>& slot = detail::Loop::current("coop::to_thread()").default_executor();
  if (!slot) {
    std::size_t cores = std::thread::hardware_concurrency();
    slot = std::make_shared<ThreadPool>(std::min<std::size_t>(32, (cores == 0 ? 1 : cores) + 4));
  }
  return *static_cast<ThreadPool*>(slot.get());
}

namespace detail {

// Back on the loop thread: the job is the loop's again. Hand it to the task awaiting it;
// a cancelled task stopped waiting, and then the result is dropped here.
void Job::on_call() noexcept {
  std::unique_ptr<Job> self(this);
  if (ThreadWait* w = waiter) w->job_finished(std::move(self));
}

}  // namespace detail

}  // namespace coop
