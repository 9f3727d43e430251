// socket.cpp — non-blocking TCP sockets on the loop's poller (see socket.hpp).
#include "coop/socket.hpp"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cstring>
#include <system_error>
#include <utility>
#include <vector>

#include "coop/platform.hpp"
#include "coop/thread_pool.hpp"

#ifdef MSG_NOSIGNAL
#define COOP_MSG_NOSIGNAL MSG_NOSIGNAL
#else
#define COOP_MSG_NOSIGNAL 0  // the socket has SO_NOSIGPIPE instead (see make_nonblocking_cloexec)
#endif

namespace coop {

namespace detail {

// The private parts of the socket classes, and the system calls around them.
struct SocketAccess {
  static Endpoint endpoint(const sockaddr* sa) {
    Endpoint e;
    if (sa->sa_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
      e.family_ = AF_INET;
      e.port_ = ntohs(in->sin_port);
      std::memcpy(e.address_, &in->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
      e.family_ = AF_INET6;
      e.port_ = ntohs(in6->sin6_port);
      std::memcpy(e.address_, &in6->sin6_addr, 16);
    }
    return e;
  }
  static TcpStream stream(int fd, const Endpoint& peer) {
    TcpStream s;
    s.fd_ = fd;
    s.peer_ = peer;
    return s;
  }
  static int& fd(TcpStream& s) { return s.fd_; }
  static std::uint64_t& loop_id(TcpStream& s) { return s.loop_id_; }
  static int fd(TcpListener& l) { return l.fd_; }
  static std::uint64_t& loop_id(TcpListener& l) { return l.loop_id_; }
};

namespace {

std::system_error failure(int error, const std::string& what) {
  return std::system_error(error, std::generic_category(), what);
}

// The open-files limit, for the message when it runs out.
std::string files_hint(int error) {
  if (error != EMFILE && error != ENFILE) return "";
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  return fmt::format(" (the open-files limit is {}: raise it with `ulimit -n`, or call coop::raise_open_file_limit)",
                     static_cast<unsigned long long>(rl.rlim_cur));
}

// Every socket is non-blocking (the loop waits, never the call) and close-on-exec (a child
// process has no business with it). Linux sets both flags in the call that makes the
// descriptor; POSIX sets them with fcntl() just after. A writer to a closed connection
// must get EPIPE, not SIGPIPE: send() asks with MSG_NOSIGNAL where there is one, the
// socket itself with SO_NOSIGPIPE where there is not (older macOS).
void make_nonblocking_cloexec([[maybe_unused]] int fd) {
#if !COOP_HAS_ACCEPT4
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
#endif
#if !defined(MSG_NOSIGNAL) && defined(SO_NOSIGPIPE)
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
}

int open_socket(int family) {
#if COOP_HAS_ACCEPT4
  const int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
#else
  const int fd = ::socket(family, SOCK_STREAM, 0);
#endif
  if (fd >= 0) make_nonblocking_cloexec(fd);
  return fd;
}

int accept_connection(int listener, sockaddr* peer, socklen_t* len) {
#if COOP_HAS_ACCEPT4
  const int fd = ::accept4(listener, peer, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
  const int fd = ::accept(listener, peer, len);
#endif
  if (fd >= 0) make_nonblocking_cloexec(fd);
  return fd;
}

void set_nodelay(int fd) {
  int one = 1;  // small messages go out at once (asyncio sets it too)
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

void close_socket(int& fd, std::uint64_t& loop_id) noexcept {
  if (fd < 0) return;
  if (Loop* loop = Loop::current_or_null(); loop != nullptr && loop->id() == loop_id) loop->poller().remove_fd(fd);
  ::close(fd);
  fd = -1;
  loop_id = 0;
}

// Numeric addresses directly; names through getaddrinfo (which may block: callers that
// must not block run it on a thread).
std::vector<sockaddr_storage> resolve(const std::string& host, std::uint16_t port) {
  std::vector<sockaddr_storage> out;
  sockaddr_storage ss{};
  auto* in = reinterpret_cast<sockaddr_in*>(&ss);
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (::inet_pton(AF_INET, host.c_str(), &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    out.push_back(ss);
    return out;
  }
  ss = {};
  if (::inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    out.push_back(ss);
    return out;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found); rc != 0)
    throw std::runtime_error(fmt::format("resolve {}: {}", host, ::gai_strerror(rc)));
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    sockaddr_storage s{};
    std::memcpy(&s, a->ai_addr, a->ai_addrlen);
    out.push_back(s);
  }
  ::freeaddrinfo(found);
  return out;
}

socklen_t length_of(const sockaddr_storage& ss) {
  return ss.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

}  // namespace

// ---- SocketWait: parking on the poller ---------------------------------------------------

// Everything that can fail happens before park(): once the task is parked, await_suspend
// must not throw (the loop would believe the task waits on an awaiter that is gone).
bool SocketWait::park_on_socket(std::coroutine_handle<> h) {
  Loop& loop = Loop::current("socket I/O");
  if (*loop_id_ != loop.id()) {  // first wait on this loop: introduce the socket
    loop.poller().add_fd(fd_);
    *loop_id_ = loop.id();
  }
  loop.poller().check_free(fd_, direction_);  // a second reader is a UsageError, not a wait
  if (!park(h)) return false;  // a pending cancellation lands here
  loop.poller().park(fd_, direction_, *this);
  return true;
}

void SocketWait::require_open() const {
  if (fd_ < 0) throw UsageError("I/O on a closed socket (closed, or moved from)");
}

void SocketWait::throw_if_failed(const char* operation) const {
  throw_if_interrupted();
  if (error_ != 0) throw failure(error_, fmt::format("{} {}{}", operation, where_.to_string(), files_hint(error_)));
}

std::string SocketWait::describe_as(const char* operation) const {
  return fmt::format("{} {}", operation, where_.to_string());
}

// Each on_ready() below runs the system call once more and says whether the operation is
// over. The poller unparks and wakes the task when it is.

ReadAwaiter::ReadAwaiter(TcpStream& s, std::span<std::byte> buffer) noexcept
    : SocketWait(SocketAccess::fd(s), &SocketAccess::loop_id(s), Poller::Direction::read, s.peer()),
      buffer_(buffer) {}

bool ReadAwaiter::on_ready() noexcept {
  for (;;) {
    ssize_t n = ::recv(fd_, buffer_.data(), buffer_.size(), 0);
    if (n >= 0) {
      got_ = static_cast<std::size_t>(n);
      return true;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
    error_ = errno;
    return true;
  }
}

std::size_t ReadAwaiter::await_resume() const {
  throw_if_failed("read from");
  return got_;
}

WriteAwaiter::WriteAwaiter(TcpStream& s, std::span<const std::byte> data) noexcept
    : SocketWait(SocketAccess::fd(s), &SocketAccess::loop_id(s), Poller::Direction::write, s.peer()), rest_(data) {}

bool WriteAwaiter::on_ready() noexcept {
  while (!rest_.empty()) {
    // MSG_NOSIGNAL: writing to a connection the peer closed must fail with EPIPE, not kill
    // the whole process with SIGPIPE.
    ssize_t n = ::send(fd_, rest_.data(), rest_.size(), COOP_MSG_NOSIGNAL);
    if (n >= 0) {
      rest_ = rest_.subspan(static_cast<std::size_t>(n));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
    error_ = errno;
    break;
  }
  return true;
}

void WriteAwaiter::await_resume() const { throw_if_failed("write to"); }

AcceptAwaiter::AcceptAwaiter(TcpListener& l) noexcept
    : SocketWait(SocketAccess::fd(l), &SocketAccess::loop_id(l), Poller::Direction::read, l.local()) {}

bool AcceptAwaiter::on_ready() noexcept {
  for (;;) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    int fd = accept_connection(fd_, reinterpret_cast<sockaddr*>(&peer), &len);
    if (fd >= 0) {
      set_nodelay(fd);
      accepted_ = SocketAccess::stream(fd, SocketAccess::endpoint(reinterpret_cast<sockaddr*>(&peer)));
      return true;
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;  // that one gave up; try the next
    if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
    error_ = errno;
    return true;
  }
}

TcpStream AcceptAwaiter::await_resume() {
  throw_if_failed("accept on");
  return std::move(accepted_);
}

ConnectAwaiter::ConnectAwaiter(TcpStream& s) noexcept
    : SocketWait(SocketAccess::fd(s), &SocketAccess::loop_id(s), Poller::Direction::write, s.peer()) {}

bool ConnectAwaiter::on_ready() noexcept {
  int error = 0;
  socklen_t len = sizeof error;
  ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &len);
  if (error == EINPROGRESS || error == EALREADY) return false;
  error_ = error;
  return true;
}

void ConnectAwaiter::await_resume() const { throw_if_failed("connect to"); }

}  // namespace detail

// ---- Endpoint, TcpStream, TcpListener ----------------------------------------------------

std::string Endpoint::to_string() const {
  char text[INET6_ADDRSTRLEN] = "?";
  if (family_ == AF_INET) {
    ::inet_ntop(AF_INET, address_, text, sizeof text);
    return fmt::format("{}:{}", text, port_);
  }
  if (family_ == AF_INET6) {
    ::inet_ntop(AF_INET6, address_, text, sizeof text);
    return fmt::format("[{}]:{}", text, port_);
  }
  return "(no address)";
}

TcpStream::TcpStream(TcpStream&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), loop_id_(std::exchange(other.loop_id_, 0)), peer_(other.peer_) {}

TcpStream& TcpStream::operator=(TcpStream&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    loop_id_ = std::exchange(other.loop_id_, 0);
    peer_ = other.peer_;
  }
  return *this;
}

detail::ReadAwaiter TcpStream::read_some(std::span<std::byte> buffer) { return detail::ReadAwaiter(*this, buffer); }
detail::WriteAwaiter TcpStream::write_all(std::span<const std::byte> data) {
  return detail::WriteAwaiter(*this, data);
}
detail::WriteAwaiter TcpStream::write_all(std::string_view text) {
  return detail::WriteAwaiter(*this, std::as_bytes(std::span(text.data(), text.size())));
}
void TcpStream::close() noexcept { detail::close_socket(fd_, loop_id_); }

TcpListener TcpListener::bind(const std::string& host, std::uint16_t port, int backlog) {
  std::vector<sockaddr_storage> addresses = detail::resolve(host, port);
  int last_error = EADDRNOTAVAIL;
  for (const sockaddr_storage& ss : addresses) {
    int fd = detail::open_socket(ss.ss_family);
    if (fd < 0) {
      last_error = errno;
      continue;
    }
    int one = 1;  // rebinding a port whose old connections are in TIME_WAIT is fine
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&ss), detail::length_of(ss)) < 0 || ::listen(fd, backlog) < 0) {
      last_error = errno;
      ::close(fd);
      continue;
    }
    sockaddr_storage local{};
    socklen_t len = sizeof local;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
    TcpListener l;
    l.fd_ = fd;
    l.local_ = detail::SocketAccess::endpoint(reinterpret_cast<sockaddr*>(&local));
    return l;
  }
  throw detail::failure(last_error, fmt::format("bind {}:{}", host, port));
}

TcpListener::TcpListener(TcpListener&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), loop_id_(std::exchange(other.loop_id_, 0)), local_(other.local_) {}

TcpListener& TcpListener::operator=(TcpListener&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    loop_id_ = std::exchange(other.loop_id_, 0);
    local_ = other.local_;
  }
  return *this;
}

detail::AcceptAwaiter TcpListener::accept() { return detail::AcceptAwaiter(*this); }
void TcpListener::close() noexcept { detail::close_socket(fd_, loop_id_); }

// ---- open_connection ---------------------------------------------------------------------

Task<TcpStream> open_connection(std::string host, std::uint16_t port) {
  std::vector<sockaddr_storage> addresses;
  in6_addr probe{};
  if (::inet_pton(AF_INET, host.c_str(), &probe) == 1 || ::inet_pton(AF_INET6, host.c_str(), &probe) == 1)
    addresses = detail::resolve(host, port);  // numeric: nothing to look up
  else
    addresses = co_await to_thread(detail::resolve, host, port);  // getaddrinfo blocks
  std::exception_ptr last;
  for (const sockaddr_storage& ss : addresses) {
    const Endpoint peer = detail::SocketAccess::endpoint(reinterpret_cast<const sockaddr*>(&ss));
    int fd = detail::open_socket(ss.ss_family);
    if (fd < 0) throw detail::failure(errno, "socket for " + peer.to_string() + detail::files_hint(errno));
    TcpStream stream = detail::SocketAccess::stream(fd, peer);
    detail::set_nodelay(fd);
    int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&ss), detail::length_of(ss));
    if (rc < 0 && errno != EINPROGRESS) {
      last = std::make_exception_ptr(detail::failure(errno, "connect to " + peer.to_string()));
      continue;
    }
    if (rc < 0) {
      try {
        co_await detail::ConnectAwaiter(stream);
      } catch (const std::system_error&) {
        last = std::current_exception();  // try the next address, if there is one
        continue;
      }
    }
    co_return stream;
  }
  if (last) std::rethrow_exception(last);
  throw std::runtime_error("connect to " + host + ": no address");
}

std::size_t raise_open_file_limit(std::size_t wanted) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  if (rl.rlim_cur < wanted) {
    rlim_t target = wanted;
    if (rl.rlim_max != RLIM_INFINITY && target > rl.rlim_max) target = rl.rlim_max;
    rlimit raised = rl;
    raised.rlim_cur = target;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  return static_cast<std::size_t>(rl.rlim_cur);
}

}  // namespace coop
