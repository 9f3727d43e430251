// echo_client.cpp — the load generator for echo-server benchmarks, a program of its own.
//
//   echo_client --port P --connections N --seconds S [--size 64] [--warmup S] [--host H]
//               [--engine epoll|coop]
//
// It knows nothing about the server it talks to (coop's, asyncio's, uvloop's, Boost.Asio's,
// one thread per connection): any server that echoes what it receives will do, so every
// server is measured by the same client. Run as a separate process, it competes with the
// server for the machine's cores exactly as a real client would.
//
// What it does, in order:
//   1. Opens N TCP connections, at most 256 of them unconfirmed at a time (a connection is
//      confirmed when its first echo came back, which proves the server accepted it), so
//      the server's accept queue never overflows and no SYN waits a second for its retry.
//      A confirmed connection pauses until all are, so connecting is quick and the load
//      starts on all connections at once.
//   2. On every connection, a closed loop: send one message of --size bytes, read exactly
//      --size bytes back, compare them byte for byte with what was sent, send the next.
//      Each message is unique: it begins with the connection's number and its sequence
//      number, and the rest is a pseudo-random pattern derived from both, so an echo that
//      came back on the wrong connection, out of order, truncated or altered is caught.
//   3. Warm-up (--warmup seconds, default 1): the loops run, nothing is counted.
//   4. The timed window (--seconds): requests completed and verified in it are counted.
//   5. Closes every connection and prints one JSON line on stdout:
//
//   {"connections":100,"size":64,"requests":612345,"seconds":3.000,"rps":204115.0,
//    "errors":0,"checked":true,"cpu":0.71,"engine":"epoll"}
//
//      `cpu` is the share of one core this client used during the window (user + system
//      time / wall time): next to the server's, it shows which side was the bottleneck.
//
// Exit status: 0 when no error occurred and at least one request completed; 1 on any error
// (a failed connect, a reset, an early close, a mismatched echo: each is counted in
// "errors", and one line on stderr gives the count and the first); 2 on bad usage.
//
// Two engines, the same protocol. `epoll` (the default) is a hand-written, single-threaded,
// level-triggered epoll loop: per request one send() and one recv(), plus a share of an
// epoll_wait(). `coop` runs one coop task per connection on one coop loop. Measured on the
// machine of bench/README.md, the epoll engine needs less CPU per request, so it is the
// default: a load generator must not be the bottleneck it is meant to expose. The epoll
// engine is Linux's (COOP_HAS_EPOLL); elsewhere, and in the portable build, coop is the one.
#include <CLI/CLI.hpp>
#include <coop/coop.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "coop/platform.hpp"
#if COOP_HAS_EPOLL
#include <sys/epoll.h>
#endif

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct Options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::size_t connections = 100;
  double seconds = 3.0;
  double warmup = 1.0;
  std::size_t size = 64;
  std::string engine = COOP_HAS_EPOLL ? "epoll" : "coop";  // the epoll engine is Linux's
};

// How many connections may be opened but not yet confirmed by their first echo.
constexpr std::size_t kConnectWindow = 256;
// Giving up: connecting all of them must not take longer than this.
constexpr auto kConnectTimeout = 60s;

// ---- What both engines share ------------------------------------------------------------

double cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

double seconds_between(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// Message `seq` of connection `id`: the two numbers, then a pattern seeded by both.
void fill_message(std::byte* m, std::size_t size, std::uint32_t id, std::uint32_t seq) {
  std::memcpy(m, &id, 4);
  std::memcpy(m + 4, &seq, 4);
  std::uint32_t x = id * 2654435761u ^ (seq + 1) * 40503u;
  for (std::size_t i = 8; i < size; ++i) {
    x = x * 1103515245u + 12345u;
    m[i] = static_cast<std::byte>(x >> 24);
  }
}

struct Tally {
  std::uint64_t completed = 0;  // verified round trips since the start
  std::uint64_t errors = 0;
  std::string first_error;      // described at the end, in one line, with the count

  void error(const std::string& what) {
    if (errors++ == 0) first_error = what;
  }
};

struct Result {
  std::size_t connections = 0;
  std::uint64_t requests = 0;
  double seconds = 0;
  double cpu = 0;
  std::uint64_t errors = 0;
  std::string first_error;  // the first of them
};

#if COOP_HAS_EPOLL
// ---- The epoll engine ---------------------------------------------------------------------
// One thread, one level-triggered epoll set. Each connection is watched for input only,
// except while connecting or while a message could not be sent whole (then for output
// too). A connection's buffers (the message sent, the echo received) sit side by side in
// one array, so the working set of 10,000 connections stays small.

sockaddr_in server_address(const Options& o) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(o.port);
  if (::inet_pton(AF_INET, o.host.c_str(), &a.sin_addr) != 1)
    throw std::runtime_error("--host must be a numeric IPv4 address, got '" + o.host + "'");
  return a;
}

class EpollClient {
 public:
  explicit EpollClient(const Options& o)
      : o_(o), address_(server_address(o)), conns_(o.connections), buffers_(o.connections * 2 * o.size) {
    ep_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
  }
  ~EpollClient() {
    for (Conn& c : conns_)
      if (c.fd >= 0) ::close(c.fd);
    ::close(ep_);
  }
  EpollClient(const EpollClient&) = delete;
  EpollClient& operator=(const EpollClient&) = delete;

  Result run() {
    const Clock::time_point start = Clock::now();
    while (opened_ < conns_.size() && opened_ - settled_ < kConnectWindow) open(opened_++);
    // Connecting: until every connection is confirmed or has failed.
    while (settled_ < conns_.size()) {
      poll(100);
      while (opened_ < conns_.size() && opened_ - settled_ < kConnectWindow) open(opened_++);
      if (Clock::now() - start > kConnectTimeout) {
        tally_.error(fmt::format("gave up connecting after {} s: {} of {} confirmed", kConnectTimeout.count(),
                                 settled_, conns_.size()));
        return finish(0, 0, 0);
      }
    }
    if (tally_.errors == conns_.size()) return finish(0, 0, 0);  // nothing to measure
    running_ = true;  // all connected: every connection sends its next message
    for (std::size_t i = 0; i < conns_.size(); ++i)
      if (conns_[i].fd >= 0) send_rest(i);
    // Warm-up, then the window. The clock is read once per epoll_wait batch.
    const Clock::time_point warm_end = Clock::now() + to_duration(o_.warmup);
    for (Clock::time_point t = Clock::now(); t < warm_end; t = Clock::now()) poll(ms_until(warm_end, t));
    const Clock::time_point t0 = Clock::now();
    const double cpu0 = cpu_seconds();
    const std::uint64_t done0 = tally_.completed;
    const Clock::time_point end = t0 + to_duration(o_.seconds);
    Clock::time_point t1 = t0;
    for (; t1 < end; t1 = Clock::now()) poll(ms_until(end, t1));
    const std::uint64_t requests = tally_.completed - done0;
    const double cpu = cpu_seconds() - cpu0;
    return finish(requests, seconds_between(t0, t1), cpu);
  }

 private:
  struct Conn {
    int fd = -1;
    std::uint32_t seq = 0;    // of the message in flight
    std::uint32_t sent = 0;   // bytes of it sent
    std::uint32_t got = 0;    // bytes of its echo received
    bool connected = false;
    bool confirmed = false;   // its first echo came back
    bool watching_output = false;
  };

  static Clock::duration to_duration(double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  }
  static int ms_until(Clock::time_point end, Clock::time_point now) {
    return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(end - now).count());
  }

  std::byte* tx(std::size_t i) { return buffers_.data() + i * 2 * o_.size; }
  std::byte* rx(std::size_t i) { return tx(i) + o_.size; }

  Result finish(std::uint64_t requests, double seconds, double cpu) {
    for (Conn& c : conns_)
      if (c.fd >= 0) {
        ::close(c.fd);
        c.fd = -1;
      }
    return {conns_.size(), requests, seconds, cpu, tally_.errors, tally_.first_error};
  }

  // Watches connection i for input, and for output too when `output` (op: ADD or MOD).
  void watch(std::size_t i, bool output, int op = EPOLL_CTL_MOD) {
    epoll_event ev{};
    ev.events = EPOLLIN | (output ? EPOLLOUT : 0u);
    ev.data.u64 = i;
    Conn& c = conns_[i];
    if (::epoll_ctl(ep_, op, c.fd, &ev) < 0) throw std::system_error(errno, std::generic_category(), "epoll_ctl");
    c.watching_output = output;
  }

  void fail(std::size_t i, const std::string& what) {
    Conn& c = conns_[i];
    tally_.error(fmt::format("connection {}: {}", i, what));
    if (c.fd >= 0) ::close(c.fd);  // also leaves the epoll set
    c.fd = -1;
    if (!c.confirmed) ++settled_;
    c.confirmed = true;  // settled, one way or the other
  }

  void open(std::size_t i) {
    Conn& c = conns_[i];
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) return fail(i, fmt::format("socket: {}", std::strerror(errno)));
    int one = 1;
    ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(c.fd, reinterpret_cast<const sockaddr*>(&address_), sizeof address_) < 0 && errno != EINPROGRESS)
      return fail(i, fmt::format("connect: {}", std::strerror(errno)));
    watch(i, true, EPOLL_CTL_ADD);  // writable = connected (or failed: SO_ERROR says)
  }

  void poll(int timeout_ms) {
    epoll_event events[1024];
    const int n = ::epoll_wait(ep_, events, 1024, std::max(timeout_ms, 0));
    if (n < 0) {
      if (errno == EINTR) return;
      throw std::system_error(errno, std::generic_category(), "epoll_wait");
    }
    for (int k = 0; k < n; ++k) {
      const std::size_t i = events[k].data.u64;
      const std::uint32_t e = events[k].events;
      if (conns_[i].fd < 0) continue;  // failed earlier in this batch
      if (!conns_[i].connected) {
        connected(i);
        continue;
      }
      if ((e & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0) readable(i);
      if ((e & EPOLLOUT) != 0 && conns_[i].fd >= 0 && conns_[i].watching_output) send_rest(i);
    }
  }

  void connected(std::size_t i) {
    Conn& c = conns_[i];
    int error = 0;
    socklen_t len = sizeof error;
    ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &error, &len);
    if (error == EINPROGRESS || error == EALREADY) return;
    if (error != 0) return fail(i, fmt::format("connect to {}:{}: {}", o_.host, o_.port, std::strerror(error)));
    c.connected = true;
    fill_message(tx(i), o_.size, static_cast<std::uint32_t>(i), c.seq);
    send_rest(i);
  }

  // Sends what is left of the message in flight; watches for output while some is left.
  void send_rest(std::size_t i) {
    Conn& c = conns_[i];
    while (c.sent < o_.size) {
      const ssize_t n = ::send(c.fd, tx(i) + c.sent, o_.size - c.sent, MSG_NOSIGNAL);
      if (n > 0) {
        c.sent += static_cast<std::uint32_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!c.watching_output) watch(i, true);
        return;
      } else {
        return fail(i, fmt::format("send: {}", std::strerror(errno)));
      }
    }
    if (c.watching_output) watch(i, false);
  }

  // Reads what has come of the echo (never past the end of this message: nothing beyond
  // it can be on the way); once it is whole, checks it and starts the next message.
  void readable(std::size_t i) {
    Conn& c = conns_[i];
    for (;;) {
      const ssize_t n = ::recv(c.fd, rx(i) + c.got, o_.size - c.got, 0);
      if (n > 0) {
        c.got += static_cast<std::uint32_t>(n);
        if (c.got < o_.size) continue;
        break;
      }
      if (n == 0) return fail(i, fmt::format("the server closed the connection ({} of {} bytes echoed)", c.got, o_.size));
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      return fail(i, fmt::format("recv: {}", std::strerror(errno)));
    }
    if (std::memcmp(tx(i), rx(i), o_.size) != 0 || c.sent != o_.size)
      return fail(i, fmt::format("echo of message {} differs from what was sent", c.seq));
    ++tally_.completed;
    if (!c.confirmed) {
      c.confirmed = true;
      ++settled_;
    }
    ++c.seq;
    c.sent = c.got = 0;
    fill_message(tx(i), o_.size, static_cast<std::uint32_t>(i), c.seq);
    if (running_) send_rest(i);  // else it waits for the others to connect
  }

  const Options& o_;
  sockaddr_in address_;
  int ep_ = -1;
  std::vector<Conn> conns_;
  std::vector<std::byte> buffers_;
  std::size_t opened_ = 0;   // connections opened so far
  std::size_t settled_ = 0;  // of those, confirmed or failed
  bool running_ = false;     // all connections settled: the closed loops run
  Tally tally_;
};

#endif  // COOP_HAS_EPOLL

// ---- The coop engine ------------------------------------------------------------------------
// One task per connection on one coop loop; the main task opens the connections (in
// batches of kConnectWindow), then times the window with sleeps. Coroutines are free
// functions with parameters (no lambda captures to outlive).

struct CoopShared {
  const Options* o = nullptr;
  Tally tally;
  std::size_t settled = 0;  // connections confirmed or failed
  coop::Event go;           // set when all connections are settled
  bool stop = false;
};

coop::Task<void> coop_connection(coop::TcpStream s, std::uint32_t id, CoopShared& sh) {
  const std::size_t size = sh.o->size;
  std::vector<std::byte> tx(size), rx(size);
  bool confirmed = false;
  std::string failure;
  for (std::uint32_t seq = 0; !sh.stop; ++seq) {
    fill_message(tx.data(), size, id, seq);
    try {
      co_await s.write_all(std::span<const std::byte>(tx));
      std::size_t got = 0;
      while (got < size) {
        const std::size_t n = co_await s.read_some(std::span<std::byte>(rx).subspan(got));
        if (n == 0) throw std::runtime_error(fmt::format("the server closed the connection ({} of {} bytes echoed)", got, size));
        got += n;
      }
    } catch (const std::exception& e) {
      failure = e.what();
    }
    if (failure.empty() && tx != rx) failure = fmt::format("echo of message {} differs from what was sent", seq);
    if (!failure.empty()) {
      sh.tally.error(fmt::format("connection {}: {}", id, failure));
      break;
    }
    ++sh.tally.completed;
    if (!confirmed) {
      confirmed = true;
      ++sh.settled;
      co_await sh.go.wait();  // until all are connected
    }
  }
  if (!confirmed) ++sh.settled;
}

// Opens one connection and starts its loop; a failure to connect is counted.
coop::Task<void> coop_open(std::uint32_t id, CoopShared& sh) {
  coop::TcpStream s;
  std::string failure;
  try {
    s = co_await coop::open_connection(sh.o->host, sh.o->port);
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (!failure.empty()) {
    sh.tally.error(fmt::format("connection {}: {}", id, failure));
    ++sh.settled;
    co_return;
  }
  (void)coop::create_task(coop_connection(std::move(s), id, sh));
}

coop::Task<Result> coop_main(CoopShared& sh) {
  const Options& o = *sh.o;
  const auto start = Clock::now();
  for (std::size_t opened = 0; opened < o.connections;) {
    const std::size_t batch = std::min(kConnectWindow, o.connections - opened);
    for (std::size_t k = 0; k < batch; ++k) (void)coop::create_task(coop_open(static_cast<std::uint32_t>(opened + k), sh));
    opened += batch;
    while (sh.settled < opened) {
      co_await coop::sleep(1ms);
      if (Clock::now() - start > kConnectTimeout) {
        sh.tally.error("gave up connecting");
        sh.stop = true;
        co_return Result{o.connections, 0, 0, 0, sh.tally.errors, sh.tally.first_error};
      }
    }
  }
  if (sh.tally.errors == o.connections) co_return Result{o.connections, 0, 0, 0, sh.tally.errors, sh.tally.first_error};  // none left
  sh.go.set();
  co_await coop::sleep(std::chrono::duration_cast<coop::Clock::duration>(std::chrono::duration<double>(o.warmup)));
  const auto t0 = Clock::now();
  const double cpu0 = cpu_seconds();
  const std::uint64_t done0 = sh.tally.completed;
  co_await coop::sleep(std::chrono::duration_cast<coop::Clock::duration>(std::chrono::duration<double>(o.seconds)));
  const std::uint64_t requests = sh.tally.completed - done0;
  const double cpu = cpu_seconds() - cpu0;
  const auto t1 = Clock::now();
  sh.stop = true;  // the connections stop after their message in flight (or are cancelled)
  co_return Result{o.connections, requests, seconds_between(t0, t1), cpu, sh.tally.errors, sh.tally.first_error};
}

Result run_coop(const Options& o) {
  CoopShared sh;
  sh.o = &o;
  coop::RunOptions ro;
  ro.slow_step_warning = 0ms;  // opening 256 connections in one step is expected
  Result r = coop::run(coop_main(sh), ro);
  r.errors = sh.tally.errors;
  r.first_error = sh.tally.first_error;
  return r;
}

}  // namespace

int main(int argc, char** argv) try {
  Options o;
  CLI::App app{"echo_client — closed-loop load generator for any TCP echo server (see bench/README.md)"};
  app.add_option("--host", o.host, "Server address (numeric IPv4)")->capture_default_str();
  app.add_option("--port", o.port, "Server port")->required();
  app.add_option("--connections", o.connections, "Concurrent connections")->check(CLI::Range(1, 1'000'000))->capture_default_str();
  app.add_option("--seconds", o.seconds, "Length of the timed window")->check(CLI::Range(0.01, 3600.0))->capture_default_str();
  app.add_option("--warmup", o.warmup, "Seconds of unmeasured load before the window")->check(CLI::Range(0.0, 3600.0))->capture_default_str();
  app.add_option("--size", o.size, "Message size in bytes (at least 8: connection and sequence number)")
      ->check(CLI::Range(8, 1 << 20))
      ->capture_default_str();
#if COOP_HAS_EPOLL
  app.add_option("--engine", o.engine, "epoll (hand-written loop) or coop (one coop task per connection)")
      ->check(CLI::IsMember({"epoll", "coop"}))
#else
  app.add_option("--engine", o.engine, "coop (one coop task per connection; the epoll engine is Linux's)")
      ->check(CLI::IsMember({"coop"}))
#endif
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string msg = e.what();
    std::replace(msg.begin(), msg.end(), '\n', ' ');
    fmt::print(stderr, "echo_client: {} (try --help)\n", msg);
    return 2;
  }

  // Each connection is a file descriptor.
  const std::size_t limit = coop::raise_open_file_limit(2 * o.connections + 100);
  if (limit < o.connections + 50) {
    const std::size_t fit = limit > 100 ? limit - 100 : 1;
    fmt::print(stderr, "echo_client: the open-files limit is {}: running {} connections instead of {}\n", limit, fit,
               o.connections);
    o.connections = fit;
  }

#if COOP_HAS_EPOLL
  const Result r = o.engine == "coop" ? run_coop(o) : EpollClient(o).run();
#else
  const Result r = run_coop(o);
#endif
  const double rps = r.seconds > 0 ? static_cast<double>(r.requests) / r.seconds : 0.0;
  fmt::print(
      "{{\"connections\":{},\"size\":{},\"requests\":{},\"seconds\":{:.3f},\"rps\":{:.1f},\"errors\":{},"
      "\"checked\":true,\"cpu\":{:.3f},\"engine\":\"{}\"}}\n",
      r.connections, o.size, r.requests, r.seconds, rps, r.errors, r.seconds > 0 ? r.cpu / r.seconds : 0.0, o.engine);
  std::fflush(stdout);
  if (r.errors > 0) {  // one line, however many connections failed
    fmt::print(stderr, "echo_client: {} of {} connections failed; the first: {}\n", r.errors, r.connections,
               r.first_error);
    return 1;
  }
  if (r.requests == 0) {
    fmt::print(stderr, "echo_client: no request completed in the window\n");
    return 1;
  }
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "echo_client: error: {}\n", e.what());
  return 1;
}
