// Grader for exercise 05 — cancellation. Each part cancels the student's code in the middle
// of its work (directly, or through a time limit) under virtual time, then checks how it
// ended: cancelled rather than returned (a swallowed CancelledError fails), its cleanup
// finished before the canceller heard of the end (an un-awaited rollback fails), and no
// task or connection left behind (a timeout that does not cancel fails).
#include "05_cancellation.hpp"

#include <map>

#include "exercise.hpp"
#include "grader.hpp"

using namespace std::chrono_literals;
using coop::Clock;
using coop::Task;
using coop::TaskHandle;
using ex05::Item;
using ex05::Job;
using ex05::Server;
using ex05::Store;

namespace {

using Kind = coop::TraceEvent::Kind;
using Results = std::vector<std::optional<std::string>>;

std::string secs(Clock::duration d) { return d == Clock::duration::zero() ? "0 ms" : coop::format_duration(d); }

// When the running loop's run() began: times are made relative to it.
Clock::time_point run_start() { return coop::now() - grading::elapsed(); }

std::string show(const Results& r) {
  std::string s;
  for (const auto& x : r) s += (s.empty() ? "" : ", ") + (x ? "\"" + *x + "\"" : std::string("nullopt"));
  return "{" + s + "}";
}

// Names of the tasks other than main that the trace shows spawned and not (yet) finished.
std::vector<std::string> alive(const grading::Run& run) {
  std::map<std::uint64_t, std::string> live;
  for (const coop::TraceEvent& e : run.trace.events()) {
    if (e.task_name == "main" || e.task_name == "probe") continue;
    if (e.kind == Kind::spawned) live[e.task] = e.task_name;
    if (e.kind == Kind::finished) live.erase(e.task);
  }
  std::vector<std::string> names;
  for (const auto& [id, name] : live) names.push_back(name);
  return names;
}

void check_no_warnings(const grading::Run& run) {
  for (const coop::Diagnostic& d : run.diagnostics)
    if (d.kind != coop::Diagnostic::Kind::slow_step)
      grading::fail("the runtime warned: " + d.message,
                    grading::Hint{"The warning names the task. Let CancelledError out (catch it only to clean up, "
                                  "then re-throw), and await every task you start, so that its failure reaches "
                                  "someone."});
}

// Names, keys and rows are fresh for every run, so no answer can be written down in advance.
std::string fresh(std::string_view hint) { return std::string(hint) + "-" + grading::token(5); }

// What fetch answers for `key` in this run: the payload is fresh too.
std::string reply(const std::string& key) {
  static const std::string payload = grading::token(12);
  return key + ":" + payload;
}

// Looks at the server 1 ms into the run, when every fetch the code under test started at
// once is in flight: a fetch opens a connection, so an answer that makes its results up
// without calling ex05::fetch has none open.
Task<void> probe(const Server& server, int& open) {
  co_await coop::sleep(1ms);
  open = server.open;
}

void check_fetches_in_flight(int open, int want, std::string_view what, std::string_view fn) {
  grading::check(open == want, fmt::format("{}: 1 ms in, {} connection(s) were open on the server, expected {}: {} "
                                           "must call ex05::fetch{} (its results come from there)",
                                           what, open, want, fn, want > 1 ? " for every job at once" : ""),
                 grading::Hint{"The results can only come from ex05::fetch: call it for each job, and start every "
                               "fetch at once (the server counts the connections open 1 ms in)."});
}

// What the canceller saw: how the task ended, and when (relative to the run's start).
struct Seen {
  std::string ending;
  Clock::duration at{};
};

template <class T>
Task<Seen> cancel_at(TaskHandle<T> h, Clock::duration when) {
  const Clock::time_point start = run_start();
  co_await coop::sleep(when - grading::elapsed());
  h.cancel();
  Seen s;
  s.ending = co_await grading::ending(h, 1s);
  s.at = coop::now() - start;
  co_return s;
}

// ---- part 1 -----------------------------------------------------------------------------------

struct Processed {
  int done = 0;
  Clock::duration took{};
};
Task<Processed> part1(std::vector<Item> items, std::vector<std::string>& journal) {
  const Clock::time_point start = coop::now();
  Processed p;
  p.done = co_await ex05::process(std::move(items), journal);
  p.took = coop::now() - start;
  co_return p;
}

Task<Seen> part1_cancelled(std::vector<Item> items, std::vector<std::string>& journal, Clock::duration when) {
  TaskHandle<int> h = coop::create_task(ex05::process(std::move(items), journal), "worker");
  co_return co_await cancel_at(h, when);
}

std::string show(const std::vector<std::string>& v) { return fmt::format("{}", v); }

// ---- part 2 -----------------------------------------------------------------------------------

struct Imported {
  Seen seen;
  int rollbacks_when_seen = 0;  // rollbacks finished when the canceller saw the end
  Clock::duration rolled_back_at{};
};

Task<Imported> part2(Store& store, std::vector<std::string> rows, Clock::duration when) {
  const Clock::time_point start = run_start();
  TaskHandle<void> h = coop::create_task(ex05::import_rows(store, std::move(rows)), "import");
  Imported r;
  r.seen = co_await cancel_at(h, when);
  r.rollbacks_when_seen = store.rollbacks;
  r.rolled_back_at = store.rolled_back_at - start;
  co_return r;
}

void check_import_cancelled(const grading::Run& run, const Imported& r, const Store& store, Clock::duration when,
                            const std::string& during) {
  const std::string what = fmt::format("cancelled at {} ({})", secs(when), during);
  grading::check(r.seen.ending == "cancelled",
                 fmt::format("{}: import_rows ended '{}', expected 'cancelled': re-throw the CancelledError after "
                             "the rollback",
                             what, r.seen.ending),
                 grading::Hint{"After the rollback, std::rethrow_exception the CancelledError you kept: a cancelled "
                               "import must end cancelled, not return."});
  grading::check(r.rollbacks_when_seen == 1,
                 fmt::format("{}: when the canceller saw import_rows end, at {}, {} rollback(s) had finished, "
                             "expected 1: co_await rollback(store) before re-throwing",
                             what, secs(r.seen.at), r.rollbacks_when_seen));
  grading::check(r.rolled_back_at == when + 40ms && r.seen.at == when + 40ms,
                 fmt::format("{}: the rollback finished at {} and the canceller saw the end at {}, expected both at "
                             "{} (the rollback's 40 ms round trip, begun as soon as the cancellation came)",
                             what, secs(r.rolled_back_at), secs(r.seen.at), secs(when + 40ms)),
                 grading::Hint{"Begin the rollback as soon as the cancel arrives, whether it comes during a write or "
                               "the commit: one try around the writes and the commit, the rollback right after it."});
  grading::check(run.finished_at("import") == when + 40ms,
                 fmt::format("{}: the import task finished at {}, expected {}", what, secs(run.finished_at("import")),
                             secs(when + 40ms)),
                 grading::Hint{"After the rollback, re-throw at once: the task ends when the rollback is over."});
  grading::check(store.committed.empty(), fmt::format("{}: rows were committed: {}", what, show(store.committed)),
                 grading::Hint{"A cancelled import commits nothing: the commit belongs inside the try, so that the "
                               "cancel skips it."});
  grading::check(store.uncommitted.empty(),
                 fmt::format("{}: rows left uncommitted: {}", what, show(store.uncommitted)),
                 grading::Hint{"co_await rollback(store) on the cancelled path: it takes back the rows written so "
                               "far."});
  check_no_warnings(run);
}

// ---- part 3 -----------------------------------------------------------------------------------

struct Fetched {
  std::string value;                // the result, or "threw: <what>"
  Clock::duration at{};             // when fetch_or returned or threw
  int open = 0;                     // connections open then
  std::vector<std::string> alive;   // tasks still running then
};

Task<Fetched> part3(Server& server, std::string key, Clock::duration takes, Clock::duration limit,
                    std::string fallback, const grading::Run& run, int& open_at_1ms) {
  const Clock::time_point start = run_start();
  TaskHandle<void> looking = coop::create_task(probe(server, open_at_1ms), "probe");
  Fetched f;
  try {
    f.value = co_await ex05::fetch_or(server, std::move(key), takes, limit, std::move(fallback));
  } catch (const exercise::NotDone&) {
    throw;
  } catch (const std::exception& e) {
    f.value = std::string("threw: ") + e.what();
  }
  f.at = coop::now() - start;
  f.open = server.open;
  f.alive = alive(run);
  co_await grading::stop(looking);
  co_return f;
}

Task<Fetched> part3_cancelled(Server& server, Clock::duration when, const grading::Run& run) {
  TaskHandle<std::string> h =
      coop::create_task(ex05::fetch_or(server, fresh("d"), 500ms, 300ms, fresh("cached")), "fetch_or");
  const Seen s = co_await cancel_at(h, when);
  co_return Fetched{s.ending, s.at, server.open, alive(run)};
}

void check_fetched(const Fetched& f, const std::string& what, const std::string& value, Clock::duration at) {
  grading::check(f.value == value, fmt::format("{}: fetch_or gave \"{}\", expected \"{}\"", what, f.value, value),
                 grading::Hint{"Four endings, four answers: the fetch's result when it comes in time; the fallback "
                               "only on coop::TimeoutError; a failed fetch's own exception; and a cancel of fetch_or "
                               "itself goes through as CancelledError."});
  grading::check(f.at == at, fmt::format("{}: fetch_or ended at {}, expected {}", what, secs(f.at), secs(at)),
                 grading::Hint{"coop::wait_for ends when the fetch does, or at the limit, whichever is first: await it "
                               "and nothing else (no sleep of your own)."});
  grading::check(f.open == 0 && f.alive.empty(),
                 fmt::format("{}: when fetch_or ended, {} connection(s) were open and these tasks still ran: {}. "
                             "The fetch must be cancelled and finished (wait_for does both)",
                             what, f.open, show(f.alive)));
}

// ---- part 4 -----------------------------------------------------------------------------------

struct Within {
  Results results;
  Clock::duration at{};
  int open = 0;
  std::vector<std::string> alive;
};

Task<Within> part4(Server& server, std::vector<Job> jobs, Clock::duration limit, const grading::Run& run,
                   int& open_at_1ms) {
  const Clock::time_point start = run_start();
  TaskHandle<void> looking = coop::create_task(probe(server, open_at_1ms), "probe");
  Within w;
  w.results = co_await ex05::fetch_all_within(server, std::move(jobs), limit);
  w.at = coop::now() - start;
  w.open = server.open;
  w.alive = alive(run);
  co_await grading::stop(looking);
  co_return w;
}

Task<Within> part4_cancelled(Server& server, std::vector<Job> jobs, Clock::duration limit, Clock::duration when,
                             const grading::Run& run, std::string& how) {
  TaskHandle<Results> h = coop::create_task(ex05::fetch_all_within(server, std::move(jobs), limit), "batch");
  const Seen s = co_await cancel_at(h, when);
  how = s.ending;
  Within w;
  w.at = s.at;
  w.open = server.open;
  w.alive = alive(run);
  co_return w;
}

void check_within(const Within& w, const std::string& what, const Results& results, Clock::duration at) {
  grading::check(w.results == results,
                 fmt::format("{}: got {}, expected {}", what, show(w.results), show(results)));
  grading::check(w.at == at, fmt::format("{}: fetch_all_within ended at {}, expected {}", what, secs(w.at), secs(at)),
                 grading::Hint{"One coop::wait_for around one gather of every fetch: it ends at the limit, or when the "
                               "last fetch arrives if that is sooner."});
  grading::check(w.open == 0 && w.alive.empty(),
                 fmt::format("{}: when fetch_all_within ended, {} connection(s) were open and these tasks still "
                             "ran: {}. Cancel the late fetches and wait until they have finished",
                             what, w.open, show(w.alive)),
                 grading::Hint{"wait_for cancels what it waits on at the limit and waits for it to finish, and gather "
                               "does the same for its children: put the fetches in a gather inside the wait_for, not "
                               "in tasks of your own."});
}

}  // namespace

// The service exercises/05_cancellation.hpp declares: one open connection while it waits.
coop::Task<std::string> ex05::fetch(Server& server, std::string key, coop::Clock::duration takes) {
  ++server.open;
  try {
    co_await coop::sleep(takes);
  } catch (const coop::CancelledError&) {
    --server.open;  // nothing to await here, so the cleanup can stay inside the handler
    throw;
  }
  --server.open;
  if (!key.empty() && key[0] == '!') throw std::runtime_error(key + " not found");
  co_return reply(key);
}

int main(int argc, char** argv) {
  grading::Grader g(5, "cancellation", "clean up, then re-throw");

  g.part("process: a failure is skipped, a cancellation is re-thrown",
         "process logs and skips an item that throws a std::exception; cancelled at 250 ms during item 'c', it logs "
         "\"cancelled at c\", starts no further item, and ends cancelled (not returned).",
         {"Errors and cancellations are different exceptions: coop::CancelledError is not a std::exception.",
          "Two handlers on the try around co_await do_item(item): catch (const std::exception& e) logs and goes "
          "on; catch (const coop::CancelledError&) logs and re-throws. A catch (...) that goes on swallows the "
          "cancellation.",
          "try { co_await do_item(item); journal.push_back(\"done \" + item.name); ++done; } catch (const "
          "std::exception& e) { journal.push_back(\"skipped \" + item.name + \": \" + e.what()); } catch (const "
          "coop::CancelledError&) { journal.push_back(\"cancelled at \" + item.name); throw; }"},
         [] {
           const std::string a = fresh("a"), b = fresh("b"), c = fresh("c"), d = fresh("d");
           const std::vector<Item> items{{a, 100ms}, {b, 100ms, true}, {c, 100ms}, {d, 100ms}};
           const std::string skipped_b = "skipped " + b + ": " + b + " is broken";
           {
             std::vector<std::string> journal;
             grading::Run run;
             const Processed p = grading::run(part1(items, journal), &run);
             grading::check_eq(journal,
                               std::vector<std::string>{"done " + a, skipped_b, "done " + c, "done " + d},
                               "the journal, not cancelled",
                               grading::Hint{"Journal each item as it ends: \"done <name>\" when it succeeds, "
                                             "\"skipped <name>: <what()>\" when it throws a std::exception, and go on "
                                             "to the next item."});
             grading::check_eq(p.done, 3, "process's result (items done), not cancelled",
                               grading::Hint{"Return how many items succeeded; a skipped item does not count."});
             grading::check(p.took == 400ms, "not cancelled, process took " + secs(p.took) + ", expected 400 ms",
                            grading::Hint{"Process each item once, one after another: co_await do_item(item), "
                                          "nothing more."});
             check_no_warnings(run);
           }
           {
             std::vector<std::string> journal;
             grading::Run run;
             const Seen s = grading::run(part1_cancelled(items, journal, 250ms), &run);
             grading::check_eq(journal, std::vector<std::string>{"done " + a, skipped_b, "cancelled at " + c},
                               "the journal, cancelled at 250 ms",
                               grading::Hint{"When the cancel comes, journal \"cancelled at <name>\" for the item in "
                                             "progress and re-throw at once: no item starts after it."});
             grading::check(s.ending == "cancelled",
                            "cancelled at 250 ms, process ended '" + s.ending +
                                "', expected 'cancelled': log, then `throw;` the CancelledError");
             grading::check(s.at == 250ms, "cancelled at 250 ms, the canceller saw the end at " + secs(s.at) +
                                               ", expected 250 ms: stop at once",
                            grading::Hint{"Re-throw from the CancelledError handler right away: no further item, no "
                                          "sleep, after a cancel."});
             check_no_warnings(run);
           }
         });

  g.part("import_rows: roll back (awaited), then re-throw",
         "import_rows of 3 rows (100 ms each, commit 50 ms) cancelled at 250 ms, or at 320 ms during the commit: "
         "the rollback (40 ms) finishes before the canceller sees the task end, cancelled, 40 ms later; nothing is "
         "committed.",
         {"The cleanup here takes time (co_await rollback(store)), and it must be over before the task ends.",
          "C++ forbids co_await inside a catch block. Keep the CancelledError in a std::exception_ptr "
          "(std::current_exception()), leave the handler, co_await the rollback, then re-throw it.",
          "std::exception_ptr c; try { for (auto& r : rows) co_await write_row(store, r); co_await commit(store); "
          "} catch (const coop::CancelledError&) { c = std::current_exception(); } if (c) { co_await "
          "rollback(store); std::rethrow_exception(c); }"},
         [] {
           const std::vector<std::string> rows{fresh("r1"), fresh("r2"), fresh("r3")};
           {
             Store store;
             grading::Run run;
             grading::run(ex05::import_rows(store, rows), &run);
             grading::check_eq(store.committed, rows, "committed rows, not cancelled",
                               grading::Hint{"Write every row (write_row), in order, then commit once."});
             grading::check(store.rollbacks == 0, "not cancelled, import_rows still rolled back",
                            grading::Hint{"Roll back only when a cancellation was caught: the std::exception_ptr "
                                          "stays empty on the normal path, and nothing is rolled back."});
             grading::check(run.finished_at("main") == 350ms,
                            "not cancelled, import_rows took " + secs(run.finished_at("main")) +
                                ", expected 350 ms (3 writes and the commit)",
                            grading::Hint{"Without a cancel, import_rows is the writes, one after another, then the "
                                          "commit: nothing else is awaited."});
             check_no_warnings(run);
           }
           {
             Store store;
             grading::Run run;
             const Imported r = grading::run(part2(store, rows, 250ms), &run);
             check_import_cancelled(run, r, store, 250ms, "during the 3rd write");
           }
           {
             Store store;
             grading::Run run;
             const Imported r = grading::run(part2(store, rows, 320ms), &run);
             check_import_cancelled(run, r, store, 320ms, "during the commit");
           }
         });

  g.part("fetch_or: a time limit with a fallback",
         "fetch_or returns the result when it arrives within the limit, the fallback at the limit when not (with "
         "the fetch cancelled and its connection closed), lets a failed fetch's error through, and ends cancelled "
         "when cancelled.",
         {"A time limit is a cancellation: coop::wait_for cancels the fetch when the limit passes, waits for it, "
          "and throws coop::TimeoutError.",
          "Catch coop::TimeoutError and only that: catch (...) or catch (const std::exception&) would also turn a "
          "failed fetch (or catch (...) a cancellation of fetch_or) into the fallback.",
          "try { co_return co_await coop::wait_for(fetch(server, key, takes), limit); } catch (const "
          "coop::TimeoutError&) { co_return fallback; }"},
         [] {
           const std::string fallback = fresh("cached");
           {
             Server server;
             grading::Run run;
             const std::string key = fresh("a");
             int open = -1;
             const Fetched f = grading::run(part3(server, key, 100ms, 200ms, fallback, run, open), &run);
             check_fetches_in_flight(open, 1, "fetch 100 ms, limit 200 ms", "fetch_or");
             check_fetched(f, "fetch 100 ms, limit 200 ms", reply(key), 100ms);
             check_no_warnings(run);
           }
           {
             Server server;
             grading::Run run;
             int open = -1;
             const Fetched f = grading::run(part3(server, fresh("b"), 500ms, 200ms, fallback, run, open), &run);
             check_fetches_in_flight(open, 1, "fetch 500 ms, limit 200 ms", "fetch_or");
             check_fetched(f, "fetch 500 ms, limit 200 ms", fallback, 200ms);
             check_no_warnings(run);
           }
           {
             Server server;
             grading::Run run;
             const std::string key = "!" + fresh("c");
             int open = -1;
             const Fetched f = grading::run(part3(server, key, 100ms, 200ms, fallback, run, open), &run);
             check_fetches_in_flight(open, 1, "a failing fetch (100 ms, limit 200 ms)", "fetch_or");
             check_fetched(f, "a failing fetch (100 ms, limit 200 ms)", "threw: " + key + " not found", 100ms);
           }
           {
             Server server;
             grading::Run run;
             check_fetched(grading::run(part3_cancelled(server, 100ms, run), &run),
                           "fetch 500 ms, limit 300 ms, fetch_or cancelled at 100 ms", "cancelled", 100ms);
             check_no_warnings(run);
           }
         });

  g.part("fetch_all_within: cancel the late ones, keep what arrived",
         "fetch_all_within of fetches taking 100, 300, 200 and 500 ms with a 250 ms limit returns {a, nullopt, c, "
         "nullopt} at 250 ms, with the late fetches cancelled and closed; all in time: every result at the longest "
         "fetch; cancelled: ends cancelled.",
         {"When the limit cuts a gather short, gather's own result is lost: it is cancelled and returns nothing.",
          "Let each fetch write its result into its own slot (a std::optional in a vector that fetch_all_within "
          "owns) the moment it arrives. Referring to that vector is safe: gather and wait_for never let a child "
          "outlive them.",
          "std::vector<std::optional<std::string>> out(jobs.size()); one `Task<void> fetch_into(Server&, Job, "
          "std::optional<std::string>& slot) { slot = co_await fetch(...); }` per job; try { co_await "
          "coop::wait_for(coop::gather(std::move(tasks)), limit); } catch (const coop::TimeoutError&) {} co_return "
          "out;"},
         [] {
           const std::vector<Job> jobs{{fresh("a"), 100ms}, {fresh("b"), 300ms}, {fresh("c"), 200ms},
                                       {fresh("d"), 500ms}};
           auto data = [&](std::size_t i) { return std::optional<std::string>(reply(jobs[i].key)); };
           {
             Server server;
             grading::Run run;
             int open = -1;
             const Within w = grading::run(part4(server, jobs, 250ms, run, open), &run);
             check_fetches_in_flight(open, 4, "limit 250 ms", "fetch_all_within");
             check_within(w, "limit 250 ms", {data(0), std::nullopt, data(2), std::nullopt}, 250ms);
             check_no_warnings(run);
           }
           {
             Server server;
             grading::Run run;
             int open = -1;
             const Within w = grading::run(part4(server, jobs, 1s, run, open), &run);
             check_fetches_in_flight(open, 4, "limit 1 s", "fetch_all_within");
             check_within(w, "limit 1 s", {data(0), data(1), data(2), data(3)}, 500ms);
             check_no_warnings(run);
           }
           {
             Server server;
             grading::Run run;
             int open = -1;
             check_within(grading::run(part4(server, {}, 250ms, run, open), &run), "no jobs", {}, 0ms);
           }
           {
             Server server;
             grading::Run run;
             std::string how;
             const Within w = grading::run(part4_cancelled(server, jobs, 250ms, 150ms, run, how), &run);
             grading::check(how == "cancelled", "cancelled at 150 ms, fetch_all_within ended '" + how +
                                                    "', expected 'cancelled': catch coop::TimeoutError only",
                            grading::Hint{"A CancelledError aimed at fetch_all_within must leave it: catch "
                                          "coop::TimeoutError, and nothing wider."});
             check_within(w, "limit 250 ms, fetch_all_within cancelled at 150 ms", {}, 150ms);
             check_no_warnings(run);
           }
         });

  return g.main(argc, argv);
}
