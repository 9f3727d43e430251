// grade_main.cpp — coop_grade: grades every exercise and reports, for students and
// instructors. The Makefile drives it:
//
//   coop_grade progress BIN STATE        make test: the progress table; exit 1 if any exercise fails
//   coop_grade grade BIN STATE OUT       make grade: also OUT/results.json (Gradescope) and
//                                        OUT/junit.xml; always written, whatever the exercises do
//   coop_grade hint BIN STATE N [--all]  make hint N=3: the next hint for exercise N
//   coop_grade teeth BIN STATE           CI: every part fails against the pristine stubs and
//                                        passes against the solutions
//   coop_grade list-check BIN N          CTest: grader N's parts are the list's, by number and name
//
// BIN holds the grader binaries (grade_exercise_NN, grade_solution_NN); STATE is where the
// verdicts (NN.report), the graders' output (NN.out) and what is remembered between
// commands are kept (state.hpp owns those files). The exercises, their parts, points and
// visibility come from the one list (course/exercises.list; --list FILE for another), never
// from a grader: each grader is untrusted (the student's code is linked into it), so it runs
// under supervise() (its own process group, a wall-clock limit from its first instruction,
// resource limits) and what it reports is judged against the list (report.hpp) before it
// counts. A hanging, crashing or lying exercise is reported as such and the others still
// graded. What to type next is said in the course command's words (./coop run 3), or with
// `--course CMD`, CMD's.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "course_list.hpp"
#include "report.hpp"
#include "state.hpp"
#include "supervise.hpp"
#include "text.hpp"

namespace fs = std::filesystem;
using course::Graded;
using course::ListedExercise;

namespace {

#ifdef COOP_GRADE_SANITIZED
constexpr bool kLimitAddressSpace = false;  // sanitizers reserve terabytes of shadow memory
#else
constexpr bool kLimitAddressSpace = true;
#endif

std::string bin_name(const char* kind, int n) { return fmt::format("grade_{}_{:02}", kind, n); }

// Who the graders run as (--run-as): unset, as we are.
struct RunAs {
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
};

course::Spec grader_spec(const ListedExercise& e, std::vector<std::string> argv, const RunAs& as) {
  course::Spec spec;
  spec.argv = std::move(argv);
  spec.limits = course::grader_limits(e, kLimitAddressSpace);
  spec.uid = as.uid;
  spec.gid = as.gid;
  if (as.uid) {
    // As the graders' user: an environment of its own, not root's (its home, its paths, its
    // settings), with only what makes the program behave as it does everywhere else.
    spec.environment = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/nonexistent", "TMPDIR=/tmp", "LANG=C.UTF-8",
                        "NO_COLOR=1"};
    for (const char* keep : {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TSAN_OPTIONS"})
      if (const char* v = std::getenv(keep)) spec.environment->push_back(std::string(keep) + "=" + v);
  }
  return spec;
}

// Grades exercise e with its grader in BIN, stores the verdict in STATE and returns it.
Graded grade_one(const fs::path& bin, const fs::path& state, const ListedExercise& e, const RunAs& as,
                 const std::optional<fs::path>& submitted) {
  const fs::path grader = bin / bin_name("exercise", e.number);
  Graded g;
  if (submitted && !fs::exists(*submitted / (e.name() + ".cpp"))) {
    // Autograding: the student did not hand this exercise in (it is not a compile error).
    g = course::without_grader(e, "not started",
                               fmt::format("not submitted (no {0}.cpp in the submission)",
                                           e.name()));
  } else if (!fs::exists(grader)) {
    g = course::without_grader(e, "does not compile",
                               fmt::format("exercises/{}.cpp does not compile (see the build errors above)", e.name()));
  } else {
    std::vector<std::string> argv = {grader.string()};
    for (std::string& a : course::grader_arguments()) argv.push_back(std::move(a));
    course::Spec spec = grader_spec(e, std::move(argv), as);
    spec.output_file = state / fmt::format("{}.out", e.nn());
    spec.report_pipe = true;
    g = course::judge(e, course::supervise(spec));
  }
  std::string error;
  if (!course::store_graded(state, g, &error)) std::fprintf(stderr, "coop_grade: %s\n", error.c_str());
  return g;
}

std::vector<Graded> grade_all(const fs::path& bin, const fs::path& state, const course::CourseList& list,
                              const RunAs& as, const std::optional<fs::path>& submitted = std::nullopt) {
  std::error_code ec;
  fs::create_directories(state, ec);
  std::vector<Graded> all;
  for (const ListedExercise& e : list.exercises) all.push_back(grade_one(bin, state, e, as, submitted));
  return all;
}

// The commands to suggest: the course command's (./coop, or --course CMD).
struct Say {
  std::string course = "./coop";
  std::string run(int n) const { return fmt::format("{} run {}", course, n); }
  std::string hint(int n) const { return fmt::format("{} hint {}", course, n); }
  std::string lesson(int n) const { return fmt::format("{} lesson {}", course, n); }
};

// Whether lesson n exists (lessons/NN_*.cpp): a tenth exercise may come without one.
bool has_lesson(int n) {
  std::error_code ec;
  const std::string prefix = fmt::format("{:02}_", n);
  for (const auto& entry : fs::directory_iterator(fs::path(COOP_SOURCE_DIR) / "lessons", ec))
    if (entry.path().filename().string().rfind(prefix, 0) == 0) return true;
  return false;
}

// The first line of a message, short enough for the table.
std::string one_line(const std::string& s, std::size_t width) {
  std::string line = s.substr(0, s.find('\n'));
  if (line.size() > width) line = course::cap_text(line, width - 3, "...");
  return line;
}

// The progress table, and what to do next. Returns true when something is failing.
bool print_table(const std::vector<Graded>& all, const Say& say) {
  int done = 0, failing = 0, fresh = 0;
  for (const Graded& g : all) {
    done += g.state == "done";
    fresh += g.state == "not started";
    failing += g.failing();
  }
  fmt::print("\nExercises: {} of {} done · {} failing · {} not started\n", done, all.size(), failing, fresh);
  for (const Graded& g : all) {
    // Why, in a few words: the grader's end when it did not end well, else the first part
    // that did not pass.
    std::string note = g.problem;
    if (note.empty())
      for (const course::GradedPart& p : g.parts)
        if (!p.passed() && p.status != "not started") {
          note = fmt::format("part {} {}: {}", p.number, p.status, p.message);
          break;
        }
    fmt::print("  {} {:<13} {:<21} {}/{}  {}\n", g.nn(), g.topic, g.state == "failing" ? "FAILING" : g.state,
               g.passed(), g.parts.size(), one_line(note, 90));
  }
  const auto first = [&](auto pred) -> const Graded* {
    const auto it = std::find_if(all.begin(), all.end(), pred);
    return it == all.end() ? nullptr : &*it;
  };
  const Graded* next = first([](const Graded& g) { return g.failing(); });
  if (next == nullptr) next = first([](const Graded& g) { return g.state == "not started"; });
  if (next != nullptr)
    fmt::print("Next: exercise {} ({}) in exercises/{}.cpp — {}{}\n", next->nn(), next->topic, next->name(),
               say.run(next->number),
               has_lesson(next->number) ? " · the lesson: " + say.lesson(next->number) : std::string());
  else if (!all.empty())
    fmt::print("All exercises done.\n");
  return failing > 0;
}

// results.json and junit.xml into `out`, whatever is in `all` (even nothing).
bool write_files(const std::vector<Graded>& all, const fs::path& out, const std::optional<course::Integrity>& integrity,
                 double seconds, const std::string& note = "") {
  std::string error;
  const bool json =
      course::write_atomically(out / "results.json", course::results_json(all, integrity, seconds, note), &error);
  if (!json) std::fprintf(stderr, "coop_grade: %s\n", error.c_str());
  const bool xml = course::write_atomically(out / "junit.xml", course::junit_xml(all, integrity), &error);
  if (!xml) std::fprintf(stderr, "coop_grade: %s\n", error.c_str());
  double score = 0, max_score = 0;
  for (const Graded& g : all) {
    score += g.score();
    max_score += g.max_score();
  }
  if (json && xml)
    fmt::print("Score: {:g} / {:g} points. Wrote {} and {}\n", score, max_score, (out / "results.json").string(),
               (out / "junit.xml").string());
  return json && xml;
}

// Every part's hints, from a grader's --hints (number, name, three hints a line): the
// solution's grader when built, else the student's (when it compiles). Each is run
// supervised: the student's code is in one of them.
struct Hints {
  std::map<int, std::array<std::string, 3>> by_part;
};
std::optional<Hints> read_hints(const fs::path& bin, const ListedExercise& e) {
  for (const char* kind : {"solution", "exercise"}) {
    const fs::path grader = bin / bin_name(kind, e.number);
    if (!fs::exists(grader)) continue;
    course::Spec spec = grader_spec(e, {grader.string(), "--hints"}, {});
    spec.limits.wall = std::chrono::seconds(course::kStartSeconds + 5);
    spec.output_cap = 256 * 1024;
    const course::Outcome o = course::supervise(spec);
    if (!o.ok()) continue;
    Hints h;
    std::size_t at = 0;
    while (at < o.output.size()) {
      std::size_t nl = o.output.find('\n', at);
      if (nl == std::string::npos) nl = o.output.size();
      const auto f = course::split_fields(std::string_view(o.output).substr(at, nl - at));
      at = nl + 1;
      int k = 0;
      if (f.size() == 5 && course::parse_count(f[0], k))
        h.by_part[k] = {course::cap_text(f[2], 2000), course::cap_text(f[3], 2000), course::cap_text(f[4], 2000)};
    }
    if (!h.by_part.empty()) return h;
  }
  return std::nullopt;
}

// The next hint for exercise n: for the first part not passing in the last verdict, one
// level more each time it is asked (remembered in STATE/course.state). The first level is
// the hint of the check that failed in that verdict, when it had one of its own (a check
// about the limit says how to keep to the limit, not the part's general nudge); the
// stronger hint and the approach are the part's.
int hint(const fs::path& bin, const fs::path& state, const course::CourseList& list, int n, bool all,
         const Say& say, const std::string& who) {
  const ListedExercise* e = list.find(n);
  if (e == nullptr) {
    std::fprintf(stderr, "%s: there is no exercise %d (the exercises are %s)\n", who.c_str(), n, list.range().c_str());
    return 2;
  }
  const auto hints = read_hints(bin, *e);
  const auto hint_of = [&](int part, int level) -> std::string {
    if (!hints) return "";
    const auto it = hints->by_part.find(part);
    return it == hints->by_part.end() ? "(no hint)" : it->second[static_cast<std::size_t>(level)];
  };
  if (!hints)
    fmt::print("Exercise {} ({}): hints appear once exercise {} compiles ({}).\n", e->nn(), e->topic, e->nn(),
               say.run(n));
  if (all) {
    for (const course::ListedPart& p : e->parts) {
      fmt::print("part {} · {}\n", p.number, p.name);
      if (hints)
        for (int level = 0; level < 3; ++level) fmt::print("  {}. {}\n", level + 1, hint_of(p.number, level));
    }
    return hints ? 0 : 1;
  }
  if (!hints) return 1;
  // Which part: the first one the last grading did not pass, and the hint it gave then.
  int which = 1;
  std::string failed_check_hint;
  if (const auto last = course::load_graded(state, *e))
    for (const course::GradedPart& p : last->parts)
      if (!p.passed()) {
        which = p.number;
        failed_check_hint = p.hint;
        break;
      }
  const course::ListedPart* part = e->part(which);
  auto kv = course::read_remembered(state);
  const std::string key = fmt::format("hint.{}.{}", e->nn(), which);
  int seen = 0;
  if (const auto it = kv.find(key); it != kv.end()) course::parse_count(it->second, seen);
  const int level = std::clamp(seen + 1, 1, 3);
  kv[key] = std::to_string(level);
  std::error_code ec;
  fs::create_directories(state, ec);
  course::write_remembered(state, kv);
  static const char* kLevel[] = {"a nudge", "a stronger hint", "the approach"};
  const bool for_the_check = level == 1 && !failed_check_hint.empty() && failed_check_hint != hint_of(which, 0);
  fmt::print("Exercise {}, part {} · {} — hint {} of 3 ({}):\n  {}\n", e->nn(), which,
             part != nullptr ? part->name : "", level, for_the_check ? "about the check that failed" : kLevel[level - 1],
             for_the_check ? failed_check_hint : hint_of(which, level - 1));
  if (level < 3) fmt::print("(ask again for more: {})\n", say.hint(n));
  return 0;
}

// Runs a grader with --expect and says whether it exited 0; its output goes to `out`.
bool expect(const fs::path& grader, const ListedExercise& e, const char* what, const fs::path& out) {
  course::Spec spec = grader_spec(e, {grader.string(), "--timeout", std::to_string(course::kPartSeconds), "--expect", what}, {});
  spec.output_file = out;
  return course::supervise(spec).ok();
}

int teeth(const fs::path& bin, const fs::path& state, const course::CourseList& list) {
  std::error_code ec;
  fs::create_directories(state, ec);
  int bad = 0;
  for (const ListedExercise& e : list.exercises) {
    const fs::path sol = bin / bin_name("solution", e.number), stub = bin / bin_name("exercise", e.number);
    if (!fs::exists(sol) || !fs::exists(stub)) {
      fmt::print("  {} {:<13} not checked: {} is not built\n", e.nn(), e.topic,
                 (fs::exists(sol) ? stub : sol).filename().string());
      continue;
    }
    const fs::path sol_out = state / fmt::format("{}.teeth-solution", e.nn());
    const fs::path stub_out = state / fmt::format("{}.teeth-stubs", e.nn());
    const bool s = expect(sol, e, "done", sol_out), t = expect(stub, e, "none-pass", stub_out);
    bad += !(s && t);
    fmt::print("  {} {:<13} solution: {}  stubs: {}\n", e.nn(), e.topic, s ? "every part passes" : "SOME PART FAILS",
               t ? "every part fails" : "SOME PART PASSES");
    if (!(s && t)) {
      std::ifstream f(s ? stub_out : sol_out);
      fmt::print("{}\n", course::cap_text(std::string(std::istreambuf_iterator<char>(f), {}), 16 * 1024));
    }
  }
  return bad == 0 ? 0 : 1;
}

// The grader's own parts (--hints) against the list's: the same numbers, the same names.
int list_check(const fs::path& bin, const course::CourseList& list, int n) {
  const ListedExercise* e = list.find(n);
  if (e == nullptr) {
    std::fprintf(stderr, "coop_grade: exercise %d is not in the list (the exercises are %s)\n", n, list.range().c_str());
    return 1;
  }
  for (const char* kind : {"solution", "exercise"}) {
    const fs::path grader = bin / bin_name(kind, n);
    if (!fs::exists(grader)) continue;
    course::Spec spec = grader_spec(*e, {grader.string(), "--hints"}, {});
    spec.output_cap = 1024 * 1024;
    const course::Outcome o = course::supervise(spec);
    if (!o.ok()) {
      std::fprintf(stderr, "coop_grade: %s --hints: %s\n", grader.c_str(), o.describe().c_str());
      return 1;
    }
    std::vector<std::pair<std::string, std::string>> got;  // number, name
    std::size_t at = 0;
    while (at < o.output.size()) {
      std::size_t nl = o.output.find('\n', at);
      if (nl == std::string::npos) nl = o.output.size();
      const auto f = course::split_fields(std::string_view(o.output).substr(at, nl - at));
      at = nl + 1;
      if (f.size() >= 2) got.emplace_back(f[0], f[1]);
    }
    int wrong = 0;
    for (std::size_t i = 0; i < std::max(got.size(), e->parts.size()); ++i) {
      const std::string want_number = i < e->parts.size() ? std::to_string(e->parts[i].number) : "(none)";
      const std::string want_name = i < e->parts.size() ? e->parts[i].name : "(none)";
      const std::string got_number = i < got.size() ? got[i].first : "(none)";
      const std::string got_name = i < got.size() ? got[i].second : "(none)";
      if (want_number != got_number || want_name != got_name) {
        ++wrong;
        std::fprintf(stderr, "exercise %s: the list has part %s '%s', %s has part %s '%s'\n", e->nn().c_str(),
                     want_number.c_str(), want_name.c_str(), grader.filename().c_str(), got_number.c_str(),
                     got_name.c_str());
      }
    }
    if (wrong == 0) fmt::print("exercise {}: the grader's {} parts are the list's\n", e->nn(), got.size());
    return wrong == 0 ? 0 : 1;
  }
  std::fprintf(stderr, "coop_grade: neither grade_solution_%s nor grade_exercise_%s is built in %s\n", e->nn().c_str(),
               e->nn().c_str(), bin.c_str());
  return 1;
}

std::optional<RunAs> run_as(const std::string& user) {
  const passwd* pw = ::getpwnam(user.c_str());
  if (pw == nullptr) return std::nullopt;
  return RunAs{pw->pw_uid, pw->pw_gid};
}

}  // namespace

int main(int argc, char** argv) {
  const auto started = std::chrono::steady_clock::now();
  CLI::App app("coop_grade: grade the exercises (the Makefile runs this; see make help)");
  app.require_subcommand(1);
  std::string bin, state, out, list_file = COOP_COURSE_LIST, user, integrity_file;
  std::string number;  // a string: CLI11 would read "08" as octal
  bool all = false;
  Say say;
  app.add_option("--list", list_file, "The course's list of exercises and parts")->option_text("FILE");
  auto* progress = app.add_subcommand("progress", "The progress table; exit 1 if an exercise fails");
  auto* grade = app.add_subcommand("grade", "The score table, results.json and junit.xml");
  auto* hint_cmd = app.add_subcommand("hint", "The next hint for exercise N");
  auto* teeth_cmd = app.add_subcommand("teeth", "Every part fails on the stubs, passes on the solutions");
  auto* check_cmd = app.add_subcommand("list-check", "Grader N's parts are the list's, by number and name");
  for (auto* c : {progress, grade, hint_cmd, teeth_cmd, check_cmd})
    c->add_option("BIN", bin, "The graders' directory")->required();
  for (auto* c : {progress, grade, hint_cmd, teeth_cmd})
    c->add_option("STATE", state, "Verdicts and hint levels")->required();
  grade->add_option("OUT", out, "Where results.json and junit.xml go")->required();
  hint_cmd->add_option("N", number, "Exercise number")->required();
  check_cmd->add_option("N", number, "Exercise number")->required();
  hint_cmd->add_flag("--all", all, "Every hint of every part");
  for (auto* c : {progress, hint_cmd})
    c->add_option("--course", say.course, "The course command to suggest (CMD run N); default ./coop")
        ->option_text("CMD");
  for (auto* c : {progress, grade})
    c->add_option("--run-as", user, "Run the graders as this (unprivileged) user")->option_text("USER");
  grade->add_option("--integrity", integrity_file, "The integrity scan's hits (file:line: construct a line)")
      ->option_text("FILE");
  std::string submitted_dir;
  grade->add_option("--submitted", submitted_dir,
                    "Autograding: the submitted exercise files; an exercise without one is 'not submitted'")
      ->option_text("DIR");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "coop_grade: %s\n", e.what());
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  const course::CourseList list = course::read_course_list(list_file);
  std::optional<course::Integrity> integrity;
  if (!integrity_file.empty()) integrity = course::read_integrity(integrity_file);
  const auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(); };
  if (!list.ok()) {
    std::string why = "Nothing was graded: the course's list of exercises does not read:";
    for (const std::string& e : list.errors) {
      std::fprintf(stderr, "%s\n", e.c_str());
      why += "\n" + e;
    }
    // make grade's files are written whatever happens: here, empty, and they say why.
    if (*grade) write_files({}, out, integrity, seconds(), why);
    return 2;
  }
  RunAs as;
  if (!user.empty()) {
    const auto found = run_as(user);
    if (!found) {
      const std::string why = fmt::format("coop_grade: --run-as {}: no such user", user);
      std::fprintf(stderr, "%s\n", why.c_str());
      if (*grade) write_files({}, out, integrity, seconds(), "Nothing was graded: " + why);
      return 2;
    }
    as = *found;
  }
  int n = 0;
  if ((*hint_cmd || *check_cmd) && !course::parse_count(number, n)) {
    std::fprintf(stderr, "coop_grade: N must be an exercise number (the exercises are %s), not '%s'\n",
                 list.range().c_str(), number.c_str());
    return 2;
  }
  if (*hint_cmd) return hint(bin, state, list, n, all, say, say.course == "./coop" ? "coop_grade hint" : say.course);
  if (*teeth_cmd) return teeth(bin, state, list);
  if (*check_cmd) return list_check(bin, list, n);
  std::vector<Graded> graded;
  try {
    graded = grade_all(bin, state, list, as,
                       submitted_dir.empty() ? std::nullopt : std::optional<fs::path>(submitted_dir));
  } catch (const std::exception& e) {
    // Not expected (supervise and judge do not throw); the files are still written.
    std::fprintf(stderr, "coop_grade: %s\n", e.what());
    for (const ListedExercise& ex : list.exercises)
      if (std::none_of(graded.begin(), graded.end(), [&](const Graded& g) { return g.number == ex.number; }))
        graded.push_back(course::without_grader(ex, "crashed", fmt::format("not graded: coop_grade: {}", e.what())));
  }
  if (*grade) {
    const bool wrote = write_files(graded, out, integrity, seconds());
    print_table(graded, say);
    return wrote ? 0 : 1;
  }
  return print_table(graded, say) ? 1 : 0;
}
