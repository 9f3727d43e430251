// test_thread_affinity.cpp — a task, Event, Lock or Queue belongs to the loop that made it.
//
// Proves: using one from another thread is a UsageError naming the rule ("belongs to the
// loop that made it"; to_thread is the door between threads), instead of a crash or a lost
// wake-up: cancel() from a thread running its own loop; Event::set() from a pool thread;
// awaiting a handle from another thread's loop; Queue::put() from another thread's loop.
#include <string>

#include "support.hpp"

using namespace coop;
using namespace coop::testing;

namespace {

const char* const kRule = "belongs to the loop that made it";

bool names_the_rule(const std::string& message) { return message.find(kRule) != std::string::npos; }

Task<void> sleeps_an_hour() { co_await sleep(3600s); }

// Runs `body` as the main task of a second loop, on the calling (pool) thread; returns the
// UsageError's message, or "" if none was thrown.
template <class Body>
std::string usage_error_in_another_loop(Body body) {
  std::string message;
  try {
    run([](Body body) -> Task<void> { co_await body(); }(body));
  } catch (const UsageError& e) {
    message = e.what();
  }
  return message;
}

}  // namespace

TEST_CASE("cancel() from a thread that runs its own loop is a UsageError naming the rule") {
  run([]() -> Task<void> {
    auto h = create_task(sleeps_an_hour(), "sleeper");
    co_await sleep(0s);
    std::string message = co_await to_thread([&] {
      return usage_error_in_another_loop([&]() -> Task<void> {
        h.cancel();
        co_return;
      });
    });
    CHECK(names_the_rule(message));
    CHECK_FALSE(h.done());
    CHECK(h.cancel());  // from its own loop: fine
    try {
      co_await h;
    } catch (const CancelledError&) {
    }
  }());
}

TEST_CASE("Event::set() from another thread is a UsageError, not a lost wake-up") {
  run([]() -> Task<void> {
    Event ev("E");
    auto waiter = create_task(
        [](Event& ev) -> Task<void> { co_await ev.wait(); }(ev), "waiter");
    co_await sleep(0s);
    std::string message = co_await to_thread([&] {
      try {
        ev.set();
      } catch (const UsageError& e) {
        return std::string(e.what());
      }
      return std::string();
    });
    CHECK(names_the_rule(message));
    CHECK(message.find("Event::set()") != std::string::npos);
    ev.set();  // from its own loop: wakes the waiter
    co_await waiter;
  }());
}

TEST_CASE("awaiting a task's handle from another thread's loop is a UsageError naming the rule") {
  run([]() -> Task<void> {
    auto h = create_task([]() -> Task<int> {
      co_await sleep(10ms);
      co_return 1;
    }());
    std::string message = co_await to_thread([&] {
      return usage_error_in_another_loop([&]() -> Task<void> { (void)co_await h; });
    });
    CHECK(names_the_rule(message));
    CHECK(co_await h == 1);
  }());
}

TEST_CASE("Queue::put() from another thread's loop is a UsageError naming the rule") {
  run([]() -> Task<void> {
    Queue<int> q;
    std::string message = co_await to_thread([&] {
      return usage_error_in_another_loop([&]() -> Task<void> { co_await q.put(1); });
    });
    CHECK(names_the_rule(message));
    CHECK(q.empty());
  }());
}
