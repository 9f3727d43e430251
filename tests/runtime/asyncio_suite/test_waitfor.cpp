// asyncio_suite/test_waitfor.cpp — CPython's Lib/test/test_asyncio/test_waitfor.py, ported
// (every case of AsyncioWaitForTest).
//
// Each TEST_CASE is named after the upstream test it comes from and keeps its steps, under
// virtual time, so "took less than 0.1 s" becomes an exact instant. Translation:
// time.monotonic() -> now(); a Future the test completes by hand -> an Event; timeout=None
// -> Clock::duration::max() (no limit); loop.call_soon(f) -> f after the tasks just created
// have had their first turn (co_await sleep(0s)); _EPSILON -> 100 µs.
//
// Where coop differs on purpose, the test asserts coop's documented behaviour (README,
// "Where coop differs from asyncio"; wait_for.hpp) and says so:
//   * wait_for takes a lazy Task, not a future or a running task, and starts it as a child
//     task one loop turn later. asyncio.wait_for(coro) runs the coroutine inside the calling
//     task at once. So `inner_task = create_task(inner()); wait_for(inner_task, t)` becomes
//     `wait_for(inner(), t)` where inner_task had not started yet, and where the upstream
//     test hands over a task that is already running, the lazy Task awaits its handle
//     (which does not forward a cancellation to it: the running task is left alone).
//   * A timeout <= 0 cancels the child before it starts: TimeoutError, and its body never
//     runs (asyncio returns the result of a future that is already done).
//   * A child that catches its cancellation and returns a value: wait_for returns it, and
//     the runtime reports the swallowed cancellation (asyncio is silent).
// Left out: the checks of TimeoutError.__context__ (test_wait_for_waits_for_task_cancellation
// and ..._w_timeout_0): C++ exceptions carry no chained cause. What those checks mean, that
// the child ended cancelled, is what makes coop's wait_for throw TimeoutError at all.
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "support.hpp"

using namespace coop;
using namespace coop::testing;

namespace {

// A very small timeout: it passes "timeout > 0" and costs (virtual) nothing.
constexpr Clock::duration kEpsilon = std::chrono::microseconds(100);

// "Task will run for this defined time, ignoring cancel requests."
struct SlowTask {
  static constexpr Clock::duration kTaskTimeout = 200ms;
  bool exited = false;

  Task<void> run() {
    const Clock::time_point exitat = now() + kTaskTimeout;
    while (true) {
      const Clock::duration tosleep = exitat - now();
      if (tosleep <= Clock::duration::zero()) break;
      try {
        co_await sleep(tosleep);
      } catch (const CancelledError&) {
      }
    }
    exited = true;
  }
};

// The lazy Task that stands for "a task that is already running" (see the header):
// awaiting a handle does not forward a cancellation to the task behind it.
template <class T>
Task<T> await_handle(TaskHandle<T> h) {
  co_return co_await h;
}

}  // namespace

TEST_CASE("AsyncioWaitForTest.test_asyncio_wait_for_cancelled") {
  // Upstream's steps, one for one: the waiting task is cancelled after one turn. coop starts
  // the child one turn after wait_for, so it has not started yet: cancelled before it
  // started, its body never runs (DESIGN.md, Cancellation), and wait_for ends at once.
  SlowTask t;
  run_virtual([](SlowTask* t) -> Task<void> {
    auto waitfortask = create_task(wait_for(t->run(), SlowTask::kTaskTimeout * 2));
    co_await sleep(0s);
    waitfortask.cancel();
    try {
      co_await waitfortask;
    } catch (const CancelledError&) {
    }
    CHECK(waitfortask.cancelled());
    CHECK(elapsed() == 0s);
  }(&t));
  CHECK_FALSE(t.exited);

  // One turn more and the child is running, as upstream's coroutine is: cancelling the
  // waiting task cancels the child, which ignores it, and wait_for waits until it exits.
  SlowTask t2;
  std::vector<Diagnostic> diags;
  run_virtual(
      [](SlowTask* t) -> Task<void> {
        auto waitfortask = create_task(wait_for(t->run(), SlowTask::kTaskTimeout * 2));
        co_await sleep(0s);
        co_await sleep(0s);  // the child's first turn
        waitfortask.cancel();
        try {
          co_await waitfortask;
        } catch (const CancelledError&) {
        }
        CHECK(waitfortask.cancelled());
        CHECK(elapsed() == SlowTask::kTaskTimeout);  // it waited for the child to exit
      }(&t2),
      &diags);
  CHECK(t2.exited);
  // The child caught its cancellation and returned: coop says so, asyncio does not.
  CHECK(count(diags, Diagnostic::Kind::swallowed_cancellation) == 1);
}

TEST_CASE("AsyncioWaitForTest.test_asyncio_wait_for_timeout") {
  SlowTask t;
  std::vector<Diagnostic> diags;
  run_virtual(
      [](SlowTask* t) -> Task<void> {
        bool timed_out = false;
        try {
          co_await wait_for(t->run(), SlowTask::kTaskTimeout / 2);
        } catch (const TimeoutError&) {
          timed_out = true;
        }
        // Upstream accepts either outcome. coop's is fixed: the child ignored the cancel and
        // returned normally, so wait_for returns (after the child exits) instead of throwing.
        CHECK_FALSE(timed_out);
        CHECK(elapsed() == SlowTask::kTaskTimeout);
      }(&t),
      &diags);
  CHECK(t.exited);
  CHECK(count(diags, Diagnostic::Kind::swallowed_cancellation) == 1);
}

TEST_CASE("AsyncioWaitForTest.test_wait_for_timeout_less_then_0_or_0_future_done") {
  // coop's wait_for takes no future. The nearest: a lazy Task that only returns the result
  // of a task already done. With timeout 0 coop cancels it before it starts (its body never
  // runs), so this is TimeoutError where asyncio returns 'done'; the finished task is
  // untouched and still holds its result.
  run_virtual([]() -> Task<void> {
    auto fut = create_task([]() -> Task<std::string> { co_return "done"; }());
    co_await sleep(0s);
    REQUIRE(fut.done());

    const Clock::duration t0 = elapsed();
    bool timed_out = false;
    try {
      (void)co_await wait_for(await_handle(fut), 0s);
    } catch (const TimeoutError&) {
      timed_out = true;
    }
    const Clock::duration t1 = elapsed();

    CHECK(timed_out);  // asyncio: ret == 'done'
    CHECK(fut.done());
    CHECK(co_await fut == "done");
    CHECK(t1 - t0 == 0s);
  }());
}

TEST_CASE("AsyncioWaitForTest.test_wait_for_timeout_less_then_0_or_0_coroutine_do_not_started") {
  bool foo_started = false;
  run_virtual([](bool* foo_started) -> Task<void> {
    const Clock::duration t0 = elapsed();
    bool timed_out = false;
    try {
      co_await wait_for(
          [](bool* foo_started) -> Task<void> {
            *foo_started = true;
            co_return;
          }(foo_started),
          0s);
    } catch (const TimeoutError&) {
      timed_out = true;
    }
    const Clock::duration t1 = elapsed();
    CHECK(timed_out);
    CHECK(t1 - t0 == 0s);
  }(&foo_started));
  CHECK_FALSE(foo_started);
}

TEST_CASE("AsyncioWaitForTest.test_wait_for_timeout_less_then_0_or_0") {
  // Upstream hands wait_for a task that is already running; asyncio cancels it and waits for
  // it. coop's wait_for can only be given a lazy Task, here one that awaits the running
  // task's handle. With timeout <= 0 that Task never starts, and awaiting a handle never
  // forwards a cancellation anyway (README): TimeoutError at once, and the running task is
  // left alone until its owner cancels it.
  for (Clock::duration timeout : {Clock::duration::zero(), Clock::duration(-1s)}) {
    CAPTURE(timeout.count());
    std::optional<bool> foo_running;
    run_virtual([](std::optional<bool>* foo_running, Clock::duration timeout) -> Task<void> {
      Event started;
      auto fut = create_task(
          [](std::optional<bool>* foo_running, Event& started) -> Task<std::string> {
            *foo_running = true;
            started.set();
            std::exception_ptr failure;
            try {
              co_await sleep(10s);
            } catch (...) {
              failure = std::current_exception();
            }
            *foo_running = false;  // finally
            if (failure) std::rethrow_exception(failure);
            co_return "done";
          }(foo_running, started));
      co_await started.wait();

      const Clock::duration t0 = elapsed();
      bool timed_out = false;
      try {
        (void)co_await wait_for(await_handle(fut), timeout);
      } catch (const TimeoutError&) {
        timed_out = true;
      }
      const Clock::duration t1 = elapsed();

      CHECK(timed_out);
      CHECK(t1 - t0 == 0s);
      // asyncio: fut is done and cancelled here. coop: still running.
      CHECK_FALSE(fut.done());
      CHECK(*foo_running == true);
      fut.cancel();
      try {
        (void)co_await fut;
      } catch (const CancelledError&) {
      }
      CHECK(fut.cancelled());
      CHECK(*foo_running == false);
    }(&foo_running, timeout));
  }
}

TEST_CASE("AsyncioWaitForTest.test_wait_for") {
  // `fut = create_task(foo()); wait_for(fut, 0.1)` with no await between: fut has not
  // started, so it is wait_for(foo(), 0.1) here.
  std::optional<bool> foo_running;
  run_virtual([](std::optional<bool>* foo_running) -> Task<void> {
    const Clock::duration t0 = elapsed();
    bool timed_out = false;
    try {
      (void)co_await wait_for(
          [](std::optional<bool>* foo_running) -> Task<std::string> {
            *foo_running = true;
            std::exception_ptr failure;
            try {
              co_await sleep(10s);
            } catch (...) {
              failure = std::current_exception();
            }
            *foo_running = false;  // finally
            if (failure) std::rethrow_exception(failure);
            co_return "done";
          }(foo_running),
          100ms);
    } catch (const TimeoutError&) {
      timed_out = true;  // thrown only once the child ended cancelled (wait_for.hpp)
    }
    const Clock::duration t1 = elapsed();
    CHECK(timed_out);
    CHECK(t1 - t0 == 100ms);  // upstream: < 0.5 s
  }(&foo_running));
  REQUIRE(foo_running.has_value());
  CHECK(*foo_running == false);
}

TEST_CASE("AsyncioWaitForTest.test_wait_for_blocking") {
  run_virtual([]() -> Task<void> {
    std::string res =
        co_await wait_for([]() -> Task<std::string> { co_return "done"; }(), Clock::duration::max());
    CHECK(res == "done");
  }());
}

TEST_CASE("AsyncioWaitForTest.test_wait_for_race_condition") {
  run_virtual([]() -> Task<void> {
    Event fut;
    std::string value;
    auto task = wait_for(
        [](Event& fut, std::string* value) -> Task<std::string> {
          co_await fut.wait();
          co_return *value;
        }(fut, &value),
        200ms);
    // loop.call_later(0.1, fut.set_result, "ok")
    auto later = create_task([](Event& fut, std::string* value) -> Task<void> {
      co_await sleep(100ms);
      *value = "ok";
      fut.set();
    }(fut, &value));
    std::string res = co_await std::move(task);
    CHECK(res == "ok");
    CHECK(elapsed() == 100ms);
    co_await later;
  }());
}

TEST_CASE("AsyncioWaitForTest.test_wait_for_cancellation_race_condition") {
  std::vector<Diagnostic> diags;
  run_virtual(
      []() -> Task<void> {
        int result = co_await wait_for(
            []() -> Task<int> {
              bool raised = false;
              try {
                co_await sleep(1s);
              } catch (const CancelledError&) {
                raised = true;
              }
              CHECK(raised);  // self.assertRaises(asyncio.CancelledError)
              co_return 1;
            }(),
            10ms);
        CHECK(result == 1);
        CHECK(elapsed() == 10ms);
      }(),
      &diags);
  // coop reports the swallowed cancellation; asyncio says nothing.
  CHECK(count(diags, Diagnostic::Kind::swallowed_cancellation) == 1);
}

TEST_CASE("AsyncioWaitForTest.test_wait_for_waits_for_task_cancellation") {
  bool task_done = false;
  run_virtual([](bool* task_done) -> Task<void> {
    bool timed_out = false;
    try {
      co_await wait_for(
          [](bool* task_done) -> Task<void> {
            std::exception_ptr failure;
            try {
              co_await sleep(10s);
            } catch (const CancelledError&) {
              failure = std::current_exception();
            }
            if (failure) co_await sleep(kEpsilon);  // except CancelledError: await sleep; raise
            *task_done = true;  // finally
            if (failure) std::rethrow_exception(failure);
          }(task_done),
          kEpsilon);
    } catch (const TimeoutError&) {
      timed_out = true;
      CHECK(*task_done);  // the child finished its cleanup before TimeoutError was raised
    }
    CHECK(timed_out);
    CHECK(elapsed() == 2 * kEpsilon);  // the timeout, then the child's cleanup
  }(&task_done));
  CHECK(task_done);
}

TEST_CASE("AsyncioWaitForTest.test_wait_for_waits_for_task_cancellation_w_timeout_0") {
  // Upstream lets inner_task start (sleep(_EPSILON)) before wait_for(inner_task, 0) cancels
  // it and waits for its cleanup. coop's wait_for gets a lazy Task and, at timeout 0,
  // cancels it before it starts: TimeoutError, and neither the body nor its cleanup runs.
  bool task_done = false;
  run_virtual([](bool* task_done) -> Task<void> {
    auto foo = [](bool* task_done) -> Task<void> {
      auto inner = [](bool* task_done) -> Task<void> {
        std::exception_ptr failure;
        try {
          co_await sleep(10s);
        } catch (const CancelledError&) {
          failure = std::current_exception();
        }
        if (failure) co_await sleep(kEpsilon);
        *task_done = true;  // finally
        if (failure) std::rethrow_exception(failure);
      };
      co_await sleep(kEpsilon);
      co_await wait_for(inner(task_done), 0s);
    };
    bool timed_out = false;
    try {
      co_await foo(task_done);
    } catch (const TimeoutError&) {
      timed_out = true;
    }
    CHECK(timed_out);
    CHECK(elapsed() == kEpsilon);
  }(&task_done));
  CHECK_FALSE(task_done);  // asyncio: true (inner had started and cleaned up)
}

TEST_CASE("AsyncioWaitForTest.test_wait_for_reraises_exception_during_cancellation") {
  struct FooException : std::runtime_error {
    FooException() : std::runtime_error("FooException") {}
  };
  run_virtual([]() -> Task<void> {
    auto foo = []() -> Task<void> {
      auto inner = []() -> Task<void> {
        try {
          co_await sleep(200ms);
        } catch (...) {
          throw FooException();  // finally: raise FooException (replaces the CancelledError)
        }
        throw FooException();
      };
      co_await wait_for(inner(), kEpsilon);
    };
    bool raised = false;
    try {
      co_await foo();
    } catch (const TimeoutError&) {
      FAIL("the child's own exception was turned into TimeoutError");
    } catch (const FooException&) {
      raised = true;
    }
    CHECK(raised);
    CHECK(elapsed() == kEpsilon);
  }());
}

TEST_CASE("AsyncioWaitForTest.test_wait_for_self_cancellation") {
  // "Test that wait_for itself is properly cancellable even when the initial task holds up
  // the initial cancellation." The waiting task is cancelled before its first turn, so
  // wait_for never runs and inner_task is never cancelled: it returns 42 after its own
  // 0.3 s. inner_task already exists, so the lazy Task awaits its handle (see the header).
  run_virtual([]() -> Task<void> {
    auto inner_task = create_task([]() -> Task<int> {
      try {
        co_await sleep(300ms);
      } catch (const CancelledError&) {
        FAIL_CHECK("inner_task was cancelled");
      }
      co_return 42;
    }());

    auto wait = wait_for(await_handle(inner_task), 100ms);

    auto task = create_task(std::move(wait));
    task.cancel();

    bool cancelled = false;
    try {
      (void)co_await task;
    } catch (const CancelledError&) {
      cancelled = true;
    }
    CHECK(cancelled);
    CHECK(elapsed() == 0s);

    CHECK(co_await inner_task == 42);
    CHECK(elapsed() == 300ms);
  }());
}

namespace {

// _test_cancel_wait_for: a coroutine that blocks forever (on an Event nobody sets); the
// waiting task is cancelled; "cancelling the wait must also cancel the task" (bpo-23219).
struct Blocking {
  bool started = false;
  bool cancelled = false;
};

Task<void> blocking_coroutine(Event& fut, Blocking* log) {
  log->started = true;
  try {
    co_await fut.wait();  // Block: fut is never set
  } catch (const CancelledError&) {
    log->cancelled = true;
    throw;
  }
}

void test_cancel_wait_for(Clock::duration timeout) {
  Blocking log;
  run_virtual([](Blocking* log, Clock::duration timeout) -> Task<void> {
    Event fut;
    auto wait = create_task(wait_for(blocking_coroutine(fut, log), timeout));
    // Upstream's task had its first turn when call_soon(wait.cancel) runs; coop starts the
    // child one turn after wait_for, so cancel after that turn.
    co_await sleep(0s);
    co_await sleep(0s);
    REQUIRE(log->started);
    wait.cancel();

    bool cancelled = false;
    try {
      co_await wait;
    } catch (const CancelledError&) {
      cancelled = true;
    }
    CHECK(cancelled);
    CHECK(elapsed() == 0s);
  }(&log, timeout));
  CHECK(log.cancelled);  // the child was cancelled with the wait
}

}  // namespace

TEST_CASE("AsyncioWaitForTest.test_cancel_blocking_wait_for") { test_cancel_wait_for(Clock::duration::max()); }

TEST_CASE("AsyncioWaitForTest.test_cancel_wait_for") { test_cancel_wait_for(60s); }

TEST_CASE("AsyncioWaitForTest.test_wait_for_cancel_suppressed") {
  std::vector<Diagnostic> diags;
  run_virtual(
      []() -> Task<void> {
        int res = co_await wait_for(
            []() -> Task<int> {
              try {
                co_await sleep(10s);
              } catch (const CancelledError&) {
                co_return 42;
              }
              co_return 0;
            }(),
            100ms);
        CHECK(res == 42);
        CHECK(elapsed() == 100ms);
      }(),
      &diags);
  // coop reports the swallowed cancellation; asyncio says nothing.
  CHECK(count(diags, Diagnostic::Kind::swallowed_cancellation) == 1);
}

TEST_CASE("AsyncioWaitForTest.test_wait_for_issue86296") {
  // bpo-42130 / gh-86296: a cancel must not be lost when the inner coroutine finishes at
  // the same moment. turns == 1 is upstream's step: the child has not run yet, the cancel
  // reaches wait_for. turns == 2 is the race itself in coop: the child has finished and
  // woken the waiting task, which has not resumed; wait_for returns the child's result (a
  // Task, not a future: README) and the cancel lands at the next co_await, the sleep(1).
  for (int turns : {1, 2}) {
    CAPTURE(turns);
    bool reached_end = false;
    bool wait_for_returned = false;
    run_virtual([](bool* reached_end, bool* wait_for_returned, int turns) -> Task<void> {
      auto task = create_task([](bool* reached_end, bool* wait_for_returned) -> Task<void> {
        co_await wait_for([]() -> Task<void> { co_return; }(), 100s);
        *wait_for_returned = true;
        co_await sleep(1s);
        *reached_end = true;
      }(reached_end, wait_for_returned));
      for (int i = 0; i < turns; ++i) co_await sleep(0s);
      CHECK_FALSE(task.done());
      task.cancel();
      bool cancelled = false;
      try {
        co_await task;
      } catch (const CancelledError&) {
        cancelled = true;
      }
      CHECK(cancelled);
      CHECK(elapsed() == 0s);
    }(&reached_end, &wait_for_returned, turns));
    CHECK_FALSE(reached_end);
    CHECK(wait_for_returned == (turns == 2));  // where the cancel landed
  }
}
