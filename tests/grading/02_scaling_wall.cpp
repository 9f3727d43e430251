// Grader for exercise 02 — scaling_wall: an echo server on one thread. The clients are tasks
// on the same loop, talking over real loopback sockets, so these parts run in real time. No
// check depends on how fast the machine is: every byte is compared, and concurrency is shown
// by order (a quiet client connected first, and the others were served while it said
// nothing; a client that came after the stop got no echo). The 2 s limits only turn a server
// that would wait forever into a failure that says what it was waiting for.
#include "02_scaling_wall.hpp"

#include <algorithm>
#include <exception>
#include <map>
#include <set>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "exercise.hpp"
#include "grader.hpp"

using namespace std::chrono_literals;
using coop::Task;
using coop::TaskHandle;
using coop::TcpListener;
using coop::TcpStream;

namespace {

constexpr auto kPatience = 2s;  // what a step that takes microseconds may take before we give up
const grading::RunSettings kRealTime{.virtual_time = false};
const char* const kHost = "127.0.0.1";

// `t`, failing with "<what> did not happen within 2 s" if it takes longer.
template <class T>
Task<T> within(Task<T> t, std::string what, std::string why = {}) {
  try {
    co_return co_await coop::wait_for(std::move(t), kPatience);
  } catch (const coop::TimeoutError&) {
    grading::fail(fmt::format("{} did not happen within {} s{}", what, kPatience.count(), why));
  }
}

template <class T>
Task<T> join(TaskHandle<T> h) {
  co_return co_await h;
}

Task<void> wait_event(coop::Event& e) { co_await e.wait(); }

// Runs the clients' side. If it fails and the server task has failed meanwhile, the server's
// exception is the cause, and that is what the part reports (exercise::NotDone from a stub
// included: the part is then "not started").
template <class T>
Task<void> blame_server(Task<void> clients, TaskHandle<T> server) {
  std::exception_ptr failure;
  try {
    co_await clients;
  } catch (...) {
    failure = std::current_exception();
  }
  if (!failure) co_return;
  if (server.done() && server.outcome() == coop::Outcome::failed) {
    try {
      std::rethrow_exception(server.exception());
    } catch (const exercise::NotDone&) {
      throw;
    } catch (const std::exception& e) {
      grading::fail(fmt::format("task '{}' (your server) failed: {}", server.name(), e.what()));
    }
  }
  std::rethrow_exception(failure);
}

Task<void> send(TcpStream& conn, const std::string& text) { co_await conn.write_all(text); }

// Reads until `size` bytes have come, or the connection closes (then fewer).
Task<std::string> read_exactly(TcpStream& conn, std::size_t size) {
  std::string text(size, '\0');
  std::size_t got = 0;
  while (got < size) {
    const std::size_t n = co_await conn.read_some(std::as_writable_bytes(std::span(text)).subspan(got));
    if (n == 0) break;
    got += n;
  }
  text.resize(got);
  co_return text;
}

// For messages: "text", with bytes that do not print shown as \xNN; long ones cut short.
std::string quoted(const std::string& s) {
  std::string out;
  for (const char c : s.substr(0, 40)) {
    const auto u = static_cast<unsigned char>(c);
    out += u >= 0x20 && u < 0x7f ? std::string(1, c) : fmt::format("\\x{:02x}", u);
  }
  if (s.size() <= 40) return "\"" + out + "\"";
  return fmt::format("{} bytes beginning \"{}\"", s.size(), out);
}

// Checks that `got` is the echo of `sent`.
void check_echo(const std::string& got, const std::string& sent, const std::string& what) {
  if (got == sent) return;
  const grading::Hint exact{"Write back exactly the bytes each read_some gave (the first n of the buffer), in the "
                            "order they came, and keep reading until read_some gives 0."};
  if (got.size() < sent.size())
    grading::fail(
        fmt::format("{}: only {} of {} bytes came back before the connection closed", what, got.size(), sent.size()),
        exact);
  std::size_t at = 0;
  while (at < got.size() && got[at] == sent[at]) ++at;
  grading::fail(fmt::format("{}: the echo differs from what was sent at byte {} (sent {}, got back {}){}", what, at,
                            quoted(sent), quoted(got),
                            got.find('\0') != std::string::npos
                                ? ": zero bytes nobody sent came back; write back only the n bytes read_some gave"
                                : ""),
                exact);
}

// A message and its echo, with a time limit; `why` is added when the echo does not come.
Task<void> exchange(TcpStream& conn, std::string message, std::string what, std::string why = {}) {
  co_await conn.write_all(message);
  const std::string back = co_await within(read_exactly(conn, message.size()), "the echo of " + what, why);
  check_echo(back, message, what);
}

// ---- part 1 ----------------------------------------------------------------------------------

std::string pattern(std::size_t size) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>('!' + (i * 7 + i / 251) % 90);
  return s;
}

Task<void> talk_to_echo(TcpStream& client, TaskHandle<std::size_t> server) {
  std::size_t sent = 0;
  const std::vector<std::string> messages{"hello", "a second, longer message", "!", "four"};
  for (std::size_t i = 0; i < messages.size(); ++i) {
    co_await exchange(client, messages[i], fmt::format("message {} ({})", i + 1, quoted(messages[i])),
                      ": echo() must write back each chunk as soon as it has read it (the client waits for its echo "
                      "before it sends more, or closes)");
    sent += messages[i].size();
  }
  // 256 KiB: more than the kernel buffers hold, so it is written while the echo is read.
  const std::string big = pattern(256 * 1024);
  auto [ignored, back] =
      co_await within(coop::gather(send(client, big), read_exactly(client, big.size())), "the echo of 256 KiB");
  (void)ignored;
  check_echo(back, big, "a 256 KiB message");
  sent += big.size();
  client.close();
  const std::size_t echoed =
      co_await within(join(server), "echo() returning after the client closed the connection (read_some gives 0)");
  grading::check(echoed == sent,
                 fmt::format("echo() returned {}, expected {}: the number of bytes it echoed", echoed, sent),
                 grading::Hint{"Add up the n of every read_some: a big message arrives in many pieces, and each "
                               "piece counts."});
}

Task<void> one_connection() {
  TcpListener listener = TcpListener::bind(kHost, 0);
  TcpStream client = co_await coop::open_connection(kHost, listener.port());
  TcpStream accepted = co_await listener.accept();
  TaskHandle<std::size_t> server = coop::create_task(ex02::echo(std::move(accepted)), "echo");
  co_await blame_server(talk_to_echo(client, server), server);
}

// ---- part 2 ----------------------------------------------------------------------------------

constexpr int kClients = 200;  // the quiet one and 199 others

struct Crowd {
  int echoed = 0;                   // the other clients that have their echo
  std::size_t bytes = 0;            // sent by everyone
  std::vector<std::string> errors;  // what went wrong, per client
  coop::Event others_done{"the other clients have their echo"};
};

std::string message_of(int i) {
  return fmt::format("client {} says: ", i) +
         std::string(static_cast<std::size_t>(i % 37) * 29, static_cast<char>('a' + i % 26));
}

// Connects, sends its message, reads the echo; keeps the connection open until every other
// client has its echo too, so all of them are in flight at once.
Task<void> chatty_client(std::uint16_t port, int i, Crowd& crowd) {
  try {
    TcpStream conn = co_await coop::open_connection(kHost, port);
    const std::string message = message_of(i);
    crowd.bytes += message.size();
    co_await conn.write_all(message);
    const std::string back = co_await read_exactly(conn, message.size());
    if (back != message)
      crowd.errors.push_back(fmt::format("client {} sent {} and got back {}", i, quoted(message), quoted(back)));
  } catch (const std::exception& e) {
    crowd.errors.push_back(fmt::format("client {}: {}", i, e.what()));
  }
  if (++crowd.echoed == kClients - 1) crowd.others_done.set();
  co_await crowd.others_done.wait();
}

// Connected before everyone else, then says nothing until all the others have their echo.
Task<void> quiet_client(TcpStream conn, Crowd& crowd) {
  co_await crowd.others_done.wait();
  const std::string message = message_of(0);
  crowd.bytes += message.size();
  co_await exchange(conn, message, "the quiet client's message, sent after all the others had their echo");
}

Task<void> crowd_talks(std::uint16_t port, TaskHandle<std::size_t> server) {
  Crowd crowd;
  // The quiet client connects first: it is first in the listener's queue.
  TcpStream first = co_await coop::open_connection(kHost, port);
  std::vector<TaskHandle<void>> clients;
  clients.push_back(coop::create_task(quiet_client(std::move(first), crowd), "quiet client"));
  for (int i = 1; i < kClients; ++i)
    clients.push_back(coop::create_task(chatty_client(port, i, crowd), fmt::format("client {}", i)));
  try {
    co_await coop::wait_for(wait_event(crowd.others_done), kPatience);
  } catch (const coop::TimeoutError&) {
    grading::fail(fmt::format(
        "after {} s, only {} of the {} other clients had their echo, while the quiet client (connected first) said "
        "nothing{}: serve_n must not wait for one connection to end before serving the next",
        kPatience.count(), crowd.echoed, kClients - 1, server.done() ? " (and serve_n had already returned)" : ""));
  }
  grading::check(crowd.errors.empty(),
                 fmt::format("{} client(s) went wrong; the first: {}", crowd.errors.size(),
                             crowd.errors.empty() ? "" : crowd.errors.front()),
                 grading::Hint{"Each connection's task must own its connection and its buffer: a buffer or a stream "
                               "shared between tasks mixes their bytes."});
  co_await within(coop::gather(std::move(clients)), "every client's exchange");
  const std::size_t total =
      co_await within(join(server), fmt::format("serve_n returning after all {} clients had closed", kClients));
  grading::check(total == crowd.bytes, fmt::format("serve_n returned {}, expected {}: the bytes echoed on all {} "
                                                   "connections (did it wait for every connection's task?)",
                                                   total, crowd.bytes, kClients),
                 grading::Hint{"serve_n's total is the sum of what every connection's echo returned: keep each "
                               "TaskHandle and, after the n accepts, co_await each one and add its result."});
}

Task<void> many_connections() {
  TcpListener listener = TcpListener::bind(kHost, 0);
  const std::uint16_t port = listener.port();
  TaskHandle<std::size_t> server = coop::create_task(ex02::serve_n(std::move(listener), kClients), "server");
  co_await blame_server(crowd_talks(port, server), server);
}

// The most tasks started (directly or not) by the task named `root` that were waiting on a
// socket at the same moment: the connections the server had in flight at once.
int most_in_flight_under(const grading::Run& run, std::string_view root) {
  std::set<std::uint64_t> family;  // root and every task it, or one of them, spawned
  std::map<std::uint64_t, bool> waiting;
  int now = 0, most = 0;
  for (const coop::TraceEvent& e : run.trace.events()) {
    if (e.kind == coop::TraceEvent::Kind::spawned && (e.task_name == root || family.count(e.parent) > 0))
      family.insert(e.task);
    if (family.count(e.task) == 0) continue;
    bool& w = waiting[e.task];
    const bool was = w;
    if (e.kind == coop::TraceEvent::Kind::suspended) w = e.wait == coop::WaitKind::io;
    if (e.kind == coop::TraceEvent::Kind::woken || e.kind == coop::TraceEvent::Kind::finished) w = false;
    now += (w ? 1 : 0) - (was ? 1 : 0);
    most = std::max(most, now);
  }
  return most;
}

// The tasks started (directly or not) by the task named `root` that had not finished when
// it finished.
std::vector<std::string> running_when_done(const grading::Run& run, std::string_view root) {
  std::set<std::uint64_t> family;
  std::map<std::uint64_t, std::string> running;
  for (const coop::TraceEvent& e : run.trace.events()) {
    if (e.kind == coop::TraceEvent::Kind::spawned && family.count(e.parent) > 0) running[e.task] = e.task_name;
    if (e.kind == coop::TraceEvent::Kind::spawned && (e.task_name == root || family.count(e.parent) > 0))
      family.insert(e.task);
    if (e.kind != coop::TraceEvent::Kind::finished) continue;
    if (e.task_name == root) {
      std::vector<std::string> left;
      for (const auto& [id, name] : running) left.push_back(name);
      return left;
    }
    running.erase(e.task);
  }
  return {};
}

// ---- part 3 ----------------------------------------------------------------------------------

Task<void> quick_client(std::uint16_t port, int i) {
  TcpStream conn = co_await coop::open_connection(kHost, port);
  co_await exchange(conn, fmt::format("quick client {} was here", i), fmt::format("quick client {}'s message", i));
}

// Connects after the stop and says "late". Returns what came back: its echo if it was served
// (it must not be), "" if the connection was refused or closed.
Task<std::string> late_client(std::uint16_t port) {
  std::string back;
  try {
    TcpStream conn = co_await coop::open_connection(kHost, port);
    co_await conn.write_all(std::string_view("late"));
    back = co_await coop::wait_for(read_exactly(conn, 4), kPatience);
  } catch (const std::system_error&) {
    // refused or reset when the listener closed: not served, as it should be
  } catch (const coop::TimeoutError&) {
    // nobody answered: not served either
  }
  co_return back;
}

Task<void> stop_idle_server(coop::Event& stop, TaskHandle<std::size_t> server) {
  co_await coop::sleep(10ms);  // the server is waiting for clients
  stop.set();
  const std::size_t served = co_await within(
      join(server),
      "serve_until returning after stop was set, with no client connected (a task parked in accept() does not "
      "notice an Event: it waits for the next client),");
  grading::check(served == 0, fmt::format("serve_until served no client and returned {}, expected 0", served),
                 grading::Hint{"serve_until returns how many connections it accepted and served: none here."});
}

Task<void> stop_when_idle() {
  TcpListener listener = TcpListener::bind(kHost, 0);
  coop::Event stop("stop");
  TaskHandle<std::size_t> server = coop::create_task(ex02::serve_until(std::move(listener), stop), "server");
  co_await blame_server(stop_idle_server(stop, server), server);
}

Task<void> stop_busy_server(std::uint16_t port, coop::Event& stop, TaskHandle<std::size_t> server) {
  // A long conversation starts, and stays open while five quick clients come and go.
  TcpStream slow = co_await coop::open_connection(kHost, port);
  co_await exchange(slow, "the first half, ", "the slow client's first half");
  std::vector<Task<void>> quick;
  for (int i = 1; i <= 5; ++i) quick.push_back(quick_client(port, i));
  co_await within(coop::gather(std::move(quick)),
                  "serving five quick clients while another connection was open (each needs a task of its own)");

  stop.set();
  co_await coop::sleep(0ms);
  co_await coop::sleep(20ms);  // the server has seen the stop
  TaskHandle<std::string> late = coop::create_task(late_client(port), "late client");
  co_await coop::sleep(20ms);
  grading::check(!server.done(),
                 "serve_until returned while a connection was still in progress: after the stop it "
                 "must wait for the connections it serves to finish",
                 grading::Hint{"Stopping the accepts is not stopping the service: after the stop, co_await every "
                               "connection task you started before returning."});

  co_await exchange(slow, "and the second half after the stop", "the slow client's second half, sent after the stop");
  slow.close();
  const std::size_t served =
      co_await within(join(server), "serve_until returning once the last connection in progress had closed");
  const std::string late_echo = co_await within(join(late), "the late client's attempt");
  grading::check(late_echo.empty(), fmt::format("a client that connected after stop was set got its echo back ({}): "
                                                "serve_until went on accepting. A task waiting in accept() does not "
                                                "look at the Event; stop the accept loop as soon as stop is set",
                                                quoted(late_echo)));
  grading::check(served == 6, fmt::format("serve_until returned {}, expected 6: the slow client and the five quick "
                                          "ones (not the late one)",
                                          served),
                 grading::Hint{"Return the number of connections served, one for each client accepted before the "
                               "stop."});
}

Task<void> stop_with_a_client_in_progress() {
  TcpListener listener = TcpListener::bind(kHost, 0);
  const std::uint16_t port = listener.port();
  coop::Event stop("stop");
  TaskHandle<std::size_t> server = coop::create_task(ex02::serve_until(std::move(listener), stop), "server");
  co_await blame_server(stop_busy_server(port, stop, server), server);
}

}  // namespace

int main(int argc, char** argv) {
  grading::Grader g(2, "scaling_wall", "an echo server on one thread");

  g.part("echo: one connection",
         "echo() sends back each message as it arrives (the client waits for each echo before it sends the next), "
         "then 256 KiB written while its echo is read; when the client closes, echo() returns the bytes echoed.",
         {"read_some gives what has arrived so far (0 when the client closed); write_all sends a whole span.",
          "Loop: n = co_await conn.read_some(buffer); if n is 0, return the count; else co_await "
          "conn.write_all(first n bytes of buffer). Echo only the n bytes that arrived, not the whole buffer.",
          "std::array<std::byte, 4096> buf{}; std::size_t total = 0; for (;;) { std::size_t n = co_await "
          "conn.read_some(buf); if (n == 0) co_return total; co_await conn.write_all(std::span<const "
          "std::byte>(buf.data(), n)); total += n; }"},
         [] { grading::run(one_connection(), nullptr, kRealTime); });

  g.part(grading::BuildsOn{1}, "serve_n: 200 clients at once, one task each",
         "serve_n(listener, 200) serves 200 clients that are all connected at once; the first one to connect says "
         "nothing until the 199 others have had their echo. Every byte comes back, and serve_n returns the total "
         "once all have closed.",
         
         {"A sequential server (accept, serve it to the end, accept the next) is stuck on the first client while it "
          "keeps quiet.",
          "Give each accepted connection its own task: coop::create_task(echo(std::move(conn))). Keep the handles "
          "and, after the n accepts, co_await each one to add up the bytes.",
          "std::vector<coop::TaskHandle<std::size_t>> hs; for (i < n) { coop::TcpStream c = co_await "
          "listener.accept(); hs.push_back(coop::create_task(echo(std::move(c)))); } std::size_t total = 0; for "
          "(auto& h : hs) total += co_await h; co_return total;"},
         [] {
           grading::Run run;
           grading::run(many_connections(), &run, kRealTime);
           const int most = most_in_flight_under(run, "server");
           grading::check(most >= kClients,
                          fmt::format("at most {} of serve_n's tasks were waiting on a socket at the same moment; "
                                      "with a task per connection and {} clients connected at once, expected {}",
                                      most, kClients, kClients),
                          grading::Hint{"Each connection must be served by a task of its own, started with "
                                        "coop::create_task as soon as it is accepted and awaited only after the "
                                        "accepts: then all of them wait on their sockets together."});
         });

  g.part(grading::BuildsOn{1}, "serve_until: stop accepting, finish what is in progress",
         "serve_until serves a slow client and five quick ones meanwhile; once stop is set, it returns after the "
         "slow client's connection ends (which it still echoes), returns 6, and a client that connects after the "
         "stop gets no echo. With no client at all, it returns 0 as soon as stop is set.",
         {"A task waiting in `co_await listener.accept()` does not look at the Event until a client comes; checking "
          "stop.is_set() between accepts serves one client too many, or waits forever.",
          "Run the accept loop as a task of its own (create_task), pushing each connection's task into a vector that "
          "lives in serve_until's frame. co_await stop.wait(); then acceptor.cancel(), and co_await the acceptor "
          "(catch the coop::CancelledError it ends with) before awaiting the connection tasks.",
          "Task<void> accept_loop(coop::TcpListener& l, std::vector<coop::TaskHandle<std::size_t>>& cs) { for (;;) { "
          "coop::TcpStream c = co_await l.accept(); cs.push_back(coop::create_task(echo(std::move(c)))); } }  and in "
          "serve_until: auto a = coop::create_task(accept_loop(listener, cs)); co_await stop.wait(); a.cancel(); try "
          "{ co_await a; } catch (const coop::CancelledError&) {} for (auto& c : cs) co_await c; co_return "
          "cs.size();"},
         [] {
           grading::Run busy;
           grading::run(stop_with_a_client_in_progress(), &busy, kRealTime);
           grading::Run idle;
           grading::run(stop_when_idle(), &idle, kRealTime);
           for (const grading::Run* r : {&busy, &idle}) {
             for (const coop::Diagnostic& d : r->diagnostics)
               grading::check(d.kind != coop::Diagnostic::Kind::swallowed_cancellation &&
                                  d.kind != coop::Diagnostic::Kind::unretrieved_exception,
                              "the runtime warned: " + d.message,
                              grading::Hint{"Catch CancelledError only around the co_await of the task you "
                                            "cancelled yourself, and await every task you start, so that its "
                                            "failure reaches you."});
             const std::vector<std::string> left = running_when_done(*r, "server");
             grading::check(left.empty(),
                            fmt::format("when serve_until returned{}, {} task(s) it had started were still running "
                                        "(first: '{}'). Wait for every task you start, also one you cancelled (it "
                                        "ends on a later turn): it may refer to your frame, which goes when you return",
                                        r == &idle ? " (stopped with no client)" : "", left.size(),
                                        left.empty() ? "" : left.front()),
                            grading::Hint{"cancel() only asks: the task stops at its next await, on a later turn. "
                                          "co_await the cancelled task (catching its CancelledError) and every "
                                          "connection task before serve_until returns."});
           }
         });

  return g.main(argc, argv);
}
