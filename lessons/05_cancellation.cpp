// Lesson 05 — cancellation: CancelledError at the next suspension point; clean up, re-throw.
//
// asyncio: `task.cancel()` does not stop the task. It asks for CancelledError to be raised
// inside the task at its next `await`; code between two awaits still runs. The task catches
// it, cleans up (rolls back, closes), and re-raises it, so that whoever cancelled it sees it
// end cancelled. coop's h.cancel() and coop::CancelledError behave the same. Two things
// differ in C++: a catch block cannot co_await, so awaited cleanup happens after leaving the
// handler (keep std::current_exception(), await, std::rethrow_exception); and CancelledError
// is not a std::exception, so `catch (const std::exception&)` never swallows it (Python's
// CancelledError is likewise a BaseException, not an Exception, so `except Exception` misses it).
#include <cstddef>
#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "common/lesson.hpp"

using namespace std::chrono_literals;
using coop::Task;

namespace {

// When (on the loop's clock, from the start of the run) the named task finished, and how,
// read from the trace of the last lesson::run.
struct Ending {
  coop::Clock::duration at{};
  coop::Outcome how = coop::Outcome::pending;
};
Ending ending_of(std::string_view task) {
  for (const coop::TraceEvent& e : lesson::last_trace())
    if (e.kind == coop::TraceEvent::Kind::finished && e.task_name == task) return {e.at, e.outcome};
  return {};
}

// The position of the named task's end among the events of the last lesson::run, which the
// trace records in the order they happened (several can share one time).
std::size_t end_position(std::string_view task) {
  const std::vector<coop::TraceEvent>& trace = lesson::last_trace();
  for (std::size_t i = 0; i < trace.size(); ++i)
    if (trace[i].kind == coop::TraceEvent::Kind::finished && trace[i].task_name == task) return i;
  return trace.size();
}

// ---- step 1 --------------------------------------------------------------------------------

struct Step1 {
  coop::Clock::duration cancel_called{};
  bool cancel_returned = false;
  bool done_after_cancel = true;
  bool cancelled = false;
};

// snippet: suspended
Task<void> sleeper() {
  lesson::say("sleeper: co_await sleep(1 s)");
  try {
    co_await coop::sleep(1s);  // suspended here when cancel() comes
    lesson::say("sleeper: woke up normally");
  } catch (const coop::CancelledError&) {
    lesson::say("sleeper: CancelledError came out of my co_await sleep(1 s)");
    throw;  // nothing to clean up: re-throw at once
  }
}

Task<void> cancel_a_sleeper(Step1& seen) {
  coop::TaskHandle<void> h = coop::create_task(sleeper(), "sleeper");
  co_await coop::sleep(250ms);
  seen.cancel_returned = h.cancel();  // a request: it returns at once
  seen.done_after_cancel = h.done();
  lesson::say("main: h.cancel() -> {}; h.done() -> {}: the sleeper has not been resumed yet",
              seen.cancel_returned, seen.done_after_cancel);
  seen.cancel_called = lesson::said_at();  // the time on that line
  try {
    co_await h;
  } catch (const coop::CancelledError&) {
    seen.cancelled = h.cancelled();
    lesson::say("main: co_await h threw CancelledError; h.cancelled() -> {}", seen.cancelled);
  }
}
// end snippet

// ---- step 2 --------------------------------------------------------------------------------

struct Step2 {
  int stored = 0;            // rows the importer stored
  int stored_at_cancel = 0;  // ... when cancel() was called
  int flushing = 0;          // the batch being flushed
  int flushed = 0;           // the last batch flushed
  coop::Clock::duration cancel_called{};
};

// snippet: between
// A quota that cancels the import when it runs out. charge() is an ordinary call made by the
// importer, so cancel() is called while the importer itself is running.
struct Quota {
  int rows_left = 0;
  coop::TaskHandle<void> importer;
  Step2* seen = nullptr;

  void charge() {
    if (--rows_left != 0) return;  // only when it reaches zero
    lesson::say("quota: used up -> importer.cancel(), called while the importer is running");
    importer.cancel();
    seen->stored_at_cancel = seen->stored;
    seen->cancel_called = lesson::said_at();  // the time on the quota's line
  }
};

Task<void> importer(Quota& quota, Step2& seen) {
  for (int batch = 1;; ++batch) {
    co_await coop::sleep(100ms);  // fetch a batch: a suspension point
    for (int row = 1; row <= 3; ++row) {  // no co_await in here: nothing can stop this loop
      ++seen.stored;
      lesson::say("importer: batch {} row {} stored", batch, row);
      quota.charge();
    }
    seen.flushing = batch;
    lesson::say("importer: flushing batch {}", batch);
    co_await coop::sleep(50ms);  // flush to disk: the next suspension point
    seen.flushed = batch;
    lesson::say("importer: batch {} flushed", batch);
  }
}

Task<void> import_under_quota(Step2& seen) {
  Quota quota{.rows_left = 4, .importer = {}, .seen = &seen};
  quota.importer = coop::create_task(importer(quota, seen), "importer");
  try {
    co_await quota.importer;
  } catch (const coop::CancelledError&) {
    lesson::say("main: the importer ended cancelled with {} rows stored", seen.stored);
  }
}
// end snippet

// ---- step 3 --------------------------------------------------------------------------------

struct Step3 {
  int rolled_back = 0;
  coop::Clock::duration cancel_called{}, cleanup_began{}, cleanup_ended{};
  bool cancelled = false;
};

// snippet: cleanup
struct Database {
  int uncommitted = 0;     // rows written in the open transaction
  bool connected = false;
  Step3* seen = nullptr;
};

Task<void> rollback(Database& db) {
  co_await coop::sleep(50ms);  // a round trip to the server
  lesson::say("rollback: {} uncommitted rows undone", db.uncommitted);
  db.seen->rolled_back = db.uncommitted;
  db.uncommitted = 0;
}

Task<void> disconnect(Database& db) {
  co_await coop::sleep(20ms);  // the close handshake
  db.connected = false;
  lesson::say("disconnect: connection closed");
}

Task<void> import_rows(Database& db) {
  db.connected = true;
  std::exception_ptr cancelled;
  try {
    for (int row = 1; row <= 5; ++row) {
      co_await coop::sleep(100ms);  // write one row
      ++db.uncommitted;
      lesson::say("import: row {} written (uncommitted)", row);
    }
  } catch (const coop::CancelledError&) {
    // co_await rollback(db);  <- does not compile. GCC: "await expressions are not permitted
    //                            in handlers"; Clang: "'co_await' cannot be used in the
    //                            handler of a try block". So: keep the exception, leave.
    cancelled = std::current_exception();
  }
  if (cancelled) {
    lesson::say("import: cancelled; cleaning up before re-throwing");
    db.seen->cleanup_began = lesson::said_at();
    co_await rollback(db);  // awaits work again: a cancel() is delivered once
    co_await disconnect(db);
    db.seen->cleanup_ended = lesson::elapsed();
    std::rethrow_exception(cancelled);  // always: the task must end cancelled
  }
  lesson::say("import: committed");  // (not reached in this run)
}

Task<void> cancel_the_import(Database& db) {
  coop::TaskHandle<void> h = coop::create_task(import_rows(db), "import");
  co_await coop::sleep(250ms);
  h.cancel();
  lesson::say("main: cancel()");
  db.seen->cancel_called = lesson::said_at();
  try {
    co_await h;
  } catch (const coop::CancelledError&) {
    db.seen->cancelled = h.cancelled();
    lesson::say("main: co_await h threw CancelledError; h.cancelled() -> {}", h.cancelled());
  }
}
// end snippet

// ---- step 4 --------------------------------------------------------------------------------

struct Step4 {
  coop::Clock::duration cancel_called{};
  int flushes_at_cancel = 0;
  int flushes = 0;
  bool threw = false;
  bool cancelled = true;
  int returned = 0;  // what co_await h gave
  int error_handler_runs = 0;
  int catch_all_runs = 0;
};

// snippet: swallow
// A metrics flusher that retries whatever goes wrong. Three flushes, 100 ms apart.
Task<int> flusher(Step4& seen) {
  while (seen.flushes < 3) {
    try {
      co_await coop::sleep(100ms);
      ++seen.flushes;
      lesson::say("flusher: flush {}", seen.flushes);
    } catch (const std::exception& e) {  // errors: log and retry. CancelledError is not a
      ++seen.error_handler_runs;         // std::exception, so this handler never sees it
      lesson::say("flusher: error '{}', retrying", e.what());
    } catch (...) {  // the bug: a catch-all that does not re-throw swallows CancelledError
      ++seen.catch_all_runs;
      lesson::say("flusher: caught something; carrying on");
    }
  }
  co_return seen.flushes;
}

Task<void> stop_the_flusher(Step4& seen) {
  coop::TaskHandle<int> h = coop::create_task(flusher(seen), "flusher");
  co_await coop::sleep(150ms);
  h.cancel();
  seen.flushes_at_cancel = seen.flushes;
  lesson::say("main: cancel(); the flusher should stop now");
  seen.cancel_called = lesson::said_at();
  try {
    seen.returned = co_await h;  // no CancelledError: the flusher returned a value
    lesson::say("main: co_await h returned {}; h.cancelled() -> {}", seen.returned, h.cancelled());
  } catch (const coop::CancelledError&) {
    seen.threw = true;
  }
  seen.cancelled = h.cancelled();
}
// end snippet

// ---- step 5 --------------------------------------------------------------------------------

struct Step5 {
  coop::Clock::duration fast_done{}, slow_began{}, timeout_caught{};
  std::string fast_result;
};

// snippet: wait_for
Task<std::string> query(std::string sql, coop::Clock::duration takes) {
  std::exception_ptr cancelled;
  try {
    co_await coop::sleep(takes);  // the server works on it
  } catch (const coop::CancelledError&) {
    cancelled = std::current_exception();
  }
  if (cancelled) {
    co_await coop::sleep(30ms);  // tell the server to stop the query
    lesson::say("query '{}': cancelled; told the server to stop", sql);
    std::rethrow_exception(cancelled);
  }
  co_return sql + ": 42 rows";
}

Task<void> with_time_limits(Step5& seen) {
  seen.fast_result = co_await coop::wait_for(query("fast", 100ms), 200ms);
  lesson::say("main: wait_for returned \"{}\"", seen.fast_result);
  seen.fast_done = lesson::said_at();

  seen.slow_began = lesson::elapsed();
  try {
    co_await coop::wait_for(query("slow", 500ms), 200ms);
  } catch (const coop::TimeoutError& e) {  // a std::runtime_error: an error, not a cancellation
    lesson::say("main: TimeoutError: {}", e.what());
    seen.timeout_caught = lesson::said_at();
  }
}
// end snippet

// ---- step 6 --------------------------------------------------------------------------------

// snippet: gather
Task<int> fetch(std::string part, coop::Clock::duration takes) {
  try {
    co_await coop::sleep(takes);
  } catch (const coop::CancelledError&) {
    lesson::say("{}: cancelled; connection closed", part);
    throw;  // the cleanup above did not await, so it could stay inside the handler
  }
  lesson::say("{}: done", part);
  co_return 1;
}

Task<void> load_page() {
  coop::TaskHandle<int> header = coop::create_task(fetch("header", 300ms), "fetch header");
  coop::TaskHandle<int> body = coop::create_task(fetch("body", 500ms), "fetch body");
  coop::TaskHandle<int> ads = coop::create_task(fetch("ads", 800ms), "fetch ads");
  co_await coop::gather(header, body, ads);
  lesson::say("page: all parts loaded");  // (not reached in this run)
}

Task<void> cancel_the_page(coop::Clock::duration& cancel_called) {
  coop::TaskHandle<void> page = coop::create_task(load_page(), "page");
  co_await coop::sleep(400ms);
  lesson::say("main: page.cancel()");
  page.cancel();
  cancel_called = lesson::said_at();  // the time on main's line
  try {
    co_await page;
  } catch (const coop::CancelledError&) {
    lesson::say("main: the page ended cancelled");
  }
}
// end snippet

}  // namespace

int main(int argc, char** argv) {
  lesson::Lesson l({5, "cancellation", "Cancellation arrives at the next suspension point",
                    "Task cancellation is delivered as CancelledError at the task's nearest suspension "
                    "point. Calling cancel() does not stop the task immediately; it schedules the exception "
                    "for delivery at the next await inside the task. The correct pattern is to catch "
                    "CancelledError, clean up (close resources, roll back partial work), and then re-throw it "
                    "unconditionally. Swallowing it leaves the loop with an inconsistent view of the task."});

  l.step("cancel() is a request; CancelledError comes out of the co_await",
         "h.cancel() returns at once: it asks for the task to be stopped, it does not stop it.\n"
         "The sleeper is suspended in co_await sleep(1 s). The loop abandons that timer and\n"
         "wakes it, and when it runs, the co_await throws coop::CancelledError (asyncio's\n"
         "CancelledError). It re-throws, so it ends cancelled and `co_await h` throws too.",
         {"suspended"}, [] {
           Step1 seen;
           lesson::run(cancel_a_sleeper(seen), {.title = "cancel a sleeping task"});
           const Ending e = ending_of("sleeper");
           lesson::conclude("cancel() returned {} at {} and h.done() was still {}: a request, not a stop",
                            seen.cancel_returned, lesson::figure(lesson::secs(seen.cancel_called)),
                            seen.done_after_cancel);
           lesson::conclude("the sleeper ended {} at {}, not at the {} its sleep asked for: the timer was "
                            "abandoned; h.cancelled() -> {}",
                            coop::to_string(e.how), lesson::figure(lesson::secs(e.at)), lesson::figure("1.000 s"),
                            seen.cancelled);
         });

  l.step("Code between two awaits still runs",
         "Here cancel() is called while the importer is running: its own quota.charge() calls it.\n"
         "One thread, so nothing can interrupt the importer's step: the rest of the batch is\n"
         "stored, and CancelledError is thrown at the importer's next co_await, the flush.\n"
         "(When the canceller is another task, the target is suspended, as in step 1, and its\n"
         "current co_await is its next suspension point.)",
         {"between"}, [] {
           Step2 seen;
           lesson::run(import_under_quota(seen), {.title = "cancel a running task"});
           const Ending e = ending_of("importer");
           lesson::conclude("cancel() was called at {}, with {} rows stored; {} more rows were stored after it, and "
                            "the flush of batch {} began: the step ran on to its next co_await",
                            lesson::figure(lesson::secs(seen.cancel_called)), seen.stored_at_cancel,
                            lesson::figure(std::to_string(seen.stored - seen.stored_at_cancel)), seen.flushing);
           lesson::conclude("CancelledError came out of that co_await (the flush): the importer ended {} at {}, {} "
                            "after cancel(), not after the flush's 0.050 s. Batch {} was stored and never flushed "
                            "(last flushed: batch {}): half-done work, which step 3 cleans up",
                            coop::to_string(e.how), lesson::figure(lesson::secs(e.at)),
                            lesson::figure(lesson::secs(e.at - seen.cancel_called)), seen.flushing, seen.flushed);
         });

  l.step("Catch, clean up, re-throw: no co_await inside catch",
         "Cleanup often awaits: a rollback is a round trip, a close is a handshake. C++ forbids\n"
         "co_await inside a catch block, so: keep std::current_exception(), leave the handler,\n"
         "await the cleanup, then std::rethrow_exception. The awaits in the cleanup work, because\n"
         "a cancel() is delivered once. Re-throw always, so the task ends cancelled.\n"
         "(coop::async_with packages exactly this shape: lesson 06.)",
         {"cleanup"}, [] {
           Step3 seen;
           Database db{.uncommitted = 0, .connected = false, .seen = &seen};
           lesson::run(cancel_the_import(db), {.title = "clean up, then re-throw"});
           const Ending e = ending_of("import");
           // The length is the difference of the two times as printed, so it agrees with them; the
           // 50 + 20 ms are what the two awaits asked for (in real time a turn or two more).
           const std::string began = lesson::secs(seen.cleanup_began), ended = lesson::secs(seen.cleanup_ended);
           lesson::conclude("cancel() at {}; the cleanup awaited from {} to {} ({}, for a rollback of 50 ms and "
                            "a close of 20 ms) and the task ended {} at {}",
                            lesson::figure(lesson::secs(seen.cancel_called)), began, ended,
                            lesson::figure(fmt::format("{:.3f} s", std::stod(ended) - std::stod(began))),
                            coop::to_string(e.how), lesson::figure(lesson::secs(e.at)));
           lesson::conclude("{} uncommitted rows rolled back, now {} uncommitted; connected: {}; "
                            "h.cancelled() -> {}: the canceller saw it stop",
                            lesson::figure(std::to_string(seen.rolled_back)), db.uncommitted, db.connected,
                            seen.cancelled);
         });

  l.step("Swallowing CancelledError: cancel() stops nothing; coop warns",
         "A retry loop with catch (...) that does not re-throw catches CancelledError too, and\n"
         "carries on. The canceller believes the task stopped; it runs on, and `co_await h`\n"
         "returns a value instead of throwing. coop notices a task that was cancelled and\n"
         "returned normally, and warns, naming it (below, \"⚠ coop warning\").\n"
         "catch (const std::exception&) is safe: CancelledError is not a std::exception, as in\n"
         "Python, where CancelledError is a BaseException, not an Exception.",
         {"swallow"}, [] {
           Step4 seen;
           lesson::run(stop_the_flusher(seen), {.title = "a swallowed cancellation"});
           const Ending e = ending_of("flusher");
           std::size_t warnings = 0;
           for (const coop::Diagnostic& d : lesson::last_diagnostics())
             if (d.kind == coop::Diagnostic::Kind::swallowed_cancellation) ++warnings;
           lesson::conclude("cancel() at {} after flush {}; the flusher ran on until {} ({} more) and flushed "
                            "{} more times",
                            lesson::figure(lesson::secs(seen.cancel_called)), seen.flushes_at_cancel,
                            lesson::figure(lesson::secs(e.at)), lesson::figure(lesson::secs(e.at - seen.cancel_called)),
                            lesson::figure(std::to_string(seen.flushes - seen.flushes_at_cancel)));
           lesson::conclude("it ended '{}': co_await h {} and h.cancelled() -> {}: the cancel() left no trace in "
                            "the task's state",
                            coop::to_string(e.how),
                            seen.threw ? std::string("threw CancelledError")
                                       : fmt::format("returned {}", seen.returned),
                            lesson::figure(seen.cancelled ? "true" : "false"));
           lesson::conclude("the catch (...) ran {} time, the catch (const std::exception&) before it {} times: "
                            "CancelledError is not a std::exception, so only the catch-all swallowed it",
                            lesson::figure(std::to_string(seen.catch_all_runs)),
                            lesson::figure(std::to_string(seen.error_handler_runs)));
           lesson::conclude("the runtime warned about it ({} swallowed cancellation warning, printed "
                            "above as 'coop warning')",
                            lesson::figure(std::to_string(warnings)));
         });

  l.step("wait_for: a time limit is a cancellation",
         "coop::wait_for(task, limit) (asyncio.wait_for) runs the task as a child (Task-2 and\n"
         "Task-3 below). If it finishes in time, you get its result. If not, wait_for cancels it,\n"
         "waits for its cleanup to finish, and throws coop::TimeoutError: an error (a\n"
         "std::runtime_error) for the caller, a CancelledError for the child, which cleans up\n"
         "the step 3 way.",
         {"wait_for"}, [] {
           Step5 seen;
           lesson::run(with_time_limits(seen), {.title = "wait_for, 0.200 s limits"});
           lesson::conclude("fast query (0.100 s, limit 0.200 s): returned \"{}\" after {}", seen.fast_result,
                            lesson::figure(lesson::secs(seen.fast_done)));
           const Ending child = ending_of("Task-3");
           lesson::conclude("slow query (0.500 s, limit 0.200 s): TimeoutError {} after it began, not 0.200 s: "
                            "wait_for also waited for the child's cleanup (its sleep(30 ms)). The child ended {} at "
                            "{}; main caught the TimeoutError at {}",
                            lesson::figure(lesson::secs(seen.timeout_caught - seen.slow_began)),
                            coop::to_string(child.how), lesson::figure(lesson::secs(child.at)),
                            lesson::figure(lesson::secs(seen.timeout_caught)));
           lesson::conclude("std::is_base_of_v<std::exception, TimeoutError> = {}, and for CancelledError = {}: "
                            "catch (const std::exception&) handles a timeout, never a cancellation",
                            std::is_base_of_v<std::exception, coop::TimeoutError>,
                            std::is_base_of_v<std::exception, coop::CancelledError>);
         });

  l.step("Cancelling a task that awaits gather cancels every child",
         "'page' awaits gather of three fetches. Cancelling 'page' cancels the gather, and the\n"
         "gather cancels each child still running and waits for them to finish; only then does\n"
         "'page' get its CancelledError. No fetch is left running after the page is gone (in C++\n"
         "a child may point into the page's frame). The timeline shows those children end in ⊘.",
         {"gather"}, [] {
           coop::Clock::duration cancel_called{};
           lesson::run(cancel_the_page(cancel_called), {.title = "cancel a gather"});
           int finished = 0, cancelled = 0, outlived = 0;
           coop::Clock::duration last_child{};
           const std::size_t page_end = end_position("page");
           for (const char* name : {"fetch header", "fetch body", "fetch ads"}) {
             const Ending e = ending_of(name);
             if (e.how == coop::Outcome::returned) ++finished;
             if (e.how == coop::Outcome::cancelled) ++cancelled;
             if (e.at > last_child) last_child = e.at;
             if (end_position(name) > page_end) ++outlived;
           }
           const Ending page = ending_of("page");
           lesson::conclude("page.cancel() at {}: of 3 children, {} had finished and kept its result, {} were "
                            "cancelled (⊘), the last of them ending at {}",
                            lesson::figure(lesson::secs(cancel_called)), finished, lesson::figure(std::to_string(cancelled)),
                            lesson::figure(lesson::secs(last_child)));
           lesson::conclude("'page' ended {} at {}, and {} of its children ended after it (in the trace's order of "
                            "events){}",
                            coop::to_string(page.how), lesson::figure(lesson::secs(page.at)),
                            lesson::figure(std::to_string(outlived)),
                            outlived == 0 ? ": nothing it started outlived it" : "");
         });

  l.wrap_up(
      "cancel() only asked: the exception came out of the task's co_await (step 1), and code\n"
      "between awaits ran to the next one first (step 2). The task caught CancelledError, left\n"
      "the handler, awaited its cleanup and re-threw, and ended cancelled (step 3). Swallowing\n"
      "it made cancel() a no-op that only the runtime's warning revealed (step 4). wait_for's\n"
      "timeout and a cancelled gather are the same mechanism, applied to children (steps 5, 6).\n"
      "Next: lesson 06, async_with, which packages the cleanup-then-re-throw shape.");
  return l.main(argc, argv);
}
