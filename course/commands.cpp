// commands.cpp — progress, run, hint, lesson, reset, solution (watch is in watch.cpp).
//
// Each drives the course's own machinery rather than doing its work again: cmake builds,
// the graders grade, coop_grade prints the progress table and keeps the hint levels (so
// `make hint N=3` and `./coop hint 3` go on from the same level), git restores the stubs.
#include "commands.hpp"

#include <fmt/format.h>

#include <system_error>

#include "grading.hpp"
#include "process.hpp"
#include "side_by_side.hpp"
#include "state.hpp"
#include "terminal.hpp"

namespace course {

namespace {

std::string joined(const std::vector<std::string>& words, const char* between) {
  std::string out;
  for (const std::string& w : words) out += (out.empty() ? "" : between) + w;
  return out;
}

std::vector<std::string> grader_targets(const Layout& l) {
  std::vector<std::string> targets = {"coop_grade"};
  for (const Exercise& e : l.exercises) {
    targets.push_back("grade_exercise_" + e.nn());
    targets.push_back("grade_solution_" + e.nn());
  }
  return targets;
}

// Builds coop_grade, or says why not.
void build_coop_grade(const Layout& l, const std::vector<std::string>& also) {
  std::vector<std::string> targets = {"coop_grade"};
  targets.insert(targets.end(), also.begin(), also.end());
  if (!build(l, targets, false, true)) throw Problem("the graders did not build (the errors are above)");
}

// "Exercise 03 is done", then what comes next; offered at once on a terminal.
int offer_next(const Layout& l, const Exercise& e) {
  fmt::print("\nExercise {} is done. Its reference solution, next to yours: {} solution {}\n", e.nn(), l.say, e.number);
  const auto next = next_not_done(l, e.number);
  if (!next) {
    fmt::print("Every exercise is done. Well done!\n");
    return 0;
  }
  fmt::print("Next: exercise {} ({}) in {} — the lesson: {} lesson {} · grade it: {} run {}\n", next->nn(), next->topic,
             l.shown(l.student_file(*next)), l.say, next->number, l.say, next->number);
  if (stdin_is_terminal() && stdout_is_terminal() && ask(fmt::format("Start exercise {} now?", next->nn()), true)) {
    fmt::print("\n");
    return run(l, *next);
  }
  return 0;
}

}  // namespace

const Exercise& default_exercise(const Layout& l) {
  if (l.exercises.empty()) throw Problem("there are no exercises here");
  if (const auto last = last_exercise(l)) return l.exercise(*last);
  if (const auto next = next_not_done(l, 0)) return l.exercise(next->number);
  return l.exercises.front();
}

int progress(const Layout& l) {
  bool built = false;
  {
    StatusLine status("building the graders (the first time, this takes a few minutes)…");
    built = build(l, grader_targets(l), true, false);
  }
  if (!built) {
    // Which exercises did not compile: each on its own (quick: the rest is built now). A
    // grader left from before would grade the code as it was, so it goes: coop_grade then
    // reports the exercise as not compiling.
    std::vector<std::string> broken;
    for (const Exercise& e : l.exercises) {
      if (build(l, {"grade_exercise_" + e.nn()}, false, broken.empty())) continue;  // the first one's errors
      std::error_code ec;
      fs::remove(l.grader(e), ec);
      broken.push_back(l.shown(l.student_file(e)));
    }
    if (!fs::exists(l.coop_grade())) build_coop_grade(l, {});
    if (!broken.empty()) fmt::print("Does not compile: {} (the first one's errors are above)\n", joined(broken, ", "));
  }
  const int status = course::run({l.coop_grade().string(), "progress", l.bin_dir().string(), l.state_dir().string(),
                                  "--course", l.say});
  fmt::print("\n");
  print_progress_bar(l);
  const Exercise& next = default_exercise(l);
  fmt::print("More: {0} hint {1} (a hint for exercise {2}) · {0} watch (grades each file you save) · {0} --help\n",
             l.say, next.number, next.nn());
  return status;
}

int run(const Layout& l, const Exercise& e) {
  remember_last_exercise(l, e.number);
  const std::string state = grade(l, e, true);
  fmt::print("\n");
  print_progress_bar(l, e.number);
  if (state == "done") return offer_next(l, e);
  if (state != "not started") return 1;
  fmt::print("Each part says what to write, in {} (its contract: {}). {} watch grades it each time you save; "
             "the lesson: {} lesson {}\n",
             l.shown(l.student_file(e)), l.shown(l.contract_file(e)), l.say, l.say, e.number);
  return 0;
}

int hint(const Layout& l, const Exercise& e, bool all) {
  build_coop_grade(l, {"grade_solution_" + e.nn()});  // its parts and hints come from there
  remember_last_exercise(l, e.number);
  std::vector<std::string> args = {l.coop_grade().string(), "hint", l.bin_dir().string(), l.state_dir().string(),
                                   std::to_string(e.number), "--course", l.say};
  if (all) args.push_back("--all");
  return course::run(args);
}

int lesson(const Layout& l, const Exercise& lesson, const std::vector<std::string>& flags) {
  {
    StatusLine status(fmt::format("building lesson {}…", lesson.nn()));
    if (!build(l, {"lesson" + lesson.nn()}, false, false)) {
      status.clear();
      show_build_errors(l);
      throw Problem(fmt::format("lesson {} did not build (the errors are above)", lesson.nn()));
    }
  }
  std::vector<std::string> args = {l.lesson_binary(lesson).string()};
  args.insert(args.end(), flags.begin(), flags.end());
  become(args);
  throw Problem(fmt::format("cannot run {}", l.shown(l.lesson_binary(lesson))));
}

int reset(const Layout& l, const Exercise& e, bool yes) {
  if (!on_path("git")) throw Problem("reset restores the stubs from git, and git is not installed");
  const fs::path log = l.state_dir() / "git.log";
  fs::create_directories(l.state_dir());
  const auto git = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"git", "-C", l.root.string()});
    return run_logged(args, log);
  };
  if (git({"rev-parse", "--is-inside-work-tree"}) != 0)
    throw Problem(fmt::format("{} is not a git checkout: there is nothing to restore exercise {} from",
                              l.root.string(), e.nn()));
  const std::vector<std::string> files = {l.shown(l.student_file(e)), l.shown(l.contract_file(e))};
  for (const std::string& f : files)
    if (git({"cat-file", "-e", "HEAD:./" + f}) != 0)
      throw Problem(fmt::format("{} is not in git here (HEAD): there is nothing to restore it from", f));

  std::vector<std::string> changed;
  std::vector<std::string> diff = {"git", "-C", l.root.string(), "diff", "--relative", "--name-only", "HEAD", "--"};
  diff.insert(diff.end(), files.begin(), files.end());
  if (run_lines(diff, [&](std::string_view f) { changed.emplace_back(f); }) != 0)
    throw Problem(fmt::format("git diff failed in {}", l.root.string()));
  if (changed.empty()) {
    fmt::print("Exercise {} is as it was given (git HEAD): nothing to reset.\n", e.nn());
    return 0;
  }
  fmt::print("Resetting exercise {} throws away your changes to {}: its stubs come back from git (HEAD).\n",
             e.nn(), joined(changed, " and "));
  if (!yes && !ask(fmt::format("Reset exercise {}?", e.nn()), false)) {
    fmt::print("Nothing changed.\n");
    return 1;
  }
  // Kept, in case: the last version reset, in the build directory.
  std::vector<std::string> kept;
  fs::create_directories(l.state_dir() / "reset");
  for (const std::string& f : changed) {
    if (!fs::exists(l.root / f)) continue;
    const fs::path copy = l.state_dir() / "reset" / fs::path(f).filename();
    fs::copy_file(l.root / f, copy, fs::copy_options::overwrite_existing);
    kept.push_back(l.shown(copy));
  }
  std::vector<std::string> checkout = {"checkout", "HEAD", "--"};
  checkout.insert(checkout.end(), files.begin(), files.end());
  if (git(checkout) != 0) throw Problem(fmt::format("git could not restore {} (see {})", files[0], l.shown(log)));
  std::error_code ec;
  fs::remove(report_file(l, e), ec);  // it graded the code that is gone
  fmt::print("Restored {} from git.", joined(changed, " and "));
  if (!kept.empty()) fmt::print(" Your version is kept: {}", joined(kept, ", "));
  fmt::print("\n");
  return 0;
}

int solution(const Layout& l, const Exercise& e, SolutionOptions o) {
  const fs::path reference = l.solution_file(e);
  if (!fs::exists(reference)) throw Problem(fmt::format("exercise {} has no reference solution here", e.nn()));
  auto report = last_report(l, e);
  bool done = report && report->fresh && report->state == "done";
  if (!done && !o.force) {
    grade(l, e, false);  // the last report may be older than the code
    report = last_report(l, e);
    done = report && report->state == "done";
    if (!done) {
      const std::string why = !report ? "it could not be graded"
                              : report->state == "failing"
                                  ? fmt::format("{} of {} parts pass", report->passed, report->parts)
                                  : report->state;
      throw Problem(fmt::format("exercise {} is not done yet ({}): its solution is shown once it is ({} run {}), "
                                "or with --force",
                                e.nn(), why, l.say, e.number));
    }
  }
  const int width = o.width.value_or(stdout_is_terminal() ? terminal_width() : 80);
  if (!done) fmt::print("(Exercise {} is not done: shown because of --force.)\n", e.nn());
  const Titled yours{"yours: " + l.shown(l.student_file(e)), read_lines(l.student_file(e).string())};
  const Titled theirs{"the reference: " + l.shown(reference), read_lines(reference.string())};
  if (o.stacked || width < 160)
    print_one_after_other(yours, theirs, width);
  else
    print_side_by_side(yours, theirs, width);
  return 0;
}

}  // namespace course
