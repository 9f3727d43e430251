// poller_epoll.cpp — the poller on Linux's epoll (see poller.hpp).
#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <system_error>

#include "coop/poller.hpp"

namespace coop::detail {

namespace {
// epoll_wait counts in milliseconds. Round up, so the loop never wakes before its timer
// is due (waking early would only make it wait again).
int timeout_ms(std::optional<Clock::duration> timeout) {
  if (!timeout) return -1;
  if (*timeout <= Clock::duration::zero()) return 0;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(*timeout).count();
  return ms > 24 * 3600 * 1000 ? 24 * 3600 * 1000 : static_cast<int>(ms);
}
}  // namespace

Poller::Poller() {
  poll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (poll_fd_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
  notify_read_ = notify_write_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (notify_read_ < 0) {
    int e = errno;
    ::close(poll_fd_);
    throw std::system_error(e, std::generic_category(), "eventfd");
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = notify_read_;
  ::epoll_ctl(poll_fd_, EPOLL_CTL_ADD, notify_read_, &ev);
}

Poller::~Poller() {
  ::close(notify_read_);
  ::close(poll_fd_);
}

void Poller::add_fd(int fd) {
  if (static_cast<std::size_t>(fd) >= slots_.size()) slots_.resize(static_cast<std::size_t>(fd) + 1);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;  // both directions, edges only
  ev.data.fd = fd;
  if (::epoll_ctl(poll_fd_, EPOLL_CTL_ADD, fd, &ev) < 0)
    throw std::system_error(errno, std::generic_category(), "epoll_ctl(ADD)");
}

void Poller::remove_fd(int fd) noexcept {
  ::epoll_ctl(poll_fd_, EPOLL_CTL_DEL, fd, nullptr);  // closing would do it too
  orphan_parked(fd);
}

void Poller::wait(std::optional<Clock::duration> timeout) {
  epoll_event events[256];
  int n = ::epoll_wait(poll_fd_, events, 256, timeout_ms(timeout));
  if (n < 0) {
    if (errno == EINTR) return;  // a signal: the loop simply looks again
    throw std::system_error(errno, std::generic_category(), "epoll_wait");
  }
  for (int i = 0; i < n; ++i) {
    const int fd = events[i].data.fd;
    const std::uint32_t e = events[i].events;
    if (fd == notify_read_) {
      drain_notifications();
      continue;
    }
    const bool error = (e & (EPOLLERR | EPOLLHUP)) != 0;
    ready(fd, error || (e & (EPOLLIN | EPOLLRDHUP)) != 0, error || (e & EPOLLOUT) != 0);
  }
}

void Poller::notify() noexcept {
  if (notified_.exchange(true)) return;  // one is pending already
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(notify_write_, &one, sizeof one);
}

// Read first, then clear the flag. The other order loses wake-ups: a notify() landing
// between the two sees the flag clear and writes, our read swallows that write, and the flag
// stays set with nothing left to read, so every later notify() skips its write and the loop
// can sleep forever. In this order, a notify() that skips its write (the flag still set)
// has already queued its job, and the loop collects jobs after draining.
void Poller::drain_notifications() noexcept {
  std::uint64_t count;
  [[maybe_unused]] auto n = ::read(notify_read_, &count, sizeof count);
  notified_.store(false);
}

}  // namespace coop::detail
