// poller.cpp — the parts of the poller both implementations share: who is parked where,
// and what happens when a descriptor is ready. (poller_epoll.cpp / poller_poll.cpp hold
// the system calls.)
#include "coop/poller.hpp"

namespace coop::detail {

IoWait::~IoWait() {
  // Destroyed while parked (its task was abandoned): the poller must forget it.
  if (in_poller_)
    if (Loop* loop = Loop::current_or_null()) loop->poller().unpark(fd_, write_ ? Poller::Direction::write : Poller::Direction::read);
}

bool IoWait::on_cancel() noexcept {
  if (in_poller_)
    if (Loop* loop = Loop::current_or_null()) loop->poller().unpark(fd_, write_ ? Poller::Direction::write : Poller::Direction::read);
  return true;
}

void Poller::check_free(int fd, Direction direction) const {
  if (fd < 0) throw UsageError("I/O on a closed socket");
  if (static_cast<std::size_t>(fd) >= slots_.size()) return;
  const IoWait* slot = direction == Direction::read ? slots_[fd].reader : slots_[fd].writer;
  if (slot != nullptr)
    throw UsageError(direction == Direction::read ? "two tasks read from the same socket at once"
                                                  : "two tasks write to the same socket at once");
}

// (add_fd sized slots_ for this fd when the socket was introduced to the poller.)
void Poller::park(int fd, Direction direction, IoWait& wait) noexcept {
  IoWait*& slot = direction == Direction::read ? slots_[fd].reader : slots_[fd].writer;
  slot = &wait;
  wait.fd_ = fd;
  wait.write_ = direction == Direction::write;
  wait.in_poller_ = true;
  ++parked_;
}

void Poller::unpark(int fd, Direction direction) noexcept {
  if (fd < 0 || static_cast<std::size_t>(fd) >= slots_.size()) return;
  IoWait*& slot = direction == Direction::read ? slots_[fd].reader : slots_[fd].writer;
  if (slot == nullptr) return;
  slot->in_poller_ = false;
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
      w->wake();
    }
  if (writable)
    if (IoWait* w = slots_[fd].writer; w != nullptr && w->on_ready()) {
      unpark(fd, Direction::write);
      w->wake();
    }
}

// The socket is being closed under a parked task: that task must not wait forever.
void Poller::orphan_parked(int fd) noexcept {
  if (fd < 0 || static_cast<std::size_t>(fd) >= slots_.size()) return;
  for (Direction d : {Direction::read, Direction::write}) {
    IoWait* w = d == Direction::read ? slots_[fd].reader : slots_[fd].writer;
    if (w == nullptr) continue;
    unpark(fd, d);
    w->orphan();
  }
}

}  // namespace coop::detail
