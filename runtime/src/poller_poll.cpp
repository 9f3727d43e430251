// poller_poll.cpp — the poller on poll(2), for systems without epoll (see poller.hpp).
// Level-triggered: every wait lists the parked descriptors afresh.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cstdint>
#include <system_error>

#include "coop/poller.hpp"

namespace coop::detail {

namespace {
int timeout_ms(std::optional<Clock::duration> timeout) {
  if (!timeout) return -1;
  if (*timeout <= Clock::duration::zero()) return 0;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(*timeout).count();
  return ms > 24 * 3600 * 1000 ? 24 * 3600 * 1000 : static_cast<int>(ms);
}
}  // namespace

Poller::Poller() {
  int fds[2];
  if (::pipe(fds) < 0) throw std::system_error(errno, std::generic_category(), "pipe");
  for (int fd : fds) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  notify_read_ = fds[0];
  notify_write_ = fds[1];
}

Poller::~Poller() {
  ::close(notify_read_);
  ::close(notify_write_);
}

void Poller::add_fd(int fd) {
  if (static_cast<std::size_t>(fd) >= slots_.size()) slots_.resize(static_cast<std::size_t>(fd) + 1);
}

void Poller::remove_fd(int fd) noexcept { orphan_parked(fd); }

void Poller::wait(std::optional<Clock::duration> timeout) {
  std::vector<pollfd> fds;
  fds.reserve(parked_ + 1);
  fds.push_back(pollfd{notify_read_, POLLIN, 0});
  for (std::size_t fd = 0; fd < slots_.size(); ++fd) {
    short events = 0;
    if (slots_[fd].reader != nullptr) events |= POLLIN;
    if (slots_[fd].writer != nullptr) events |= POLLOUT;
    if (events != 0) fds.push_back(pollfd{static_cast<int>(fd), events, 0});
  }
  int n = ::poll(fds.data(), fds.size(), timeout_ms(timeout));
  if (n < 0) {
    if (errno == EINTR) return;
    throw std::system_error(errno, std::generic_category(), "poll");
  }
  if (fds[0].revents != 0) drain_notifications();
  for (std::size_t i = 1; i < fds.size(); ++i) {
    const short r = fds[i].revents;
    if (r == 0) continue;
    const bool error = (r & (POLLERR | POLLHUP | POLLNVAL)) != 0;
    ready(fds[i].fd, error || (r & POLLIN) != 0, error || (r & POLLOUT) != 0);
  }
}

void Poller::notify() noexcept {
  if (notified_.exchange(true)) return;
  char one = 1;
  [[maybe_unused]] auto n = ::write(notify_write_, &one, 1);
}

// Read first, then clear the flag: see poller_epoll.cpp for the wake-up the other order loses.
void Poller::drain_notifications() noexcept {
  char buf[64];
  while (::read(notify_read_, buf, sizeof buf) > 0) {
  }
  notified_.store(false);
}

}  // namespace coop::detail
