// Exercise 04 — create_task. Replace each exercise::todo(...) with your code; the hints in the
// TODO comments get you started, `./coop run 4` grades it, `./coop hint 4` helps more.
#include "04_create_task.hpp"

#include "exercise.hpp"

namespace ex04 {

coop::Task<void> heartbeat(Health& health, coop::Clock::duration every) {
  // TODO: loop forever: record a beat (health.beats.push_back(coop::now())), then
  //       co_await coop::sleep(every). The sleep is where cancel() reaches it.
  (void)health, (void)every;
  exercise::todo("heartbeat");
  co_return;
}

coop::TaskHandle<void> start_heartbeat(Health& health, coop::Clock::duration every) {
  // TODO: return coop::create_task(heartbeat(...), "heartbeat"). Nothing of heartbeat runs
  //       in here: the loop starts it once the caller next gives way.
  (void)health, (void)every;
  exercise::todo("start_heartbeat");
}

coop::Task<void> flusher(Metrics& m, coop::Clock::duration period) {
  // TODO: like heartbeat, but sleep first, then flush(m).
  (void)m, (void)period;
  exercise::todo("flusher");
  co_return;
}

// TODO: a helper that stops a background task cleanly will serve you in parts 2 to 4:
//       cancel it, then co_await it. Awaiting a cancelled task throws CancelledError; that
//       one is the expected end (catch it when handle.cancelled() says so), but a
//       CancelledError aimed at the caller itself must be passed on. Lesson 04 shows one.

coop::Task<void> serve(Metrics& m, std::vector<Request> requests, coop::Clock::duration period) {
  // TODO: create_task the flusher ("flusher"), co_await handle_request(m, r) for each request,
  //       then stop the flusher (cancel + co_await), then flush(m) once more.
  (void)m, (void)requests, (void)period;
  exercise::todo("serve");
  co_return;
}

coop::Task<void> serve_monitored(Metrics& m, Health& health, std::vector<Request> requests,
                                 coop::Clock::duration flush_every, coop::Clock::duration beat_every) {
  // TODO: serve() plus start_heartbeat(). A request may throw: catch it, keep
  //       std::current_exception(), and leave the catch block (C++ forbids co_await in
  //       one); stop both tasks, flush, then std::rethrow_exception.
  (void)m, (void)health, (void)requests, (void)flush_every, (void)beat_every;
  exercise::todo("serve_monitored");
  co_return;
}

coop::Task<void> supervise(Health& health, coop::Clock::duration every, coop::Clock::duration backoff) {
  // TODO: loop: h = create_task(flaky_heartbeat(health, every), "heartbeat"); co_await h in a
  //       try. catch (const std::exception&): a crash, count it, sleep(backoff), go round
  //       again. catch (const coop::CancelledError&): that is supervise being cancelled; the
  //       heartbeat runs on, so stop it (outside the catch block) and re-throw.
  (void)health, (void)every, (void)backoff;
  exercise::todo("supervise");
  co_return;
}

}  // namespace ex04
