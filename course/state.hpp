// state.hpp — what the course command knows between runs, all of it in the build directory
// (build/grade-state/), never in exercises/:
//
//   course.state   what is remembered: the hint levels and the last exercise, one
//                  `key value` a line. coop_grade (make hint, ./coop hint) keeps the hint
//                  levels in it (`hint.03.1 2`), this command the last exercise (`last 3`);
//                  each leaves the other's keys as they were.
//   NN.report      what the last grading of exercise NN said (written by its grader, the
//                  format is in tests/grading/grader.cpp); the course command only reads
//                  its first line: the exercise's state, and how many parts pass.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "layout.hpp"

namespace course {

// The exercise worked on last: the one `run`, `hint` and `watch` take when given none.
std::optional<int> last_exercise(const Layout& l);
void remember_last_exercise(const Layout& l, int n);

// The key/value file itself (the same format coop_grade reads and writes).
std::map<std::string, std::string> read_remembered(const Layout& l);
void write_remembered(const Layout& l, const std::map<std::string, std::string>& kv);

struct Report {
  std::string state;  // done | failing | not started | does not compile | grader crashed
  int passed = 0, parts = 0;
  bool fresh = false;  // written after the exercise's files last changed
};

// The last grading of exercise e, if it has been graded.
std::optional<Report> last_report(const Layout& l, const Exercise& e);
fs::path report_file(const Layout& l, const Exercise& e);
// Records that exercise e did not compile (so that its last report does not say "done").
void report_does_not_compile(const Layout& l, const Exercise& e);

}  // namespace course
