// test_lock.cpp — what coop::Lock promises (asyncio.Lock).
//
// Proves: without a lock, two tasks doing read / await / write-back lose updates, and with
// the lock they lose none (mutual exclusion across an await); waiters get the lock in the
// order they asked, and a task that releases and asks again goes to the back of the line;
// the Guard releases on destruction and on unlock(), and moves; locked() reports the
// state; a cancelled waiter never gets the lock and does not hold up later waiters; a
// deadlock report names the lock and the task holding it.
#include <string>
#include <vector>

#include "support.hpp"

using namespace coop;
using namespace coop::testing;
using namespace std::chrono_literals;

namespace {

// `rounds` times: read the counter, await, write back the value read plus one.
Task<void> unsafe_increments(int* counter, int rounds) {
  for (int i = 0; i < rounds; ++i) {
    int seen = *counter;
    co_await sleep(1ms);  // another task runs here and may update the counter
    *counter = seen + 1;
  }
}

Task<void> locked_increments(Lock& lock, int* counter, int rounds) {
  for (int i = 0; i < rounds; ++i) {
    auto guard = co_await lock.lock();
    int seen = *counter;
    co_await sleep(1ms);
    *counter = seen + 1;
  }
}

// Sleeps `before`, asks for the lock, logs "<name>@<time>" when it has it, holds it `hold`.
Task<void> taker(Lock& lock, Clock::duration before, Clock::duration hold, std::string name,
                 std::vector<std::string>* log) {
  co_await sleep(before);
  auto guard = co_await lock.lock();
  log->push_back(name + "@" + format_duration(elapsed()));
  co_await sleep(hold);
}

}  // namespace

TEST_CASE("Lock: without it, read-await-write loses updates; with it, none are lost") {
  constexpr int rounds = 50;
  const int lost_without = run_virtual([]() -> Task<int> {
    int counter = 0;
    co_await gather(unsafe_increments(&counter, rounds), unsafe_increments(&counter, rounds));
    co_return 2 * rounds - counter;
  }());
  const int lost_with = run_virtual([]() -> Task<int> {
    int counter = 0;
    Lock lock;
    co_await gather(locked_increments(lock, &counter, rounds), locked_increments(lock, &counter, rounds));
    CHECK(elapsed() == 2 * rounds * 1ms);  // the critical sections ran one after another
    co_return 2 * rounds - counter;
  }());
  CHECK(lost_without > 0);  // the race is real: the test would notice a useless lock
  CHECK(lost_with == 0);
}

TEST_CASE("Lock: waiters get the lock in the order they asked for it") {
  std::vector<std::string> log;
  run_virtual([](std::vector<std::string>* log) -> Task<void> {
    Lock lock("l");
    auto holder = create_task(taker(lock, 0ms, 100ms, "holder", log));
    // Spawned a, b, c, d; they ask at 30, 10, 40, 20 ms: in the order b, d, a, c.
    std::vector<TaskHandle<void>> hs{create_task(taker(lock, 30ms, 10ms, "a", log)),
                                     create_task(taker(lock, 10ms, 10ms, "b", log)),
                                     create_task(taker(lock, 40ms, 10ms, "c", log)),
                                     create_task(taker(lock, 20ms, 10ms, "d", log))};
    co_await holder;
    co_await gather(std::move(hs));
    CHECK_FALSE(lock.locked());
  }(&log));
  CHECK(log == std::vector<std::string>{"holder@0 ns", "b@100 ms", "d@110 ms", "a@120 ms", "c@130 ms"});
}

TEST_CASE("Lock: a task that releases and asks again goes to the back of the line") {
  std::vector<std::string> log;
  run_virtual([](std::vector<std::string>* log) -> Task<void> {
    Lock lock;
    auto greedy = create_task(
        [](Lock& lock, std::vector<std::string>* log) -> Task<void> {
          for (int i = 0; i < 2; ++i) {
            auto guard = co_await lock.lock();
            log->push_back("greedy@" + format_duration(elapsed()));
            co_await sleep(10ms);
            // guard released here, and the loop asks again at once
          }
        }(lock, log));
    auto polite = create_task(taker(lock, 5ms, 10ms, "polite", log));
    co_await greedy;
    co_await polite;
  }(&log));
  CHECK(log == std::vector<std::string>{"greedy@0 ns", "polite@10 ms", "greedy@20 ms"});
}

TEST_CASE("Lock: locked() is true while a Guard holds it; the Guard releases it when destroyed") {
  run_virtual([]() -> Task<void> {
    Lock lock;
    CHECK_FALSE(lock.locked());
    {
      auto guard = co_await lock.lock();
      CHECK(lock.locked());
      CHECK(guard.owns_lock());
      co_await sleep(10ms);  // held across an await
      CHECK(lock.locked());
    }
    CHECK_FALSE(lock.locked());
    auto again = co_await lock.lock();  // free again: taken without waiting
    CHECK(elapsed() == 10ms);
    CHECK(lock.locked());
  }());
}

TEST_CASE("Lock: Guard::unlock() releases early, and the destructor then does nothing") {
  run_virtual([]() -> Task<void> {
    Lock lock;
    std::vector<std::string> log;
    auto guard = co_await lock.lock();
    auto other = create_task(taker(lock, 0ms, 50ms, "other", &log));
    co_await sleep(10ms);  // other is waiting for the lock
    CHECK(log.empty());
    guard.unlock();
    CHECK_FALSE(guard.owns_lock());
    CHECK(lock.locked());  // handed straight to the waiter: it stays locked
    guard.unlock();        // a second unlock is harmless and must not release other's hold
    co_await sleep(10ms);
    CHECK(log == std::vector<std::string>{"other@10 ms"});
    CHECK(lock.locked());  // other still holds it
    co_await other;
    CHECK_FALSE(lock.locked());
  }());
}

TEST_CASE("Lock: a Guard can be moved; the lock is released once, by the last owner") {
  run_virtual([]() -> Task<void> {
    Lock lock;
    auto g1 = co_await lock.lock();
    Lock::Guard g2 = std::move(g1);
    CHECK_FALSE(g1.owns_lock());
    CHECK(g2.owns_lock());
    CHECK(lock.locked());
    { Lock::Guard dropped = std::move(g1); }  // an empty guard releases nothing
    CHECK(lock.locked());
    g2 = Lock::Guard();  // move-assigning releases what g2 held
    CHECK_FALSE(lock.locked());
    co_return;
  }());
}

TEST_CASE("Lock: a cancelled waiter never gets the lock and does not hold up later waiters") {
  std::vector<std::string> log;
  run_virtual([](std::vector<std::string>* log) -> Task<void> {
    Lock lock;
    auto holder = create_task(taker(lock, 0ms, 100ms, "holder", log));
    auto first = create_task(taker(lock, 10ms, 10ms, "first", log), "first");
    auto second = create_task(taker(lock, 20ms, 10ms, "second", log), "second");
    co_await sleep(50ms);
    first.cancel();  // waiting in line, ahead of second
    bool cancelled = false;
    try {
      co_await first;
    } catch (const CancelledError&) {
      cancelled = true;
    }
    CHECK(cancelled);
    CHECK(elapsed() == 50ms);  // left the line at once
    co_await second;
    CHECK(elapsed() == 110ms);  // second got it as soon as holder let go
    CHECK_FALSE(lock.locked());
    co_await holder;
  }(&log));
  CHECK(log == std::vector<std::string>{"holder@0 ns", "second@100 ms"});
}

TEST_CASE("Lock: a waiter cancelled in the same step as the release does not get the lock") {
  std::vector<std::string> log;
  run_virtual([](std::vector<std::string>* log) -> Task<void> {
    Lock lock;
    auto guard = co_await lock.lock();
    auto first = create_task(taker(lock, 0ms, 10ms, "first", log), "first");
    auto second = create_task(taker(lock, 1ms, 10ms, "second", log), "second");
    co_await sleep(5ms);  // both are in line
    first.cancel();
    guard.unlock();  // must go to `second`, not to the cancelled `first`
    co_await second;
    CHECK(first.cancelled());
    CHECK(elapsed() == 15ms);
    CHECK_FALSE(lock.locked());
  }(&log));
  CHECK(log == std::vector<std::string>{"second@5 ms"});
}

TEST_CASE("Lock: a waiter cancelled after the lock was handed to it passes it on without running its critical section") {
  std::vector<std::string> log;
  run_virtual([](std::vector<std::string>* log) -> Task<void> {
    Lock lock;
    auto guard = co_await lock.lock();
    auto first = create_task(taker(lock, 0ms, 10ms, "first", log), "first");
    auto second = create_task(taker(lock, 1ms, 10ms, "second", log), "second");
    co_await sleep(5ms);
    guard.unlock();  // handed to `first`, which is now ready to run...
    first.cancel();  // ...and cancelled before it ran: CancelledError at its lock(), the lock passed on
    co_await second;
    CHECK(first.cancelled());
    CHECK(elapsed() == 15ms);  // second got it at once
    CHECK_FALSE(lock.locked());
  }(&log));
  CHECK(log == std::vector<std::string>{"second@5 ms"});
}

TEST_CASE("Lock: a deadlock report names the lock and the task holding it") {
  // The lock and the event outlive run(): at shutdown `x` may finish after main's frame is gone.
  Lock lock("accounts");
  Event never("never");
  std::string message;
  try {
    run_virtual([](Lock& lock, Event& never) -> Task<void> {
      auto x = create_task(
          [](Lock& lock, Event& never) -> Task<void> {
            auto guard = co_await lock.lock();
            co_await never.wait();  // holds the lock forever
          }(lock, never),
          "x");
      co_await sleep(1ms);
      auto guard = co_await lock.lock();
    }(lock, never));
  } catch (const DeadlockError& e) {
    message = e.what();
  }
  CHECK(message.find("task 'main' waits on Lock 'accounts', held by task 'x'") != std::string::npos);
  CHECK(message.find("task 'x' waits on Event 'never'") != std::string::npos);
  CHECK_FALSE(lock.locked());  // run() wound down: x was cancelled and its guard released
}

TEST_CASE("Lock: after a hand-over, the deadlock report names the new holder") {
  Lock lock("db");
  Event never("never");
  std::string message;
  try {
    run_virtual([](Lock& lock, Event& never) -> Task<void> {
      auto guard = co_await lock.lock();
      auto y = create_task(
          [](Lock& lock, Event& never) -> Task<void> {
            auto guard = co_await lock.lock();  // handed over by main
            co_await never.wait();
          }(lock, never),
          "y");
      co_await sleep(1ms);
      guard.unlock();
      co_await sleep(1ms);
      auto again = co_await lock.lock();
    }(lock, never));
  } catch (const DeadlockError& e) {
    message = e.what();
  }
  CHECK(message.find("task 'main' waits on Lock 'db', held by task 'y'") != std::string::npos);
}

namespace {
Task<void> lock_it(Lock& l) { auto g = co_await l.lock(); }
Task<bool> lock_dies_under_its_waiter() {
  auto lock = std::make_unique<Lock>("doomed");
  auto guard = co_await lock->lock();
  auto waiter = create_task(lock_it(*lock), "waiter");
  co_await sleep(0ms);  // the waiter queues for the lock
  lock.reset();         // a bug in user code: the Lock dies while held and waited for
  CHECK_FALSE(guard.owns_lock());  // the guard let go; it will not unlock freed memory
  try {
    co_await waiter;
  } catch (const UsageError&) {
    co_return true;
  }
  co_return false;
}
}  // namespace

TEST_CASE("a Lock destroyed while a task waits for it: the waiter gets a UsageError, not a hang") {
  CHECK(run_virtual(lock_dies_under_its_waiter()));
}
