// Grader for exercise 03 — gather. Every check runs under virtual time, so "took the time of
// the longest" is exact: a sequential answer has the right results and the wrong time. The
// sources' names are new in every run, and the trace shows each fetch (one sleep of its
// source's latency), so results made up without fetching, or one sleep for the computed
// total, do not pass either.
#include "03_gather.hpp"

#include <algorithm>
#include <string_view>

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

// Starts `t`, cancels it after `after`, and says how it ended (grading::ending).
template <class T>
Task<std::string> cancelled_at(coop::Clock::duration after, Task<T> t) {
  coop::TaskHandle<T> h = coop::create_task(std::move(t), "fetch_all_or");
  co_await coop::sleep(after);
  h.cancel();
  co_return co_await grading::ending(h, 1s);
}

std::string secs(coop::Clock::duration d) { return coop::format_duration(d); }

// Source names are fresh for every run, so no answer can be written down in advance: the
// results come from calling fetch with the names it was given.
std::string fresh(std::string_view hint) { return std::string(hint) + "-" + grading::token(6); }

// The payload of every reply in this run: fresh, so a reply cannot be written down either.
const std::string& payload() {
  static const std::string secret = grading::token(12);
  return secret;
}
std::string data(const Source& s) { return s.name + ":" + payload(); }

std::string list(const std::vector<coop::Clock::duration>& v) {
  std::string s;
  for (auto d : v) s += (s.empty() ? "" : ", ") + secs(d);
  return "[" + s + "]";
}

// The fetches, as the trace shows them: each fetch is one sleep of its source's latency. An
// answer that sleeps once for the total, or computes the results without fetching, has the
// wrong sleeps; one that fetches the sources one by one has them at the wrong times.
std::vector<grading::Run::Wait> fetches(const grading::Run& run) {
  std::vector<grading::Run::Wait> out;
  for (grading::Run::Wait& w : run.waits(coop::WaitKind::sleep))
    if (w.length() > coop::Clock::duration::zero()) out.push_back(std::move(w));
  return out;
}

// Each source fetched exactly once: the sleeps' lengths are the sources' latencies.
void check_each_fetched_once(const std::vector<grading::Run::Wait>& seen, const std::vector<Source>& sources,
                             std::string_view what) {
  std::vector<coop::Clock::duration> got, want;
  for (const auto& w : seen) got.push_back(w.length());
  for (const Source& s : sources) want.push_back(s.latency);
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  grading::check(got == want,
                 fmt::format("{}: the trace shows {} fetch(es) lasting {}; expected one fetch per source, lasting "
                             "its latency: {}. Call ex03::fetch once for each source (the results must come from "
                             "fetch, not be made up), and don't add sleeps of your own",
                             what, got.size(), list(got), list(want)),
                 grading::Hint{"A reply can only come from ex03::fetch: call it once for every source, with that "
                               "source's name and latency, and return what it gives. The trace counts the fetches by "
                               "their sleeps, so a sleep of your own looks like a fetch too."});
}

// All the fetches in flight together, from the start.
void check_all_at_once(const std::vector<grading::Run::Wait>& seen, std::string_view what) {
  const int most = grading::Run::most_at_once(seen);
  grading::check(most == static_cast<int>(seen.size()),
                 fmt::format("{}: at most {} of the {} fetches were in flight at the same time; all of them should "
                             "be. Start every fetch before awaiting any (coop::gather)",
                             what, most, seen.size()),
                 grading::Hint{"A co_await on one fetch waits for it to finish before the next line runs. Make every "
                               "fetch's Task first, then await them all together with coop::gather."});
}

}  // namespace

// The service exercises/03_gather.hpp declares: sleeps `latency`, then replies with this
// run's payload (or fails for a name starting with '!').
coop::Task<std::string> ex03::fetch(std::string name, coop::Clock::duration latency) {
  co_await coop::sleep(latency);
  if (!name.empty() && name[0] == '!') throw std::runtime_error(name + " is unavailable");
  co_return data(Source{name, latency});
}

int main(int argc, char** argv) {
  grading::Grader g(3, "gather", "fetch everything at once");

  g.part("fetch_both: both at once",
         "fetch_both({a, 300 ms}, {b, 100 ms}) returns (a's reply, b's reply) after 300 ms, not 400 ms, "
         "and the trace shows both fetches in flight together (the names are new in every run).",
         {"The time should be the longer of the two latencies, not their sum.",
          "co_await fetch(a) then co_await fetch(b) runs them one after the other. Start both first.",
          "auto [x, y] = co_await coop::gather(fetch(a.name, a.latency), fetch(b.name, b.latency));"},
         [] {
           const Source a{fresh("a"), 300ms}, b{fresh("b"), 100ms};
           grading::Run run;
           auto r = grading::run(timed(ex03::fetch_both(a, b)), &run);
           const grading::Hint pair_order{"The pair is (a's reply, b's reply), whichever finishes first: gather "
                                          "gives the results in the order you passed the tasks."};
           grading::check_eq(r.value.first, data(a), "first result (a's)", pair_order);
           grading::check_eq(r.value.second, data(b), "second result (b's)", pair_order);
           const auto seen = fetches(run);
           check_each_fetched_once(seen, {a, b}, "fetch_both");
           check_all_at_once(seen, "fetch_both");
           grading::check(r.took == 300ms,
                          "took " + secs(r.took) + ", expected 300 ms: the longest, not the sum (400 ms)");
         });

  g.part("fetch_all: results in argument order",
         "fetch_all of five sources with different latencies returns their results in the order of the "
         "sources, takes the longest latency (500 ms), and fetches each source once, all at the same time.",
         {"Results must follow the order of `sources`, not the order the fetches finish in.",
          "Build a std::vector<coop::Task<std::string>>, one fetch per source, then gather the vector.",
          "std::vector<coop::Task<std::string>> ts; for (auto& s : sources) ts.push_back(fetch(s.name, s.latency)); "
          "co_return co_await coop::gather(std::move(ts));"},
         [] {
           std::vector<Source> s{{fresh("e"), 500ms}, {fresh("d"), 100ms}, {fresh("c"), 300ms},
                                 {fresh("b"), 200ms}, {fresh("a"), 400ms}};
           grading::Run run;
           auto r = grading::run(timed(ex03::fetch_all(s)), &run);
           std::vector<std::string> want;
           for (const Source& x : s) want.push_back(data(x));
           grading::check_eq(r.value, want, "fetch_all's results (in the order of the sources)");
           const auto seen = fetches(run);
           check_each_fetched_once(seen, s, "fetch_all");
           check_all_at_once(seen, "fetch_all");
           grading::check(r.took == 500ms,
                          "took " + secs(r.took) + ", expected 500 ms (the longest; the sum is 1.5 s)",
                          grading::Hint{"All five fetches must run at the same time: make all the Tasks, then one "
                                        "co_await coop::gather(std::move(tasks))."});
           auto empty = grading::run(ex03::fetch_all({}));
           grading::check(empty.empty(), "fetch_all of no sources should return no results",
                          grading::Hint{"With no sources there is nothing to fetch: return an empty vector (gather of "
                                        "an empty vector of Tasks gives one too)."});
         });

  g.part("fetch_all_or: one failure does not sink the rest",
         "fetch_all_or with a failing source ('!b', fails after 100 ms) returns the fallback in its place and "
         "the other results, after 400 ms: the others were not cancelled. Cancelled from outside, it ends cancelled "
         "(the fallback is not for a cancellation).",
         {"coop::gather cancels the other children as soon as one throws. Keep exceptions away from it.",
          "Wrap each fetch in a small coroutine of your own that catches the exception and returns the fallback.",
          "Task<std::string> fetch_or(Source s, std::string fb) { try { co_return co_await fetch(s.name, "
          "s.latency); } catch (const std::exception&) { co_return fb; } } — then gather those."},
         [] {
           const std::string fallback = grading::token(5);
           std::vector<Source> s{{fresh("a"), 400ms}, {"!" + fresh("b"), 100ms}, {fresh("c"), 200ms}};
           grading::Run run;
           auto r = grading::run(timed(ex03::fetch_all_or(s, fallback)), &run);
           grading::check_eq(r.value, std::vector<std::string>{data(s[0]), fallback, data(s[2])},
                             "fetch_all_or's results (the failing source gives the fallback)");
           const auto seen = fetches(run);
           check_each_fetched_once(seen, s, "fetch_all_or");
           check_all_at_once(seen, "fetch_all_or");
           grading::check(r.took == 400ms, "took " + secs(r.took) + ", expected 400 ms (all at once)",
                          grading::Hint{"The wrapped fetches must still run together: gather the wrappers, don't "
                                        "await them one by one."});
           // Cancelled from outside, it stops: the fallback is for a failed fetch, not for a
           // cancellation (catch (...) would catch CancelledError too, and hide it).
           const std::string how = grading::run(cancelled_at(50ms, ex03::fetch_all_or(s, fallback)));
           grading::check(how == "cancelled",
                          fmt::format("fetch_all_or, cancelled 50 ms in, ended '{}', expected 'cancelled': give the "
                                      "fallback for a failed fetch only (catch std::exception, not ...), and let "
                                      "CancelledError through",
                                      how),
                          grading::Hint{"CancelledError is not a std::exception, on purpose: catch (const "
                                        "std::exception&) catches a failed fetch and lets a cancel through. catch (...) "
                                        "catches the cancel too, and turns \"stop\" into a fallback."});
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
           for (char c = 'a'; c <= 'f'; ++c) s.push_back({fresh(std::string(1, c)), 100ms});
           std::vector<std::string> want;
           for (const Source& x : s) want.push_back(data(x));
           grading::Run run;
           auto r = grading::run(timed(ex03::fetch_all_limited(s, 2)), &run);
           const grading::Hint in_slots{"Store each result in its source's slot (out[i] for sources[i]), not in "
                                        "the order the fetches finish."};
           grading::check_eq(r.value, want, "fetch_all_limited's results (in the order of the sources)", in_slots);
           const auto seen = fetches(run);
           check_each_fetched_once(seen, s, "fetch_all_limited (limit 2)");
           const int most = grading::Run::most_at_once(seen);
           grading::check(most <= 2, fmt::format("{} fetches were in flight at once; the limit was 2: start a fetch "
                                                 "only when fewer than `limit` are running",
                                                 most),
                          grading::Hint{"Gathering every fetch at once ignores the limit. Start exactly `limit` "
                                        "workers; each fetches one source at a time, so no more than `limit` are ever "
                                        "in flight."});
           grading::check(most == 2, fmt::format("with limit 2, at most {} fetch was in flight at once: keep `limit` "
                                                 "fetches running (e.g. `limit` workers, gathered)",
                                                 most),
                          grading::Hint{"One loop that awaits each fetch in turn keeps only one in flight. Run "
                                        "`limit` workers side by side (gather them), each taking the next source."});
           grading::check(r.took == 300ms, "took " + secs(r.took) + ", expected 300 ms: 2 at a time, 3 rounds");
           grading::Run one_run;
           auto one = grading::run(timed(ex03::fetch_all_limited(s, 1)), &one_run);
           grading::check_eq(one.value, want, "fetch_all_limited's results with limit 1", in_slots);
           const auto one_seen = fetches(one_run);
           check_each_fetched_once(one_seen, s, "fetch_all_limited (limit 1)");
           grading::check(grading::Run::most_at_once(one_seen) == 1,
                          fmt::format("with limit 1, {} fetches were in flight at once; expected one at a time",
                                      grading::Run::most_at_once(one_seen)),
                          grading::Hint{"The number of workers (or of fetches started at once) must come from "
                                        "`limit`, not be fixed: with limit 1, one worker."});
           grading::check(one.took == 600ms, "with limit 1 it took " + secs(one.took) + ", expected 600 ms");
           // Uneven latencies: a free slot is used at once, not after the whole batch.
           std::vector<Source> uneven{
               {fresh("slow"), 300ms}, {fresh("x"), 100ms}, {fresh("y"), 100ms}, {fresh("z"), 100ms}};
           grading::Run u_run;
           auto u = grading::run(timed(ex03::fetch_all_limited(uneven, 2)), &u_run);
           std::vector<std::string> u_want;
           for (const Source& x : uneven) u_want.push_back(data(x));
           grading::check_eq(u.value, u_want, "fetch_all_limited's results (300, 100, 100, 100 ms; limit 2)",
                             in_slots);
           const auto u_seen = fetches(u_run);
           check_each_fetched_once(u_seen, uneven, "fetch_all_limited (300, 100, 100, 100 ms; limit 2)");
           grading::check(grading::Run::most_at_once(u_seen) <= 2,
                          fmt::format("with latencies 300, 100, 100, 100 ms and limit 2, {} fetches were in flight at "
                                      "once; the limit was 2",
                                      grading::Run::most_at_once(u_seen)),
                          grading::Hint{"A new fetch may start only when one has finished: a worker takes the next "
                                        "source after its own fetch returns, never before."});
           grading::check(u.took == 300ms, "with latencies 300, 100, 100, 100 ms and limit 2 it took " + secs(u.took) +
                                               ", expected 300 ms: start the next fetch as soon as a slot is free "
                                               "(batches of two take 400 ms)",
                          grading::Hint{"Batches (gather two, then the next two) wait for the slowest of each batch. "
                                        "Workers that each take the next source as soon as their fetch returns keep "
                                        "both slots busy."});
         });

  return g.main(argc, argv);
}
