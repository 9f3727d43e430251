// test_diagnostics.cpp — the loop's warnings to a human (DESIGN.md, "Diagnostics").
//
// Proves:
//   * deadlock: run() throws DeadlockError (a std::runtime_error) instead of hanging, and its
//     message names every blocked task and what it waits for (a task, an Event, a Queue.get,
//     a Lock and its holder); afterwards no coroutine frame is left alive, even when a task
//     refuses to stop at shutdown;
//   * slow step: a step that blocks the loop longer than slow_step_warning is reported,
//     naming the task (the one test in this suite that really sleeps); 0 turns it off;
//   * unretrieved exception: a failed task whose exception nobody looked at is reported once,
//     with its name and message, when its last handle goes during run() or when run() ends;
//     never when someone awaited it or called exception()/result();
//   * with no sink given, warnings are printed to stderr as "coop: warning: ...".
#include <unistd.h>

#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "support.hpp"

using namespace coop;
using namespace coop::testing;
using namespace std::chrono_literals;

namespace {

static_assert(std::is_base_of_v<std::runtime_error, DeadlockError>, "DeadlockError derives from std::runtime_error");

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

Task<void> wait_event(Event& e) { co_await e.wait(); }

Task<void> get_one(Queue<int>& q) { (void)co_await q.get(); }

Task<void> take_lock(Lock& l) { auto guard = co_await l.lock(); }

Task<void> hold_lock_and_wait(Lock& l, Event& e) {
  auto guard = co_await l.lock();
  co_await e.wait();
}

Task<void> fail_now(std::string message) {
  co_await sleep(0ms);
  throw std::runtime_error(message);
}

// Refuses to stop: every CancelledError is caught and it waits on the event again.
Task<void> stubborn(Event& e) {
  for (;;) {
    try {
      co_await e.wait();
    } catch (const CancelledError&) {
    }
  }
}

// Points file descriptor 2 (stderr) at a temporary file until text() is called.
class StderrCapture {
 public:
  StderrCapture() : file_(std::tmpfile()) {
    REQUIRE(file_ != nullptr);
    std::fflush(stderr);
    saved_ = ::dup(2);
    REQUIRE(saved_ >= 0);
    REQUIRE(::dup2(::fileno(file_), 2) >= 0);
  }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;
  ~StderrCapture() {
    restore();
    std::fclose(file_);
  }
  // Restores stderr and returns what was written to it meanwhile.
  std::string text() {
    restore();
    std::rewind(file_);
    std::string out;
    char buf[512];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, file_)) out.append(buf, n);
    return out;
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }
  std::FILE* file_;
  int saved_ = -1;
};

// The objects tasks wait on live outside run(), so they outlive every task at shutdown.
struct World {
  Event y{"y"};
  Queue<int> queue;
  Lock lock{"l"};
};

std::string deadlock_message(World& w, std::vector<Diagnostic>* sink) {
  try {
    run_virtual(
        [](World& w) -> Task<void> {
          auto x = create_task(wait_event(w.y), "x");
          auto holder = create_task(hold_lock_and_wait(w.lock, w.y), "holder");
          auto getter = create_task(get_one(w.queue), "getter");
          auto locker = create_task(take_lock(w.lock), "locker");
          co_await x;
        }(w),
        sink);
  } catch (const DeadlockError& e) {
    return e.what();
  }
  return "(no DeadlockError)";
}

}  // namespace

TEST_CASE("deadlock: run() throws DeadlockError naming every blocked task and what it waits for") {
  World w;
  std::vector<Diagnostic> diagnostics;
  const std::string m = deadlock_message(w, &diagnostics);
  INFO(m);
  CHECK(has(m, "deadlock"));
  CHECK(has(m, "task 'main' waits on task 'x'"));
  CHECK(has(m, "task 'x' waits on Event 'y'"));
  CHECK(has(m, "task 'holder' waits on Event 'y'"));
  CHECK(has(m, "task 'getter' waits on Queue.get()"));
  CHECK(has(m, "task 'locker' waits on Lock 'l', held by task 'holder'"));
  CHECK(diagnostics.empty());  // every task stopped cleanly when run() wound down
  CHECK_FALSE(w.lock.locked());
}

TEST_CASE("deadlock: a task waiting on gather is reported with the children still running") {
  Event never("never");
  std::string message;
  try {
    run_virtual(
        [](Event& never) -> Task<void> {
          auto a = create_task(wait_event(never), "a");
          auto b = create_task(wait_event(never), "b");
          co_await gather(a, b);
        }(never));
  } catch (const DeadlockError& e) {
    message = e.what();
  }
  INFO(message);
  CHECK(has(message, "task 'main' waits on gather of 2 tasks, 2 still running ('a', 'b')"));
  CHECK(has(message, "task 'a' waits on Event 'never'"));
  CHECK(has(message, "task 'b' waits on Event 'never'"));
}

TEST_CASE("deadlock: DeadlockError is a std::runtime_error") {
  bool caught = false;
  try {
    run_virtual([]() -> Task<void> {
      Event never;
      co_await never.wait();
    }());
  } catch (const std::runtime_error& e) {
    caught = true;
    CHECK(has(e.what(), "task 'main' waits on Event.wait()"));  // an unnamed Event
  }
  CHECK(caught);
}

TEST_CASE("deadlock: no coroutine frame is left alive after a DeadlockError") {
  const std::size_t before = frame_stats().live_frames;
  {
    World w;
    std::vector<Diagnostic> diagnostics;
    (void)deadlock_message(w, &diagnostics);
  }
  CHECK(frame_stats().live_frames == before);
}

TEST_CASE("deadlock: a task that refuses to stop at shutdown is abandoned, its frame destroyed, with a warning") {
  const std::size_t before = frame_stats().live_frames;
  std::vector<Diagnostic> diagnostics;
  Event e("forever");
  std::string message;
  try {
    run_virtual(
        [](Event& e) -> Task<void> {
          auto s = create_task(stubborn(e), "stubborn");
          co_await s;
        }(e),
        &diagnostics);
  } catch (const DeadlockError& x) {
    message = x.what();
  }
  CHECK(has(message, "task 'stubborn' waits on Event 'forever'"));
  REQUIRE(diagnostics.size() == 1);
  CHECK(diagnostics.front().kind == Diagnostic::Kind::abandoned);
  CHECK(diagnostics.front().task == "stubborn");
  CHECK(frame_stats().live_frames == before);
}

TEST_CASE("slow step: a step that blocks the loop longer than slow_step_warning is reported, naming the task") {
  std::vector<Diagnostic> diagnostics;
  RunOptions options = virtual_options(&diagnostics);
  options.slow_step_warning = 50ms;
  run(
      []() -> Task<void> {
        auto h = create_task(
            []() -> Task<void> {
              std::this_thread::sleep_for(150ms);  // a blocking call: the one real sleep here
              co_return;
            }(),
            "sleepy");
        co_await h;
      }(),
      options);
  REQUIRE(count(diagnostics, Diagnostic::Kind::slow_step) == 1);
  const Diagnostic& d = diagnostics.front();
  CHECK(d.task == "sleepy");
  CHECK(has(d.message, "task 'sleepy'"));
  CHECK(has(d.message, "blocked the loop for "));
  CHECK(has(d.message, " ms"));  // with the time it took (not checked: it is real time)
}

TEST_CASE("slow step: slow_step_warning = 0 turns the warning off") {
  std::vector<Diagnostic> diagnostics;
  RunOptions options = virtual_options(&diagnostics);
  options.slow_step_warning = 0ms;
  run(
      []() -> Task<void> {
        std::this_thread::sleep_for(150ms);
        co_return;
      }(),
      options);
  CHECK(diagnostics.empty());
}

TEST_CASE("unretrieved exception: reported once, during run(), when the failed task's last handle is dropped") {
  std::vector<Diagnostic> diagnostics;
  run_virtual(
      [](std::vector<Diagnostic>* diagnostics) -> Task<void> {
        { auto dropped = create_task(fail_now("kaboom"), "bad"); }  // nobody keeps a handle
        auto kept = create_task(fail_now("later"), "bad2");
        co_await sleep(10ms);
        // 'bad' has failed and nothing refers to it any more: reported already.
        CHECK(count(*diagnostics, Diagnostic::Kind::unretrieved_exception) == 1);
        kept = TaskHandle<void>();  // the last handle to 'bad2' goes: reported now
        CHECK(count(*diagnostics, Diagnostic::Kind::unretrieved_exception) == 2);
        co_await sleep(10ms);
      }(&diagnostics),
      &diagnostics);
  REQUIRE(diagnostics.size() == 2);  // once each, not again when run() ends
  CHECK(diagnostics[0].kind == Diagnostic::Kind::unretrieved_exception);
  CHECK(diagnostics[0].task == "bad");
  CHECK(has(diagnostics[0].message, "'bad'"));
  CHECK(has(diagnostics[0].message, "kaboom"));
  CHECK(diagnostics[1].task == "bad2");
  CHECK(has(diagnostics[1].message, "later"));
}

TEST_CASE("unretrieved exception: a handle kept until run() ends is reported once, at the end of run()") {
  std::vector<Diagnostic> diagnostics;
  TaskHandle<void> keep;
  run_virtual(
      [](TaskHandle<void>* keep, std::vector<Diagnostic>* diagnostics) -> Task<void> {
        *keep = create_task(fail_now("kept and ignored"), "ignored");
        co_await sleep(10ms);
        CHECK(keep->done());
        CHECK(diagnostics->empty());  // still referenced: someone might yet look at it
      }(&keep, &diagnostics),
      &diagnostics);
  REQUIRE(diagnostics.size() == 1);
  CHECK(diagnostics[0].kind == Diagnostic::Kind::unretrieved_exception);
  CHECK(diagnostics[0].task == "ignored");
  CHECK(has(diagnostics[0].message, "kept and ignored"));
  StderrCapture err;          // with no loop running, a report could only go to stderr
  keep = TaskHandle<void>();  // the record goes now, after run(): not reported a second time
  CHECK(diagnostics.size() == 1);
  CHECK(err.text().empty());
}

TEST_CASE("unretrieved exception: not reported when the task was awaited or its exception()/result() looked at") {
  std::vector<Diagnostic> diagnostics;
  TaskHandle<void> kept_past_run;
  run_virtual(
      [](TaskHandle<void>* kept_past_run) -> Task<void> {
        auto awaited = create_task(fail_now("a"), "awaited");
        auto inspected = create_task(fail_now("b"), "inspected");
        auto asked = create_task(fail_now("c"), "asked");
        *kept_past_run = create_task(fail_now("d"), "kept");
        bool caught = false;
        try {
          co_await awaited;
        } catch (const std::runtime_error&) {
          caught = true;
        }
        CHECK(caught);
        co_await sleep(10ms);
        CHECK(inspected.exception() != nullptr);
        CHECK_THROWS_AS(asked.result(), std::runtime_error);
        CHECK(kept_past_run->exception() != nullptr);
      }(&kept_past_run),
      &diagnostics);
  kept_past_run = TaskHandle<void>();
  CHECK(diagnostics.empty());
}

TEST_CASE("diagnostics: with no sink given, warnings go to stderr as \"coop: warning: ...\"") {
  StderrCapture err;
  RunOptions options;
  options.virtual_time = true;  // and no on_diagnostic: the default sink
  run(
      []() -> Task<void> {
        { auto h = create_task(fail_now("printed"), "noisy"); }
        co_await sleep(10ms);
      }(),
      std::move(options));
  const std::string text = err.text();
  INFO(text);
  CHECK(has(text, "coop: warning: task 'noisy' failed"));
  CHECK(has(text, "printed"));
}

namespace {
Task<void> fails_and_is_dropped() {
  (void)create_task(fail_now("boom"), "dropped");
  co_await sleep(1ms);
}
}  // namespace

TEST_CASE("a diagnostics sink that throws does not terminate the program; the warning goes to stderr") {
  RunOptions o;
  o.virtual_time = true;
  o.on_diagnostic = [](const Diagnostic&) { throw std::runtime_error("sink failed"); };
  StderrCapture capture;
  run(fails_and_is_dropped(), std::move(o));  // the report comes from a noexcept path
  const std::string err = capture.text();
  CHECK(err.find("coop: warning: task 'dropped' failed") != std::string::npos);
}
