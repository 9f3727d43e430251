// asyncio_suite/test_locks.cpp — CPython's Lib/test/test_asyncio/test_locks.py, ported
// (LockTests and EventTests; coop has no Condition, Semaphore or Barrier).
//
// Each TEST_CASE is named after the upstream test it comes from and keeps its steps.
// Translation: `await lock.acquire()` -> `co_await lock.lock()`, keeping the Guard alive
// as long as the lock is held (lock.release() -> destroying or unlock()ing the Guard); a
// Future the test sets by hand -> an Event; loop.call_soon(f) -> calling f after the tasks
// just created have had their first turn (co_await sleep(0s)), which is when call_soon's
// callback runs. One documented difference shows: coop hands a released lock straight to
// the next waiter, so locked() stays true between the release and that waiter resuming,
// where asyncio reports false for that moment.
#include <string>
#include <vector>

#include "support.hpp"

using namespace coop;
using namespace coop::testing;

namespace {

using Guards = std::vector<Lock::Guard>;

// acquire() and keep the lock (in `held`), appending `n` to `result`.
Task<bool> acquire_and_hold(Lock& lock, Guards* held, std::vector<int>* result, int n) {
  held->push_back(co_await lock.lock());
  result->push_back(n);
  co_return true;
}

}  // namespace

TEST_CASE("LockTests.test_acquire") {
  run_virtual([]() -> Task<void> {
    Lock lock;
    Guards held;
    std::vector<int> result;
    held.push_back(co_await lock.lock());
    auto t1 = create_task(acquire_and_hold(lock, &held, &result, 1));
    auto t2 = create_task(acquire_and_hold(lock, &held, &result, 2));
    co_await sleep(0s);
    CHECK(result.empty());
    held.front().unlock();  // lock.release()
    co_await sleep(0s);
    CHECK(result == std::vector<int>{1});
    co_await sleep(0s);
    CHECK(result == std::vector<int>{1});
    auto t3 = create_task(acquire_and_hold(lock, &held, &result, 3));
    held[1].unlock();
    co_await sleep(0s);
    CHECK(result == std::vector<int>{1, 2});
    held[2].unlock();
    co_await sleep(0s);
    CHECK(result == std::vector<int>{1, 2, 3});
    CHECK(t1.done());
    CHECK(t1.result());
    CHECK(t2.done());
    CHECK(t2.result());
    CHECK(t3.done());
    CHECK(t3.result());
  }());
}

TEST_CASE("LockTests.test_acquire_cancel") {
  run_virtual([]() -> Task<void> {
    Lock lock;
    auto guard = co_await lock.lock();
    auto task = create_task([](Lock& lock) -> Task<void> { auto g = co_await lock.lock(); }(lock));
    co_await sleep(0s);
    task.cancel();  // call_soon(task.cancel)
    bool cancelled = false;
    try {
      co_await task;
    } catch (const CancelledError&) {
      cancelled = true;
    }
    CHECK(cancelled);
    // assertFalse(lock._waiters): releasing leaves it unlocked.
    guard.unlock();
    CHECK_FALSE(lock.locked());
  }());
}

TEST_CASE("LockTests.test_cancel_race") {
  // A holds the lock, B and C wait. Then, "concurrently", A's blocker completes and B is
  // cancelled: A's release must skip B and go to C.
  run_virtual([]() -> Task<void> {
    Lock lock;
    auto lockit = [](Lock& lock, Event* blocker) -> Task<void> {
      auto g = co_await lock.lock();
      if (blocker != nullptr) co_await blocker->wait();
    };
    Event fa;
    auto ta = create_task(lockit(lock, &fa), "A");
    co_await sleep(0s);
    CHECK(lock.locked());
    auto tb = create_task(lockit(lock, nullptr), "B");
    co_await sleep(0s);
    auto tc = create_task(lockit(lock, nullptr), "C");
    co_await sleep(0s);
    // Create the race and check.
    fa.set();
    tb.cancel();
    co_await sleep(0s);
    CHECK(lock.locked());  // asyncio: False. coop handed it straight to C (see above)
    CHECK(ta.done());
    CHECK(tb.cancelled());
    co_await tc;
    CHECK_FALSE(lock.locked());
  }());
}

TEST_CASE("LockTests.test_cancel_release_race") {
  // Issue 32734: acquire 4 locks, cancel second, release first, and 2 locks are taken at once.
  run_virtual([]() -> Task<void> {
    Lock lock;
    Guards held;
    int lock_count = 0;
    int call_count = 0;
    auto lockit = [](Lock& lock, Guards* held, int* lock_count, int* call_count) -> Task<void> {
      ++*call_count;
      held->push_back(co_await lock.lock());
      ++*lock_count;
    };
    auto first = co_await lock.lock();
    auto t1 = create_task(lockit(lock, &held, &lock_count, &call_count));
    auto t2 = create_task(lockit(lock, &held, &lock_count, &call_count));
    auto t3 = create_task(lockit(lock, &held, &lock_count, &call_count));
    // Start scheduled tasks
    co_await sleep(0s);
    // trigger(), as call_soon would run it
    t1.cancel();
    first.unlock();
    bool cancelled = false;
    try {
      co_await t1;  // Wait for cancellation
    } catch (const CancelledError&) {
      cancelled = true;
    }
    CHECK(cancelled);
    // Make sure only one lock was taken
    CHECK(lock_count == 1);
    // While 3 calls were made to lockit()
    CHECK(call_count == 3);
    CHECK((t1.cancelled() && t2.done()));
    // Cleanup the task that is stuck on acquire.
    t3.cancel();
    co_await sleep(0s);
    CHECK(t3.cancelled());
  }());
}

TEST_CASE("LockTests.test_finished_waiter_cancelled") {
  run_virtual([]() -> Task<void> {
    Lock lock;
    Guards held;
    std::vector<int> result;
    auto first = co_await lock.lock();
    CHECK(lock.locked());
    auto tb = create_task(acquire_and_hold(lock, &held, &result, 2));
    co_await sleep(0s);
    // Create a second waiter, wake up the first, and cancel it.
    // Without the fix, the second was not woken up.
    auto tc = create_task(acquire_and_hold(lock, &held, &result, 3));
    tb.cancel();
    first.unlock();
    co_await sleep(0s);
    CHECK(lock.locked());
    CHECK(tb.cancelled());
    // Cleanup
    co_await tc;
    CHECK(result == std::vector<int>{3});
  }());
}

TEST_CASE("LockTests.test_release_no_waiters") {
  run_virtual([]() -> Task<void> {
    Lock lock;
    auto g = co_await lock.lock();
    CHECK(lock.locked());
    g.unlock();
    CHECK_FALSE(lock.locked());
  }());
}

TEST_CASE("LockTests.test_context_manager") {
  run_virtual([]() -> Task<void> {
    Lock lock;
    CHECK_FALSE(lock.locked());
    {
      auto g = co_await lock.lock();  // async with lock:
      CHECK(lock.locked());
    }
    CHECK_FALSE(lock.locked());
  }());
}

TEST_CASE("EventTests.test_wait") {
  run_virtual([]() -> Task<void> {
    Event ev;
    CHECK_FALSE(ev.is_set());
    std::vector<int> result;
    auto c = [](Event& ev, std::vector<int>* result, int n) -> Task<void> {
      co_await ev.wait();
      result->push_back(n);
    };
    auto t1 = create_task(c(ev, &result, 1));
    auto t2 = create_task(c(ev, &result, 2));
    co_await sleep(0s);
    CHECK(result.empty());
    auto t3 = create_task(c(ev, &result, 3));
    ev.set();
    co_await sleep(0s);
    CHECK(result == std::vector<int>{3, 1, 2});
    CHECK(t1.done());
    CHECK(t2.done());
    CHECK(t3.done());
  }());
}

TEST_CASE("EventTests.test_wait_cancel") {
  run_virtual([]() -> Task<void> {
    Event ev;
    auto wait = create_task([](Event& ev) -> Task<void> { co_await ev.wait(); }(ev));
    co_await sleep(0s);
    wait.cancel();  // call_soon(wait.cancel)
    bool cancelled = false;
    try {
      co_await wait;
    } catch (const CancelledError&) {
      cancelled = true;
    }
    CHECK(cancelled);
    ev.set();  // assertFalse(ev._waiters): nobody left to wake
    CHECK(ev.is_set());
  }());
}

TEST_CASE("EventTests.test_clear_with_waiters") {
  run_virtual([]() -> Task<void> {
    Event ev;
    std::vector<int> result;
    auto t = create_task(
        [](Event& ev, std::vector<int>* result) -> Task<bool> {
          co_await ev.wait();
          result->push_back(1);
          co_return true;
        }(ev, &result));
    co_await sleep(0s);
    CHECK(result.empty());
    ev.set();
    ev.clear();
    CHECK_FALSE(ev.is_set());
    ev.set();
    ev.set();
    co_await sleep(0s);
    CHECK(result == std::vector<int>{1});
    CHECK(t.done());
    CHECK(t.result());
  }());
}
