// Exercise 04 — create_task: the reference solution.
#include "04_create_task.hpp"

#include <exception>
#include <utility>

namespace ex04 {

coop::Task<void> heartbeat(Health& health, coop::Clock::duration every) {
  // Beat, then wait. The co_await is the only place the task gives way, so it is where
  // cancel() reaches it: the CancelledError comes out of sleep and ends the task cancelled.
  // `health` is a reference: the caller promises it outlives the task (it stops the task
  // before it lets go of Health).
  for (;;) {
    health.beats.push_back(coop::now());
    co_await coop::sleep(every);
  }
}

coop::TaskHandle<void> start_heartbeat(Health& health, coop::Clock::duration every) {
  // create_task hands the coroutine to the loop and returns the handle at once; not a line
  // of heartbeat runs in here. Its first beat happens when the caller next gives way.
  return coop::create_task(heartbeat(health, every), "heartbeat");
}

coop::Task<void> flusher(Metrics& m, coop::Clock::duration period) {
  for (;;) {
    co_await coop::sleep(period);  // wait first: the first flush is one period in
    flush(m);                      // between two awaits: no request can count itself halfway
  }
}

namespace {

// Cancel a background task and wait until it has finished. Awaiting a cancelled task throws
// CancelledError: that one is the expected end, so it is not passed on. But if the task had
// not finished, the CancelledError came from our own co_await being cancelled: someone is
// cancelling *us*, and that must go on up. The handle is taken by value: the frame keeps its
// own reference to the task.
coop::Task<void> stop(coop::TaskHandle<void> task) {
  task.cancel();  // a request: the task stops at its current co_await, on a later turn
  try {
    co_await task;  // so wait for it; only then is it really gone
  } catch (const coop::CancelledError&) {
    if (!task.cancelled()) throw;  // not the task's cancellation: ours
  }
}

}  // namespace

coop::Task<void> serve(Metrics& m, std::vector<Request> requests, coop::Clock::duration period) {
  // create_task returns at once: the flusher runs whenever the requests are waiting on their
  // I/O, so it costs them nothing.
  coop::TaskHandle<void> f = coop::create_task(flusher(m, period), "flusher");
  for (const Request& r : requests) co_await handle_request(m, r);
  // Cancelling alone is not stopping: cancel() only asks. Awaiting it means the flusher has
  // finished (and let go of `m`) before we return.
  co_await stop(f);
  flush(m);  // the requests since the last periodic flush
}

coop::Task<void> serve_monitored(Metrics& m, Health& health, std::vector<Request> requests,
                                 coop::Clock::duration flush_every, coop::Clock::duration beat_every) {
  coop::TaskHandle<void> hb = start_heartbeat(health, beat_every);
  coop::TaskHandle<void> f = coop::create_task(flusher(m, flush_every), "flusher");
  // C++ has no async destructors, so a guard object cannot await the stops on the way out.
  // And a catch block cannot co_await. So: catch anything (CancelledError included: if we
  // are cancelled, our tasks must stop too), keep it, leave the handler, stop the tasks,
  // then re-throw the very same exception.
  std::exception_ptr error;
  try {
    for (const Request& r : requests) co_await handle_request(m, r);
  } catch (...) {
    error = std::current_exception();
  }
  // Our own cancellation (if that is what `error` holds) was delivered once already, so
  // these awaits work.
  co_await stop(f);
  co_await stop(hb);
  flush(m);
  if (error) std::rethrow_exception(error);
}

coop::Task<void> supervise(Health& health, coop::Clock::duration every, coop::Clock::duration backoff) {
  for (;;) {
    coop::TaskHandle<void> hb = coop::create_task(flaky_heartbeat(health, every), "heartbeat");
    std::exception_ptr cancelled;
    try {
      co_await hb;  // returns only by throwing: the heartbeat's crash, or our cancellation
    } catch (const std::exception&) {
      // The heartbeat crashed. Awaiting the handle retrieved its exception, so the runtime
      // does not report it as never looked at. CancelledError is not a std::exception:
      // it never lands here.
      ++health.crashes;
    } catch (const coop::CancelledError&) {
      // We are being cancelled. That abandoned our wait, not the heartbeat, which would beat
      // on with nobody watching (and a reference to `health`). Stop it first: outside this
      // handler, where co_await is allowed.
      cancelled = std::current_exception();
    }
    if (cancelled) {
      co_await stop(hb);
      std::rethrow_exception(cancelled);  // always: the canceller must see us end cancelled
    }
    co_await coop::sleep(backoff);  // a cancellation here needs no cleanup: no heartbeat runs
  }
}

}  // namespace ex04
