// socket.hpp — TCP on the loop (asyncio streams: start_server, open_connection).
//
// Key point 2 of the lecture: a thread per connection costs a stack each and a context
// switch per message; one loop thread can instead keep thousands of connections in
// flight, each a task suspended at its read. That is what these classes are for:
//
//     TcpListener server = TcpListener::bind("127.0.0.1", 0);    // port 0: any free port
//     TcpStream client = co_await server.accept();               // suspends until one comes
//     std::size_t n = co_await client.read_some(buffer);         // suspends until data (0 = closed)
//     co_await client.write_all(std::span(buffer.data(), n));    // suspends while the kernel is full
//
//     TcpStream conn = co_await open_connection("127.0.0.1", port);
//
// Every operation is tried at once on a non-blocking socket; only when the kernel answers
// "would block" does the task park, on an IoWait in the loop's poller (poller.hpp), and the
// loop runs other tasks. Waits are cancellable like any other, show in traces (WaitKind::io,
// "read from 127.0.0.1:41234") and in deadlock reports, and failures throw std::system_error
// naming the operation and the address: "connect to 127.0.0.1:5555: Connection refused".
//
// Simplifications, labelled: IPv4 and IPv6 TCP only; no TLS, no UDP, no buffered reader
// (read_some returns what the kernel has; asyncio's StreamReader adds readline() and
// friends on top); one reader and one writer per stream at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "coop/poller.hpp"
#include "coop/task.hpp"

namespace coop {

namespace detail {
struct SocketAccess;  // socket.cpp's way in to the private parts below
}

// An address and port, e.g. "127.0.0.1:5555" or "[::1]:5555".
class Endpoint {
 public:
  Endpoint() = default;
  std::string to_string() const;
  std::uint16_t port() const noexcept { return port_; }

 private:
  friend struct detail::SocketAccess;
  std::uint8_t family_ = 0;  // AF_INET or AF_INET6; 0 = none
  std::uint16_t port_ = 0;
  std::uint8_t address_[16] = {};
};

namespace detail {
class ReadAwaiter;
class WriteAwaiter;
class AcceptAwaiter;
class ConnectAwaiter;
}  // namespace detail

// One end of a TCP connection. Move-only; closes on destruction.
class TcpStream {
 public:
  TcpStream() noexcept = default;
  TcpStream(TcpStream&& other) noexcept;
  TcpStream& operator=(TcpStream&& other) noexcept;
  ~TcpStream() { close(); }

  // Reads what has arrived, up to buffer.size() bytes, waiting until something has.
  // Yields the number of bytes read; 0 means the peer closed the connection.
  detail::ReadAwaiter read_some(std::span<std::byte> buffer);
  // Writes all of `data`, waiting whenever the kernel's send buffer is full.
  detail::WriteAwaiter write_all(std::span<const std::byte> data);
  detail::WriteAwaiter write_all(std::string_view text);

  void close() noexcept;
  bool is_open() const noexcept { return fd_ >= 0; }
  const Endpoint& peer() const noexcept { return peer_; }
  int native_handle() const noexcept { return fd_; }

 private:
  friend struct detail::SocketAccess;
  int fd_ = -1;
  std::uint64_t loop_id_ = 0;  // the loop whose poller knows this socket (0: none yet)
  Endpoint peer_;
};

// A listening socket (asyncio.start_server, without the callback).
class TcpListener {
 public:
  // Binds and listens; port 0 picks a free port (see port()). Throws std::system_error.
  static TcpListener bind(const std::string& host, std::uint16_t port, int backlog = 4096);

  TcpListener() noexcept = default;
  TcpListener(TcpListener&& other) noexcept;
  TcpListener& operator=(TcpListener&& other) noexcept;
  ~TcpListener() { close(); }

  std::uint16_t port() const noexcept { return local_.port(); }
  const Endpoint& local() const noexcept { return local_; }
  // Waits for the next connection.
  detail::AcceptAwaiter accept();
  void close() noexcept;

 private:
  friend struct detail::SocketAccess;
  int fd_ = -1;
  std::uint64_t loop_id_ = 0;
  Endpoint local_;
};

// Connects to host:port (a name is resolved on the default thread pool, as asyncio does).
// Throws std::system_error, e.g. "connect to 127.0.0.1:5555: Connection refused".
Task<TcpStream> open_connection(std::string host, std::uint16_t port);

// Raises this process's limit on open files (RLIMIT_NOFILE) towards `wanted`, as far as the
// hard limit allows, and returns the limit now in force. Each connection is a file, and
// the default soft limit (often 1024) is far below what one loop can serve.
std::size_t raise_open_file_limit(std::size_t wanted);

namespace detail {

// The awaiters. Each tries its operation in await_ready, parks on the poller only if it
// would block, and retries in on_ready when the poller says the socket is ready.
class SocketWait : public IoWait {
 protected:
  SocketWait(int fd, std::uint64_t* loop_id, Poller::Direction direction, const Endpoint& where) noexcept
      : fd_(fd), loop_id_(loop_id), direction_(direction), where_(where) {}
  bool park_on_socket(std::coroutine_handle<> h);  // Wait::park, then the poller
  // Woken with the operation done (bytes read or sent, a connection accepted), then
  // cancelled before resuming: none of that can be undone, so the result is delivered and
  // the cancel lands at the next co_await.
  bool give_back() noexcept override { return false; }
  void require_open() const;                      // UsageError on a closed socket
  void throw_if_failed(const char* operation) const;
  std::string describe_as(const char* operation) const;

  int fd_;
  std::uint64_t* loop_id_;  // the socket's registration, updated on first park
  Poller::Direction direction_;
  const Endpoint& where_;
  int error_ = 0;           // errno of a real failure
};

class ReadAwaiter final : public SocketWait {
 public:
  ReadAwaiter(TcpStream& s, std::span<std::byte> buffer) noexcept;
  bool await_ready() {
    require_open();
    return on_ready();
  }
  bool await_suspend(std::coroutine_handle<> h) { return park_on_socket(h); }
  std::size_t await_resume() const;
  bool on_ready() noexcept override;
  std::string describe() const override { return describe_as("read from"); }

 private:
  std::span<std::byte> buffer_;
  std::size_t got_ = 0;
};

class WriteAwaiter final : public SocketWait {
 public:
  WriteAwaiter(TcpStream& s, std::span<const std::byte> data) noexcept;
  bool await_ready() {
    require_open();
    return on_ready();
  }
  bool await_suspend(std::coroutine_handle<> h) { return park_on_socket(h); }
  void await_resume() const;
  bool on_ready() noexcept override;
  std::string describe() const override { return describe_as("write to"); }

 private:
  std::span<const std::byte> rest_;  // what is still to be written
};

class AcceptAwaiter final : public SocketWait {
 public:
  explicit AcceptAwaiter(TcpListener& l) noexcept;
  bool await_ready() {
    require_open();
    return on_ready();
  }
  bool await_suspend(std::coroutine_handle<> h) { return park_on_socket(h); }
  TcpStream await_resume();
  bool on_ready() noexcept override;
  std::string describe() const override { return describe_as("accept on"); }

 private:
  TcpStream accepted_;
};

class ConnectAwaiter final : public SocketWait {
 public:
  explicit ConnectAwaiter(TcpStream& s) noexcept;
  bool await_ready() noexcept { return false; }  // connect() already said "in progress"
  bool await_suspend(std::coroutine_handle<> h) { return park_on_socket(h); }
  void await_resume() const;
  bool on_ready() noexcept override;
  std::string describe() const override { return describe_as("connect to"); }
};

}  // namespace detail
}  // namespace coop
