// lesson.hpp — the narration kit every lesson is written with.
//
// A lesson is a list of steps. Each step has a heading, two to six lines of explanation,
// the code it runs (printed from the lesson's own source, between `// snippet: NAME` and
// `// end snippet` lines, embedded into the binary at build time), and a body that runs
// and prints what happened, with times. When a step runs the loop through lesson::run, a
// timeline follows: one row per task, drawn from the runtime's tracing hooks (trace.hpp),
// not from prints inside the tasks.
//
//   int main(int argc, char** argv) {
//     lesson::Lesson l({1, "coroutines", "Coroutines are functions that can suspend", "..."});
//     l.step("Calling a coroutine runs nothing", "Two to six lines of why.", {"lazy"}, [] {
//       lesson::run(lazy_demo());
//     });
//     return l.main(argc, argv);
//   }
//
// The flags every lesson understands (CLI11): --step, --virtual-time, --trace,
// --timeline / --no-timeline, --trace-json FILE, --list, --only N, --no-color, --help.
// A lesson may add its own with flags() before main().
#pragma once

#include <coop/coop.hpp>
#include <fmt/color.h>
#include <fmt/format.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace CLI {
class App;
}

namespace lesson {

struct Meta {
  int number = 0;         // 1..9
  std::string slug;       // "coroutines": the lesson is NN_slug.cpp
  std::string title;      // one line
  std::string key_point;  // the lecture's key point, in a sentence or three
};

// What the flags asked for. One lesson runs per process, so the kit keeps one of these
// (a simplification: a library would pass it around; a lesson is a short program).
struct Settings {
  bool pause = false;          // --step, and stdin is a terminal
  bool virtual_time = false;   // --virtual-time
  bool live_trace = false;     // --trace
  bool timeline = true;        // --timeline / --no-timeline
  std::string trace_json;      // --trace-json FILE
  bool color = false;          // a terminal, no --no-color, no NO_COLOR
  bool golden = false;         // COOP_LESSON_GOLDEN=1: machine-dependent figures masked (tests)
};
const Settings& settings();

class Lesson {
 public:
  explicit Lesson(Meta meta);
  ~Lesson();
  Lesson(const Lesson&) = delete;
  Lesson& operator=(const Lesson&) = delete;

  // The command line, for a lesson's own flags; add them before main().
  CLI::App& flags();

  // Adds a step. `text` is the explanation (lines separated by '\n'); `snippets` name the
  // marked regions of this lesson's source shown as "the code"; `body` runs the step.
  void step(std::string title, std::string text, std::vector<std::string> snippets, std::function<void()> body);

  // Marks the step just added as one that runs on the real clock even under --virtual-time
  // (real threads, sockets, a blocking call), saying what: "real threads". The banner then
  // names it, instead of promising virtual times for the whole lesson; a step that runs a
  // real-time loop (RunSettings::real_time) without this mark is a lesson bug, reported
  // when it runs.
  void on_real_clock(std::string what);

  // Closing words, printed after the last step (when all steps ran).
  void wrap_up(std::string text);

  // Parses the flags and runs the steps. Returns the exit status: 0; 2 for a bad flag or
  // step number (one line on stderr); 1 when a step threw.
  int main(int argc, char** argv);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---- inside a step ---------------------------------------------------------------------------

// Colour, when it is on. `paint(text, style)` returns text wrapped in escape codes or not.
std::string paint(std::string_view text, fmt::text_style style);
namespace styles {
inline const fmt::text_style heading = fmt::emphasis::bold | fmt::fg(fmt::terminal_color::bright_cyan);
inline const fmt::text_style time = fmt::fg(fmt::terminal_color::green);
inline const fmt::text_style figure = fmt::emphasis::bold | fmt::fg(fmt::terminal_color::bright_yellow);
inline const fmt::text_style warning = fmt::emphasis::bold | fmt::fg(fmt::terminal_color::bright_red);
inline const fmt::text_style dim = fmt::fg(fmt::terminal_color::bright_black);
inline const fmt::text_style code = fmt::fg(fmt::terminal_color::yellow);
}  // namespace styles

// A line of the step's output. Inside a running loop it is stamped with the loop's time
// since run() began ("[ 0.300 s] ..."), virtual or real; outside, it is not.
void say_line(std::string text);
template <class... Args>
void say(fmt::format_string<Args...> f, Args&&... args) {
  say_line(fmt::format(f, std::forward<Args>(args)...));
}

// The loop's time stamped on the last line say() printed inside a running loop. A
// conclusion that quotes when something happened quotes this, so that it reads exactly
// as the line it summarises ("cancel() returned true at 0.251 s" beside "[0.251 s] ...
// cancel() -> true"); a second reading of the clock would be a little later, and on the
// real clock it can print a different millisecond.
coop::Clock::duration said_at();

// A conclusion drawn from what was measured ("→ gather took 0.300 s, the sum was 0.600 s").
void conclude_line(std::string text);
template <class... Args>
void conclude(fmt::format_string<Args...> f, Args&&... args) {
  conclude_line(fmt::format(f, std::forward<Args>(args)...));
}

// A figure that depends on the machine (memory, real-time costs), highlighted. The lesson
// tests replace it with "<measured>" so that their golden files hold on any machine.
std::string measured(std::string text);
template <class... Args>
std::string measured(fmt::format_string<Args...> f, Args&&... args) {
  return measured(fmt::format(f, std::forward<Args>(args)...));
}

// A figure the lesson computed exactly (under --virtual-time), highlighted.
std::string figure(std::string text);

// The anonymous memory this process has resident (RssAnon of /proc/self/status: heap and
// stacks, not the program's files), in bytes, after giving malloc's free memory back to the
// system (glibc's malloc_trim), so that what is allocated next shows as growth even where it
// reuses memory freed before. Empty where there is no /proc (a Mac, the portable build).
std::optional<std::size_t> resident_anon_bytes();

// Seconds, as lessons print them: "0.300 s".
std::string secs(coop::Clock::duration d);

// Time since the running loop's run() began (virtual or real).
coop::Clock::duration elapsed();

// How lesson::run runs one loop.
struct RunSettings {
  std::string title = "timeline";    // printed above the timeline
  bool timeline = true;              // draw it (unless --no-timeline)
  bool real_time = false;            // ignore --virtual-time: the step measures real work
  std::chrono::milliseconds slow_step_warning{100};
  bool trace = true;                 // false: no tracer at all (no timeline, nothing in
                                     // --trace-json), for bulk runs that measure costs
};

// Set up and torn down around one coop::run: the tracer, the warnings, the timeline.
class RunScope {
 public:
  explicit RunScope(RunSettings s);
  ~RunScope();  // draws the timeline, also when the run threw
  RunScope(const RunScope&) = delete;
  RunScope& operator=(const RunScope&) = delete;
  coop::RunOptions options();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// coop::run with the lesson's flags (virtual time, tracing), followed by a timeline.
template <class T>
T run(coop::Task<T> main, RunSettings s = {}) {
  RunScope scope(std::move(s));
  return coop::run(std::move(main), scope.options());
}

// The warnings the runtime gave during the last lesson::run (also printed as they came).
const std::vector<coop::Diagnostic>& last_diagnostics();

// The trace of the last lesson::run.
const std::vector<coop::TraceEvent>& last_trace();

}  // namespace lesson
