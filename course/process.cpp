// process.cpp — fork, exec, wait; with the output where the caller wants it.
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

enum class Out { inherit, log, pipe };

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

int spawn(const Args& args, Out out, const std::filesystem::path& log,
          const std::function<void(std::string_view)>& line) {
  int fds[2] = {-1, -1};
  if (out == Out::pipe && ::pipe(fds) != 0) return 127;
  std::fflush(stdout);  // what we printed so far comes before what the child prints
  std::fflush(stderr);
  const pid_t pid = ::fork();
  if (pid < 0) return 127;
  if (pid == 0) {
    if (out != Out::inherit) {
      const int null = ::open("/dev/null", O_RDONLY);
      ::dup2(null, STDIN_FILENO);
      const int to = out == Out::log ? ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644) : fds[1];
      if (to < 0) ::_exit(127);
      ::dup2(to, STDOUT_FILENO);
      ::dup2(to, STDERR_FILENO);
      if (out == Out::pipe) ::close(fds[0]);
    }
    auto argv = c_args(args);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  if (out == Out::pipe) {
    ::close(fds[1]);
    std::string pending;
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(fds[0], buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      pending.append(buf, static_cast<std::size_t>(n));
      for (std::size_t nl; (nl = pending.find('\n')) != std::string::npos; pending.erase(0, nl + 1))
        line(std::string_view(pending).substr(0, nl));
    }
    if (!pending.empty()) line(pending);
    ::close(fds[0]);
  }
  return wait_for(pid);
}

}  // namespace

int run(const Args& args) { return spawn(args, Out::inherit, {}, {}); }
int run_logged(const Args& args, const std::filesystem::path& log) { return spawn(args, Out::log, log, {}); }
int run_lines(const Args& args, const std::function<void(std::string_view)>& line) {
  return spawn(args, Out::pipe, {}, line);
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
