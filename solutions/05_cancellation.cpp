// Exercise 05 — cancellation: the reference solution.
#include "05_cancellation.hpp"

#include <exception>

namespace ex05 {

coop::Task<int> process(std::vector<Item> items, std::vector<std::string>& journal) {
  int done = 0;
  for (const Item& item : items) {
    try {
      co_await do_item(item);  // the suspension point: a cancel() lands here
      journal.push_back("done " + item.name);
      ++done;
    } catch (const std::exception& e) {
      // An error: log it and go on. CancelledError is not a std::exception, so this
      // handler never sees a cancellation, which is exactly why coop made it so.
      journal.push_back("skipped " + item.name + ": " + e.what());
    } catch (const coop::CancelledError&) {
      // Not an error, a request to stop. The cleanup here (a log line) does not await, so
      // it may stay in the handler. Then re-throw, always: the task ends cancelled, the
      // canceller's co_await throws, and the loop does not go on to the next item.
      journal.push_back("cancelled at " + item.name);
      throw;
    }
  }
  co_return done;
}

coop::Task<void> import_rows(Store& store, std::vector<std::string> rows) {
  std::exception_ptr cancelled;
  try {
    for (std::string& row : rows) co_await write_row(store, std::move(row));
    co_await commit(store);
  } catch (const coop::CancelledError&) {
    // co_await rollback(store) here does not compile (no co_await in a handler). Keep the
    // exception and leave the handler.
    cancelled = std::current_exception();
  }
  if (cancelled) {
    // The cancellation was delivered once, so this await works. Awaiting it (rather than
    // create_task-ing it and re-throwing at once) is what makes the canceller wait: our
    // task has not finished until the rollback has.
    co_await rollback(store);
    std::rethrow_exception(cancelled);  // the same CancelledError, so we end cancelled
  }
}

coop::Task<std::string> fetch_or(Server& server, std::string key, coop::Clock::duration takes,
                                 coop::Clock::duration limit, std::string fallback) {
  try {
    // wait_for runs the fetch as a child. When the limit passes it cancels the child, waits
    // until the child has finished (its connection closed), and throws TimeoutError.
    co_return co_await coop::wait_for(fetch(server, std::move(key), takes), limit);
  } catch (const coop::TimeoutError&) {
    // Only the timeout: a failed fetch (another std::runtime_error) goes on up, and so does
    // a CancelledError aimed at us (wait_for cancels its child for that too).
    co_return fallback;
  }
}

namespace {

// A fetch that stores its result the moment it arrives, in a slot that belongs to the
// caller. The reference is safe: gather (and wait_for) never let a child outlive the
// coroutine that awaits them; on a timeout they cancel it and wait until it has finished.
coop::Task<void> fetch_into(Server& server, Job job, std::optional<std::string>& slot) {
  slot = co_await fetch(server, std::move(job.key), job.takes);
}

}  // namespace

coop::Task<std::vector<std::optional<std::string>>> fetch_all_within(Server& server, std::vector<Job> jobs,
                                                                     coop::Clock::duration limit) {
  std::vector<std::optional<std::string>> results(jobs.size());  // sized once: slots never move
  std::vector<coop::Task<void>> fetches;
  for (std::size_t i = 0; i < jobs.size(); ++i) fetches.push_back(fetch_into(server, jobs[i], results[i]));
  try {
    co_await coop::wait_for(coop::gather(std::move(fetches)), limit);
  } catch (const coop::TimeoutError&) {
    // The late fetches were cancelled, and have finished: the ones that arrived in time
    // already wrote their slots. A CancelledError aimed at us is not caught: it goes on up.
  }
  co_return results;
}

}  // namespace ex05
