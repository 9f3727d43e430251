// Exercise 09 — executor: the reference solution.
#include "09_executor.hpp"

#include <utility>

namespace ex09 {

coop::Task<std::string> query_async(LegacyDriver& db, int id) {
  // to_thread(fn, args...) calls fn(args...) on a thread of the loop's default pool. This
  // task parks meanwhile, like on any await, and the loop runs everyone else; the result
  // (or the exception, rethrown here) comes back to the loop's thread.
  //
  // A member function is called with the object's address first. The address and `id` are
  // copied into the job: `db` itself outlives the call, since the caller keeps it alive
  // while it awaits us (and the grader until the thread is done).
  co_return co_await coop::to_thread(&LegacyDriver::query, &db, id);
}

coop::Task<std::vector<std::string>> query_all(LegacyDriver& db, std::vector<int> ids) {
  // gather starts every query_async together, so every job is submitted at once and the
  // pool's threads run them side by side; results come back in the order of `ids`.
  // Awaiting them one by one in a loop would keep the loop free, but run one query at a time.
  std::vector<coop::Task<std::string>> queries;
  for (int id : ids) queries.push_back(query_async(db, id));
  co_return co_await coop::gather(std::move(queries));
}

coop::Task<std::string> SerialDriver::query(int id) {
  // run_in_executor on our own one-thread pool: jobs queue there and run one at a time, in
  // the order submitted, always on that same thread. to_thread would use the default pool,
  // where two tasks' calls can run at once on two threads; a coop::Lock around to_thread
  // would stop the overlap but still call from different threads; a ThreadPool made inside
  // this function would be a new thread for every call. The pool belongs to the driver.
  co_return co_await coop::run_in_executor(thread_, &LegacyDriver::query, &db_, id);
}

coop::Task<std::string> query_with_timeout(LegacyDriver& db, int id, coop::Clock::duration timeout) {
  // wait_for runs query_async as a child task; at the timeout it cancels it and throws
  // TimeoutError. A task awaiting to_thread gives up the wait at once when cancelled: the
  // thread cannot be stopped, so the query runs on and its result is dropped (run() waits
  // for it before it returns). A DriverError comes back through to_thread and wait_for
  // unchanged: there is nothing to catch here.
  //
  // This only works because the query is on a thread: called on the loop's thread, it
  // would block the loop, the timer could not fire, and the call would end when the query
  // did, timeout or not.
  co_return co_await coop::wait_for(query_async(db, id), timeout);
}

}  // namespace ex09
