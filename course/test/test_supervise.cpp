// test_supervise.cpp — what supervise() promises about a child that does not cooperate:
// it cannot hang us (endless loop, SIGSTOP, a silent static initialisation), outlive us
// (background and setsid grandchildren holding our pipe), reach us (kill(0, ...)), see our
// descriptors, flood us (output capped on a character boundary, lines split in linear
// time), or take all the memory.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "supervise.hpp"
#include "text.hpp"

namespace {

using namespace std::chrono_literals;
using course::Outcome;
using course::Spec;

Spec shell(const std::string& script) {
  Spec s;
  s.argv = {"sh", "-c", script};
  s.limits.wall = 20s;  // a backstop: each test states its own, tighter expectation
  return s;
}

// The child's side of Spec::child: write it all, then end without running our atexit.
[[noreturn]] void write_and_exit(int fd, const std::string& text, int status = 0) {
  std::size_t at = 0;
  while (at < text.size()) {
    const ssize_t n = ::write(fd, text.data() + at, text.size() - at);
    if (n <= 0) break;
    at += static_cast<std::size_t>(n);
  }
  ::_exit(status);
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char name[] = "/tmp/coop_supervise_XXXXXX";
    path = ::mkdtemp(name);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

[[maybe_unused]] bool alive(pid_t pid) { return ::kill(pid, 0) == 0 || errno != ESRCH; }

}  // namespace

TEST_CASE("a child that exits: its status and its output, stdout and stderr together") {
  const Outcome o = course::supervise(shell("echo out; echo err >&2; exit 3"));
  CHECK(o.how == Outcome::How::exited);
  CHECK(o.code == 3);
  CHECK(o.output == "out\nerr\n");
  CHECK_FALSE(o.output_truncated);
  CHECK(o.describe() == "exited with status 3");
}

TEST_CASE("stdin is /dev/null, so a child that reads it does not wait for a terminal") {
  const Outcome o = course::supervise(shell("read line; echo \"read: $?\""));
  CHECK(o.output == "read: 1\n");
}

TEST_CASE("an environment given in the Spec replaces ours entirely; none given, ours is kept") {
  ::setenv("COOP_SUPERVISE_TEST_SECRET", "root's", 1);
  Spec s = shell("echo \"[$COOP_SUPERVISE_TEST_SECRET] [$HOME] [$PATH]\"");
  CHECK(course::supervise(s).output.rfind("[root's] ", 0) == 0);
  s.environment = {"PATH=/usr/bin:/bin", "HOME=/nonexistent"};
  CHECK(course::supervise(s).output == "[] [/nonexistent] [/usr/bin:/bin]\n");
  // A program found on the environment's PATH, not ours.
  Spec by_name;
  by_name.argv = {"env"};
  by_name.environment = {"PATH=/usr/bin:/bin", "ONLY=this"};
  const Outcome o = course::supervise(by_name);
  CHECK(o.output == "PATH=/usr/bin:/bin\nONLY=this\n");
  ::unsetenv("COOP_SUPERVISE_TEST_SECRET");
}

TEST_CASE("a program that cannot be run is could_not_start, with why") {
  Spec s;
  s.argv = {"/nonexistent/program"};
  const Outcome o = course::supervise(s);
  CHECK(o.how == Outcome::How::could_not_start);
  CHECK(o.describe().find("cannot run /nonexistent/program") != std::string::npos);
}

TEST_CASE("a child looping forever is killed at the wall-clock limit") {
  Spec s = shell("while :; do :; done");
  s.limits.wall = 500ms;
  const Outcome o = course::supervise(s);
  CHECK(o.how == Outcome::How::timed_out);
  CHECK(o.seconds < 1.5);
  CHECK(o.describe() == "timed out after 0.5 s");
}

TEST_CASE("a child that stops itself is killed and reported at once, not waited for") {
  Spec s = shell("kill -STOP $$; echo never");
  const Outcome o = course::supervise(s);
  CHECK(o.how == Outcome::How::stopped);
  CHECK(o.code == SIGSTOP);
  CHECK(o.seconds < 2);
  CHECK(o.describe().rfind("stopped by signal", 0) == 0);
}

TEST_CASE("kill(0, SIGKILL) inside the child reaches only the child's own group") {
  const Outcome o = course::supervise(shell("kill -KILL 0; echo never"));
  // Still here: the child's group was not ours.
  CHECK(o.how == Outcome::How::signalled);
  CHECK(o.code == SIGKILL);
  CHECK(o.describe() == "crashed: signal 9 (Killed)");
}

TEST_CASE("grandchildren, setsid ones included, are killed, although they hold the output pipe") {
  TempDir dir;
  const std::string pids = (dir.path / "pids").string();
  // A background sleep in the child's group; one in a session of its own; and one whose
  // parent (also in a new session) exits, leaving it an orphan.
  Spec s = shell("sleep 100 & echo $! >> " + pids + "; setsid sleep 100 & echo $! >> " + pids +
                 "; setsid sh -c 'sleep 100 & echo $! >> " + pids + "' & sleep 0.3; exit 0");
  const auto start = std::chrono::steady_clock::now();
  const Outcome o = course::supervise(s);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(o.how == Outcome::How::exited);
  CHECK(took < 3);
  std::ifstream in(pids);
  std::vector<pid_t> started;
  for (long pid; in >> pid;) started.push_back(static_cast<pid_t>(pid));
  REQUIRE(started.size() == 3);
#if defined(__linux__) && !defined(COOP_PORTABLE)
  for (pid_t pid : started) CHECK_MESSAGE(!alive(pid), "pid ", pid, " survived");
#else
  // Without Linux's child subreaper, a process in a session of its own is out of reach (it
  // is reparented to init) and only the child's group is killed (supervise.hpp); even that
  // one cannot be checked from here, as it stays a zombie until init reaps it. Not checked:
  // the leftovers are ended so the test leaves nothing behind.
  MESSAGE("portable build: setsid grandchildren are out of supervise's reach (not checked)");
  for (pid_t pid : started) ::kill(pid, SIGKILL);
#endif
}

TEST_CASE("Limits::report_start bounds the time before the first report byte") {
  Spec s = shell("sleep 5; echo late >&3");
  s.report_pipe = true;
  s.limits.report_start = 500ms;
  const Outcome o = course::supervise(s);
  CHECK(o.how == Outcome::How::timed_out);
  CHECK(o.before_report);
  CHECK(o.seconds < 2);
  CHECK(o.describe() == "timed out after 0.5 s (before its first part)");

  SUBCASE("a child that reports in time runs on past it") {
    Spec t = shell("echo 'exercise 3' >&3; sleep 0.8; echo done >&3");
    t.report_pipe = true;
    t.limits.report_start = 500ms;
    const Outcome p = course::supervise(t);
    CHECK(p.how == Outcome::How::exited);
    CHECK(p.report == "exercise 3\ndone\n");
  }
}

TEST_CASE("the child sees only 0, 1, 2 and its report pipe: none of our descriptors") {
  // Not close-on-exec on purpose: supervise must close it anyway.
  const int ours = ::open("/dev/null", O_RDONLY);
  REQUIRE(ours >= 0);
  REQUIRE(::dup2(ours, 7) == 7);
  const std::string probe =
      "for fd in 3 4 5 6 7 8 9; do if { true <&$fd; } 2>/dev/null; then echo \"open $fd\"; fi; done; echo checked";

  SUBCASE("a program") {
    const Outcome o = course::supervise(shell(probe));
    CHECK(o.output == "checked\n");
  }
  SUBCASE("a program with a report pipe: descriptor 3 is it") {
    Spec s = shell(probe + "; echo report >&3");
    s.report_pipe = true;
    const Outcome o = course::supervise(s);
    CHECK(o.output == "open 3\nchecked\n");
    CHECK(o.report == "report\n");
  }
  SUBCASE("a function in the forked child") {
    Spec s;
    s.child = [] {
      std::string seen;
      for (int fd = 3; fd < 64; ++fd)
        if (::fcntl(fd, F_GETFD) != -1) seen += std::to_string(fd) + " ";
      write_and_exit(1, "open: " + seen);
    };
    const Outcome o = course::supervise(s);
    CHECK(o.output == "open: ");
  }
  ::close(7);
  ::close(ours);
}

TEST_CASE("output is capped on a character boundary, valid UTF-8, and marked") {
  Spec s;
  s.child = [] {
    std::string euros;
    for (int i = 0; i < 10000; ++i) euros += "\xE2\x82\xAC";  // '€', three bytes
    write_and_exit(1, euros);
  };
  s.output_cap = 4096;
  const Outcome o = course::supervise(s);
  CHECK(o.how == Outcome::How::exited);
  CHECK(o.output_truncated);
  CHECK(course::clean_text(o.output) == o.output);  // valid UTF-8
  const std::string marker = "\n[output truncated]";
  REQUIRE(o.output.size() > marker.size());
  CHECK(o.output.size() <= 4096 + marker.size());
  CHECK(o.output.substr(o.output.size() - marker.size()) == marker);
  CHECK(o.output.substr(0, 3) == "\xE2\x82\xAC");
}

TEST_CASE("a child that writes far past the cap is drained, so it never blocks") {
  Spec s;
  s.child = [] {
    const std::string block(1 << 20, 'x');
    for (int i = 0; i < 32; ++i)
      if (::write(1, block.data(), block.size()) < 0) ::_exit(1);
    ::_exit(0);
  };
  s.output_cap = 100;
  s.limits.wall = 20s;
  const Outcome o = course::supervise(s);
  CHECK(o.how == Outcome::How::exited);
  CHECK(o.code == 0);
  CHECK(o.output_truncated);
}

TEST_CASE("two million lines through on_line in linear time") {
  Spec s;
  s.child = [] {
    std::string lines;
    lines.reserve(2'000'000 * 8);
    for (int i = 0; i < 2'000'000; ++i) lines += "line ok\n";
    write_and_exit(1, lines);
  };
  std::size_t count = 0, bytes = 0;
  s.on_line = [&](std::string_view line) {
    ++count;
    bytes += line.size();
  };
  s.output_cap = 1024;
  const auto start = std::chrono::steady_clock::now();
  const Outcome o = course::supervise(s);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(o.how == Outcome::How::exited);
  CHECK(count == 2'000'000);
  CHECK(bytes == 2'000'000u * 7);
  CHECK(took < 3);
}

TEST_CASE("LineSplitter: lines across chunks, a last line without '\\n', an endless line cut once") {
  std::vector<std::string> got;
  course::LineSplitter split([&](std::string_view l) { got.emplace_back(l); });
  split.feed("ab");
  split.feed("c\nd\n\ne");
  split.feed("f");
  split.finish();
  CHECK(got == std::vector<std::string>{"abc", "d", "", "ef"});

  got.clear();
  const std::string huge(1 << 20, 'y');
  split.feed("short\n");
  split.feed(huge);
  split.feed(huge);
  split.feed("\nafter\n");
  split.finish();
  REQUIRE(got.size() == 3);
  CHECK(got[0] == "short");
  CHECK(got[1].size() <= course::LineSplitter::kMaxLine + 20);
  CHECK(got[1].find("[line truncated]") != std::string::npos);
  CHECK(got[2] == "after");
}

TEST_CASE("the address-space limit: 3 GiB cannot be had under a 1 GiB limit") {
  if (!course::address_space_limit_applies()) {
    MESSAGE("skipped: a sanitizer build does not limit address space");
    return;
  }
  Spec s;
  s.child = [] {
    // Through a volatile pointer: an allocation nothing reads may be elided (Clang at -O2
    // does), and then "succeeds" whatever the limit.
    static void* volatile block;
    block = std::malloc(std::size_t{3} << 30);
    void* p = block;
    if (p != nullptr) std::memset(p, 1, std::size_t{3} << 30);
    write_and_exit(1, p == nullptr ? "refused" : "allocated");
  };
  s.limits.address_space = std::uint64_t{1} << 30;
  const Outcome o = course::supervise(s);
  CHECK(o.how == Outcome::How::exited);
  CHECK(o.output == "refused");
}

TEST_CASE("a fork bomb stops at the process limit: what its user has, plus Limits::processes") {
#if defined(__linux__) && !defined(COOP_PORTABLE)
  // RLIMIT_NPROC does not bind root: as root the child runs as nobody, else as ourselves.
  Spec s;
  if (::geteuid() == 0) {
    s.uid = 65534;
    s.gid = 65534;
  }
  s.limits.processes = 40;
  s.limits.wall = std::chrono::seconds(20);
  // The user already has 30 processes (as a student has an editor and a shell): they do
  // not count against the 40.
  const pid_t holder = ::fork();
  REQUIRE(holder >= 0);
  if (holder == 0) {
    ::setpgid(0, 0);
    if (s.uid && (::setgid(*s.gid) != 0 || ::setuid(*s.uid) != 0)) ::_exit(1);
    for (int i = 0; i < 29; ++i)
      if (::fork() == 0) {
        ::pause();
        ::_exit(0);
      }
    ::pause();
    ::_exit(0);
  }
  ::setpgid(holder, holder);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  s.child = [] {
    int started = 0;
    for (int i = 0; i < 400; ++i) {
      const pid_t p = ::fork();
      if (p < 0) break;
      if (p == 0) {
        ::pause();
        ::_exit(0);
      }
      ++started;
    }
    std::printf("%d\n", started);
    std::fflush(stdout);
    ::_exit(0);
  };
  const Outcome o = course::supervise(s);
  ::kill(-holder, SIGKILL);
  ::waitpid(holder, nullptr, 0);
  REQUIRE(o.how == Outcome::How::exited);
  const int started = std::atoi(o.output.c_str());
  CHECK(started >= 30);   // what the limit allows, less what the user had meanwhile
  CHECK(started <= 40);
#else
  MESSAGE("processes are counted from /proc: Linux only");
#endif
}

TEST_CASE("no core file, and a file-size limit that stops a runaway writer") {
  TempDir dir;
  Spec s = shell("ulimit -c; head -c 100000 /dev/zero > big; echo \"status $?\"");
  s.working_directory = dir.path;
  s.limits.file_size = 10000;
  const Outcome o = course::supervise(s);
  CHECK(o.output.rfind("0\n", 0) == 0);
  CHECK(std::filesystem::file_size(dir.path / "big") <= 10000);
}

TEST_CASE("output to a file, and the function's return is not a normal exit") {
  TempDir dir;
  Spec s = shell("echo into the file");
  s.output_file = dir.path / "log";
  CHECK(course::supervise(s).ok());
  std::ifstream in(dir.path / "log");
  std::stringstream text;
  text << in.rdbuf();
  CHECK(text.str() == "into the file\n");

  Spec r;
  r.child = [] {};  // returns instead of ending the process
  const Outcome o = course::supervise(r);
  CHECK(o.how == Outcome::How::exited);
  CHECK(o.code == 127);
}

TEST_CASE("an on_line that throws gets no more lines; supervise still sees the child to its end") {
  Spec s = shell("echo one; echo two; sleep 0.2; echo three");
  int calls = 0;
  s.on_line = [&](std::string_view) {
    ++calls;
    throw std::runtime_error("enough");
  };
  const Outcome o = course::supervise(s);
  CHECK(o.how == Outcome::How::exited);
  CHECK(calls == 1);
  CHECK(o.output == "one\ntwo\nthree\n");
}
