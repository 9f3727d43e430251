// Exercise 02 — scaling_wall: an echo server that serves many clients on one thread (lesson 02).
//
// Lesson 02 measured why: a thread per connection costs a stack and a kernel context switch
// per message; a task per connection costs a small coroutine frame, parked in the loop's
// poller while its client is quiet. Here you write that server: one connection, then
// hundreds at once, then a clean stop. Everything runs on the loop's one thread; no
// std::thread, no blocking call.
//
// The sockets (runtime/include/coop/socket.hpp):
//   std::size_t n = co_await conn.read_some(buffer);   // waits until something arrived; 0 = closed
//   co_await conn.write_all(std::span<const std::byte>(buffer.data(), n));
//   coop::TcpStream conn = co_await listener.accept(); // waits for the next client
//
// You write the three functions below in exercises/02_scaling_wall.cpp. The grader
// (tests/grading/02_scaling_wall.cpp) plays the clients, from tasks on the same loop, in real
// time: it checks every byte that comes back, and the order things happen in (a quiet
// client must not hold up the others; a client that comes after the stop is not served).
//
// A trap to avoid: a task made with create_task() may outlive the statement that made it.
// Give it what it needs by value (move the TcpStream in), or make sure that whatever it
// refers to (a vector of handles in your frame, the listener) lives until it has finished.
#pragma once

#include <coop/coop.hpp>

#include <cstddef>

namespace ex02 {

// Part 1. Serve one connection: echo every byte back as it arrives (each chunk read is
// written back before the next read; the client waits for its echo before it sends more),
// until the client closes the connection. Returns how many bytes were echoed.
coop::Task<std::size_t> echo(coop::TcpStream conn);

// Part 2. Accept `n` connections on `listener` and serve them all at the same time, each in
// a task of its own running echo(). A client that keeps quiet must not hold up the others.
// Returns once every one of the n connections has been served and closed, with the total
// number of bytes echoed on all of them.
coop::Task<std::size_t> serve_n(coop::TcpListener listener, std::size_t n);

// Part 3. A server that runs until it is told to stop: accept connections and serve each in
// a task of its own (echo()) until `stop` is set. Then stop accepting at once (a client that
// connects after that is never served), let the connections in progress finish, and return
// how many connections were served. `stop` is the caller's and outlives the call. Every task
// you start (the accept loop included) must have finished when serve_until returns: cancel
// what should stop, and await it. (cancel() and awaiting a cancelled task are lessons 04
// and 05; the hints show the pattern.)
coop::Task<std::size_t> serve_until(coop::TcpListener listener, coop::Event& stop);

}  // namespace ex02
