// Exercise 04 — create_task: a heartbeat and a metrics flusher beside the main work
// (lesson 04).
//
// You write the functions declared below in exercises/04_create_task.cpp. The grader
// (tests/grading/04_create_task.cpp) runs them under virtual time and reads the loop's trace:
// it checks not only what was recorded but *when* (a beat every 100 ms, a flush every
// 400 ms, while the requests go on), and that no background task is still running when
// your function returns.
//
// Two rules of C++ coroutines that matter here (lesson 04, steps 5 and 6):
//   * A task outlives the line that started it. Take what it needs by value, or by
//     reference only to something that outlives the task (the Health and Metrics below
//     belong to the caller, who keeps them alive until your function has returned: so stop
//     your tasks before you return).
//   * Write background work as named coroutine functions with parameters, never as lambda
//     coroutines with captures: the captures live in the lambda object, which is gone by
//     the time the task runs.
#pragma once

#include <coop/coop.hpp>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

namespace ex04 {

// ---- given ----------------------------------------------------------------------------------

// What the heartbeat reports to: the time of every beat.
struct Health {
  std::vector<coop::Clock::time_point> beats;  // coop::now() at each beat, in order
  int crashes = 0;                             // part 4: crashes the supervisor has seen
  std::vector<int> crash_plan;                 // part 4: see flaky_heartbeat
  std::size_t starts = 0;                      // part 4: how many flaky_heartbeats have started
};

// One flush of the request counter: when, and how many requests it reported.
struct Flush {
  coop::Clock::time_point at;
  int requests = 0;
};

// The metrics the flusher sends off.
struct Metrics {
  int pending = 0;             // requests handled since the last flush
  std::vector<Flush> flushes;  // every flush so far, in order
};

// Sends the pending count off (here: records it) and starts counting afresh. A plain
// function: it takes no time, and it flushes even when nothing is pending.
inline void flush(Metrics& m) {
  m.flushes.push_back({coop::now(), m.pending});
  m.pending = 0;
}

// One request of the main work: it waits `takes` (its I/O), then counts itself in
// m.pending, or throws std::runtime_error("request failed") if `fails`.
struct Request {
  coop::Clock::duration takes{};
  bool fails = false;
};
inline coop::Task<void> handle_request(Metrics& m, Request r) {
  co_await coop::sleep(r.takes);
  if (r.fails) throw std::runtime_error("request failed");
  ++m.pending;
}

// ---- part 1 ---------------------------------------------------------------------------------

// heartbeat(health, every): a health check that runs until it is cancelled. It beats (appends
// coop::now() to health.beats) as soon as it starts, then once more every `every`:
// with every = 100 ms, beats at 0, 100, 200, ... ms after it started. When it is cancelled,
// it ends cancelled (do not catch CancelledError).
coop::Task<void> heartbeat(Health& health, coop::Clock::duration every);

// start_heartbeat(health, every): schedules heartbeat(health, every) as a background task
// named "heartbeat" and returns its handle at once. (A plain function, not a coroutine: it
// cannot wait for anything, and need not.)
coop::TaskHandle<void> start_heartbeat(Health& health, coop::Clock::duration every);

// ---- part 2 ---------------------------------------------------------------------------------

// flusher(m, period): runs until it is cancelled; every `period` it calls flush(m): at
// period, 2 x period, ... after it started (not at once).
coop::Task<void> flusher(Metrics& m, coop::Clock::duration period);

// serve(m, requests, period): start flusher(m, period) as a background task named
// "flusher", handle the requests one after another (co_await handle_request(m, r) for each;
// none of them fails in this part), then stop the flusher cleanly: cancel it AND wait until
// it has finished. Then call flush(m) once more yourself (the final flush), so no request
// goes unreported, and return. The flusher must cost the requests no time: 7 requests of
// 120 ms take 840 ms, flusher or not.
coop::Task<void> serve(Metrics& m, std::vector<Request> requests, coop::Clock::duration period);

// ---- part 3 ---------------------------------------------------------------------------------

// serve_monitored(m, health, requests, flush_every, beat_every): serve (part 2) with a
// heartbeat beside it as well: start the heartbeat (start_heartbeat, part 1) and the flusher
// ("flusher", every flush_every), handle the requests one after another, stop both
// background tasks (cancel and wait for each), do the final flush, return.
// On EVERY path: if a request throws, or serve_monitored itself is cancelled, stop both tasks
// and do the final flush all the same, and only then let that exception (or CancelledError)
// leave serve_monitored: re-throw it, unchanged. Nothing you started may still be running
// when serve_monitored returns or throws.
coop::Task<void> serve_monitored(Metrics& m, Health& health, std::vector<Request> requests,
                                 coop::Clock::duration flush_every, coop::Clock::duration beat_every);

// ---- part 4 ---------------------------------------------------------------------------------

// A heartbeat that crashes (given). Each one started is run number health.starts (0, 1, 2,
// ...); run i crashes with std::runtime_error instead of making its beat number
// crash_plan[i] (counting from 0) — crash_plan[i] == 2: two beats, then the crash, one
// `every` after the second beat. Runs past the end of crash_plan never crash.
inline coop::Task<void> flaky_heartbeat(Health& health, coop::Clock::duration every) {
  const std::size_t run = health.starts++;
  const int crash_at = run < health.crash_plan.size() ? health.crash_plan[run] : -1;
  for (int beat = 0;; ++beat) {
    if (beat == crash_at) throw std::runtime_error("heartbeat run " + std::to_string(run) + " crashed");
    health.beats.push_back(coop::now());
    co_await coop::sleep(every);
  }
}

// supervise(health, every, backoff): keeps a heartbeat alive; meant to run as a background
// task itself. Start flaky_heartbeat(health, every) as a task named "heartbeat" and wait for
// it (co_await its handle). When it crashes (the co_await throws its std::exception), add 1
// to health.crashes, wait `backoff`, and start a new one; and so on, until supervise is
// cancelled. When it is cancelled, it must not leave its heartbeat behind: cancel the
// heartbeat it is watching, wait until that has finished, then end cancelled itself
// (re-throw the CancelledError).
// Beware: cancelling a task that awaits a handle abandons the wait, NOT the awaited task
// (coop/task_handle.hpp). And a crash must be retrieved (by awaiting the handle), or the
// runtime reports an exception nobody looked at.
coop::Task<void> supervise(Health& health, coop::Clock::duration every, coop::Clock::duration backoff);

}  // namespace ex04
