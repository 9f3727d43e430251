// grading.hpp — building an exercise's grader and running it, as `make exercise` does; and
// the progress bar, from the last reports.
//
// The graders are the build's own (build/tests/grade_exercise_NN, tests/grading/): this
// command only builds them with cmake and runs them, so it grades exactly as `make test`
// and `make exercise` do and shares their reports.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "layout.hpp"

namespace course {

// Builds the targets with `cmake --build`, the output into build/grade-state/build.log.
// keep_going: build every target that can be built, even when one fails. Returns whether
// it all built; when not, and show_errors, prints the errors briefly.
bool build(const Layout& l, const std::vector<std::string>& targets, bool keep_going, bool show_errors);
// make test's and make grade's build: every target, past those that fail (the output shown,
// or into build.log with only the errors shown), then each exercise's grader made sure of as
// grade() does: of the files as saved now, built again when they changed during the build
// or when the grader is not one this command recorded making from them; a grader that
// cannot be built from them is removed and its verdict stored as "does not compile".
// Returns whether everything built.
bool build_everything(const Layout& l, bool show_output);
// The errors of the last build that failed, briefly (the lines that say error), and where
// the whole log is.
void show_build_errors(const Layout& l);

// Builds exercise e's grader from the files as saved (keyed on their content: a save during
// the build means another build; see grading.cpp) and grades it: its report goes to
// build/grade-state/NN.report. With `show`, prints each check as the grader does (the
// commands it suggests are this command's), then the compiler's warnings about the
// student's file; otherwise nothing. Returns the verdict's state (report.hpp: done, failing,
// not started, does not compile, timed out, crashed, grader output invalid), or "changed
// while building" when the files changed during every one of the builds it tried.
std::string grade(const Layout& l, const Exercise& e, bool show);

// Progress  ██████░░░░░░░░░░░░░░░░░░░░░░░░  2 of 9 done · 1 failing   (from the last reports)
// With graded_now (run, watch): the other exercises' counts are labelled "as last graded",
// naming those edited since.
void print_progress_bar(const Layout& l, std::optional<int> graded_now = std::nullopt);

// The first exercise after exercise `after` (going round) that the last reports do not
// call done; nullopt when every exercise is done.
std::optional<Exercise> next_not_done(const Layout& l, int after);

}  // namespace course
