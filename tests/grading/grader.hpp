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
//              grading::check(r.size() == 5, "fetch_all of 5 sources returned ... results",
//                             grading::Hint{"One result per source, each from its own fetch."});
//            });
//     return g.main(argc, argv);
//   }
//
// A failing part shows one hint: the failed check's own (grading::Hint), else the part's
// first. A part that runs an earlier part's code says so (grading::BuildsOn), and its
// failure then says to fix that part first.
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
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "exercise.hpp"

namespace grading {

// What to change when one check fails, in a sentence that teaches (not the solution). A
// part has three hints of its own (Grader::part), but they are about the part as a whole:
// a check whose failure the part's first hint does not explain carries its own, and that
// is the hint shown when it fails (`./coop run`, `./coop hint`). Written at the check:
//
//   grading::check(most <= 2, "3 fetches were in flight at once; the limit was 2",
//                  grading::Hint{"Start a fetch only when fewer than `limit` are running."});
struct Hint {
  std::string text;  // empty: the part's first hint says it
};

// A check that did not hold. The message says what was expected and what happened; the
// hint, when the check has one, what to change.
struct Failure {
  std::string message;
  std::string hint;
};

[[noreturn]] void fail(std::string message, Hint hint = {});
inline void check(bool ok, const std::string& message, const Hint& hint = {}) {
  if (!ok) fail(message, hint);
}
template <class Got, class Want>
void check_eq(const Got& got, const Want& want, std::string_view what, const Hint& hint = {}) {
  if (!(got == want)) fail(fmt::format("{}: got {}, expected {}", what, got, want), hint);
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

  // One suspension of one task, from the trace: what it waited on, and from when to when
  // (`to` is when it was woken, or when it finished; the run's end if neither came).
  struct Wait {
    std::uint64_t task = 0;
    std::string task_name;
    coop::WaitKind kind{};
    std::string detail;  // e.g. "sleep(300 ms)"
    coop::Clock::duration from{}, to{};
    coop::Clock::duration length() const noexcept { return to - from; }
  };
  // Every suspension on a wait of this kind, main's included, in the order they began.
  std::vector<Wait> waits(coop::WaitKind kind) const;
  // The most of these waits in progress at one moment (one ending at t is over before one
  // starting at t begins).
  static int most_at_once(const std::vector<Wait>& waits);
};

// A word nobody can guess, fresh for every run of a grader (std::random_device): inputs made
// of these mean an answer cannot be written down in advance, only computed from the work.
std::string token(std::size_t length = 8);
// A number in [lo, hi], fresh for every run in the same way.
long fresh_number(long lo, long hi);
// `n` different numbers in [lo, hi], in no particular order.
std::vector<long> fresh_numbers(std::size_t n, long lo, long hi);

// Options for one run: virtual time unless a part needs real threads.
struct RunSettings {
  bool virtual_time = true;
  std::chrono::milliseconds slow_step_warning{0};  // off unless a part checks for it
  // A swallowed cancellation, a never-retrieved exception or a task abandoned at shutdown
  // fails the part (see grading::run). A check that provokes one on purpose sets this and
  // reads Run::diagnostics itself.
  bool warnings_are_expected = false;
};

coop::RunOptions options(Run* record, RunSettings s);

// The loop's warnings that mean the student's code is wrong, however right its results
// look: a task that caught CancelledError and returned (whoever cancelled it believes it
// stopped), a task whose exception nobody looked at (a failure went unnoticed), a task that
// did not stop when cancelled at shutdown. slow_step is not among them: it depends on the
// machine, and the checks that care about it ask for it (RunSettings::slow_step_warning).
bool is_fatal(const coop::Diagnostic& d) noexcept;

// After a run that returned: fails with the first fatal warning from diagnostics[from...],
// saying what to change. After a run that threw, the exception says more about what went
// wrong, so those warnings go to the part's output instead.
void fail_on_warnings(const std::vector<coop::Diagnostic>& diagnostics, std::size_t from = 0);
void print_warnings(const std::vector<coop::Diagnostic>& diagnostics, std::size_t from = 0) noexcept;

// coop::run for graders: virtual time, trace and warnings into `record` (when given). The
// warnings are collected also without a record, so no check can miss one.
template <class T>
T run(coop::Task<T> main, Run* record = nullptr, RunSettings s = {}) {
  std::vector<coop::Diagnostic> unrecorded;
  std::vector<coop::Diagnostic>& warnings = record != nullptr ? record->diagnostics : unrecorded;
  struct After {  // fills record->took, and prints the warnings when run() throws
    Run* r;
    const std::vector<coop::Diagnostic>& warnings;
    std::size_t from;  // a record may be reused across runs: this run's warnings start here
    bool returned = false;
    ~After() {
      if (r != nullptr) r->took = r->main_end();
      if (!returned) print_warnings(warnings, from);
    }
  } after{record, warnings, warnings.size()};
  coop::RunOptions o = options(record, s);
  o.on_diagnostic = [&warnings](const coop::Diagnostic& d) { warnings.push_back(d); };
  if constexpr (std::is_void_v<T>) {
    coop::run(std::move(main), std::move(o));
    after.returned = true;
    if (!s.warnings_are_expected) fail_on_warnings(warnings, after.from);
  } else {
    T result = coop::run(std::move(main), std::move(o));
    after.returned = true;
    if (!s.warnings_are_expected) fail_on_warnings(warnings, after.from);
    return result;
  }
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

// Grader::part's mark of a part that builds on earlier ones: grading::BuildsOn{3}, or
// grading::BuildsOn{1, 2} when its check runs the code of both.
struct BuildsOn {
  BuildsOn(std::initializer_list<int> earlier) : parts(earlier) {}
  std::vector<int> parts;  // earlier parts' numbers
};

class Grader {
 public:
  Grader(int number, std::string topic, std::string title);
  ~Grader();
  Grader(const Grader&) = delete;
  Grader& operator=(const Grader&) = delete;

  // A graded part: its name, what it checks (one or two sentences), three hints (a nudge,
  // a stronger one, the approach), and the check itself.
  void part(std::string name, std::string what, std::array<std::string, 3> hints, std::function<void()> check);
  // A part whose check also runs what an earlier part grades (part 4 waits on part 3's
  // Latch, say): when that part fails, this one's failure says so, and that it may fail
  // only because of it. Written first, so that it reads as the part's heading:
  //   g.part(grading::BuildsOn{3}, "Latch::wait_for: ...", ...);
  void part(BuildsOn earlier, std::string name, std::string what, std::array<std::string, 3> hints,
            std::function<void()> check);

  // Runs the parts (each in its own process) and reports. See part_runner.cpp for the flags.
  int main(int argc, char** argv);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Hidden parts: checks that stay out of the students' repository. They live in
// tests/grading/hidden/NN_topic.cpp (built into grader NN when that file exists; make
// student-release leaves the folder out) and add themselves with one object:
//
//   static grading::HiddenParts hidden([](grading::Grader& g) { g.part(...); });
//
// Grader::main adds them after the public parts, so they are numbered on from them; the
// list (course/exercises.list) names them last, with visibility hidden or after_due_date.
struct HiddenParts {
  explicit HiddenParts(std::function<void(Grader&)> add);
};

}  // namespace grading
