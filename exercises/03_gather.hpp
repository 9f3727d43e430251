// Exercise 03 — gather: fetch everything at once (lesson 03).
//
// You write the functions declared below in exercises/03_gather.cpp. The grader
// (tests/grading/03_gather.cpp) runs them under virtual time and checks both the results
// and the time they took: a sequential answer gets the right results in the wrong time.
#pragma once

#include <coop/coop.hpp>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace ex03 {

// A simulated network call (given: the grader supplies it). It waits `latency`, then
// returns the source's reply, "<name>:<payload>"; or it throws std::runtime_error when the
// name starts with '!'. The payload is made fresh for every grading run, so a reply can
// only come from calling fetch: call it for every source, exactly once.
coop::Task<std::string> fetch(std::string name, coop::Clock::duration latency);

struct Source {
  std::string name;
  coop::Clock::duration latency;
};

// Part 1. Fetch a and b at the same time; return both results, a's first.
coop::Task<std::pair<std::string, std::string>> fetch_both(Source a, Source b);

// Part 2. Fetch every source at the same time; results in the order of `sources`.
coop::Task<std::vector<std::string>> fetch_all(std::vector<Source> sources);

// Part 3. Like fetch_all, but a source that fails gives `fallback` instead of failing the
// whole call, and does not stop the others.
coop::Task<std::vector<std::string>> fetch_all_or(std::vector<Source> sources, std::string fallback);

// Part 4. Like fetch_all, but never more than `limit` fetches in flight at once (be kind
// to the server), and a new fetch starts as soon as one finishes (not batch by batch);
// results still in the order of `sources`. limit >= 1.
coop::Task<std::vector<std::string>> fetch_all_limited(std::vector<Source> sources, std::size_t limit);

}  // namespace ex03
