// Lesson 01 — coroutines are functions that can suspend.
//
// Python: calling `async def f()` returns a coroutine object and runs none of f's body;
// `await` drives it, and is where it may suspend so the event loop can run someone else.
// C++20 has the same machine: calling a coroutine returns a coop::Task and runs nothing;
// `co_await` drives it. Four steps show it happen, with numbers from this run.
#include <pthread.h>

#include <algorithm>
#include <cmath>
#include <coroutine>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/lesson.hpp"

using namespace std::chrono_literals;
using coop::Task;

namespace {

// ---- step 1 --------------------------------------------------------------------------------

// Not inlined, so that the frame count below is the same with every compiler: Clang, when
// optimising, may inline answer() into lazy() and put answer()'s frame inside lazy()'s
// ("heap allocation elision"), and then no new frame would be counted.
[[gnu::noinline]] Task<int> answer();

// snippet: lazy
bool answer_started = false;  // set by answer()'s first line

Task<int> answer() {
  answer_started = true;
  lesson::say("answer(): my body runs now");
  co_await coop::sleep(100ms);  // a suspension point: the loop may run others here
  lesson::say("answer(): back after the sleep");
  co_return 42;
}

Task<bool> lazy() {  // returns whether answer()'s body had started when the call returned
  const std::size_t frames = coop::frame_stats().live_frames;
  Task<int> t = answer();  // a call: a frame is made, the body does not run
  const bool started = answer_started;
  lesson::say("answer() returned a Task ({} new frame); its body has started: {}",
              coop::frame_stats().live_frames - frames, started ? "yes" : "no");
  const int v = co_await t;  // co_await drives it, to its end
  lesson::say("co_await t gave {}", v);
  co_return started;
}
// end snippet

// ---- step 2 --------------------------------------------------------------------------------

// snippet: loud
// An awaitable is any object with these three methods; co_await calls them in order.
// This one wraps coop's sleep and says when each is called.
struct LoudSleep {
  coop::SleepAwaiter inner;  // coop::sleep's awaiter does the real work

  bool await_ready() {  // "is the result already here?" true = don't suspend at all
    const bool ready = inner.await_ready();
    lesson::say("await_ready()   -> {}",
                ready ? "true: ready, so no suspension" : "false: not ready, so the task will suspend");
    return ready;
  }
  // Returns true: stay suspended, someone (here the loop's timer) resumes the task later;
  // false: don't suspend after all, the task goes on at once, as if await_ready had said true.
  bool await_suspend(std::coroutine_handle<> me) {  // the task is suspended; hand it over
    lesson::say("await_suspend() -> the task's handle goes to the loop's timer; control returns to the loop");
    return inner.await_suspend(me);  // after this, `me` may be resumed at any time: touch nothing
  }
  void await_resume() {  // the loop resumed the task; this is the value of `co_await`
    lesson::say("await_resume()  -> the timer fired and the loop resumed the task");
    inner.await_resume();
  }
};

Task<void> uses_loud_sleep() {
  lesson::say("before co_await");
  // coop::sleep(250ms) makes coop's sleep awaiter; LoudSleep{...} wraps it as its `inner`.
  co_await LoudSleep{coop::sleep(250ms)};
  lesson::say("after co_await");
}
// end snippet

// ---- step 3 --------------------------------------------------------------------------------

// snippet: interleave
Task<void> worker(std::string name, int rounds, coop::Clock::duration pause) {
  for (int i = 1; i <= rounds; ++i) {
    lesson::say("{} round {}: working, then awaiting sleep({})", name, i, coop::format_duration(pause));
    co_await coop::sleep(pause);  // suspends: the loop runs the other worker meanwhile
  }
  lesson::say("{} done", name);
}

Task<void> interleave() {
  auto a = coop::create_task(worker("A", 3, 100ms), "worker A");  // schedule it (lesson 04)
  auto b = coop::create_task(worker("B", 2, 150ms), "worker B");
  co_await coop::gather(a, b);  // wait until both have finished (lesson 03)
}
// end snippet

// ---- step 4 --------------------------------------------------------------------------------

// snippet: frame
Task<void> parked(coop::Event& go, int& waiting) {
  ++waiting;
  co_await go.wait();  // suspended here: all that is left of the call is its frame
  --waiting;
}

struct Cost {
  std::optional<std::size_t> task_bytes;  // per parked task, everything: frame + task record
  std::size_t frame_bytes = 0;            // ... of which its coroutine frame
};

Task<Cost> parked_task_cost(int n) {
  coop::Event go;
  int waiting = 0;
  const std::optional<std::size_t> memory_before = lesson::resident_anon_bytes();
  const std::size_t frames_before = coop::frame_stats().live_bytes;
  for (int i = 0; i < n; ++i) (void)coop::create_task(parked(go, waiting));  // handle dropped (lesson 04)
  co_await coop::sleep(0ms);  // every one of them has started and is parked on `go`
  const std::optional<std::size_t> memory_after = lesson::resident_anon_bytes();
  Cost c;
  if (memory_before && memory_after && *memory_after >= *memory_before)
    c.task_bytes = (*memory_after - *memory_before + n / 2) / n;
  c.frame_bytes = (coop::frame_stats().live_bytes - frames_before) / static_cast<std::size_t>(n);
  go.set();
  while (waiting > 0) co_await coop::sleep(0ms);
  co_return c;
}
// end snippet

// "about 33,000": two significant figures, the precision such a ratio has.
std::string about(double x) {
  if (x <= 0) return "n/a";
  const double scale = std::pow(10.0, std::floor(std::log10(x)) - 1);
  std::string digits = std::to_string(std::lround(std::round(x / scale) * scale));
  for (std::size_t i = digits.size(); i > 3; i -= 3) digits.insert(i - 3, ",");
  return "about " + digits;
}

std::size_t default_thread_stack() {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  std::size_t size = 0;
  pthread_attr_getstacksize(&attr, &size);
  pthread_attr_destroy(&attr);
  return size;
}

// ---- reading the loop's trace ------------------------------------------------------------------

using Kind = coop::TraceEvent::Kind;

// When `task` first suspended, and when its next step began (it was resumed).
struct Suspension {
  coop::Clock::duration suspended{}, resumed{};
};
Suspension first_suspension(std::string_view task) {
  Suspension s;
  bool seen = false;
  for (const coop::TraceEvent& e : lesson::last_trace()) {
    if (e.task_name != task) continue;
    if (e.kind == Kind::suspended && !seen) {
      s.suspended = e.at;
      seen = true;
    } else if (e.kind == Kind::step_began && seen) {
      s.resumed = e.at;
      break;
    }
  }
  return s;
}

// Steps the trace holds for `task`.
int steps_of(std::string_view task) {
  int n = 0;
  for (const coop::TraceEvent& e : lesson::last_trace()) n += e.kind == Kind::step_began && e.task_name == task ? 1 : 0;
  return n;
}

// The most steps, of any tasks, that were running at the same moment.
int most_steps_at_once() {
  int running = 0, most = 0;
  for (const coop::TraceEvent& e : lesson::last_trace()) {
    if (e.kind == Kind::step_began) most = std::max(most, ++running);
    if (e.kind == Kind::step_ended) --running;
  }
  return most;
}

}  // namespace

int main(int argc, char** argv) {
  lesson::Lesson l({1, "coroutines", "Coroutines are functions that can suspend",
                    "A coroutine is a function that can suspend mid-run. Calling one returns a Task and "
                    "runs none of its body until the event loop drives it; `co_await` is the suspension "
                    "point, where control goes back to the loop until the awaited thing is done, and other "
                    "coroutines run meanwhile. The words this course uses for the parts (frame, handle, promise, awaiter, "
                    "suspension point, step, turn) are explained on one page: docs/glossary.md."});

  l.step("Calling a coroutine runs nothing; co_await drives it",
         "answer() is a coroutine: its body contains co_await and co_return.\n"
         "Calling it allocates its frame and returns a Task, but runs no line of the body\n"
         "(Python's `answer()` without `await` behaves the same). The body starts only when\n"
         "something co_awaits the Task.",
         {"lazy"}, [] {
           answer_started = false;
           const bool started = lesson::run(lazy(), {.title = "lazy", .timeline = false});
           lesson::conclude("when the call returned, the body had started: {}; it ran from the co_await on, "
                            "and took {} (its sleep asked for 0.100 s)",
                            lesson::figure(started ? "yes" : "no"),
                            lesson::figure(lesson::secs(lesson::last_trace().back().at)));
         });
  l.step("What co_await does: await_ready, await_suspend, await_resume",
         "`co_await x` asks x three questions. await_ready: is the result already here?\n"
         "If not, the task suspends and await_suspend receives the task's handle, to give to\n"
         "whoever will resume it (here: the loop's timer). When the loop resumes the task,\n"
         "await_resume produces the value of the co_await expression.",
         {"loud"}, [] {
           lesson::run(uses_loud_sleep(), {.title = "one co_await"});
           const Suspension s = first_suspension("main");
           lesson::conclude("the loop's trace: the task suspended at {} and was resumed at {}; for those {} "
                            "the thread was the loop's, free to run other tasks (step 3 gives it some)",
                            lesson::secs(s.suspended), lesson::secs(s.resumed),
                            lesson::figure(lesson::secs(s.resumed - s.suspended)));
         });
  l.step("Two coroutines interleave at their awaits",
         "create_task schedules two workers on the loop. Each runs until its co_await sleep,\n"
         "then the loop runs whichever is ready next. Nothing preempts them: they take turns\n"
         "only where they wrote co_await. In the timeline, █ marks a worker's steps; where A\n"
         "and B both show █ in one column, they ran one after the other within that column.",
         {"interleave"}, [] {
           lesson::run(interleave(), {.title = "two workers"});
           lesson::conclude("the loop's trace: A ran in {} steps, B in {}, and at most {} step was running at "
                            "any moment",
                            lesson::figure(std::to_string(steps_of("worker A"))),
                            lesson::figure(std::to_string(steps_of("worker B"))),
                            lesson::figure(std::to_string(most_steps_at_once())));
           lesson::conclude("A slept 3 × 0.100 s and B 2 × 0.150 s (0.600 s in all), yet both were done at {}: "
                            "while one waited, the other ran",
                            lesson::figure(lesson::secs(lesson::last_trace().back().at)));
         });
  l.step("A suspended coroutine costs a frame, not a stack",
         "A suspended coroutine keeps only its frame: the locals that live across a co_await,\n"
         "and where to resume. A task adds the loop's record of it (its name, its state, who\n"
         "waits for it). 100,000 tasks park on one Event; the growth of this process's memory\n"
         "(RssAnon in /proc/self/status: its heap's pages actually in RAM) counts both, coop's\n"
         "frame allocator the frames alone. A thread that blocks keeps a whole stack instead\n"
         "(lesson 02 measures what that costs).",
         {"frame"}, [] {
           const int n = 100'000;
           // Making 100,000 tasks in one step takes longer than the slow-step warning's 100 ms
           // on a slow machine: here that is the point, not a mistake.
           const Cost c = lesson::run(parked_task_cost(n), {.title = "100,000 parked tasks", .timeline = false,
                                                            .slow_step_warning = 0ms, .trace = false});
           const std::size_t stack = default_thread_stack();
           lesson::conclude("100,000 parked tasks: {} each in all (resident memory), of which {} is the coroutine "
                            "frame (coop's frame allocator) and the rest the task's record",
                            lesson::measured(c.task_bytes ? fmt::format("{} B", *c.task_bytes) : "n/a (no /proc here)"),
                            lesson::measured("{} B", c.frame_bytes));
           lesson::conclude("a new thread reserves {} of address space for its stack (pthread's default on this "
                            "machine; lesson 02 measures how much of it becomes memory)",
                            lesson::measured("{} KiB", stack / 1024));
           const std::size_t per_task = c.task_bytes.value_or(c.frame_bytes);
           lesson::conclude("a thread's stack reservation is {} times what a parked task costs",
                            lesson::measured(about(
                                per_task ? static_cast<double>(stack) / static_cast<double>(per_task) : 0)));
         });
  l.wrap_up(
      "Calling a coroutine made a frame and ran nothing; co_await ran it. At each co_await the\n"
      "awaitable decided whether to suspend (await_ready), handed the task to whoever resumes it\n"
      "(await_suspend) and produced the result (await_resume). Two tasks on one thread took\n"
      "turns exactly at their co_awaits, and a suspended one cost its frame and a small record.\n"
      "Next: lesson 02, why that matters when there are 10,000 of them.");
  return l.main(argc, argv);
}
