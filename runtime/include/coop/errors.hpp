// errors.hpp — what coop throws, and why CancelledError is not a std::exception.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

namespace coop {

// Thrown at a task's suspension point when the task has been cancelled
// (asyncio.CancelledError).
//
// It deliberately does NOT derive from std::exception, for the reason Python moved
// CancelledError under BaseException in 3.8: `catch (const std::exception&)` is how code
// handles *errors*, and cancellation is not an error. Were it one, every such handler
// would swallow it by accident and the cancelled task would carry on. Catch it by name,
// clean up, and re-throw it.
class CancelledError {
 public:
  CancelledError() = default;
  explicit CancelledError(std::string message) : message_(std::move(message)) {}
  const char* what() const noexcept { return message_.empty() ? "cancelled" : message_.c_str(); }

 private:
  std::string message_;
};

// wait_for gave up (asyncio.TimeoutError, which is the builtin TimeoutError since 3.11).
class TimeoutError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// run() found that the main task can never finish: nothing is ready, no timer is set and
// nothing outside the loop can wake anyone. The message names every blocked task and what
// it waits for. (asyncio simply hangs here; a teaching runtime should say why.)
class DeadlockError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The runtime was used in a way that cannot work: run() inside a running loop, a Task
// awaited twice, a loop function called where no loop runs. asyncio raises RuntimeError
// for these; in C++ they are logic errors, so the type says so.
class UsageError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

}  // namespace coop
