// Wrong answer for exercise 03, two mistakes a student makes: fetch_or catches (...), which
// swallows a cancellation (part 3), and fetch_all_limited starts a worker per source, which
// ignores the limit (part 4). Parts 1 and 2 are right.
#include "03_gather.hpp"

namespace ex03 {

coop::Task<std::pair<std::string, std::string>> fetch_both(Source a, Source b) {
  auto [ra, rb] = co_await coop::gather(fetch(a.name, a.latency), fetch(b.name, b.latency));
  co_return std::pair{std::move(ra), std::move(rb)};
}

coop::Task<std::vector<std::string>> fetch_all(std::vector<Source> sources) {
  std::vector<coop::Task<std::string>> tasks;
  for (const Source& s : sources) tasks.push_back(fetch(s.name, s.latency));
  co_return co_await coop::gather(std::move(tasks));
}

namespace {

coop::Task<std::string> fetch_or(Source s, std::string fallback) {
  try {
    co_return co_await fetch(s.name, s.latency);
  } catch (...) {  // the mistake: CancelledError is caught too
    co_return fallback;
  }
}

coop::Task<void> worker(const std::vector<Source>& sources, std::size_t& next, std::vector<std::string>& results) {
  while (next < sources.size()) {
    const std::size_t i = next++;
    results[i] = co_await fetch(sources[i].name, sources[i].latency);
  }
}

}  // namespace

coop::Task<std::vector<std::string>> fetch_all_or(std::vector<Source> sources, std::string fallback) {
  std::vector<coop::Task<std::string>> tasks;
  for (const Source& s : sources) tasks.push_back(fetch_or(s, fallback));
  co_return co_await coop::gather(std::move(tasks));
}

coop::Task<std::vector<std::string>> fetch_all_limited(std::vector<Source> sources, std::size_t /*limit*/) {
  std::vector<std::string> results(sources.size());
  std::size_t next = 0;
  std::vector<coop::Task<void>> workers;
  for (std::size_t w = 0; w < sources.size(); ++w) workers.push_back(worker(sources, next, results));  // the mistake
  co_await coop::gather(std::move(workers));
  co_return results;
}

}  // namespace ex03
