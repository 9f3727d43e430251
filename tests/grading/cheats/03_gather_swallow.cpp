// Cheat for exercise 03 part 3: the reference answer, but fetch_or catches (...), which swallows a cancellation.
#include "03_gather.hpp"

namespace ex03 {

coop::Task<std::pair<std::string, std::string>> fetch_both(Source a, Source b) {
  // gather starts both children at once and resumes us when both are done: the time is
  // the longer latency, not the sum. The tuple comes back in argument order.
  auto [ra, rb] = co_await coop::gather(fetch(a.name, a.latency), fetch(b.name, b.latency));
  co_return std::pair{std::move(ra), std::move(rb)};
}

coop::Task<std::vector<std::string>> fetch_all(std::vector<Source> sources) {
  // The vector form of gather: results in the order of the tasks, whatever order they end.
  std::vector<coop::Task<std::string>> tasks;
  for (const Source& s : sources) tasks.push_back(fetch(s.name, s.latency));
  co_return co_await coop::gather(std::move(tasks));
}

namespace {
// Each child handles its own failure, so gather never sees an exception and never cancels
// the siblings. Parameters by value: the frame keeps its own copies.
coop::Task<std::string> fetch_or(Source s, std::string fallback) {
  try {
    co_return co_await fetch(s.name, s.latency);
  } catch (...) {  // the cheat: also catches CancelledError
    co_return fallback;
  }
}
}  // namespace

coop::Task<std::vector<std::string>> fetch_all_or(std::vector<Source> sources, std::string fallback) {
  std::vector<coop::Task<std::string>> tasks;
  for (const Source& s : sources) tasks.push_back(fetch_or(s, fallback));
  co_return co_await coop::gather(std::move(tasks));
}

namespace {
// A worker takes the next index until none is left. `next` and `results` live in
// fetch_all_limited's frame, which outlives the workers: it awaits them all.
coop::Task<void> worker(const std::vector<Source>& sources, std::size_t& next, std::vector<std::string>& results) {
  while (next < sources.size()) {
    const std::size_t i = next++;  // between two awaits: no other worker can take i too
    results[i] = co_await fetch(sources[i].name, sources[i].latency);
  }
}
}  // namespace

coop::Task<std::vector<std::string>> fetch_all_limited(std::vector<Source> sources, std::size_t limit) {
  std::vector<std::string> results(sources.size());
  std::size_t next = 0;
  std::vector<coop::Task<void>> workers;
  for (std::size_t w = 0; w < std::min(limit, sources.size()); ++w) workers.push_back(worker(sources, next, results));
  co_await coop::gather(std::move(workers));
  co_return results;
}

}  // namespace ex03
