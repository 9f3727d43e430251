// test_socket.cpp — TCP on the loop (socket.hpp, poller.hpp): asyncio's streams.
//
// Proves, over real loopback connections:
//   * TcpListener::bind with port 0 picks a free port and port() reports it; accept and
//     open_connection join the two ends; read_some returns 0 at the end of the stream;
//   * write_all of 8 MB, more than the kernel buffers, parks the writer until a slow reader
//     has drained it, and every byte arrives in order;
//   * an echo server serves 300 concurrent clients, every message checked byte for byte,
//     and one loop thread holds thousands of connections at once (up to 10,000, as far as
//     the open-files limit allows);
//   * failures are std::system_error naming the operation and the address (a refused
//     connection, a port in use, a reset connection, writing to a peer that has gone:
//     never SIGPIPE);
//   * a name ("localhost") is resolved on the thread pool;
//   * socket waits are waits like any other: cancellable at once (the socket stays usable),
//     visible to tracing (WaitKind::io, "read from 127.0.0.1:..."), and never mistaken for
//     a deadlock while a peer outside the loop may still write; the idle loop sleeps in the
//     poller instead of spinning; data that arrived while nobody was reading is not lost;
//   * sockets outlive a run() and work in the next one (they register with each loop);
//   * misuse is a UsageError: two readers (or writers) at once, I/O on a closed or
//     moved-from stream, closing a socket under a task parked on it (which is woken).
//
// The network is real, so wall time is never bounded from above (one test bounds the CPU
// time an idle loop spends, against the wall time it waited). Most tests run under
// virtual time all the same: the loop still waits for real sockets, and timers stay exact.
// Each test's main runs under a generous watchdog (wait_for), so a broken poller fails the
// test with TimeoutError instead of hanging it. Every test passes with both pollers
// (cmake -DCOOP_POLLER=poll builds the second).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <map>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "support.hpp"

using namespace coop;
using namespace coop::testing;

namespace {

// ---- running a test -----------------------------------------------------------------------

// Real I/O takes what it takes, so slow-step warnings are off; any other diagnostic (an
// exception nobody retrieved, a task abandoned at shutdown) fails the test.
RunOptions socket_options(bool virtual_time, Tracer* tracer = nullptr) {
  RunOptions o;
  o.virtual_time = virtual_time;
  o.tracer = tracer;
  o.slow_step_warning = std::chrono::milliseconds(0);
  o.on_diagnostic = [](const Diagnostic& d) { FAIL_CHECK("unexpected diagnostic: ", d.message); };
  return o;
}

// Far beyond what any test needs; only a broken poller ever reaches it.
constexpr auto kWatchdog = 60s;

template <class T>
T run_sockets(Task<T> main, bool virtual_time = true, Tracer* tracer = nullptr) {
  return run(wait_for(std::move(main), kWatchdog), socket_options(virtual_time, tracer));
}

// ---- bytes and streams --------------------------------------------------------------------

std::span<const std::byte> bytes_of(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }

std::string loopback(std::uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

// Reads until `n` bytes have come, or the stream ends first.
Task<std::string> read_exactly(TcpStream& s, std::size_t n) {
  std::string out;
  std::vector<std::byte> buffer(std::max<std::size_t>(n, 1));
  while (out.size() < n) {
    const std::size_t got = co_await s.read_some(std::span(buffer).first(n - out.size()));
    if (got == 0) break;
    out.append(reinterpret_cast<const char*>(buffer.data()), got);
  }
  co_return out;
}

// Reads until the peer closes.
Task<std::string> read_to_end(TcpStream& s) {
  std::string out;
  std::vector<std::byte> buffer(4096);
  for (;;) {
    const std::size_t got = co_await s.read_some(buffer);
    if (got == 0) break;
    out.append(reinterpret_cast<const char*>(buffer.data()), got);
  }
  co_return out;
}

// Both ends of one connection.
struct Pair {
  TcpStream client;  // from open_connection: its peer is the listener's address
  TcpStream server;  // from accept: its peer is the client's address
};

// The kernel completes the handshake without waiting for accept(), so connecting first
// and accepting second needs no second task.
Task<Pair> connected_pair(TcpListener& listener) {
  Pair p;
  p.client = co_await open_connection("127.0.0.1", listener.port());
  p.server = co_await listener.accept();
  co_return p;
}

Task<void> write_after(TcpStream& s, Clock::duration delay, std::string text) {
  co_await sleep(delay);
  co_await s.write_all(text);
}

Task<void> close_after(TcpStream& s, Clock::duration delay) {
  co_await sleep(delay);
  s.close();
}

// Connects, sends `text` and closes.
Task<void> connect_and_send(std::uint16_t port, Clock::duration delay, std::string text) {
  co_await sleep(delay);
  TcpStream conn = co_await open_connection("127.0.0.1", port);
  co_await conn.write_all(text);
}

// Accepts one connection and reads it to the end.
Task<std::string> accept_and_read(TcpListener& listener) {
  TcpStream conn = co_await listener.accept();
  co_return co_await read_to_end(conn);
}

// 8 MB that no two offsets fill alike over a short stretch, so a lost, repeated or
// reordered chunk shows.
std::vector<std::byte> big_payload() {
  std::vector<std::byte> data(8u << 20);
  for (std::size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<std::byte>((i * 131 + (i >> 12) * 7 + (i >> 20)) & 0xff);
  return data;
}

// Where two byte strings first differ (their common length if one is a prefix).
std::size_t first_difference(std::span<const std::byte> a, std::span<const std::byte> b) {
  const auto [ia, ib] = std::mismatch(a.begin(), a.end(), b.begin(), b.end());
  (void)ib;
  return static_cast<std::size_t>(ia - a.begin());
}

// What an operation threw: its kind ("UsageError", "system_error", or "nothing" when it
// succeeded), its what() and, for a system_error, its code.
struct Caught {
  std::string kind = "nothing";
  std::string what;
  std::error_code code;
};

// One operation, with what it threw caught (no co_await may sit in a catch block, so the
// tests record and check afterwards).

Task<Caught> try_read(TcpStream& s) {
  std::vector<std::byte> buffer(8);
  Caught c;
  try {
    co_await s.read_some(buffer);
  } catch (const UsageError& e) {
    c = {"UsageError", e.what(), {}};
  } catch (const std::system_error& e) {
    c = {"system_error", e.what(), e.code()};
  }
  co_return c;
}

Task<Caught> try_write(TcpStream& s, std::string_view text) {
  Caught c;
  try {
    co_await s.write_all(text);
  } catch (const UsageError& e) {
    c = {"UsageError", e.what(), {}};
  } catch (const std::system_error& e) {
    c = {"system_error", e.what(), e.code()};
  }
  co_return c;
}

Task<Caught> try_accept(TcpListener& l) {
  Caught c;
  try {
    TcpStream conn = co_await l.accept();
  } catch (const UsageError& e) {
    c = {"UsageError", e.what(), {}};
  } catch (const std::system_error& e) {
    c = {"system_error", e.what(), e.code()};
  }
  co_return c;
}

// A peer outside the loop: a plain thread with a blocking socket. It connects at once, waits
// `delay` (real time), sends `text` and closes. Joined on destruction.
class ThreadPeer {
 public:
  ThreadPeer(std::uint16_t port, std::chrono::milliseconds delay, std::string text)
      : text_(std::move(text)), thread_([this, port, delay] { error_ = converse(port, delay); }) {}
  ThreadPeer(const ThreadPeer&) = delete;
  ThreadPeer& operator=(const ThreadPeer&) = delete;
  ~ThreadPeer() {
    if (thread_.joinable()) thread_.join();
  }
  // Waits for the thread; returns the errno of what failed in it, 0 if nothing did.
  int join() {
    if (thread_.joinable()) thread_.join();
    return error_;
  }

 private:
  int converse(std::uint16_t port, std::chrono::milliseconds delay) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);  // a blocking socket: this thread waits
    if (fd < 0) return errno;
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int error = 0;
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) < 0) {
      error = errno;
    } else {
      std::this_thread::sleep_for(delay);
      if (::send(fd, text_.data(), text_.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(text_.size()))
        error = errno == 0 ? EIO : errno;
    }
    ::close(fd);
    return error;
  }

  std::string text_;
  int error_ = 0;  // written by the thread, read after join()
  std::thread thread_;
};

std::chrono::nanoseconds thread_cpu_time() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

// ---- bind, accept, open_connection, read_some, close --------------------------------------

struct PortReport {
  std::uint16_t client_sees_port = 0;      // client.peer().port()
  std::string server_sees;                 // server.peer().to_string()
  std::string client_local;                // the client's own address, from getsockname
};

Task<PortReport> connect_to_chosen_port(TcpListener& listener) {
  Pair p = co_await connected_pair(listener);
  PortReport r;
  r.client_sees_port = p.client.peer().port();
  r.server_sees = p.server.peer().to_string();
  sockaddr_in local{};
  socklen_t len = sizeof local;
  ::getsockname(p.client.native_handle(), reinterpret_cast<sockaddr*>(&local), &len);
  r.client_local = loopback(ntohs(local.sin_port));
  co_return r;
}

TEST_CASE("TcpListener::bind with port 0 picks a free port, and port() reports the one chosen") {
  TcpListener a = TcpListener::bind("127.0.0.1", 0);
  TcpListener b = TcpListener::bind("127.0.0.1", 0);
  CHECK(a.port() != 0);
  CHECK(b.port() != 0);
  CHECK(a.port() != b.port());
  CHECK(a.local().to_string() == loopback(a.port()));

  // The port reported is the one that listens: connecting to it reaches this listener.
  PortReport r = run_sockets(connect_to_chosen_port(a));
  CHECK(r.client_sees_port == a.port());
  CHECK(r.server_sees == r.client_local);
}

struct Conversation {
  std::string server_heard;
  std::string client_heard;
};

Task<Conversation> converse(TcpListener& listener) {
  Pair p = co_await connected_pair(listener);
  Conversation c;
  co_await p.client.write_all("hello, ");
  co_await p.client.write_all(bytes_of("server"));
  c.server_heard = co_await read_exactly(p.server, 13);
  co_await p.server.write_all("hello, client");
  c.client_heard = co_await read_exactly(p.client, 13);
  co_return c;
}

TEST_CASE("accept and open_connection join two ends: what one writes the other reads, in order") {
  TcpListener listener = TcpListener::bind("127.0.0.1", 0);
  Conversation c = run_sockets(converse(listener));
  CHECK(c.server_heard == "hello, server");
  CHECK(c.client_heard == "hello, client");
}

struct EndOfStream {
  std::string received;
  std::size_t next_read = 99;
  std::size_t read_after_that = 99;
  bool client_open_after_close = true;
};

Task<EndOfStream> read_until_closed(TcpListener& listener) {
  Pair p = co_await connected_pair(listener);
  co_await p.client.write_all("last words");
  p.client.close();
  EndOfStream r;
  r.client_open_after_close = p.client.is_open();
  p.client.close();  // closing twice is harmless
  r.received = co_await read_to_end(p.server);
  std::vector<std::byte> buffer(16);
  r.next_read = co_await p.server.read_some(buffer);
  r.read_after_that = co_await p.server.read_some(buffer);
  co_return r;
}

TEST_CASE("read_some returns 0 at the end of the stream, after all the data, and on every later read") {
  TcpListener listener = TcpListener::bind("127.0.0.1", 0);
  EndOfStream r = run_sockets(read_until_closed(listener));
  CHECK(r.received == "last words");
  CHECK(r.next_read == 0);
  CHECK(r.read_after_that == 0);
  CHECK_FALSE(r.client_open_after_close);
}

struct MidRead {
  std::size_t got = 99;
  Clock::duration at{};
};

Task<MidRead> peer_closes_while_parked(TcpListener& listener) {
  Pair p = co_await connected_pair(listener);
  auto closer = create_task(close_after(p.client, 20ms), "closer");
  std::vector<std::byte> buffer(64);
  MidRead r;
  r.got = co_await p.server.read_some(buffer);  // parks: nothing has been sent
  r.at = elapsed();
  co_await closer;
  co_return r;
}

TEST_CASE("a peer closing while a read is parked wakes the reader with 0") {
  TcpListener listener = TcpListener::bind("127.0.0.1", 0);
  MidRead r = run_sockets(peer_closes_while_parked(listener));
  CHECK(r.got == 0);
  CHECK(r.at >= 20ms);  // woken by the close, not before it
}

// ---- large writes: the writer parks while the kernel is full ------------------------------

Task<void> send_all_and_close(TcpStream conn, const std::vector<std::byte>* data) {
  co_await conn.write_all(std::span<const std::byte>(*data));
}  // conn closes here: the reader sees the end

// Drains slowly: waits before the first read, so the writer fills the kernel's buffers,
// and sleeps after every read.
Task<std::vector<std::byte>> drain_slowly(TcpStream& conn) {
  std::vector<std::byte> received;
  std::vector<std::byte> buffer(64 * 1024);
  co_await sleep(30ms);
  for (;;) {
    const std::size_t got = co_await conn.read_some(buffer);
    if (got == 0) break;
    received.insert(received.end(), buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(got));
    co_await sleep(1ms);
  }
  co_return received;
}

Task<std::vector<std::byte>> write_big_to_slow_reader(TcpListener& listener, const std::vector<std::byte>* data) {
  Pair p = co_await connected_pair(listener);
  auto writer = create_task(send_all_and_close(std::move(p.client), data), "writer");
  std::vector<std::byte> received = co_await drain_slowly(p.server);
  co_await writer;
  co_return received;
}

TEST_CASE("write_all of 8 MB, more than the kernel holds, parks the writer until a slow reader has it all, byte for byte") {
  const std::vector<std::byte> payload = big_payload();
  TcpListener listener = TcpListener::bind("127.0.0.1", 0);
  TraceRecorder trace;
  const std::vector<std::byte> received = run_sockets(write_big_to_slow_reader(listener, &payload), true, &trace);

  REQUIRE(received.size() == payload.size());
  CHECK(first_difference(received, payload) == payload.size());

  // The writer really had to wait for the kernel: it suspended on the socket.
  std::size_t parks = 0;
  for (const TraceEvent& e : trace.events_of("writer"))
    if (e.kind == TraceEvent::Kind::suspended && e.wait == WaitKind::io) {
      CHECK(e.detail == "write to " + loopback(listener.port()));
      ++parks;
    }
  CHECK(parks >= 1);
}

// ---- an echo server with hundreds of clients ----------------------------------------------

constexpr int kEchoClients = 300;
constexpr int kMessagesPerClient = 3;

// Each client's messages differ in size (up to ~16 KB, so many arrive in pieces) and say
// whose they are, so a mixed-up echo shows as well as a corrupted one.
std::string echo_message(int client, int k) {
  std::string s = "client " + std::to_string(client) + " message " + std::to_string(k) + ":";
  const std::size_t extra = static_cast<std::size_t>((client * 7919 + k * 104729) % 16384);
  for (std::size_t i = 0; i < extra; ++i) s += static_cast<char>('a' + (client + k * 7 + static_cast<int>(i)) % 26);
  return s;
}

Task<void> echo_handler(TcpStream conn) {
  std::vector<std::byte> buffer(4096);
  for (;;) {
    const std::size_t got = co_await conn.read_some(buffer);
    if (got == 0) break;
    co_await conn.write_all(std::span<const std::byte>(buffer).first(got));
  }
}

Task<void> echo_server(TcpListener& listener, int connections) {
  std::vector<TaskHandle<void>> handlers;
  for (int i = 0; i < connections; ++i) {
    TcpStream conn = co_await listener.accept();
    handlers.push_back(create_task(echo_handler(std::move(conn))));
  }
  for (TaskHandle<void>& h : handlers) co_await h;
}

// Every client connects, then waits for all the others before it sends anything: all 300
// connections are open, and all 300 server handlers parked, at the same time.
struct Rendezvous {
  int expected = 0;
  int connected = 0;
  Event everyone{"everyone connected"};
};

// Returns how many of its echoes came back wrong.
Task<int> echo_client(std::uint16_t port, int id, Rendezvous* all) {
  TcpStream conn = co_await open_connection("127.0.0.1", port);
  if (++all->connected == all->expected) all->everyone.set();
  co_await all->everyone.wait();
  int bad = 0;
  for (int k = 0; k < kMessagesPerClient; ++k) {
    const std::string message = echo_message(id, k);
    co_await conn.write_all(message);
    const std::string echo = co_await read_exactly(conn, message.size());
    if (echo != message) ++bad;
  }
  co_return bad;
}  // closing ends its handler

struct EchoResult {
  int connected = 0;
  std::vector<int> bad;
};

Task<EchoResult> echo_many(TcpListener& listener) {
  Rendezvous all;
  all.expected = kEchoClients;
  auto server = create_task(echo_server(listener, kEchoClients), "server");
  std::vector<Task<int>> clients;
  for (int i = 0; i < kEchoClients; ++i) clients.push_back(echo_client(listener.port(), i, &all));
  EchoResult r;
  r.bad = co_await gather(std::move(clients));
  r.connected = all.connected;
  co_await server;
  co_return r;
}

TEST_CASE("an echo server serves 300 concurrent clients, every message echoed byte for byte") {
  TcpListener listener = TcpListener::bind("127.0.0.1", 0);
  EchoResult r = run_sockets(echo_many(listener));
  CHECK(r.connected == kEchoClients);
  REQUIRE(r.bad.size() == static_cast<std::size_t>(kEchoClients));
  int clients_with_bad_echoes = 0;
  for (int b : r.bad) clients_with_bad_echoes += b != 0 ? 1 : 0;
  CHECK(clients_with_bad_echoes == 0);
}

// ---- thousands of connections on one loop thread ------------------------------------------

constexpr std::size_t kManyWanted = 10'000;
constexpr std::size_t kFileSlack = 64;    // stdio, the poller, the listener, sanitizers...
constexpr std::size_t kConnectBatch = 256;  // connects in flight at once: well under the backlog
constexpr std::size_t kMessageSize = 12;

std::string numbered_message(std::size_t i) {
  std::string s = "#" + std::to_string(i) + ":";
  s.resize(kMessageSize, '.');
  return s;
}

// The server side of one connection: one message in, the same back, then close.
Task<void> answer_once(TcpStream conn) {
  const std::string message = co_await read_exactly(conn, kMessageSize);
  co_await conn.write_all(message);
}

Task<void> accept_and_answer(TcpListener& listener, std::size_t n, Event* all_accepted) {
  std::vector<TaskHandle<void>> handlers;
  handlers.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    TcpStream conn = co_await listener.accept();
    handlers.push_back(create_task(answer_once(std::move(conn))));
  }
  all_accepted->set();
  for (TaskHandle<void>& h : handlers) co_await h;
}

// The client side: send, check the echo byte for byte, then see the server's close.
Task<bool> round_trip(TcpStream conn, std::size_t i) {
  const std::string message = numbered_message(i);
  co_await conn.write_all(message);
  const std::string echo = co_await read_exactly(conn, message.size());
  std::vector<std::byte> rest(8);
  const std::size_t after = co_await conn.read_some(rest);
  co_return echo == message && after == 0;
}

struct ManyResult {
  std::size_t connected = 0;
  std::size_t parked_at_once = 0;  // server handlers parked in read_some together
  std::size_t good_round_trips = 0;
};

Task<ManyResult> many_connections(std::size_t n) {
  TcpListener listener = TcpListener::bind("127.0.0.1", 0);
  Event all_accepted("all accepted");
  auto server = create_task(accept_and_answer(listener, n, &all_accepted), "server");
  ManyResult r;

  // Connect all, a batch at a time (so the listen backlog never overflows), and keep them.
  std::vector<TcpStream> clients;
  clients.reserve(n);
  for (std::size_t first = 0; first < n; first += kConnectBatch) {
    std::vector<Task<TcpStream>> batch;
    for (std::size_t i = first; i < std::min(n, first + kConnectBatch); ++i)
      batch.push_back(open_connection("127.0.0.1", listener.port()));
    std::vector<TcpStream> connected = co_await gather(std::move(batch));
    for (TcpStream& s : connected) clients.push_back(std::move(s));
  }
  r.connected = clients.size();
  co_await all_accepted.wait();
  co_await sleep(0ms);  // the last handlers take their first step, and park
  r.parked_at_once = outside_work_in_flight();

  // One round trip each, all at once; each ends with both sides closed.
  std::vector<Task<bool>> trips;
  trips.reserve(n);
  for (std::size_t i = 0; i < n; ++i) trips.push_back(round_trip(std::move(clients[i]), i));
  const std::vector<bool> ok = co_await gather(std::move(trips));
  r.good_round_trips = static_cast<std::size_t>(std::count(ok.begin(), ok.end(), true));
  co_await server;
  co_return r;
}

TEST_CASE("one loop thread holds thousands of connections at once (up to 10,000, as the open-files limit allows)") {
  // Each connection costs two descriptors here: the client's end and the server's.
  const std::size_t limit = raise_open_file_limit(2 * kManyWanted + kFileSlack);
  std::size_t n = kManyWanted;
  if (limit < 2 * n + kFileSlack) {
    n = limit > kFileSlack ? (limit - kFileSlack) / 2 : 0;
    MESSAGE("the open-files limit is " << limit << ": testing " << n << " connections instead of "
                                       << kManyWanted);
  }
  REQUIRE(n > 0);
  ManyResult r = run_sockets(many_connections(n));
  CHECK(r.connected == n);
  CHECK(r.parked_at_once >= n);
  CHECK(r.good_round_trips == n);
}

// ---- failures: std::system_error naming the operation and the address ---------------------

Task<Caught> connect_to(std::uint16_t port) {
  Caught c;
  try {
    TcpStream conn = co_await open_connection("127.0.0.1", port);
  } catch (const std::system_error& e) {
    c = {"system_error", e.what(), e.code()};
  }
  co_return c;
}

TEST_CASE("a refused connection throws std::system_error naming the operation and the address") {
  std::uint16_t port = 0;
  {
    TcpListener surely_closed = TcpListener::bind("127.0.0.1", 0);
    port = surely_closed.port();
  }  // closed: nothing listens there now
  Caught c = run_sockets(connect_to(port));
  CHECK(c.kind == "system_error");
  CHECK(c.what == "connect to " + loopback(port) + ": Connection refused");
  CHECK(c.code == std::errc::connection_refused);
}

TEST_CASE("binding a port already in use throws std::system_error naming bind and the address") {
  TcpListener first = TcpListener::bind("127.0.0.1", 0);
  Caught c;
  try {
    TcpListener second = TcpListener::bind("127.0.0.1", first.port());
  } catch (const std::system_error& e) {
    c = {"system_error", e.what(), e.code()};
  }
  CHECK(c.kind == "system_error");
  CHECK(c.what.rfind("bind " + loopback(first.port()) + ":", 0) == 0);
  CHECK(c.code == std::errc::address_in_use);
}

Task<Caught> write_until_refused(TcpListener& listener) {
  Pair p = co_await connected_pair(listener);
  p.server.close();
  const std::vector<std::byte> chunk(64 * 1024, std::byte{'x'});
  Caught c;
  // The first writes may still be accepted by the kernel; the peer answers them with a
  // reset, and from then on writing fails. Never for long: the bound only ends the loop.
  for (int attempt = 0; attempt < 5000 && c.kind == "nothing"; ++attempt) {
    try {
      co_await p.client.write_all(chunk);
    } catch (const std::system_error& e) {
      c = {"system_error", e.what(), e.code()};
    }
    if (c.kind == "nothing") co_await sleep(1ms);
  }
  co_return c;
}

bool broken_pipe_or_reset(std::error_code code) {
  return code == std::errc::broken_pipe || code == std::errc::connection_reset;
}

TEST_CASE("writing to a peer that has closed throws std::system_error (EPIPE or ECONNRESET), never SIGPIPE") {
  TcpListener listener = TcpListener::bind("127.0.0.1", 0);
  Caught c = run_sockets(write_until_refused(listener), false);  // real time: the reset needs a moment
  CHECK(c.kind == "system_error");
  CHECK_MESSAGE(broken_pipe_or_reset(c.code), c.code.message());
  CHECK(c.what.rfind("write to " + loopback(listener.port()) + ":", 0) == 0);
}

Task<Caught> parked_writer_sees_peer_go(TcpListener& listener, const std::vector<std::byte>* data) {
  Pair p = co_await connected_pair(listener);
  auto closer = create_task(close_after(p.server, 30ms), "closer");  // reads nothing, then goes
  Caught c;
  try {
    co_await p.client.write_all(std::span<const std::byte>(*data));  // fills the kernel, parks
  } catch (const std::system_error& e) {
    c = {"system_error", e.what(), e.code()};
  }
  co_await closer;
  co_return c;
}

TEST_CASE("a writer parked on a full kernel buffer is woken with std::system_error when the peer closes") {
  const std::vector<std::byte> payload = big_payload();
  TcpListener listener = TcpListener::bind("127.0.0.1", 0);
  Caught c = run_sockets(parked_writer_sees_peer_go(listener, &payload));
  CHECK(c.kind == "system_error");
  CHECK_MESSAGE(broken_pipe_or_reset(c.code), c.code.message());
  CHECK(c.what.rfind("write to " + loopback(listener.port()) + ":", 0) == 0);
}

Task<Caught> read_after_reset(TcpListener& listener) {
  Pair p = co_await connected_pair(listener);
  // SO_LINGER with a zero timeout: close() resets the connection instead of ending it.
  const linger abort_on_close{1, 0};
  ::setsockopt(p.client.native_handle(), SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
  auto closer = create_task(close_after(p.client, 10ms), "closer");
  Caught c = co_await try_read(p.server);  // parks, and is woken by the reset
  co_await closer;
  co_return c;
}

TEST_CASE("a read on a connection the peer reset throws std::system_error naming read and the address") {
  TcpListener listener = TcpListener::bind("127.0.0.1", 0);
  Caught c = run_sockets(read_after_reset(listener));
  CHECK(c.kind == "system_error");
  CHECK(c.code == std::errc::connection_reset);
  CHECK(c.what.rfind("read from 127.0.0.1:", 0) == 0);
}

// ---- names are resolved on the thread pool ------------------------------------------------

struct ByName {
  std::string peer;
  std::string heard;
};

Task<ByName> connect_by_name(TcpListener& listener) {
  TcpStream client = co_await open_connection("localhost", listener.port());
  TcpStream server = co_await listener.accept();
  co_await client.write_all("found you");
  ByName r;
  r.peer = client.peer().to_string();
  r.heard = co_await read_exactly(server, 9);
  co_return r;
}

TEST_CASE("open_connection resolves a name (localhost) on the thread pool, then connects") {
  TcpListener listener = TcpListener::bind("127.0.0.1", 0);
  TraceRecorder trace;
  ByName r = run_sockets(connect_by_name(listener), true, &trace);
  CHECK(r.peer == loopback(listener.port()));  // "localhost" may also name ::1: nobody listens there
  CHECK(r.heard == "found you");
  bool waited_on_thread = false;
  for (const TraceEvent& e : trace.events())
    waited_on_thread = waited_on_thread || (e.kind == TraceEvent::Kind::suspended && e.wait == WaitKind::thread);
  CHECK(waited_on_thread);  // getaddrinfo blocks: it ran on a thread, not on the loop
}

// ---- cancellation -------------------------------------------------------------------------

struct CancelReport {
  bool got_cancelled_error = false;
  Clock::duration cancelled_at{};
  Clock::duration error_seen_at{};
  bool handle_cancelled = false;
  std::string later_read;  // what a read on the same socket got afterwards
};

Task<void> read_once(TcpStream& s, CancelReport* r) {
  std::vector<std::byte> buffer(64);
  try {
    co_await s.read_some(buffer);
  } catch (const CancelledError&) {
    r->got_cancelled_error = true;
    r->error_seen_at = elapsed();
    throw;
  }
}

Task<CancelReport> cancel_parked_read(TcpListener& listener) {
  Pair p = co_await connected_pair(listener);
  CancelReport r;
  auto reader = create_task(read_once(p.server, &r), "reader");
  co_await sleep(10ms);  // the reader is parked in read_some: nothing was sent
  r.cancelled_at = elapsed();
  reader.cancel();
  // At once, before the cancelled task has even run again, the socket is free for the next
  // reader: this read parks too (a second reader beside a parked one would be a UsageError),
  // and the data, when it comes, goes to it.
  auto writer = create_task(write_after(p.client, 5ms, "still here"), "writer");
  r.later_read = co_await read_exactly(p.server, 10);
  try {
    co_await reader;
  } catch (const CancelledError&) {
  }
  r.handle_cancelled = reader.cancelled();
  co_await writer;
  co_return r;
}

TEST_CASE("cancelling a task parked in read_some delivers CancelledError at once; the stream stays usable") {
  TcpListener listener = TcpListener::bind("127.0.0.1", 0);
  CancelReport r = run_sockets(cancel_parked_read(listener));
  CHECK(r.got_cancelled_error);
  CHECK(r.error_seen_at == r.cancelled_at);  // virtual time: not a tick later
  CHECK(r.handle_cancelled);
  CHECK(r.later_read == "still here");
}

Task<void> accept_once(TcpListener& listener, CancelReport* r) {
  try {
    TcpStream conn = co_await listener.accept();
  } catch (const CancelledError&) {
    r->got_cancelled_error = true;
    r->error_seen_at = elapsed();
    throw;
  }
}

Task<CancelReport> cancel_parked_accept(TcpListener& listener) {
  CancelReport r;
  auto acceptor = create_task(accept_once(listener, &r), "acceptor");
  co_await sleep(10ms);  // the acceptor is parked: nobody has connected
  r.cancelled_at = elapsed();
  acceptor.cancel();
  // The listener is free at once: this accept parks, and the connection made later wakes it.
  auto client = create_task(connect_and_send(listener.port(), 5ms, "accepted"), "client");
  TcpStream conn = co_await listener.accept();
  r.later_read = co_await read_to_end(conn);
  try {
    co_await acceptor;
  } catch (const CancelledError&) {
  }
  r.handle_cancelled = acceptor.cancelled();
  co_await client;
  co_return r;
}

TEST_CASE("cancelling a task parked in accept delivers CancelledError at once; the listener keeps accepting") {
  TcpListener listener = TcpListener::bind("127.0.0.1", 0);
  CancelReport r = run_sockets(cancel_parked_accept(listener));
  CHECK(r.got_cancelled_error);
  CHECK(r.error_seen_at == r.cancelled_at);
  CHECK(r.handle_cancelled);
  CHECK(r.later_read == "accepted");
}

// ---- tracing ------------------------------------------------------------------------------

Task<std::string> read_some_text(TcpStream& s) {
  std::vector<std::byte> buffer(64);
  const std::size_t got = co_await s.read_some(buffer);
  co_return std::string(reinterpret_cast<const char*>(buffer.data()), got);
}

Task<void> traced_waits(TcpListener& listener) {
  Pair p = co_await connected_pair(listener);
  auto reader = create_task(read_some_text(p.client), "reader");
  auto acceptor = create_task(accept_and_read(listener), "acceptor");
  co_await sleep(5ms);  // both park: nothing was sent, nobody else connects
  co_await p.server.write_all("ping");
  CHECK(co_await reader == "ping");
  TcpStream other = co_await open_connection("127.0.0.1", listener.port());
  co_await other.write_all("bye");
  other.close();
  CHECK(co_await acceptor == "bye");
}

TEST_CASE("a socket wait shows in traces as WaitKind::io, described by operation and address") {
  TcpListener listener = TcpListener::bind("127.0.0.1", 0);
  TraceRecorder trace;
  run_sockets(traced_waits(listener), true, &trace);

  auto suspensions = [&trace](const char* task) {
    std::vector<TraceEvent> out;
    for (const TraceEvent& e : trace.events_of(task))
      if (e.kind == TraceEvent::Kind::suspended) out.push_back(e);
    return out;
  };
  const std::vector<TraceEvent> reader = suspensions("reader");
  REQUIRE(reader.size() == 1);
  CHECK(reader[0].wait == WaitKind::io);
  CHECK(reader[0].detail == "read from " + loopback(listener.port()));

  const std::vector<TraceEvent> acceptor = suspensions("acceptor");
  REQUIRE(!acceptor.empty());
  CHECK(acceptor[0].wait == WaitKind::io);
  CHECK(acceptor[0].detail == "accept on " + loopback(listener.port()));
}

// ---- the loop waits for sockets: not a deadlock, and not a busy loop ----------------------

TEST_CASE("a task parked on a socket read is not a deadlock, though nothing else runs: the peer may still write") {
  TcpListener listener = TcpListener::bind("127.0.0.1", 0);
  // A peer the loop cannot see: a plain thread that writes after 50 ms of real time.
  ThreadPeer peer(listener.port(), 50ms, "late but here");
  // No timer, no other task, no watchdog: only the parked read keeps the loop waiting.
  std::string heard;
  try {
    heard = run(accept_and_read(listener), socket_options(true));
  } catch (const DeadlockError& e) {
    FAIL_CHECK("a socket wait was taken for a deadlock: ", e.what());
  }
  CHECK(peer.join() == 0);
  CHECK(heard == "late but here");
}

struct IdleCost {
  std::string heard;
  std::chrono::nanoseconds cpu{};
  Clock::duration wall{};
};

Task<IdleCost> wait_measuring_cpu(TcpListener& listener) {
  TcpStream conn = co_await listener.accept();
  IdleCost c;
  const auto cpu_before = thread_cpu_time();
  const auto wall_before = Clock::now();
  c.heard = co_await read_to_end(conn);  // parks until the peer's thread writes
  c.cpu = thread_cpu_time() - cpu_before;
  c.wall = Clock::now() - wall_before;
  co_return c;
}

TEST_CASE("a loop waiting on a socket sleeps in the poller: it does not spin while the socket is writable") {
  TcpListener listener = TcpListener::bind("127.0.0.1", 0);
  ThreadPeer peer(listener.port(), 300ms, "done");
  IdleCost c = run_sockets(wait_measuring_cpu(listener), false);
  CHECK(peer.join() == 0);
  CHECK(c.heard == "done");
  // The accepted socket is writable the whole time; a poller that reported that over and
  // over (level-triggered interest in a direction nobody waits for) would burn the CPU.
  // Sleeping in the poller costs next to nothing: far less than half the time waited.
  CHECK_MESSAGE(c.cpu * 2 < c.wall, "CPU " << c.cpu.count() << " ns over " << c.wall.count() << " ns waited");
}

// ---- readiness is never lost --------------------------------------------------------------

struct LateReader {
  std::string first;
  std::string second;
};

Task<void> keep_parked(TcpStream& s) {
  std::vector<std::byte> buffer(8);
  co_await s.read_some(buffer);
}

Task<LateReader> data_arrives_while_nobody_reads(TcpListener& listener) {
  Pair p = co_await connected_pair(listener);
  Pair idle = co_await connected_pair(listener);
  LateReader r;
  // The first read parks, so the socket is registered with the poller.
  auto writer = create_task(write_after(p.client, 5ms, "one"), "writer");
  r.first = co_await read_exactly(p.server, 3);
  co_await writer;
  // Now data arrives with nobody reading. Another parked read keeps the loop polling, so
  // the poller sees the socket become readable, with no waiter, and moves on.
  auto other = create_task(keep_parked(idle.server), "other");
  co_await p.client.write_all("two");
  co_await sleep(20ms);
  // A reader that comes later must still get it (it tries before it parks).
  r.second = co_await read_exactly(p.server, 3);
  co_await idle.client.write_all("x");
  co_await other;
  co_return r;
}

TEST_CASE("data that arrived while nobody was reading is read by the next read_some: readiness is never lost") {
  TcpListener listener = TcpListener::bind("127.0.0.1", 0);
  LateReader r = run_sockets(data_arrives_while_nobody_reads(listener));
  CHECK(r.first == "one");
  CHECK(r.second == "two");
}

// ---- sockets outlive a run() --------------------------------------------------------------

struct Round {
  std::string server_heard;
  std::string client_heard;
  std::string accepted_heard;
};

// Every wait here parks (the data comes later), so each socket must be known to this
// run's poller, whichever loop it was first used with.
Task<Round> one_round(TcpListener& listener, Pair& p, int round) {
  Round r;
  const std::string tag = "round " + std::to_string(round);
  auto to_server = create_task(write_after(p.client, 5ms, tag), "to server");
  r.server_heard = co_await read_exactly(p.server, tag.size());
  co_await to_server;
  auto to_client = create_task(write_after(p.server, 5ms, tag), "to client");
  r.client_heard = co_await read_exactly(p.client, tag.size());
  co_await to_client;
  auto newcomer = create_task(connect_and_send(listener.port(), 5ms, tag), "newcomer");
  TcpStream conn = co_await listener.accept();
  r.accepted_heard = co_await read_to_end(conn);
  co_await newcomer;
  co_return r;
}

Task<Round> first_round(TcpListener& listener, Pair* p) {
  *p = co_await connected_pair(listener);
  co_return co_await one_round(listener, *p, 1);
}

TEST_CASE("sockets outlive their run(): used in the next run() they register with that loop's poller") {
  TcpListener listener = TcpListener::bind("127.0.0.1", 0);
  Pair p;
  for (int round = 1; round <= 3; ++round) {
    CAPTURE(round);
    Round r = round == 1 ? run_sockets(first_round(listener, &p)) : run_sockets(one_round(listener, p, round));
    const std::string tag = "round " + std::to_string(round);
    CHECK(r.server_heard == tag);
    CHECK(r.client_heard == tag);
    CHECK(r.accepted_heard == tag);
  }
}

// ---- misuse -------------------------------------------------------------------------------

struct TwoAtOnce {
  Caught second_reader;
  std::string first_reader_got;
  Caught second_writer;
  std::string first_writer_delivered;  // "all" when the reader got every byte, in order
};

Task<void> write_bytes(TcpStream& s, const std::vector<std::byte>* data) {
  co_await s.write_all(std::span<const std::byte>(*data));
}

Task<TwoAtOnce> two_at_once(TcpListener& listener, const std::vector<std::byte>* data) {
  Pair p = co_await connected_pair(listener);
  TwoAtOnce r;
  auto reader = create_task(read_some_text(p.server), "first reader");
  co_await sleep(5ms);  // the first reader is parked: nothing was sent
  r.second_reader = co_await try_read(p.server);
  co_await p.client.write_all("mine");
  r.first_reader_got = co_await reader;  // undisturbed by the second

  // Writers likewise: the first fills the kernel and parks; a second cannot wait beside it.
  auto writer = create_task(write_bytes(p.client, data), "first writer");
  co_await sleep(5ms);
  r.second_writer = co_await try_write(p.client, "more");
  const std::string got = co_await read_exactly(p.server, data->size());
  co_await writer;
  r.first_writer_delivered =
      first_difference(std::as_bytes(std::span(got.data(), got.size())), *data) == data->size() &&
              got.size() == data->size()
          ? "all"
          : "corrupted: " + std::to_string(got.size()) + " bytes";
  co_return r;
}

TEST_CASE("two tasks reading (or writing) one socket at once is a UsageError; the first is undisturbed") {
  TcpListener listener = TcpListener::bind("127.0.0.1", 0);
  const std::vector<std::byte> payload = big_payload();
  TwoAtOnce r = run_sockets(two_at_once(listener, &payload));
  CHECK(r.second_reader.kind == "UsageError");
  CHECK(r.second_reader.what.find("two tasks read") != std::string::npos);
  CHECK(r.first_reader_got == "mine");
  CHECK(r.second_writer.kind == "UsageError");
  CHECK(r.second_writer.what.find("two tasks write") != std::string::npos);
  CHECK(r.first_writer_delivered == "all");
}

struct ClosedUse {
  Caught read_moved_from;
  Caught write_moved_from;
  Caught read_closed;
  Caught write_closed;
  Caught accept_closed;
  std::string moved_to_works;
};

Task<ClosedUse> use_after_close(TcpListener& listener) {
  Pair p = co_await connected_pair(listener);
  ClosedUse r;
  TcpStream moved_to = std::move(p.client);
  r.read_moved_from = co_await try_read(p.client);
  r.write_moved_from = co_await try_write(p.client, "x");
  co_await moved_to.write_all("moved");  // the stream lives on in its new owner
  r.moved_to_works = co_await read_exactly(p.server, 5);
  p.server.close();
  r.read_closed = co_await try_read(p.server);
  r.write_closed = co_await try_write(p.server, "x");
  TcpListener gone = TcpListener::bind("127.0.0.1", 0);
  gone.close();
  r.accept_closed = co_await try_accept(gone);
  co_return r;
}

TEST_CASE("I/O on a closed or moved-from stream (or a closed listener) is a UsageError") {
  TcpListener listener = TcpListener::bind("127.0.0.1", 0);
  ClosedUse r = run_sockets(use_after_close(listener));
  CHECK(r.moved_to_works == "moved");
  auto check_usage = [](const Caught& c, const char* what) {
    INFO(std::string(what), ": caught ", c.kind, " (", c.what, ")");
    CHECK(c.kind == "UsageError");
  };
  check_usage(r.read_moved_from, "read_some on a moved-from stream");
  check_usage(r.write_moved_from, "write_all on a moved-from stream");
  check_usage(r.read_closed, "read_some on a closed stream");
  check_usage(r.write_closed, "write_all on a closed stream");
  check_usage(r.accept_closed, "accept on a closed listener");
}

struct ClosedUnder {
  Caught reader;
  Caught acceptor;
  std::size_t parked_after = 99;  // waits still parked in the poller afterwards
};

Task<ClosedUnder> close_under_parked_tasks(TcpListener& listener) {
  Pair p = co_await connected_pair(listener);
  ClosedUnder r;
  auto reader = create_task(try_read(p.server), "reader");
  auto acceptor = create_task(try_accept(listener), "acceptor");
  co_await sleep(5ms);  // both are parked: nothing was sent, nobody else connects
  p.server.close();
  listener.close();
  r.reader = co_await reader;
  r.acceptor = co_await acceptor;
  r.parked_after = outside_work_in_flight();
  co_return r;
}

TEST_CASE("closing a socket while a task is parked on it wakes that task with a UsageError") {
  TcpListener listener = TcpListener::bind("127.0.0.1", 0);
  ClosedUnder r = run_sockets(close_under_parked_tasks(listener));
  CHECK(r.reader.kind == "UsageError");
  CHECK(r.reader.what == "the socket was closed while this task waited on it");
  CHECK(r.acceptor.kind == "UsageError");
  CHECK(r.acceptor.what == "the socket was closed while this task waited on it");
  CHECK(r.parked_after == 0);
}

}  // namespace

TEST_CASE("a second reader is refused before it parks: no task's step goes on after it suspended") {
  // The refusal must come before the task is marked waiting; otherwise the trace (and the
  // loop) would believe it waits on an awaiter that no longer exists, while its step goes on.
  TcpListener listener = TcpListener::bind("127.0.0.1", 0);
  const std::vector<std::byte> payload = big_payload();
  TraceRecorder trace;
  TwoAtOnce r = run_sockets(two_at_once(listener, &payload), true, &trace);
  REQUIRE(r.second_reader.kind == "UsageError");
  // After a task's `suspended`, its next event must be `woken` (sleep(0) wakes at once) or
  // `step ended`: a suspended task runs no more code in that step.
  std::map<std::uint64_t, TraceEvent::Kind> last;
  int violations = 0;
  for (const TraceEvent& e : trace.events()) {
    auto it = last.find(e.task);
    if (it != last.end() && it->second == TraceEvent::Kind::suspended && e.kind != TraceEvent::Kind::woken &&
        e.kind != TraceEvent::Kind::step_ended) {
      ++violations;
      MESSAGE("task '", e.task_name, "': ", to_string(e.kind), " right after suspending");
    }
    last[e.task] = e.kind;
  }
  CHECK(violations == 0);
}
