// grader.hpp — what every grader (tests/grading/NN_topic.cpp) is written with.
//
// A grader is a list of graded parts, of rising difficulty, each a function that throws
// grading::Failure (through check / check_eq / fail) when the student's code is wrong:
//
//   int main(int argc, char** argv) {
//     grading::Grader g(3, "gather", "fetch everything at once");
//     g.part("results in argument order", "fetch_all returns ...",
//            {"a nudge", "a stronger hint", "the approach"}, [] {
//              auto r = grading::run(fetch_all({...}));
//              grading::check_eq(r, std::vector<int>{...}, "fetch_all's result");
//            });
//     return g.main(argc, argv);
//   }
//
// Each part runs in a child process of its own, with a time limit: a part that hangs is
// reported as a hang (with DeadlockError's message when the runtime detects a deadlock), a
// crash as a crash with its signal, and the other parts still run. Output is capped.
// Checks about concurrency use virtual time and the runtime's trace (grading::Run), so a
// sequential answer cannot pass them and nothing depends on the machine's speed.
#pragma once

#include <coop/coop.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "exercise.hpp"

namespace grading {

// A check that did not hold. The message says what was expected and what happened.
struct Failure {
  std::string message;
};

[[noreturn]] void fail(std::string message);
inline void check(bool ok, const std::string& message) {
  if (!ok) fail(message);
}
template <class Got, class Want>
void check_eq(const Got& got, const Want& want, std::string_view what) {
  if (!(got == want)) fail(fmt::format("{}: got {}, expected {}", what, got, want));
}

// What happened during one grading::run: the trace of every task, and the warnings.
struct Run {
  coop::TraceRecorder trace;
  std::vector<coop::Diagnostic> diagnostics;
  coop::Clock::duration took{};  // on the loop's clock, from run() to main's end

  // The trace's summary of a task, by name: when it finished and how.
  coop::Clock::duration finished_at(std::string_view task) const;
  coop::Outcome outcome(std::string_view task) const;
  bool has_diagnostic(coop::Diagnostic::Kind kind) const;
  // The largest number of tasks (other than main) that were suspended at the same moment.
  int max_waiting_at_once() const;
  // When main finished (or the last event, if it did not).
  coop::Clock::duration main_end() const noexcept;
};

// Options for one run: virtual time unless a part needs real threads.
struct RunSettings {
  bool virtual_time = true;
  std::chrono::milliseconds slow_step_warning{0};  // off unless a part checks for it
};

coop::RunOptions options(Run* record, RunSettings s);

// coop::run for graders: virtual time, trace and warnings into `record` (when given).
template <class T>
T run(coop::Task<T> main, Run* record = nullptr, RunSettings s = {}) {
  struct SetTook {  // fills record->took, also when run() throws
    Run* r;
    ~SetTook() {
      if (r != nullptr) r->took = r->main_end();
    }
  } set_took{record};
  return coop::run(std::move(main), options(record, s));
}

// Time since the running loop's run() began.
coop::Clock::duration elapsed();

// ---- helpers for checks about tasks -----------------------------------------------------------

// Waits for a task, at most `patience`, and says how it ended: "returned", "cancelled",
// "failed: <what>", or "still running <patience> later" (it did not stop). A stub's
// exercise::NotDone passes through, so the part counts as not started. Never hangs.
template <class T>
coop::Task<void> join(coop::TaskHandle<T> h) {
  co_await h;
}
template <class T>
coop::Task<std::string> ending(coop::TaskHandle<T> h, coop::Clock::duration patience) {
  try {
    co_await coop::wait_for(join(h), patience);
    co_return "returned";
  } catch (const coop::TimeoutError&) {
    co_return "still running " + coop::format_duration(patience) + " later";
  } catch (const coop::CancelledError&) {
    if (!h.cancelled()) throw;
    co_return "cancelled";
  } catch (const exercise::NotDone&) {
    throw;
  } catch (const std::exception& e) {
    co_return std::string("failed: ") + e.what();
  }
}

// Cancels a helper task (a heartbeat, say) and waits until it has stopped. A check must do
// this before it returns when the task refers to the check's frame: a task already woken
// when cancel() comes runs one more step before its next await delivers CancelledError.
template <class T>
coop::Task<void> stop(coop::TaskHandle<T> h) {
  h.cancel();
  try {
    co_await h;
  } catch (const coop::CancelledError&) {
  }
}

class Grader {
 public:
  Grader(int number, std::string topic, std::string title);
  ~Grader();
  Grader(const Grader&) = delete;
  Grader& operator=(const Grader&) = delete;

  // A graded part: its name, what it checks (one or two sentences), three hints (a nudge,
  // a stronger one, the approach), and the check itself.
  void part(std::string name, std::string what, std::array<std::string, 3> hints, std::function<void()> check);

  // Runs the parts (each in its own process) and reports. See grader.cpp for the flags.
  int main(int argc, char** argv);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace grading
