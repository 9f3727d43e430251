// Lesson 04 — create_task: background work while the main work carries on.
//
// Python: `hb = asyncio.create_task(heartbeat())` schedules the coroutine as a task of its
// own and returns the Task at once; the caller keeps going, and the new task first runs
// when the caller next gives the loop a turn. coop::create_task is the same and returns a
// coop::TaskHandle. Two things differ, on purpose: the loop owns every task until it ends
// (a dropped handle never kills one), and C++ makes you think about what the task refers
// to, because it outlives the line that started it.
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "common/lesson.hpp"

using namespace std::chrono_literals;
using coop::Task;
using coop::TaskHandle;

namespace {

// ---- shared by the steps ---------------------------------------------------------------------

// snippet: heartbeat
// A health check that runs until it is cancelled.
Task<void> heartbeat(coop::Clock::duration every) {
  for (int beat = 1;; ++beat) {
    lesson::say("heartbeat {}: all good", beat);
    co_await coop::sleep(every);  // cancel() lands here
  }
}

// Cancel a background task and wait until it has finished. Awaiting a cancelled task
// throws CancelledError; here that is the expected end, so it is not passed on (but a
// CancelledError aimed at *us* is). Lesson 05 shows cancellation from the inside.
Task<void> stop(TaskHandle<void> task) {
  task.cancel();
  try {
    co_await task;
  } catch (const coop::CancelledError&) {
    if (!task.cancelled()) throw;  // not the task's cancellation: ours, pass it on
  }
}
// end snippet

// ---- step 1 --------------------------------------------------------------------------------

// snippet: at_once
Task<std::chrono::nanoseconds> starts_at_once() {
  const auto before = std::chrono::steady_clock::now();  // the real clock, even under --virtual-time
  TaskHandle<void> hb = coop::create_task(heartbeat(200ms), "heartbeat");
  const auto took = std::chrono::steady_clock::now() - before;
  lesson::say("main: create_task returned; carrying on with its own work");
  co_await coop::sleep(500ms);  // main's work (I/O); the heartbeat runs meanwhile
  lesson::say("main: work done; stopping the heartbeat");
  co_await stop(hb);
  co_return took;
}
// end snippet

// ---- step 2 --------------------------------------------------------------------------------

// snippet: background
struct Metrics {
  int requests = 0;  // handled so far
  int flushed = 0;   // of which reported already
  int flushes = 0;   // reports sent
};

// Sends the new counts off every so often (here: prints them).
Task<void> flush_metrics(Metrics& metrics, coop::Clock::duration every) {
  for (;;) {
    co_await coop::sleep(every);
    lesson::say("flusher: {} new requests", metrics.requests - metrics.flushed);
    metrics.flushed = metrics.requests;
    ++metrics.flushes;
  }
}

struct Served {
  coop::Clock::duration took;
  int flushes, unflushed;
};

Task<Served> serve(int requests) {
  Metrics metrics;  // main's local: the flusher refers to it (step 6 says why that is safe here)
  TaskHandle<void> hb = coop::create_task(heartbeat(250ms), "heartbeat");
  TaskHandle<void> flusher = coop::create_task(flush_metrics(metrics, 400ms), "flusher");
  const auto start = coop::now();
  for (int i = 1; i <= requests; ++i) {
    co_await coop::sleep(120ms);  // one request: mostly waiting on its I/O
    ++metrics.requests;
    lesson::say("main: request {} handled", i);
  }
  const auto took = coop::now() - start;
  co_await stop(flusher);  // before `metrics` goes out of scope
  co_await stop(hb);
  co_return Served{took, metrics.flushes, metrics.requests - metrics.flushed};
}
// end snippet

// ---- step 3 --------------------------------------------------------------------------------

// snippet: await_later
Task<std::string> load_config() {
  co_await coop::sleep(300ms);  // reading it takes a while
  co_return "config v7";
}

struct Startup {
  coop::Clock::duration awaited_at, got_at, second_await;
};

Task<Startup> start_up() {
  TaskHandle<std::string> config = coop::create_task(load_config(), "load_config");
  lesson::say("main: config requested; warming the caches meanwhile");
  co_await coop::sleep(200ms);  // other start-up work
  const auto awaited_at = lesson::elapsed();
  lesson::say("main: caches warm; now I need the config");
  std::string c = co_await config;  // waits only for what is left of it
  const auto got_at = lesson::elapsed();
  lesson::say("main: got '{}'", c);
  std::string again = co_await config;  // a finished task: at once, a copy of its result
  lesson::say("main: awaited it again: '{}'", again);
  co_return Startup{awaited_at, got_at, lesson::elapsed() - got_at};
}
// end snippet

// ---- step 4 --------------------------------------------------------------------------------

// snippet: dropped
Task<void> write_audit_log(std::string entry) {
  co_await coop::sleep(300ms);  // the write takes a while
  lesson::say("audit: wrote '{}'", entry);
}

// A plain function: it cannot await, so it starts the write and forgets the handle.
void record(std::string entry) {
  TaskHandle<void> h = coop::create_task(write_audit_log(std::move(entry)), "audit");
}  // h destroyed here: nobody holds a handle to the task any more

Task<void> log_in() {
  record("alice logged in");
  lesson::say("main: the audit task's handle is gone; carrying on");
  co_await coop::sleep(500ms);
  lesson::say("main: done");
}
// end snippet

// ---- step 5 --------------------------------------------------------------------------------

// snippet: by_value
// DON'T (not run here): the task keeps a reference to `text`, which dies before it runs.
//   Task<std::size_t> count_words_ref(const std::string& text);
//   TaskHandle<std::size_t> start_count() {
//     std::string text = "...";
//     return coop::create_task(count_words_ref(text));  // the frame stores &text
//   }                                                   // text destroyed: the task reads freed memory
// The same trap, hidden: a lambda coroutine's captures live in the lambda object, not in
// the coroutine frame, and the lambda object is a temporary that dies at the `;`:
//   coop::create_task([text]() -> Task<std::size_t> { co_return count(text); }());
// (even a capture by value dangles). Pass what a coroutine needs as parameters instead.

// DO: take it by value. The coroutine frame keeps its own copy for as long as it runs.
Task<std::size_t> count_words(std::string text) {
  co_await coop::sleep(100ms);  // reads `text` long after the caller has moved on
  std::istringstream words(text);
  std::size_t n = 0;
  for (std::string w; words >> w;) ++n;
  co_return n;
}

TaskHandle<std::size_t> start_count() {
  std::string text = "the quick brown fox jumps over the lazy dog";
  return coop::create_task(count_words(text), "count_words");  // copies text into the frame
}  // text destroyed here; the task has not even started yet

struct Counted {
  coop::Clock::duration text_gone_at;  // when start_count() returned
  std::size_t words;
};

Task<Counted> count_later() {
  TaskHandle<std::size_t> counting = start_count();
  const auto text_gone_at = lesson::elapsed();
  lesson::say("main: start_count() has returned; its `text` is gone");
  const std::size_t n = co_await counting;
  lesson::say("main: count_words counted {} words", n);
  co_return Counted{text_gone_at, n};
}
// end snippet

// ---- step 6 --------------------------------------------------------------------------------

// snippet: shared
coop::Clock::duration stats_freed_at{};  // for the lesson: when the last owner let go

struct Stats {
  int requests = 0;
  ~Stats() {
    stats_freed_at = lesson::elapsed();
    lesson::say("Stats freed: its last owner let go");
  }
};

Task<void> report_later(std::shared_ptr<Stats> stats, coop::Clock::duration after) {
  co_await coop::sleep(after);
  lesson::say("reporter: {} requests (owners of the Stats now: {})", stats->requests, stats.use_count());
}  // the frame is freed when the task ends, and its shared_ptr with it

struct Shared {
  long owners;                         // while main and the reporter both held it
  coop::Clock::duration main_let_go;   // when main reset its shared_ptr
};

Task<Shared> share_stats() {
  auto stats = std::make_shared<Stats>();
  TaskHandle<void> reporter = coop::create_task(report_later(stats, 200ms), "reporter");
  stats->requests = 3;  // the reporter will see 3: it shares this object, it has no copy
  const long both = stats.use_count();
  lesson::say("main: owners of the Stats: {} (main and the reporter's frame)", both);
  stats.reset();  // main is done with it; the reporter keeps it alive
  const auto let_go = lesson::elapsed();
  lesson::say("main: dropped its shared_ptr");
  co_await reporter;
  co_return Shared{both, let_go};
}
// end snippet

// ---- reading the trace -------------------------------------------------------------------------

using Kind = coop::TraceEvent::Kind;

// Index in the trace of the first event of `kind` for `task` (from `from` on), or npos.
std::size_t find_event(Kind kind, std::string_view task, std::size_t from = 0) {
  const auto& t = lesson::last_trace();
  for (std::size_t i = from; i < t.size(); ++i)
    if (t[i].kind == kind && t[i].task_name == task) return i;
  return std::string::npos;
}

// How many events of `kind` the trace holds for `task`.
std::size_t count(Kind kind, std::string_view task) {
  std::size_t n = 0;
  for (const coop::TraceEvent& e : lesson::last_trace()) n += e.kind == kind && e.task_name == task ? 1 : 0;
  return n;
}

// When each step of `task` began.
std::vector<coop::Clock::duration> step_times(std::string_view task) {
  std::vector<coop::Clock::duration> at;
  for (const coop::TraceEvent& e : lesson::last_trace())
    if (e.kind == Kind::step_began && e.task_name == task) at.push_back(e.at);
  return at;
}

// How long `task` ran in all: the sum of its steps, from step_began to step_ended.
coop::Clock::duration running_time(std::string_view task) {
  coop::Clock::duration sum{}, began{};
  for (const coop::TraceEvent& e : lesson::last_trace()) {
    if (e.task_name != task) continue;
    if (e.kind == Kind::step_began) began = e.at;
    if (e.kind == Kind::step_ended) sum += e.at - began;
  }
  return sum;
}

// How a task ended, and when: "cancelled at 0.840 s".
std::string ending(std::string_view task) {
  const std::size_t i = find_event(Kind::finished, task);
  if (i == std::string::npos) return "not finished";
  const coop::TraceEvent& e = lesson::last_trace()[i];
  return fmt::format("{} at {}", coop::to_string(e.outcome), lesson::secs(e.at));
}

std::string list_times(const std::vector<coop::Clock::duration>& at) {
  std::string s;
  for (const auto& t : at) s += (s.empty() ? "" : ", ") + lesson::secs(t);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  lesson::Lesson l({4, "create_task", "create_task: background work while the main work continues",
                    "coop::create_task (asyncio.create_task) schedules a coroutine as an independent task and "
                    "returns a handle at once, without suspending the caller: the caller keeps running, and "
                    "the new task first runs when the caller next gives the loop a turn. Background health "
                    "checks, metric flushers and periodic cleanup run this way, alongside the main work."});

  l.step("create_task returns at once; the task starts on a later turn",
         "create_task hands heartbeat() to the loop and returns a TaskHandle straight away: the\n"
         "caller does not wait, and not one line of heartbeat runs inside create_task. The loop\n"
         "starts it once main gives way, at main's co_await. stop() (above) cancels it at the end.\n"
         "(Run with --trace to see every event of the loop as it happens.)",
         {"heartbeat", "at_once"}, [] {
           const std::chrono::nanoseconds took = lesson::run(starts_at_once(), {.title = "a heartbeat beside main"});
           const auto& trace = lesson::last_trace();
           const std::size_t spawned = find_event(Kind::spawned, "heartbeat");
           const std::size_t main_suspended = find_event(Kind::suspended, "main");
           const std::size_t first_beat = find_event(Kind::step_began, "heartbeat");
           if (spawned == std::string::npos || main_suspended == std::string::npos || first_beat == std::string::npos)
             return;
           lesson::conclude("create_task returned after {} of real time, at {} on the loop's clock",
                            lesson::measured("{:.1f} µs", std::chrono::duration<double, std::micro>(took).count()),
                            lesson::figure(lesson::secs(trace[spawned].at)));
           lesson::conclude("the loop's trace (--trace prints it), in order: #{} heartbeat spawned, #{} main suspends "
                            "on {}, #{} heartbeat's first step begins (at {})",
                            spawned + 1, main_suspended + 1, trace[main_suspended].detail, first_beat + 1,
                            lesson::secs(trace[first_beat].at));
           // Every step of the heartbeat but the last was a beat; in the last, cancel() landed.
           const auto beats = step_times("heartbeat");
           const std::size_t cancelled = find_event(Kind::cancel_requested, "heartbeat");
           if (beats.empty() || cancelled == std::string::npos) return;
           lesson::conclude("while main worked, until it cancelled the heartbeat at {}, the heartbeat beat {} times "
                            "(at {}); then it ended {}",
                            lesson::secs(trace[cancelled].at), lesson::figure(std::to_string(beats.size() - 1)),
                            list_times({beats.begin(), beats.end() - 1}), ending("heartbeat"));
         });

  l.step("A heartbeat and a metrics flusher in the background",
         "The pattern from the lecture: main handles requests, while a heartbeat reports every\n"
         "0.250 s and a flusher sends the request counts every 0.400 s. All three share one\n"
         "thread: each runs while the others wait, and a step takes microseconds, so the\n"
         "background work costs the main work next to nothing. When main is done it stops\n"
         "both, the flusher before the Metrics it shares with main goes away.",
         {"background"}, [] {
           const int requests = 7;
           const Served s = lesson::run(serve(requests), {.title = "main, heartbeat and flusher"});
           const coop::Clock::duration alone = requests * 120ms;  // serve()'s sleeps, one after another
           lesson::conclude("main handled {} requests in {}; alone they take {} × 0.120 s = {}",
                            requests, lesson::figure(lesson::secs(s.took)), requests, lesson::secs(alone));
           // Under --virtual-time a step takes no time on the loop's clock, so the trace would say
           // "ran for 0 µs" beside the footer's real figure: there, point at the footer instead.
           const std::string ran =
               lesson::settings().virtual_time
                   ? std::string("on virtual time a step takes none; the real time all steps took is the "
                                 "timeline's 'running … (real)'")
                   : fmt::format("all their steps together ran for {}",
                                 lesson::measured("{:.0f} µs", std::chrono::duration<double, std::micro>(
                                                                    running_time("heartbeat") + running_time("flusher"))
                                                                    .count()));
           lesson::conclude("meanwhile the heartbeat beat {} times and the flusher flushed {} times; {}",
                            lesson::figure(std::to_string(count(Kind::suspended, "heartbeat"))),
                            lesson::figure(std::to_string(s.flushes)), ran);
           if (!lesson::settings().virtual_time)
             lesson::conclude("main took {} more than {}, mostly from the real clock: each sleep wakes a little "
                              "after its deadline (--virtual-time has none of that)",
                              lesson::secs(s.took - alone), lesson::secs(alone));
           lesson::conclude("after stop(): flusher {}, heartbeat {}", ending("flusher"), ending("heartbeat"));
           lesson::conclude("{} request was never flushed: the flusher was cancelled mid-wait (lesson 05: "
                            "flushing on the way out)",
                            lesson::figure(std::to_string(s.unflushed)));
         });

  l.step("Awaiting the handle later",
         "Start a slow load early, do other work, and co_await the handle when you need the\n"
         "result: by then part of the wait (or all of it) is over. A TaskHandle can be awaited\n"
         "any number of times, from anywhere; a finished one answers at once with a copy of\n"
         "its result (or rethrows its exception).",
         {"await_later"}, [] {
           const Startup s = lesson::run(start_up(), {.title = "awaiting the handle later"});
           lesson::conclude("main awaited the config at {} and had it at {}: it waited only the {} left",
                            lesson::secs(s.awaited_at), lesson::figure(lesson::secs(s.got_at)),
                            lesson::figure(lesson::secs(s.got_at - s.awaited_at)));
           lesson::conclude("start-up took {}; awaiting load_config() first, then warming up, would take "
                            "0.300 + 0.200 = 0.500 s",
                            lesson::figure(lesson::secs(s.got_at)));
           lesson::conclude("the second co_await on the finished task took {}", lesson::figure(lesson::secs(s.second_await)));
         });

  l.step("A dropped handle still runs",
         "record() starts a task and lets its handle go out of scope at once. The loop holds a\n"
         "reference to every task until it ends, so the task runs to completion anyway. This is\n"
         "a deliberate fix: asyncio keeps only a weak reference to a task, so one that nobody\n"
         "references can be garbage-collected mid-run (its docs tell you to keep your tasks in a\n"
         "set). A task still running when run() ends is cancelled then, like asyncio.run does.",
         {"dropped"}, [] {
           lesson::run(log_in(), {.title = "a task nobody holds"});
           const auto& trace = lesson::last_trace();
           const std::size_t spawned = find_event(Kind::spawned, "audit");
           lesson::conclude("the audit task was started at {} and its handle dropped in the same step; "
                            "it ran to its end: {}",
                            spawned == std::string::npos ? "?" : lesson::secs(trace[spawned].at),
                            lesson::figure(ending("audit")));
         });

  l.step("References into a background task: pass by value",
         "A task outlives the line that created it, and usually the function: its parameters\n"
         "are all it can safely use later. A reference parameter stores only an address in the\n"
         "frame; if the object dies first, the task reads freed memory (no error, just undefined\n"
         "behaviour, so the code below shows it in comments and does not run it). By value, the\n"
         "frame owns a copy.",
         {"by_value"}, [] {
           const Counted c = lesson::run(count_later(), {.title = "by value"});
           const auto& trace = lesson::last_trace();
           const std::size_t main_suspended = find_event(Kind::suspended, "main");
           const std::size_t first_step = find_event(Kind::step_began, "count_words");
           const std::size_t finished = find_event(Kind::finished, "count_words");
           if (main_suspended == std::string::npos || first_step == std::string::npos || finished == std::string::npos)
             return;
           lesson::conclude("`text` died at {}, when start_count() returned, before count_words ran a line "
                            "(--trace's events #{} main suspends, #{} count_words' first step)",
                            lesson::figure(lesson::secs(c.text_gone_at)), main_suspended + 1, first_step + 1);
           lesson::conclude("count_words read its own copy at {} and counted {} words; through a reference it "
                            "would have read the dead string",
                            lesson::figure(lesson::secs(trace[finished].at)), lesson::figure(std::to_string(c.words)));
         });

  l.step("Sharing state with a background task: shared_ptr, or outlive it",
         "When the caller and the task both use an object, either share ownership (a\n"
         "shared_ptr passed by value: whoever is last frees it), or pass a reference and make\n"
         "sure the object outlives the task: await (or stop) the task before the object's scope\n"
         "ends. Step 2's flusher took Metrics& and was stopped before `metrics` died; gather\n"
         "does the same for its children (lesson 03). That must hold on every path: had serve()\n"
         "thrown before stop(), the flusher would run on holding a dangling reference.",
         {"shared"}, [] {
           stats_freed_at = {};
           const Shared sh = lesson::run(share_stats(), {.title = "shared ownership"});
           lesson::conclude("while both held it the Stats had {} owners; main let go of it at {}",
                            lesson::figure(std::to_string(sh.owners)), lesson::secs(sh.main_let_go));
           lesson::conclude("the Stats was freed at {}, when the reporter, its last owner, ended ({})",
                            lesson::figure(lesson::secs(stats_freed_at)), ending("reporter"));
         });

  l.wrap_up(
      "create_task returned at once and the new task started only when main gave way; a\n"
      "heartbeat and a flusher then ran beside main's work without slowing it. A handle can be\n"
      "awaited later (and again), and a dropped one does not stop the task: the loop owns it.\n"
      "What a background task refers to must outlive it: pass values, share with shared_ptr,\n"
      "or stop and await the task before the object dies.\n"
      "Next: lesson 05, what cancel() does inside the task, and how to clean up properly.");
  return l.main(argc, argv);
}
