// state.hpp — what the course's tools know between runs, all of it in the build directory
// (build/grade-state/), never in exercises/. This module is the only one that reads or
// writes these files; coop_grade (make test, make hint) and the course command (./coop)
// both go through it, so they cannot drift apart.
//
//   course.state   what is remembered: the hint levels (`hint.03.1 2`: exercise 03, part 1,
//                  hint 2 seen) and the last exercise (`last 3`), one `key value` a line.
//   NN.report      the last verdict on exercise NN: judged (report.hpp) before it is stored,
//                  so it holds only what the list allows. Its format is this file's own:
//                    graded <version> <N> <topic> <title> <state> <seconds> <problem>
//                    part <K> <status> <seconds> <name> <what> <message> <output> <hint>
//                  tab-separated and escaped as a grader's report is. Points and visibility
//                  are not stored: they are the list's, read when the verdict is loaded.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "course_list.hpp"
#include "layout.hpp"
#include "report.hpp"
#include "supervise.hpp"

namespace course {

// ---- by directory (coop_grade, which has no Layout) -----------------------------------------

std::map<std::string, std::string> read_remembered(const fs::path& state_dir);
void write_remembered(const fs::path& state_dir, const std::map<std::string, std::string>& kv);

fs::path graded_file(const fs::path& state_dir, int exercise);
// Stores a verdict atomically. False (and `error` set) when it cannot be written.
bool store_graded(const fs::path& state_dir, const Graded& g, std::string* error = nullptr);
// The stored verdict on exercise e, with the list's points and visibility; nullopt when
// there is none, or it is not one this list could have produced (the list changed since).
std::optional<Graded> load_graded(const fs::path& state_dir, const ListedExercise& e);
// Forgets the stored verdict (the code it graded is gone).
void forget_graded(const fs::path& state_dir, int exercise);

// ---- by Layout (the course command) ----------------------------------------------------------

// The exercise worked on last: the one `run`, `hint` and `watch` take when given none.
std::optional<int> last_exercise(const Layout& l);
void remember_last_exercise(const Layout& l, int n);

// The key/value file itself.
std::map<std::string, std::string> read_remembered(const Layout& l);
void write_remembered(const Layout& l, const std::map<std::string, std::string>& kv);

struct Report {
  // done | failing | not started | does not compile | timed out | crashed |
  // grader output invalid
  std::string state;
  int passed = 0, parts = 0;
  bool fresh = false;  // written after the exercise's files last changed
  Graded graded;       // the whole verdict: each part, why the grader ended as it did
};

// The last grading of exercise e, if it has been graded.
std::optional<Report> last_report(const Layout& l, const Exercise& e);
fs::path report_file(const Layout& l, const Exercise& e);
// Records that exercise e did not compile (so that its last report does not say "done").
void report_does_not_compile(const Layout& l, const Exercise& e);

// How to run exercise e's grader: give Spec{argv = grader_command(l, e, quiet), limits =
// grader_limits(l.listed(e)), report_pipe = true} to supervise(), then hand its Outcome to
// record_grading, which judges it against the list, stores the verdict (NN.report) and
// returns it. The grader's output (run.output) is not stored: show it as it comes.
std::vector<std::string> grader_command(const Layout& l, const Exercise& e, bool quiet = true);
Graded record_grading(const Layout& l, const Exercise& e, const Outcome& run);

}  // namespace course
