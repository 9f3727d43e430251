// Lesson 02 — the scaling wall of one thread per connection.
//
// The lecture: one OS thread costs about a megabyte of stack, so 10,000 threads cost 10 GB
// before a single byte of application data is stored; one event loop instead keeps thousands
// of connections in flight, each a coroutine suspended at its await. This lesson measures it
// on the machine it runs on: N idle loopback connections (--connections N; by default the
// lecture's 10,000, or as many as this machine allows, the rest projected),
// first with a thread each, then with a task each on one loop, read from /proc; where the
// lecture's gigabytes are (reserved address space, not touched memory); and what a switch
// costs, kernel thread against task.
//
// The client ends of the connections live in a child process (forked, so no extra program is
// needed): a process may open only so many files (`ulimit -Hn`, 20,000 on the machine this was
// written on), and 10,000 connections with both ends in one process would need 20,000 of them.
// The child also keeps the measurements honest: this process holds only the server side.
//
// Memory and thread counts come from Linux's /proc. Where there is none (a Mac, or the
// portable build), those figures read "n/a" and step 1 says so; the times, the frames and
// the switches are measured everywhere.
#include <CLI/CLI.hpp>
#include <alloca.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <latch>
#include <map>
#include <optional>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "common/lesson.hpp"
#include "coop/platform.hpp"
#if COOP_HAS_GLIBC
#include <malloc.h>  // malloc_trim
#endif

using namespace std::chrono_literals;
using coop::Task;
using Stopwatch = std::chrono::steady_clock;  // real time: threads know no virtual clock

namespace {

constexpr int kBatch = 256;         // connections the child opens before it waits for them to be accepted
constexpr auto kPatience = 10s;     // how long one exchange with the child may take before we give up
// ...for n connections: 2 ms more per connection, as the child's echo round over 10,000 of
// them takes seconds on a slow machine (a sanitizer build beside other tests: 10 s was short).
std::chrono::seconds patience_for(int n) { return kPatience + std::chrono::seconds(n / 500); }
constexpr int kTouchThreads = 100;  // threads per row of step 4's table
constexpr int kSwitches = 100'000;  // hand-offs in step 5
constexpr int kLecture = 10'000;    // the lecture's "ten thousand threads"

// ---- reading /proc --------------------------------------------------------------------------

// What the kernel says this process uses. VmSize: address space mapped (reserved); VmRSS:
// pages actually in memory; Threads: how many this process has; KernelStack: the kernel's own
// stacks, one per thread of the whole system (from /proc/meminfo; outside VmRSS). Without
// /proc: NaN bytes and -1 threads, printed "n/a".
struct Usage {
  double vm_size = 0;       // bytes
  double vm_rss = 0;        // bytes
  double kernel_stack = 0;  // bytes, system-wide
  long threads = 0;
};

// Where the memory figures come from, for step 1 to say.
constexpr const char* kUsageSource =
    COOP_HAS_PROC_FS ? "/proc/self/status and /proc/meminfo"
                     : "nowhere: this system has no /proc, so VmSize, VmRSS, KernelStack and the thread counts "
                       "are n/a; the times, the frames and the switches are measured";

std::string read_text(const char* path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// The number after "Key:" at the start of a line of a /proc file, or -1.
[[maybe_unused]] double proc_field(const std::string& text, std::string_view key) {  // unused without /proc
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t end = std::min(text.find('\n', at), text.size());
    const std::string_view line(text.data() + at, end - at);
    if (line.size() > key.size() && line.substr(0, key.size()) == key && line[key.size()] == ':')
      return std::strtod(std::string(line.substr(key.size() + 1)).c_str(), nullptr);
    at = end + 1;
  }
  return -1;
}

// Gives the memory malloc holds free back to the kernel (glibc's malloc_trim), so that what
// the next measurement allocates shows as growth of VmRSS even when it reuses memory freed
// by an earlier step. Other C libraries have no such call.
void fresh_heap() {
#if COOP_HAS_GLIBC
  ::malloc_trim(0);
#endif
}

Usage usage_now() {
  Usage u;
#if COOP_HAS_PROC_FS
  const std::string status = read_text("/proc/self/status");
  const std::string meminfo = read_text("/proc/meminfo");
  u.vm_size = proc_field(status, "VmSize") * 1024;  // the kernel writes "kB": KiB
  u.vm_rss = proc_field(status, "VmRSS") * 1024;
  u.threads = static_cast<long>(proc_field(status, "Threads"));
  u.kernel_stack = proc_field(meminfo, "KernelStack") * 1024;
#else
  u.vm_size = u.vm_rss = u.kernel_stack = std::nan("");
  u.threads = -1;
#endif
  return u;
}

long proc_number(const char* path) {
  if (!COOP_HAS_PROC_FS) return -1;
  const std::string t = read_text(path);
  return t.empty() ? -1 : std::strtol(t.c_str(), nullptr, 10);
}

// ---- formatting -------------------------------------------------------------------------------

std::string bytes(double b) {
  if (std::isnan(b)) return "n/a";
  const double a = std::fabs(b);
  if (a < 1024) return fmt::format("{:.0f} B", b);
  if (a < 1024.0 * 1024) return fmt::format("{:.1f} KiB", b / 1024);
  if (a < 1024.0 * 1024 * 1024) return fmt::format("{:.1f} MiB", b / (1024.0 * 1024));
  return fmt::format("{:.2f} GiB", b / (1024.0 * 1024 * 1024));
}

std::string seconds_text(double s) {
  if (s < 1e-3) return fmt::format("{:.2f} µs", s * 1e6);
  if (s < 1) return fmt::format("{:.1f} ms", s * 1e3);
  return fmt::format("{:.3f} s", s);
}

std::string grouped(long long v) {  // 10000 -> "10,000"
  std::string s = std::to_string(v < 0 ? -v : v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<std::size_t>(i), ",");
  return v < 0 ? "-" + s : s;
}

std::string ratio(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return "n/a";
  if (b <= 0) return "∞×";
  const double r = a / b;
  if (r >= 100) {  // two significant figures: what a ratio of two measurements is worth
    const double scale = std::pow(10.0, std::floor(std::log10(r)) - 1);
    return "about " + grouped(std::llround(std::round(r / scale) * scale)) + "×";
  }
  return r >= 10 ? fmt::format("{:.0f}×", r) : fmt::format("{:.1f}×", r);
}

std::string mib_change(double b) {  // -1048576 -> "-1.0 MiB"
  return std::isnan(b) ? "n/a" : fmt::format("{:+.1f} MiB", b / (1024.0 * 1024));
}

std::string count_text(long v) { return v < 0 ? "n/a" : std::to_string(v); }  // a count, or n/a

// A measured figure right-aligned in a table column, also once golden mode has masked it.
std::string cell(const std::string& text, int width) {
  std::string m = lesson::measured(fmt::format("{:>{}}", text, width));
  if (lesson::settings().golden) m = fmt::format("{:>{}}", m, width);
  return m;
}

double elapsed_since(Stopwatch::time_point t0) {
  return std::chrono::duration<double>(Stopwatch::now() - t0).count();
}

// ---- plain POSIX sockets, for the threads and for the client process ------------------------

std::system_error os_error(const std::string& what) { return {errno, std::generic_category(), what}; }

// Close-on-exec: a descriptor of this process is none of an exec'd program's business. Linux
// sets the flag in the call that makes the descriptor; POSIX sets it with fcntl() just after.
int cloexec(int fd) {
  if (!COOP_HAS_ACCEPT4 && fd >= 0) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  return fd;
}
#if COOP_HAS_ACCEPT4
constexpr int kSockCloexec = SOCK_CLOEXEC;
#else
constexpr int kSockCloexec = 0;
#endif

// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_ = -1;
};

// File descriptors this process still has to close (a thread closes its own once it has it).
struct FdList {
  std::vector<int> fds;
  ~FdList() {
    for (int fd : fds)
      if (fd >= 0) ::close(fd);
  }
};

void set_timeout(int fd, std::chrono::seconds t) {  // blocking calls on fd give up after t
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(t.count());
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// A blocking listening socket on 127.0.0.1 and a free port.
Fd listen_loopback(std::uint16_t& port) {
  Fd fd(cloexec(::socket(AF_INET, SOCK_STREAM | kSockCloexec, 0)));
  if (fd.get() < 0) throw os_error("socket");
  sockaddr_in a = loopback(0);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw os_error("bind 127.0.0.1:0");
  if (::listen(fd.get(), 4096) != 0) throw os_error("listen");
  socklen_t len = sizeof a;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  set_timeout(fd.get(), kPatience);  // accept() too: a dead client process cannot hang us
  return fd;
}

int accept_blocking(int listener) {
#if COOP_HAS_ACCEPT4
  const int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
#else
  const int fd = cloexec(::accept(listener, nullptr, nullptr));
#endif
  if (fd < 0) throw os_error(errno == EAGAIN ? "accept: no connection from the client process within 10 s" : "accept");
  // The listener's time limit is for accept(), but an accepted socket inherits it (Linux): a
  // handler waiting for its ping must wait while all the others start, which under a
  // sanitizer on a busy machine took more than 10 s for 10,000. A dead client closes it anyway.
  set_timeout(fd, 0s);
  return fd;
}

void send_byte(int fd, char c) {
  if (::send(fd, &c, 1, MSG_NOSIGNAL) != 1) throw os_error("write to the client process");
}

int recv_int(int fd) {
  int v = 0;
  std::size_t got = 0;
  while (got < sizeof v) {
    const ssize_t n = ::recv(fd, reinterpret_cast<char*>(&v) + got, sizeof v - got, 0);
    if (n <= 0) throw std::runtime_error("the client process did not answer (it died, or took over 10 s)");
    got += static_cast<std::size_t>(n);
  }
  return v;
}

// ---- the client process -----------------------------------------------------------------------
// A forked child that opens the n connections and talks on them when told to, over one more
// connection, the control line, opened first. It was forked, perhaps from a process with
// threads, so it uses nothing but system calls (no malloc, no locks, no exceptions).
//
//   child                                      this process
//   connect control line                       accept it
//   connect 256 connections, wait for 'k'      accept 256, send 'k'    ... n in all
//   on 'e': "ping" on each, read the echoes,   (the threads or tasks echo)
//           send back how many came right
//   on 'q' (or the line closing): hang up all, exit

int dial(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in a = loopback(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

int echo_all(const int* fds, int n) {  // pings every connection, then collects the echoes
  for (int i = 0; i < n; ++i)
    if (::send(fds[i], "ping", 4, MSG_NOSIGNAL) != 4) return -1;
  int ok = 0;
  for (int i = 0; i < n; ++i) {
    char buf[4];
    std::size_t got = 0;
    while (got < 4) {
      const ssize_t r = ::recv(fds[i], buf + got, 4 - got, 0);
      if (r <= 0) return ok;
      got += static_cast<std::size_t>(r);
    }
    if (std::memcmp(buf, "ping", 4) == 0) ++ok;
  }
  return ok;
}

[[noreturn]] void client_process(std::uint16_t port, int n, int* fds) {
  const int ctl = dial(port);
  if (ctl < 0) ::_exit(10);
  char c = 0;
  for (int i = 0; i < n; ++i) {
    fds[i] = dial(port);
    if (fds[i] < 0) ::_exit(11);
    if ((i + 1) % kBatch == 0 || i + 1 == n)
      if (::read(ctl, &c, 1) != 1) ::_exit(12);  // the server has accepted these: go on
  }
  while (::read(ctl, &c, 1) == 1 && c != 'q') {
    if (c != 'e') continue;
    const int ok = echo_all(fds, n);
    if (::send(ctl, &ok, sizeof ok, MSG_NOSIGNAL) != sizeof ok) break;
  }
  for (int i = 0; i < n; ++i) ::close(fds[i]);  // hang up: every server end reads 0 bytes
  ::_exit(0);
}

class ClientProcess {
 public:
  ClientProcess(std::uint16_t port, int n) : fds_(static_cast<std::size_t>(n), -1) {
    pid_ = ::fork();
    if (pid_ < 0) throw os_error("fork (the client process)");
    if (pid_ == 0) client_process(port, n, fds_.data());
  }
  ClientProcess(const ClientProcess&) = delete;
  ClientProcess& operator=(const ClientProcess&) = delete;
  ~ClientProcess() { kill(); }

  // Kills it (every client end closes at once) and reaps it; for the ways out by exception.
  void kill() noexcept {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = 0;
  }
  // Waits for it to exit on its own (after 'q'); throws if it failed.
  void wait() {
    int status = 0;
    if (pid_ <= 0 || ::waitpid(pid_, &status, 0) != pid_) throw os_error("waitpid (the client process)");
    pid_ = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      throw std::runtime_error(fmt::format("the client process failed (status {:#x}: 10/11 = could not connect, "
                                           "12 = the control line broke)",
                                           status));
  }

 private:
  pid_t pid_ = 0;
  std::vector<int> fds_;  // the child's sockets: allocated here, so the child needs no malloc
};

// ---- the figures of one server, threads or tasks ----------------------------------------------

struct ServerCosts {
  int n = 0;
  Usage before;               // connections accepted, no handler yet
  Usage during;               // n handlers started, each has echoed one message and waits again
  Usage after;                // everything closed, joined, finished
  double start_seconds = 0;   // starting the n handlers until each was waiting for its first read
  int echoed = 0;             // connections that echoed "ping" correctly
  double frame_bytes = 0;     // tasks only: coroutine frames alive (coop::frame_stats)

  double per(double Usage::*field) const { return (during.*field - before.*field) / n; }
  double total(double Usage::*field) const { return during.*field - before.*field; }
};

void check_echoes(const ServerCosts& c) {
  if (c.echoed != c.n)
    throw std::runtime_error(fmt::format("only {} of {} connections echoed their message", c.echoed, c.n));
}

// ---- step 1: one thread per connection ----------------------------------------------------------

// snippet: thread_server
// The classic server: one thread per connection, blocked in recv() until its client speaks.
void serve_blocking(int fd, std::atomic<int>* started) {
  char buf[256];
  started->fetch_add(1);
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);  // blocks: the thread sleeps in the kernel
    if (n <= 0) break;                                   // 0: the client hung up
    if (::send(fd, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL) != n) break;
  }
  ::close(fd);
}
// end snippet

// The server threads. On every way out, also by exception: the client process hangs up
// (each recv() returns 0, each thread ends) and the threads are joined.
struct ThreadGroup {
  ClientProcess& clients;
  std::vector<std::thread> threads;
  void join_all() {
    for (std::thread& t : threads)
      if (t.joinable()) t.join();
  }
  ~ThreadGroup() {
    clients.kill();
    join_all();
  }
};

std::string thread_limits() {
  const auto limit = [](int resource, rlim_t unit) {
    rlimit rl{};
    ::getrlimit(resource, &rl);
    return rl.rlim_cur == RLIM_INFINITY ? std::string("unlimited") : std::to_string(rl.rlim_cur / unit);
  };
  return fmt::format("kernel.threads-max {}, vm.max_map_count {}, ulimit -u {}, ulimit -v {}",
                     proc_number("/proc/sys/kernel/threads-max"), proc_number("/proc/sys/vm/max_map_count"),
                     limit(RLIMIT_NPROC, 1), limit(RLIMIT_AS, 1024));
}

// This machine would not start another thread (a limit of threads per process or user, of
// memory maps, of a container's processes).
struct ThreadLimitError : std::runtime_error {
  int started;  // how many had started
  ThreadLimitError(const std::string& what, int n) : std::runtime_error(what), started(n) {}
};

ServerCosts hold_with_threads(int n) {
  ServerCosts c;
  c.n = n;
  std::uint16_t port = 0;
  Fd listener = listen_loopback(port);
  ClientProcess clients(port, n);
  Fd ctl(accept_blocking(listener.get()));
  set_timeout(ctl.get(), patience_for(n));
  FdList accepted;
  accepted.fds.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    accepted.fds.push_back(accept_blocking(listener.get()));
    if ((i + 1) % kBatch == 0 || i + 1 == n) send_byte(ctl.get(), 'k');
  }
  ThreadGroup group{clients, {}};
  group.threads.reserve(static_cast<std::size_t>(n));
  std::atomic<int> started{0};
  fresh_heap();
  c.before = usage_now();
  const auto t0 = Stopwatch::now();
  try {
    // snippet: thread_spawn
    for (int& fd : accepted.fds) {
      group.threads.emplace_back(serve_blocking, fd, &started);  // a new thread, with its own stack
      fd = -1;                                                    // the thread owns the socket now
    }
    while (started.load() < n) std::this_thread::yield();  // every thread has reached its recv()
    // end snippet
  } catch (const std::system_error& e) {
    throw ThreadLimitError(fmt::format("could start only {} of {} threads ({}); the limits: {}",
                                       group.threads.size(), n, e.what(), thread_limits()),
                           static_cast<int>(group.threads.size()));
  }
  c.start_seconds = elapsed_since(t0);
  send_byte(ctl.get(), 'e');  // one message on every connection: each thread wakes and echoes it
  c.echoed = recv_int(ctl.get());
  c.during = usage_now();
  send_byte(ctl.get(), 'q');  // the client process hangs up: every recv() returns 0
  group.join_all();
  clients.wait();
  c.after = usage_now();
  check_echoes(c);
  return c;
}

// How many connections the lesson holds. By default the lecture's 10,000; where the machine
// allows fewer, the most it allows, and the lecture's figure is then a projection.
struct Connections {
  int n = kLecture;
  bool asked = false;   // --connections N was given: exactly N, or an error
  std::string reduced;  // by default, why fewer than 10,000 ("" if not reduced)
};
Connections g_conns;

// N, as the lesson prints it. By default the machine chooses it (10,000, or fewer), so it
// is a figure of this machine, masked in golden files like any other.
std::string conns_text() { return g_conns.asked ? grouped(g_conns.n) : lesson::measured(grouped(g_conns.n)); }

// What the lesson's 10,000 figures are: measured, or projected from fewer (and why fewer).
std::string lecture_basis() {
  std::string basis = "measured here with 10,000";
  if (g_conns.n != kLecture && g_conns.asked)
    basis = fmt::format("projected to 10,000 from the {} measured here (--connections {}): a projection",
                        grouped(g_conns.n), g_conns.n);
  else if (g_conns.n != kLecture)
    basis = fmt::format("projected to 10,000 from the {} measured here, the most this machine allows ({}): a "
                        "projection",
                        grouped(g_conns.n), g_conns.reduced);
  return g_conns.asked ? basis : lesson::measured(basis);  // by default, the machine decides which
}

// Rounded down to 2 significant figures: 9,743 -> 9,700.
int round_down(int v) {
  int scale = 1;
  while (v / scale >= 100) scale *= 10;
  return std::max(1, v / scale * scale);
}

std::optional<ServerCosts> g_threads;  // step 1's figures, for steps 3 and 4

const ServerCosts& thread_costs() {
  if (g_threads) return *g_threads;  // else step 1 did not run (--only)
  try {
    g_threads = hold_with_threads(g_conns.n);
  } catch (const ThreadLimitError& e) {
    if (g_conns.asked || e.started < 2) throw;
    // The default, and the machine would not start them all: measure as many as it did,
    // less a tenth for the threads the loop and the libraries need, and project.
    g_conns.n = round_down(e.started * 9 / 10);
    g_conns.reduced = fmt::format("thread {} would not start; {}", grouped(e.started + 1), thread_limits());
    g_threads = hold_with_threads(g_conns.n);
  }
  return *g_threads;
}

// ---- steps 2 and 3: one task per connection, on one loop -----------------------------------------

// snippet: task_server
// The same server as a coroutine: one task per connection, parked at read_some meanwhile.
Task<void> serve(coop::TcpStream conn) {
  std::array<std::byte, 256> buf{};
  for (;;) {
    const std::size_t n = co_await conn.read_some(buf);  // suspends: the thread goes on to others
    if (n == 0) co_return;                               // 0: the client hung up
    co_await conn.write_all(std::span<const std::byte>(buf.data(), n));
  }
}
// end snippet

Task<std::string> read_exactly(coop::TcpStream& conn, std::size_t size) {
  std::string text(size, '\0');
  std::size_t got = 0;
  while (got < size) {
    const std::size_t n = co_await conn.read_some(std::as_writable_bytes(std::span(text)).subspan(got));
    if (n == 0) throw std::runtime_error("the connection closed early");
    got += n;
  }
  co_return text;
}

long five_threads = 0;  // threads in this process while the 5 connections were open

// snippet: five
Task<void> client(std::uint16_t port, int id, coop::Clock::duration pause) {
  coop::TcpStream conn = co_await coop::open_connection("127.0.0.1", port);
  co_await coop::sleep(pause);  // the client keeps quiet for a while; its server task waits
  const std::string hello = fmt::format("hello from client {}", id);
  co_await conn.write_all(hello);
  const std::string echo = co_await read_exactly(conn, hello.size());
  lesson::say("client {} got its echo back: \"{}\"", id, echo);
}  // conn closes here: its server task reads 0 bytes and returns

Task<void> five_connections() {
  coop::TcpListener listener = coop::TcpListener::bind("127.0.0.1", 0);
  const std::array<coop::Clock::duration, 5> pauses{120ms, 40ms, 200ms, 80ms, 160ms};
  std::vector<coop::TaskHandle<void>> tasks;
  for (int i = 0; i < 5; ++i)
    tasks.push_back(coop::create_task(client(listener.port(), i + 1, pauses[static_cast<std::size_t>(i)]),
                                      fmt::format("client {}", i + 1)));
  for (int i = 0; i < 5; ++i) {
    coop::TcpStream conn = co_await listener.accept();  // main is the accept loop
    tasks.push_back(coop::create_task(serve(std::move(conn)), fmt::format("server {}", i + 1)));
  }
  five_threads = usage_now().threads;
  lesson::say("5 connections accepted; threads in this process: {}", lesson::measured(count_text(five_threads)));
  co_await coop::gather(std::move(tasks));
}
// end snippet

Task<int> read_int(coop::TcpStream& conn) {
  const std::string s = co_await read_exactly(conn, sizeof(int));
  int v = 0;
  std::memcpy(&v, s.data(), sizeof v);
  co_return v;
}

Task<ServerCosts> hold_on_loop(coop::TcpListener listener, int n) {
  ServerCosts c;
  c.n = n;
  coop::TcpStream ctl = co_await listener.accept();  // (loop_costs gives the whole of this a deadline)
  std::vector<coop::TcpStream> accepted;
  accepted.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    accepted.push_back(co_await listener.accept());
    if ((i + 1) % kBatch == 0 || i + 1 == n) co_await ctl.write_all(std::string_view("k"));
  }
  std::vector<coop::TaskHandle<void>> tasks;
  tasks.reserve(static_cast<std::size_t>(n));
  fresh_heap();
  c.before = usage_now();
  const std::size_t frames0 = coop::frame_stats().live_bytes;
  const auto t0 = Stopwatch::now();
  // snippet: task_spawn
  for (coop::TcpStream& conn : accepted)
    tasks.push_back(coop::create_task(serve(std::move(conn))));  // a frame each, no thread
  co_await coop::sleep(0ms);  // one loop turn: every task has run to its read_some and parked
  // end snippet
  c.start_seconds = elapsed_since(t0);
  co_await ctl.write_all(std::string_view("e"));  // one message on every connection
  c.echoed = co_await coop::wait_for(read_int(ctl), patience_for(n));
  c.during = usage_now();
  c.frame_bytes = static_cast<double>(coop::frame_stats().live_bytes - frames0);
  co_await ctl.write_all(std::string_view("q"));  // the client process hangs up
  for (coop::TaskHandle<void>& t : tasks) co_await t;  // each read_some returned 0: each task ended
  co_return c;
}

// A run on the loop whose figures are the point: real time, and no tracer (it would record
// several events per task, thousands of them, and its memory would count as the tasks').
// No slow-step warning either: starting 10,000 tasks in one step may take longer than its
// 100 ms on a busy machine, and here that is what is measured, not a mistake.
template <class T>
T run_untraced(Task<T> main) {
  return lesson::run(std::move(main), {.timeline = false, .real_time = true, .slow_step_warning = 0ms, .trace = false});
}

ServerCosts loop_costs(int n) {
  coop::TcpListener listener = coop::TcpListener::bind("127.0.0.1", 0);
  ClientProcess clients(listener.port(), n);
  // One deadline for all of it, so that a client process that died cannot hang the lesson.
  const auto deadline = kPatience + std::chrono::milliseconds(2 * n);
  ServerCosts c = run_untraced(coop::wait_for(hold_on_loop(std::move(listener), n), deadline));
  clients.wait();
  c.after = usage_now();
  check_echoes(c);
  return c;
}

// ---- step 4: reserved and touched --------------------------------------------------------------

// snippet: touch
void use_stack(std::size_t size) {  // what a deep call chain or a big local buffer does
  if (size == 0) return;
  auto* p = static_cast<volatile char*>(alloca(size));  // `size` bytes of this thread's stack
  for (std::size_t i = 0; i < size; i += 4096) p[i] = 1;   // a page's first write: now it's memory
}

void idle_thread(std::size_t stack_used, std::latch* ready, std::latch* go) {
  use_stack(stack_used);
  ready->count_down();
  go->wait();  // blocked, like a thread whose client is quiet
}
// end snippet

double resident_per_thread(int k, std::size_t stack_used) {
  std::latch ready(k), go(1);
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(k));
  const Usage before = usage_now();
  try {
    for (int i = 0; i < k; ++i) threads.emplace_back(idle_thread, stack_used, &ready, &go);
  } catch (...) {
    go.count_down();
    for (std::thread& t : threads) t.join();
    throw;
  }
  ready.wait();
  const Usage during = usage_now();
  go.count_down();
  for (std::thread& t : threads) t.join();
  return (during.vm_rss - before.vm_rss) / k;
}

// What a new std::thread gets. glibc can be asked for its default attributes; POSIX's fresh
// attributes carry the system's default stack size.
std::size_t default_thread_stack() {
  pthread_attr_t attr;
  std::size_t size = 0;
#if COOP_HAS_GLIBC
  const int got = pthread_getattr_default_np(&attr);
#else
  const int got = pthread_attr_init(&attr);
#endif
  if (got == 0) {
    pthread_attr_getstacksize(&attr, &size);
    pthread_attr_destroy(&attr);
  }
  return size;
}

// ---- step 5: switching ------------------------------------------------------------------------

// Context switches of the calling thread, counted by the kernel: voluntary (it blocked) and
// involuntary (it was preempted). POSIX counts them for the whole process only
// (RUSAGE_SELF): then threads_switch() reads the process's count around both players.
long context_switches() {
  rusage ru{};
#if COOP_HAS_RUSAGE_THREAD
  ::getrusage(RUSAGE_THREAD, &ru);
#else
  ::getrusage(RUSAGE_SELF, &ru);
#endif
  return ru.ru_nvcsw + ru.ru_nivcsw;
}

// Linux can pin a thread to one CPU; elsewhere the scheduler places the two players.
int current_cpu() {
#if COOP_HAS_CPU_AFFINITY
  return std::max(0, sched_getcpu());
#else
  return 0;
#endif
}

void pin_to([[maybe_unused]] int cpu) {
#if COOP_HAS_CPU_AFFINITY
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
#endif
}

// snippet: switch_threads
// Two threads on one CPU hand a byte back and forth: each read() blocks until the other's write().
void thread_player(int my_pipe, int their_pipe, int rounds, int cpu, long* switches) {
  pin_to(cpu);
  const long before = context_switches();
  char token = 0;
  for (int i = 0; i < rounds; ++i) {
    if (::read(my_pipe, &token, 1) != 1) break;      // wait for my turn: the kernel switches away
    if (::write(their_pipe, &token, 1) != 1) break;  // hand it over: the kernel wakes the other
  }
  *switches = context_switches() - before;
}
// end snippet

// snippet: switch_tasks
// Two tasks on one loop hand the turn back and forth through two Events.
Task<void> task_player(coop::Event& my_turn, coop::Event& their_turn, int rounds) {
  for (int i = 0; i < rounds; ++i) {
    co_await my_turn.wait();  // wait for my turn: back to the loop, which runs the other task
    my_turn.clear();
    their_turn.set();  // hand it over: the other task is ready, no system call involved
  }
}

Task<void> ping_pong(int rounds) {
  coop::Event a("a's turn"), b("b's turn");
  a.set();
  co_await coop::gather(task_player(a, b, rounds), task_player(b, a, rounds));
}
// end snippet

struct SwitchCost {
  double seconds = 0;
  long context_switches = 0;
};

SwitchCost threads_switch(int switches) {
  int ab[2], ba[2];
  if (::pipe(ab) != 0) throw os_error("pipe");
  if (::pipe(ba) != 0) {
    ::close(ab[0]);
    ::close(ab[1]);
    throw os_error("pipe");
  }
  Fd ab_r(ab[0]), ab_w(ab[1]), ba_r(ba[0]), ba_w(ba[1]);
  const int cpu = current_cpu();
  const long process_before = context_switches();
  long sa = 0, sb = 0;
  const int rounds = switches / 2;  // each round: a hands to b, b hands to a
  std::thread a(thread_player, ab_r.get(), ba_w.get(), rounds, cpu, &sa);
  std::thread b(thread_player, ba_r.get(), ab_w.get(), rounds, cpu, &sb);
  std::this_thread::sleep_for(10ms);  // both have started and wait in read()
  const auto t0 = Stopwatch::now();
  const char token = 't';
  const bool sent = ::write(ab_w.get(), &token, 1) == 1;  // a's first turn
  if (!sent) {
    ab_w = Fd();  // the players see end of file and stop
    ba_w = Fd();
  }
  a.join();
  b.join();
  if (!sent) throw os_error("write to a pipe");
  return {elapsed_since(t0), COOP_HAS_RUSAGE_THREAD ? sa + sb : context_switches() - process_before};
}

SwitchCost tasks_switch(int switches) {
  const long before = context_switches();
  const auto t0 = Stopwatch::now();
  run_untraced(ping_pong(switches / 2));
  return {elapsed_since(t0), context_switches() - before};
}

// ---- the limits --------------------------------------------------------------------------------

// Checked once the flags are parsed, so that a machine that cannot hold N connections says so in
// one line (exit 2) instead of failing half-way. This process holds one socket per connection
// (the client ends are in the child, which has as many), plus a few of its own.
// The connections the limits allow, at most `want`; `why` says which limit, if any, held it.
int allowed_connections(int want, std::string& why) {
  int n = want;
  const std::size_t limit = coop::raise_open_file_limit(static_cast<std::size_t>(want) + 32);
  if (limit < static_cast<std::size_t>(want) + 32) {
    n = std::min(n, static_cast<int>(limit) - 32);
    why = fmt::format("the open-files limit, ulimit -Hn, is {}", limit);
  }
  const long threads_max = proc_number("/proc/sys/kernel/threads-max");
  if (threads_max > 0 && n + 16 > threads_max) {
    n = static_cast<int>(threads_max) - 16;
    why = fmt::format("kernel.threads-max is {}", threads_max);
  }
  rlimit rl{};
  if (::geteuid() != 0 && ::getrlimit(RLIMIT_NPROC, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
      static_cast<rlim_t>(n) + 16 > rl.rlim_cur) {
    n = static_cast<int>(rl.rlim_cur) - 16;
    why = fmt::format("RLIMIT_NPROC (ulimit -u) is {}", static_cast<unsigned long long>(rl.rlim_cur));
  }
  return n < want ? round_down(std::max(n, 1)) : n;
}

void check_limits(int n) {
  const std::size_t files = static_cast<std::size_t>(n) + 32;
  const std::size_t limit = coop::raise_open_file_limit(files);
  if (limit < files)
    throw CLI::ValidationError(fmt::format(
        "--connections {} needs {} open files, but the hard limit (ulimit -Hn) allows {}; ask for fewer connections",
        n, files, limit));
  const long threads_max = proc_number("/proc/sys/kernel/threads-max");
  if (threads_max > 0 && n + 16 > threads_max)
    throw CLI::ValidationError(fmt::format("--connections {} needs {} threads, but kernel.threads-max is {}", n,
                                           n + 16, threads_max));
  rlimit rl{};
  if (::geteuid() != 0 && ::getrlimit(RLIMIT_NPROC, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
      static_cast<rlim_t>(n) + 16 > rl.rlim_cur)
    throw CLI::ValidationError(fmt::format("--connections {} needs {} threads, but RLIMIT_NPROC (ulimit -u) is {}", n,
                                           n + 16, static_cast<unsigned long long>(rl.rlim_cur)));
}

void print_costs_table(const ServerCosts& t, const ServerCosts& k) {
  const int w = 14;
  const auto row = [&](const char* label, const std::string& a, const std::string& b) {
    lesson::say("  {:<28}{}{}", label, cell(a, w), cell(b, w));
  };
  lesson::say("  {:<28}{:>{}}{:>{}}", "", "a thread each", w, "a task each", w);
  lesson::say("  per connection:");
  // A task's VmSize growth can be below its own frame (malloc reused address space it had
  // mapped already): then it is no cost per task, and the cell says so instead of a figure.
  const bool vm_size_says_nothing = k.per(&Usage::vm_size) < k.frame_bytes / k.n;
  row("  virtual memory (VmSize)", bytes(t.per(&Usage::vm_size)),
      vm_size_says_nothing ? std::string("—") : bytes(k.per(&Usage::vm_size)));
  row("  resident memory (VmRSS)", bytes(t.per(&Usage::vm_rss)), bytes(k.per(&Usage::vm_rss)));
  row("  time to start", seconds_text(t.start_seconds / t.n), seconds_text(k.start_seconds / k.n));
  lesson::say("  all {} connections:", conns_text());
  row("  virtual memory (VmSize)", bytes(t.total(&Usage::vm_size)), bytes(k.total(&Usage::vm_size)));
  row("  resident memory (VmRSS)", bytes(t.total(&Usage::vm_rss)), bytes(k.total(&Usage::vm_rss)));
  row("  time to start", seconds_text(t.start_seconds), seconds_text(k.start_seconds));
  row("  threads in the process", count_text(t.during.threads), count_text(k.during.threads));
  lesson::say("  (— : the tasks' VmSize grew less than their frames alone, as malloc reused address space it had "
              "mapped already)");
}

// What one task really costs: its frame and the loop's record of it, read as VmRSS growth;
// never less than the frame alone, which coop's frame allocator counts exactly (VmRSS can grow
// less than that when malloc reuses pages it had touched already).
struct TaskCost {
  double bytes;
  const char* how;
};
TaskCost task_cost(const ServerCosts& k) {
  const double frame = k.frame_bytes / k.n;
  const double rss = k.per(&Usage::vm_rss);
  if (!std::isnan(rss) && rss >= frame) return {rss, "VmRSS"};
  return {frame, "its frame alone, counted"};
}

}  // namespace

int main(int argc, char** argv) {
  lesson::Lesson l({2, "scaling_wall", "One thread per connection hits a wall; one loop holds thousands",
                    "The async/await model solves the memory and scheduler scaling wall of thread-per-connection "
                    "servers. One OS thread consumes roughly one megabyte of stack space; ten thousand threads "
                    "consume ten gigabytes before a single byte of application data is stored. A single-threaded "
                    "event loop manages thousands of concurrent in-flight I/O operations by keeping coroutines "
                    "suspended at their await points rather than blocking OS threads."});
  CLI::Option* connections =
      l.flags()
          .add_option("--connections", g_conns.n,
                      "Idle connections to hold, each way (1 to 10,000; default: the lecture's 10,000, or as many as "
                      "this machine allows)")
          ->check(CLI::Range(1, 10000))
          ->type_name("N");
  l.flags().final_callback([connections] {
    g_conns.asked = connections->count() > 0;
    if (g_conns.asked) {
      check_limits(g_conns.n);
      return;
    }
    std::string why;
    g_conns.n = allowed_connections(kLecture, why);
    if (g_conns.n < kLecture) g_conns.reduced = why;
  });

  l.step("One thread per connection, each blocked in recv()",
         "The classic server: accept a connection, start a thread for it, and let the thread\n"
         "block in recv() until its client speaks. A child process opens the connections\n"
         "(--connections N) and sends one message on each; this process holds the server ends.\n"
         "/proc/self/status says what the threads cost: VmSize is address space mapped (reserved),\n"
         "VmRSS is memory in use, Threads is how many there are.",
         {"thread_server", "thread_spawn"}, [] {
           const ServerCosts& c = thread_costs();
           const int n = g_conns.n;
           lesson::say("memory and threads read from {}", lesson::measured(kUsageSource));
           lesson::say("started {} threads in {} ({} each); each echoed its message: {} of {}", conns_text(),
                       lesson::measured(seconds_text(c.start_seconds)),
                       lesson::measured(seconds_text(c.start_seconds / n)), lesson::measured(grouped(c.echoed)),
                       conns_text());
           lesson::say("Threads    {} before, {} with the connections open, {} after joining them",
                       lesson::measured(count_text(c.before.threads)), lesson::measured(count_text(c.during.threads)),
                       lesson::measured(count_text(c.after.threads)));
           lesson::say("VmSize     +{} ({} per thread)", lesson::measured(bytes(c.total(&Usage::vm_size))),
                       lesson::measured(bytes(c.per(&Usage::vm_size))));
           lesson::say("VmRSS      +{} ({} per thread)", lesson::measured(bytes(c.total(&Usage::vm_rss))),
                       lesson::measured(bytes(c.per(&Usage::vm_rss))));
           lesson::say("after joining: VmSize {}, VmRSS {} over before the threads (what glibc keeps for the next "
                       "threads: freed stacks, malloc arenas)",
                       lesson::measured(mib_change(c.after.vm_size - c.before.vm_size)),
                       lesson::measured(mib_change(c.after.vm_rss - c.before.vm_rss)));
           lesson::conclude("the lecture's arithmetic: 10,000 threads × 1 MB = {} before any application data",
                            lesson::figure("10 GB"));
           lesson::conclude("{}: {} of address space reserved, but only {} resident (step 4 says why)",
                            lecture_basis(), lesson::measured(bytes(c.per(&Usage::vm_size) * kLecture)),
                            lesson::measured(bytes(c.per(&Usage::vm_rss) * kLecture)));
         });
  l.on_real_clock("real threads");

  l.step("One loop, five connections: each task waits at its read",
         "The same server on one thread. main is the accept loop; each connection gets a task\n"
         "that co_awaits read_some. While its client is quiet, the task is a suspended frame\n"
         "parked in the loop's poller (epoll), not a thread asleep in the kernel. Five clients\n"
         "on the same loop speak after different pauses: the server tasks are served in the\n"
         "order their data arrives, and the timeline shows them waiting (─) and running (█).",
         {"task_server", "five"}, [] {
           lesson::run(five_connections(), {.title = "five connections, one thread", .real_time = true});
           std::chrono::nanoseconds waiting{0}, running{0};
           coop::Clock::duration wall{0};
           std::map<std::uint64_t, coop::Clock::duration> since;  // task -> when its wait or step began
           for (const coop::TraceEvent& e : lesson::last_trace()) {
             wall = std::max(wall, e.at);
             if (e.task_name.rfind("server", 0) != 0) continue;
             if (e.kind == coop::TraceEvent::Kind::step_began || e.kind == coop::TraceEvent::Kind::suspended)
               since[e.task] = e.at;
             else if (e.kind == coop::TraceEvent::Kind::step_ended)
               running += e.at - since[e.task];
             else if (e.kind == coop::TraceEvent::Kind::woken)
               waiting += e.at - since[e.task];
           }
           lesson::conclude("the 5 server tasks spent {} waiting at read_some between them (their waits overlapped) "
                            "and {} running, in a run of {}",
                            lesson::measured(seconds_text(std::chrono::duration<double>(waiting).count())),
                            lesson::measured(seconds_text(std::chrono::duration<double>(running).count())),
                            lesson::measured(seconds_text(std::chrono::duration<double>(wall).count())));
           lesson::conclude("waiting costs a task no thread: threads in this process with the 5 connections open: {}",
                            lesson::measured(count_text(five_threads)));
         });
  l.on_real_clock("real sockets");

  l.step("One loop, N connections: side by side with the threads",
         "The same N connections from a child process, now served by one task each on one\n"
         "loop, measured the same way: after every handler has started and echoed one message.\n"
         "A suspended task is its coroutine frame (the locals that live across co_await,\n"
         "here a 256-byte buffer and the socket) and the loop's record of the task. For objects\n"
         "this small, read VmRSS: malloc hands out address space it had mapped already.",
         {"task_spawn"}, [] {
           const ServerCosts& t = thread_costs();  // first: it may find that fewer fit
           const int n = g_conns.n;
           const ServerCosts k = loop_costs(n);
           lesson::say("started {} tasks in {}; each echoed its message: {} of {}", conns_text(),
                       lesson::measured(seconds_text(k.start_seconds)), lesson::measured(grouped(k.echoed)),
                       conns_text());
           lesson::say("coroutine frames alive meanwhile: {} ({} per task, counted by coop's frame allocator)",
                       lesson::measured(bytes(k.frame_bytes)), lesson::measured(bytes(k.frame_bytes / n)));
           lesson::say("after the run: threads {}; VmRSS {} over before the tasks (coop's frame pool keeps its "
                       "blocks for the next tasks)",
                       lesson::measured(count_text(k.after.threads)),
                       lesson::measured(mib_change(k.after.vm_rss - k.before.vm_rss)));
           lesson::say("side by side, from /proc/self/status:");
           print_costs_table(t, k);
           const TaskCost task = task_cost(k);
           lesson::conclude("address space per connection: a thread reserves {}, a task costs {} ({}; its frame {}): {} less "
                            "(a reservation, mostly never touched; resident memory, like for like, is the next line)",
                            lesson::measured(bytes(t.per(&Usage::vm_size))), lesson::measured(bytes(task.bytes)),
                            lesson::measured(task.how), lesson::measured(bytes(k.frame_bytes / n)),
                            lesson::measured(ratio(t.per(&Usage::vm_size), task.bytes)));
           lesson::conclude("resident memory per connection: a thread {}, a task {}: {} less",
                            lesson::measured(bytes(t.per(&Usage::vm_rss))),
                            lesson::measured(bytes(k.per(&Usage::vm_rss))),
                            lesson::measured(ratio(t.per(&Usage::vm_rss), k.per(&Usage::vm_rss))));
           lesson::conclude("starting one: a thread {}, a task {}: {} faster",
                            lesson::measured(seconds_text(t.start_seconds / n)),
                            lesson::measured(seconds_text(k.start_seconds / n)),
                            lesson::measured(ratio(t.start_seconds, k.start_seconds)));
           lesson::conclude("{} connections in flight; threads in the process: {} with a task each, {} with a "
                            "thread each",
                            conns_text(), lesson::measured(count_text(k.during.threads)),
                            lesson::measured(count_text(t.during.threads)));
         });
  l.on_real_clock("real sockets");

  l.step("The lecture's 10 GB: reserved address space, touched pages",
         "The lecture's 1 MB is the default thread stack on Windows and in Java; glibc on Linux\n"
         "reserves `ulimit -s` for each thread, usually 8 MiB. A reservation is address space\n"
         "(VmSize): the kernel backs a page of it with memory only when the thread first writes\n"
         "to it (VmRSS), and keeps it until the thread ends. Below, 100 threads at a time write\n"
         "0, 64 KiB or 1 MiB of their stack, then block.",
         {"touch"}, [] {
           const ServerCosts& t = thread_costs();
           const int n = g_conns.n;
           const std::size_t stack = default_thread_stack();
           rlimit rl{};
           ::getrlimit(RLIMIT_STACK, &rl);
           const std::string ulimit_s =
               rl.rlim_cur == RLIM_INFINITY ? std::string("unlimited") : bytes(static_cast<double>(rl.rlim_cur));
           lesson::say("default thread stack {} (ulimit -s: {}); × {} threads = {} reserved",
                       lesson::measured(bytes(static_cast<double>(stack))), lesson::measured(ulimit_s), conns_text(),
                       lesson::measured(bytes(static_cast<double>(stack) * n)));
           const double ram = static_cast<double>(::sysconf(_SC_PHYS_PAGES)) * static_cast<double>(::sysconf(_SC_PAGESIZE));
           lesson::say("this machine has {} of RAM; vm.overcommit_memory = {} (0: reserve freely, back lazily)",
                       lesson::measured(bytes(ram)),
                       lesson::measured(count_text(proc_number("/proc/sys/vm/overcommit_memory"))));
           lesson::say("{} threads at a time, each writing to its stack and then blocking:", kTouchThreads);
           lesson::say("  {:<28}{:>16}", "stack written per thread", "VmRSS per thread");
           double rss_deep = 0;  // the last row: VmRSS per thread that went 1 MiB deep
           for (const std::size_t used : {std::size_t{0}, std::size_t{64} << 10, std::size_t{1} << 20}) {
             const double rss = resident_per_thread(kTouchThreads, used);
             rss_deep = rss;
             const std::string label = used == 0 ? "nothing (just blocks)" : bytes(static_cast<double>(used));
             lesson::say("  {:<28}{}", label, cell(bytes(rss), 16));
           }
           lesson::conclude("lecture: 10,000 threads × 1 MB = {}; {}: reserved {} (VmSize, step 1), resident {} "
                            "(VmRSS)",
                            lesson::figure("10 GB"), lecture_basis(),
                            lesson::measured(bytes(t.per(&Usage::vm_size) * kLecture)),
                            lesson::measured(bytes(t.per(&Usage::vm_rss) * kLecture)));
           lesson::conclude("an idle thread is resident only for the few pages it touched: {} each in step 1",
                            lesson::measured(bytes(t.per(&Usage::vm_rss))));
           lesson::conclude("the kernel adds a stack of its own per thread, outside VmRSS: KernelStack grew {} "
                            "({} each)",
                            lesson::measured(bytes(t.total(&Usage::kernel_stack))),
                            lesson::measured(bytes(t.per(&Usage::kernel_stack))));
           lesson::conclude("a thread that once went 1 MiB deep still holds {} while it blocks, after the deep call "
                            "returned: the lecture's megabyte is what busy threads cost, and the reservation caps how "
                            "deep any of them may go",
                            lesson::measured(bytes(rss_deep)));
         });
  l.on_real_clock("real threads");

  l.step("Switching: threads through the kernel, tasks through the loop",
         "With a thread per connection, each message wakes one thread and puts another to\n"
         "sleep: a context switch, made by the kernel's scheduler. Two threads pinned to one\n"
         "CPU hand a byte back and forth through pipes; then two tasks hand the turn back and\n"
         "forth through coop::Event on one thread: a return to the loop and a resume.",
         {"switch_threads", "switch_tasks"}, [] {
           const SwitchCost th = threads_switch(kSwitches);
           const SwitchCost tk = tasks_switch(kSwitches);
           const double th_ns = th.seconds * 1e9 / kSwitches, tk_ns = tk.seconds * 1e9 / kSwitches;
           lesson::say("threads: {} hand-offs in {}: {} each; context switches counted by the kernel: {}",
                       grouped(kSwitches), lesson::measured(seconds_text(th.seconds)),
                       lesson::measured("{:.0f} ns", th_ns), lesson::measured(grouped(th.context_switches)));
           lesson::say("tasks:   {} hand-offs in {}: {} each; context switches of the loop's thread:  {}",
                       grouped(kSwitches), lesson::measured(seconds_text(tk.seconds)),
                       lesson::measured("{:.0f} ns", tk_ns), lesson::measured(grouped(tk.context_switches)));
           lesson::conclude("a task switch costs {} of a thread switch ({} cheaper): no system call, no scheduler, "
                            "no second stack",
                            lesson::measured("1/{:.0f}", tk_ns > 0 ? th_ns / tk_ns : 0.0),
                            lesson::measured(ratio(th_ns, tk_ns)));
         });
  l.on_real_clock("real threads");

  l.wrap_up(
      "A thread per connection reserved a full stack each (VmSize) and was resident for the\n"
      "pages it touched (VmRSS), plus a kernel stack; a task per connection cost its frame and\n"
      "the loop's record of it, one thread for all of them. The lecture's 'about a megabyte'\n"
      "is the reservation's order of magnitude and what a thread costs once its stack has been\n"
      "used; idle, it costs a few pages, still many times a task, and every message means a\n"
      "kernel context switch, not a resume. Next: lesson 03, gather, many awaits at once.");
  return l.main(argc, argv);
}
