// asio_bench.cpp — the Boost.Asio peer of coop_bench (bench/core.cpp) for bench/compare.py.
//
// The same workloads as coop's, written as a competent Asio user would with C++20
// coroutines (awaitable, co_spawn, use_awaitable), on one io_context run on one thread
// (concurrency hint 1: coop's loop is single-threaded too). Boost 1.74, header-only.
//
//   asio_bench spawn N | pingpong N | suspended N | timers N | echo-server
//
// Why each workload is the equivalent of coop's:
//   spawn      coop gathers N Task<int> that co_return at once. Asio has no gather: the
//              idiom is co_spawn with a completion handler, which here adds the result and
//              counts the finished ones (the gather), so per task there is a coroutine
//              launched, run to its end and its result delivered, as in coop. Timed around
//              making the io_context, co_spawning the N and run(), as coop times run().
//   pingpong   coop's two players loop "wait my Event, clear it, set theirs". Boost 1.74
//              has no channel or event, so an Event is Asio's own idiom: a steady_timer that
//              never expires, waited on with async_wait and woken by cancel() (see Event).
//              Every switch is a park plus a resume through the io_context's queue.
//   suspended  coop parks N create_task'ed tasks on one Event. Here N detached co_spawned
//              coroutines all wait on ONE never-expiring steady_timer; the growth of
//              RssAnon from just before they are spawned to the moment all are parked
//              (after poll(): every one ran to its async_wait) is what a waiting coroutine
//              costs: its frames plus its pending wait operation.
//   timers     coop: 1,000 tasks x N/1,000 sleep(1ns). Here 1,000 coroutines, each with its
//              own steady_timer: expires_after(1ns) + co_await async_wait, N/1,000 times.
//              Asio does not shortcut a due timer: each wait goes through the timer queue
//              and the reactor, as coop's goes through its heap.
//   echo-server  the shape of Asio's C++20 echo example (cpp20/coroutines/echo_server.cpp):
//              a listener coroutine accepts, and co_spawns one coroutine per connection
//              with a 1 KiB buffer: async_read_some, then async_write of what was read.
//
// Timed workloads run once unmeasured first (warm-up: malloc, Asio's recycled handler
// memory, caches; spawn at N, the others at N/10), then at N, each on a fresh io_context, as coop::run makes a loop.
// Output: one JSON line on stdout. Failure: one line on stderr, exit 1; bad usage: exit 2.

// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>; GCC 12's
// headers no longer bring it in by chance, so it must come first.
#include <utility>

#include <boost/asio.hpp>

#include <sys/resource.h>
#include <time.h>

#include "coop/platform.hpp"  // COOP_HAS_...: which Linux-only calls to use (header only)

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <stdexcept>
#include <string>

namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
using namespace std::chrono_literals;
using Stopwatch = std::chrono::steady_clock;

constexpr const char* kProg = "asio_bench";

// A completion handler for co_spawn that lets an exception out of io_context::run() (where
// main reports it) instead of dropping it, as `detached` would, and counts the finished.
struct CountDone {
  std::int64_t* done;
  void operator()(std::exception_ptr e) const {
    if (e) std::rethrow_exception(e);
    ++*done;
  }
};

// ---- Memory (Linux) ---------------------------------------------------------------------

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

// Anonymous resident memory in bytes (heap, stacks), from /proc/self/status, as coop reads it.
double rss_anon() {
  if (!COOP_HAS_PROC_FS) return peak_resident();
  std::ifstream in("/proc/self/status");
  std::string line;
  double vm_rss = -1;
  while (std::getline(in, line)) {
    if (line.rfind("RssAnon:", 0) == 0) return std::strtod(line.c_str() + 8, nullptr) * 1024.0;
    if (line.rfind("VmRSS:", 0) == 0) vm_rss = std::strtod(line.c_str() + 6, nullptr) * 1024.0;
  }
  if (vm_rss >= 0) return vm_rss;  // kernels without RssAnon: all resident memory, as coop does
  throw std::runtime_error("cannot read resident memory from /proc/self/status");
}

// Wall time of a timed run, and the share of a CPU the process got meanwhile: these runs
// never idle, so below 90% the machine was busy and the figure is inflated (the note says
// so, as coop_bench's BUSY MACHINE does).
double process_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double g_cpu_share = 1.0;  // of the measured run

class Timing {
 public:
  double stop() {  // wall seconds since construction
    const double wall = std::chrono::duration<double>(Stopwatch::now() - wall0_).count();
    if (wall > 0) g_cpu_share = (process_cpu_seconds() - cpu0_) / wall;
    return wall;
  }

 private:
  Stopwatch::time_point wall0_ = Stopwatch::now();
  double cpu0_ = process_cpu_seconds();
};

std::string busy_note() {
  if (g_cpu_share >= 0.9) return "";
  return "busy machine: got " + std::to_string(static_cast<int>(g_cpu_share * 100 + 0.5)) + "% of a CPU";
}

std::string join_notes(const std::string& a, const std::string& b) { return a.empty() ? b : b.empty() ? a : a + "; " + b; }

void print_result(const char* workload, std::int64_t n, double value, const char* unit, const std::string& note = "") {
  std::printf("{\"workload\":\"%s\",\"n\":%lld,\"value\":%.1f,\"unit\":\"%s\"%s%s%s}\n", workload,
              static_cast<long long>(n), value, unit, note.empty() ? "" : ",\"note\":\"", note.c_str(),
              note.empty() ? "" : "\"");
  std::fflush(stdout);
}

// ---- spawn: co_spawn N coroutines that return at once, gathered by their handler --------

awaitable<int> trivial(int i) { co_return i; }

// Wall ns per task: making the io_context, spawning, running, collecting the results.
double spawn_once(std::int64_t n) {
  std::int64_t sum = 0, done = 0;
  Timing timing;
  {
    asio::io_context io(1);
    for (std::int64_t i = 0; i < n; ++i)
      asio::co_spawn(io, trivial(static_cast<int>(i)), [&sum, &done](std::exception_ptr e, int r) {
        if (e) std::rethrow_exception(e);
        sum += r;
        ++done;
      });
    io.run();
  }
  const double s = timing.stop();
  if (done != n || sum != n * (n - 1) / 2) throw std::runtime_error("spawn: wrong results");
  return s * 1e9 / static_cast<double>(n);
}

// ---- pingpong: two coroutines handing the turn through two events ----------------------

// Asio's event idiom (Boost 1.74 has no channel or event): a steady_timer that never
// expires. Waiting is async_wait; set() cancel()s the timer, which completes the pending
// wait with operation_aborted (taken with redirect_error, not thrown: an exception per
// switch is not how anyone would write it). The flag holds a set() that comes while no one
// waits: cancel() with no waiter is lost. What it costs, per park and wake: a wait operation
// allocated (from Asio's per-thread recycled memory), pushed on the reactor's timer heap
// under the reactor's mutex and, being the earliest (only) timer, a timerfd_settime system
// call to re-arm the reactor's timerfd; cancel() takes it off the heap under the mutex and
// posts it to the scheduler's queue, where run() finds it and resumes the waiter.
struct Event {
  explicit Event(asio::io_context& io) : timer(io, asio::steady_timer::time_point::max()) {}
  asio::steady_timer timer;
  bool is_set = false;
  void set() {
    is_set = true;
    timer.cancel();
  }
};

awaitable<void> player(Event& my_turn, Event& their_turn, std::int64_t rounds) {
  boost::system::error_code ec;
  for (std::int64_t i = 0; i < rounds; ++i) {
    while (!my_turn.is_set) co_await my_turn.timer.async_wait(asio::redirect_error(use_awaitable, ec));
    my_turn.is_set = false;  // clear()
    their_turn.set();
  }
}

// Wall ns per switch (two per round).
double pingpong_once(std::int64_t switches) {
  const std::int64_t rounds = switches / 2;
  std::int64_t done = 0;
  Timing timing;
  {
    asio::io_context io(1);
    Event ping(io), pong(io);
    ping.set();  // the first player starts
    asio::co_spawn(io, player(ping, pong, rounds), CountDone{&done});
    asio::co_spawn(io, player(pong, ping, rounds), CountDone{&done});
    io.run();
  }
  const double s = timing.stop();
  if (done != 2) throw std::runtime_error("pingpong: the players did not both finish");
  return s * 1e9 / static_cast<double>(2 * rounds);
}

// ---- suspended: N coroutines parked on one never-expiring timer ------------------------

awaitable<void> parked(asio::steady_timer& go, std::int64_t& remaining) {
  boost::system::error_code ec;
  co_await go.async_wait(asio::redirect_error(use_awaitable, ec));  // ends by cancel()
  --remaining;
}

// Bytes of RssAnon growth per parked coroutine.
double suspended_run(std::int64_t n) {
  asio::io_context io(1);
  asio::steady_timer go(io, asio::steady_timer::time_point::max());  // also starts the reactor
  std::int64_t remaining = n;
  const double rss0 = rss_anon();
  for (std::int64_t i = 0; i < n; ++i) asio::co_spawn(io, parked(go, remaining), asio::detached);
  io.poll();  // runs every ready handler: each coroutine starts and parks in async_wait
  const double rss1 = rss_anon();
  // cancel() returns how many waits it ended: proof that all n were parked at once.
  const std::size_t woken = go.cancel();
  io.run();
  if (woken != static_cast<std::size_t>(n) || remaining != 0)
    throw std::runtime_error("suspended: " + std::to_string(woken) + " of " + std::to_string(n) +
                             " coroutines were parked, " + std::to_string(remaining) + " did not finish");
  return (rss1 - rss0) / static_cast<double>(n);
}

// ---- timers: 1,000 coroutines x count sleeps of 1 ns, each its own steady_timer ---------

awaitable<void> sleeper(std::int64_t count) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (std::int64_t i = 0; i < count; ++i) {
    timer.expires_after(1ns);
    co_await timer.async_wait(use_awaitable);
  }
}

// Wall seconds of the whole run.
double timers_once(std::int64_t tasks, std::int64_t per_task) {
  std::int64_t done = 0;
  Timing timing;
  {
    asio::io_context io(1);
    for (std::int64_t i = 0; i < tasks; ++i) asio::co_spawn(io, sleeper(per_task), CountDone{&done});
    io.run();
  }
  const double s = timing.stop();
  if (done != tasks) throw std::runtime_error("timers: not every sleeper finished");
  return s;
}

// ---- echo-server: Asio's C++20 echo example, on 127.0.0.1, port 0 ----------------------

awaitable<void> echo(tcp::socket socket) {
  try {
    char data[1024];
    for (;;) {
      const std::size_t n = co_await socket.async_read_some(asio::buffer(data), use_awaitable);
      co_await asio::async_write(socket, asio::buffer(data, n), use_awaitable);
    }
  } catch (const boost::system::system_error&) {
    // eof, connection reset, broken pipe: the client is gone; this connection ends quietly.
  }
}

awaitable<void> listener(tcp::acceptor acceptor) {
  const auto executor = co_await asio::this_coro::executor;
  for (;;) {
    tcp::socket socket(executor);
    try {
      socket = co_await acceptor.async_accept(use_awaitable);
    } catch (const boost::system::system_error& e) {
      throw std::runtime_error(std::string("accept: ") + e.what());
    }
    // coop and asyncio set TCP_NODELAY on every TCP socket; Asio leaves it to the user.
    // Setting it keeps the server's sockets the same as theirs.
    socket.set_option(tcp::no_delay(true));
    // A connection's own failures are caught in echo(); anything else (bad_alloc) goes out of
    // run() to main, which says so and exits 1.
    asio::co_spawn(executor, echo(std::move(socket)), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
  }
}

int echo_server() {
  // 10,000+ connections need as many descriptors: soft limit up to the hard limit.
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &rl);
  }
  asio::io_context io(1);
  // As in the example: SIGINT/SIGTERM stop the loop, and the process exits 0.
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&io](const boost::system::error_code&, int) { io.stop(); });

  tcp::acceptor acceptor(io);
  const tcp::endpoint at(asio::ip::make_address("127.0.0.1"), 0);
  acceptor.open(at.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(at);
  acceptor.listen(4096);
  std::printf("PORT %u\n", static_cast<unsigned>(acceptor.local_endpoint().port()));
  std::fflush(stdout);
  // Accepting fails only for real (out of descriptors, say; Asio retries ECONNABORTED
  // itself): the exception goes out of run() and main reports it.
  asio::co_spawn(io, listener(std::move(acceptor)), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  io.run();
  return 0;
}

// ---- Command line -----------------------------------------------------------------------

int usage(const char* why) {
  std::fprintf(stderr, "%s: %s (usage: %s spawn|pingpong|suspended|timers N, or %s echo-server)\n", kProg, why, kProg,
               kProg);
  return 2;
}

// A positive decimal integer up to a billion, or -1.
std::int64_t parse_n(const char* s) {
  if (*s == '\0' || std::strlen(s) > 10) return -1;
  std::int64_t v = 0;
  for (const char* p = s; *p != '\0'; ++p) {
    if (*p < '0' || *p > '9') return -1;
    v = v * 10 + (*p - '0');
  }
  return v >= 1 && v <= 1'000'000'000 ? v : -1;
}

std::int64_t warmup_size(std::int64_t n) { return n / 10 > 0 ? n / 10 : 1; }

int run(const std::string& workload, std::int64_t n) {
  if (workload == "spawn") {
    (void)spawn_once(n);  // at full size: N tasks' memory is then the process's, as in coop_bench
    const double v = spawn_once(n);
    print_result("spawn", n, v, "ns/task", busy_note());
  } else if (workload == "pingpong") {
    (void)pingpong_once(warmup_size(n) >= 2 ? warmup_size(n) : 2);
    const std::int64_t used = 2 * (n / 2);
    const double v = pingpong_once(used);
    print_result("pingpong", used, v, "ns/switch", busy_note());
  } else if (workload == "suspended") {
    print_result("suspended", n, suspended_run(n), "B/task");
  } else {  // timers
    // 1,000 sleepers (fewer only if N < 1,000), each N/1,000 sleeps.
    auto shape = [](std::int64_t total) {
      const std::int64_t tasks = total < 1000 ? total : 1000;
      return std::pair{tasks, total / tasks};
    };
    const auto [wt, wp] = shape(warmup_size(n));
    (void)timers_once(wt, wp);
    const auto [tasks, per_task] = shape(n);
    const std::int64_t used = tasks * per_task;
    const double s = timers_once(tasks, per_task);
    print_result("timers", used, s * 1e9 / static_cast<double>(used), "ns/timer",
                 join_notes(tasks == 1000 ? "" : std::to_string(tasks) + " tasks x " + std::to_string(per_task) + " sleeps",
                            busy_note()));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string workload = argc > 1 ? argv[1] : "";
  try {
    if (workload == "echo-server") return argc == 2 ? echo_server() : usage("echo-server takes no argument");
    if (workload != "spawn" && workload != "pingpong" && workload != "suspended" && workload != "timers")
      return usage(workload.empty() ? "no workload" : ("unknown workload '" + workload + "'").c_str());
    if (argc != 3) return usage("expected one N");
    const std::int64_t n = parse_n(argv[2]);
    if (n < 1 || (workload == "pingpong" && n < 2))
      return usage(("bad N '" + std::string(argv[2]) + "'").c_str());
    return run(workload, n);
  } catch (const std::exception& e) {
    std::string what = e.what();
    for (char& c : what)
      if (c == '\n') c = ' ';
    std::fprintf(stderr, "%s: %s: %s\n", kProg, workload.c_str(), what.c_str());
    return 1;
  }
}
