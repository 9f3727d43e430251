// test_lowlevel.cpp — the kernel (lowlevel.hpp) as a student uses it: an awaitable of one's
// own on Wait and WaitList, a Timer, the loop's time. (The thread-safe door is in
// test_threadsafe_callback.cpp, which runs under ThreadSanitizer too.)
#include <stdexcept>
#include <string>
#include <vector>

#include "support.hpp"

using namespace coop;
using namespace coop::testing;

namespace {

// A semaphore written only with the kernel: the pattern of trio's ParkingLot. Its waiters
// override nothing but describe(): leaving the line when cancelled is the WaitList's job.
class Semaphore {
 public:
  explicit Semaphore(int value) : value_(value) {}
  ~Semaphore() { waiters_.orphan_all(); }

  class Acquire final : public Wait {
   public:
    explicit Acquire(Semaphore& s) noexcept : Wait(WaitKind::other), s_(s) {}
    bool await_ready() noexcept {
      if (s_.value_ == 0) return false;
      --s_.value_;
      return true;
    }
    bool await_suspend(std::coroutine_handle<> h) {
      if (!park(h)) return false;
      s_.waiters_.push_back(*this);
      return true;
    }
    void await_resume() const { throw_if_interrupted(); }
    std::string describe() const override { return "Semaphore"; }

   private:
    Semaphore& s_;
  };

  Acquire acquire() noexcept { return Acquire(*this); }
  // The unit goes straight to the oldest waiter, if any (a hand-over); else back to the count.
  void release() {
    if (!waiters_.wake_one()) ++value_;
  }
  std::size_t waiting() const noexcept { return waiters_.size(); }

 private:
  int value_;
  WaitList<Acquire> waiters_;
};

Task<void> take(Semaphore& s, std::vector<std::string>& got, std::string name) {
  co_await s.acquire();
  got.push_back(name + "@" + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed()).count()));
}

}  // namespace

TEST_CASE("WaitList: wake_one wakes the oldest waiter; a waiter cancelled in line leaves it") {
  std::vector<std::string> got;
  std::size_t waiting_after_cancel = 0;
  run_virtual([&]() -> Task<void> {
    Semaphore s(0);
    auto a = create_task(take(s, got, "a"), "a");
    auto b = create_task(take(s, got, "b"), "b");
    auto c = create_task(take(s, got, "c"), "c");
    co_await sleep(10ms);  // all three parked, in order a, b, c
    b.cancel();            // b overrides no on_cancel: the loop takes it out of the line at once
    waiting_after_cancel = s.waiting();
    s.release();  // to a
    co_await sleep(10ms);
    s.release();  // to c: b is not in line (not even before it resumed), so no unit is lost on it
    co_await gather(a, c);
    CHECK(b.cancelled());
  }());
  CHECK(waiting_after_cancel == 2);
  CHECK(got == std::vector<std::string>{"a@10", "c@20"});
}

TEST_CASE("WaitList: orphan_all wakes every waiter with a UsageError when the owner goes") {
  int usage_errors = 0;
  run_virtual([&]() -> Task<void> {
    auto s = std::make_unique<Semaphore>(0);
    auto waiter = [&]() -> Task<void> {
      try {
        co_await s->acquire();
      } catch (const UsageError&) {
        ++usage_errors;
      }
    };
    auto a = create_task(waiter());
    auto b = create_task(waiter());
    co_await sleep(1ms);
    s.reset();
    co_await gather(a, b);
  }());
  CHECK(usage_errors == 2);
}

namespace {

// A Wait that is also a Timer: wakes at a deadline, like sleep, but set with call_at.
class WakeAt final : public Wait, public Timer {
 public:
  explicit WakeAt(Clock::time_point when) noexcept : Wait(WaitKind::other), when_(when) {}
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) {
    if (!park(h)) return false;
    call_at(when_);
    return true;
  }
  void await_resume() const { throw_if_interrupted(); }

 private:
  void on_timer() noexcept override { wake(); }
  bool on_cancel() noexcept override {
    cancel_timer();
    return true;
  }
  Clock::time_point when_;
};

}  // namespace

TEST_CASE("Timer: call_at wakes at the deadline; a cancelled wait's timer is gone") {
  Clock::duration woke{};
  std::size_t outside = 99;
  run_virtual([&]() -> Task<void> {
    const Clock::time_point start = now();
    co_await WakeAt(start + 250ms);
    woke = elapsed();
    auto never = create_task([&]() -> Task<void> { co_await WakeAt(now() + 1h); }());
    co_await sleep(1ms);
    never.cancel();
    try {
      co_await never;
    } catch (const CancelledError&) {
    }
    outside = outside_work_in_flight();
  }());
  CHECK(woke == 250ms);  // and run() ended at once: the 1 h timer was removed with the wait
  CHECK(outside == 0);
}

TEST_CASE("elapsed() is the loop's time since run() began; outside a loop it is a UsageError") {
  Clock::duration at{};
  bool running = false;
  run_virtual([&]() -> Task<void> {
    co_await sleep(300ms);
    at = elapsed();
    running = loop_running();
  }());
  CHECK(at == 300ms);
  CHECK(running);
  CHECK_FALSE(loop_running());
  CHECK_THROWS_AS(elapsed(), UsageError);
}

namespace {

// An awaitable whose registration fails after it parked (a full timer heap, a closing pool):
// it undoes the park with unpark() and lets the exception reach the co_await.
class FailsAfterPark final : public Wait {
 public:
  FailsAfterPark() noexcept : Wait(WaitKind::other) {}
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) {
    if (!park(h)) return false;
    unpark();
    throw std::runtime_error("could not register");
  }
  void await_resume() const { throw_if_interrupted(); }
};

Task<std::string> fail_then_cancel_self(TaskHandle<std::string>* self) {
  std::string log;
  try {
    co_await FailsAfterPark();
  } catch (const std::runtime_error& e) {
    log += std::string("caught '") + e.what() + "'";
  }
  // Running again, not parked: a cancel now is pending, for the next co_await. (Had the
  // park stood, cancel() would abandon a wait whose awaiter is already destroyed.)
  self->cancel();
  try {
    co_await sleep(0s);
    log += "; sleep(0) returned";
  } catch (const CancelledError&) {
    log += "; cancelled at the next co_await";
  }
  co_await sleep(10ms);
  log += "; then slept 10 ms";
  co_return log;
}

}  // namespace

TEST_CASE("Wait::unpark: an await_suspend that throws after park() leaves the task running, not parked") {
  std::vector<Diagnostic> diagnostics;
  std::string log;
  run_virtual(
      [&]() -> Task<void> {
        TaskHandle<std::string> h;
        h = create_task(fail_then_cancel_self(&h));
        log = co_await h;
      }(),
      &diagnostics);
  CHECK(log == "caught 'could not register'; cancelled at the next co_await; then slept 10 ms");
}
