// threads_bench.cpp — the "one OS thread per task / per connection" peer of coop_bench.
//
// What the lecture says async replaces: every task is a std::thread with the default
// attributes a user gets (an 8 MiB stack reserved, touched as needed), every wait is a
// blocking call, and the kernel's scheduler is the event loop. Standard library and POSIX
// only. It speaks the peer protocol of bench/compare.py:
//
//   threads_bench spawn N | pingpong N | suspended N | timers N   one JSON line on stdout
//   threads_bench echo-server                                      "PORT <n>", then serves
//
// Why each workload is the equivalent of coop's (bench/core.cpp):
//   spawn      coop gathers N coroutines that return their argument. Here: start N
//              threads, each writes its argument into its result slot; join them all (the
//              gather) and check the sum. Timed around all of it, as coop times run().
//   pingpong   coop's two tasks hand the turn through two Events. Here two threads hand it
//              through two std::binary_semaphore: acquire mine, release theirs. A switch is
//              one thread blocking and the other waking. The other idiom, a mutex +
//              condition_variable + turn flag, was slower in every run on this machine
//              (2.2-3.0 us a switch against the semaphore's ~2.0, or ~0.3 when libstdc++'s
//              short spin before the futex wait catches the hand-off), so: the semaphore.
//   suspended  coop parks N tasks on one Event. Here N threads wait on one
//              condition_variable (one mutex, one flag), each counted in under the mutex
//              just before its wait(), which releases the mutex atomically: when main sees
//              the count complete, every thread is blocked. RssAnon growth / N, as coop.
//   timers     coop: 1,000 tasks x N/1,000 sleep(1ns), every sleep a real timer. Here
//              1,000 threads x N/1,000 std::this_thread::sleep_for(1ns): each one is a
//              nanosleep, a real kernel timer (with the default 50 us timer slack a thread
//              gets, which is what a user pays: that is the point of this comparison).
//   echo-server  coop: one task accepts, one task per connection reads into a 1 KiB
//              buffer and writes back what it read. Here: main accepts, one detached
//              thread per connection does blocking recv into a 1 KiB buffer and send of all
//              of it. TCP_NODELAY on each connection, as coop (and asyncio) set it.
//
// Limit: every thread alive needs two memory mappings (its stack and its guard page), and
// Linux caps a process's mappings at vm.max_map_count (65,530 by default), so 100,000
// threads cannot exist at once; spawn also keeps its finished threads until they are
// joined (as gather keeps results). spawn and suspended therefore use at most 10,000
// threads, say so in "note" and report the n used; figures are per thread, so they stay
// comparable. A thread that cannot be started is an error (one line, exit status 1).
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <mutex>
#include <semaphore>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "coop/platform.hpp"  // COOP_HAS_...: which Linux-only calls to use (header only)

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr const char* kProg = "threads_bench";
constexpr std::int64_t kMaxThreads = 10'000;  // alive at once: see "Limit" above
constexpr const char* kCapNote = "capped at 10,000 threads (vm.max_map_count)";
constexpr std::int64_t kTimerThreads = 1'000;
constexpr std::size_t kEchoBuffer = 1024;  // per connection, as coop's and Boost.Asio's example

double ns_since(Clock::time_point t0) { return std::chrono::duration<double, std::nano>(Clock::now() - t0).count(); }

// The most memory this process has had resident, in bytes: the one POSIX reading, used
// where there is no /proc (then a growth counts only where it raised the peak).
double peak_resident() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
#if defined(__APPLE__)
  return static_cast<double>(ru.ru_maxrss);  // bytes on macOS
#else
  return static_cast<double>(ru.ru_maxrss) * 1024.0;  // KiB elsewhere
#endif
}

// Anonymous resident memory (heap and thread stacks), from /proc/self/status, in bytes.
double rss_anon() {
  if (!COOP_HAS_PROC_FS) return peak_resident();
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("RssAnon:", 0) == 0) return std::strtod(line.c_str() + 8, nullptr) * 1024.0;
  }
  throw std::runtime_error("cannot read RssAnon from /proc/self/status");
}

// Thrown when a thread cannot be started, after the threads already started are joined.
std::runtime_error start_failure(const char* workload, std::int64_t started, std::int64_t wanted,
                                 const std::exception& e) {
  return std::runtime_error(std::string(workload) + ": cannot start thread " + std::to_string(started + 1) + " of " +
                            std::to_string(wanted) + ": " + e.what());
}

void join_all(std::vector<std::thread>& threads) {
  for (std::thread& t : threads) t.join();
}

// ---- spawn: start N threads, join them all, check the sum ------------------------------

double spawn_once(std::int64_t n) {
  const auto t0 = Clock::now();  // as coop's: making the tasks and the results is part of it
  std::vector<std::int64_t> results(static_cast<std::size_t>(n));
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(n));
  try {
    for (std::int64_t i = 0; i < n; ++i) threads.emplace_back([&results, i] { results[static_cast<std::size_t>(i)] = i; });
  } catch (const std::exception& e) {
    join_all(threads);
    throw start_failure("spawn", static_cast<std::int64_t>(threads.size()), n, e);
  }
  join_all(threads);
  std::int64_t sum = 0;
  for (std::int64_t r : results) sum += r;
  const double ns = ns_since(t0);
  if (sum != n * (n - 1) / 2) throw std::runtime_error("spawn: wrong sum of results");
  return ns / static_cast<double>(n);
}

// ---- pingpong: two threads hand the turn through two binary semaphores -----------------

void player(std::binary_semaphore& my_turn, std::binary_semaphore& their_turn, std::int64_t rounds) {
  for (std::int64_t i = 0; i < rounds; ++i) {
    my_turn.acquire();
    their_turn.release();
  }
}

double pingpong_once(std::int64_t switches) {
  const std::int64_t rounds = switches / 2;
  std::binary_semaphore ping(1);  // the first player starts
  std::binary_semaphore pong(0);
  const auto t0 = Clock::now();
  std::thread first;
  try {
    first = std::thread(player, std::ref(ping), std::ref(pong), rounds);
  } catch (const std::exception& e) {
    throw start_failure("pingpong", 0, 2, e);
  }
  try {
    std::thread second(player, std::ref(pong), std::ref(ping), rounds);
    second.join();
  } catch (const std::exception& e) {
    // The first player is running: play the second's part here so that it can finish.
    player(pong, ping, rounds);
    first.join();
    throw start_failure("pingpong", 1, 2, e);
  }
  first.join();
  return ns_since(t0) / static_cast<double>(2 * rounds);
}

// ---- suspended: N threads blocked on one condition variable ------------------------------

double suspended_once(std::int64_t n) {
  std::mutex m;
  std::condition_variable go_cv;       // the threads wait here
  std::condition_variable parked_cv;   // main waits here for the last one to park
  bool go = false;
  std::int64_t parked = 0;
  std::vector<std::thread> threads;

  const double rss0 = rss_anon();
  threads.reserve(static_cast<std::size_t>(n));  // inside the growth: the "loop" owns them
  auto wait_for_go = [&] {
    std::unique_lock lock(m);
    if (++parked == n) parked_cv.notify_one();
    go_cv.wait(lock, [&] { return go; });
  };
  auto release = [&] {
    {
      std::lock_guard lock(m);
      go = true;
    }
    go_cv.notify_all();
    join_all(threads);
  };
  try {
    for (std::int64_t i = 0; i < n; ++i) threads.emplace_back(wait_for_go);
  } catch (const std::exception& e) {
    release();
    throw start_failure("suspended", static_cast<std::int64_t>(threads.size()), n, e);
  }
  {
    std::unique_lock lock(m);
    parked_cv.wait(lock, [&] { return parked == n; });
  }
  const double rss1 = rss_anon();
  release();
  return (rss1 - rss0) / static_cast<double>(n);
}

// ---- timers: 1,000 threads each sleep N/1,000 times for 1 ns ----------------------------

double timers_once(std::int64_t threads_n, std::int64_t per_thread) {
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(threads_n));
  const auto t0 = Clock::now();
  try {
    for (std::int64_t i = 0; i < threads_n; ++i) {
      threads.emplace_back([per_thread] {
        for (std::int64_t k = 0; k < per_thread; ++k) std::this_thread::sleep_for(1ns);
      });
    }
  } catch (const std::exception& e) {
    join_all(threads);
    throw start_failure("timers", static_cast<std::int64_t>(threads.size()), threads_n, e);
  }
  join_all(threads);
  return ns_since(t0) / static_cast<double>(threads_n * per_thread);
}

// ---- echo-server: main accepts, one detached thread per connection -----------------------

// Echo until the peer closes; a reset or any other error ends the connection quietly (the
// client checks correctness byte for byte).
void echo_connection(int fd) {
  char buffer[kEchoBuffer];
  for (;;) {
    const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
    if (got == 0) break;
    if (got < 0) {
      if (errno == EINTR) continue;
      break;
    }
    ssize_t done = 0;
    while (done < got) {
      const ssize_t sent = ::send(fd, buffer + done, static_cast<std::size_t>(got - done), MSG_NOSIGNAL);
      if (sent < 0) {
        if (errno == EINTR) continue;
        ::close(fd);
        return;
      }
      done += sent;
    }
  }
  ::close(fd);
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "%s: echo-server: %s\n", kProg, what.c_str());
  std::_Exit(1);  // detached threads are running: no destructors, no atexit
}

[[noreturn]] void echo_server() {
  // 10,000+ connections need as many descriptors: the soft limit goes up to the hard one.
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
#if COOP_HAS_ACCEPT4
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
#else
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  if (listener >= 0) ::fcntl(listener, F_SETFD, FD_CLOEXEC);
#endif
  if (listener < 0) die(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;  // the kernel picks
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listener, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listener, 4096) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    die(std::string("cannot listen on 127.0.0.1: ") + std::strerror(errno));
  std::printf("PORT %u\n", static_cast<unsigned>(ntohs(addr.sin_port)));
  std::fflush(stdout);

  for (;;) {
#if COOP_HAS_ACCEPT4
    const int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
#else
    const int fd = ::accept(listener, nullptr, nullptr);
    if (fd >= 0) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
#endif
    if (fd < 0) {
      // A connection that died in the queue, or a signal: accept the next one.
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
      // Out of descriptors or memory: stop accepting, as coop's server does; the
      // connections already open are served until the process is killed.
      std::fprintf(stderr, "%s: echo-server: accept: %s; no more connections accepted\n", kProg,
                   std::strerror(errno));
      ::close(listener);
      for (;;) ::pause();
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // small echoes go out at once
    try {
      std::thread(echo_connection, fd).detach();
    } catch (const std::exception& e) {
      die(std::string("cannot start a thread for a connection: ") + e.what());
    }
  }
}

// ---- the command line -------------------------------------------------------------------

// A positive decimal count, or -1.
std::int64_t parse_count(const char* s) {
  if (*s == '\0' || std::strlen(s) > 12) return -1;
  std::int64_t v = 0;
  for (const char* p = s; *p != '\0'; ++p) {
    if (*p < '0' || *p > '9') return -1;
    v = v * 10 + (*p - '0');
  }
  return v > 0 ? v : -1;
}

void print_result(const char* workload, std::int64_t n, double value, const char* unit, const char* note) {
  std::printf("{\"workload\":\"%s\",\"n\":%lld,\"value\":%.1f,\"unit\":\"%s\"", workload, static_cast<long long>(n),
              value, unit);
  if (note != nullptr) std::printf(",\"note\":\"%s\"", note);
  std::printf("}\n");
  std::fflush(stdout);
}

int usage(const char* why) {
  std::fprintf(stderr, "%s: %s (usage: %s spawn|pingpong|suspended|timers N, or %s echo-server)\n", kProg, why, kProg,
               kProg);
  return 2;
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 2) return usage("no workload");
  const std::string workload = argv[1];
  if (workload == "echo-server") {
    if (argc != 2) return usage("echo-server takes no N");
    echo_server();
  }
  if (workload != "spawn" && workload != "pingpong" && workload != "suspended" && workload != "timers")
    return usage(("unknown workload '" + workload + "'").c_str());
  if (argc != 3) return usage("expected one N");
  const std::int64_t wanted = parse_count(argv[2]);
  if (wanted < 0) return usage(("bad N '" + std::string(argv[2]) + "'").c_str());

  // Timed workloads: a warm-up first (stack cache, malloc, page tables), unmeasured: spawn at
  // N (its memory is then the process's, as in coop_bench), the others at N/10.
  if (workload == "spawn") {
    const std::int64_t n = std::min(wanted, kMaxThreads);
    (void)spawn_once(n);
    print_result("spawn", n, spawn_once(n), "ns/task", n < wanted ? kCapNote : nullptr);
  } else if (workload == "pingpong") {
    const std::int64_t n = std::max<std::int64_t>(2, wanted - wanted % 2);  // whole rounds
    (void)pingpong_once(std::max<std::int64_t>(2, n / 10));
    print_result("pingpong", n, pingpong_once(n), "ns/switch", nullptr);
  } else if (workload == "suspended") {
    const std::int64_t n = std::min(wanted, kMaxThreads);  // once, no warm-up: memory growth
    print_result("suspended", n, suspended_once(n), "B/task", n < wanted ? kCapNote : nullptr);
  } else {
    const std::int64_t threads_n = std::min(wanted, kTimerThreads);
    const std::int64_t per_thread = wanted / threads_n;
    (void)timers_once(threads_n, std::max<std::int64_t>(1, per_thread / 10));
    print_result("timers", threads_n * per_thread, timers_once(threads_n, per_thread), "ns/timer", nullptr);
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "%s: %s\n", kProg, e.what());
  return 1;
}
