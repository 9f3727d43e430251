// grading.cpp — cmake --build, the grader as a child process, its report, the bar.
#include "grading.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

#include "process.hpp"
#include "state.hpp"
#include "terminal.hpp"

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
  const std::size_t bar = line.find_first_not_of("0123456789", code);
  return bar != std::string::npos && line.compare(bar, 2, "| ") == 0 && line[bar - 1] == ' ';
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

bool build(const Layout& l, const std::vector<std::string>& targets, bool keep_going, bool show_errors) {
  if (!on_path("cmake")) throw Problem("cmake is not installed (make deps installs it)");
  fs::create_directories(l.state_dir());
  const unsigned jobs = std::max(1U, std::thread::hardware_concurrency());
  Args args = {"cmake", "--build", l.build.string(), "-j", std::to_string(jobs), "--target"};
  args.insert(args.end(), targets.begin(), targets.end());
  if (keep_going) {
    args.push_back("--");
    const bool ninja = cache_value(l, "CMAKE_GENERATOR").find("Ninja") != std::string::npos;
    if (ninja) args.insert(args.end(), {"-k", "0"});
    else args.push_back("-k");
  }
  if (run_logged(args, build_log(l)) == 0) return true;
  if (show_errors) show_build_errors(l);
  return false;
}

std::string grade(const Layout& l, const Exercise& e, bool show) {
  StatusLine building(fmt::format("building exercise {}…", e.nn()));
  if (!build(l, {"grade_exercise_" + e.nn()}, false, false)) {
    building.clear();
    // The grader left from before would grade the code as it was: it goes, and the report
    // says so (make test's coop_grade then says "does not compile" too).
    std::error_code ec;
    fs::remove(l.grader(e), ec);
    report_does_not_compile(l, e);
    if (show) {
      fmt::print("Exercise {} · {}\n", e.nn(), e.topic);
      show_build_errors(l);
      fmt::print("  exercise {}: does not compile — fix the first error above ({})\n", e.nn(),
                 l.shown(l.student_file(e)));
    }
    return "does not compile";
  }
  building.clear();
  const fs::path report = report_file(l, e);
  fs::remove(report);
  Args args = {l.grader(e).string(), "--report", report.string()};
  if (show) {
    run_lines(args, [&](std::string_view line) { fmt::print("{}\n", in_course_words(l, std::string(line))); });
  } else {
    StatusLine grading(fmt::format("grading exercise {}…", e.nn()));
    args.push_back("--quiet");
    run_logged(args, l.state_dir() / (e.nn() + ".out"));
  }
  const auto r = last_report(l, e);
  if (!r) {
    if (show) fmt::print("  exercise {}: the grader itself stopped without a report\n", e.nn());
    return "grader crashed";
  }
  return r->state;
}

void print_progress_bar(const Layout& l) {
  int done = 0, failing = 0;
  for (const Exercise& e : l.exercises) {
    const auto r = last_report(l, e);
    if (!r) continue;
    done += r->state == "done";
    failing += r->state != "done" && r->state != "not started";
  }
  const int total = static_cast<int>(l.exercises.size());
  constexpr int kWidth = 30;
  const int filled = total == 0 ? 0 : done * kWidth / total;
  std::string bar;
  for (int i = 0; i < kWidth; ++i) bar += i < filled ? "█" : "░";
  fmt::print("Progress  {}  {} of {} done{}\n", bar, done, total,
             failing > 0 ? fmt::format(" · {} failing", failing) : std::string());
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
