// test_cancel_after_wake.cpp — a cancel() that reaches a task woken but not yet resumed.
//
// Proves the contract's third cancellation case (asyncio's Task.__step): the CancelledError
// is thrown at the co_await the task resumes from, not at its next one, and whatever the
// wake handed over goes back, so nothing is lost or duplicated:
//   * a Queue getter handed an item: the item goes back to the front of the queue;
//   * a Queue putter admitted to a full queue: its item is never added;
//   * wait_for(q.get(), d) with a put landing just before the deadline: the item stays;
//   * a sleep that fired: CancelledError at that sleep, the code after it never runs;
// and the cancel is delivered once: cleanup after it can await again.
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace coop;
using namespace coop::testing;

namespace {

using Log = std::vector<std::string>;

Task<int> get_one(Queue<int>& q) { co_return co_await q.get(); }
Task<void> put_one(Queue<int>& q, int v) { co_await q.put(v); }

}  // namespace

TEST_CASE("a reader cancelled after put() handed it an item leaves the item in the queue") {
  run_virtual([]() -> Task<void> {
    Queue<int> q;
    auto reader = create_task(get_one(q), "reader");
    co_await sleep(0s);  // reader parks in get()
    co_await q.put(1);   // handed straight to the reader
    reader.cancel();     // reader is ready, not resumed
    bool cancelled = false;
    try {
      co_await reader;
    } catch (const CancelledError&) {
      cancelled = true;
    }
    CHECK(cancelled);
    CHECK(reader.cancelled());
    REQUIRE(q.size() == 1);  // asyncio leaves it in the queue; so do we
    CHECK(co_await q.get() == 1);
  }());
}

// Found by the stress test (seed 29684): the cancelled reader's item went back to the front
// of the queue while the item put after it had already been handed to the next reader, so
// that reader saw the producer's items in the wrong order (asyncio keeps them in the queue
// until a reader runs, and a reader always gets the oldest).
Task<std::vector<int>> get_two(Queue<int>& q) {
  std::vector<int> got;
  got.push_back(co_await q.get());
  got.push_back(co_await q.get());
  co_return got;
}

TEST_CASE("a reader cancelled after put() handed it an item: the readers after it still get the items in order") {
  std::vector<int> got;
  std::size_t left = 99;
  run_virtual([&]() -> Task<void> {
    Queue<int> q;
    auto first = create_task(get_one(q), "first");
    auto second = create_task(get_two(q), "second");
    co_await sleep(0s);  // both park in get(), first in line first
    co_await q.put(1);   // handed to first
    co_await q.put(2);   // handed to second
    first.cancel();      // first is ready, not resumed: 1 is given back
    try {
      co_await first;
    } catch (const CancelledError&) {
    }
    co_await q.put(3);
    got = co_await second;
    left = q.size();
  }());
  CHECK(got == std::vector<int>{1, 2});  // not {2, 1}
  CHECK(left == 1);                      // 3 waits in the queue
}

// The stress test's seed 29684 itself: a getter that came later took the newer item from
// the queue while the older one was on its way to a reader; when that reader is cancelled,
// the older item cannot go back (the later getter, parked again, would get it after the
// newer one). The hand-over stands; the cancel lands at the reader's next co_await.
TEST_CASE("a reader cancelled after a later reader overtook it keeps its item; the cancel lands next") {
  std::vector<int> got;
  std::string first_saw;
  run_virtual([&]() -> Task<void> {
    Queue<int> q;
    auto first = create_task(
        [](Queue<int>& q, std::string& saw) -> Task<void> {
          int item = co_await q.get();
          saw = "got " + std::to_string(item);
          try {
            co_await sleep(0s);
          } catch (const CancelledError&) {
            saw += ", then CancelledError at the next co_await";
            throw;
          }
        }(q, first_saw),
        "first");
    co_await sleep(0s);  // first parks in get()
    // Ready queue from here: second, the canceller, then first (woken by the put below).
    auto second = create_task(get_two(q), "second");
    auto canceller = create_task([](TaskHandle<void>& t) -> Task<void> {
      t.cancel();  // first is ready, not resumed, and second overtook it
      co_return;
    }(first), "canceller");
    co_await q.put(1);   // handed to first
    co_await q.put(2);   // nobody parked: into the queue; second takes it at once, then parks
    co_await canceller;
    try {
      co_await first;
    } catch (const CancelledError&) {
    }
    co_await q.put(3);
    got = co_await second;
  }());
  CHECK(first_saw == "got 1, then CancelledError at the next co_await");
  CHECK(got == std::vector<int>{2, 3});  // never 1 after 2
}

TEST_CASE("a writer cancelled after get() made room for it never adds its item") {
  run_virtual([]() -> Task<void> {
    Queue<int> q(1);
    co_await q.put(1);
    auto writer = create_task(put_one(q, 2), "writer");
    co_await sleep(0s);            // writer parks in put(2): the queue is full
    CHECK(co_await q.get() == 1);  // room: the writer is woken
    writer.cancel();               // before it resumed
    bool cancelled = false;
    try {
      co_await writer;
    } catch (const CancelledError&) {
      cancelled = true;
    }
    CHECK(cancelled);
    CHECK(q.empty());  // its 2 was never added
    co_await sleep(1s);
    CHECK(q.empty());
  }());
}

TEST_CASE("a writer cancelled after being admitted passes the room on to the next writer") {
  run_virtual([]() -> Task<void> {
    Queue<int> q(1);
    co_await q.put(1);
    auto doomed = create_task(put_one(q, 2), "doomed");
    auto next = create_task(put_one(q, 3), "next");
    co_await sleep(0s);            // both park, doomed first
    CHECK(co_await q.get() == 1);  // room for doomed...
    doomed.cancel();               // ...which gives it up before resuming
    co_await next;                 // next's item goes in instead
    CHECK(doomed.cancelled());
    REQUIRE(q.size() == 1);
    CHECK(co_await q.get() == 3);
  }());
}

TEST_CASE("wait_for(q.get(), d) never loses an item put just before the deadline") {
  // Real time: the put lands, then the loop is blocked past the deadline, so the timeout
  // fires while the getter is woken with the item but has not resumed.
  RunOptions options;
  options.slow_step_warning = std::chrono::milliseconds(0);
  run(
      []() -> Task<void> {
        Queue<int> q;
        // Wide margins: a loaded machine must not let the deadline pass before the put.
        auto reader = create_task(wait_for(get_one(q), 500ms), "reader");
        co_await sleep(10ms);  // the reader parks in get()
        co_await q.put(7);     // handed to it...
        std::this_thread::sleep_for(600ms);  // ...and the deadline passes before it resumes
        bool timed_out = false;
        try {
          (void)co_await reader;
        } catch (const TimeoutError&) {
          timed_out = true;
        }
        CHECK(timed_out);
        REQUIRE(q.size() == 1);  // the item is back in the queue, not lost with the timeout
        CHECK(co_await q.get() == 7);
      }(),
      options);
}

namespace {
Task<void> sleeper(Log* log) {
  try {
    co_await sleep(10ms);
    log->push_back("after sleep");
  } catch (const CancelledError&) {
    log->push_back("CancelledError at the sleep that fired");
    throw;
  }
}
}  // namespace

TEST_CASE("a task whose sleep fired and is cancelled before resuming gets CancelledError at that sleep") {
  Log log;
  run_virtual([](Log* log) -> Task<void> {
    auto h = create_task(sleeper(log), "sleeper");
    co_await sleep(10ms);  // set before the sleeper's timer: both fire together, main first
    h.cancel();            // the sleeper is ready (its timer fired), not resumed
    try {
      co_await h;
    } catch (const CancelledError&) {
    }
    CHECK(h.cancelled());
  }(&log));
  CHECK(log == Log{"CancelledError at the sleep that fired"});
}

TEST_CASE("a task cancelled between two sleep(0)s does not run the code between them") {
  Log log;
  run_virtual([](Log* log) -> Task<void> {
    auto h = create_task(
        [](Log* log) -> Task<void> {
          log->push_back("before");
          co_await sleep(0s);
          log->push_back("between");  // must not run
          co_await sleep(0s);
        }(log),
        "yielder");
    co_await sleep(0s);  // it ran up to its first sleep(0) and is ready again
    h.cancel();
    try {
      co_await h;
    } catch (const CancelledError&) {
    }
    CHECK(h.cancelled());
  }(&log));
  CHECK(log == Log{"before"});
}

TEST_CASE("delivered once: after a CancelledError thrown at the co_await it resumed from, cleanup awaits normally") {
  Log log;
  run_virtual([](Log* log) -> Task<void> {
    auto h = create_task(
        [](Log* log) -> Task<void> {
          std::exception_ptr cancelled;
          try {
            co_await sleep(10ms);
          } catch (const CancelledError&) {
            cancelled = std::current_exception();
          }
          co_await sleep(5ms);  // works again
          log->push_back("cleanup done at " + std::to_string(elapsed() / 1ms) + "ms");
          std::rethrow_exception(cancelled);
        }(log),
        "cleaner");
    co_await sleep(10ms);  // fires with the cleaner's sleep, first
    h.cancel();
    try {
      co_await h;
    } catch (const CancelledError&) {
    }
    CHECK(h.cancelled());
  }(&log));
  CHECK(log == Log{"cleanup done at 15ms"});
}

TEST_CASE("Lock: a waiter handed the lock and cancelled before resuming never runs its critical section") {
  Log log;
  run_virtual([](Log* log) -> Task<void> {
    Lock lock;
    auto guard = co_await lock.lock();
    auto critical = [](Lock& lock, Log* log, std::string name) -> Task<void> {
      auto g = co_await lock.lock();
      log->push_back(name + " in its critical section");
    };
    auto first = create_task(critical(lock, log, "first"), "first");
    auto second = create_task(critical(lock, log, "second"), "second");
    co_await sleep(0s);  // both wait, first in line
    guard.unlock();      // handed to first
    first.cancel();      // before it resumed: the lock goes on to second
    co_await second;
    CHECK(first.cancelled());
    CHECK_FALSE(lock.locked());
  }(&log));
  CHECK(log == Log{"second in its critical section"});
}
