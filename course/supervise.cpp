// supervise.cpp — see supervise.hpp. The one idea: never trust the child to end, to close
// its pipes, or to stay in its own process; every bound is enforced from this side.
//
// How the parent watches: it polls the child's pipes with a short, growing tick and asks
// waitid(WNOWAIT) between reads whether the child exited or stopped. The pipes alone cannot
// say it: a grandchild may hold them open forever, and a stopped child closes nothing. The
// child is reaped only after its whole process group and every orphan it left (reparented
// to us, the subreaper) is killed, so its pid, which names the group, cannot be reused
// while we kill by it.
//
// Linux-only calls (prctl, close_range, /proc) are guarded; elsewhere the POSIX fallbacks
// do the same job less thoroughly (a setsid() grandchild is reparented to init there, out
// of our reach, and is not killed).
#include "supervise.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__linux__) && !defined(COOP_PORTABLE)
#define COOP_SUPERVISE_LINUX 1
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <new>
#include <thread>
#include <utility>

#include "text.hpp"

extern char** environ;  // the process's environment (POSIX; not every libc declares it)

namespace course {

bool address_space_limit_applies() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return false;  // the sanitizers reserve terabytes of shadow memory up front
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
  return false;
#else
  return true;
#endif
#else
  return true;
#endif
}

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadChunk = 64 * 1024;
constexpr int kReportFd = 3;    // where the child finds its report pipe
constexpr int kExecErrFd = 4;   // the child's channel for "exec failed", closed by exec itself

// ---- the parent's shared state -------------------------------------------------------------

// Children being supervised right now, by any thread: the orphan sweep must not kill or
// reap a sibling supervise() is still watching.
std::mutex g_active_mutex;
std::vector<pid_t> g_active;

// Forks with the child registered before any other thread can see it (the fork and the
// registration are one step under the lock); deregisters it when supervise() returns.
struct ActiveChild {
  pid_t pid = -1;
  bool reaped = false;
  template <class InChild>
  explicit ActiveChild(InChild in_child) {
    std::lock_guard lock(g_active_mutex);
    pid = ::fork();
    if (pid == 0) in_child();  // never returns
    if (pid > 0) g_active.push_back(pid);
  }
  ~ActiveChild() {
    if (pid <= 0) return;
    if (!reaped) {  // left early (an exception from a caller's on_line): end it anyway
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
    std::lock_guard lock(g_active_mutex);
    g_active.erase(std::remove(g_active.begin(), g_active.end(), pid), g_active.end());
  }
  ActiveChild(const ActiveChild&) = delete;
  ActiveChild& operator=(const ActiveChild&) = delete;
};

[[maybe_unused]] bool is_active(pid_t pid) {  // used by the Linux sweep only
  std::lock_guard lock(g_active_mutex);
  return std::find(g_active.begin(), g_active.end(), pid) != g_active.end();
}

// While any supervise() runs: SIGPIPE ignored (a child that closes its end early must not
// kill us through a write of ours), and SIGCHLD not ignored (that would reap our children
// behind our back, and waitid could not say how they ended). Put back as they were when
// the last one ends.
std::mutex g_signals_mutex;
int g_signals_users = 0;
struct sigaction g_sigpipe_before {}, g_sigchld_before {};

struct SignalsForSupervising {
  SignalsForSupervising() {
    std::lock_guard lock(g_signals_mutex);
    if (g_signals_users++ == 0) {
      struct sigaction set {};
      sigemptyset(&set.sa_mask);
      set.sa_handler = SIG_IGN;
      ::sigaction(SIGPIPE, &set, &g_sigpipe_before);
      ::sigaction(SIGCHLD, nullptr, &g_sigchld_before);
      if (g_sigchld_before.sa_handler == SIG_IGN || (g_sigchld_before.sa_flags & SA_NOCLDWAIT) != 0) {
        set.sa_handler = SIG_DFL;
        ::sigaction(SIGCHLD, &set, nullptr);
      }
    }
  }
  ~SignalsForSupervising() {
    std::lock_guard lock(g_signals_mutex);
    if (--g_signals_users == 0) {
      ::sigaction(SIGPIPE, &g_sigpipe_before, nullptr);
      ::sigaction(SIGCHLD, &g_sigchld_before, nullptr);
    }
  }
  SignalsForSupervising(const SignalsForSupervising&) = delete;
  SignalsForSupervising& operator=(const SignalsForSupervising&) = delete;
};

// Once per process (guarded by g_active_mutex): orphans of our children (a setsid()
// grandchild whose parent exited) become our children instead of init's, so we can find,
// kill and reap them.
bool g_subreaper = false;

void become_subreaper() {
#if defined(COOP_SUPERVISE_LINUX)
  std::lock_guard lock(g_active_mutex);
  if (!g_subreaper) g_subreaper = ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0;
#endif
}

// In a forked child that goes on running our code (Spec::child), which may supervise in
// turn: it starts with none of this state. The mutexes may have been held by another thread
// (or by the fork itself) when we forked, and a fork is not a subreaper.
void forget_parent_state() {
  new (&g_active_mutex) std::mutex();
  new (&g_signals_mutex) std::mutex();
  g_active.clear();
  g_signals_users = 0;
  g_subreaper = false;
}

// ---- descriptors ---------------------------------------------------------------------------

// Closes on destruction; every descriptor of ours is close-on-exec from birth, so none
// leaks into a program another thread starts meanwhile.
struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd = std::exchange(o.fd, -1);
    }
    return *this;
  }
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

bool make_pipe(Fd& read_end, Fd& write_end) {
  int fds[2];
#if defined(COOP_SUPERVISE_LINUX)
  if (::pipe2(fds, O_CLOEXEC) != 0) return false;
#else
  if (::pipe(fds) != 0) return false;
  ::fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  ::fcntl(fds[1], F_SETFD, FD_CLOEXEC);
#endif
  read_end = Fd(fds[0]);
  write_end = Fd(fds[1]);
  return true;
}

Fd open_cloexec(const char* path, int flags, mode_t mode = 0) {
  int fd;
  do fd = ::open(path, flags | O_CLOEXEC, mode);
  while (fd < 0 && errno == EINTR);
  return Fd(fd);
}

// ---- the child -----------------------------------------------------------------------------

// Everything the child needs, prepared before fork: after fork in a process that may have
// other threads, only async-signal-safe calls are allowed until exec (no allocation).
struct ChildPlan {
  std::vector<char*> argv;  // null-terminated, pointing into Spec::argv
  int null_in = -1, out = -1, report = -1, exec_err = -1;
  struct Limit {
    int resource;
    rlim_t value;
  };
  Limit limits[6];
  int n_limits = 0;
  const char* working_directory = nullptr;
  std::vector<char*> environment;  // null-terminated, pointing into Spec::environment; empty: ours
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  pid_t parent = 0;
};

// Tells the parent which step failed, then ends: a child that cannot be set up as asked
// must not run at all.
[[noreturn]] void child_fail(const ChildPlan& plan, int step) {
  const int what[2] = {step, errno};
  ssize_t ignored = ::write(plan.exec_err, what, sizeof what);
  (void)ignored;
  ::_exit(127);
}

enum Step { step_dup = 1, step_limit, step_groups, step_gid, step_uid, step_chdir, step_exec };

// Moves `fd` out of the way of 0..4 (the slots being filled), so no dup2 below overwrites
// a descriptor still to be placed.
int lift(const ChildPlan& plan, int fd) {
  if (fd < 0) return -1;
  const int high = ::fcntl(fd, F_DUPFD_CLOEXEC, 10);
  if (high < 0) child_fail(plan, step_dup);
  return high;
}

void close_from(int first) {
#if defined(COOP_SUPERVISE_LINUX) && defined(SYS_close_range)
  if (::syscall(SYS_close_range, static_cast<unsigned>(first), ~0U, 0U) == 0) return;
#endif
  struct rlimit nofile {};
  long max = ::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY
                 ? static_cast<long>(nofile.rlim_cur)
                 : 65536;
  max = std::min(max, 1L << 20);
  for (long fd = first; fd < max; ++fd) ::close(static_cast<int>(fd));
}

[[noreturn]] void child_main(ChildPlan& plan, const Spec& spec) {
  ::setpgid(0, 0);  // its own process group: kill(0, ...) inside reaches only its own
  // Signals as a fresh program expects them: SIGPIPE was ignored for our sake, not its.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(SIGPIPE, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  // Descriptors: 0 /dev/null, 1 and 2 the output, 3 the report pipe, 4 the exec-error
  // channel (close-on-exec), nothing else.
  plan.exec_err = lift(plan, plan.exec_err);
  const int in = lift(plan, plan.null_in), out = lift(plan, plan.out), report = lift(plan, plan.report);
  if (::dup2(plan.exec_err, kExecErrFd) < 0) child_fail(plan, step_dup);
  plan.exec_err = kExecErrFd;
  ::fcntl(kExecErrFd, F_SETFD, FD_CLOEXEC);
  if (::dup2(in, STDIN_FILENO) < 0 || ::dup2(out, STDOUT_FILENO) < 0 || ::dup2(out, STDERR_FILENO) < 0)
    child_fail(plan, step_dup);
  if (report >= 0) {
    if (::dup2(report, kReportFd) < 0) child_fail(plan, step_dup);
  } else {
    ::close(kReportFd);
  }
  close_from(kExecErrFd + 1);

  for (int i = 0; i < plan.n_limits; ++i) {
    struct rlimit now {};
    ::getrlimit(plan.limits[i].resource, &now);
    rlim_t value = plan.limits[i].value;
    if (now.rlim_max != RLIM_INFINITY) value = std::min(value, now.rlim_max);
    // Hard = soft, so the child cannot raise it again; but for CPU time, one second more
    // for the hard limit, so it first gets SIGXCPU (a message) and then SIGKILL.
    rlim_t hard = value;
    if (plan.limits[i].resource == RLIMIT_CPU && (now.rlim_max == RLIM_INFINITY || value < now.rlim_max)) hard = value + 1;
    const struct rlimit set = {value, hard};
    if (::setrlimit(plan.limits[i].resource, &set) != 0) child_fail(plan, step_limit);
  }
  if (plan.gid || plan.uid) {
    // Drop the supplementary groups first (only root can, and only root needs to).
    const gid_t keep = plan.gid ? *plan.gid : ::getgid();
    if (::geteuid() == 0 && ::setgroups(1, &keep) != 0) child_fail(plan, step_groups);
  }
  if (plan.gid && ::setgid(*plan.gid) != 0) child_fail(plan, step_gid);
  if (plan.uid && ::setuid(*plan.uid) != 0) child_fail(plan, step_uid);
  if (plan.working_directory != nullptr && ::chdir(plan.working_directory) != 0) child_fail(plan, step_chdir);
#if defined(COOP_SUPERVISE_LINUX)
  // Dies with us: if this program is killed (Ctrl-C reaches only our process group), nothing
  // it supervised runs on. Set after the change of user, which would clear it.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (::getppid() != plan.parent) ::_exit(127);  // we died before the line above took effect
#endif

  if (!plan.environment.empty()) environ = plan.environment.data();  // (execvp then searches its PATH)
  if (!plan.argv.empty()) {
    ::execvp(plan.argv[0], plan.argv.data());
    child_fail(plan, step_exec);
  }
  ::close(kExecErrFd);
  forget_parent_state();
  if (spec.child) spec.child();
  ::_exit(127);  // the function was to end the process itself
}

std::string step_error(int step, int err, const Spec& spec) {
  const char* why = std::strerror(err);
  switch (step) {
    case step_limit: return fmt::format("cannot set a resource limit: {}", why);
    case step_groups: return fmt::format("cannot drop supplementary groups: {}", why);
    case step_gid: return fmt::format("cannot change to group {}: {}", spec.gid ? *spec.gid : 0, why);
    case step_uid: return fmt::format("cannot change to user {}: {}", spec.uid ? *spec.uid : 0, why);
    case step_chdir:
      return fmt::format("cannot change to {}: {}", spec.working_directory ? spec.working_directory->string() : "", why);
    case step_exec: return fmt::format("cannot run {}: {}", spec.argv.empty() ? "" : spec.argv[0], why);
    default: return fmt::format("cannot set up its descriptors: {}", why);
  }
}

// ---- the parent: collecting output ---------------------------------------------------------

// Keeps up to `cap` + 1 raw bytes (one more than the cap, so cap_text knows it must cut)
// and counts the rest away; hands lines over as they come.
struct Sink {
  std::size_t cap = 0;
  std::string raw;
  bool dropped = false;
  std::optional<LineSplitter> lines;

  void take(std::string_view bytes) {
    if (raw.size() <= cap) {
      const std::size_t room = cap + 1 - raw.size();
      raw.append(bytes.substr(0, room));
      if (bytes.size() > room) dropped = true;
    } else if (!bytes.empty()) {
      dropped = true;
    }
    if (lines) deliver([&] { lines->feed(bytes); });
  }
  void finish() {
    if (lines) deliver([&] { lines->finish(); });
  }
  // A caller's on_line that throws gets no more lines; the child is still seen to its end.
  template <class F>
  void deliver(F f) {
    try {
      f();
    } catch (...) {
      lines.reset();
    }
  }
  std::string text(bool& truncated, std::string_view marker) const {
    truncated = dropped || raw.size() > cap;
    return cap_text(raw, cap, marker);
  }
};

// Reads what is there now; false at end of stream (or an error that means the same).
bool read_some(int fd, Sink& sink, bool& any) {
  char buf[kReadChunk];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      sink.take(std::string_view(buf, static_cast<std::size_t>(n)));
      any = true;
      return true;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    return false;
  }
}

// How many processes `uid` has now (RLIMIT_NPROC counts them all), where they can be
// counted: /proc/N belongs to the process's user. Elsewhere nullopt.
std::optional<std::uint64_t> processes_of(uid_t uid) {
#if defined(COOP_SUPERVISE_LINUX)
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return std::nullopt;
  std::uint64_t n = 0;
  while (const dirent* e = ::readdir(proc)) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    struct ::stat st {};
    if (::fstatat(::dirfd(proc), e->d_name, &st, 0) == 0 && st.st_uid == uid) ++n;
  }
  ::closedir(proc);
  return n;
#else
  (void)uid;
  return std::nullopt;
#endif
}

// ---- the parent: ending everything ---------------------------------------------------------

#if defined(COOP_SUPERVISE_LINUX)
// The processes that are our children (orphans reparented to us), or in the group `pgid`,
// from /proc/N/stat: "pid (comm) state ppid pgrp ...", comm may hold spaces and ')'.
void scan_proc(pid_t pgid, std::vector<pid_t>& orphans, std::vector<pid_t>& members) {
  orphans.clear();
  members.clear();
  const pid_t self = ::getpid();
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return;
  while (const dirent* e = ::readdir(proc)) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    const auto pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid == pgid) continue;  // the child itself: reaped last, by the caller
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
    const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    char buf[512];
    const ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0) continue;
    buf[n] = '\0';
    const char* close_paren = std::strrchr(buf, ')');
    if (close_paren == nullptr) continue;
    char state = 0;
    int ppid = 0, pgrp = 0;
    if (std::sscanf(close_paren + 1, " %c %d %d", &state, &ppid, &pgrp) != 3) continue;
    if (ppid == self) orphans.push_back(pid);
    else if (pgrp == pgid && state != 'Z') members.push_back(pid);
  }
  ::closedir(proc);
}
#endif

// Kills the child's process group and every descendant that outlived it, and reaps those
// reparented to us. The child itself (`pid`, the group's id) is still unreaped, so its
// group id stays ours throughout. Bounded: a process that forks faster than we kill gets
// two seconds, then is left to the process limit.
void kill_everything(pid_t pid) {
  ::kill(-pid, SIGKILL);
  ::kill(pid, SIGKILL);
#if defined(COOP_SUPERVISE_LINUX)
  const auto give_up = Clock::now() + std::chrono::seconds(2);
  std::vector<pid_t> orphans, members;
  for (;;) {
    scan_proc(pid, orphans, members);
    bool any = !members.empty();
    ::kill(-pid, SIGKILL);
    for (pid_t o : orphans) {
      if (is_active(o)) continue;  // a sibling supervise() is watching that one
      any = true;
      ::kill(o, SIGKILL);
      ::kill(-o, SIGKILL);  // it may lead a group (setsid) with members of its own
      while (::waitpid(o, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
    if (!any || Clock::now() > give_up) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
#endif
}

}  // namespace

// ---- supervise -----------------------------------------------------------------------------

Outcome supervise(const Spec& spec) {
  Outcome result;
  try {
    if (spec.argv.empty() && !spec.child) {
      result.error = "nothing to run";
      return result;
    }
    become_subreaper();
    SignalsForSupervising signals;

    Fd null_in = open_cloexec("/dev/null", O_RDONLY);
    if (null_in.fd < 0) {
      result.error = fmt::format("cannot open /dev/null: {}", std::strerror(errno));
      return result;
    }
    Fd out_read, out_write, report_read, report_write, err_read, err_write;
    if (spec.output_file) {
      out_write = open_cloexec(spec.output_file->c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (out_write.fd < 0) {
        result.error = fmt::format("cannot write {}: {}", spec.output_file->string(), std::strerror(errno));
        return result;
      }
    } else if (!make_pipe(out_read, out_write)) {
      result.error = fmt::format("cannot make a pipe: {}", std::strerror(errno));
      return result;
    }
    if ((spec.report_pipe && !make_pipe(report_read, report_write)) || !make_pipe(err_read, err_write)) {
      result.error = fmt::format("cannot make a pipe: {}", std::strerror(errno));
      return result;
    }

    ChildPlan plan;
    for (const std::string& a : spec.argv) plan.argv.push_back(const_cast<char*>(a.c_str()));
    if (!plan.argv.empty()) plan.argv.push_back(nullptr);
    if (spec.environment) {
      for (const std::string& v : *spec.environment) plan.environment.push_back(const_cast<char*>(v.c_str()));
      plan.environment.push_back(nullptr);
    }
    plan.null_in = null_in.fd;
    plan.out = out_write.fd;
    plan.report = report_write.fd;
    plan.exec_err = err_write.fd;
    const Limits& l = spec.limits;
    const auto add_limit = [&](int resource, std::uint64_t value) {
      plan.limits[plan.n_limits++] = {resource, static_cast<rlim_t>(value)};
    };
    add_limit(RLIMIT_CORE, 0);
    if (l.address_space != 0 && address_space_limit_applies()) add_limit(RLIMIT_AS, l.address_space);
    if (l.cpu_seconds != 0) add_limit(RLIMIT_CPU, l.cpu_seconds);
    if (l.file_size != 0) add_limit(RLIMIT_FSIZE, l.file_size);
    // Counted per user, not per process tree: the limit is what the user has now (the
    // build, the editor, a second grading) plus what the child may start.
    if (l.processes != 0) {
      const auto has = processes_of(spec.uid ? *spec.uid : ::getuid());
      if (has) add_limit(RLIMIT_NPROC, *has + l.processes);
      else if (spec.uid) add_limit(RLIMIT_NPROC, l.processes);  // a user of its own has none yet
    }
    std::string workdir = spec.working_directory ? spec.working_directory->string() : std::string();
    if (spec.working_directory) plan.working_directory = workdir.c_str();
    plan.uid = spec.uid;
    plan.gid = spec.gid;
    plan.parent = ::getpid();

    std::fflush(stdout);  // what we printed so far is not printed again by a child that exits
    std::fflush(stderr);
    const auto start = Clock::now();
    ActiveChild active([&] { child_main(plan, spec); });
    const pid_t pid = active.pid;
    if (pid < 0) {
      result.error = fmt::format("cannot fork: {}", std::strerror(errno));
      return result;
    }
    ::setpgid(pid, pid);  // also from here, so the group exists before we may need to kill it

    null_in.reset();
    out_write.reset();
    report_write.reset();
    err_write.reset();

    Sink out_sink, report_sink;
    out_sink.cap = spec.output_cap;
    if (spec.on_line) out_sink.lines.emplace(spec.on_line);
    report_sink.cap = spec.report_cap;
    for (Fd* f : {&out_read, &report_read})
      if (f->fd >= 0) ::fcntl(f->fd, F_SETFL, ::fcntl(f->fd, F_GETFL) | O_NONBLOCK);

    const auto wall_end = l.wall.count() > 0 ? std::optional(start + l.wall) : std::nullopt;
    const auto report_end =
        spec.report_pipe && l.report_start.count() > 0 ? std::optional(start + l.report_start) : std::nullopt;
    bool report_seen = false;
    enum class End { running, exited, stopped, timed_out } end = End::running;
    int stop_signal = 0;
    auto tick = std::chrono::milliseconds(1);  // grows to 32 ms while nothing happens

    while (end == End::running) {
      siginfo_t info{};
      const int w = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WSTOPPED | WNOHANG | WNOWAIT);
      if (w == 0 && info.si_pid == pid) {
        if (info.si_code == CLD_STOPPED) {
          end = End::stopped;
          stop_signal = info.si_status;
        } else {
          end = End::exited;
        }
        break;
      }
      if (w < 0 && errno != EINTR) {  // cannot happen for a child of ours; do not spin on it
        end = End::exited;
        break;
      }
      const auto now = Clock::now();
      if (wall_end && now >= *wall_end) {
        end = End::timed_out;
        break;
      }
      if (report_end && !report_seen && now >= *report_end) {
        end = End::timed_out;
        result.before_report = true;
        break;
      }
      auto wait = tick;
      for (const auto& limit : {wall_end, report_seen ? std::nullopt : report_end})
        if (limit) wait = std::min(wait, std::chrono::ceil<std::chrono::milliseconds>(*limit - now));
      pollfd fds[2];
      nfds_t n = 0;
      for (Fd* f : {&out_read, &report_read})
        if (f->fd >= 0) fds[n++] = {f->fd, POLLIN, 0};
      const int ready = ::poll(fds, n, static_cast<int>(std::max<std::chrono::milliseconds::rep>(wait.count(), 0)));
      bool any = false;
      if (ready > 0) {
        for (nfds_t i = 0; i < n; ++i) {
          if (fds[i].revents == 0) continue;
          Fd& f = fds[i].fd == out_read.fd ? out_read : report_read;
          Sink& sink = &f == &out_read ? out_sink : report_sink;
          const std::size_t before = sink.raw.size();
          if (!read_some(f.fd, sink, any)) f.reset();
          if (&sink == &report_sink && (sink.raw.size() > before || sink.dropped)) report_seen = true;
        }
      }
      tick = any ? std::chrono::milliseconds(1) : std::min(tick * 2, std::chrono::milliseconds(32));
    }

    kill_everything(pid);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    active.reaped = true;
    result.seconds = std::chrono::duration<double>(Clock::now() - start).count();

    // Everyone who could write is dead now: what is left in the pipes is all there is.
    for (Fd* f : {&out_read, &report_read}) {
      Sink& sink = f == &out_read ? out_sink : report_sink;
      while (f->fd >= 0) {
        bool got = false;
        if (!read_some(f->fd, sink, got) || !got) f->reset();
      }
    }
    out_sink.finish();
    result.output = out_sink.text(result.output_truncated, "\n[output truncated]");
    result.report = report_sink.text(result.report_truncated, "\n[report truncated]");

    // Did the child set itself up? A message on the error channel says which step failed.
    // (Not blocking: whatever went wrong, we do not wait here.)
    ::fcntl(err_read.fd, F_SETFL, ::fcntl(err_read.fd, F_GETFL) | O_NONBLOCK);
    int failure[2] = {0, 0};
    ssize_t got;
    do got = ::read(err_read.fd, failure, sizeof failure);
    while (got < 0 && errno == EINTR);
    if (got == static_cast<ssize_t>(sizeof failure) && end != End::timed_out) {
      result.how = Outcome::How::could_not_start;
      result.error = step_error(failure[0], failure[1], spec);
      return result;
    }

    switch (end) {
      case End::timed_out:
        result.how = Outcome::How::timed_out;
        result.limit_seconds =
            std::chrono::duration<double>(result.before_report ? l.report_start : l.wall).count();
        break;
      case End::stopped:
        result.how = Outcome::How::stopped;
        result.code = stop_signal;
        break;
      default:
        if (WIFSIGNALED(status)) {
          result.how = Outcome::How::signalled;
          result.code = WTERMSIG(status);
        } else {
          result.how = Outcome::How::exited;
          result.code = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
        }
    }
    return result;
  } catch (const std::exception& e) {  // out of memory while collecting: say so, never throw
    result.how = Outcome::How::could_not_start;
    result.error = fmt::format("supervise: {}", e.what());
    return result;
  } catch (...) {
    result.how = Outcome::How::could_not_start;
    result.error = "supervise: an unknown exception";
    return result;
  }
}

// ---- describe ------------------------------------------------------------------------------

namespace {

// 10 -> "10", 0.5 -> "0.5", 2.25 -> "2.25": a limit as a person wrote it.
std::string seconds_text(double s) {
  std::string t = fmt::format("{:.2f}", s);
  while (t.back() == '0') t.pop_back();
  if (t.back() == '.') t.pop_back();
  return t;
}

std::string signal_text(int sig) {
  const char* name = ::strsignal(sig);
  return fmt::format("signal {} ({})", sig, name != nullptr ? name : "unknown");
}

}  // namespace

std::string Outcome::describe() const {
  switch (how) {
    case How::exited: return fmt::format("exited with status {}", code);
    case How::signalled: return fmt::format("crashed: {}", signal_text(code));
    case How::timed_out:
      return fmt::format("timed out after {} s{}", seconds_text(limit_seconds > 0 ? limit_seconds : seconds),
                         before_report ? " (before its first part)" : "");
    case How::stopped: return fmt::format("stopped by {} and killed", signal_text(code));
    case How::could_not_start: return fmt::format("could not start: {}", error.empty() ? "unknown error" : error);
  }
  return "unknown";
}

// ---- LineSplitter --------------------------------------------------------------------------

namespace {

// The longest prefix of `s` of at most `max` bytes that does not end inside a UTF-8
// character.
std::string_view prefix_on_boundary(std::string_view s, std::size_t max) {
  if (s.size() <= max) return s;
  std::size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return s.substr(0, cut);
}

}  // namespace

void LineSplitter::deliver_long() {
  // A line that passed the cap: what fits, and a note, once; the rest until '\n' is skipped.
  std::string shown(prefix_on_boundary(pending_, kMaxLine));
  shown += " [line truncated]";
  line_(shown);
  pending_.clear();
  skipping_ = true;
}

void LineSplitter::feed(std::string_view bytes) {
  while (!bytes.empty()) {
    const std::size_t nl = bytes.find('\n');
    const std::string_view piece = bytes.substr(0, nl);  // up to the '\n', or all of it
    if (skipping_) {
      // Inside a line already delivered as truncated: drop until its end.
    } else if (pending_.empty() && nl != std::string_view::npos && piece.size() <= kMaxLine) {
      line_(piece);  // the common case: a whole line in this chunk, no copy
    } else {
      pending_.append(piece.substr(0, kMaxLine + 1 - std::min(pending_.size(), kMaxLine + 1)));
      if (pending_.size() > kMaxLine) {
        deliver_long();
      } else if (nl != std::string_view::npos) {
        line_(pending_);
        pending_.clear();
      }
    }
    if (nl == std::string_view::npos) return;
    skipping_ = false;
    bytes.remove_prefix(nl + 1);
  }
}

void LineSplitter::finish() {
  if (!pending_.empty()) line_(pending_);
  pending_.clear();
  skipping_ = false;
}

}  // namespace course
