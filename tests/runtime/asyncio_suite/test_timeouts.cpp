// asyncio_suite/test_timeouts.cpp — CPython's Lib/test/test_asyncio/test_timeouts.py, ported
// where coop::wait_for can express the behaviour.
//
// coop has no `asyncio.timeout()` context manager: its one time limit is wait_for, which runs
// the limited code as a child task. Translation: `async with asyncio.timeout(d): BODY` ->
// `co_await wait_for(BODY as a lazy Task, d)`; timeout(None) -> Clock::duration::max();
// cm.expired() -> whether TimeoutError was raised (wait_for throws it only when its own
// deadline cancelled the child and the child ended cancelled); `try: ... finally: X` -> keep
// the exception, leave the handler, X, rethrow (no co_await inside a catch block in C++);
// asyncio.current_task().cancel() -> cancel() on the handle of the task that awaits
// wait_for, passed in; KeyError / ZeroDivisionError -> std::out_of_range / std::domain_error.
// Every case runs under virtual time, so "within 1 s" becomes an exact instant.
//
// One difference shows throughout: BODY runs in a child task that starts one loop turn
// after wait_for, not inside the calling task. So a timeout <= 0 cancels the child before it
// starts (its body never runs), and "the current task" inside BODY is the child, not the task
// that owns the limit.
//
// Left out, and why:
//   test_timeout_at_basic, test_timeout_at_disabled: coop has no timeout_at (an absolute
//     deadline); with a relative one they are test_timeout_basic and test_timeout_disabled.
//   test_reschedule, test_timeout_finished, test_timeout_not_entered: reschedule() and when()
//     are API coop lacks (a wait_for's limit is fixed when it is called).
//   test_repr_active, test_repr_expired, test_repr_finished, test_repr_disabled: there is no
//     Timeout object to print.
//   test_timeout_already_entered, test_timeout_double_enter: there is no context manager to
//     enter twice; every wait_for call is a new limit.
//   test_timeout_without_task: wait_for is a coroutine, so there is no way to call it outside
//     a task (calling it runs nothing; awaiting it needs a running loop).
//   test_timeout_exception_cause: C++ exceptions carry no chained cause. What __cause__ says,
//     that the body ended with CancelledError, is test_waiter_cancelled here.
// Simplified: test_nested_timeouts_concurrent and test_nested_timeouts_loop_busy make the loop
// busy with time.sleep() so that both deadlines pass during one step. Under virtual time a
// blocking call takes no loop time, so the ports drop it and keep the nesting: which limit
// raises TimeoutError, and that the outer one still fires after the inner one was handled.
#include <optional>
#include <stdexcept>
#include <vector>

#include "support.hpp"

using namespace coop;
using namespace coop::testing;

namespace {

// co_await `t`; whether it threw TimeoutError.
template <class T>
Task<bool> times_out(Task<T> t) {
  try {
    (void)co_await std::move(t);
  } catch (const TimeoutError&) {
    co_return true;
  }
  co_return false;
}

Task<void> sleep_for(Clock::duration d) { co_await sleep(d); }

}  // namespace

TEST_CASE("TimeoutTests.test_timeout_basic") {
  run_virtual([]() -> Task<void> {
    CHECK(co_await times_out(wait_for(sleep_for(10s), 10ms)));  // expired
    CHECK(elapsed() == 10ms);
  }());
}

TEST_CASE("TimeoutTests.test_nested_timeouts") {
  // Two limits with the same deadline: only the outer one raises TimeoutError; inside, the
  // inner wait_for sees its caller cancelled and lets CancelledError through. (Equal
  // deadlines fire in the order they were set, and the outer limit was set first.)
  bool cancelled = false;
  run_virtual([](bool* cancelled) -> Task<void> {
    CHECK(co_await times_out(wait_for(
        [](bool* cancelled) -> Task<void> {
          try {
            co_await wait_for(sleep_for(10s), 10ms);
          } catch (const CancelledError&) {
            *cancelled = true;
            throw;
          }
        }(cancelled),
        10ms)));
    CHECK(elapsed() == 10ms);
  }(&cancelled));
  CHECK(cancelled);
}

TEST_CASE("TimeoutTests.test_waiter_cancelled") {
  bool cancelled = false;
  run_virtual([](bool* cancelled) -> Task<void> {
    CHECK(co_await times_out(wait_for(
        [](bool* cancelled) -> Task<void> {
          try {
            co_await sleep(10s);
          } catch (const CancelledError&) {
            *cancelled = true;
            throw;
          }
        }(cancelled),
        10ms)));
  }(&cancelled));
  CHECK(cancelled);
}

TEST_CASE("TimeoutTests.test_timeout_not_called") {
  run_virtual([]() -> Task<void> {
    CHECK_FALSE(co_await times_out(wait_for(sleep_for(10ms), 10s)));  // not expired
    CHECK(elapsed() == 10ms);  // (cm.when() > t1 is left out: no when())
  }());
}

TEST_CASE("TimeoutTests.test_timeout_disabled") {
  run_virtual([]() -> Task<void> {
    CHECK_FALSE(co_await times_out(wait_for(sleep_for(10ms), Clock::duration::max())));
    CHECK(elapsed() == 10ms);
  }());
}

TEST_CASE("TimeoutTests.test_timeout_zero") {
  bool body_ran = false;
  run_virtual([](bool* body_ran) -> Task<void> {
    const Clock::duration t0 = elapsed();
    CHECK(co_await times_out(wait_for(
        [](bool* body_ran) -> Task<void> {
          *body_ran = true;
          co_await sleep(10s);
        }(body_ran),
        0s)));
    CHECK(elapsed() == t0);
  }(&body_ran));
  CHECK_FALSE(body_ran);  // coop: cancelled before it started; asyncio runs it to the sleep
}

TEST_CASE("TimeoutTests.test_timeout_zero_sleep_zero") {
  run_virtual([]() -> Task<void> {
    const Clock::duration t0 = elapsed();
    CHECK(co_await times_out(wait_for(sleep_for(0s), 0s)));
    CHECK(elapsed() == t0);
  }());
}

TEST_CASE("TimeoutTests.test_timeout_in_the_past_sleep_zero") {
  run_virtual([]() -> Task<void> {
    const Clock::duration t0 = elapsed();
    CHECK(co_await times_out(wait_for(sleep_for(0s), -11s)));
    CHECK(elapsed() == t0);
  }());
}

TEST_CASE("TimeoutTests.test_foreign_exception_passed") {
  run_virtual([]() -> Task<void> {
    bool raised = false;
    try {
      co_await wait_for([]() -> Task<void> { throw std::out_of_range("KeyError"); }(), 10ms);
    } catch (const TimeoutError&) {
      FAIL_CHECK("the body's exception was turned into TimeoutError");
    } catch (const std::out_of_range&) {
      raised = true;
    }
    CHECK(raised);  // and not expired
    CHECK(elapsed() == 0s);
  }());
}

TEST_CASE("TimeoutTests.test_foreign_exception_on_timeout") {
  // The body's cleanup raises while the timeout cancels it: that exception wins.
  run_virtual([]() -> Task<void> {
    auto crash = []() -> Task<void> {
      try {
        co_await sleep(1s);
      } catch (...) {
        throw std::domain_error("division by zero");  // finally: 1/0
      }
      throw std::domain_error("division by zero");
    };
    bool raised = false;
    try {
      co_await wait_for(crash(), 10ms);
    } catch (const TimeoutError&) {
      FAIL_CHECK("the body's exception was turned into TimeoutError");
    } catch (const std::domain_error&) {
      raised = true;
    }
    CHECK(raised);
    CHECK(elapsed() == 10ms);
  }());
}

TEST_CASE("TimeoutTests.test_foreign_cancel_doesnt_timeout_if_not_expired") {
  // The task that owns the limit cancels itself and then awaits: CancelledError, not
  // TimeoutError (the limit has not passed). The cancel reaches wait_for before its child
  // starts, so the child never runs.
  bool body_ran = false;
  run_virtual([](bool* body_ran) -> Task<void> {
    TaskHandle<void> self;
    self = create_task(
        [](TaskHandle<void>* self, bool* body_ran) -> Task<void> {
          self->cancel();
          co_await wait_for(
              [](bool* body_ran) -> Task<void> {
                *body_ran = true;
                co_await sleep(10s);
              }(body_ran),
              10s);
        }(&self, body_ran));
    bool cancelled = false;
    try {
      co_await self;
    } catch (const CancelledError&) {
      cancelled = true;
    }
    CHECK(cancelled);
    CHECK(self.cancelled());
    CHECK(elapsed() == 0s);  // not expired: nothing waited for the 10 s limit
  }(&body_ran));
  CHECK_FALSE(body_ran);
}

TEST_CASE("TimeoutTests.test_outer_task_is_not_cancelled") {
  run_virtual([]() -> Task<void> {
    auto task = create_task([]() -> Task<void> {
      CHECK(co_await times_out(wait_for(sleep_for(10s), 1ms)));
    }());
    co_await task;
    CHECK_FALSE(task.cancelled());
    CHECK(task.done());
    CHECK(elapsed() == 1ms);
  }());
}

TEST_CASE("TimeoutTests.test_nested_timeouts_concurrent") {
  // Simplified (see the header): the outer limit (2 ms) passes while the inner one (100 ms)
  // has not. The outer raises TimeoutError; the inner wait_for, whose caller was cancelled
  // from outside, lets CancelledError through instead of calling it a timeout of its own.
  // (Upstream's inner assertRaises lets the CancelledError pass, so it asserts the same.)
  bool inner_timed_out = false;
  bool inner_cancelled = false;
  run_virtual([](bool* inner_timed_out, bool* inner_cancelled) -> Task<void> {
    CHECK(co_await times_out(wait_for(
        [](bool* inner_timed_out, bool* inner_cancelled) -> Task<void> {
          try {
            co_await wait_for(sleep_for(1s), 100ms);
          } catch (const TimeoutError&) {
            *inner_timed_out = true;
          } catch (const CancelledError&) {
            *inner_cancelled = true;
            throw;
          }
        }(inner_timed_out, inner_cancelled),
        2ms)));
    CHECK(elapsed() == 2ms);
  }(&inner_timed_out, &inner_cancelled));
  CHECK_FALSE(inner_timed_out);
  CHECK(inner_cancelled);
}

TEST_CASE("TimeoutTests.test_nested_timeouts_loop_busy") {
  // Simplified (see the header): after the inner limit (2) expires and its TimeoutError is
  // handled, the outer limit (1) still interrupts the next sleep.
  run_virtual([]() -> Task<void> {
    const Clock::duration t0 = elapsed();
    CHECK(co_await times_out(wait_for(
        []() -> Task<void> {
          CHECK(co_await times_out(wait_for(sleep_for(1s), 10ms)));  // (2)
          CHECK(elapsed() == 10ms);
          co_await sleep(10s);  // This sleep should be interrupted by (1)
          FAIL_CHECK("the outer limit did not interrupt the sleep");
        }(),
        100ms)));  // (1)
    const Clock::duration t1 = elapsed();
    CHECK(t1 - t0 == 100ms);  // upstream: t0 <= t1 <= t0 + 1
  }());
}

TEST_CASE("TimeoutTests.test_nested_timeout_in_finally") {
  // The body is cancelled by the outer limit; its cleanup, awaited after the handler, runs
  // under a limit of its own, which expires too; then the cancellation goes on, and the
  // outer limit raises TimeoutError. A cancel is delivered once, so the cleanup can await.
  bool inner_expired = false;
  run_virtual([](bool* inner_expired) -> Task<void> {
    CHECK(co_await times_out(wait_for(
        [](bool* inner_expired) -> Task<void> {
          std::exception_ptr failure;
          try {
            co_await sleep(1s);
          } catch (...) {
            failure = std::current_exception();
          }
          // finally:
          *inner_expired = co_await times_out(wait_for(sleep_for(10s), 10ms));
          if (failure) std::rethrow_exception(failure);
        }(inner_expired),
        10ms)));
    CHECK(elapsed() == 20ms);  // the outer limit, then the cleanup's own
  }(&inner_expired));
  CHECK(inner_expired);
}

TEST_CASE("TimeoutTests.test_timeout_after_cancellation") {
  // A task catches its own cancellation, then cleans up under a limit of 0: TimeoutError.
  std::vector<Diagnostic> diags;
  run_virtual(
      []() -> Task<void> {
        TaskHandle<void> self;
        self = create_task(
            [](TaskHandle<void>* self) -> Task<void> {
              try {
                self->cancel();
                co_await sleep(1s);  // work which will be cancelled
              } catch (const CancelledError&) {
              }
              // finally:
              CHECK(co_await times_out(wait_for(sleep_for(1s), 0s)));  // some cleanup
            }(&self),
            "self");
        co_await self;
        CHECK(elapsed() == 0s);
      }(),
      &diags);
  // Like upstream's test method, the task swallows its cancel on purpose; coop reports it.
  CHECK(count(diags, Diagnostic::Kind::swallowed_cancellation) == 1);
}

TEST_CASE("TimeoutTests.test_cancel_in_timeout_after_cancellation") {
  // As above, but the task is cancelled again while inside the limit: CancelledError, not
  // TimeoutError. "The current task" is the one that owns the limit (upstream's body runs in
  // it); here the child cancels it through its handle.
  std::vector<Diagnostic> diags;
  run_virtual(
      []() -> Task<void> {
        TaskHandle<void> self;
        self = create_task(
            [](TaskHandle<void>* self) -> Task<void> {
              try {
                self->cancel();
                co_await sleep(1s);  // work which will be cancelled
              } catch (const CancelledError&) {
              }
              // finally:
              bool timed_out = false;
              bool cancelled = false;
              try {
                co_await wait_for(
                    [](TaskHandle<void>* self) -> Task<void> {
                      self->cancel();
                      co_await sleep(2s);  // some cleanup
                    }(self),
                    1s);
              } catch (const TimeoutError&) {
                timed_out = true;
              } catch (const CancelledError&) {
                cancelled = true;
              }
              CHECK_FALSE(timed_out);
              CHECK(cancelled);  // self.assertRaises(asyncio.CancelledError)
            }(&self),
            "self");
        co_await self;
        CHECK(elapsed() == 0s);
      }(),
      &diags);
  // The task swallows both cancels on purpose, as upstream's test method does.
  CHECK(count(diags, Diagnostic::Kind::swallowed_cancellation) == 1);
}
