// Exercise 09 — executor: a blocking driver, and a loop that stays free (lesson 09).
//
// You write the functions declared below in exercises/09_executor.cpp. LegacyDriver is a
// synchronous client library you cannot change: a query blocks the calling thread until the
// answer comes. Called on the loop's thread it freezes every task (lesson 08). Your job is
// to call it from coroutines without that: on other threads, with coop::to_thread(fn,
// args...) (the loop's default pool, asyncio.to_thread) or coop::run_in_executor(pool, fn,
// args...) (a coop::ThreadPool of your choosing, loop.run_in_executor).
//
// The grader (tests/grading/09_executor.cpp) runs real threads, so it runs on the real
// clock. It never checks tight timings: it counts heartbeats of a task on the loop (a frozen
// loop misses them), and LegacyDriver counts how many of its calls ran at the same time and
// on which threads.
//
// Two things to know:
//   * Pass the function and its arguments to to_thread / run_in_executor, as
//     `coop::to_thread(fn, a, b)`; for a member function, the object's address comes first:
//     `coop::to_thread(&Driver::method, &driver, a)`. A lambda works too, named first or
//     capturing by reference. Not a lambda temporary that captures by value inside the
//     co_await (`co_await coop::to_thread([s] { ... })` with a std::string s): GCC 12
//     destroys its captures twice (see the caution in coop/thread_pool.hpp).
//   * A function running on a pool thread runs at the same time as the loop: lesson 08's
//     "between two awaits nothing else runs" does not cover it. Share nothing with it but
//     its arguments and its result.
#pragma once

#include <coop/coop.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace ex09 {

// What the driver throws when a query fails.
struct DriverError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The legacy driver (given). Safe to call from several threads at once, except where a part
// says otherwise; it keeps its counters with a mutex and atomics for that reason.
class LegacyDriver {
 public:
  explicit LegacyDriver(std::chrono::milliseconds latency) : latency_(latency) {}

  // Blocks the calling thread for the latency (std::this_thread::sleep_for: the round trip
  // to the database), then returns "row <id>", or throws DriverError for an id < 0.
  std::string query(int id) {
    const int now = ++running_;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      most_at_once_ = std::max(most_at_once_, now);
      threads_.insert(std::this_thread::get_id());
      order_.push_back(id);
    }
    std::this_thread::sleep_for(latency_);
    --running_;
    ++finished_;
    if (id < 0) throw DriverError("query " + std::to_string(id) + ": no such row");
    return "row " + std::to_string(id);
  }

  // For the grader: what the driver saw.
  int finished() const { return finished_.load(); }  // calls that have returned or thrown
  int most_at_once() const {                         // the most calls running at one time
    std::lock_guard<std::mutex> lock(mutex_);
    return most_at_once_;
  }
  std::set<std::thread::id> threads() const {  // the threads it was called on
    std::lock_guard<std::mutex> lock(mutex_);
    return threads_;
  }
  std::vector<int> order() const {  // the ids, in the order the calls began
    std::lock_guard<std::mutex> lock(mutex_);
    return order_;
  }

 private:
  const std::chrono::milliseconds latency_;
  std::atomic<int> running_{0};   // calls running right now
  std::atomic<int> finished_{0};  // calls that have returned or thrown
  mutable std::mutex mutex_;      // guards the three below
  int most_at_once_ = 0;
  std::set<std::thread::id> threads_;
  std::vector<int> order_;
};

// Part 1. query_async: db.query(id)'s result, or its exception, without blocking the loop:
// while the query runs, the other tasks on the loop keep running.
coop::Task<std::string> query_async(LegacyDriver& db, int id);

// Part 2. query_all: every id's row, in the order of `ids`, with all the queries running at
// the same time on the loop's default pool (not one after another).
coop::Task<std::vector<std::string>> query_all(LegacyDriver& db, std::vector<int> ids);

// Part 3. A driver that is NOT thread-safe (like many C client libraries, it keeps state per
// connection and per thread): two calls must never run at once, and every call must come
// from the same thread. The loop must still stay free while a call runs. SerialDriver gives
// it a thread of its own, `thread_`, a pool of one thread that runs jobs one at a time in
// the order they were submitted. query(id): db.query(id), on that thread, however many tasks
// call query at the same time.
class SerialDriver {
 public:
  explicit SerialDriver(LegacyDriver& db) : db_(db) {}

  coop::Task<std::string> query(int id);  // you write this one

 private:
  LegacyDriver& db_;
  coop::ThreadPool thread_{1};  // the driver's own thread
};

// Part 4. query_with_timeout: db.query(id)'s row, like query_async, but give up after
// `timeout`: throw coop::TimeoutError then, without waiting for the query (a thread cannot be
// stopped from outside: the query runs on, its result is dropped). A DriverError from the
// query reaches the caller unchanged, type and message. (coop::wait_for takes a Task: wrap
// query_async, not to_thread's awaitable.)
coop::Task<std::string> query_with_timeout(LegacyDriver& db, int id, coop::Clock::duration timeout);

}  // namespace ex09
