// poller.cpp — the parts of the poller both implementations share: who is parked where,
// and what happens when a descriptor is ready. (poller_epoll.cpp / poller_poll.cpp hold
// the system calls.)
#include "coop/poller.hpp"

namespace coop::detail {

void Poller::park(int fd, Direction direction, IoWait& wait) {
  if (fd < 0) throw UsageError("I/O on a closed socket");
  if (static_cast<std::size_t>(fd) >= slots_.size()) slots_.resize(static_cast<std::size_t>(fd) + 1);
  IoWait*& slot = direction == Direction::read ? slots_[fd].reader : slots_[fd].writer;
  if (slot != nullptr)
    throw UsageError(direction == Direction::read ? "two tasks read from the same socket at once"
                                                  : "two tasks write to the same socket at once");
  slot = &wait;
  ++parked_;
}

void Poller::unpark(int fd, Direction direction) noexcept {
  if (fd < 0 || static_cast<std::size_t>(fd) >= slots_.size()) return;
  IoWait*& slot = direction == Direction::read ? slots_[fd].reader : slots_[fd].writer;
  if (slot == nullptr) return;
  slot = nullptr;
  --parked_;
}

// `fd` is readable and/or writable (or has an error, which makes it both: the retried
// operation reports it). Each parked wait retries; those that finished are woken.
void Poller::ready(int fd, bool readable, bool writable) noexcept {
  if (fd < 0 || static_cast<std::size_t>(fd) >= slots_.size()) return;
  if (readable)
    if (IoWait* w = slots_[fd].reader; w != nullptr && w->on_ready()) {
      unpark(fd, Direction::read);
      w->finished();
    }
  if (writable)
    if (IoWait* w = slots_[fd].writer; w != nullptr && w->on_ready()) {
      unpark(fd, Direction::write);
      w->finished();
    }
}

}  // namespace coop::detail
