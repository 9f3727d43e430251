// core.cpp — what coop's core operations cost: a task, a switch, a parked task, a timer.
//
// Eight workloads, each printed as one line per figure (bench/README.md says what each one
// measures, how, and why the comparison with asyncio is fair):
//
//   spawn      spawn + complete + gather of 100,000 trivial tasks       ns per task
//   pingpong   two tasks handing the turn back and forth through Events  ns per switch
//   suspended  100,000 tasks parked on one Event at once                 bytes per task
//   timers     1,000,000 timers set and fired                            s total, ns per timer
//   sleeping   1,000,000 tasks sleeping 100 ms concurrently              s, peak MB
//   echo100    a TCP echo server on loopback, 100 connections            requests/s, bytes per connection
//   echo10k    the same with 10,000 connections                          requests/s, bytes per connection
//   to_thread  to_thread / run_in_executor of a trivial function         µs per call
//
// Timed workloads run once to warm up (frame pool, malloc, caches), then --repeat times;
// the median is reported. Memory workloads run in a fresh process each time (this program
// re-executed), so memory freed by earlier work cannot hide the growth they measure.
//
// Coroutines here are free functions taking their arguments as parameters: a lambda
// coroutine's captures live in the closure, which is often a temporary that dies at the
// first suspension.
#include <CLI/CLI.hpp>
#include <coop/coop.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coop/platform.hpp"

extern char** environ;

namespace {

using namespace std::chrono_literals;
using coop::Event;
using coop::RunOptions;
using coop::Task;
using Stopwatch = std::chrono::steady_clock;

// ---- How this binary was built ------------------------------------------------------------

#if defined(__OPTIMIZE__)
constexpr bool kOptimized = true;
#else
constexpr bool kOptimized = false;
#endif

#if !defined(COOP_BENCH_BUILD_TYPE)
#define COOP_BENCH_BUILD_TYPE ""
#endif
#if !defined(COOP_BENCH_SANITIZE)
#define COOP_BENCH_SANITIZE ""
#endif

// The sanitizers compiled in, or "" for none.
std::string sanitizers() {
  std::string s = COOP_BENCH_SANITIZE;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  if (s.empty()) s = "address or thread";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
  if (s.empty()) s = "yes";
#endif
#endif
  return s;
}

std::string compiler() {
#if defined(__clang__)
  return fmt::format("clang {}.{}.{}", __clang_major__, __clang_minor__, __clang_patchlevel__);
#elif defined(__GNUC__)
  return fmt::format("gcc {}.{}.{}", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__);
#else
  return "unknown compiler";
#endif
}

// ---- Reading our own memory use (Linux) -------------------------------------------------
//
// Linux's /proc says what is resident now. Without /proc (a Mac, the portable build) the
// one POSIX reading is the peak, getrusage's ru_maxrss: every figure below is then that
// peak, so a growth is counted only where it raised the peak. The published figures
// (bench/README.md) are Linux's.

// The most memory this process has had resident, in bytes.
double peak_resident() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
#if defined(__APPLE__)
  return static_cast<double>(ru.ru_maxrss);  // bytes on macOS
#else
  return static_cast<double>(ru.ru_maxrss) * 1024.0;  // KiB elsewhere
#endif
}

// A "Name:   1234 kB" field of /proc/self/status, in bytes; nullopt if absent (or no /proc).
std::optional<double> status_bytes(const char* field) {
  if (!COOP_HAS_PROC_FS) return std::nullopt;
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::size_t len = std::strlen(field);
  while (std::getline(in, line)) {
    if (line.compare(0, len, field) == 0 && line.size() > len && line[len] == ':')
      return std::strtod(line.c_str() + len + 1, nullptr) * 1024.0;
  }
  return std::nullopt;
}

// Anonymous resident memory (heap, stacks): what frames and task records occupy. Falls back
// to all resident memory on kernels without RssAnon.
double rss_anon() {
  if (auto v = status_bytes("RssAnon")) return *v;
  if (auto v = status_bytes("VmRSS")) return *v;
  if (!COOP_HAS_PROC_FS) return peak_resident();
  throw std::runtime_error("cannot read resident memory from /proc/self/status");
}

double rss_total() {
  if (auto v = status_bytes("VmRSS")) return *v;
  if (!COOP_HAS_PROC_FS) return peak_resident();
  throw std::runtime_error("cannot read VmRSS from /proc/self/status");
}

double rss_peak() {
  if (auto v = status_bytes("VmHWM")) return *v;
  if (!COOP_HAS_PROC_FS) return peak_resident();
  throw std::runtime_error("cannot read VmHWM from /proc/self/status");
}

double seconds_since(Stopwatch::time_point t0) {
  return std::chrono::duration<double>(Stopwatch::now() - t0).count();
}

// Times a run that never idles, and notes how much of a CPU the process got meanwhile: on a
// busy machine (other processes competing for the cores) wall time is inflated, and the
// figure says so instead of passing off the noise as coop's cost.
double g_cpu_share = 1.0;  // the lowest CPU share seen since reset_cpu_share()

void reset_cpu_share() { g_cpu_share = 1.0; }

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

class Timing {
 public:
  // Wall seconds since construction.
  double stop() {
    const double wall = seconds_since(wall0_);
    const double cpu = process_cpu_seconds() - cpu0_;
    if (wall > 0) g_cpu_share = std::min(g_cpu_share, cpu / wall);
    return wall;
  }

 private:
  Stopwatch::time_point wall0_ = Stopwatch::now();
  double cpu0_ = process_cpu_seconds();
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 == 1 ? v[m] : (v[m - 1] + v[m]) / 2.0;
}

// ---- Sizes and settings ----------------------------------------------------------------

struct Settings {
  std::int64_t spawn_tasks = 100'000;
  std::int64_t switches = 1'000'000;
  std::int64_t suspended_tasks = 100'000;
  std::int64_t timer_tasks = 1'000;      // tasks taking turns at the timers
  std::int64_t timers = 1'000'000;       // in all, timer_tasks x (timers / timer_tasks)
  std::int64_t sleeping_tasks = 1'000'000;
  std::chrono::milliseconds sleep_for = 100ms;
  std::int64_t echo_few = 100;           // connections of echo100
  std::int64_t echo_many = 10'000;       // and of echo10k
  double echo_seconds = 3.0;             // the timed window of each echo run
  double echo_warmup = 1.0;              // the unmeasured load before it
  std::int64_t thread_calls = 20'000;    // to_thread round trips per run
  int repeat_light = 5;  // repetitions of the cheap workloads
  int repeat_heavy = 3;  // and of the million-task and echo ones
  bool quick = false;

  void make_quick() {
    quick = true;
    spawn_tasks /= 10;
    switches /= 10;
    suspended_tasks /= 10;
    timer_tasks /= 10;
    timers /= 10;
    sleeping_tasks /= 10;
    echo_many /= 10;
    echo_seconds = 1.0;
    echo_warmup = 0.25;
    thread_calls /= 10;
    repeat_light = repeat_heavy = 1;
  }
};

// Diagnostics are collected, not printed from inside a timed run, and shown after it.
struct DiagnosticSink {
  std::size_t count = 0;
  std::vector<std::string> first;  // the first few messages
};

RunOptions make_options(DiagnosticSink& sink, bool slow_step_check) {
  RunOptions o;  // real time, default slow-step warning: as a program would run
  if (!slow_step_check) o.slow_step_warning = 0ms;
  o.on_diagnostic = [&sink](const coop::Diagnostic& d) {
    if (sink.count++ < 3) sink.first.push_back(d.message);
  };
  return o;
}

void report_diagnostics(const char* workload, const DiagnosticSink& sink) {
  if (sink.count == 0) return;
  fmt::print(stderr, "coop_bench: note: {}: the loop gave {} diagnostic(s){}\n", workload, sink.count,
             sink.count > sink.first.size() ? ", the first:" : ":");
  for (const std::string& m : sink.first) fmt::print(stderr, "  {}\n", m);
}

// ---- 1. spawn + complete + gather ------------------------------------------------------
// gather(vector of 100k Task<int>) of coroutines that return at once: per task, one frame
// allocated, one task record, one loop step, one completion reported to gather, one result
// moved out. Timed around run(), so it includes making the Tasks and the loop itself.

Task<int> trivial(int i) { co_return i; }

Task<std::int64_t> spawn_gather_main(std::int64_t n) {
  std::vector<Task<int>> tasks;
  tasks.reserve(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) tasks.push_back(trivial(static_cast<int>(i)));
  std::vector<int> results = co_await coop::gather(std::move(tasks));
  std::int64_t sum = 0;
  for (int r : results) sum += r;
  co_return sum;
}

// Nanoseconds per task of one run.
double spawn_once(std::int64_t n, bool slow_step_check) {
  DiagnosticSink sink;
  Timing timing;
  std::int64_t sum = coop::run(spawn_gather_main(n), make_options(sink, slow_step_check));
  double s = timing.stop();
  if (sum != n * (n - 1) / 2) throw std::runtime_error("spawn+gather: wrong results");
  report_diagnostics("spawn+gather", sink);
  return s * 1e9 / static_cast<double>(n);
}

// ---- 2. ping-pong through Events -------------------------------------------------------
// Two tasks take turns: each waits for its Event, lowers it, raises the other's. Every turn
// is one switch: the running task parks on its Event, goes back to the loop, and the loop
// resumes the other task.

Task<void> player(Event& my_turn, Event& their_turn, std::int64_t rounds) {
  for (std::int64_t i = 0; i < rounds; ++i) {
    co_await my_turn.wait();
    my_turn.clear();
    their_turn.set();
  }
}

Task<void> pingpong_main(std::int64_t rounds) {
  Event ping("ping");
  Event pong("pong");
  ping.set();  // the first player starts
  co_await coop::gather(player(ping, pong, rounds), player(pong, ping, rounds));
}

// Nanoseconds per switch of one run (two switches per round).
double pingpong_once(std::int64_t switches, bool slow_step_check) {
  DiagnosticSink sink;
  const std::int64_t rounds = switches / 2;
  Timing timing;
  coop::run(pingpong_main(rounds), make_options(sink, slow_step_check));
  double s = timing.stop();
  report_diagnostics("pingpong", sink);
  return s * 1e9 / static_cast<double>(2 * rounds);
}

// ---- 3. many suspended tasks (in a fresh process) --------------------------------------
// n tasks created with create_task (handles dropped: the loop owns them) each park on the
// same Event. Once all are parked, resident memory has grown by n x (frame + task record):
// that is what a waiting task costs. Then the Event is set and all of them finish.

Task<void> parked(Event& go, std::int64_t& remaining) {
  co_await go.wait();
  --remaining;
}

struct SuspendedResult {
  double rss_per_task = 0;    // resident memory growth / n
  double frame_per_task = 0;  // coroutine frame bytes (frame_stats) / n
  double frames_per_task = 0; // frames / n: 1 if the count is right
};

Task<SuspendedResult> suspended_main(std::int64_t n) {
  Event go("go");
  std::int64_t remaining = n;
  const double rss0 = rss_anon();
  const coop::FrameStats f0 = coop::frame_stats();
  for (std::int64_t i = 0; i < n; ++i) (void)coop::create_task(parked(go, remaining));
  co_await coop::sleep(0ns);  // one loop turn: every task has run to its wait() and parked
  const double rss1 = rss_anon();
  const coop::FrameStats f1 = coop::frame_stats();
  go.set();
  while (remaining > 0) co_await coop::sleep(0ns);
  const double dn = static_cast<double>(n);
  co_return SuspendedResult{(rss1 - rss0) / dn, static_cast<double>(f1.live_bytes - f0.live_bytes) / dn,
                            static_cast<double>(f1.live_frames - f0.live_frames) / dn};
}

// In the child process: prints "key=value" pairs on one line.
int child_suspended(std::int64_t n) {
  DiagnosticSink sink;
  SuspendedResult r = coop::run(suspended_main(n), make_options(sink, true));
  report_diagnostics("suspended", sink);
  fmt::print("rss_per_task={} frame_per_task={} frames_per_task={} record={}\n", r.rss_per_task, r.frame_per_task,
             r.frames_per_task, coop::task_record_size<void>);
  return 0;
}

// ---- 4. timers set and fired ------------------------------------------------------------
// 1,000 tasks each sleep 1,000 times for 1 ns: a million timers, each pushed on the loop's
// heap (with up to 1,000 others pending), found due, popped, and its task woken and
// resumed. 1 ns deadlines are due by the time the loop looks, so the loop never sleeps in
// the kernel: this measures the runtime's timer path, not the OS's sleep granularity.

Task<void> sleeper(std::int64_t count) {
  for (std::int64_t i = 0; i < count; ++i) co_await coop::sleep(1ns);
}

Task<void> timers_main(std::int64_t tasks, std::int64_t per_task) {
  std::vector<Task<void>> sleepers;
  sleepers.reserve(static_cast<std::size_t>(tasks));
  for (std::int64_t i = 0; i < tasks; ++i) sleepers.push_back(sleeper(per_task));
  co_await coop::gather(std::move(sleepers));
}

// Seconds for one run.
double timers_once(std::int64_t tasks, std::int64_t per_task, bool slow_step_check) {
  DiagnosticSink sink;
  Timing timing;
  coop::run(timers_main(tasks, per_task), make_options(sink, slow_step_check));
  double s = timing.stop();
  report_diagnostics("timers", sink);
  return s;
}

// ---- 5. a million concurrently sleeping tasks (in a fresh process) ----------------------
// asyncio.gather(*(asyncio.sleep(0.1) for _ in range(1_000_000))), in coop: gather a
// million Tasks that each sleep 100 ms. Time from before run() to its return; peak memory
// is the growth of the high-water mark of resident memory (VmHWM).

Task<void> nap(coop::Clock::duration d) { co_await coop::sleep(d); }

Task<void> sleeping_main(std::int64_t n, coop::Clock::duration d) {
  std::vector<Task<void>> naps;
  naps.reserve(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) naps.push_back(nap(d));
  co_await coop::gather(std::move(naps));
}

int child_sleeping(std::int64_t n, std::chrono::milliseconds d) {
  DiagnosticSink sink;
  const double rss0 = rss_total();
  auto t0 = Stopwatch::now();
  coop::run(sleeping_main(n, d), make_options(sink, true));
  const double cold = seconds_since(t0);
  const double peak = rss_peak() - rss0;
  const double frame_peak = static_cast<double>(coop::frame_stats().peak_bytes);
  // Again in the same process: memory is now recycled, not faulted in fresh.
  t0 = Stopwatch::now();
  coop::run(sleeping_main(n, d), make_options(sink, true));
  const double warm = seconds_since(t0);
  report_diagnostics("sleeping", sink);
  fmt::print("cold_s={} warm_s={} peak_bytes={} frame_peak_bytes={}\n", cold, warm, peak, frame_peak);
  return 0;
}

// ---- 6. an echo server on loopback (in a fresh process, against echo_client) -------------
// The server is coop's, as a user would write it: one task accepts, and each connection is
// a task that reads what has arrived into its own 1 KiB buffer and writes it back. The
// client is echo_client (echo_client.cpp), a separate program run as a child process, so
// the same client can be pointed at any other server. This process serves on one loop in
// its main thread; the client runs beside it, on the same cores.
//
// While the client runs, a sampler task reads VmRSS every 50 ms and keeps the highest value
// seen with all N connections open; memory per connection is that minus VmRSS just before
// the client started, over N. The client's result line comes back through a pipe, read on
// the loop's default thread pool (to_thread), so the loop serves while it waits.

constexpr std::size_t kEchoBuffer = 1024;  // per connection, as in Boost.Asio's echo example

struct EchoServerState {
  std::size_t want = 0;        // connections the client opens
  std::size_t open = 0;        // connections being served now
  std::string accept_failure;  // why accepting stopped, if it did
  // Sampled while all `want` connections are open:
  double rss_all_open = 0;     // the highest VmRSS
  std::size_t frames_all_open = 0;  // frame_stats live bytes then
  double wall0 = -1, cpu0 = 0, wall1 = 0, cpu1 = 0;  // first and last sample: this process's CPU share
};

// One connection: echo until the client closes. A reset is an ordinary end here (the
// client closes with an echo unread at the end of its run); correctness is the client's
// to check, byte for byte.
Task<void> echo_connection(coop::TcpStream s, EchoServerState& st) {
  ++st.open;
  std::array<std::byte, kEchoBuffer> buffer;
  try {
    for (;;) {
      const std::size_t n = co_await s.read_some(buffer);
      if (n == 0) break;
      co_await s.write_all(std::span<const std::byte>(buffer.data(), n));
    }
  } catch (const std::system_error&) {
  }
  --st.open;
}

Task<void> echo_acceptor(coop::TcpListener& listener, EchoServerState& st) {
  try {
    for (;;) {
      coop::TcpStream s = co_await listener.accept();
      (void)coop::create_task(echo_connection(std::move(s), st));
    }
  } catch (const std::system_error& e) {
    // Out of descriptors, say. Closing the listener resets the connections still queued
    // and refuses new ones, so the client stops at once and reports errors.
    st.accept_failure = e.what();
  }
  listener.close();
}

Task<void> echo_sampler(EchoServerState& st) {
  for (;;) {
    co_await coop::sleep(50ms);
    if (st.open != st.want) continue;
    const double wall = std::chrono::duration<double>(Stopwatch::now().time_since_epoch()).count();
    const double cpu = process_cpu_seconds();
    if (st.wall0 < 0) {
      st.wall0 = wall;
      st.cpu0 = cpu;
    }
    st.wall1 = wall;
    st.cpu1 = cpu;
    if (const double rss = rss_total(); rss > st.rss_all_open) {
      st.rss_all_open = rss;
      st.frames_all_open = coop::frame_stats().live_bytes;
    }
  }
}

// This program's path, for running it again (run_child) and finding echo_client beside it:
// /proc/self/exe on Linux; elsewhere argv[0] as main() found it, made absolute (make,
// compare.py and load_test.py run coop_bench by its path).
std::string g_argv0;
std::string own_path() {
#if COOP_HAS_PROC_FS
  std::vector<char> path(4096);
  const ssize_t n = ::readlink("/proc/self/exe", path.data(), path.size() - 1);
  if (n <= 0) throw std::runtime_error("cannot read /proc/self/exe");
  return std::string(path.data(), static_cast<std::size_t>(n));
#else
  if (g_argv0.find('/') == std::string::npos)
    throw std::runtime_error("run coop_bench by its path (e.g. build-bench/bench/coop_bench), not from $PATH");
  if (g_argv0.front() == '/') return g_argv0;
  std::vector<char> cwd(4096);
  if (::getcwd(cwd.data(), cwd.size()) == nullptr) throw std::system_error(errno, std::generic_category(), "getcwd");
  return std::string(cwd.data()) + "/" + g_argv0;
#endif
}

// The directory this program is in: echo_client is built beside it.
std::string own_directory() {
  const std::string p = own_path();
  return p.substr(0, p.find_last_of('/'));
}

struct Spawned {
  pid_t pid = -1;
  int out = -1;  // the read end of its stdout
};

// Starts `argv[0]` with stdout into a pipe (posix_spawn: safe in a process with threads).
Spawned spawn_with_pipe(const std::vector<std::string>& args) {
  int fds[2];
#if COOP_HAS_PIPE2
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
#else
  if (::pipe(fds) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
  for (int fd : fds) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
#endif
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);  // dup2 clears CLOEXEC
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, args[0].c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    throw std::system_error(rc, std::generic_category(), "cannot start " + args[0]);
  }
  return {pid, fds[0]};
}

struct ChildOutput {
  std::string out;
  int status = 0;
};

// Blocking: reads the child's stdout to the end and reaps it. Runs on a pool thread.
ChildOutput collect(pid_t pid, int fd) {
  ChildOutput r;
  char buf[512];
  for (ssize_t k; (k = ::read(fd, buf, sizeof buf)) != 0;) {
    if (k < 0) {
      if (errno == EINTR) continue;
      break;
    }
    r.out.append(buf, static_cast<std::size_t>(k));
  }
  ::close(fd);
  ::waitpid(pid, &r.status, 0);
  return r;
}

// A number field of a one-line JSON object (the client's result), or nullopt.
std::optional<double> json_number(const std::string& json, const std::string& key) {
  const std::string k = "\"" + key + "\":";
  const std::size_t at = json.find(k);
  if (at == std::string::npos) return std::nullopt;
  return std::strtod(json.c_str() + at + k.size(), nullptr);
}

int identity(int x) { return x; }

Task<std::string> echo_server_main(std::int64_t n, double seconds, double warmup) {
  coop::TcpListener listener = coop::TcpListener::bind("127.0.0.1", 0);
  EchoServerState st;
  st.want = static_cast<std::size_t>(n);
  (void)co_await coop::to_thread(identity, 0);  // the default pool exists before the baseline
  coop::TaskHandle<void> acceptor = coop::create_task(echo_acceptor(listener, st), "acceptor");
  coop::TaskHandle<void> sampler = coop::create_task(echo_sampler(st), "sampler");
  co_await coop::sleep(0ns);  // both have started and parked
  const double rss0 = rss_total();
  const std::size_t frames0 = coop::frame_stats().live_bytes;

  const std::string client = own_directory() + "/echo_client";
  if (::access(client.c_str(), X_OK) != 0)
    throw std::runtime_error(client + " is missing: build the echo_client target (make bench builds it)");
  const Spawned c = spawn_with_pipe({client, "--port", std::to_string(listener.port()), "--connections",
                                     std::to_string(n), "--seconds", fmt::format("{}", seconds), "--warmup",
                                     fmt::format("{}", warmup), "--size", "64"});
  const ChildOutput out = co_await coop::to_thread(collect, c.pid, c.out);
  acceptor.cancel();
  sampler.cancel();

  std::string line = out.out.substr(0, out.out.find('\n'));
  if (!WIFEXITED(out.status) || WEXITSTATUS(out.status) != 0 || !json_number(line, "rps"))
    throw std::runtime_error(fmt::format("echo_client failed (status {}){}{}: {}", out.status,
                                         st.accept_failure.empty() ? "" : "; the server stopped accepting: ",
                                         st.accept_failure, line.empty() ? "(no output)" : line));
  if (st.wall0 < 0) throw std::runtime_error("echo: the server never had all connections open at once");
  const double dn = static_cast<double>(n);
  const double server_cpu = st.wall1 > st.wall0 ? (st.cpu1 - st.cpu0) / (st.wall1 - st.wall0) : 0.0;
  co_return fmt::format("rps={} requests={} seconds={} client_cpu={} server_cpu={} rss_per_conn={} frame_per_conn={}\n",
                        *json_number(line, "rps"), json_number(line, "requests").value_or(0),
                        json_number(line, "seconds").value_or(0), json_number(line, "cpu").value_or(0), server_cpu,
                        (st.rss_all_open - rss0) / dn,
                        static_cast<double>(st.frames_all_open - frames0) / dn);
}

int child_echo(std::int64_t n, double seconds, double warmup) {
  coop::raise_open_file_limit(static_cast<std::size_t>(2 * n + 100));
  DiagnosticSink sink;
  const std::string result = coop::run(echo_server_main(n, seconds, warmup), make_options(sink, true));
  report_diagnostics("echo", sink);
  fmt::print("{}", result);
  return 0;
}

// ---- 7. to_thread round trips ----------------------------------------------------------
// One task awaits a trivial function on a thread pool n times in a row: each call is a job
// queued, a pool thread woken, the function run, the job handed back, the loop woken (an
// eventfd write) and the task resumed. First on the loop's default pool (to_thread), then
// on a ThreadPool of one thread (run_in_executor). The loop sleeps in epoll_wait between.

std::int64_t plus_one(std::int64_t x) { return x + 1; }

// Seconds for n sequential calls; the pool is started (and warm) before the clock starts.
Task<double> to_thread_main(std::int64_t n, coop::ThreadPool* pool) {
  std::int64_t x = 0;
  if (pool != nullptr)
    x = co_await coop::run_in_executor(*pool, plus_one, x);
  else
    x = co_await coop::to_thread(plus_one, x);
  const auto t0 = Stopwatch::now();
  for (std::int64_t i = 0; i < n; ++i) {
    if (pool != nullptr)
      x = co_await coop::run_in_executor(*pool, plus_one, x);
    else
      x = co_await coop::to_thread(plus_one, x);
  }
  const double s = seconds_since(t0);
  if (x != n + 1) throw std::runtime_error("to_thread: wrong results");
  co_return s;
}

// Microseconds per call of one run.
double to_thread_once(std::int64_t n, coop::ThreadPool* pool) {
  DiagnosticSink sink;
  const double s = coop::run(to_thread_main(n, pool), make_options(sink, true));
  report_diagnostics("to_thread", sink);
  return s * 1e6 / static_cast<double>(n);
}

// Runs this program again as `coop_bench --child ARGS...`, and parses the key=value pairs
// it prints. A fresh process (fork + exec, not fork alone: a forked child inherits the
// parent's free lists and resident pages) starts with no recycled memory to hide growth.
std::map<std::string, double> run_child(const std::vector<std::string>& args) {
  int fds[2];
  const std::string self_path = own_path();  // before the fork: the child only execs
  if (pipe(fds) != 0) throw std::runtime_error("pipe() failed");
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork() failed");
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> argv;
    static char self[] = "coop_bench";
    static char child[] = "--child";
    argv.push_back(self);
    argv.push_back(child);
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(self_path.c_str(), argv.data());
    _exit(127);
  }
  close(fds[1]);
  std::string out;
  char buf[512];
  for (ssize_t k; (k = read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(k));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error(fmt::format("the child process for '{}' failed", args.empty() ? "" : args[0]));
  std::map<std::string, double> kv;
  std::size_t pos = 0;
  while (pos < out.size()) {
    std::size_t end = out.find_first_of(" \n", pos);
    if (end == std::string::npos) end = out.size();
    std::string item = out.substr(pos, end - pos);
    if (auto eq = item.find('='); eq != std::string::npos)
      kv[item.substr(0, eq)] = std::strtod(item.c_str() + eq + 1, nullptr);
    pos = end + 1;
  }
  return kv;
}

double need(const std::map<std::string, double>& kv, const char* key) {
  auto it = kv.find(key);
  if (it == kv.end()) throw std::runtime_error(fmt::format("the child process did not report '{}'", key));
  return it->second;
}

// ---- Printing -----------------------------------------------------------------------------

// Below this share of a CPU during a timed run, the figure is marked as measured on a busy
// machine.
constexpr double kBusyShare = 0.9;

struct Figure {
  std::string name;        // e.g. "spawn+gather"
  std::int64_t n = 0;      // workload size
  std::string n_unit;      // "tasks", "switches", ...
  double value = 0;        // the median
  std::string unit;        // "ns/task", ...
  int precision = 1;
  std::optional<double> target;  // value must be <= target (or < when strict)
  bool strict = false;
  std::vector<double> samples;   // every repetition
  std::string note;              // e.g. "coroutine frames only (frame_stats)"
  std::optional<double> cpu_share;  // timed in-process: the lowest share of a CPU we got

  bool missed() const { return target && (strict ? !(value < *target) : !(value <= *target)); }
};

std::string json_escape(const std::string& s) {
  std::string r;
  for (char c : s) {
    if (c == '"' || c == '\\') r += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      r += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
      continue;
    }
    r += c;
  }
  return r;
}

void print_figure(const Figure& f, bool json) {
  if (json) {
    std::string samples;
    for (double v : f.samples) samples += fmt::format("{}{}", samples.empty() ? "" : ",", v);
    std::string target = f.target ? fmt::format("{}", *f.target) : "null";
    fmt::print(
        "{{\"name\":\"{}\",\"n\":{},\"n_unit\":\"{}\",\"value\":{},\"unit\":\"{}\",\"target\":{},"
        "\"target_op\":\"{}\",\"missed\":{},\"repetitions\":{},\"samples\":[{}],\"optimized\":{},"
        "\"sanitizers\":\"{}\",\"cpu_share\":{},\"note\":\"{}\"}}\n",
        json_escape(f.name), f.n, f.n_unit, f.value, f.unit, target, f.strict ? "<" : "<=",
        f.missed() ? "true" : "false", f.samples.size(), samples, kOptimized ? "true" : "false",
        json_escape(sanitizers()), f.cpu_share ? fmt::format("{:.3f}", *f.cpu_share) : "null", json_escape(f.note));
  } else {
    std::string tail;
    if (f.target) tail = fmt::format("(target {} {})", f.strict ? "<" : "<=", *f.target);
    if (f.missed()) tail += "  MISSED";
    std::string note = f.note;
    if (f.cpu_share && *f.cpu_share < kBusyShare)
      note += fmt::format("{}BUSY MACHINE: got {:.0f}% of a CPU", note.empty() ? "" : "; ", *f.cpu_share * 100);
    if (!note.empty()) tail += (tail.empty() ? "" : "  ") + ("[" + note + "]");
    std::string median = "1 run";
    if (f.samples.size() > 1)
      median = fmt::format("median of {}, min {:.{}f}", f.samples.size(), *std::min_element(f.samples.begin(), f.samples.end()),
                           f.precision);
    fmt::print("{:<22}{:>8} {:<9}{:>10.{}f} {:<9} {:<24} {}\n", f.name, f.n, f.n_unit, f.value, f.precision, f.unit,
               median, tail);
  }
  std::fflush(stdout);
}

// ---- The workloads, measured ----------------------------------------------------------

std::vector<double> repeat_timed(int reps, const auto& once) {
  (void)once();  // warm-up: frame pool, malloc's arenas, caches, page tables
  reset_cpu_share();
  std::vector<double> v;
  for (int i = 0; i < reps; ++i) v.push_back(once());
  return v;
}

// The timed workloads run twice: as a program runs (the default RunOptions, slow-step
// check on; this one is held to the target) and with the check off, to show its cost.
constexpr const char* kNoCheck = "slow_step_warning = 0";

void bench_spawn(const Settings& s, bool json) {
  for (bool check : {true, false}) {
    auto v = repeat_timed(s.repeat_light, [&] { return spawn_once(s.spawn_tasks, check); });
    print_figure({check ? "spawn+gather" : "spawn+gather/nocheck", s.spawn_tasks, "tasks", median(v), "ns/task", 1,
                  check ? std::optional(150.0) : std::nullopt, false, v, check ? "" : kNoCheck, g_cpu_share},
                 json);
  }
}

void bench_pingpong(const Settings& s, bool json) {
  for (bool check : {true, false}) {
    auto v = repeat_timed(s.repeat_light, [&] { return pingpong_once(s.switches, check); });
    print_figure({check ? "pingpong" : "pingpong/nocheck", s.switches, "switches", median(v), "ns/switch", 1,
                  check ? std::optional(30.0) : std::nullopt, false, v, check ? "" : kNoCheck, g_cpu_share},
                 json);
  }
}

void bench_suspended(const Settings& s, bool json) {
  std::vector<double> rss, frame, count;
  double record = 0;
  for (int i = 0; i < s.repeat_light; ++i) {
    auto kv = run_child({"suspended", std::to_string(s.suspended_tasks)});
    rss.push_back(need(kv, "rss_per_task"));
    frame.push_back(need(kv, "frame_per_task"));
    count.push_back(need(kv, "frames_per_task"));
    record = need(kv, "record");
  }
  if (median(count) < 0.99 || median(count) > 1.01)
    throw std::runtime_error(fmt::format("suspended: expected one live frame per task, got {}", median(count)));
  print_figure({"suspended", s.suspended_tasks, "tasks", median(rss), "B/task", 0, 256.0, false, rss,
                "resident memory growth", {}},
               json);
  print_figure({"suspended-frame", s.suspended_tasks, "tasks", median(frame), "B/frame", 0, {}, false, frame,
                fmt::format("frame_stats; task record is {} B more", record), {}},
               json);
}

void bench_timers(const Settings& s, bool json) {
  const std::int64_t per_task = s.timers / s.timer_tasks;
  const std::int64_t n = per_task * s.timer_tasks;
  const std::string note = fmt::format("{} tasks x {} sleep(1ns)", s.timer_tasks, per_task);
  for (bool check : {true, false}) {
    auto v = repeat_timed(s.repeat_light, [&] { return timers_once(s.timer_tasks, per_task, check); });
    std::vector<double> ns;
    for (double x : v) ns.push_back(x * 1e9 / static_cast<double>(n));
    if (check) print_figure({"timers", n, "timers", median(v), "s", 3, {}, false, v, note, g_cpu_share}, json);
    print_figure({check ? "timers" : "timers/nocheck", n, "timers", median(ns), "ns/timer", 1, {}, false, ns,
                  check ? note : note + ", " + kNoCheck, g_cpu_share},
                 json);
  }
}

void bench_sleeping(const Settings& s, bool json) {
  std::vector<double> cold, warm, peak_mb, frame_mb;
  for (int i = 0; i < s.repeat_heavy; ++i) {
    auto kv = run_child({"sleeping", std::to_string(s.sleeping_tasks), std::to_string(s.sleep_for.count())});
    cold.push_back(need(kv, "cold_s"));
    warm.push_back(need(kv, "warm_s"));
    peak_mb.push_back(need(kv, "peak_bytes") / 1e6);
    frame_mb.push_back(need(kv, "frame_peak_bytes") / 1e6);
  }
  // The targets are for a million tasks; a --quick run reports without them.
  const bool full = s.sleeping_tasks >= 1'000'000;
  const std::string sleep_note = fmt::format("each sleeps {} ms, fresh process", s.sleep_for.count());
  print_figure({"sleeping", s.sleeping_tasks, "tasks", median(cold), "s", 3, full ? std::optional(1.0) : std::nullopt,
                true, cold, sleep_note, {}},
               json);
  print_figure({"sleeping-warm", s.sleeping_tasks, "tasks", median(warm), "s", 3, {}, false, warm,
                "second run in the same process", {}},
               json);
  print_figure({"sleeping-peak", s.sleeping_tasks, "tasks", median(peak_mb), "MB", 1,
                full ? std::optional(400.0) : std::nullopt, true, peak_mb, "VmHWM growth", {}},
               json);
  print_figure({"sleeping-frames", s.sleeping_tasks, "tasks", median(frame_mb), "MB", 1, {}, false, frame_mb,
                "peak of frame_stats live bytes", {}},
               json);
}

// Each run is a fresh server process: memory per connection is growth, which memory freed
// by an earlier run would hide. `wanted` is cut to what the open-files limit allows.
void bench_echo(const Settings& s, std::int64_t wanted, bool json) {
  std::int64_t n = wanted;
  const std::size_t limit = coop::raise_open_file_limit(static_cast<std::size_t>(2 * wanted + 100));
  if (static_cast<std::int64_t>(limit) < n + 100) {
    n = std::max<std::int64_t>(1, static_cast<std::int64_t>(limit) - 100);
    fmt::print(json ? stderr : stdout,
               "# echo: the open-files limit is {} (raise the hard limit: ulimit -Hn): {} connections instead of {}\n",
               limit, n, wanted);
  }
  std::vector<double> rps, rss, frames, client_cpu, server_cpu;
  for (int i = 0; i < s.repeat_heavy; ++i) {
    auto kv = run_child({"echo", std::to_string(n), fmt::format("{}", s.echo_seconds), fmt::format("{}", s.echo_warmup)});
    rps.push_back(need(kv, "rps"));
    rss.push_back(need(kv, "rss_per_conn"));
    frames.push_back(need(kv, "frame_per_conn"));
    client_cpu.push_back(need(kv, "client_cpu"));
    server_cpu.push_back(need(kv, "server_cpu"));
  }
  print_figure({"echo", n, "conns", median(rps), "req/s", 0, {}, false, rps,
                fmt::format("64 B, {:g} s after {:g} s warm-up; CPU: server {:.0f}%, client {:.0f}%", s.echo_seconds,
                            s.echo_warmup, median(server_cpu) * 100, median(client_cpu) * 100),
                {}},
               json);
  print_figure({"echo-memory", n, "conns", median(rss), "B/conn", 0, {}, false, rss,
                fmt::format("VmRSS growth, all open; frames {:.0f} B/conn", median(frames)), {}},
               json);
}

void bench_to_thread(const Settings& s, bool json) {
  auto v = repeat_timed(s.repeat_light, [&] { return to_thread_once(s.thread_calls, nullptr); });
  print_figure({"to_thread", s.thread_calls, "calls", median(v), "µs/call", 1, {}, false, v,
                "default pool, sequential round trips", {}},
               json);
  coop::ThreadPool one(1);
  v = repeat_timed(s.repeat_light, [&] { return to_thread_once(s.thread_calls, &one); });
  print_figure({"to_thread/pool1", s.thread_calls, "calls", median(v), "µs/call", 1, {}, false, v,
                "run_in_executor, ThreadPool(1)", {}},
               json);
}

// ---- Side by side: coop's end of bench/compare.py's protocol -----------------------------
// compare.py runs every system's program the same way (bench/README.md, "Side by side"):
//
//   coop_bench --peer spawn|pingpong|suspended|timers N   one measurement, one JSON line
//   coop_bench --peer echo-server                         prints "PORT n", serves until killed;
//                                                         on SIGUSR1 prints "STATS ..." (what it holds)
//
// The measurements are the ones above, so the coop column of compare.py's tables is the
// same code as this program's own figures. Timed workloads warm up first: spawn at N (the
// memory of N tasks is then the process's, as in this program's own spawn figure), the
// others at N/10.

// SIGUSR1 asks the server what it holds (the load test, tests/load/load_test.py, checks that
// connections, tasks and frames go back to their baseline once the clients have left). A
// signal handler may only set a flag; a task looks at it every 20 ms and answers on stdout.
volatile std::sig_atomic_t g_stats_wanted = 0;
extern "C" void want_stats(int) { g_stats_wanted = 1; }

Task<void> answer_stats(const EchoServerState& st) {
  for (;;) {
    co_await coop::sleep(20ms);
    if (!g_stats_wanted) continue;
    g_stats_wanted = 0;
    const coop::FrameStats f = coop::frame_stats();
    fmt::print("STATS connections={} live_tasks={} live_frames={} live_bytes={} rss={}\n", st.open, f.live_tasks,
               f.live_frames, f.live_bytes, rss_total());
    std::fflush(stdout);
  }
}

Task<void> serve_forever(coop::TcpListener& listener) {
  EchoServerState st;  // echo_acceptor's bookkeeping: open connections, why accepting stopped
  coop::TaskHandle<void> stats = coop::create_task(answer_stats(st), "stats");
  co_await echo_acceptor(listener, st);
  stats.cancel();
  if (!st.accept_failure.empty()) throw std::runtime_error("accept: " + st.accept_failure);
}

int peer_echo_server() {
  coop::raise_open_file_limit(25'000);  // as many as the hard limit allows; 10,000 connections need 10,000+
  std::signal(SIGUSR1, want_stats);
  coop::TcpListener listener = coop::TcpListener::bind("127.0.0.1", 0);
  fmt::print("PORT {}\n", listener.port());
  std::fflush(stdout);
  DiagnosticSink sink;
  coop::run(serve_forever(listener), make_options(sink, true));
  return 0;
}

int peer_main(int argc, char** argv) {
  const std::string what = argc > 2 ? argv[2] : "";
  if (what == "echo-server" && argc == 3) return peer_echo_server();
  const std::int64_t n = argc == 4 ? std::atoll(argv[3]) : 0;
  if (n < 1000) {
    fmt::print(stderr, "coop_bench: usage: coop_bench --peer spawn|pingpong|suspended|timers N (N >= 1000), "
                       "or --peer echo-server\n");
    return 2;
  }
  double value = 0;
  std::string unit;
  if (what == "spawn") {
    (void)spawn_once(n, true);
    value = spawn_once(n, true);
    unit = "ns/task";
  } else if (what == "pingpong") {
    (void)pingpong_once(n / 10, true);
    value = pingpong_once(n, true);
    unit = "ns/switch";
  } else if (what == "suspended") {
    DiagnosticSink sink;
    value = coop::run(suspended_main(n), make_options(sink, true)).rss_per_task;
    unit = "B/task";
  } else if (what == "timers") {
    const std::int64_t tasks = 1000;
    (void)timers_once(tasks, n / tasks / 10, true);
    value = timers_once(tasks, n / tasks, true) * 1e9 / static_cast<double>(tasks * (n / tasks));
    unit = "ns/timer";
  } else {
    fmt::print(stderr, "coop_bench: --peer: unknown workload '{}'\n", what);
    return 2;
  }
  fmt::print("{{\"workload\":\"{}\",\"n\":{},\"value\":{},\"unit\":\"{}\"}}\n", what, n, value, unit);
  return 0;
}

// `coop_bench --child WORKLOAD ARGS...`: one measurement in this fresh process.
int child_main(int argc, char** argv) {
  const std::string what = argc > 2 ? argv[2] : "";
  if (what == "suspended" && argc == 4) return child_suspended(std::atoll(argv[3]));
  if (what == "sleeping" && argc == 5)
    return child_sleeping(std::atoll(argv[3]), std::chrono::milliseconds(std::atoll(argv[4])));
  if (what == "echo" && argc == 6) return child_echo(std::atoll(argv[3]), std::atof(argv[4]), std::atof(argv[5]));
  fmt::print(stderr, "coop_bench: bad --child invocation\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) try {
  g_argv0 = argv[0];
  if (argc > 1 && std::strcmp(argv[1], "--child") == 0) return child_main(argc, argv);
  if (argc > 1 && std::strcmp(argv[1], "--peer") == 0) return peer_main(argc, argv);

  const std::vector<std::string> workloads{"spawn",    "pingpong", "suspended", "timers",
                                           "sleeping", "echo100",  "echo10k",   "to_thread"};
  Settings s;
  std::vector<std::string> only;
  int repeat = 0;
  bool quick = false;
  bool json = false;

  CLI::App app{"coop_bench — what coop's core operations cost (see bench/README.md)"};
  app.add_option("--only", only, "Run only these workloads (comma-separated)")
      ->delimiter(',')
      ->check(CLI::IsMember(workloads));
  app.add_option("--repeat", repeat, "Measured repetitions per workload (default 5; 3 for the million tasks and echo)")
      ->check(CLI::Range(1, 1000));
  app.add_flag("--quick", quick, "Smaller sizes, shorter echo runs, one repetition: a smoke test that takes a few seconds");
  app.add_flag("--json", json, "One JSON object per figure, one per line");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string msg = e.what();
    std::replace(msg.begin(), msg.end(), '\n', ' ');
    fmt::print(stderr, "coop_bench: {} (try --help)\n", msg);
    return 2;
  }
  if (quick) s.make_quick();
  if (repeat > 0) s.repeat_light = s.repeat_heavy = repeat;

  const std::string san = sanitizers();
  if (!kOptimized || !san.empty()) {
    fmt::print(stderr,
               "coop_bench: WARNING: built {}{}{}: these figures say nothing about coop's speed. "
               "Build an optimised tree without sanitizers: make bench (see bench/README.md).\n",
               kOptimized ? "" : "WITHOUT OPTIMISATION", (!kOptimized && !san.empty()) ? " and " : "",
               san.empty() ? "" : "WITH SANITIZERS (" + san + ")");
  }
  if (!json) {
    fmt::print("# coop_bench: {}, build type '{}', {}{}{}\n", compiler(), COOP_BENCH_BUILD_TYPE,
               kOptimized ? "optimised" : "NOT OPTIMISED", san.empty() ? "" : ", SANITIZERS: " + san,
               s.quick ? ", --quick sizes" : "");
    if (!kOptimized || !san.empty()) fmt::print("# WARNING: figures from this build are meaningless\n");
  }

  auto wanted = [&](const std::string& w) { return only.empty() || std::find(only.begin(), only.end(), w) != only.end(); };
  if (wanted("spawn")) bench_spawn(s, json);
  if (wanted("pingpong")) bench_pingpong(s, json);
  if (wanted("suspended")) bench_suspended(s, json);
  if (wanted("timers")) bench_timers(s, json);
  if (wanted("sleeping")) bench_sleeping(s, json);
  if (wanted("echo100")) bench_echo(s, s.echo_few, json);
  if (wanted("echo10k")) bench_echo(s, s.echo_many, json);
  if (wanted("to_thread")) bench_to_thread(s, json);
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "coop_bench: error: {}\n", e.what());
  return 1;
}
