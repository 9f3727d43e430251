// test_event.cpp — what coop::Event promises (asyncio.Event).
//
// Proves: wait() returns at once (without giving way to other tasks) while the event is
// set, and parks otherwise until set(); set() wakes every waiter, in the order they began
// waiting; clear() lowers the flag so wait() parks again; is_set() reports the flag; a
// cancelled waiter is unlinked, so a later set() neither resumes it nor crashes; a named
// Event appears by name in a deadlock report.
#include <string>
#include <vector>

#include "support.hpp"

using namespace coop;
using namespace coop::testing;
using namespace std::chrono_literals;

namespace {

// Sleeps `before`, then waits on `e`; logs "<name>@<time>" when woken.
Task<void> waiter(Event& e, Clock::duration before, std::string name, std::vector<std::string>* log) {
  co_await sleep(before);
  co_await e.wait();
  log->push_back(name + "@" + format_duration(elapsed()));
}

Task<void> set_later(Event& e, Clock::duration d) {
  co_await sleep(d);
  e.set();
}

}  // namespace

TEST_CASE("Event: is_set() is false at first, true after set(), false again after clear()") {
  Event e;  // no loop is needed for the flag itself
  CHECK_FALSE(e.is_set());
  e.set();
  CHECK(e.is_set());
  e.set();  // setting twice is harmless
  CHECK(e.is_set());
  e.clear();
  CHECK_FALSE(e.is_set());
}

TEST_CASE("Event: wait() on a set event returns at once, without letting other tasks run") {
  run_virtual([]() -> Task<void> {
    Event e;
    e.set();
    bool other_ran = false;
    auto other = create_task([](bool* ran) -> Task<void> {
      *ran = true;
      co_return;
    }(&other_ran));
    co_await e.wait();
    co_await e.wait();
    CHECK_FALSE(other_ran);  // we never suspended, so the ready task did not get a turn
    CHECK(elapsed() == 0ms);
    co_await other;
  }());
}

TEST_CASE("Event: wait() parks until set() and then returns at the moment of set()") {
  std::vector<std::string> log;
  run_virtual([](std::vector<std::string>* log) -> Task<void> {
    Event e("go");
    auto w = create_task(waiter(e, 0ms, "w", log), "w");
    co_await sleep(100ms);
    CHECK(log->empty());  // still parked: nothing has set the event
    CHECK_FALSE(w.done());
    e.set();
    co_await w;
    CHECK(elapsed() == 100ms);
  }(&log));
  CHECK(log == std::vector<std::string>{"w@100 ms"});
}

TEST_CASE("Event: set() wakes every waiter, in the order they began waiting") {
  std::vector<std::string> log;
  run_virtual([](std::vector<std::string>* log) -> Task<void> {
    Event e;
    // Spawned in the order a, b, c, d but begin waiting in the order c, a, d, b.
    std::vector<TaskHandle<void>> hs{create_task(waiter(e, 20ms, "a", log)), create_task(waiter(e, 40ms, "b", log)),
                                     create_task(waiter(e, 10ms, "c", log)), create_task(waiter(e, 30ms, "d", log))};
    co_await sleep(50ms);
    e.set();
    co_await gather(std::move(hs));
  }(&log));
  CHECK(log == std::vector<std::string>{"c@50 ms", "a@50 ms", "d@50 ms", "b@50 ms"});
}

TEST_CASE("Event: after clear(), wait() parks again until the next set()") {
  std::vector<std::string> log;
  run_virtual([](std::vector<std::string>* log) -> Task<void> {
    Event e;
    e.set();
    co_await e.wait();  // set: passes
    e.clear();
    CHECK_FALSE(e.is_set());
    auto setter = create_task(set_later(e, 70ms));
    co_await e.wait();  // cleared: must park until the setter runs
    CHECK(elapsed() == 70ms);
    CHECK(e.is_set());  // set() leaves the flag up
    co_await setter;
    log->push_back("done");
  }(&log));
  CHECK(log.size() == 1);
}

TEST_CASE("Event: waiters woken by set() go on even if clear() follows in the same step") {
  std::vector<std::string> log;
  run_virtual([](std::vector<std::string>* log) -> Task<void> {
    Event e;
    auto a = create_task(waiter(e, 0ms, "a", log));
    auto b = create_task(waiter(e, 0ms, "b", log));
    co_await sleep(10ms);
    e.set();
    e.clear();  // too late to hold back a and b: set() already released them
    co_await a;
    co_await b;
    CHECK_FALSE(e.is_set());
  }(&log));
  CHECK(log == std::vector<std::string>{"a@10 ms", "b@10 ms"});
}

TEST_CASE("Event: a cancelled waiter is unlinked: a later set() does not resume it and nothing crashes") {
  std::vector<std::string> log;
  run_virtual([](std::vector<std::string>* log) -> Task<void> {
    Event e("ready");
    // `stubborn` catches its CancelledError, then sleeps 1 s before re-throwing it. If the
    // Event still pointed at it, set() would wake it early, in the middle of that sleep.
    auto stubborn = create_task(
        [](Event& e, std::vector<std::string>* log) -> Task<void> {
          std::exception_ptr cancelled;
          try {
            co_await e.wait();
            log->push_back("stubborn woken by set()");  // must never happen
          } catch (const CancelledError&) {
            cancelled = std::current_exception();
          }
          co_await sleep(1s);
          log->push_back("stubborn slept until " + format_duration(elapsed()));
          std::rethrow_exception(cancelled);
        }(e, log),
        "stubborn");
    auto plain = create_task(waiter(e, 0ms, "plain", log), "plain");
    auto quick = create_task(waiter(e, 0ms, "quick", log), "quick");  // cancelled and gone
    co_await sleep(10ms);
    stubborn.cancel();
    quick.cancel();
    e.set();  // in the same step as the cancellations
    co_await sleep(10ms);
    e.clear();
    e.set();  // and again later, when the cancelled waiters have run
    bool cancelled = false;
    try {
      co_await stubborn;
    } catch (const CancelledError&) {
      cancelled = true;
    }
    CHECK(cancelled);
    CHECK(elapsed() == 1010ms);  // the full second of sleep: set() did not cut it short
    CHECK(quick.cancelled());
    co_await plain;
  }(&log));
  CHECK(log == std::vector<std::string>{"plain@10 ms", "stubborn slept until 1.01 s"});
}

TEST_CASE("Event: a named Event appears by name in a deadlock report") {
  std::string message;
  try {
    run_virtual([]() -> Task<void> {
      Event ready("ready");
      co_await ready.wait();  // nobody will ever set it
    }());
  } catch (const DeadlockError& e) {
    message = e.what();
  }
  CHECK(message.find("task 'main' waits on Event 'ready'") != std::string::npos);
}

namespace {
Task<void> wait_on(Event& e) { co_await e.wait(); }
Task<std::string> event_dies_under_its_waiter() {
  auto event = std::make_unique<Event>("doomed");
  auto waiter = create_task(wait_on(*event), "waiter");
  co_await sleep(0ms);  // the waiter parks on the event
  event.reset();        // a bug in user code: the Event dies first
  try {
    co_await waiter;
  } catch (const UsageError& e) {
    co_return e.what();
  }
  co_return "(no UsageError)";
}
}  // namespace

TEST_CASE("an Event destroyed while a task waits on it: the waiter gets a clear UsageError, not a hang") {
  std::string what = run_virtual(event_dies_under_its_waiter());
  CHECK(what.find("destroyed while it waited") != std::string::npos);
}
