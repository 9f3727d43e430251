// commands.hpp — what each of the course command's subcommands does (course.cpp reads the
// command line and calls one of these). Each returns the exit status, or throws Problem
// for what it cannot do (one line, then a non-zero exit).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "layout.hpp"

namespace course {

// (no subcommand) Builds and grades every exercise: the progress table, the next exercise,
// its lesson, what to type next. Exit 1 when an exercise is failing, as `make test`.
int progress(const Layout& l);

// Grades exercise e check by check; when it is done, offers the next one.
int run(const Layout& l, const Exercise& e);

// The next hint for exercise e (each time one level more, remembered), or every hint.
int hint(const Layout& l, const Exercise& e, bool all);

// Grades the exercise of each file saved under exercises/ (watch.cpp).
struct WatchOptions {
  bool manual = false;  // Enter instead of file notifications
  bool poll = false;    // list the directory a few times a second instead of inotify
  bool once = false;    // stop after the first re-grading (scripts, tests)
};
int watch(const Layout& l, const Exercise& first, WatchOptions o);

// Runs lesson `lesson` with `flags`; does not return when it can run it.
int lesson(const Layout& l, const Exercise& lesson, const std::vector<std::string>& flags);

// Restores exercise e's files from git (HEAD), after asking unless `yes`.
int reset(const Layout& l, const Exercise& e, bool yes);

// The reference solution next to the student's file, once the exercise is done.
struct SolutionOptions {
  bool force = false;        // also when it is not done
  bool stacked = false;      // one after the other, not side by side
  std::optional<int> width;  // columns (default: the terminal's)
};
int solution(const Layout& l, const Exercise& e, SolutionOptions o);

// The exercise to take when the student names none: the last one, else the first not done.
const Exercise& default_exercise(const Layout& l);

}  // namespace course
