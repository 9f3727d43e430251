// grading.cpp — cmake --build, the grader as a child process, its report, the bar.
//
// Grading exactly what was saved. A build tool decides what to rebuild from timestamps: an
// output newer than its inputs is up to date. A save made while the compiler runs breaks
// that: the compiler read the old text, and the object it writes afterwards is newer than
// the new text, so the next build skips it and the old code is graded as if it were the new.
// So the course command keys a grading on content: it hashes the exercise's inputs before a
// build and again after; when they changed, it touches the changed files (now newer than
// anything built) and builds again. It records what the build made (the grader's time, size
// and inode, and the hash of the inputs it was built from) in build/grade-state/NN.built,
// and runs a grader only when it is that file and the inputs still hash the same. make test
// and make grade build through here too (build_everything), so that the graders they run
// without building are held to the same rule.
#include "grading.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <sstream>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

#include "process.hpp"
#include "report.hpp"
#include "state.hpp"
#include "supervise.hpp"
#include "terminal.hpp"
#include "text.hpp"

namespace course {

namespace {

fs::path build_log(const Layout& l) { return l.state_dir() / "build.log"; }

std::string cache_value(const Layout& l, const std::string& key) {
  std::ifstream f(l.build / "CMakeCache.txt");
  for (std::string line; std::getline(f, line);)
    if (line.rfind(key + ":", 0) == 0) return line.substr(line.find('=') + 1);
  return "";
}

// A compiler's excerpt under an error: "   12 |   foo()" and "      |        ^".
bool is_excerpt(const std::string& line) {
  const std::size_t code = line.find_first_not_of(' ');
  if (code == 0 || code == std::string::npos) return false;
  std::size_t bar = line.find_first_not_of("0123456789", code);
  if (bar != code) {  // a line number, then one space, then the bar
    if (bar == std::string::npos || line[bar] != ' ') return false;
    ++bar;
  }
  return line.compare(bar, 1, "|") == 0;
}

// A compiler's line about a file ("../exercises/03_gather.cpp:9:27: warning: ..."), with the
// file as the student would type it from the repository ("exercises/03_gather.cpp:9:27: ...").
// A build tool runs the compiler from the build directory, with paths absolute or relative
// to it; any other line is left as it is.
std::string with_repository_path(const Layout& l, std::string line) {
  const std::size_t colon = line.find(':');
  if (colon == 0 || colon == std::string::npos || line.find(' ') < colon) return line;
  const fs::path file(line.substr(0, colon));
  std::error_code ec;
  const fs::path full = fs::weakly_canonical(file.is_absolute() ? file : l.build / file, ec);
  if (ec || !fs::exists(full, ec)) return line;
  const std::string shown = l.shown(full);
  if (shown.rfind("..", 0) == 0 || fs::path(shown).is_absolute()) return line;  // not in the repository
  return shown + line.substr(colon);
}

// The grader says what to type in the Makefile's words ("make hint N=3"); say it in this
// command's ("./coop hint 3").
std::string in_course_words(const Layout& l, std::string line) {
  static const std::pair<const char*, const char*> kSame[] = {
      {"make exercise N=", "run"}, {"make hint N=", "hint"}, {"make lesson N=", "lesson"}};
  for (const auto& [make, sub] : kSame)
    for (std::size_t at; (at = line.find(make)) != std::string::npos;) {
      const std::size_t n = at + std::string_view(make).size();
      const std::size_t end = line.find_first_not_of("0123456789", n);
      line.replace(at, end - at, fmt::format("{} {} {}", l.say, sub, line.substr(n, end - n)));
    }
  return line;
}

// ---- grading exactly what was saved (see the top of this file) ------------------------------

// A build that keeps being overtaken by saves is given up after this many tries.
constexpr int kMaxBuilds = 6;

// The files a grader is built from that the student may edit: the exercise's .cpp and .hpp,
// and exercise.hpp, which every exercise includes.
std::vector<fs::path> inputs_of(const Layout& l, const Exercise& e) {
  return {l.student_file(e), l.contract_file(e), l.root / "exercises" / "exercise.hpp"};
}

// 64-bit FNV-1a of a file's bytes; a file that cannot be read hashes as 0 (so it differs
// from any text it had).
std::uint64_t content_hash(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) return 0;
  std::uint64_t h = 14695981039346656037ULL;
  char buf[8192];
  while (f.read(buf, sizeof buf) || f.gcount() > 0) {
    for (std::streamsize i = 0; i < f.gcount(); ++i) {
      h ^= static_cast<unsigned char>(buf[i]);
      h *= 1099511628211ULL;
    }
  }
  return h | 1;  // never 0: 0 is "could not be read"
}

using Hashes = std::vector<std::uint64_t>;  // one per input, in inputs_of's order

Hashes hashes_of(const std::vector<fs::path>& files) {
  Hashes h;
  for (const fs::path& f : files) h.push_back(content_hash(f));
  return h;
}

// What identifies the file a build made: a file put there by anything else (another build,
// a copy) differs in at least one of these.
struct Made {
  bool exists = false;
  std::int64_t mtime_ns = 0;
  std::uint64_t size = 0, inode = 0;
  bool operator==(const Made&) const = default;
};

Made made_of(const fs::path& p) {
  struct ::stat st {};
  if (::stat(p.c_str(), &st) != 0) return {};
  std::error_code ec;
  const auto t = fs::last_write_time(p, ec);
  return {true, ec ? 0 : std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count(),
          static_cast<std::uint64_t>(st.st_size), static_cast<std::uint64_t>(st.st_ino)};
}

// build/grade-state/NN.built: what the course command's last successful build of exercise
// NN's grader made, and the inputs' hashes it was built from.
struct Built {
  Made grader;
  Hashes inputs;
};

fs::path built_file(const Layout& l, const Exercise& e) { return l.state_dir() / (e.nn() + ".built"); }

std::optional<Built> read_built(const Layout& l, const Exercise& e) {
  std::ifstream f(built_file(l, e));
  Built b;
  bool grader = false;
  for (std::string line; std::getline(f, line);) {
    std::istringstream words(line);
    std::string key;
    words >> key;
    if (key == "grader") {
      b.grader.exists = true;
      grader = static_cast<bool>(words >> b.grader.mtime_ns >> b.grader.size >> b.grader.inode);
    } else if (key == "input") {
      std::uint64_t h = 0;
      if (words >> std::hex >> h) b.inputs.push_back(h);
    }
  }
  if (!grader) return std::nullopt;
  return b;
}

void write_built(const Layout& l, const Exercise& e, const Built& b) {
  fs::create_directories(l.state_dir());
  const fs::path tmp = built_file(l, e).string() + ".tmp";
  {
    std::ofstream f(tmp);
    f << "# What ./coop last built for exercise " << e.nn() << ": the grader (time in ns, size, inode) and the\n"
      << "# hash of each input it was built from. It runs that grader only while both still hold.\n";
    f << "grader " << b.grader.mtime_ns << ' ' << b.grader.size << ' ' << b.grader.inode << '\n';
    const auto files = inputs_of(l, e);
    for (std::size_t i = 0; i < b.inputs.size() && i < files.size(); ++i)
      f << "input " << std::hex << b.inputs[i] << std::dec << ' ' << l.shown(files[i]) << '\n';
  }
  fs::rename(tmp, built_file(l, e));
}

// Makes the build tool see `files` as changed: their time becomes now, later than anything
// built (and, on a file system with coarse times, later than the grader).
void touch(const std::vector<fs::path>& files, const Made& grader) {
  using clock = fs::file_time_type::clock;
  auto t = clock::now();
  if (grader.exists) {
    const clock::time_point made{std::chrono::duration_cast<clock::duration>(std::chrono::nanoseconds(grader.mtime_ns))};
    if (t <= made + std::chrono::seconds(1)) t = made + std::chrono::seconds(1);
  }
  for (const fs::path& f : files) {
    std::error_code ec;
    fs::last_write_time(f, t, ec);
  }
}

// The inputs whose hashes differ between a and b; every one of the exercise's own files
// when a is missing or of another shape (an old record).
std::vector<fs::path> differing(const std::vector<fs::path>& files, const Hashes& a, const Hashes& b) {
  std::vector<fs::path> out;
  for (std::size_t i = 0; i < files.size(); ++i)
    if (a.size() != files.size() || b.size() != files.size() || a[i] != b[i]) out.push_back(files[i]);
  if (a.size() != files.size()) out.resize(std::min<std::size_t>(out.size(), 2));  // not exercise.hpp
  return out;
}

enum class BuildResult { built, does_not_compile, kept_changing };

// A build of exercise e's grader that has already run (make test's build of everything):
// the inputs' hashes and the grader as they were just before it, and whether it succeeded.
struct EarlierBuild {
  Hashes before;
  Made old;
  bool ok = true;
};

// Builds exercise e's grader from what is saved now, and records what it made. Builds again
// when the inputs change during a build, or when the grader there is not one this command
// built from these inputs (a build tool would call it up to date). `builds` counts the
// builds of this grading, against kMaxBuilds. With `earlier`, that build is taken as the
// first one, and checked as if this function had run it.
BuildResult build_what_was_saved(const Layout& l, const Exercise& e, Built& made, int& builds,
                                 std::optional<EarlierBuild> earlier = std::nullopt) {
  const std::vector<fs::path> files = inputs_of(l, e);
  const fs::path grader = l.grader(e);
  while (builds < kMaxBuilds) {
    ++builds;
    const bool of_everything = earlier.has_value();
    Hashes before;
    Made old;
    bool ok = false;
    if (earlier) {
      before = earlier->before, old = earlier->old, ok = earlier->ok;
      earlier.reset();
    } else {
      before = hashes_of(files), old = made_of(grader);
      ok = build(l, {"grade_exercise_" + e.nn()}, false, false);
    }
    const Hashes after = hashes_of(files);
    if (after != before) {  // saved during the build: what was built may be the old text
      touch(differing(files, before, after), made_of(grader));
      continue;
    }
    if (!ok) {
      if (of_everything) continue;  // it may have failed elsewhere: build this grader alone to know
      return BuildResult::does_not_compile;
    }
    const Made now = made_of(grader);
    if (!now.exists) return BuildResult::does_not_compile;
    // Ours: this build made it, from `before`, which held throughout; or it is the very file
    // an earlier build recorded making from these same inputs.
    const auto record = read_built(l, e);
    const bool ours = now != old || (record && record->grader == now && record->inputs == before);
    if (!ours) {
      // Whatever made it (a build that kept no record, a copy), the build tool thinks it up
      // to date: make the files it is built from newer (the student's .cpp at least, so that
      // it is compiled and linked again).
      std::vector<fs::path> stale = record ? differing(files, record->inputs, before) : std::vector<fs::path>{};
      if (stale.empty()) stale.push_back(files[0]);
      touch(stale, now);
      continue;
    }
    made = {now, before};
    write_built(l, e, made);
    return BuildResult::built;
  }
  return BuildResult::kept_changing;
}

// ---- the compiler's warnings about the student's own file ------------------------------------

fs::path warnings_file(const Layout& l, const Exercise& e) { return l.state_dir() / (e.nn() + ".warnings"); }

// After a successful build: when the log shows the student's file compiled, its warnings
// (each warning line about the file, with the excerpt under it) replace the ones kept; a
// build that did not compile it leaves the kept ones, which still describe the code.
void keep_warnings(const Layout& l, const Exercise& e) {
  std::ifstream f(l.state_dir() / "build.log");
  std::vector<std::string> lines;
  for (std::string line; std::getline(f, line);) lines.push_back(line);
  const std::string object = "exercises/" + e.name() + ".cpp";
  const bool compiled = std::any_of(lines.begin(), lines.end(), [&](const std::string& line) {
    return line.find("Building") != std::string::npos && line.find(object) != std::string::npos;
  });
  if (!compiled) return;
  std::vector<std::string> kept;
  for (std::size_t i = 0; i < lines.size() && kept.size() < 40; ++i) {
    if (lines[i].find(" warning: ") == std::string::npos) continue;
    const std::string line = with_repository_path(l, lines[i]);
    if (line.rfind(object + ":", 0) != 0) continue;  // about another file
    kept.push_back(line);
    for (std::size_t j = i + 1; j < lines.size() && j <= i + 3 && is_excerpt(lines[j]); ++j) kept.push_back(lines[j]);
  }
  std::error_code ec;
  if (kept.empty()) {
    fs::remove(warnings_file(l, e), ec);
    return;
  }
  std::ofstream out(warnings_file(l, e));
  for (const std::string& line : kept) out << line << '\n';
}

// The kept warnings, after the grading; and for the warning a forgotten co_await causes,
// what it means.
void show_warnings(const Layout& l, const Exercise& e) {
  std::ifstream f(warnings_file(l, e));
  std::vector<std::string> lines;
  for (std::string line; std::getline(f, line);) lines.push_back(line);
  if (lines.empty()) return;
  fmt::print("\nThe compiler warned about {} (it built and ran anyway):\n", l.shown(l.student_file(e)));
  bool unawaited = false;
  for (const std::string& line : lines) {
    fmt::print("{}\n", line);
    unawaited |= line.find("nodiscard") != std::string::npos && line.find("Task") != std::string::npos;
  }
  if (unawaited)
    fmt::print("  A Task whose value is ignored never runs: calling a coroutine only makes it. This is "
               "almost always a forgotten co_await (write `co_await f(...)`, or keep the Task and await "
               "it later).\n");
}

}  // namespace

// Each line that says error (paths from the repository), the code under the first one.
void show_build_errors(const Layout& l) {
  std::ifstream f(build_log(l));
  std::vector<std::string> lines, shown;
  for (std::string line; std::getline(f, line);) lines.push_back(line);
  const std::string root = l.root.string() + "/";
  int errors = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string line = lines[i];
    if (line.find("error:") == std::string::npos && line.find("undefined reference") == std::string::npos) continue;
    if (line.rfind("FAILED:", 0) == 0) continue;  // ninja's command line, not an error
    line = with_repository_path(l, line);
    for (std::size_t at; (at = line.find(root)) != std::string::npos;) line.erase(at, root.size());
    if (++errors <= 10) shown.push_back(line);
    for (std::size_t j = i + 1; errors == 1 && j < lines.size() && j <= i + 3 && is_excerpt(lines[j]); ++j)
      shown.push_back(lines[j]);
  }
  if (shown.empty())  // not a compiler's error (cmake could not run, say): the log's end
    for (std::size_t i = lines.size() > 10 ? lines.size() - 10 : 0; i < lines.size(); ++i) shown.push_back(lines[i]);
  for (const std::string& line : shown) fmt::print("{}\n", line);
  if (errors > 10) fmt::print("… and {} more errors\n", errors - 10);
  fmt::print("(the whole build log: {})\n", l.shown(build_log(l)));
}

namespace {

// `cmake --build` of these targets, on every core; keep_going: past targets that fail.
Args build_command(const Layout& l, const std::vector<std::string>& targets, bool keep_going) {
  if (!on_path("cmake")) throw Problem("cmake is not installed (make deps installs it)");
  const unsigned jobs = std::max(1U, std::thread::hardware_concurrency());
  Args args = {"cmake", "--build", l.build.string(), "-j", std::to_string(jobs), "--target"};
  args.insert(args.end(), targets.begin(), targets.end());
  if (keep_going) {
    args.push_back("--");
    const bool ninja = cache_value(l, "CMAKE_GENERATOR").find("Ninja") != std::string::npos;
    if (ninja) args.insert(args.end(), {"-k", "0"});
    else args.push_back("-k");
  }
  return args;
}

// An exercise whose grader could not be built from what is saved: the grader left from
// before would grade the code as it was, so it goes, and the stored verdict says why.
void forget_grader(const Layout& l, const Exercise& e) {
  std::error_code ec;
  fs::remove(l.grader(e), ec);
  fs::remove(built_file(l, e), ec);
  report_does_not_compile(l, e);
}

}  // namespace

bool build(const Layout& l, const std::vector<std::string>& targets, bool keep_going, bool show_errors) {
  const Args args = build_command(l, targets, keep_going);
  fs::create_directories(l.state_dir());
  if (run_logged(args, build_log(l)) == 0) return true;
  if (show_errors) show_build_errors(l);
  return false;
}

bool build_everything(const Layout& l, bool show_output) {
  // Before the build, what each exercise's grader is made of and what is there.
  std::map<int, EarlierBuild> before;
  std::vector<std::string> targets = {"all"};
  for (const Exercise& e : l.exercises) {
    before[e.number] = {hashes_of(inputs_of(l, e)), made_of(l.grader(e)), true};
    targets.push_back("grade_exercise_" + e.nn());
  }
  fs::create_directories(l.state_dir());
  const Args args = build_command(l, targets, true);
  const bool ok = (show_output ? run(args) : run_logged(args, build_log(l))) == 0;
  if (!ok && !show_output) show_build_errors(l);
  // Then each grader as ./coop run takes it: of the files as saved now, or built again.
  for (const Exercise& e : l.exercises) {
    EarlierBuild earlier = before[e.number];
    earlier.ok = ok;
    Built made;
    int builds = 0;
    switch (build_what_was_saved(l, e, made, builds, earlier)) {
      case BuildResult::built:
        break;
      case BuildResult::does_not_compile:
        forget_grader(l, e);
        break;
      case BuildResult::kept_changing:
        forget_grader(l, e);
        fmt::print(stderr, "{} changed during each of {} builds: it is graded once it stays saved through one\n",
                   l.shown(l.student_file(e)), kMaxBuilds);
        break;
    }
  }
  return ok;
}

std::string grade(const Layout& l, const Exercise& e, bool show) {
  StatusLine building(fmt::format("building exercise {}…", e.nn()));
  const std::vector<fs::path> files = inputs_of(l, e);
  int builds = 0;
  for (;;) {
    Built made;
    const BuildResult result = build_what_was_saved(l, e, made, builds);
    if (result == BuildResult::kept_changing) {
      building.clear();
      if (show)
        fmt::print("Exercise {} · {}\n  {} changed during each of {} builds: it is graded once it stays saved "
                   "through one (save it again)\n",
                   e.nn(), e.topic, l.shown(l.student_file(e)), kMaxBuilds);
      return "changed while building";
    }
    if (result == BuildResult::does_not_compile) {
      building.clear();
      forget_grader(l, e);  // (make test's coop_grade then says "does not compile" too)
      if (show) {
        fmt::print("Exercise {} · {}\n", e.nn(), e.topic);
        show_build_errors(l);
        fmt::print("  exercise {}: does not compile — fix the first error above ({})\n", e.nn(),
                   l.shown(l.student_file(e)));
      }
      return "does not compile";
    }
    keep_warnings(l, e);
    // Run it only if it is still the grader this build made, of the files as they are now.
    if (made_of(l.grader(e)) == made.grader && hashes_of(files) == made.inputs) break;
  }
  building.clear();
  // The grader has the student's code in it: it runs supervised (its own process group,
  // limits, a time limit from its first instruction), and what it reports is judged against
  // the course's list before it is kept.
  Spec spec;
  spec.argv = grader_command(l, e, !show);
  spec.limits = grader_limits(l.listed(e));
  spec.report_pipe = true;
  if (show)
    spec.on_line = [&](std::string_view line) {
      // What the grader prints passes through the student's code: cleaned of escape
      // sequences and invalid UTF-8 before it reaches the terminal.
      fmt::print("{}\n", in_course_words(l, clean_text(line)));
      std::fflush(stdout);
    };
  std::optional<StatusLine> grading;
  if (!show) grading.emplace(fmt::format("grading exercise {}…", e.nn()));
  const Outcome outcome = supervise(spec);
  const Graded g = record_grading(l, e, outcome);
  grading.reset();
  if (show && !g.problem.empty()) fmt::print("  exercise {}: {} — {}\n", e.nn(), g.state, g.problem);
  if (show) show_warnings(l, e);
  return g.state;
}

void print_progress_bar(const Layout& l, std::optional<int> graded_now) {
  int done = 0, failing = 0;
  bool others = false;
  std::vector<std::string> changed;  // other exercises edited since their last grading
  for (const Exercise& e : l.exercises) {
    const auto r = last_report(l, e);
    if (!r) continue;
    done += r->state == "done";
    failing += r->state != "done" && r->state != "not started";
    if (graded_now && e.number != *graded_now) {
      others = true;
      if (!r->fresh) changed.push_back(e.nn());
    }
  }
  const int total = static_cast<int>(l.exercises.size());
  constexpr int kWidth = 30;
  const int filled = total == 0 ? 0 : done * kWidth / total;
  std::string bar;
  for (int i = 0; i < kWidth; ++i) bar += i < filled ? "█" : "░";
  // The other exercises' results are their last reports, perhaps from long ago: say so.
  std::string when;
  if (others) {
    when = fmt::format("  (exercise {:02} graded now, the others as last graded", *graded_now);
    if (!changed.empty()) {
      std::string list;
      for (const std::string& n : changed) list += (list.empty() ? "" : ", ") + n;
      when += fmt::format("; changed since: {} — {} grades them all", list, l.say);
    }
    when += ")";
  }
  fmt::print("Progress  {}  {} of {} done{}{}\n", bar, done, total,
             failing > 0 ? fmt::format(" · {} failing", failing) : std::string(), when);
}

std::optional<Exercise> next_not_done(const Layout& l, int after) {
  const auto& all = l.exercises;
  const auto start = std::find_if(all.begin(), all.end(), [after](const Exercise& e) { return e.number > after; });
  for (std::size_t i = 0; i < all.size(); ++i) {
    const Exercise& e = all[(static_cast<std::size_t>(start - all.begin()) + i) % all.size()];
    const auto r = last_report(l, e);
    if (!r || r->state != "done") return e;
  }
  return std::nullopt;
}

}  // namespace course
