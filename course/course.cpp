// course.cpp — the course command: your progress, grading, hints, watching, lessons, resets
// and solutions, without remembering make targets. In the spirit of rustlings.
//
//   ./coop                   the progress table, the next exercise, its lesson, what to type
//   ./coop run [N]           grade exercise N check by check; when it is done, the next
//   ./coop hint [N] [--all]  the next hint for exercise N (remembered), or every hint
//   ./coop watch [N]         grade the exercise you are editing each time you save it
//   ./coop lesson N [FLAGS]  run lesson N, with the lesson's flags (--step, --list, ...)
//   ./coop reset N           restore exercise N's stubs from git, after asking
//   ./coop solution N        the reference solution next to yours, once the exercise is done
//
// N defaults to the exercise you worked on last. ./coop (at the repository's root) builds
// this program when needed and runs it; it is build/course/course. This file reads the
// command line; commands.cpp and watch.cpp do the work, with the build's own graders.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "commands.hpp"
#include "grading.hpp"
#include "layout.hpp"

namespace {

// The N of a subcommand: a number, or a Problem that says what was wrong.
int number(const std::string& text, const char* what) {
  const bool digits = !text.empty() && text.size() <= 3 &&
                      text.find_first_not_of("0123456789") == std::string::npos;
  if (!digits) throw course::Problem(fmt::format("{} must be a number, as in 3 (got '{}')", what, text), 2);
  return std::stoi(text);
}

// CLI11's message, on one line.
std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n') c = ' ';
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

std::string launcher(const char* argv0) {
  const char* l = std::getenv("COOP_LAUNCHER");
  return l != nullptr && *l != '\0' ? l : argv0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string say = launcher(argv[0]);
  const std::string me = std::filesystem::path(say).filename().string();
  try {
    CLI::App app("The course command: your progress, grading, hints, a watch that grades as you save, the "
                 "lessons, and the reference solutions. N is an exercise's (or lesson's) number; without one, "
                 "the exercise you worked on last.",
                 say);
    app.require_subcommand(0, 1);
    app.footer(fmt::format("Start with `{0}`: it says what to do next. `{0} SUBCOMMAND --help` for one's options.",
                           say));

    std::string n;  // each subcommand's N, checked once the course is found
    bool all = false, manual = false, poll = false, once = false, yes = false;
    course::SolutionOptions sol;
    int width = 0;
    auto* run = app.add_subcommand("run", "Grade exercise N, check by check; when it is done, offer the next");
    auto* hint = app.add_subcommand("hint", "The next hint for exercise N: a nudge, a stronger one, the approach");
    auto* watch = app.add_subcommand(
        "watch", "Grade the exercise you edit each time you save a file under exercises/ (Ctrl-C stops)");
    auto* lesson =
        app.add_subcommand("lesson", "Run lesson N; the flags after N are the lesson's (--step, --list, ...)");
    auto* reset = app.add_subcommand("reset", "Restore exercise N's stubs from git (after asking; yours is kept)");
    auto* solution =
        app.add_subcommand("solution", "The reference solution next to your file, once exercise N is done");
    for (auto* c : {run, hint, watch, lesson, solution})
      c->add_option("N", n, "The exercise (default: the last one)")->type_name("NUMBER");
    reset->add_option("N", n, "The exercise")->type_name("NUMBER")->required();
    hint->add_flag("--all", all, "Every hint of every part at once (remembers nothing)");
    watch->add_flag("--manual", manual,
                    "Grade when you press Enter, not when a file is saved (for file systems that do not report saves)");
    watch->add_flag("--poll", poll,
                    "Look for saves by listing exercises/ a few times a second (what watch does where the "
                    "system cannot report saves)");
    watch->add_flag("--once", once, "Stop after the first grading after a save (or Enter): for scripts");
    reset->add_flag("-y,--yes", yes, "Do not ask");
    // make test and make grade build through here, so that they grade what is saved as run does.
    bool quiet_build = false;
    auto* build_all = app.add_subcommand("build", "Build everything, then each exercise's grader from the files as saved");
    build_all->group("");  // the Makefile's, not a student's
    build_all->add_flag("--quiet", quiet_build, "The build's output into build/grade-state/build.log, only errors shown");
    solution->add_flag("--force", sol.force, "Show it even though the exercise is not done");
    solution->add_flag("--stacked", sol.stacked, "One file after the other, not side by side");
    solution->add_option("--width", width, "Columns to use (default: the terminal's)")
        ->type_name("COLUMNS")
        ->check(CLI::Range(40, 1000));
    // Everything after the lesson's N is the lesson's, --help included.
    lesson->prefix_command();
    lesson->allow_extras();
    lesson->set_help_flag();

    // `lesson N -- FLAGS`: what follows -- is the lesson's, whatever it looks like.
    std::vector<std::string> after_dashes;
    if (argc > 1 && std::string(argv[1]) == "lesson")
      for (int i = 2; i < argc; ++i)
        if (std::string(argv[i]) == "--") {
          after_dashes.assign(argv + i + 1, argv + argc);
          argc = i;
          break;
        }
    try {
      app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
      return app.exit(e);
    } catch (const CLI::ParseError& e) {
      // Which subcommand it was about, if any: "run: ..." and its --help.
      std::string sub;
      for (const auto* c : {run, hint, watch, lesson, reset, solution})
        if (argc > 1 && c->get_name() == argv[1]) sub = c->get_name();
      if (sub.empty() && argc > 1 && argv[1][0] != '-')
        throw course::Problem(fmt::format("there is no command '{}' (the commands are run, hint, watch, lesson, "
                                          "reset, solution; {} --help)",
                                          argv[1], say),
                              2);
      throw course::Problem(sub.empty() ? fmt::format("{} ({} --help)", one_line(e.what()), say)
                                        : fmt::format("{}: {} ({} {} --help)", sub, one_line(e.what()), say, sub),
                            2);
    }

    const course::Layout l = course::find_layout(argv[0]);
    const auto exercise = [&]() -> const course::Exercise& {
      return n.empty() ? course::default_exercise(l) : l.exercise(number(n, "N"));
    };
    if (*build_all) return course::build_everything(l, !quiet_build) ? 0 : 1;
    if (*run) return course::run(l, exercise());
    if (*hint) return course::hint(l, exercise(), all);
    if (*watch) return course::watch(l, exercise(), {manual, poll, once});
    if (*reset) return course::reset(l, exercise(), yes);
    if (width > 0) sol.width = width;
    if (*solution) return course::solution(l, exercise(), sol);
    if (*lesson) {
      std::vector<std::string> flags = lesson->remaining();
      flags.insert(flags.end(), after_dashes.begin(), after_dashes.end());
      const int which = n.empty() ? course::default_exercise(l).number : number(n, "N");
      return course::lesson(l, l.lesson(which), flags);
    }
    return course::progress(l);
  } catch (const course::Problem& p) {
    std::fprintf(stderr, "%s: %s\n", me.c_str(), p.what());
    return p.status;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", me.c_str(), e.what());
    return 1;
  }
}
