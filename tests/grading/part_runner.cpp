// part_runner.cpp — runs a grader's parts, each in a child process with a time limit, and
// writes the report coop_grade reads. (What the checks themselves use is grader.cpp.)
//
//   grade_exercise_03 [--timeout S] [--part K] [--expect graded|done|none-pass]
//                     [--report FILE] [--hints] [--quiet]
//
// Exit status: with --expect graded (the default) 0 when the exercise is done or not
// started and 1 when it is failing; --expect done: 0 only when every part passes (the
// solutions); --expect none-pass: 0 only when no part passes (the pristine stubs: the
// grader has teeth). 2 for bad usage.
//
// --report FILE writes one line per part for coop_grade (grade_main.cpp): tab-separated
// fields, with backslash, tab and newline escaped.
#include "grader.hpp"

#include <CLI/CLI.hpp>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cxxabi.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <typeinfo>

#include "exercise.hpp"

namespace grading {

// ---- running parts ----------------------------------------------------------------------------

namespace {

constexpr std::size_t kOutputCap = 4096;  // bytes of a part's output kept for the report

struct PartDef {
  std::string name, what;
  std::array<std::string, 3> hints;
  std::function<void()> check;
};

struct Result {
  std::string status;   // passed | failed | not started | hang | crash
  std::string message;  // why, in one line (empty when passed)
  std::string output;   // what the part printed, capped
  double seconds = 0;
};

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '\t') out += "\\t";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

// "std::runtime_error", not the mangled "St13runtime_error" that typeid gives.
std::string type_name(const std::type_info& t) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name(abi::__cxa_demangle(t.name(), nullptr, nullptr, &status), std::free);
  return status == 0 && name ? name.get() : t.name();
}

// In the child: runs the check and writes "status\nmessage" to `fd`.
[[noreturn]] void run_in_child(const PartDef& p, int fd) {
  std::string status = "passed", message;
  try {
    p.check();
  } catch (const exercise::NotDone& e) {
    status = "not started";
    message = fmt::format("not written yet (TODO: {})", e.what());
  } catch (const Failure& f) {
    status = "failed";
    message = f.message;
  } catch (const coop::DeadlockError& e) {
    status = "hang";
    message = e.what();  // it begins "deadlock: "
  } catch (const coop::CancelledError&) {
    status = "failed";
    message = "the check ended with CancelledError (was a CancelledError swallowed, or re-thrown too far?)";
  } catch (const std::exception& e) {
    status = "failed";
    message = fmt::format("threw {}: {}", type_name(typeid(e)), e.what());
  } catch (...) {
    status = "failed";
    message = "threw something that is not a std::exception";
  }
  std::fflush(stdout);
  std::fflush(stderr);
  const std::string out = status + "\n" + message;
  ssize_t ignored = ::write(fd, out.data(), out.size());
  (void)ignored;
  ::_exit(0);
}

Result run_part(const PartDef& p, std::chrono::milliseconds limit) {
  int result_pipe[2], output_pipe[2];
  if (::pipe(result_pipe) != 0 || ::pipe(output_pipe) != 0) return {"crash", "cannot make a pipe", "", 0};
  std::fflush(stdout);
  std::fflush(stderr);
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) return {"crash", fmt::format("cannot fork: {}", std::strerror(errno)), "", 0};
  if (pid == 0) {
    ::close(result_pipe[0]);
    ::close(output_pipe[0]);
    ::dup2(output_pipe[1], STDOUT_FILENO);
    ::dup2(output_pipe[1], STDERR_FILENO);
    ::close(output_pipe[1]);
    run_in_child(p, result_pipe[1]);
  }
  ::close(result_pipe[1]);
  ::close(output_pipe[1]);

  std::string result, output;
  bool truncated = false, timed_out = false;
  pollfd fds[2] = {{result_pipe[0], POLLIN, 0}, {output_pipe[0], POLLIN, 0}};
  int open = 2;
  const auto deadline = start + limit;
  while (open > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    if (::poll(fds, 2, static_cast<int>(left.count())) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      char buf[4096];
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open;
        continue;
      }
      std::string& into = i == 0 ? result : output;
      if (i == 1 && output.size() >= kOutputCap) {
        truncated = true;
        continue;
      }
      into.append(buf, static_cast<std::size_t>(n));
    }
  }
  if (timed_out) ::kill(pid, SIGKILL);
  for (pollfd& f : fds)
    if (f.fd >= 0) ::close(f.fd);
  int wstatus = 0;
  ::waitpid(pid, &wstatus, 0);
  Result r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (output.size() > kOutputCap) output.resize(kOutputCap);
  if (truncated) output += "\n[output truncated]";
  r.output = output;
  if (timed_out) {
    r.status = "hang";
    r.message = fmt::format("no result after {:.0f} s: stopped (an endless loop, or a wait that never ends)",
                            std::chrono::duration<double>(limit).count());
  } else if (WIFSIGNALED(wstatus)) {
    r.status = "crash";
    r.message = fmt::format("crashed: signal {} ({})", WTERMSIG(wstatus), ::strsignal(WTERMSIG(wstatus)));
  } else if (const auto nl = result.find('\n'); nl != std::string::npos) {
    r.status = result.substr(0, nl);
    r.message = result.substr(nl + 1);
  } else {
    r.status = "crash";
    r.message = fmt::format("the check's process exited (status {}) before it finished", WEXITSTATUS(wstatus));
  }
  return r;
}

}  // namespace

struct Grader::Impl {
  int number;
  std::string topic, title;
  std::vector<PartDef> parts;
};

Grader::Grader(int number, std::string topic, std::string title)
    : impl_(std::make_unique<Impl>(Impl{number, std::move(topic), std::move(title), {}})) {}
Grader::~Grader() = default;

void Grader::part(std::string name, std::string what, std::array<std::string, 3> hints, std::function<void()> check) {
  impl_->parts.push_back({std::move(name), std::move(what), std::move(hints), std::move(check)});
}

int Grader::main(int argc, char** argv) {
  Impl& g = *impl_;
  const std::string prog = fmt::format("grade {:02}", g.number);
  CLI::App app(fmt::format("Grades exercise {:02} ({}): {}", g.number, g.topic, g.title));
  double timeout = 5;
  int only = 0;
  std::string expect = "graded", report;
  bool hints = false, quiet = false;
  app.add_option("--timeout", timeout, "Seconds each part may take before it counts as a hang")->check(CLI::Range(0.1, 600.0));
  app.add_option("--part", only, "Run only part K");
  app.add_option("--expect", expect, "graded | done | none-pass (see grader.cpp)")
      ->check(CLI::IsMember({"graded", "done", "none-pass"}));
  app.add_option("--report", report, "Write the results for coop_grade to FILE");
  app.add_flag("--hints", hints, "Print every part's hints and exit");
  app.add_flag("--quiet", quiet, "Print only the summary line");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "%s: %s\n", prog.c_str(), e.what());
    return 2;
  }
  const int n = static_cast<int>(g.parts.size());
  if (app.count("--part") > 0 && (only < 1 || only > n)) {
    std::fprintf(stderr, "%s: --part %d: this exercise has parts 1 to %d\n", prog.c_str(), only, n);
    return 2;
  }
  if (hints) {
    for (int i = 0; i < n; ++i) {
      const PartDef& p = g.parts[static_cast<std::size_t>(i)];
      fmt::print("{}\t{}\t{}\t{}\t{}\n", i + 1, escape(p.name), escape(p.hints[0]), escape(p.hints[1]), escape(p.hints[2]));
    }
    return 0;
  }

  // The parts run in child processes; a SIGPIPE from a report reader gone away is not ours.
  std::signal(SIGPIPE, SIG_IGN);
  if (!quiet) fmt::print("Exercise {:02} · {} — {}\n", g.number, g.topic, g.title);
  std::vector<Result> results(g.parts.size());
  int passed = 0, not_started = 0, ran = 0;
  for (int i = 0; i < n; ++i) {
    if (only != 0 && only != i + 1) continue;
    const PartDef& p = g.parts[static_cast<std::size_t>(i)];
    Result& r = results[static_cast<std::size_t>(i)] =
        run_part(p, std::chrono::milliseconds(static_cast<long long>(timeout * 1000)));
    ++ran;
    passed += r.status == "passed" ? 1 : 0;
    not_started += r.status == "not started" ? 1 : 0;
    if (quiet) continue;
    const char* mark = r.status == "passed" ? "✓" : r.status == "not started" ? "○" : "✗";
    fmt::print("  {} part {} · {}{}\n", mark, i + 1, p.name,
               r.status == "passed" ? "" : fmt::format(" — {}", r.status == "failed" ? "FAILED" : r.status));
    if (r.status != "passed") {
      fmt::print("      {}\n", p.what);
      fmt::print("      {}\n", r.message);
      if (r.status != "not started") {
        if (!r.output.empty()) {
          fmt::print("      it printed:\n");
          std::string o = r.output;
          std::size_t at = 0;
          while (at < o.size()) {
            const std::size_t nl = o.find('\n', at);
            fmt::print("        | {}\n", o.substr(at, nl == std::string::npos ? std::string::npos : nl - at));
            if (nl == std::string::npos) break;
            at = nl + 1;
          }
        }
        fmt::print("      hint: {}\n", p.hints[0]);
      }
    }
  }
  const std::string state = passed == ran ? "done" : not_started == ran ? "not started" : "failing";
  fmt::print("  exercise {:02}: {} ({} of {} parts pass)\n", g.number, state, passed, ran);
  if (!state.empty() && state == "failing" && !quiet)
    fmt::print("  more help: make hint N={} · the lesson: make lesson N={}\n", g.number, g.number);

  if (!report.empty()) {
    std::ofstream f(report);
    f << "exercise\t" << g.number << '\t' << escape(g.topic) << '\t' << escape(g.title) << '\t' << state << '\n';
    for (int i = 0; i < n; ++i) {
      if (only != 0 && only != i + 1) continue;
      const PartDef& p = g.parts[static_cast<std::size_t>(i)];
      const Result& r = results[static_cast<std::size_t>(i)];
      f << "part\t" << i + 1 << '\t' << r.status << '\t' << fmt::format("{:.3f}", r.seconds) << '\t' << escape(p.name)
        << '\t' << escape(p.what) << '\t' << escape(r.message) << '\t' << escape(r.output) << '\n';
    }
    if (!f) {
      std::fprintf(stderr, "%s: cannot write %s\n", prog.c_str(), report.c_str());
      return 2;
    }
  }
  if (expect == "done") return state == "done" ? 0 : 1;
  if (expect == "none-pass") {
    if (passed > 0) std::fprintf(stderr, "%s: %d part(s) pass against the stubs: those checks have no teeth\n", prog.c_str(), passed);
    return passed == 0 ? 0 : 1;
  }
  return state == "failing" ? 1 : 0;
}

}  // namespace grading
