// test_misuse_lifetimes.cpp — lifetime misuse is safe or a clear UsageError, never UB.
//
// Proves: the last TaskHandle may be dropped while another task awaits it (the awaiter
// keeps the task's record alive and gets the result); an AsyncGenerator destroyed by one
// task while another is inside its next() keeps its frame until the body stops, and that
// next() throws UsageError (instead of leaving the task parked on freed memory).
#include <memory>
#include <optional>
#include <string>

#include "support.hpp"

using namespace coop;
using namespace coop::testing;

namespace {

Task<int> answer_later() {
  co_await sleep(10ms);
  co_return 42;
}
Task<int> seven() { co_return 7; }
Task<int> await_through(TaskHandle<int>* h) { co_return co_await *h; }

AsyncGenerator<int> waits_then_yields(Event& go) {
  co_await go.wait();
  co_yield 1;
}

Task<void> consume(AsyncGenerator<int>* g) {
  auto item = co_await g->next();
  (void)item;
}

}  // namespace

TEST_CASE("the last TaskHandle dropped while another task awaits it: the awaiter still gets the result") {
  CHECK(run_virtual([]() -> Task<int> {
    std::optional<TaskHandle<int>> h = create_task(answer_later(), "answer");
    auto waiter = create_task(await_through(&*h), "waiter");
    co_await sleep(0s);  // waiter parks on h
    h.reset();           // the last handle goes; the loop's reference goes when it finishes
    co_await sleep(10ms);
    // In the turn where `answer` finished (and its record could have been freed), start a
    // new task: its record would reuse the freed block.
    auto other = create_task(seven(), "other");
    int got = co_await waiter;
    CHECK(co_await other == 7);
    co_return got;
  }()) == 42);
}

TEST_CASE("an AsyncGenerator destroyed while another task is inside next(): UsageError in that next(), no use-after-free") {
  run_virtual([]() -> Task<void> {
    Event go("go");
    auto gen = std::make_unique<AsyncGenerator<int>>(waits_then_yields(go));
    auto consumer = create_task(consume(gen.get()), "consumer");
    co_await sleep(0s);  // the consumer is inside the body, parked on `go`
    gen.reset();         // misuse: destroyed during that next()
    go.set();            // the body still runs to its co_yield...
    bool usage_error = false;
    try {
      co_await consumer;
    } catch (const UsageError& e) {
      usage_error = std::string(e.what()).find("destroyed while this task was inside its next()") != std::string::npos;
    }
    CHECK(usage_error);  // ...and that next() says what went wrong
  }());
}
