// test_bad_values.cpp — absurd arguments are saturated or rejected clearly.
//
// Proves: a floating-point sleep longer than Clock::duration can hold means "never" (it
// used to overflow into a negative duration and return at once), a NaN sleep is a
// UsageError, and Queue<int>(-1) (a negative maxsize wrapped to 2^64 - 1) is a UsageError
// that says to use 0 for "unbounded".
#include <chrono>
#include <limits>
#include <string>

#include "support.hpp"

using namespace coop;
using namespace coop::testing;

TEST_CASE("sleep(duration<double>(1e12)) saturates to 'never' instead of overflowing") {
  run_virtual([]() -> Task<void> {
    co_await sleep(std::chrono::duration<double>(1e12));
    CHECK(elapsed() > std::chrono::hours(24 * 365 * 100));  // virtual time leapt, a very long way
  }());
  // In real time: it does not return early.
  RunOptions options;
  options.slow_step_warning = std::chrono::milliseconds(0);
  bool timed_out = false;
  run(
      [](bool* timed_out) -> Task<void> {
        try {
          co_await wait_for([]() -> Task<void> { co_await sleep(std::chrono::duration<double>(1e12)); }(), 20ms);
        } catch (const TimeoutError&) {
          *timed_out = true;
        }
      }(&timed_out),
      options);
  CHECK(timed_out);
}

TEST_CASE("sleep() of a NaN duration is a UsageError") {
  run_virtual([]() -> Task<void> {
    const std::chrono::duration<double> nan(std::numeric_limits<double>::quiet_NaN());
    CHECK_THROWS_AS((void)sleep(nan), UsageError);
    co_return;
  }());
}

TEST_CASE("Queue<int>(-1) is rejected: a negative maxsize wrapped to size_t is not 'unbounded by accident'") {
  std::string message;
  try {
    Queue<int> q(-1);
  } catch (const UsageError& e) {
    message = e.what();
  }
  CHECK(message.find("use 0 for an unbounded queue") != std::string::npos);
  Queue<int> unbounded(0);
  CHECK(unbounded.maxsize() == 0);
}
