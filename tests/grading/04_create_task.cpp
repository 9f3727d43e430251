// Grader for exercise 04 — create_task. Every check runs under virtual time, so the beat and
// flush times are exact: a background task that does not run beside the main work, runs
// late, or is left running when the function returns, shows up in the numbers and in the
// loop's trace.
#include "04_create_task.hpp"

#include <map>

#include "exercise.hpp"
#include "grader.hpp"

using namespace std::chrono_literals;
using coop::Clock;
using coop::Task;
using coop::TaskHandle;
using ex04::Flush;
using ex04::Health;
using ex04::Metrics;
using ex04::Request;

namespace {

using Kind = coop::TraceEvent::Kind;

std::string secs(Clock::duration d) { return d == Clock::duration::zero() ? "0 ms" : coop::format_duration(d); }

// When the running loop's run() began: times in Health and Metrics are made relative to it.
Clock::time_point run_start() { return coop::now() - grading::elapsed(); }

std::vector<Clock::duration> since(const std::vector<Clock::time_point>& at, Clock::time_point start) {
  std::vector<Clock::duration> out;
  for (const auto& t : at) out.push_back(t - start);
  return out;
}

std::string list(const std::vector<Clock::duration>& v) {
  std::string s;
  for (const auto& d : v) s += (s.empty() ? "" : ", ") + secs(d);
  return "[" + s + "]";
}

// Flushes as "at: count" pairs, relative to the run's start.
using Flushes = std::vector<std::pair<Clock::duration, int>>;
Flushes flushes_of(const Metrics& m, Clock::time_point start) {
  Flushes out;
  for (const Flush& f : m.flushes) out.emplace_back(f.at - start, f.requests);
  return out;
}
std::string list(const Flushes& v) {
  std::string s;
  for (const auto& [at, n] : v) s += fmt::format("{}{} at {}", s.empty() ? "" : ", ", n, secs(at));
  return "[" + s + "]";
}

// Tasks named `name` that the trace shows spawned and not (yet) finished.
int alive(const grading::Run& run, std::string_view name) {
  std::map<std::uint64_t, bool> live;
  for (const coop::TraceEvent& e : run.trace.events()) {
    if (e.task_name != name) continue;
    if (e.kind == Kind::spawned) live[e.task] = true;
    if (e.kind == Kind::finished) live.erase(e.task);
  }
  return static_cast<int>(live.size());
}

int spawned(const grading::Run& run, std::string_view name) {
  int n = 0;
  for (const coop::TraceEvent& e : run.trace.events()) n += e.kind == Kind::spawned && e.task_name == name ? 1 : 0;
  return n;
}

// How each task named `name` ended, in spawn order ("failed", "cancelled", "pending", ...).
std::vector<std::string> outcomes(const grading::Run& run, std::string_view name) {
  std::vector<std::uint64_t> ids;
  std::map<std::uint64_t, coop::Outcome> how;
  for (const coop::TraceEvent& e : run.trace.events()) {
    if (e.task_name != name) continue;
    if (e.kind == Kind::spawned) ids.push_back(e.task);
    if (e.kind == Kind::finished) how[e.task] = e.outcome;
  }
  std::vector<std::string> out;
  for (std::uint64_t id : ids) out.emplace_back(coop::to_string(how.count(id) ? how[id] : coop::Outcome::pending));
  return out;
}

void check_no_warnings(const grading::Run& run) {
  for (const coop::Diagnostic& d : run.diagnostics)
    if (d.kind != coop::Diagnostic::Kind::slow_step)
      grading::fail("the runtime warned: " + d.message,
                    grading::Hint{"The warning names the task. A task must let CancelledError out (catch it only to "
                                  "clean up, then re-throw), and every task you start must be awaited, so that its "
                                  "failure reaches someone."});
}

// ---- part 1 -----------------------------------------------------------------------------------

struct Part1 {
  std::size_t beats_at_return = 0;
  bool done_at_return = true;
  std::string name;
  std::vector<Clock::duration> beats;
  std::string ending;
};

Task<Part1> part1(Health& health) {
  Part1 r;
  const Clock::time_point start = run_start();
  TaskHandle<void> h = ex04::start_heartbeat(health, 100ms);
  r.beats_at_return = health.beats.size();
  r.done_at_return = h.done();
  r.name = h.name();
  co_await coop::sleep(350ms);  // main's own work; the heartbeat beats meanwhile
  r.beats = since(health.beats, start);
  h.cancel();
  r.ending = co_await grading::ending(h, 1s);
  co_return r;
}

// ---- part 2 -----------------------------------------------------------------------------------

struct Served {
  Clock::duration took{};
  Flushes flushes;
  int pending = 0;
  int flushers_alive = 0;  // at the moment serve returned
  int flushers = 0;        // started
};

Task<Served> part2(Metrics& m, std::vector<Request> requests, Clock::duration period, const grading::Run& run) {
  const Clock::time_point start = run_start();
  co_await ex04::serve(m, std::move(requests), period);
  Served s;
  s.took = coop::now() - start;
  s.flushes = flushes_of(m, start);
  s.pending = m.pending;
  s.flushers_alive = alive(run, "flusher");
  s.flushers = spawned(run, "flusher");
  co_return s;
}

void check_served(const Served& s, const grading::Run& run, Clock::duration took, const Flushes& flushes) {
  grading::check(s.flushers == 1, fmt::format("serve started {} tasks named \"flusher\", expected 1 "
                                              "(coop::create_task(flusher(m, period), \"flusher\"))",
                                              s.flushers),
                 grading::Hint{"Start the flusher once, before the requests, as a task named \"flusher\" "
                               "(create_task's second argument is the name)."});
  grading::check(s.took == took, fmt::format("serve took {}, expected {}: the requests one after another, and "
                                             "the flusher beside them costing no time",
                                             secs(s.took), secs(took)),
                 grading::Hint{"Await the requests one after another, and never wait for the flusher's period: it runs "
                               "beside them; stopping it takes no loop time."});
  grading::check(s.flushers_alive == 0,
                 "the flusher was still running when serve returned: stop it before you return; cancel() only "
                 "asks, so co_await the handle after it",
                 grading::Hint{"cancel() only asks: the flusher stops at its next await, on a later turn. co_await its "
                               "handle after cancel(), and catch the CancelledError that ends it."});
  grading::check(s.flushes == flushes,
                 fmt::format("flushes (requests at time): got {}, expected {}", list(s.flushes), list(flushes)),
                 grading::Hint{"The flusher sleeps `period`, then flushes, again and again; serve flushes once more "
                               "itself after stopping it (the last flush)."});
  grading::check(s.pending == 0, fmt::format("{} requests were left unflushed", s.pending),
                 grading::Hint{"Once the flusher is stopped, flush once more: the requests since its last flush are "
                               "still pending."});
  grading::check_eq(std::string(coop::to_string(run.outcome("flusher"))), std::string("cancelled"),
                    "how the flusher ended",
                    grading::Hint{"Stop the flusher with cancel(), and let the CancelledError leave the flusher's loop "
                                  "(don't catch it there): then it ends cancelled."});
  check_no_warnings(run);
}

// ---- part 3 -----------------------------------------------------------------------------------

struct Monitored {
  Clock::duration at{};  // when serve_monitored returned or threw
  std::string error;     // what it threw ("" if it returned)
  Flushes flushes;
  std::vector<Clock::duration> beats;
  int alive_heartbeats = 0, alive_flushers = 0;  // when it returned or threw
  int heartbeats = 0, flushers = 0;              // started
};

void snapshot(Monitored& r, const Metrics& m, const Health& h, Clock::time_point start, const grading::Run& run) {
  r.at = coop::now() - start;
  r.flushes = flushes_of(m, start);
  r.beats = since(h.beats, start);
  r.alive_heartbeats = alive(run, "heartbeat");
  r.alive_flushers = alive(run, "flusher");
  r.heartbeats = spawned(run, "heartbeat");
  r.flushers = spawned(run, "flusher");
}

Task<Monitored> part3(Metrics& m, Health& h, std::vector<Request> requests, const grading::Run& run) {
  const Clock::time_point start = run_start();
  Monitored r;
  try {
    co_await ex04::serve_monitored(m, h, std::move(requests), 250ms, 140ms);
  } catch (const std::runtime_error& e) {
    r.error = e.what();
  }
  snapshot(r, m, h, start, run);
  co_return r;
}

// The caller cancels serve_monitored at `cancel_at`; the snapshot is taken when the
// caller's co_await on it ends.
Task<Monitored> part3_cancelled(Metrics& m, Health& h, std::vector<Request> requests, Clock::duration cancel_at,
                                const grading::Run& run) {
  const Clock::time_point start = run_start();
  TaskHandle<void> t =
      coop::create_task(ex04::serve_monitored(m, h, std::move(requests), 250ms, 140ms), "serve_monitored");
  co_await coop::sleep(cancel_at);
  t.cancel();
  Monitored r;
  r.error = co_await grading::ending(t, 1s);
  snapshot(r, m, h, start, run);
  co_return r;
}

void check_monitored(const Monitored& r, const std::string& path, Clock::duration at,
                     const std::vector<Clock::duration>& beats, const Flushes& flushes) {
  grading::check(r.heartbeats == 1 && r.flushers == 1,
                 fmt::format("{}: {} \"heartbeat\" and {} \"flusher\" tasks were started, expected one of each", path,
                             r.heartbeats, r.flushers),
                 grading::Hint{"Start one heartbeat (start_heartbeat) and one task named \"flusher\", before the "
                               "requests; nothing restarts them."});
  grading::check(r.alive_heartbeats == 0 && r.alive_flushers == 0,
                 fmt::format("{}: when serve_monitored ended at {}, {} still running: stop (cancel and await) "
                             "both on every path before the exception leaves",
                             path, secs(r.at),
                             r.alive_heartbeats > 0 && r.alive_flushers > 0 ? "the heartbeat and the flusher were"
                             : r.alive_heartbeats > 0                      ? "the heartbeat was"
                                                                           : "the flusher was"),
                 grading::Hint{"Put the requests in a try, keep what a catch (...) catches, and after the try "
                               "(whatever happened) cancel and co_await both tasks; only then re-throw."});
  grading::check(r.at == at, fmt::format("{}: serve_monitored ended at {}, expected {}", path, secs(r.at), secs(at)),
                 grading::Hint{"Stopping takes no loop time: stop both tasks as soon as the requests end, fail or are "
                               "cancelled, and don't wait for the next beat or flush."});
  grading::check(r.beats == beats,
                 fmt::format("{}: heartbeat beats at {}, expected {}", path, list(r.beats), list(beats)),
                 grading::Hint{"The heartbeat runs beside the requests from the start (beat_every apart) until "
                               "serve_monitored stops it."});
  grading::check(r.flushes == flushes,
                 fmt::format("{}: flushes (requests at time): got {}, expected {} (the last one the final flush)", path,
                             list(r.flushes), list(flushes)),
                 grading::Hint{"Flush once more after stopping the flusher, on every path: also when a request "
                               "failed or serve_monitored was cancelled."});
}

// ---- part 4 -----------------------------------------------------------------------------------

struct Supervised {
  std::string ending;                  // how the supervisor ended, as the canceller saw it
  Clock::duration at{};                // when the canceller saw it
  int alive_heartbeats = 0;            // at that moment
  std::vector<Clock::duration> beats;  // relative to the run's start
};

Task<Supervised> part4(Health& health, Clock::duration every, Clock::duration backoff, Clock::duration cancel_at,
                       const grading::Run& run) {
  const Clock::time_point start = run_start();
  TaskHandle<void> sup = coop::create_task(ex04::supervise(health, every, backoff), "supervisor");
  co_await coop::sleep(cancel_at);
  sup.cancel();
  Supervised s;
  s.ending = co_await grading::ending(sup, 1s);
  s.at = coop::now() - start;
  s.alive_heartbeats = alive(run, "heartbeat");
  s.beats = since(health.beats, start);
  co_return s;
}

void check_supervised(const grading::Run& run, const Supervised& s, const Health& health, const std::string& what,
                      Clock::duration at, const std::vector<Clock::duration>& beats, int crashes,
                      const std::vector<std::string>& heartbeat_outcomes) {
  grading::check(s.ending == "cancelled",
                 fmt::format("{}: after cancel() the supervisor ended '{}', expected 'cancelled' (re-throw the "
                             "CancelledError once the heartbeat is stopped)",
                             what, s.ending),
                 grading::Hint{"A supervisor that catches its CancelledError must re-throw it after stopping the "
                               "heartbeat; otherwise it returns, or restarts, instead of stopping."});
  grading::check(s.alive_heartbeats == 0,
                 fmt::format("{}: the supervisor ended, but its heartbeat was still running: cancelling the "
                             "supervisor abandons its co_await on the handle, not the heartbeat; stop it too",
                             what),
                 grading::Hint{"Catch the CancelledError from co_await on the heartbeat's handle, keep it, leave the "
                               "catch block, cancel and await the heartbeat, then re-throw."});
  grading::check(s.at == at, fmt::format("{}: the supervisor ended at {}, expected {} (when it was cancelled)", what,
                                         secs(s.at), secs(at)),
                 grading::Hint{"When cancelled, stop the heartbeat and re-throw at once: no backoff, no sleep."});
  const int n = spawned(run, "heartbeat");
  grading::check(n == static_cast<int>(heartbeat_outcomes.size()),
                 fmt::format("{}: {} tasks named \"heartbeat\" were started, expected {} (one create_task per run of "
                             "flaky_heartbeat)",
                             what, n, heartbeat_outcomes.size()),
                 grading::Hint{"Each run of flaky_heartbeat is a task of its own, named \"heartbeat\": create it "
                               "anew in the supervisor's loop after every crash."});
  grading::check(s.beats == beats, fmt::format("{}: beats at {}, expected {} (a new run starts `backoff` after a "
                                               "crash)",
                                               what, list(s.beats), list(beats)),
                 grading::Hint{"After a crash, co_await coop::sleep(backoff), then start a new heartbeat: no sooner, "
                               "no later."});
  grading::check_eq(health.crashes, crashes, what + ": health.crashes",
                    grading::Hint{"Count a crash (++health.crashes) each time co_await on the heartbeat's handle "
                                  "throws a std::exception, and only then."});
  grading::check_eq(outcomes(run, "heartbeat"), heartbeat_outcomes, what + ": how the heartbeat runs ended",
                    grading::Hint{"A crashed run ends failed (the supervisor catches its exception); the run going "
                                  "when the supervisor is cancelled must be cancelled, not left running."});
  check_no_warnings(run);
}

}  // namespace

int main(int argc, char** argv) {
  grading::Grader g(4, "create_task", "a heartbeat and a flusher beside the main work");

  g.part("start_heartbeat: returns at once, beats in the background",
         "start_heartbeat(health, 100 ms) returns a handle to a task named \"heartbeat\" before any beat; while the "
         "caller sleeps 350 ms it beats at 0, 100, 200 and 300 ms; cancelled, it ends cancelled.",
         {"create_task returns at once; the task's body runs later, on the loop, alongside the caller.",
          "heartbeat is a loop: beat (health.beats.push_back(coop::now())), then co_await coop::sleep(every). "
          "start_heartbeat only schedules it.",
          "Task<void> heartbeat(Health& h, Clock::duration every) { for (;;) { h.beats.push_back(coop::now()); "
          "co_await coop::sleep(every); } }  and  return coop::create_task(heartbeat(health, every), "
          "\"heartbeat\");"},
         [] {
           Health health;
           grading::Run run;
           const Part1 r = grading::run(part1(health), &run);
           grading::check(r.beats_at_return == 0,
                          fmt::format("{} beat(s) were recorded before start_heartbeat returned: the heartbeat's "
                                      "body must run in the task, which starts after start_heartbeat returns",
                                      r.beats_at_return));
           grading::check(!r.done_at_return, "the heartbeat task had already finished when start_heartbeat returned",
                          grading::Hint{"Return the handle of the heartbeat's own task, which goes on (beat, sleep, "
                                        "beat...) until it is cancelled."});
           grading::check_eq(r.name, std::string("heartbeat"), "the task's name",
                             grading::Hint{"Name the task when you create it: create_task's second argument."});
           const std::vector<Clock::duration> want{0ms, 100ms, 200ms, 300ms};
           grading::check(r.beats == want, fmt::format("beats at {} while the caller slept 350 ms, expected {}: at "
                                                       "once, then every 100 ms",
                                                       list(r.beats), list(want)),
                          grading::Hint{"In a loop: beat first, then co_await coop::sleep(every). The first beat comes "
                                        "at once, the next ones `every` apart."});
           grading::check(r.ending == "cancelled",
                          fmt::format("after cancel() the heartbeat ended '{}', expected 'cancelled': let the "
                                      "CancelledError out of its co_await",
                                      r.ending),
                          grading::Hint{"Don't catch CancelledError in the heartbeat: it leaves the loop from the "
                                        "sleep's co_await, and the task ends cancelled."});
           check_no_warnings(run);
         });

  g.part("serve: a periodic flusher beside the requests, stopped cleanly",
         "serve of 7 requests of 120 ms with a 400 ms flusher takes 840 ms; flushes 3 at 400 ms, 3 at 800 ms, and "
         "the final 1 at 840 ms; the flusher is cancelled AND finished before serve returns.",
         {"The flusher is a background task (create_task); the requests are awaited one by one. At the end, "
          "stop the flusher, then flush once more.",
          "cancel() only asks the flusher to stop; it stops on a later turn. co_await its handle after "
          "cancel(), and catch the CancelledError that brings (it is the expected end).",
          "auto f = coop::create_task(flusher(m, period), \"flusher\"); for (auto& r : requests) co_await "
          "handle_request(m, r); f.cancel(); try { co_await f; } catch (const coop::CancelledError&) { if "
          "(!f.cancelled()) throw; } flush(m);"},
         [] {
           {
             Metrics m;
             grading::Run run;
             const Served s = grading::run(part2(m, std::vector<Request>(7, Request{120ms}), 400ms, run), &run);
             check_served(s, run, 840ms, {{400ms, 3}, {800ms, 3}, {840ms, 1}});
           }
           {
             Metrics m;
             grading::Run run;
             const Served s = grading::run(part2(m, {Request{500ms}}, 200ms, run), &run);
             check_served(s, run, 500ms, {{200ms, 0}, {400ms, 0}, {500ms, 1}});
           }
         });

  g.part(grading::BuildsOn{1, 2}, "serve_monitored: every path stops the background tasks",
         "With a heartbeat (140 ms) and a flusher (250 ms) beside 4 requests of 100 ms: when the 4th request fails "
         "at 400 ms, and when the caller cancels at 330 ms, both tasks are stopped and the final flush is done "
         "before the exception leaves serve_monitored.",
         {"A request that throws skips the rest of the function, and with it your stop code, unless you catch it.",
          "A catch block cannot co_await. Catch everything (catch (...) — a CancelledError aimed at "
          "serve_monitored must stop the tasks too), keep std::current_exception(), leave the block, stop both, "
          "flush, then std::rethrow_exception.",
          "std::exception_ptr error; try { for (...) co_await handle_request(m, r); } catch (...) { error = "
          "std::current_exception(); } co_await stop(f); co_await stop(hb); flush(m); if (error) "
          "std::rethrow_exception(error);"},
         [] {
           const std::vector<Clock::duration> beats{0ms, 140ms, 280ms};
           {
             Metrics m;
             Health h;
             grading::Run run;
             const Monitored r = grading::run(part3(m, h, std::vector<Request>(4, Request{100ms}), run), &run);
             grading::check(r.error.empty(), "serve_monitored threw '" + r.error + "' though no request failed",
                          grading::Hint{"Re-throw only what was caught: on the normal path the std::exception_ptr "
                                        "stays empty, and nothing is thrown."});
             check_monitored(r, "no request failing", 400ms, beats, {{250ms, 2}, {400ms, 2}});
             check_no_warnings(run);
           }
           {
             Metrics m;
             Health h;
             grading::Run run;
             std::vector<Request> rs(4, Request{100ms});
             rs[3].fails = true;
             const Monitored r = grading::run(part3(m, h, rs, run), &run);
             grading::check(r.error == "request failed",
                            r.error.empty() ? std::string("the 4th request failed, but serve_monitored did not throw: "
                                                          "re-throw the request's exception after the cleanup")
                                            : "serve_monitored threw '" + r.error + "', expected 'request failed'",
                            grading::Hint{"Keep std::current_exception() in the catch block, and "
                                          "std::rethrow_exception it after the cleanup: the caller gets the request's "
                                          "own exception."});
             check_monitored(r, "the 4th request failing", 400ms, beats, {{250ms, 2}, {400ms, 1}});
             check_no_warnings(run);
           }
           {
             Metrics m;
             Health h;
             grading::Run run;
             const Monitored r =
                 grading::run(part3_cancelled(m, h, std::vector<Request>(4, Request{100ms}), 330ms, run), &run);
             grading::check(r.error == "cancelled",
                            "cancelled by its caller at 330 ms, serve_monitored ended '" + r.error +
                                "', expected 'cancelled' (stop the tasks, then re-throw the CancelledError)",
                            grading::Hint{"CancelledError is not a std::exception: catch (...) is what catches it "
                                          "too, so that the tasks are stopped, and then it is re-thrown."});
             check_monitored(r, "serve_monitored cancelled at 330 ms", 330ms, beats, {{250ms, 2}, {330ms, 1}});
             check_no_warnings(run);
           }
         });

  g.part("supervise: restart a crashing heartbeat; stop it with the supervisor",
         "supervise restarts crashed heartbeats after the backoff (crashes at 200 and 350 ms, new runs at 250 and "
         "400 ms); cancelled, it stops the heartbeat it watches before it ends cancelled itself.",
         {"co_await on a TaskHandle rethrows the task's exception: that is how the supervisor learns of a crash.",
          "When the supervisor is cancelled, its co_await on the heartbeat's handle throws CancelledError, but the "
          "heartbeat itself runs on. Catch it, keep it, leave the catch block, cancel + await the heartbeat, "
          "re-throw.",
          "for (;;) { auto h = create_task(flaky_heartbeat(health, every), \"heartbeat\"); std::exception_ptr c; "
          "try { co_await h; } catch (const std::exception&) { ++health.crashes; } catch (const "
          "coop::CancelledError&) { c = std::current_exception(); } if (c) { co_await stop(h); "
          "std::rethrow_exception(c); } co_await coop::sleep(backoff); }"},
         [] {
           {
             Health health;
             health.crash_plan = {2, 1};
             grading::Run run;
             const Supervised s = grading::run(part4(health, 100ms, 50ms, 650ms, run), &run);
             check_supervised(run, s, health, "crash plan {2, 1}, every 100 ms, backoff 50 ms, cancelled at 650 ms",
                              650ms, {0ms, 100ms, 250ms, 400ms, 500ms, 600ms}, 2, {"failed", "failed", "cancelled"});
           }
           {
             // Cancelled during the backoff: no heartbeat runs then, and none may be started.
             Health health;
             health.crash_plan = {1};
             grading::Run run;
             const Supervised s = grading::run(part4(health, 100ms, 300ms, 250ms, run), &run);
             check_supervised(run, s, health, "crash plan {1}, every 100 ms, backoff 300 ms, cancelled at 250 ms",
                              250ms, {0ms}, 1, {"failed"});
           }
         });

  return g.main(argc, argv);
}
