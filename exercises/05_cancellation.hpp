// Exercise 05 — cancellation: clean up, then re-throw (lesson 05).
//
// You write the functions declared below in exercises/05_cancellation.cpp. The grader
// (tests/grading/05_cancellation.cpp) cancels them in the middle of their work, under
// virtual time, and checks how they end: cancelled (not returned), with their cleanup
// finished *before* whoever cancelled them hears about it, and with nothing left running.
//
// Three facts from lesson 05 you will need:
//   * h.cancel() throws coop::CancelledError out of the task's current (or next) co_await.
//     The task must let it out again — re-throw it — or it has swallowed the cancellation:
//     the canceller believes it stopped, and the runtime warns.
//   * CancelledError is NOT a std::exception: `catch (const std::exception&)` never catches
//     it, `catch (...)` does. Catch it by name.
//   * C++ forbids co_await inside a catch block. To await cleanup: keep
//     std::current_exception() in a std::exception_ptr, leave the handler, co_await the
//     cleanup, then std::rethrow_exception. (A cancel() is delivered once: after it, your
//     awaits work again.)
#pragma once

#include <coop/coop.hpp>

#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace ex05 {

// ---- part 1 ---------------------------------------------------------------------------------

// One item of work (given): do_item waits `takes`, then throws
// std::runtime_error("<name> is broken") if `fails`.
struct Item {
  std::string name;
  coop::Clock::duration takes{};
  bool fails = false;
};
inline coop::Task<void> do_item(Item item) {
  co_await coop::sleep(item.takes);
  if (item.fails) throw std::runtime_error(item.name + " is broken");
}

// process(items, journal): do the items one after another (co_await do_item(item)).
//   * after an item is done, append "done <name>" to the journal;
//   * an item that fails (throws a std::exception) is not fatal: append
//     "skipped <name>: <what()>" and go on with the next item;
//   * a cancellation is not a failure: append "cancelled at <name>" (the item it was on)
//     and re-throw it, so that the task ends cancelled and no further item starts.
// Returns how many items were done.
coop::Task<int> process(std::vector<Item> items, std::vector<std::string>& journal);

// ---- part 2 ---------------------------------------------------------------------------------

// A store with transactions (given). Rows written go into the open transaction; commit()
// makes them permanent, rollback() throws them away. Each is a round trip: it takes time.
struct Store {
  std::vector<std::string> committed;        // permanent rows
  std::vector<std::string> uncommitted;      // rows of the open transaction
  int rollbacks = 0;                         // rollbacks finished
  coop::Clock::time_point rolled_back_at{};  // when the last one finished
};
inline coop::Task<void> write_row(Store& s, std::string row) {
  co_await coop::sleep(std::chrono::milliseconds(100));
  s.uncommitted.push_back(std::move(row));
}
inline coop::Task<void> commit(Store& s) {
  co_await coop::sleep(std::chrono::milliseconds(50));
  s.committed.insert(s.committed.end(), s.uncommitted.begin(), s.uncommitted.end());
  s.uncommitted.clear();
}
inline coop::Task<void> rollback(Store& s) {
  co_await coop::sleep(std::chrono::milliseconds(40));
  s.uncommitted.clear();
  ++s.rollbacks;
  s.rolled_back_at = coop::now();
}

// import_rows(store, rows): all rows or none. Write each row (co_await write_row), then
// co_await commit(store). If cancelled anywhere before the commit has finished: co_await
// rollback(store), and only then re-throw the CancelledError. Whoever cancelled the import
// must not see it end until the rollback is over.
coop::Task<void> import_rows(Store& store, std::vector<std::string> rows);

// ---- parts 3 and 4 --------------------------------------------------------------------------

// A server to fetch from (given): it counts the connections open right now.
struct Server {
  int open = 0;
};
// fetch(server, key, takes) (given: the grader supplies it): opens a connection, waits
// `takes` for the answer, closes the connection and returns "<key>:<payload>", the payload
// fresh for every grading run (so an answer can only come from calling fetch); a key
// starting with '!' fails instead, with std::runtime_error("<key> not found"). Cancelled,
// it closes the connection and re-throws.
coop::Task<std::string> fetch(Server& server, std::string key, coop::Clock::duration takes);

// Part 3. fetch_or(server, key, takes, limit, fallback): fetch with a time limit. Returns
// fetch's result if it arrives within `limit`, else `fallback` (at `limit`, not later).
// A fetch that fails still fails: its exception comes out of fetch_or, not the fallback. If
// fetch_or itself is cancelled, it ends cancelled (a cancellation is not a timeout). Either
// way, when fetch_or returns or throws, the fetch is over: no connection is left open.
// coop::wait_for (lesson 05, step 5) does most of this for you.
coop::Task<std::string> fetch_or(Server& server, std::string key, coop::Clock::duration takes,
                                 coop::Clock::duration limit, std::string fallback);

// Part 4. fetch_all_within(server, jobs, limit): fetch every job at the same time, and give
// them `limit` in all. Returns, in the order of `jobs`, each result that arrived within the
// limit, and std::nullopt for each that did not; those are cancelled. Returns as soon as
// every fetch is done, or at `limit` — with no fetch left running, and none of the
// results that did arrive lost. If fetch_all_within itself is cancelled, it ends cancelled.
// None of the fetches fails in this part.
// If you write a small coroutine of your own for each fetch, make it a named function that
// takes what it needs as parameters, not a lambda coroutine with captures: the captures live
// in the lambda object, a temporary that is gone before the coroutine first runs.
struct Job {
  std::string key;
  coop::Clock::duration takes{};
};
coop::Task<std::vector<std::optional<std::string>>> fetch_all_within(Server& server, std::vector<Job> jobs,
                                                                     coop::Clock::duration limit);

}  // namespace ex05
