// Grader for exercise 03 — gather. Every check runs under virtual time, so "took the time of
// the longest" is exact: a sequential answer has the right results and the wrong time.
#include "03_gather.hpp"

#include "grader.hpp"

using namespace std::chrono_literals;
using coop::Task;
using ex03::Source;

namespace {

template <class T>
struct Timed {
  T value;
  coop::Clock::duration took;
};

template <class T>
Task<Timed<T>> timed(Task<T> t) {
  const auto start = coop::now();
  T v = co_await t;
  co_return Timed<T>{std::move(v), coop::now() - start};
}

std::string secs(coop::Clock::duration d) { return coop::format_duration(d); }

}  // namespace

int main(int argc, char** argv) {
  grading::Grader g(3, "gather", "fetch everything at once");

  g.part("fetch_both: both at once",
         "fetch_both({a, 300 ms}, {b, 100 ms}) returns (\"a:data\", \"b:data\") after 300 ms, not 400 ms.",
         {"The time should be the longer of the two latencies, not their sum.",
          "co_await fetch(a) then co_await fetch(b) runs them one after the other. Start both first.",
          "auto [x, y] = co_await coop::gather(fetch(a.name, a.latency), fetch(b.name, b.latency));"},
         [] {
           auto r = grading::run(timed(ex03::fetch_both({"a", 300ms}, {"b", 100ms})));
           grading::check_eq(r.value.first, std::string("a:data"), "first result");
           grading::check_eq(r.value.second, std::string("b:data"), "second result");
           grading::check(r.took == 300ms, "took " + secs(r.took) + ", expected 300 ms: the longest, not the sum (400 ms)");
         });

  g.part("fetch_all: results in argument order",
         "fetch_all of five sources with different latencies returns their results in the order of the "
         "sources and takes the longest latency (500 ms).",
         {"Results must follow the order of `sources`, not the order the fetches finish in.",
          "Build a std::vector<coop::Task<std::string>>, one fetch per source, then gather the vector.",
          "std::vector<coop::Task<std::string>> ts; for (auto& s : sources) ts.push_back(fetch(s.name, s.latency)); "
          "co_return co_await coop::gather(std::move(ts));"},
         [] {
           std::vector<Source> s{{"e", 500ms}, {"d", 100ms}, {"c", 300ms}, {"b", 200ms}, {"a", 400ms}};
           auto r = grading::run(timed(ex03::fetch_all(s)));
           grading::check_eq(r.value, std::vector<std::string>{"e:data", "d:data", "c:data", "b:data", "a:data"},
                             "fetch_all's results");
           grading::check(r.took == 500ms, "took " + secs(r.took) + ", expected 500 ms (the longest; the sum is 1.5 s)");
           auto empty = grading::run(ex03::fetch_all({}));
           grading::check(empty.empty(), "fetch_all of no sources should return no results");
         });

  g.part("fetch_all_or: one failure does not sink the rest",
         "fetch_all_or with a failing source ('!b', fails after 100 ms) returns the fallback in its place and "
         "the other results, after 400 ms: the others were not cancelled.",
         {"coop::gather cancels the other children as soon as one throws. Keep exceptions away from it.",
          "Wrap each fetch in a small coroutine of your own that catches the exception and returns the fallback.",
          "Task<std::string> fetch_or(Source s, std::string fb) { try { co_return co_await fetch(s.name, "
          "s.latency); } catch (const std::exception&) { co_return fb; } } — then gather those."},
         [] {
           std::vector<Source> s{{"a", 400ms}, {"!b", 100ms}, {"c", 200ms}};
           grading::Run run;
           auto r = grading::run(timed(ex03::fetch_all_or(s, "n/a")), &run);
           grading::check_eq(r.value, std::vector<std::string>{"a:data", "n/a", "c:data"}, "fetch_all_or's results");
           grading::check(r.took == 400ms, "took " + secs(r.took) + ", expected 400 ms (all at once)");
         });

  g.part("fetch_all_limited: at most `limit` in flight",
         "fetch_all_limited of six 100 ms sources with limit 2 returns the results in order, after exactly "
         "300 ms (three rounds of two), never more than 2 fetches at once; with uneven latencies a free slot "
         "is used at once.",
         {"With 6 sources and room for 2 at a time, the best possible time is 3 x 100 ms.",
          "Start `limit` worker coroutines; each loops: take the next index, fetch it, store the result in "
          "its slot. Code between two awaits runs alone, so taking an index needs no lock.",
          "std::size_t next = 0; std::vector<std::string> out(n); gather `limit` workers that do "
          "`while (next < n) { auto i = next++; out[i] = co_await fetch(...); }`."},
         [] {
           std::vector<Source> s;
           for (char c = 'a'; c <= 'f'; ++c) s.push_back({std::string(1, c), 100ms});
           grading::Run run;
           auto r = grading::run(timed(ex03::fetch_all_limited(s, 2)), &run);
           grading::check_eq(r.value,
                             std::vector<std::string>{"a:data", "b:data", "c:data", "d:data", "e:data", "f:data"},
                             "fetch_all_limited's results");
           grading::check(r.took == 300ms, "took " + secs(r.took) + ", expected 300 ms: 2 at a time, 3 rounds");
           // The sleeps inside fetch are the fetches in flight: count timers pending at once.
           int in_flight = 0, most = 0;
           for (const coop::TraceEvent& e : run.trace.events()) {
             if (e.kind == coop::TraceEvent::Kind::suspended && e.wait == coop::WaitKind::sleep) most = std::max(most, ++in_flight);
             if (e.kind == coop::TraceEvent::Kind::woken) in_flight = std::max(0, in_flight - 1);
           }
           grading::check(most <= 2, fmt::format("{} fetches were in flight at once; the limit was 2", most));
           auto one = grading::run(timed(ex03::fetch_all_limited(s, 1)));
           grading::check(one.took == 600ms, "with limit 1 it took " + secs(one.took) + ", expected 600 ms");
           // Uneven latencies: a free slot is used at once, not after the whole batch.
           std::vector<Source> uneven{{"slow", 300ms}, {"x", 100ms}, {"y", 100ms}, {"z", 100ms}};
           auto u = grading::run(timed(ex03::fetch_all_limited(uneven, 2)));
           grading::check_eq(u.value, std::vector<std::string>{"slow:data", "x:data", "y:data", "z:data"},
                             "fetch_all_limited's results (300, 100, 100, 100 ms; limit 2)");
           grading::check(u.took == 300ms, "with latencies 300, 100, 100, 100 ms and limit 2 it took " + secs(u.took) +
                                               ", expected 300 ms: start the next fetch as soon as a slot is free "
                                               "(batches of two take 400 ms)");
         });

  return g.main(argc, argv);
}
