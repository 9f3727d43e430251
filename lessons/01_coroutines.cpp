// Lesson 01 — coroutines are functions that can suspend.
//
// Python: calling `async def f()` returns a coroutine object and runs none of f's body;
// `await` drives it, and is where it may suspend so the event loop can run someone else.
// C++20 has the same machine: calling a coroutine returns a coop::Task and runs nothing;
// `co_await` drives it. Four steps show it happen, with numbers from this run.
#include <pthread.h>

#include <coroutine>

#include "common/lesson.hpp"

using namespace std::chrono_literals;
using coop::Task;

namespace {

// ---- step 1 --------------------------------------------------------------------------------

// snippet: lazy
Task<int> answer() {
  lesson::say("answer(): my body runs now");
  co_await coop::sleep(100ms);  // a suspension point: the loop may run others here
  lesson::say("answer(): back after the sleep");
  co_return 42;
}

Task<void> lazy() {
  const std::size_t frames = coop::frame_stats().live_frames;
  Task<int> t = answer();  // a call: a frame is made, the body does not run
  lesson::say("answer() returned a Task ({} new frame); its body printed nothing",
              coop::frame_stats().live_frames - frames);
  const int v = co_await t;  // co_await drives it, to its end
  lesson::say("co_await t gave {}", v);
}
// end snippet

// ---- step 2 --------------------------------------------------------------------------------

// snippet: loud
// An awaitable is any object with these three methods; co_await calls them in order.
// This one wraps coop's sleep and says when each is called.
struct LoudSleep {
  coop::detail::SleepAwaiter inner;  // coop::sleep's awaiter does the real work

  bool await_ready() {  // "is the result already here?" true = don't suspend at all
    const bool ready = inner.await_ready();
    lesson::say("await_ready()   -> {}: not ready, so the task will suspend", ready);
    return ready;
  }
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
  auto a = coop::create_task(worker("A", 3, 100ms), "worker A");
  auto b = coop::create_task(worker("B", 2, 150ms), "worker B");
  co_await coop::gather(a, b);
}
// end snippet

// ---- step 4 --------------------------------------------------------------------------------

// snippet: frame
Task<void> parked(coop::Event& go) { co_await go.wait(); }

Task<std::size_t> frame_bytes(int n) {
  coop::Event go;
  const std::size_t before = coop::frame_stats().live_bytes;
  std::vector<coop::TaskHandle<void>> tasks;
  for (int i = 0; i < n; ++i) tasks.push_back(coop::create_task(parked(go)));
  co_await coop::sleep(0ms);  // every one of them has started and is parked on `go`
  const std::size_t after = coop::frame_stats().live_bytes;
  go.set();
  for (auto& t : tasks) co_await t;
  co_return (after - before) / static_cast<std::size_t>(n);
}
// end snippet

std::size_t default_thread_stack() {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  std::size_t size = 0;
  pthread_attr_getstacksize(&attr, &size);
  pthread_attr_destroy(&attr);
  return size;
}

}  // namespace

int main(int argc, char** argv) {
  lesson::Lesson l({1, "coroutines", "Coroutines are functions that can suspend",
                    "A coroutine is a function that can suspend mid-run. Calling one returns a Task and "
                    "runs none of its body until the event loop drives it; `co_await` is the suspension "
                    "point, where control goes back to the loop until the awaited thing is done, and other "
                    "coroutines run meanwhile."});

  l.step("Calling a coroutine runs nothing; co_await drives it",
         "answer() is a coroutine: its body contains co_await and co_return.\n"
         "Calling it allocates its frame and returns a Task, but runs no line of the body\n"
         "(Python's `answer()` without `await` behaves the same). The body starts only when\n"
         "something co_awaits the Task.",
         {"lazy"}, [] {
           lesson::run(lazy(), {.title = "lazy", .timeline = false});
           lesson::conclude("the call printed nothing; the body ran from the co_await, and took the {} "
                            "its sleep asked for",
                            lesson::figure(lesson::secs(lesson::last_trace().back().at)));
         });
  l.step("What co_await does: await_ready, await_suspend, await_resume",
         "`co_await x` asks x three questions. await_ready: is the result already here?\n"
         "If not, the task suspends and await_suspend receives the task's handle, to give to\n"
         "whoever will resume it (here: the loop's timer). When the loop resumes the task,\n"
         "await_resume produces the value of the co_await expression.",
         {"loud"}, [] {
           lesson::run(uses_loud_sleep(), {.title = "one co_await"});
           lesson::conclude("between await_suspend and await_resume the task was suspended for {} and the "
                            "loop was free",
                            lesson::figure("0.250 s"));
         });
  l.step("Two coroutines interleave at their awaits",
         "create_task schedules two workers on the loop. Each runs until its co_await sleep,\n"
         "then the loop runs whichever is ready next. Nothing preempts them: they take turns\n"
         "only where they wrote co_await. The timeline shows it; A and B never overlap in █.",
         {"interleave"}, [] {
           lesson::run(interleave(), {.title = "two workers"});
           lesson::conclude("A slept 3 × 0.100 s and B 2 × 0.150 s, together in {} (not 0.600 s): one thread, "
                            "taking turns",
                            lesson::figure(lesson::secs(lesson::last_trace().back().at)));
         });
  l.step("A suspended coroutine costs a frame, not a stack",
         "A suspended coroutine keeps only its frame: the locals that live across a co_await,\n"
         "and where to resume. coop's frame allocator counts the bytes. A thread that blocks\n"
         "keeps a whole stack instead (lesson 02 measures what that costs).",
         {"frame"}, [] {
           const int n = 10'000;
           const std::size_t per_task = lesson::run(frame_bytes(n), {.title = "10,000 parked tasks", .timeline = false, .trace = false});
           const std::size_t stack = default_thread_stack();
           lesson::conclude("{} suspended tasks: {} of frame each (counted by coop's frame allocator)", n,
                            lesson::measured("{} B", per_task));
           lesson::conclude("a new thread reserves a stack of {} (pthread's default on this machine)",
                            lesson::measured("{} KiB", stack / 1024));
           lesson::conclude("a frame is {} the size of a thread's stack reservation",
                            lesson::measured("1/{}", per_task ? stack / per_task : 0));
         });
  l.wrap_up(
      "Calling a coroutine made a frame and ran nothing; co_await ran it. At each co_await the\n"
      "awaitable decided whether to suspend (await_ready), handed the task to whoever resumes it\n"
      "(await_suspend) and produced the result (await_resume). Two tasks on one thread took\n"
      "turns exactly at their co_awaits, and a suspended one cost a small frame.\n"
      "Next: lesson 02, why that matters when there are 10,000 of them.");
  return l.main(argc, argv);
}
