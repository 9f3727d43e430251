// process.cpp — fork, exec, wait; with the output where the caller wants it. What runs
// unattended goes through supervise() (its limits, its linear line splitting); only what a
// person watches on the terminal is a plain fork and exec.
#include "process.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace course {

namespace {

std::vector<char*> c_args(const Args& args) {
  std::vector<char*> v;
  for (const std::string& a : args) v.push_back(const_cast<char*>(a.c_str()));
  v.push_back(nullptr);
  return v;
}

// Waits for pid; a signal that interrupts the wait (Ctrl-C in `watch`) does not stop it.
int wait_for(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return 127;
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 127;
}

}  // namespace

int run(const Args& args) {
  std::fflush(stdout);  // what we printed so far comes before what the child prints
  std::fflush(stderr);
  const pid_t pid = ::fork();
  if (pid < 0) return 127;
  if (pid == 0) {
    auto argv = c_args(args);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  return wait_for(pid);
}

int status_of(const Outcome& outcome) {
  switch (outcome.how) {
    case Outcome::How::exited: return outcome.code;
    case Outcome::How::signalled:
    case Outcome::How::stopped: return 128 + outcome.code;
    case Outcome::How::timed_out: return 124;
    case Outcome::How::could_not_start: return 127;
  }
  return 127;
}

int run_logged(const Args& args, const std::filesystem::path& log, const Limits& limits) {
  Spec spec;
  spec.argv = args;
  spec.limits = limits;
  spec.output_file = log;
  return status_of(supervise(spec));
}

int run_lines(const Args& args, const std::function<void(std::string_view)>& line, const Limits& limits) {
  Spec spec;
  spec.argv = args;
  spec.limits = limits;
  spec.on_line = line;
  spec.output_cap = 0;  // the lines are the caller's; nothing to keep here
  return status_of(supervise(spec));
}

void become(const Args& args) {
  std::fflush(stdout);
  std::fflush(stderr);
  auto argv = c_args(args);
  ::execv(argv[0], argv.data());
}

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');)
    if (!dir.empty() && ::access((dir + "/" + program).c_str(), X_OK) == 0) return true;
  return false;
}

}  // namespace course
