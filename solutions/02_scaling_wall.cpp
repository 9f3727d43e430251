// Exercise 02 — scaling_wall: the reference solution.
#include "02_scaling_wall.hpp"

#include <array>
#include <exception>
#include <span>
#include <utility>
#include <vector>

namespace ex02 {

// ---- Part 1 ----------------------------------------------------------------------------------

// The lesson's server task. While its client is quiet the task is parked in read_some: a
// frame in the loop's poller, not a thread asleep in the kernel. Each chunk goes back before
// the next read: a client that waits for its echo before sending more is never stuck.
coop::Task<std::size_t> echo(coop::TcpStream conn) {
  std::array<std::byte, 4096> buffer{};  // lives in the frame, across the co_awaits
  std::size_t echoed = 0;
  for (;;) {
    const std::size_t n = co_await conn.read_some(buffer);
    if (n == 0) co_return echoed;  // the client closed the connection
    // Only the n bytes that arrived: the rest of the buffer is stale.
    co_await conn.write_all(std::span<const std::byte>(buffer.data(), n));
    echoed += n;
  }
}  // conn closes here

// ---- Part 2 ----------------------------------------------------------------------------------

// One task per connection, started as soon as it is accepted, and only then the next
// accept: while one client keeps quiet, its task waits in read_some and the loop runs the
// others. (`total += co_await echo(...)` here instead would serve them one at a time: the
// quiet client would hold up everyone behind it.) The TcpStream is moved into echo's frame,
// so the task owns its socket and needs nothing from ours.
coop::Task<std::size_t> serve_n(coop::TcpListener listener, std::size_t n) {
  std::vector<coop::TaskHandle<std::size_t>> connections;
  connections.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    coop::TcpStream conn = co_await listener.accept();
    connections.push_back(coop::create_task(echo(std::move(conn))));
  }
  // All n are in flight; wait for each to end. The order does not matter: they run
  // meanwhile, whichever we happen to be waiting on.
  std::size_t total = 0;
  for (coop::TaskHandle<std::size_t>& c : connections) total += co_await c;
  co_return total;
}

// ---- Part 3 ----------------------------------------------------------------------------------

namespace {

// The accept loop, as a task of its own so that it can be stopped while it waits in
// accept(): a task parked there does not look at any flag, so checking `stop.is_set()`
// between accepts would notice the stop only when the next client arrived, and serve it.
// It refers to serve_until's listener and vector: serve_until waits for it to end before
// its frame goes.
coop::Task<void> accept_loop(coop::TcpListener& listener, std::vector<coop::TaskHandle<std::size_t>>& connections) {
  for (;;) {
    coop::TcpStream conn = co_await listener.accept();
    connections.push_back(coop::create_task(echo(std::move(conn))));
  }
}

}  // namespace

coop::Task<std::size_t> serve_until(coop::TcpListener listener, coop::Event& stop) {
  std::vector<coop::TaskHandle<std::size_t>> connections;
  coop::TaskHandle<void> acceptor = coop::create_task(accept_loop(listener, connections), "accept loop");
  std::exception_ptr cancelled;
  try {
    co_await stop.wait();
  } catch (const coop::CancelledError&) {
    // We are cancelled ourselves (lesson 05): the accept loop must still end before our
    // frame, which it refers to, goes away. Keep the error, stop it below, then re-throw.
    cancelled = std::current_exception();
  }
  // Stop accepting: cancel() abandons the parked accept at once (asyncio's server.close()
  // does the same), and awaiting the task waits until it has really ended; it ends with
  // CancelledError, which is what we asked for.
  acceptor.cancel();
  try {
    co_await acceptor;
  } catch (const coop::CancelledError&) {
    // expected
  }
  if (cancelled) std::rethrow_exception(cancelled);  // each connection task owns its socket
  // The connections in progress finish on their own; wait for them. No new one can appear.
  for (coop::TaskHandle<std::size_t>& c : connections) co_await c;
  co_return connections.size();
}  // the listener closes here: clients still queued in it are refused

}  // namespace ex02
