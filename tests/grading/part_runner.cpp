// part_runner.cpp — runs a grader's parts, each in a supervised child process (its own
// process group, a time limit, resource limits), and writes the report coop_grade reads.
// (What the checks themselves use is grader.cpp.)
//
//   grade_exercise_03 [--timeout S] [--part K] [--expect graded|done|none-pass]
//                     [--report FILE] [--hints] [--quiet]
//
// Exit status: with --expect graded (the default) 0 when the exercise is done or not
// started and 1 when it is failing; --expect done: 0 only when every part passes (the
// solutions); --expect none-pass: 0 only when no part passes (the pristine stubs: the
// grader has teeth). 2 for bad usage.
//
// --report FILE (coop_grade passes /dev/fd/3) gets lines of tab-separated fields, with
// backslash, tab and newline escaped (course/report.hpp reads them):
//   exercise <N> <topic> <title>          first, as Grader::main begins
//   part <K> <status> <seconds> <name> <what> <message> <output> <hint>    as each part ends
//   end <state>                           last
// <hint> is the hint shown with a part that did not pass: the failed check's own
// (grading::Hint), else the part's first; empty for a part that passed or is not started.
// Each line is written whole, unbuffered, the moment it is known, so the parent can say how
// far a grader got when it had to kill it.
//
// A part is a fork of this process running the student's code, so everything is bounded
// from outside it (course/supervise.hpp): kill(0, SIGKILL) in a part reaches only the part,
// a grandchild it starts dies with it, 3 GiB cannot be allocated, a file cannot grow past
// 16 MiB, no core is dumped. Its verdict comes back on its own pipe (descriptor 3 in the
// part), never the grader's report.
#include "grader.hpp"

#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cxxabi.h>

#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <typeinfo>

#include "exercise.hpp"
#include "report.hpp"
#include "supervise.hpp"
#include "text.hpp"

namespace grading {

// ---- running parts ----------------------------------------------------------------------------

namespace {

constexpr std::size_t kOutputCap = 4096;  // bytes of a part's output kept for the report
constexpr int kResultFd = 3;              // where a part writes "status\nhint\nmessage" (hint escaped)

// A part's limits besides its time: enough for any check of the course, far too little for
// a runaway. Address space is not limited under sanitizers (see supervise.hpp).
constexpr std::uint64_t kAddressSpace = std::uint64_t{2} << 30;
constexpr std::uint64_t kFileSize = std::uint64_t{16} << 20;

// Added to a crash's message when it looks like the lifetime bugs coroutine code invites.
constexpr const char* kLifetimeHint =
    "a crash in coroutine code is most often a lifetime bug: a lambda coroutine with captures (the captures "
    "live in the closure, which is gone — pass arguments instead), an owning lambda temporary inside co_await on "
    "GCC 12 (name the lambda first), or a reference parameter that outlived its argument";

struct PartDef {
  std::string name, what;
  std::array<std::string, 3> hints;
  std::function<void()> check;
  std::vector<int> builds_on;  // the earlier parts whose code this one's check also runs (BuildsOn)
};

struct Result {
  std::string status;   // passed | failed | not started | hang | crash
  std::string message;  // why (empty when passed)
  std::string hint;     // the failed check's own hint (grading::Hint); empty: it had none
  std::string output;   // what the part printed, capped, valid UTF-8
  double seconds = 0;
};

// "std::runtime_error", not the mangled "St13runtime_error" that typeid gives.
std::string type_name(const std::type_info& t) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name(abi::__cxa_demangle(t.name(), nullptr, nullptr, &status), std::free);
  return status == 0 && name ? name.get() : t.name();
}

void write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

// In the child: runs the check and writes "status\nhint\nmessage" to `fd` (the hint
// escaped, so that it is one line).
[[noreturn]] void run_in_child(const PartDef& p, int fd) {
  std::string status = "passed", message, hint;
  try {
    p.check();
  } catch (const exercise::NotDone& e) {
    status = "not started";
    message = fmt::format("not written yet (TODO: {})", e.what());
  } catch (const Failure& f) {
    status = "failed";
    message = f.message;
    hint = f.hint;
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
  write_all(fd, status + "\n" + course::escape_field(hint) + "\n" + message);
  ::_exit(0);
}

bool is_status(std::string_view s) {
  return s == "passed" || s == "failed" || s == "not started" || s == "hang" || s == "crash";
}

// What AddressSanitizer says first about the lifetime bugs of kLifetimeHint.
bool names_a_lifetime_bug(std::string_view line) {
  for (std::string_view bug : {"heap-use-after-free", "stack-use-after-return", "stack-use-after-scope"})
    if (line.find(bug) != std::string_view::npos) return true;
  return false;
}

Result run_part(const PartDef& p, double timeout) {
  course::Spec spec;
  spec.child = [&p] { run_in_child(p, kResultFd); };
  spec.report_pipe = true;
  spec.report_cap = 64 * 1024;
  spec.output_cap = kOutputCap;
  bool lifetime_bug = false;  // seen in any line, also past the output cap
  spec.on_line = [&](std::string_view line) { lifetime_bug = lifetime_bug || names_a_lifetime_bug(line); };
  spec.limits.wall = std::chrono::milliseconds(static_cast<long long>(timeout * 1000));
  spec.limits.cpu_seconds = static_cast<std::uint64_t>(std::ceil(timeout)) + 1;
  spec.limits.address_space = kAddressSpace;
  spec.limits.file_size = kFileSize;
  const course::Outcome o = course::supervise(spec);

  Result r;
  r.seconds = o.seconds;
  r.output = o.output;
  using How = course::Outcome::How;
  const std::size_t nl = o.report.find('\n');
  if (o.how == How::timed_out) {
    r.status = "hang";
    r.message = fmt::format("no result after {:g} s: stopped (an endless loop, or a wait that never ends)", timeout);
  } else if (const std::size_t nl2 = nl == std::string::npos ? nl : o.report.find('\n', nl + 1);
             o.how == How::exited && nl2 != std::string::npos && is_status(std::string_view(o.report).substr(0, nl))) {
    r.status = o.report.substr(0, nl);
    r.hint = course::unescape_field(std::string_view(o.report).substr(nl + 1, nl2 - nl - 1));
    r.message = o.report.substr(nl2 + 1);
  } else {
    r.status = "crash";
    if (o.how == How::exited)
      r.message = fmt::format("the check's process exited (status {}) before it finished", o.code);
    else if (o.how == How::could_not_start)
      r.message = fmt::format("the check could not be run: {}", o.error);
    else
      r.message = o.describe();  // "crashed: signal 11 (Segmentation fault)", "stopped by ..."
    const bool trap_signal =
        o.how == How::signalled && (o.code == SIGSEGV || o.code == SIGBUS || o.code == SIGABRT);
    if (trap_signal || lifetime_bug) r.message += "\n" + std::string(kLifetimeHint);
  }
  return r;
}

// Report lines, each written whole and at once (no buffer to lose if we are killed).
class ReportFile {
 public:
  bool open(const std::string& path) {
    // /dev/fd/N is the pipe the parent handed us (coop_grade passes /dev/fd/3): written to
    // as it is. Reopening it by name would fail when we run as another user (the pipe is
    // the parent's), and O_TRUNC would garble a redirected stdout.
    if (path.rfind("/dev/fd/", 0) == 0 && path.size() > 8 &&
        path.find_first_not_of("0123456789", 8) == std::string::npos) {
      fd_ = std::atoi(path.c_str() + 8);
      if (::fcntl(fd_, F_GETFD) < 0) fd_ = -1;  // not open: no report
      return fd_ >= 0;
    }
    do fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    while (fd_ < 0 && errno == EINTR);
    return fd_ >= 0;
  }
  bool is_open() const { return fd_ >= 0; }
  void line(std::initializer_list<std::string_view> fields) {
    if (fd_ < 0) return;
    std::string text;
    for (std::string_view f : fields) {
      if (!text.empty()) text += '\t';
      text += course::escape_field(f);
    }
    text += '\n';
    write_all(fd_, text);
  }

 private:
  int fd_ = -1;
};

// --report's value, read before anything else so the header goes out first; CLI11 checks
// the command line properly afterwards. Empty when there is none, or when the run will not
// grade (--hints, --help).
std::string early_report_path(int argc, char** argv) {
  std::string path;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--hints" || a == "--help" || a == "-h") return {};
    if (a == "--report" && i + 1 < argc) path = argv[++i];
    else if (a.rfind("--report=", 0) == 0) path = a.substr(9);
  }
  return path;
}

void print_indented(std::string_view text, std::string_view indent) {
  for (;;) {
    const std::size_t nl = text.find('\n');
    fmt::print("{}{}\n", indent, text.substr(0, nl));
    if (nl == std::string_view::npos) return;
    text.remove_prefix(nl + 1);
  }
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
  impl_->parts.push_back({std::move(name), std::move(what), std::move(hints), std::move(check), {}});
}

void Grader::part(BuildsOn earlier, std::string name, std::string what, std::array<std::string, 3> hints,
                  std::function<void()> check) {
  // Only earlier parts: the runner knows their verdicts by the time this one ends.
  const int n = static_cast<int>(impl_->parts.size()) + 1;
  for (const int k : earlier.parts)
    if (k < 1 || k >= n) {
      std::fprintf(stderr, "grader: part %d '%s' builds on part %d, which is not an earlier part\n", n, name.c_str(),
                   k);
      std::abort();
    }
  impl_->parts.push_back(
      {std::move(name), std::move(what), std::move(hints), std::move(check), std::move(earlier.parts)});
}

namespace {
// The hidden parts' adders, in the order their files' static initialisers ran (one file a
// grader: the order within it is the order written).
std::vector<std::function<void(Grader&)>>& hidden_adders() {
  static std::vector<std::function<void(Grader&)>> adders;
  return adders;
}
}  // namespace

HiddenParts::HiddenParts(std::function<void(Grader&)> add) { hidden_adders().push_back(std::move(add)); }

int Grader::main(int argc, char** argv) {
  Impl& g = *impl_;
  for (const auto& add : hidden_adders()) add(*this);
  const std::string prog = fmt::format("grade {:02}", g.number);

  // First of all, the header: the parent knows from it that static initialisation (the
  // student's code runs before main) is over.
  ReportFile out;
  if (const std::string path = early_report_path(argc, argv); !path.empty()) {
    if (!out.open(path)) {
      std::fprintf(stderr, "%s: cannot write %s: %s\n", prog.c_str(), path.c_str(), std::strerror(errno));
      return 2;
    }
    out.line({"exercise", std::to_string(g.number), g.topic, g.title});
  }

  CLI::App app(fmt::format("Grades exercise {:02} ({}): {}", g.number, g.topic, g.title));
  double timeout = 5;
  int only = 0;
  std::string expect = "graded", report;
  bool hints = false, quiet = false;
  app.add_option("--timeout", timeout, "Seconds each part may take before it counts as a hang")->check(CLI::Range(0.1, 600.0));
  app.add_option("--part", only, "Run only part K");
  app.add_option("--expect", expect, "graded | done | none-pass (see part_runner.cpp)")
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
      fmt::print("{}\t{}\t{}\t{}\t{}\n", i + 1, course::escape_field(p.name), course::escape_field(p.hints[0]),
                 course::escape_field(p.hints[1]), course::escape_field(p.hints[2]));
    }
    return 0;
  }

  // A SIGPIPE from a report reader gone away is not ours to die of.
  std::signal(SIGPIPE, SIG_IGN);
  if (!quiet) fmt::print("Exercise {:02} · {} — {}\n", g.number, g.topic, g.title);
  int passed = 0, not_started = 0, ran = 0;
  // Each part's status once it has run ("" until then, or when --part skips it).
  std::vector<std::string> statuses(static_cast<std::size_t>(n));
  const auto is_failing = [](const std::string& status) {
    return !status.empty() && status != "passed" && status != "not started";
  };
  for (int i = 0; i < n; ++i) {
    if (only != 0 && only != i + 1) continue;
    const PartDef& p = g.parts[static_cast<std::size_t>(i)];
    Result r = run_part(p, timeout);
    ++ran;
    passed += r.status == "passed" ? 1 : 0;
    not_started += r.status == "not started" ? 1 : 0;
    statuses[static_cast<std::size_t>(i)] = r.status;
    // A part that runs an earlier part's code fails whenever that code is wrong: say so, so
    // the student fixes the earlier part first instead of chasing this one.
    if (is_failing(r.status)) {
      std::vector<int> failed;  // the parts this one builds on that fail
      for (const int k : p.builds_on)
        if (is_failing(statuses[static_cast<std::size_t>(k - 1)])) failed.push_back(k);
      std::string which;
      for (std::size_t j = 0; j < failed.size(); ++j)
        which += fmt::format("{}part {} ({})", j == 0 ? "" : j + 1 < failed.size() ? ", " : " and ", failed[j],
                             g.parts[static_cast<std::size_t>(failed[j] - 1)].name);
      if (!failed.empty())
        r.message += failed.size() == 1
                         ? fmt::format("\npart {} fails too, and it builds on {}, which fails: fix part {} first "
                                       "(this part may fail only because of it)",
                                       i + 1, which, failed[0])
                         : fmt::format("\npart {} fails too, and it builds on {}, which fail: fix those first (this "
                                       "part may fail only because of them)",
                                       i + 1, which);
    }
    // The hint shown: the failed check's own, else the part's nudge.
    const std::string hint = r.status == "passed" || r.status == "not started" ? ""
                             : !r.hint.empty()                                  ? r.hint
                                                                                : p.hints[0];
    out.line({"part", std::to_string(i + 1), r.status, fmt::format("{:.3f}", r.seconds), p.name, p.what, r.message,
              r.output, hint});
    if (quiet) continue;
    const char* mark = r.status == "passed" ? "✓" : r.status == "not started" ? "○" : "✗";
    fmt::print("  {} part {} · {}{}\n", mark, i + 1, p.name,
               r.status == "passed" ? "" : fmt::format(" — {}", r.status == "failed" ? "FAILED" : r.status));
    if (r.status != "passed") {
      print_indented(p.what, "      ");
      print_indented(r.message, "      ");
      if (r.status != "not started") {
        if (!r.output.empty()) {
          fmt::print("      it printed:\n");
          std::string_view o = r.output;
          if (!o.empty() && o.back() == '\n') o.remove_suffix(1);
          print_indented(o, "        | ");
        }
        print_indented("hint: " + hint, "      ");
      }
    }
    std::fflush(stdout);
  }
  const std::string state = passed == ran ? "done" : not_started == ran ? "not started" : "failing";
  out.line({"end", state});
  fmt::print("  exercise {:02}: {} ({} of {} parts pass)\n", g.number, state, passed, ran);
  if (state == "failing" && !quiet)
    fmt::print("  more help: make hint N={} · the lesson: make lesson N={}\n", g.number, g.number);

  int status = state == "failing" ? 1 : 0;
  if (expect == "done") status = state == "done" ? 0 : 1;
  if (expect == "none-pass") {
    if (passed > 0) std::fprintf(stderr, "%s: %d part(s) pass against the stubs: those checks have no teeth\n", prog.c_str(), passed);
    status = passed == 0 ? 0 : 1;
  }
  // Ends here, not by returning: an atexit handler or a static destructor of the student's
  // code must not run after the verdict is out (to rewrite it, or to crash and change it).
  std::fflush(stdout);
  std::fflush(stderr);
  ::_exit(status);
}

}  // namespace grading
