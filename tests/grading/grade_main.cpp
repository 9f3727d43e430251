// grade_main.cpp — coop_grade: grades every exercise and reports, for students and
// instructors. The Makefile drives it:
//
//   coop_grade progress BIN STATE      make test: the progress table; exit 1 if any exercise fails
//   coop_grade grade BIN STATE OUT     make grade: also OUT/results.json (Gradescope) and
//                                      OUT/junit.xml; always written, even when exercises crash
//   coop_grade hint BIN STATE N [--all]  make hint N=3: the next hint for exercise N
//   coop_grade teeth BIN               CI: every part fails against the pristine stubs and
//                                      passes against the solutions
//
// BIN holds the grader binaries (grade_exercise_NN, grade_solution_NN); STATE is where the
// last reports (NN.report) are kept, and the one small file of what is remembered between
// commands, STATE/course.state (in the build directory, never in exercises/). The course
// command (course/, ./coop) runs progress and hint too, with `--course ./coop`: they then say
// `./coop run 3` where they would say `make exercise N=3`.
// Each grader runs as a child process (each of its parts in a process of its own, with a
// time limit), so a hanging or crashing exercise is reported and the others still graded.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

struct Exercise {
  int number;
  const char* topic;
};
constexpr Exercise kExercises[] = {{1, "coroutines"},   {2, "scaling_wall"}, {3, "gather"},
                                   {4, "create_task"},  {5, "cancellation"}, {6, "async_with"},
                                   {7, "async_for"},    {8, "atomicity"},    {9, "executor"}};

struct Part {
  int number = 0;
  std::string status, name, what, message, output;
  double seconds = 0;
};

struct Graded {
  Exercise ex;
  std::string state;  // done | failing | not started | does not compile | grader crashed
  std::string title;
  std::vector<Part> parts;
  std::string problem;  // when the grader itself could not run
};

std::string unescape(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      const char c = s[++i];
      out += c == 't' ? '\t' : c == 'n' ? '\n' : c;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<std::string> fields(const std::string& line) {
  std::vector<std::string> f;
  std::string cur;
  for (char c : line) {
    if (c == '\t') {
      f.push_back(unescape(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  f.push_back(unescape(cur));
  return f;
}

std::string bin_name(const char* kind, int n) { return fmt::format("grade_{}_{:02}", kind, n); }

// Runs argv with stdout/stderr to `out_file`, killing it after `limit`. Returns the exit
// status, or nullopt when it was killed or crashed.
std::optional<int> run(const std::vector<std::string>& argv, const fs::path& out_file, std::chrono::seconds limit) {
  std::fflush(stdout);
  const pid_t pid = ::fork();
  if (pid < 0) return std::nullopt;
  if (pid == 0) {
    std::FILE* f = std::fopen(out_file.c_str(), "w");
    if (f != nullptr) {
      ::dup2(::fileno(f), STDOUT_FILENO);
      ::dup2(::fileno(f), STDERR_FILENO);
    }
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return std::nullopt;
    }
    std::this_thread::sleep_for(10ms);
  }
  if (!WIFEXITED(status)) return std::nullopt;
  return WEXITSTATUS(status);
}

// The parts of exercise n, from the solution's grader (it exists even when the student's
// code does not compile): number, name, hints.
std::vector<std::vector<std::string>> part_list(const fs::path& bin, int n, const fs::path& state) {
  std::vector<std::vector<std::string>> parts;
  const fs::path out = state / fmt::format("{:02}.parts", n);
  const fs::path sol = bin / bin_name("solution", n);
  if (!fs::exists(sol) || run({sol.string(), "--hints"}, out, 30s) != 0) return parts;
  std::ifstream f(out);
  for (std::string line; std::getline(f, line);)
    if (!line.empty()) parts.push_back(fields(line));
  return parts;
}

Graded grade_one(const fs::path& bin, const fs::path& state, Exercise ex) {
  Graded g{ex, "", "", {}, ""};
  const fs::path grader = bin / bin_name("exercise", ex.number);
  const fs::path report = state / fmt::format("{:02}.report", ex.number);
  fs::remove(report);
  if (!fs::exists(grader)) {
    g.state = "does not compile";
    g.problem = fmt::format("exercises/{:02}_{}.cpp did not compile (see the build errors above)", ex.number, ex.topic);
  } else {
    // Each part has its own time limit inside the grader; this is only a backstop.
    const auto rc = run({grader.string(), "--quiet", "--report", report.string()},
                        state / fmt::format("{:02}.out", ex.number), 300s);
    std::ifstream f(report);
    for (std::string line; std::getline(f, line);) {
      const auto v = fields(line);
      if (v[0] == "exercise" && v.size() >= 5) {
        g.title = v[3];
        g.state = v[4];
      } else if (v[0] == "part" && v.size() >= 8) {
        g.parts.push_back({std::stoi(v[1]), v[2], v[4], v[5], v[6], v[7], std::stod(v[3])});
      }
    }
    if (!rc || g.state.empty()) {
      g.state = "grader crashed";
      g.problem = "the grader itself stopped without a report";
    }
  }
  // A grader that could not run still counts every part, so the score's maximum is right.
  if (g.parts.empty())
    for (const auto& p : part_list(bin, ex.number, state))
      g.parts.push_back({std::stoi(p[0]), g.state, p[1], "", g.problem, "", 0});
  return g;
}

std::vector<Graded> grade_all(const fs::path& bin, const fs::path& state) {
  fs::create_directories(state);
  std::vector<Graded> all;
  for (const Exercise& ex : kExercises) {
    // Exercises whose solution is not built are not part of the course (yet).
    if (!fs::exists(bin / bin_name("solution", ex.number))) continue;
    all.push_back(grade_one(bin, state, ex));
  }
  return all;
}

// The commands to suggest: the Makefile's, or the course command's (--course ./coop).
struct Say {
  std::string course;  // empty: make
  std::string run(int n) const { return command("make exercise N={}", "run", n); }
  std::string hint(int n) const { return command("make hint N={}", "hint", n); }
  std::string lesson(int n) const { return command("make lesson N={}", "lesson", n); }
  std::string command(const char* make, const char* sub, int n) const {
    return course.empty() ? fmt::format(fmt::runtime(make), n) : fmt::format("{} {} {}", course, sub, n);
  }
};

bool is_failing(const Graded& g) { return g.state != "done" && g.state != "not started"; }

// The progress table, and what to do next. Returns true when something is failing.
bool print_table(const std::vector<Graded>& all, const Say& say) {
  int done = 0, failing = 0, fresh = 0;
  for (const Graded& g : all) {
    done += g.state == "done";
    fresh += g.state == "not started";
    failing += is_failing(g);
  }
  fmt::print("\nExercises: {} of {} done · {} failing · {} not started\n", done, all.size(), failing, fresh);
  for (const Graded& g : all) {
    int passed = 0;
    for (const Part& p : g.parts) passed += p.status == "passed";
    std::string note;
    for (const Part& p : g.parts)
      if (p.status != "passed" && p.status != "not started") {
        note = fmt::format("part {} {}: {}", p.number, p.status, p.message.substr(0, p.message.find('\n')));
        break;
      }
    if (note.empty() && !g.problem.empty()) note = g.problem;
    if (note.size() > 90) note = note.substr(0, 87) + "...";
    fmt::print("  {:02} {:<13} {:<17} {}/{}  {}\n", g.ex.number, g.ex.topic,
               is_failing(g) ? fmt::format("{}", g.state == "failing" ? "FAILING" : g.state) : g.state, passed,
               g.parts.size(), note);
  }
  const Graded* next = nullptr;
  for (const Graded& g : all)
    if (is_failing(g)) {
      next = &g;
      break;
    }
  if (next == nullptr)
    for (const Graded& g : all)
      if (g.state == "not started") {
        next = &g;
        break;
      }
  if (next != nullptr)
    fmt::print("Next: exercise {:02} ({}) in exercises/{:02}_{}.cpp — {} · the lesson: {}\n", next->ex.number,
               next->ex.topic, next->ex.number, next->ex.topic, say.run(next->ex.number), say.lesson(next->ex.number));
  else if (!all.empty())
    fmt::print("All exercises done.\n");
  return failing > 0;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (ch == '"') out += "\\\"";
    else if (ch == '\\') out += "\\\\";
    else if (ch == '\n') out += "\\n";
    else if (ch == '\t') out += "\\t";
    else if (c < 0x20) out += fmt::format("\\u{:04x}", c);
    else out += ch;
  }
  return out + "\"";
}

std::string xml(const std::string& s) {
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (ch == '&') out += "&amp;";
    else if (ch == '<') out += "&lt;";
    else if (ch == '>') out += "&gt;";
    else if (ch == '"') out += "&quot;";
    else if (c < 0x20 && ch != '\n' && ch != '\t') out += ' ';
    else out += ch;
  }
  return out;
}

std::string part_output(const Part& p) {
  std::string o = p.what;
  if (!p.message.empty()) o += "\n" + p.message;
  if (!p.output.empty()) o += "\nit printed:\n" + p.output;
  return o;
}

void write_reports(const std::vector<Graded>& all, const fs::path& out) {
  fs::create_directories(out);
  int score = 0, max_score = 0;
  std::string tests;
  std::string junit;
  for (const Graded& g : all) {
    int failures = 0;
    std::string cases;
    for (const Part& p : g.parts) {
      const bool ok = p.status == "passed";
      score += ok;
      ++max_score;
      failures += !ok;
      const std::string name = fmt::format("{:02} {} · part {} · {}", g.ex.number, g.ex.topic, p.number, p.name);
      if (!tests.empty()) tests += ",\n";
      tests += fmt::format(R"(    {{"name": {}, "number": "{}.{}", "score": {}, "max_score": 1, "status": "{}", "output": {}}})",
                           json_string(name), g.ex.number, p.number, ok ? 1 : 0, ok ? "passed" : "failed",
                           json_string(fmt::format("{}: {}", p.status, part_output(p))));
      cases += fmt::format("    <testcase classname=\"{:02}_{}\" name=\"{}\" time=\"{:.3f}\">", g.ex.number, g.ex.topic,
                           xml(fmt::format("part {} · {}", p.number, p.name)), p.seconds);
      if (!ok)
        cases += fmt::format("<failure message=\"{}\" type=\"{}\">{}</failure>", xml(p.status + ": " + p.message),
                             xml(p.status), xml(part_output(p)));
      cases += "</testcase>\n";
    }
    junit += fmt::format("  <testsuite name=\"{:02}_{}\" tests=\"{}\" failures=\"{}\">\n{}  </testsuite>\n", g.ex.number,
                         g.ex.topic, g.parts.size(), failures, cases);
  }
  std::ofstream j(out / "results.json");
  j << fmt::format("{{\n  \"score\": {},\n  \"max_score\": {},\n  \"output\": {},\n  \"tests\": [\n{}\n  ]\n}}\n", score,
                   max_score, json_string(fmt::format("{} of {} parts pass", score, max_score)), tests);
  std::ofstream x(out / "junit.xml");
  x << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"coop exercises\">\n" << junit << "</testsuites>\n";
  fmt::print("Score: {} / {} parts. Wrote {} and {}\n", score, max_score, (out / "results.json").string(),
             (out / "junit.xml").string());
}

// What is remembered between commands, in STATE/course.state: one `key value` per line,
// `#` lines are comments. This file keeps the hint levels (`hint.03.1 2`: exercise 03, part
// 1, hint 2 seen); the course command keeps the last exercise in it (`last 3`). Each keeps
// the other's keys as they were (course/state.cpp reads and writes the same format).
constexpr const char* kStateFile = "course.state";

std::map<std::string, std::string> read_state(const fs::path& state) {
  std::map<std::string, std::string> kv;
  std::ifstream f(state / kStateFile);
  for (std::string line; std::getline(f, line);) {
    std::istringstream words(line);
    std::string key, value;
    if (words >> key >> value && key[0] != '#') kv[key] = value;
  }
  // Before course.state, the hint levels were alone in STATE/hints (`03.1 2`): carried over.
  if (std::none_of(kv.begin(), kv.end(), [](const auto& k) { return k.first.rfind("hint.", 0) == 0; })) {
    std::ifstream old(state / "hints");
    std::string key, value;
    while (old >> key >> value) kv["hint." + key] = value;
  }
  return kv;
}

void write_state(const fs::path& state, const std::map<std::string, std::string>& kv) {
  const fs::path tmp = state / (std::string(kStateFile) + ".tmp");
  {
    std::ofstream f(tmp);
    f << "# What coop remembers between commands (make hint, ./coop): hint levels, the last\n"
         "# exercise. Delete this file to forget it all.\n";
    for (const auto& [k, v] : kv) f << k << ' ' << v << '\n';
  }
  fs::rename(tmp, state / kStateFile);  // all or nothing, even if interrupted
}

// The next hint for exercise n: for the first part not passing in the last report, one level
// more each time it is asked (remembered in STATE/course.state).
int hint(const fs::path& bin, const fs::path& state, int n, bool all, const Say& say) {
  fs::create_directories(state);
  const auto parts = part_list(bin, n, state);
  if (parts.empty()) {
    std::fprintf(stderr, "%s: there is no exercise %d (the exercises are 1 to 9)\n",
                 say.course.empty() ? "make hint" : say.course.c_str(), n);
    return 2;
  }
  if (all) {
    for (const auto& p : parts) {
      fmt::print("part {} · {}\n", p[0], p[1]);
      for (int level = 0; level < 3; ++level) fmt::print("  {}. {}\n", level + 1, p[2 + static_cast<std::size_t>(level)]);
    }
    return 0;
  }
  // Which part: the first one the last grading did not pass.
  std::size_t which = 0;
  std::ifstream rep(state / fmt::format("{:02}.report", n));
  for (std::string line; std::getline(rep, line);) {
    const auto v = fields(line);
    if (v[0] == "part" && v.size() > 2 && v[2] != "passed") {
      which = static_cast<std::size_t>(std::stoi(v[1]) - 1);
      break;
    }
  }
  which = std::min(which, parts.size() - 1);
  auto kv = read_state(state);
  const std::string key = fmt::format("hint.{:02}.{}", n, which + 1);
  int seen = 0;
  if (const auto it = kv.find(key); it != kv.end()) seen = std::atoi(it->second.c_str());
  const int level = std::clamp(seen + 1, 1, 3);
  kv[key] = std::to_string(level);
  write_state(state, kv);
  static const char* kLevel[] = {"a nudge", "a stronger hint", "the approach"};
  fmt::print("Exercise {:02}, part {} · {} — hint {} of 3 ({}):\n  {}\n", n, which + 1, parts[which][1], level,
             kLevel[level - 1], parts[which][static_cast<std::size_t>(1 + level)]);
  if (level < 3) fmt::print("(ask again for more: {})\n", say.hint(n));
  return 0;
}

int teeth(const fs::path& bin, const fs::path& state) {
  fs::create_directories(state);
  int bad = 0;
  for (const Exercise& ex : kExercises) {
    const fs::path sol = bin / bin_name("solution", ex.number);
    if (!fs::exists(sol)) continue;
    const fs::path stub = bin / bin_name("exercise", ex.number);
    const auto s = run({sol.string(), "--expect", "done"}, state / fmt::format("{:02}.teeth-solution", ex.number), 300s);
    const auto e = run({stub.string(), "--expect", "none-pass"}, state / fmt::format("{:02}.teeth-stubs", ex.number), 300s);
    const bool ok = s == 0 && e == 0;
    bad += !ok;
    fmt::print("  {:02} {:<13} solution: {}  stubs: {}\n", ex.number, ex.topic,
               s == 0 ? "every part passes" : "SOME PART FAILS", e == 0 ? "every part fails" : "SOME PART PASSES");
    if (!ok) {
      std::ifstream f(state / fmt::format("{:02}.teeth-{}", ex.number, s == 0 ? "stubs" : "solution"));
      fmt::print("{}\n", std::string(std::istreambuf_iterator<char>(f), {}));
    }
  }
  return bad == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) try {
  CLI::App app("coop_grade: grade the exercises (the Makefile runs this; see make help)");
  app.require_subcommand(1);
  std::string bin, state, out;
  int n = 0;
  bool all = false;
  Say say;
  auto* progress = app.add_subcommand("progress", "The progress table; exit 1 if an exercise fails");
  auto* grade = app.add_subcommand("grade", "The score table, results.json and junit.xml");
  auto* hint_cmd = app.add_subcommand("hint", "The next hint for exercise N");
  auto* teeth_cmd = app.add_subcommand("teeth", "Every part fails on the stubs, passes on the solutions");
  for (auto* c : {progress, grade, hint_cmd, teeth_cmd}) c->add_option("BIN", bin, "The graders' directory")->required();
  for (auto* c : {progress, grade, hint_cmd, teeth_cmd}) c->add_option("STATE", state, "Reports and hint levels")->required();
  grade->add_option("OUT", out, "Where results.json and junit.xml go")->required();
  hint_cmd->add_option("N", n, "Exercise number")->required();
  hint_cmd->add_flag("--all", all, "Every hint of every part");
  for (auto* c : {progress, hint_cmd})
    c->add_option("--course", say.course, "Suggest the course command's commands (CMD run N), not make's")
        ->option_text("CMD");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "coop_grade: %s\n", e.what());
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  if (*hint_cmd) return hint(bin, state, n, all, say);
  if (*teeth_cmd) return teeth(bin, state);
  const auto graded = grade_all(bin, state);
  if (*grade) {
    write_reports(graded, out);
    print_table(graded, say);
    return 0;
  }
  return print_table(graded, say) ? 1 : 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "coop_grade: %s\n", e.what());
  return 1;
}
