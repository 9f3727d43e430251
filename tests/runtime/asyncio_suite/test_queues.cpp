// asyncio_suite/test_queues.cpp — CPython's Lib/test/test_asyncio/test_queues.py, ported.
//
// Each TEST_CASE is named after the upstream test it comes from (class.method) and keeps
// its steps. Translation: asyncio.create_task(q.get()) -> create_task(get_one(q));
// put_nowait / get_nowait -> co_await put / get where they cannot suspend (an unbounded
// queue, a non-empty queue); `await asyncio.sleep(0)` -> co_await sleep(0s) (one loop turn,
// the same in both); TaskGroup -> awaiting each task. White-box checks of q._getters /
// q._putters become what they guarantee: a later put or get is not swallowed by a dead
// waiter. Tests of what coop's Queue does not have (task_done/join, LIFO, priority,
// shutdown, repr) are not ported.
#include <set>
#include <string>
#include <vector>

#include "support.hpp"

using namespace coop;
using namespace coop::testing;

namespace {

template <class T>
Task<T> get_one(Queue<T>& q) {
  co_return co_await q.get();
}
template <class T>
Task<void> put_one(Queue<T>& q, T v) {
  co_await q.put(std::move(v));
}

template <class T>
bool ends_cancelled(TaskHandle<T>& h) {
  return h.done() && h.cancelled();
}

}  // namespace

TEST_CASE("QueueBasicTests.test_maxsize") {
  run_virtual([]() -> Task<void> {
    Queue<int> q(2);
    CHECK(q.maxsize() == 2);
    std::vector<int> have_been_put;
    auto t = create_task(
        [](Queue<int>& q, std::vector<int>* have_been_put) -> Task<bool> {
          for (int i = 0; i < 3; ++i) {
            co_await q.put(i);
            have_been_put->push_back(i);
          }
          co_return true;
        }(q, &have_been_put));
    for (int i = 0; i < 2; ++i) co_await sleep(0s);
    // The putter is blocked after putting two items.
    CHECK(have_been_put == std::vector<int>{0, 1});
    CHECK(co_await q.get() == 0);
    // Let the putter resume and put last item.
    co_await sleep(0s);
    CHECK(have_been_put == std::vector<int>{0, 1, 2});
    CHECK(co_await q.get() == 1);
    CHECK(co_await q.get() == 2);
    CHECK(t.done());
    CHECK(t.result());
  }());
}

TEST_CASE("QueueGetTests.test_get_cancelled_race") {
  run_virtual([]() -> Task<void> {
    Queue<std::string> q;
    auto t1 = create_task(get_one(q));
    auto t2 = create_task(get_one(q));
    co_await sleep(0s);
    t1.cancel();
    co_await sleep(0s);
    CHECK(t1.done());
    co_await q.put("a");
    co_await sleep(0s);
    CHECK(co_await t2 == "a");
  }());
}

TEST_CASE("QueueGetTests.test_get_with_waiting_putters") {
  run_virtual([]() -> Task<void> {
    Queue<std::string> q(1);
    auto a = create_task(put_one<std::string>(q, "a"));
    auto b = create_task(put_one<std::string>(q, "b"));
    CHECK(co_await q.get() == "a");
    CHECK(co_await q.get() == "b");
    co_await a;
    co_await b;
  }());
}

TEST_CASE("QueueGetTests.test_why_are_getters_waiting") {
  run_virtual([]() -> Task<void> {
    auto consumer = [](Queue<int>& queue, int num_expected) -> Task<void> {
      for (int i = 0; i < num_expected; ++i) (void)co_await queue.get();
    };
    auto producer = [](Queue<int>& queue, int num_items) -> Task<void> {
      for (int i = 0; i < num_items; ++i) co_await queue.put(i);
    };
    const int producer_num_items = 5;
    Queue<int> q(1);
    auto p = create_task(producer(q, producer_num_items));
    auto c = create_task(consumer(q, producer_num_items));
    co_await p;
    co_await c;
  }());
}

TEST_CASE("QueueGetTests.test_cancelled_getters_not_being_held_in_self_getters") {
  run_virtual([]() -> Task<void> {
    Queue<int> queue(5);
    bool timed_out = false;
    try {
      (void)co_await wait_for(get_one(queue), 100ms);
    } catch (const TimeoutError&) {
      timed_out = true;
    }
    CHECK(timed_out);
    // len(queue._getters) == 0: a put now goes into the queue, not to the dead getter.
    co_await queue.put(1);
    CHECK(queue.size() == 1);
  }());
}

TEST_CASE("QueuePutTests.test_get_cancel_drop_one_pending_reader") {
  run_virtual([]() -> Task<void> {
    Queue<int> q;
    auto reader = create_task(get_one(q));
    co_await sleep(0s);
    co_await q.put(1);
    co_await q.put(2);
    reader.cancel();
    bool cancelled = false;
    try {
      (void)co_await reader;
    } catch (const CancelledError&) {
      cancelled = true;
    }
    if (cancelled) {  // try again
      reader = create_task(get_one(q));
      (void)co_await reader;
    }
    // if we get 2, it means 1 got dropped!
    CHECK(reader.result() == 1);
  }());
}

TEST_CASE("QueuePutTests.test_get_cancel_drop_many_pending_readers") {
  run_virtual([]() -> Task<void> {
    Queue<int> q;
    auto reader1 = create_task(get_one(q));
    auto reader2 = create_task(get_one(q));
    auto reader3 = create_task(get_one(q));
    co_await sleep(0s);
    co_await q.put(1);
    co_await q.put(2);
    reader1.cancel();
    bool cancelled = false;
    try {
      (void)co_await reader1;
    } catch (const CancelledError&) {
      cancelled = true;
    }
    CHECK(cancelled);
    (void)co_await reader3;
    (void)co_await reader2;
    // It is undefined in which order concurrent readers receive results.
    CHECK(std::set<int>{reader2.result(), reader3.result()} == std::set<int>{1, 2});
  }());
}

TEST_CASE("QueuePutTests.test_put_cancel_drop") {
  run_virtual([]() -> Task<void> {
    Queue<int> q(1);
    co_await q.put(1);
    // putting a second item in the queue has to block (qsize=1)
    auto writer = create_task(put_one(q, 2));
    co_await sleep(0s);
    CHECK(co_await q.get() == 1);
    writer.cancel();
    bool cancelled = false;
    try {
      co_await writer;
    } catch (const CancelledError&) {
      cancelled = true;
    }
    if (cancelled) {  // try again
      writer = create_task(put_one(q, 2));
      co_await writer;
    }
    CHECK(co_await q.get() == 2);
    CHECK(q.size() == 0);
  }());
}

TEST_CASE("QueuePutTests.test_put_cancelled") {
  run_virtual([]() -> Task<void> {
    Queue<int> q;
    auto t = create_task(
        [](Queue<int>& q) -> Task<bool> {
          co_await q.put(1);
          co_return true;
        }(q));
    CHECK(co_await q.get() == 1);
    CHECK(t.done());
    CHECK(t.result());
  }());
}

TEST_CASE("QueuePutTests.test_put_cancelled_race") {
  run_virtual([]() -> Task<void> {
    Queue<std::string> q(1);
    auto put_a = create_task(put_one<std::string>(q, "a"));
    auto put_b = create_task(put_one<std::string>(q, "b"));
    auto put_c = create_task(put_one<std::string>(q, "X"));
    co_await sleep(0s);
    CHECK(put_a.done());
    CHECK_FALSE(put_b.done());
    put_c.cancel();
    co_await sleep(0s);
    CHECK(put_c.done());
    CHECK(co_await q.get() == "a");
    co_await sleep(0s);
    CHECK(co_await q.get() == "b");
    co_await put_b;
  }());
}

TEST_CASE("QueuePutTests.test_put_with_waiting_getters") {
  run_virtual([]() -> Task<void> {
    Queue<std::string> q;
    auto t = create_task(get_one(q));
    co_await sleep(0s);
    co_await q.put("a");
    CHECK(co_await t == "a");
  }());
}

TEST_CASE("QueuePutTests.test_why_are_putters_waiting") {
  run_virtual([]() -> Task<void> {
    Queue<int> queue(2);
    auto getter = [](Queue<int>& queue) -> Task<void> {
      co_await sleep(0s);
      const std::size_t num = queue.size();
      for (std::size_t i = 0; i < num; ++i) (void)co_await queue.get();  // get_nowait
    };
    auto g = create_task(getter(queue));
    std::vector<TaskHandle<void>> putters;
    for (int i = 0; i < 4; ++i) putters.push_back(create_task(put_one(queue, i)));
    co_await g;
    for (auto& p : putters) co_await p;  // none is left waiting
    CHECK(queue.size() == 2);
  }());
}

TEST_CASE("QueuePutTests.test_cancelled_puts_not_being_held_in_self_putters") {
  run_virtual([]() -> Task<void> {
    // Full queue.
    Queue<int> queue(1);
    co_await queue.put(1);
    // Task waiting for space to put an item in the queue.
    auto put_task = create_task(put_one(queue, 1));
    co_await sleep(0s);
    put_task.cancel();
    bool cancelled = false;
    try {
      co_await put_task;
    } catch (const CancelledError&) {
      cancelled = true;
    }
    CHECK(cancelled);
    // len(queue._putters) == 0: taking the item frees a slot that nobody fills.
    CHECK(co_await queue.get() == 1);
    co_await sleep(0s);
    CHECK(queue.empty());
  }());
}

TEST_CASE("QueuePutTests.test_cancelled_put_silence_value_error_exception") {
  run_virtual([]() -> Task<void> {
    // Full Queue.
    Queue<int> queue(1);
    co_await queue.put(1);
    // Task waiting for space to put a item in the queue.
    auto put_task = create_task(put_one(queue, 1));
    co_await sleep(0s);
    // get_nowait() removes put_task from the putters (here: admits it).
    CHECK(co_await queue.get() == 1);
    put_task.cancel();
    bool cancelled = false;
    try {
      co_await put_task;
    } catch (const CancelledError&) {
      cancelled = true;
    }
    CHECK(cancelled);
    CHECK(ends_cancelled(put_task));
    CHECK(queue.empty());  // and its item was not added (coop's contract, asyncio's too)
  }());
}
