// test_wait_for.cpp — what coop::wait_for promises (asyncio.wait_for; DESIGN.md, "Time").
//
// Proves, under virtual time so every instant is exact:
//   * a child that finishes in time gives its value, and wait_for takes only the child's time;
//   * a child that does not is cancelled at exactly the timeout, allowed to finish its
//     cleanup (which may await), and then TimeoutError (a std::runtime_error) is raised;
//   * the child's own exception propagates unchanged;
//   * cancelling the caller cancels the child, waits for it, and raises CancelledError;
//   * a timeout <= 0 raises TimeoutError without the child's body ever running;
//   * a child that swallows its cancellation returns its value, with a swallowed_cancellation
//     diagnostic.
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "support.hpp"

using namespace coop;
using namespace coop::testing;
using namespace std::chrono_literals;

namespace {

static_assert(std::is_base_of_v<std::runtime_error, TimeoutError>, "TimeoutError derives from std::runtime_error");

Task<int> sleepy(Clock::duration d, int v) {
  co_await sleep(d);
  co_return v;
}

Task<int> fail_after(Clock::duration d) {
  co_await sleep(d);
  throw std::logic_error("child failed");
}

struct ChildLog {
  bool body_ran = false;
  Clock::duration cancelled_at{-1};      // when CancelledError reached the child
  Clock::duration cleaned_up_at{-1};     // when its cleanup finished
};

// Works for `work`; if cancelled, records when, cleans up for `cleanup` (an await), re-throws.
Task<int> careful(Clock::duration work, Clock::duration cleanup, ChildLog* log) {
  log->body_ran = true;
  std::exception_ptr cancelled;
  try {
    co_await sleep(work);
    co_return 1;
  } catch (const CancelledError&) {
    cancelled = std::current_exception();
    log->cancelled_at = elapsed();
  }
  co_await sleep(cleanup);
  log->cleaned_up_at = elapsed();
  std::rethrow_exception(cancelled);
}

// Catches its cancellation and returns a value anyway.
Task<int> swallower(ChildLog* log) {
  try {
    co_await sleep(1h);
  } catch (const CancelledError&) {
    log->cancelled_at = elapsed();
  }
  co_return 42;
}

}  // namespace

TEST_CASE("wait_for: a child that finishes in time gives its value, after exactly the child's time") {
  run_virtual([]() -> Task<void> {
    int v = co_await wait_for(sleepy(300ms, 7), 1s);
    CHECK(v == 7);
    CHECK(elapsed() == 300ms);  // the child's time, not the timeout
  }());
}

TEST_CASE("wait_for: a child that does not finish in time gets TimeoutError at exactly the timeout") {
  ChildLog log;
  run_virtual([](ChildLog* log) -> Task<void> {
    bool timed_out = false;
    try {
      co_await wait_for(careful(1s, 0ms, log), 250ms);
    } catch (const TimeoutError&) {
      timed_out = true;
    }
    CHECK(timed_out);
    CHECK(elapsed() == 250ms);
  }(&log));
  CHECK(log.cancelled_at == 250ms);  // the child was cancelled at the timeout
}

TEST_CASE("wait_for: TimeoutError is a std::runtime_error with a message naming the limit") {
  run_virtual([]() -> Task<void> {
    std::string what;
    try {
      co_await wait_for(sleepy(1s, 0), 250ms);
    } catch (const std::runtime_error& e) {  // caught as its base class
      what = e.what();
    }
    CHECK(what.find("did not finish within 250 ms") != std::string::npos);
  }());
}

TEST_CASE("wait_for: the TimeoutError comes only after the cancelled child has finished its cleanup") {
  ChildLog log;
  run_virtual([](ChildLog* log) -> Task<void> {
    bool timed_out = false;
    try {
      co_await wait_for(careful(1s, 40ms, log), 100ms);
    } catch (const TimeoutError&) {
      timed_out = true;
      CHECK(log->cleaned_up_at == 140ms);  // already done when we see the error
    }
    CHECK(timed_out);
    CHECK(elapsed() == 140ms);  // timeout + the child's cleanup, not earlier
  }(&log));
  CHECK(log.cancelled_at == 100ms);
  CHECK(log.cleaned_up_at == 140ms);
}

TEST_CASE("wait_for: the child's own exception propagates unchanged") {
  run_virtual([]() -> Task<void> {
    bool caught = false;
    try {
      co_await wait_for(fail_after(30ms), 1s);
    } catch (const TimeoutError&) {
      FAIL("the child's exception was turned into a TimeoutError");
    } catch (const std::logic_error& e) {
      caught = true;
      CHECK(std::string(e.what()) == "child failed");
    }
    CHECK(caught);
    CHECK(elapsed() == 30ms);
  }());
}

TEST_CASE("wait_for: cancelling the caller cancels the child, waits for it, and raises CancelledError") {
  ChildLog log;
  run_virtual([](ChildLog* log) -> Task<void> {
    auto caller = create_task(
        [](ChildLog* log) -> Task<void> {
          bool timed_out = false;
          try {
            co_await wait_for(careful(1h, 20ms, log), 10s);
          } catch (const TimeoutError&) {
            timed_out = true;
          }
          CHECK_FALSE(timed_out);  // never reached: CancelledError is not caught here
        }(log),
        "caller");
    co_await sleep(100ms);
    caller.cancel();
    bool cancelled = false;
    try {
      co_await caller;
    } catch (const CancelledError&) {
      cancelled = true;
    }
    CHECK(cancelled);
    CHECK(caller.cancelled());
    CHECK(elapsed() == 120ms);  // the caller ended after its child's 20 ms of cleanup
  }(&log));
  CHECK(log.cancelled_at == 100ms);
  CHECK(log.cleaned_up_at == 120ms);
}

TEST_CASE("wait_for: a timeout of zero or less raises TimeoutError without running the child's body") {
  for (Clock::duration timeout : {Clock::duration::zero(), Clock::duration(-5ms)}) {
    CAPTURE(timeout.count());
    ChildLog log;
    run_virtual([](ChildLog* log, Clock::duration timeout) -> Task<void> {
      bool timed_out = false;
      try {
        co_await wait_for(careful(100ms, 0ms, log), timeout);
      } catch (const TimeoutError&) {
        timed_out = true;
      }
      CHECK(timed_out);
      CHECK(elapsed() == 0ms);
    }(&log, timeout));
    CHECK_FALSE(log.body_ran);  // cancelled before it started: its body never ran
  }
}

TEST_CASE("wait_for: a child that swallows its cancellation returns its value, and the runtime warns") {
  std::vector<Diagnostic> diagnostics;
  ChildLog log;
  run_virtual(
      [](ChildLog* log) -> Task<void> {
        int v = co_await wait_for(swallower(log), 50ms);  // no TimeoutError: the child returned
        CHECK(v == 42);
        CHECK(elapsed() == 50ms);
      }(&log),
      &diagnostics);
  CHECK(log.cancelled_at == 50ms);
  REQUIRE(count(diagnostics, Diagnostic::Kind::swallowed_cancellation) == 1);
  REQUIRE(diagnostics.size() == 1);
  const Diagnostic& d = diagnostics.front();
  CHECK(d.message.find("task '" + d.task + "'") != std::string::npos);  // names the child
  CHECK(d.message.find("cancelled but returned normally") != std::string::npos);
}

namespace {
Task<int> answer_after(Clock::duration d) {
  co_await sleep(d);
  co_return 42;
}
Task<int> wait_forever_for_it() { co_return co_await wait_for(answer_after(5s), Clock::duration::max()); }
}  // namespace

TEST_CASE("wait_for: Clock::duration::max() means no limit (no overflow into the past)") {
  CHECK(run_virtual(wait_forever_for_it()) == 42);
}
