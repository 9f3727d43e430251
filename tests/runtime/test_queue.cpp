// test_queue.cpp — what coop::Queue<T> promises (asyncio.Queue).
//
// Proves: items come out in the order they went in; get() parks on an empty queue until an
// item is put; put() parks on a full bounded queue, so a fast producer is slowed to its
// consumer's pace (backpressure, measured in virtual time); size/empty/full/maxsize; an
// item put while a getter waits is handed straight to that getter; a cancelled getter
// loses no item, even when cancelled after an item was handed to it (it goes back to the
// front); a cancelled putter's item is never added; move-only items work.
#include <memory>
#include <string>
#include <vector>

#include "support.hpp"

using namespace coop;
using namespace coop::testing;
using namespace std::chrono_literals;

namespace {

// Puts 0..n-1 as fast as the queue allows; logs the time each put completed.
Task<void> producer(Queue<int>& q, int n, std::vector<Clock::duration>* put_done) {
  for (int i = 0; i < n; ++i) {
    co_await q.put(i);
    put_done->push_back(elapsed());
  }
}

// Every `pace`, takes one item; n items in all.
Task<std::vector<int>> slow_consumer(Queue<int>& q, int n, Clock::duration pace) {
  std::vector<int> got;
  for (int i = 0; i < n; ++i) {
    co_await sleep(pace);
    got.push_back(co_await q.get());
  }
  co_return got;
}

Task<int> getter(Queue<int>& q) { co_return co_await q.get(); }

Task<void> put_later(Queue<int>& q, Clock::duration d, int v) {
  co_await sleep(d);
  co_await q.put(v);
}

}  // namespace

TEST_CASE("Queue: items come out in the order they were put") {
  run_virtual([]() -> Task<void> {
    Queue<std::string> q;
    for (const char* s : {"one", "two", "three", "four"}) co_await q.put(s);
    CHECK(q.size() == 4);
    std::vector<std::string> out;
    while (!q.empty()) out.push_back(co_await q.get());
    CHECK(out == std::vector<std::string>{"one", "two", "three", "four"});
    CHECK(elapsed() == 0ms);  // an unbounded queue never makes put() or a non-empty get() wait
  }());
}

TEST_CASE("Queue: get() on an empty queue parks until an item is put") {
  run_virtual([]() -> Task<void> {
    Queue<int> q;
    auto g = create_task(getter(q), "getter");
    auto p = create_task(put_later(q, 120ms, 5), "putter");
    co_await sleep(100ms);
    CHECK_FALSE(g.done());  // still waiting on the empty queue
    CHECK(co_await g == 5);
    CHECK(elapsed() == 120ms);  // it got the item the moment it was put
    co_await p;
  }());
}

TEST_CASE("Queue: size, empty, full and maxsize report the queue's state") {
  run_virtual([]() -> Task<void> {
    Queue<int> bounded(2);
    CHECK(bounded.maxsize() == 2);
    CHECK(bounded.empty());
    CHECK_FALSE(bounded.full());
    CHECK(bounded.size() == 0);
    co_await bounded.put(1);
    CHECK_FALSE(bounded.empty());
    CHECK_FALSE(bounded.full());
    CHECK(bounded.size() == 1);
    co_await bounded.put(2);
    CHECK(bounded.full());
    CHECK(bounded.size() == 2);
    (void)co_await bounded.get();
    CHECK_FALSE(bounded.full());
    CHECK(bounded.size() == 1);

    Queue<int> unbounded;  // maxsize 0: never full
    CHECK(unbounded.maxsize() == 0);
    for (int i = 0; i < 1000; ++i) co_await unbounded.put(i);
    CHECK_FALSE(unbounded.full());
    CHECK(unbounded.size() == 1000);
  }());
}

TEST_CASE("Queue: put() on a full queue parks: a fast producer is slowed to the consumer's pace") {
  std::vector<Clock::duration> put_done;
  run_virtual([](std::vector<Clock::duration>* put_done) -> Task<void> {
    Queue<int> q(2);
    auto p = create_task(producer(q, 6, put_done), "producer");
    std::vector<int> got = co_await slow_consumer(q, 6, 100ms);
    CHECK(got == std::vector<int>{0, 1, 2, 3, 4, 5});
    co_await p;
    CHECK(q.size() <= 2);
  }(&put_done));
  // Two puts fit at once; after that, each put waits for the consumer's next get().
  CHECK(put_done == std::vector<Clock::duration>{0ms, 0ms, 100ms, 200ms, 300ms, 400ms});
}

TEST_CASE("Queue: an item put while a getter waits goes straight to that getter") {
  run_virtual([]() -> Task<void> {
    Queue<int> q;
    auto g = create_task(getter(q), "getter");
    co_await sleep(10ms);  // the getter is parked now
    co_await q.put(7);
    CHECK(q.empty());  // handed over, not left in the queue for whoever runs first
    co_await q.put(8);
    CHECK(q.size() == 1);
    CHECK(co_await q.get() == 8);  // we run first, yet we cannot take the getter's 7
    CHECK(co_await g == 7);
  }());
}

TEST_CASE("Queue: getters are served in the order they began waiting") {
  run_virtual([]() -> Task<void> {
    Queue<int> q;
    auto first = create_task(getter(q));
    auto second = create_task(getter(q));
    co_await sleep(1ms);
    co_await q.put(1);
    co_await q.put(2);
    CHECK(co_await first == 1);
    CHECK(co_await second == 2);
  }());
}

TEST_CASE("Queue: a cancelled getter does not lose an item; the next getter gets it") {
  run_virtual([]() -> Task<void> {
    Queue<int> q;
    auto first = create_task(getter(q), "first");
    auto second = create_task(getter(q), "second");
    co_await sleep(10ms);
    first.cancel();
    co_await q.put(42);  // in the same step: `first` has not even run since its cancel()
    CHECK(co_await second == 42);
    CHECK(first.cancelled());
    CHECK(q.empty());
  }());
}

TEST_CASE("Queue: a getter cancelled after its item was handed over gives it back, to the front of the queue") {
  run_virtual([]() -> Task<void> {
    Queue<int> q;
    std::vector<int> received;
    auto g = create_task(
        [](Queue<int>& q, std::vector<int>* received) -> Task<void> {
          received->push_back(co_await q.get());  // the cancellation lands here
          co_await sleep(1s);
        }(q, &received),
        "getter");
    co_await sleep(10ms);
    co_await q.put(9);   // handed to the parked getter...
    co_await q.put(10);  // (the getter has its item: this one goes into the queue)
    g.cancel();          // ...which is cancelled before it could run
    bool cancelled = false;
    try {
      co_await g;
    } catch (const CancelledError&) {
      cancelled = true;
    }
    CHECK(cancelled);
    CHECK(received.empty());  // it never saw the item...
    REQUIRE(q.size() == 2);   // ...which is back, first in line: nothing lost, order kept
    CHECK(co_await q.get() == 9);
    CHECK(co_await q.get() == 10);
  }());
}

TEST_CASE("Queue: a cancelled putter's item is never added") {
  run_virtual([]() -> Task<void> {
    Queue<int> q(1);
    co_await q.put(1);  // full
    auto doomed = create_task(put_later(q, 0ms, 2), "doomed");
    auto next = create_task(put_later(q, 5ms, 3), "next");
    co_await sleep(10ms);  // both putters are parked, doomed first
    doomed.cancel();
    co_await sleep(10ms);
    CHECK(doomed.cancelled());
    CHECK(co_await q.get() == 1);  // frees a slot: `next`'s item goes in, not doomed's
    CHECK(co_await q.get() == 3);
    co_await next;
    CHECK(q.empty());
    co_await sleep(10ms);
    CHECK(q.empty());  // and nothing turns up later either
  }());
}

TEST_CASE("Queue: move-only items such as std::unique_ptr<int> work") {
  run_virtual([]() -> Task<void> {
    Queue<std::unique_ptr<int>> q(1);
    auto consumer = create_task(
        [](Queue<std::unique_ptr<int>>& q) -> Task<int> {
          int sum = 0;
          for (int i = 0; i < 3; ++i) {
            std::unique_ptr<int> p = co_await q.get();
            sum += *p;
            co_await sleep(10ms);
          }
          co_return sum;
        }(q));
    for (int i = 1; i <= 3; ++i) co_await q.put(std::make_unique<int>(i));
    CHECK(co_await consumer == 6);
  }());
}

namespace {
Task<int> get_from(Queue<int>& q) { co_return co_await q.get(); }
Task<bool> queue_dies_under_its_getter() {
  auto queue = std::make_unique<Queue<int>>();
  auto getter = create_task(get_from(*queue), "getter");
  co_await sleep(0ms);
  queue.reset();
  try {
    co_await getter;
  } catch (const UsageError&) {
    co_return true;
  }
  co_return false;
}
}  // namespace

TEST_CASE("a Queue destroyed while a task waits on it: the waiter gets a UsageError, not a hang") {
  CHECK(run_virtual(queue_dies_under_its_getter()));
}
