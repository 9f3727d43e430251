// test_gather.cpp — what coop::gather promises (DESIGN.md, "gather").
//
// Proves, under virtual time so every duration is exact:
//   * the children start together, so the total time is the longest child's, not the sum;
//   * results come back in argument order even when the children finish in another order;
//   * a void child contributes std::monostate; the vector forms return std::vector<T>
//     (Task<void> for void children); the handle forms return copies;
//   * on the first exception the other children are cancelled AND awaited (their cleanup,
//     which itself awaits, has finished) before the exception reaches gather's caller;
//   * cancelling the task that awaits gather cancels every child and waits for them;
//   * an exception a sibling throws while being cancelled is not reported as unretrieved;
//   * gather of nothing returns at once; a child cancelled by someone else makes gather
//     raise CancelledError.
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <variant>
#include <vector>

#include "support.hpp"

using namespace coop;
using namespace coop::testing;
using namespace std::chrono_literals;

namespace {

// Sleeps `d`, notes that it finished (in `done`, if given), returns `v`.
Task<int> sleepy(Clock::duration d, int v, std::vector<int>* done = nullptr) {
  co_await sleep(d);
  if (done != nullptr) done->push_back(v);
  co_return v;
}

Task<void> sleepy_void(Clock::duration d, int* finished) {
  co_await sleep(d);
  ++*finished;
}

// Records the loop time at which its body started.
Task<int> note_start(Clock::duration d, std::vector<Clock::duration>* starts) {
  starts->push_back(elapsed());
  co_await sleep(d);
  co_return 0;
}

Task<void> fail_after(Clock::duration d, std::string message) {
  co_await sleep(d);
  throw std::runtime_error(message);
}

// Works for `work`; if cancelled, cleans up for `cleanup` (an await), logs it, and re-throws.
Task<int> careful(std::string name, Clock::duration work, Clock::duration cleanup, std::vector<std::string>* log) {
  std::exception_ptr cancelled;
  try {
    co_await sleep(work);
    co_return 1;
  } catch (const CancelledError&) {
    cancelled = std::current_exception();
  }
  co_await sleep(cleanup);
  log->push_back(name + " cleaned up at " + format_duration(elapsed()));
  std::rethrow_exception(cancelled);
}

// Throws an ordinary exception when it is cancelled.
Task<int> throws_when_cancelled() {
  try {
    co_await sleep(1h);
  } catch (const CancelledError&) {
    throw std::runtime_error("cleanup failed");
  }
  co_return 2;
}

Task<std::string> text_after(Clock::duration d, std::string s) {
  co_await sleep(d);
  co_return s;
}

Task<std::unique_ptr<int>> boxed(Clock::duration d, int v) {
  co_await sleep(d);
  co_return std::make_unique<int>(v);
}

Task<void> cancel_later(TaskHandle<int> h, Clock::duration d) {
  co_await sleep(d);
  h.cancel();
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  for (const auto& x : v)
    if (x == s) return true;
  return false;
}

}  // namespace

TEST_CASE("gather: total time is the longest child, not the sum") {
  run_virtual([]() -> Task<void> {
    auto [a, b, c] = co_await gather(sleepy(100ms, 1), sleepy(300ms, 2), sleepy(200ms, 3));
    CHECK(elapsed() == 300ms);  // the sum would be 600 ms
    CHECK(a == 1);
    CHECK(b == 2);
    CHECK(c == 3);
  }());
}

TEST_CASE("gather: all children start at the same moment") {
  std::vector<Clock::duration> starts;
  run_virtual([](std::vector<Clock::duration>* starts) -> Task<void> {
    co_await sleep(50ms);
    co_await gather(note_start(100ms, starts), note_start(200ms, starts), note_start(300ms, starts));
    CHECK(elapsed() == 350ms);
  }(&starts));
  REQUIRE(starts.size() == 3);
  for (auto s : starts) CHECK(s == 50ms);  // none waited for another to finish
}

TEST_CASE("gather: results come back in argument order, whatever order the children finished in") {
  std::vector<int> finished;
  run_virtual([](std::vector<int>* finished) -> Task<void> {
    auto results = co_await gather(sleepy(300ms, 1, finished), sleepy(100ms, 2, finished), sleepy(200ms, 3, finished));
    CHECK(results == std::tuple{1, 2, 3});
  }(&finished));
  // The children really did finish in a different order from the arguments.
  CHECK(finished == std::vector<int>{2, 3, 1});
}

TEST_CASE("gather: a void child gives std::monostate in the result tuple") {
  int finished = 0;
  run_virtual([](int* finished) -> Task<void> {
    auto results = co_await gather(sleepy_void(100ms, finished), sleepy(50ms, 7), sleepy_void(20ms, finished));
    static_assert(std::is_same_v<decltype(results), std::tuple<std::monostate, int, std::monostate>>);
    CHECK(std::get<1>(results) == 7);
    CHECK(*finished == 2);  // the void children did run
    CHECK(elapsed() == 100ms);
  }(&finished));
}

TEST_CASE("gather: a vector of Task<T> gives a vector of results in the vector's order") {
  std::vector<int> finished;
  run_virtual([](std::vector<int>* finished) -> Task<void> {
    std::vector<Task<int>> tasks;
    for (int i = 0; i < 5; ++i) tasks.push_back(sleepy((5 - i) * 10ms, i, finished));
    std::vector<int> results = co_await gather(std::move(tasks));
    CHECK(results == std::vector<int>{0, 1, 2, 3, 4});
    CHECK(elapsed() == 50ms);  // the longest, not the sum (150 ms)
  }(&finished));
  CHECK(finished == std::vector<int>{4, 3, 2, 1, 0});
}

TEST_CASE("gather: a vector of Task<void> waits for all of them and returns Task<void>") {
  int finished = 0;
  run_virtual([](int* finished) -> Task<void> {
    std::vector<Task<void>> tasks;
    for (int i = 1; i <= 4; ++i) tasks.push_back(sleepy_void(i * 100ms, finished));
    auto all = gather(std::move(tasks));
    static_assert(std::is_same_v<decltype(all), Task<void>>);
    co_await std::move(all);
    CHECK(*finished == 4);
    CHECK(elapsed() == 400ms);
  }(&finished));
}

TEST_CASE("gather: move-only results are moved out of the children") {
  run_virtual([]() -> Task<void> {
    auto [a, b] = co_await gather(boxed(20ms, 1), boxed(10ms, 2));
    REQUIRE(a != nullptr);
    REQUIRE(b != nullptr);
    CHECK(*a == 1);
    CHECK(*b == 2);
    std::vector<Task<std::unique_ptr<int>>> tasks;
    tasks.push_back(boxed(10ms, 3));
    tasks.push_back(boxed(5ms, 4));
    auto v = co_await gather(std::move(tasks));
    REQUIRE(v.size() == 2);
    CHECK(*v[0] == 3);
    CHECK(*v[1] == 4);
  }());
}

TEST_CASE("gather: gathering TaskHandles gives copies of the results; the handles stay usable") {
  run_virtual([]() -> Task<void> {
    const std::string long_a(100, 'a');  // long enough that a moved-from string would be empty
    const std::string long_b(100, 'b');
    auto a = create_task(text_after(200ms, long_a), "a");
    auto b = create_task(text_after(100ms, long_b), "b");
    auto [ra, rb] = co_await gather(a, b);
    CHECK(elapsed() == 200ms);
    CHECK(ra == long_a);
    CHECK(rb == long_b);
    CHECK(a.result() == long_a);  // not moved out of the handle
    CHECK(b.result() == long_b);
    auto [again_a, again_b] = co_await gather(a, b);  // already done: returns at once
    CHECK(again_a == long_a);
    CHECK(again_b == long_b);
    CHECK(elapsed() == 200ms);

    std::vector<TaskHandle<std::string>> handles{create_task(text_after(30ms, "x")), create_task(text_after(10ms, "y"))};
    std::vector<TaskHandle<std::string>> copy = handles;
    auto v = co_await gather(std::move(handles));
    CHECK(v == std::vector<std::string>{"x", "y"});
    CHECK(copy[0].result() == "x");
    CHECK(copy[1].result() == "y");
    CHECK(elapsed() == 230ms);
  }());
}

TEST_CASE("gather: a vector of TaskHandle<void> waits for all of them") {
  int finished = 0;
  run_virtual([](int* finished) -> Task<void> {
    std::vector<TaskHandle<void>> handles;
    for (int i = 1; i <= 3; ++i) handles.push_back(create_task(sleepy_void(i * 10ms, finished)));
    auto all = gather(handles);
    static_assert(std::is_same_v<decltype(all), Task<void>>);
    co_await std::move(all);
    CHECK(*finished == 3);
    CHECK(elapsed() == 30ms);
    for (auto& h : handles) CHECK(h.done());
  }(&finished));
}

TEST_CASE("gather: on the first exception the other children are cancelled and awaited before it is rethrown") {
  std::vector<std::string> log;
  run_virtual([](std::vector<std::string>* log) -> Task<void> {
    bool caught = false;
    try {
      co_await gather(careful("slow", 1s, 50ms, log), fail_after(100ms, "boom"), careful("slower", 2s, 80ms, log));
    } catch (const std::runtime_error& e) {
      caught = true;
      CHECK(std::string(e.what()) == "boom");
      // By the time the exception reaches us, both siblings have finished their cleanup.
      CHECK(log->size() == 2);
    }
    CHECK(caught);
    // The exception came at 100 ms; the siblings' cleanup took 50 and 80 ms more, and
    // gather waited for the longer one before rethrowing.
    CHECK(elapsed() == 180ms);
  }(&log));
  CHECK(contains(log, "slow cleaned up at 150 ms"));
  CHECK(contains(log, "slower cleaned up at 180 ms"));
}

TEST_CASE("gather: the cancelled siblings end cancelled and the failed child ends failed") {
  run_virtual([]() -> Task<void> {
    auto a = create_task(sleepy(1s, 1), "a");
    auto b = create_task(fail_after(10ms, "b failed"), "b");
    bool caught = false;
    try {
      co_await gather(a, b);
    } catch (const std::runtime_error&) {
      caught = true;
    }
    CHECK(caught);
    CHECK(elapsed() == 10ms);  // a's cancellation needs no cleanup time
    CHECK(a.done());
    CHECK(a.cancelled());
    CHECK(b.outcome() == Outcome::failed);
  }());
}

TEST_CASE("gather: cancelling the task that awaits gather cancels every child and waits for them") {
  std::vector<std::string> log;
  run_virtual([](std::vector<std::string>* log) -> Task<void> {
    auto gatherer = create_task(
        [](std::vector<std::string>* log) -> Task<void> {
          co_await gather(careful("a", 1s, 20ms, log), careful("b", 2s, 30ms, log));
          log->push_back("gather returned");  // must never happen
        }(log),
        "gatherer");
    co_await sleep(100ms);
    CHECK(gatherer.cancel());
    bool cancelled = false;
    try {
      co_await gatherer;
    } catch (const CancelledError&) {
      cancelled = true;
    }
    CHECK(cancelled);
    CHECK(gatherer.cancelled());
    // The gatherer ended only once its children had cleaned up (the longer took 30 ms).
    CHECK(elapsed() == 130ms);
    CHECK(log->size() == 2);
  }(&log));
  CHECK(contains(log, "a cleaned up at 120 ms"));
  CHECK(contains(log, "b cleaned up at 130 ms"));
  CHECK_FALSE(contains(log, "gather returned"));
}

TEST_CASE("gather: an exception a sibling throws while being cancelled is not reported as unretrieved") {
  std::vector<Diagnostic> diagnostics;
  run_virtual(
      []() -> Task<void> {
        bool caught = false;
        try {
          co_await gather(throws_when_cancelled(), fail_after(100ms, "first"));
        } catch (const std::runtime_error& e) {
          caught = true;
          CHECK(std::string(e.what()) == "first");  // the first exception, not the sibling's
        }
        CHECK(caught);
      }(),
      &diagnostics);
  CHECK(count(diagnostics, Diagnostic::Kind::unretrieved_exception) == 0);
  CHECK(diagnostics.empty());
}

TEST_CASE("gather: the first exception is not reported as unretrieved either (gather rethrew it)") {
  std::vector<Diagnostic> diagnostics;
  run_virtual(
      []() -> Task<void> {
        bool caught = false;
        try {
          co_await gather(sleepy(1s, 1), fail_after(10ms, "first"));
        } catch (const std::runtime_error&) {
          caught = true;
        }
        CHECK(caught);
        co_await sleep(10ms);  // let the records go while the loop still runs
      }(),
      &diagnostics);
  CHECK(diagnostics.empty());
}

TEST_CASE("gather: gathering an empty vector returns at once, without giving way to other tasks") {
  run_virtual([]() -> Task<void> {
    bool other_ran = false;
    auto other = create_task([](bool* ran) -> Task<void> {
      *ran = true;
      co_return;
    }(&other_ran));
    std::vector<int> r = co_await gather(std::vector<Task<int>>{});
    CHECK(r.empty());
    co_await gather(std::vector<Task<void>>{});
    auto h = co_await gather(std::vector<TaskHandle<int>>{});
    CHECK(h.empty());
    co_await gather(std::vector<TaskHandle<void>>{});
    // Had any of them suspended, `other` (ready since create_task) would have run.
    CHECK_FALSE(other_ran);
    CHECK(elapsed() == 0ms);
    co_await other;
    CHECK(other_ran);
  }());
}

TEST_CASE("gather: a child cancelled by someone else makes gather raise CancelledError") {
  std::vector<std::string> log;
  run_virtual([](std::vector<std::string>* log) -> Task<void> {
    auto a = create_task(sleepy(1s, 1), "a");
    auto b = create_task(careful("b", 1s, 10ms, log), "b");
    auto canceller = create_task(cancel_later(a, 100ms), "canceller");
    bool cancelled = false;
    try {
      co_await gather(a, b);
    } catch (const CancelledError&) {
      cancelled = true;
    }
    CHECK(cancelled);
    CHECK(a.cancelled());
    CHECK(b.cancelled());  // the sibling was cancelled too, and awaited
    CHECK(log->size() == 1);
    CHECK(elapsed() == 110ms);
    co_await canceller;
  }(&log));
}

namespace {
// gather of a good child and an empty Task: the misuse must be reported before any child
// is scheduled, or the good child would run on with no parent, writing into a dead frame.
Task<void> gather_with_an_empty_task(std::vector<int>* done, bool* threw) {
  std::vector<Task<int>> children;
  children.push_back(sleepy(10ms, 1, done));
  children.push_back(Task<int>{});
  try {
    co_await gather(std::move(children));
  } catch (const UsageError&) {
    *threw = true;
  }
  co_await sleep(50ms);  // long enough for an orphaned child to have run
}

Task<void> gather_tuple_with_an_empty_task(std::vector<int>* done, bool* threw) {
  try {
    co_await gather(sleepy(10ms, 1, done), Task<int>{});
  } catch (const UsageError&) {
    *threw = true;
  }
  co_await sleep(50ms);
}
}  // namespace

TEST_CASE("gather: an unusable argument is a UsageError before any child is scheduled (no orphans)") {
  std::vector<int> done;
  bool threw = false;
  run_virtual(gather_with_an_empty_task(&done, &threw));
  CHECK(threw);
  CHECK(done.empty());

  done.clear();
  threw = false;
  run_virtual(gather_tuple_with_an_empty_task(&done, &threw));
  CHECK(threw);
  CHECK(done.empty());
}
