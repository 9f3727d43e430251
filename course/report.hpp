// report.hpp — from what a grader says to a verdict we can trust, and the files an
// instructor's tools read (Gradescope's results.json, JUnit XML).
//
// A grader has the student's code linked into it, so what it writes is evidence, not a
// verdict. Its raw report (written to `--report FILE`; coop_grade passes a pipe,
// /dev/fd/3) is lines of tab-separated fields, with backslash, tab and newline escaped
// (\\, \t, \n):
//
//   exercise <N> <topic> <title>                     first, as the grader's main() begins
//   part <K> <status> <seconds> <name> <what> <message> <output> [<hint>]    as each part ends
//   end <state>                                      last
//
// <hint> is what to change, for a part that did not pass: the hint of the check that
// failed (the part's first hint when the check has none of its own). A report without it
// (a grader built before hints travelled) reads as having none. status is passed | failed | not started | hang | crash. judge() checks that report
// against the one list (course_list.hpp): the exercise's number, topic and title, every part
// once and in order, under the list's name. Anything else (a part too many or too few, a
// name the list does not have, a number that is not one) makes the whole exercise "grader
// output invalid", never a score. It then combines the report with how the process ended
// (supervise's Outcome): a grader that timed out or crashed keeps the parts it reported,
// and the others say what happened. Points come from the list only, so no report can
// score more than the list allows.
//
// Nothing here throws on any input; every text kept is valid UTF-8 and capped.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "course_list.hpp"
#include "supervise.hpp"

namespace course {

// ---- the raw report ------------------------------------------------------------------------

// The escaping of the report's fields (and of the stored reports, state.hpp).
std::string escape_field(std::string_view s);
std::string unescape_field(std::string_view s);
// A line's tab-separated fields, each unescaped.
std::vector<std::string> split_fields(std::string_view line);

struct RawPart {
  int number = 0;
  std::string status;
  double seconds = 0;
  std::string name, what, message, output;  // capped (kMessageCap, kOutputCap)
  std::string hint;                         // capped (kMessageCap); empty: none given
};

struct RawReport {
  bool has_header = false;
  int exercise = 0;
  std::string topic, title;
  std::vector<RawPart> parts;
  std::optional<std::string> end_state;  // the `end` line's state, once it came
  // The first thing wrong with the report's form ("line 3: 'part' needs 8 fields"); empty
  // when every complete line is well formed. A last line without its newline (a grader
  // killed mid-write) is not a line: it is ignored.
  std::string error;
};

// Reads a raw report. Never throws; linear in the input; keeps at most kMaxParts parts.
RawReport parse_report(std::string_view text);

// Bounds on what is kept, whatever a grader prints.
inline constexpr std::size_t kMessageCap = 4000;   // a part's message, bytes
inline constexpr std::size_t kOutputCap = 4000;    // a part's output, bytes
inline constexpr std::size_t kMaxParts = 200;      // parts read from one report

// ---- the trusted verdict ---------------------------------------------------------------------

struct GradedPart {
  int number = 0;
  std::string name;  // the list's
  double points = 0;  // the list's
  Visibility visibility = Visibility::visible;
  // passed | failed | not started | hang | crash (from the grader), or what the grader
  // process did instead of reporting this part: timed out | crashed | not run |
  // does not compile | invalid.
  std::string status;
  double seconds = 0;
  std::string what, message, output;
  std::string hint;  // what to change, from the grader (report.hpp's <hint>); empty: none

  bool passed() const { return status == "passed"; }
  double score() const { return passed() ? points : 0; }
};

struct Graded {
  int number = 0;
  std::string topic, title;  // the list's
  // done | failing | not started | does not compile | timed out | crashed |
  // grader output invalid
  std::string state;
  std::string problem;  // when the grader itself did not end well: what happened, one line
  double seconds = 0;   // the grader's wall-clock time
  std::vector<GradedPart> parts;

  std::string nn() const;
  std::string name() const;  // "03_gather"
  int passed() const;
  double score() const;
  double max_score() const;
  // Not done and not untouched: something a student must look at.
  bool failing() const { return state != "done" && state != "not started"; }
};

// The verdict on exercise `e` from its grader's run (`run.report` is the raw report).
Graded judge(const ListedExercise& e, const Outcome& run);
// The verdict when there is no grader to run: every part carries `status` and `problem`.
Graded without_grader(const ListedExercise& e, std::string state, std::string problem);

// How the grader of exercise `e` is bounded: report_start for its static initialisation,
// then kPartSeconds a part (the grader's own per-part limit, passed as --timeout) and slack.
inline constexpr int kPartSeconds = 5;
inline constexpr int kStartSeconds = 10;
Limits grader_limits(const ListedExercise& e, bool limit_address_space = true);
// The arguments after the grader's path: [--quiet] --timeout 5 --report /dev/fd/3.
std::vector<std::string> grader_arguments(bool quiet = true);

// ---- the files for instructors' tools ------------------------------------------------------

// The integrity scan's hits (autograde), `file:line: construct` each; absent: no scan.
struct Integrity {
  std::vector<std::string> hits;
};
// Reads an integrity file; a file that cannot be read is itself one hit saying so.
Integrity read_integrity(const std::filesystem::path& file);

// Gradescope's results.json and JUnit XML for the graded exercises. Valid UTF-8, bounded
// (under 1 MB for the course's exercises, whatever the graders printed). `note` is added
// to results.json's output (why nothing was graded, say).
std::string results_json(const std::vector<Graded>& all, const std::optional<Integrity>& integrity,
                         double execution_seconds, std::string_view note = {});
std::string junit_xml(const std::vector<Graded>& all, const std::optional<Integrity>& integrity);

// Writes `content` to `file` through a temporary file in the same directory and a rename,
// so a reader sees the old file or the new one, never half of one. False (and `error`
// set) when it cannot. Never throws.
bool write_atomically(const std::filesystem::path& file, std::string_view content, std::string* error = nullptr);

}  // namespace course
