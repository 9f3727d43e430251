// test_threadsafe_callback.cpp — the one door into the loop from another thread
// (ThreadsafeCallback, lowlevel.hpp; asyncio's call_soon_threadsafe), and its count of
// outside work in flight. Real threads: real time, and ThreadSanitizer runs this file.
#include <atomic>
#include <memory>
#include <thread>

#include "support.hpp"

using namespace coop;
using namespace coop::testing;

namespace {

// Another thread's work, handed back through the door: on_call() wakes the task that
// waits for it (or, with nobody waiting, only records that it ran on the loop thread).
class Worker final : public ThreadsafeCallback {
 public:
  ~Worker() override {
    if (thread_.joinable()) thread_.join();
  }
  // Loop thread: start the thread, which calls back after `delay` (real time).
  void start(std::chrono::milliseconds delay) {
    mark_in_flight();  // before the thread exists: it sees what this wrote
    thread_ = std::thread([this, delay] {
      std::this_thread::sleep_for(delay);
      call_soon_threadsafe();  // nothing of this object is touched after this line
    });
  }
  bool called_on_loop_thread = false;
  std::thread::id loop_thread = std::this_thread::get_id();

  // `co_await worker.back()`: until on_call() has run.
  class Back final : public Wait {
   public:
    explicit Back(Worker& w) noexcept : Wait(WaitKind::other), w_(w) {}
    ~Back() { w_.waiter_ = nullptr; }
    bool await_ready() const noexcept { return w_.back_; }
    bool await_suspend(std::coroutine_handle<> h) {
      if (!park(h)) return false;
      w_.waiter_ = this;
      return true;
    }
    void await_resume() const { throw_if_interrupted(); }
    void woken() noexcept { wake(); }

   private:
    Worker& w_;
  };
  Back back() noexcept { return Back(*this); }

 private:
  void on_call() noexcept override {
    called_on_loop_thread = std::this_thread::get_id() == loop_thread && loop_running();
    back_ = true;
    if (waiter_ != nullptr) std::exchange(waiter_, nullptr)->woken();
  }
  std::thread thread_;
  Back* waiter_ = nullptr;
  bool back_ = false;
};

}  // namespace

TEST_CASE("a task waiting on another thread's callback is not a deadlock, and is woken on the loop thread") {
  Worker w;
  std::size_t in_flight = 0, after = 99;
  run([&]() -> Task<void> {
    w.start(20ms);
    in_flight = outside_work_in_flight();
    co_await w.back();  // nothing ready, no timer: the loop waits for the callback in flight
    after = outside_work_in_flight();
  }());
  CHECK(in_flight == 1);
  CHECK(after == 0);
  CHECK(w.called_on_loop_thread);
}

TEST_CASE("run() does not end while a callback is in flight, even when nobody waits for it") {
  auto w = std::make_unique<Worker>();
  run([&]() -> Task<void> {
    w->start(20ms);
    co_return;  // main is done at once
  }());
  CHECK(w->called_on_loop_thread);  // run() waited for the callback and ran it
}

TEST_CASE("virtual time does not leap past a callback in flight") {
  Worker w;
  Clock::duration at{};
  run_virtual([&]() -> Task<void> {
    w.start(30ms);
    co_await w.back();
    at = elapsed();
  }());
  // Virtual time moves by the real time waited for the outside world, not to "forever".
  CHECK(at >= 30ms);
  CHECK(at < 10s);
}
