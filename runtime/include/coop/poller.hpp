// poller.hpp — how the loop sleeps, and how sockets wake it.
//
// When no task is ready, the loop has nothing to do until a timer is due, a socket becomes
// readable or writable, or a thread-pool job finishes. It must not spin, and it must not
// sleep past any of those. The operating system offers one call that waits for all of
// them: epoll_wait (Linux) or poll (everywhere), with a timeout for the next timer. A
// finished job is turned into I/O too: the worker writes to an eventfd (or a pipe) that
// the poller watches, which is how another thread wakes a sleeping loop.
//
// Sockets are non-blocking, and every operation is tried first. Only when the kernel says
// "would block" (EAGAIN) does the task park on an IoWait for that socket and direction.
// When the poller reports the socket ready, it calls the wait's on_ready(), which retries
// the operation right there on the loop thread and wakes the task once it succeeded (or
// failed for real).
//
// Two implementations, chosen at build time (cmake -DCOOP_POLLER=poll for the second):
//   epoll  each socket is registered once, edge-triggered, for both directions: no system
//          call per operation beyond the operation itself. An edge that arrives with nobody
//          waiting is simply dropped: whoever comes next tries the operation first anyway.
//   poll   level-triggered; the set of descriptors is rebuilt on every wait. Portable and
//          simple, O(parked sockets) per wait: fine for a course, not for 10,000 sockets.
#pragma once

#include <atomic>
#include <cstddef>
#include <optional>
#include <vector>

#include "coop/lowlevel.hpp"

namespace coop::detail {

class Poller;

// A task waiting for a file descriptor to become ready (WaitKind::io). The poller alone
// records whether it is parked there; cancelling it or destroying it unparks it.
class IoWait : public Wait {
 public:
  IoWait() noexcept : Wait(WaitKind::io) {}

  // The descriptor may be ready: retry the operation. Return true when it is finished
  // (done, or failed for real: record which), false if it would still block.
  virtual bool on_ready() noexcept = 0;

 protected:
  ~IoWait();
  bool on_cancel() noexcept override;

 private:
  friend class Poller;
  int fd_ = -1;              // where it is parked, while in_poller_
  bool write_ = false;       // which direction
  bool in_poller_ = false;
};

class Poller {
 public:
  enum class Direction : std::uint8_t { read, write };

  Poller();
  ~Poller();
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  // A socket the loop will wait on (epoll registers it here, once).
  void add_fd(int fd);
  // Before closing it. A task still parked on it is woken with a UsageError ("the socket
  // was closed while this task waited on it").
  void remove_fd(int fd) noexcept;

  // Throws UsageError if a wait is already parked on `fd` in `direction` (two readers).
  void check_free(int fd, Direction direction) const;
  // `wait` is parked until `fd` is ready in `direction` (one wait per fd and direction;
  // check_free first: this one cannot fail).
  void park(int fd, Direction direction, IoWait& wait) noexcept;
  void unpark(int fd, Direction direction) noexcept;
  std::size_t parked() const noexcept { return parked_; }

  // Sleeps until a parked fd is ready, notify() is called, or `timeout` passes (forever
  // when empty; zero just looks). Runs on_ready() of the waits whose fd became ready and
  // wakes the tasks whose operation finished.
  void wait(std::optional<Clock::duration> timeout);

  // From any thread: make wait() return now (or the next one, if none is running).
  void notify() noexcept;

 private:
  struct Slot {  // what is parked on one fd
    IoWait* reader = nullptr;
    IoWait* writer = nullptr;
  };
  void ready(int fd, bool readable, bool writable) noexcept;
  void orphan_parked(int fd) noexcept;
  void drain_notifications() noexcept;

  std::vector<Slot> slots_;     // indexed by fd
  std::size_t parked_ = 0;      // waits parked across all fds
  int poll_fd_ = -1;            // the epoll instance (epoll build only)
  int notify_read_ = -1;        // eventfd, or the read end of a pipe
  int notify_write_ = -1;       // the same eventfd, or the write end of the pipe
  std::atomic<bool> notified_{false};  // a notification is pending: don't write again
};

}  // namespace coop::detail
