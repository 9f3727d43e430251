// Grader for exercise 09 — executor. The driver blocks real threads, so every check runs on
// the real clock, and none of them measures a tight time. What they count instead:
//   * heartbeats: a task on the loop beats every 10 ms; a driver call made on the loop's
//     thread stops it dead (at most one beat while a 200 ms call runs; we ask for 5 of ~20);
//   * the driver's own counters: how many calls ran at the same time, on which threads, and
//     whether a call had finished when the caller got its answer.
// Margins are wide (the machine may be loaded, or under ThreadSanitizer): a right answer
// passes with room to spare, and each wrong one misses by an order of magnitude.
#include "09_executor.hpp"

#include "exercise.hpp"
#include "grader.hpp"

#include <algorithm>
#include <exception>
#include <optional>
#include <string_view>

using namespace std::chrono_literals;
using coop::Clock;
using coop::Task;

namespace {

const grading::RunSettings kRealTime{.virtual_time = false, .slow_step_warning = 100ms};

// grading::run on the real clock, keeping the trace and the warnings.
template <class T>
T run_real(Task<T> main, grading::Run* record = nullptr) {
  return grading::run(std::move(main), record, kRealTime);
}

// Beats every 10 ms until cancelled, counting.
Task<void> heartbeat(int& beats) {
  for (;;) {
    ++beats;
    co_await coop::sleep(10ms);
  }
}

// What a check saw of one awaited call.
template <class T>
struct Seen {
  std::optional<T> value;   // the result, if it returned
  std::string error;        // what it threw, as "Type(\"message\")", if it threw
  int beats = 0;            // heartbeats during the call
  int finished_before = 0;  // driver calls finished when the answer came
  std::thread::id loop_thread;
};

// Awaits `call` beside the heartbeat; notes what came back and what the driver had done.
template <class T>
Task<Seen<T>> beside_heartbeat(Task<T> call, const ex09::LegacyDriver& db) {
  Seen<T> s;
  s.loop_thread = std::this_thread::get_id();
  int beats = 0;
  auto beat = coop::create_task(heartbeat(beats), "heartbeat");
  co_await coop::sleep(0ms);  // the heartbeat's first beat, before the call starts
  beats = 0;
  std::exception_ptr not_done;
  try {
    s.value = co_await call;
  } catch (const ex09::DriverError& e) {
    s.error = fmt::format("DriverError(\"{}\")", e.what());
  } catch (const coop::TimeoutError& e) {
    s.error = fmt::format("coop::TimeoutError(\"{}\")", e.what());
  } catch (const exercise::NotDone&) {
    not_done = std::current_exception();  // a stub: the part is not started
  } catch (const std::exception& e) {
    s.error = fmt::format("an exception that is not a DriverError (\"{}\")", e.what());
  }
  s.finished_before = db.finished();
  s.beats = beats;
  co_await grading::stop(beat);
  if (not_done) std::rethrow_exception(not_done);
  co_return s;
}

// What the call gave, for messages: the value, or what it threw.
std::string outcome(const Seen<std::string>& s) { return s.value ? "\"" + *s.value + "\"" : s.error; }

// Note any slow-step warning: it says the loop's thread was blocked, and for how long.
std::string slow_steps(const grading::Run& run) {
  for (const coop::Diagnostic& d : run.diagnostics)
    if (d.kind == coop::Diagnostic::Kind::slow_step) return " The runtime warned: " + d.message;
  return "";
}

// Ids are fresh for every run, so no row can be written down in advance; and the driver
// counts its calls, so a row made up without calling it is seen for what it is.
int fresh_id() { return static_cast<int>(grading::fresh_number(10, 99'999)); }
std::vector<int> fresh_ids(std::size_t n) {
  std::vector<int> ids;
  for (long x : grading::fresh_numbers(n, 10, 99'999)) ids.push_back(static_cast<int>(x));
  return ids;
}

// The driver was called exactly once for each id (in any order).
void check_called_for(const ex09::LegacyDriver& db, std::vector<int> ids, std::string_view what) {
  std::vector<int> got = db.order();
  std::sort(got.begin(), got.end());
  std::sort(ids.begin(), ids.end());
  grading::check(got == ids, fmt::format("{}: the driver was called for the ids {}, expected each of {} once. Every "
                                         "row must come from a call of db.query(id), not be made up",
                                         what, got, ids),
                 grading::Hint{"Every row comes from db.query(id), run off the loop: one call per id, none made up, "
                               "none made twice."});
}

std::vector<std::string> rows_of(const std::vector<int>& ids) {
  std::vector<std::string> rows;
  for (int id : ids) rows.push_back("row " + std::to_string(id));
  return rows;
}

// Several tasks call client.query at the same moment.
Task<std::vector<std::string>> at_once(ex09::SerialDriver& client, std::vector<int> ids) {
  std::vector<Task<std::string>> calls;
  for (int id : ids) calls.push_back(client.query(id));
  co_return co_await coop::gather(std::move(calls));
}

}  // namespace

int main(int argc, char** argv) {
  grading::Grader g(9, "executor", "a blocking driver, and a loop that stays free");

  g.part("query_async: the driver on a thread",
         "query_async(db, id) with a driver that blocks for 200 ms returns the driver's row (the id is new in every "
         "run, and the driver counts its calls); meanwhile a heartbeat on "
         "the loop (every 10 ms) keeps beating, because the query ran on another thread.",
         {"Called on the loop's thread, db.query blocks the loop and every task on it. Which coop call runs a "
          "function on another thread and lets you await its result?",
          "co_await coop::to_thread(fn, args...) runs fn(args...) on the loop's default pool. For a member "
          "function, fn is &LegacyDriver::query and the first argument the object's address.",
          "co_return co_await coop::to_thread(&LegacyDriver::query, &db, id);"},
         [] {
           ex09::LegacyDriver db(200ms);
           const int id = fresh_id();
           grading::Run run;
           const auto s = run_real(beside_heartbeat(ex09::query_async(db, id), db), &run);
           const std::string call = fmt::format("query_async(db, {})", id);
           grading::check(s.error.empty(), call + " threw " + s.error);
           check_called_for(db, {id}, call);
           grading::check(s.finished_before == 1,
                          call + " returned before the driver's call had finished: await the thread's result "
                                 "(co_await coop::to_thread(...))",
                          grading::Hint{"The row is ready only once the thread's call has finished: co_await the "
                                        "to_thread(...) and return what it gives."});
           grading::check_eq(*s.value, "row " + std::to_string(id), call,
                             grading::Hint{"Return the driver's own row for this id: the value of co_await "
                                           "coop::to_thread(...)."});
           grading::check(!db.threads().contains(s.loop_thread),
                          fmt::format("the query ran on the loop's own thread: the loop stood still for 200 ms and "
                                      "the heartbeat beat {} times instead of about 20.{}",
                                      s.beats, slow_steps(run)));
           grading::check(s.beats >= 5,
                          fmt::format("the heartbeat beat {} times during a 200 ms query, expected about 20 (at least "
                                      "5): the loop was not free while the query ran.{}",
                                      s.beats, slow_steps(run)));
         });

  g.part(grading::BuildsOn{1}, "query_all: all at once, on the default pool",
         "query_all(db, ids) with six fresh ids and a 150 ms driver returns the six rows in that order, with at "
         "least 3 queries running at the same moment (the default pool has 5 threads or more), none on the "
         "loop's thread.",
         {"Awaiting the queries one after another keeps the loop free but runs one query at a time. How did "
          "lesson 03 start several coroutines at once?",
          "Make one query_async Task per id, put them in a std::vector<coop::Task<std::string>>, and co_await "
          "coop::gather on the vector: every job is submitted together, and gather keeps argument order.",
          "std::vector<coop::Task<std::string>> qs; for (int id : ids) qs.push_back(query_async(db, id)); "
          "co_return co_await coop::gather(std::move(qs));"},
         [] {
           ex09::LegacyDriver db(150ms);
           const std::vector<int> ids = fresh_ids(6);
           grading::Run run;
           const auto s = run_real(beside_heartbeat(ex09::query_all(db, ids), db), &run);
           grading::check(s.error.empty(), "query_all threw " + s.error);
           check_called_for(db, ids, "query_all");
           grading::check_eq(*s.value, rows_of(ids), "query_all's rows (in the order of the ids)",
                             grading::Hint{"gather gives the results in the order of its Tasks: make them in the order "
                                           "of the ids, whichever query finishes first."});
           grading::check(!db.threads().contains(s.loop_thread),
                          fmt::format("queries ran on the loop's own thread (the heartbeat beat {} times).{}", s.beats,
                                      slow_steps(run)),
                          grading::Hint{"Each query goes through query_async (to_thread): the driver must never run on "
                                        "the loop's thread."});
           grading::check(db.most_at_once() >= 3,
                          fmt::format("at most {} of the 6 queries ran at the same moment, expected at least 3: they "
                                      "ran one after another. Start them all, then await them all",
                                      db.most_at_once()));
           auto none = run_real(ex09::query_all(db, {}));
           grading::check(none.empty(), "query_all of no ids should return no rows",
                          grading::Hint{"With no ids there is nothing to query: return an empty vector (gather of no "
                                        "Tasks gives one)."});
         });

  g.part("SerialDriver: one thread of its own",
         "Five tasks call SerialDriver::query at once, then two more: all get their rows, the driver never "
         "runs two calls at the same time, every call comes from one and the same thread (not the loop's), and "
         "the heartbeat on the loop keeps beating meanwhile.",
         {"to_thread uses the default pool, where two tasks' calls run at once on two different threads. Which "
          "pool should this driver's calls go to?",
          "coop::run_in_executor(pool, fn, args...) is to_thread on the pool you give it. thread_ is a pool of "
          "one thread: its jobs run one at a time, always on that thread. A new ThreadPool made inside query "
          "would be a new thread for every call.",
          "co_return co_await coop::run_in_executor(thread_, &LegacyDriver::query, &db_, id);"},
         [] {
           ex09::LegacyDriver db(40ms);
           ex09::SerialDriver client(db);
           const std::vector<int> first = fresh_ids(5);
           grading::Run run;
           const auto s = run_real(beside_heartbeat(at_once(client, first), db), &run);
           grading::check(s.error.empty(), "five calls of SerialDriver::query at once: one threw " + s.error);
           check_called_for(db, first, "five calls of SerialDriver::query at once");
           grading::check_eq(*s.value, rows_of(first), "the rows of five calls at once", grading::Hint{"Each call returns the row of its own id: pass that id to the driver and return what the "
                                           "driver gave."});
           grading::check(db.most_at_once() == 1,
                          fmt::format("{} calls ran at the same time in a driver that is not thread-safe: every call "
                                      "must go to the driver's own thread, which runs them one by one",
                                      db.most_at_once()));
           grading::check(!db.threads().contains(s.loop_thread),
                          fmt::format("the calls ran on the loop's own thread: one at a time indeed, but the loop "
                                      "stood still meanwhile (the heartbeat beat {} times in 200 ms).{}",
                                      s.beats, slow_steps(run)),
                          grading::Hint{"Calling db_.query directly runs it on the loop's thread: hand each call to "
                                        "thread_ with coop::run_in_executor and await it."});
           grading::check(db.threads().size() == 1,
                          fmt::format("five calls came from {} different threads; the driver must always be called "
                                      "from the same one. (A coop::Lock around to_thread stops the overlap, not the "
                                      "change of thread.)",
                                      db.threads().size()),
                          grading::Hint{"Every call goes to the SerialDriver's own one-thread pool: coop::run_in_executor(thread_, "
                                        "...). to_thread uses the shared pool, and a ThreadPool made per call is a new "
                                        "thread each time."});
           grading::check(s.beats >= 5,
                          fmt::format("the heartbeat beat {} times during five 40 ms calls (about 20 expected, at "
                                      "least 5): the loop was not free while they ran.{}",
                                      s.beats, slow_steps(run)));
           const std::vector<int> more = fresh_ids(2);
           const auto later = run_real(at_once(client, more));
           grading::check_eq(later, rows_of(more), "the rows of two more calls", grading::Hint{"Each call returns the row of its own id: pass that id to the driver and return what the "
                                           "driver gave."});
           grading::check(db.threads().size() == 1 && db.most_at_once() == 1,
                          fmt::format("two more calls through the same SerialDriver: the driver has now been called "
                                      "from {} threads, at most {} at once; expected 1 thread, 1 at a time (a pool "
                                      "made for each call is a new thread each time)",
                                      db.threads().size(), db.most_at_once()),
                          grading::Hint{"Every call goes to the SerialDriver's own one-thread pool: coop::run_in_executor(thread_, "
                                        "...). to_thread uses the shared pool, and a ThreadPool made per call is a new "
                                        "thread each time."});
         });

  g.part(grading::BuildsOn{1}, "query_with_timeout: a time limit, errors unchanged",
         "query_with_timeout(db, id, 2 s) returns the driver's row; for a negative id the driver's DriverError "
         "reaches the caller unchanged; with a 400 ms driver and a 50 ms timeout it throws coop::TimeoutError while "
         "the query is still running.",
         {"coop::wait_for(task, timeout) gives a Task a time limit. What must that task do while the query runs, "
          "for the timer to be able to fire?",
          "Give wait_for the query_async of part 1: when the time is up, it cancels the task, which stops waiting "
          "for the thread at once (the query runs on; its result is dropped). Catch nothing: the DriverError "
          "passes through to_thread and wait_for as it is.",
          "co_return co_await coop::wait_for(query_async(db, id), timeout);"},
         [] {
           ex09::LegacyDriver fast(20ms);
           const int id = fresh_id();
           const auto ok = run_real(beside_heartbeat(ex09::query_with_timeout(fast, id, 2s), fast));
           check_called_for(fast, {id}, fmt::format("query_with_timeout(db, {}, 2 s)", id));
           grading::check(ok.value == std::optional<std::string>("row " + std::to_string(id)),
                          fmt::format("query_with_timeout(db, {}, 2 s) with a 20 ms driver: got {}, expected "
                                      "\"row {}\"",
                                      id, outcome(ok), id),
                          grading::Hint{"Within the limit, query_with_timeout gives the query's row: co_return what "
                                        "co_await coop::wait_for(...) gives."});

           const int missing = -fresh_id();
           const std::string driver_error = fmt::format("DriverError(\"query {}: no such row\")", missing);
           const auto bad = run_real(beside_heartbeat(ex09::query_with_timeout(fast, missing, 2s), fast));
           check_called_for(fast, {id, missing}, fmt::format("query_with_timeout(db, {}, 2 s)", missing));
           grading::check(bad.error == driver_error,
                          fmt::format("query_with_timeout(db, {}, 2 s): the driver threw {}; the caller got {}. Let it "
                                      "through unchanged",
                                      missing, driver_error, outcome(bad)),
                          grading::Hint{"Catch nothing: the DriverError passes through to_thread and wait_for as it "
                                        "was thrown; catching it to throw something else changes it."});

           ex09::LegacyDriver slow(400ms);
           const int late_id = fresh_id();
           grading::Run run;
           const auto late = run_real(beside_heartbeat(ex09::query_with_timeout(slow, late_id, 50ms), slow), &run);
           grading::check(late.error.starts_with("coop::TimeoutError"),
                          fmt::format("query_with_timeout(db, {}, 50 ms) with a 400 ms driver: got {}, expected "
                                      "coop::TimeoutError.{}",
                                      late_id, outcome(late),
                                      late.value ? " The call waited for the query: was it made on the loop's "
                                                   "thread (the timer cannot fire while the loop is blocked), or "
                                                   "without a time limit?" + slow_steps(run)
                                                 : ""));
           grading::check(slow.order() == std::vector<int>{late_id},
                          fmt::format("query_with_timeout(db, {}, 50 ms): the driver was called for {}, expected once "
                                      "for {}: make the query, and give up waiting for it at the timeout",
                                      late_id, slow.order(), late_id),
                          grading::Hint{"Make the query once, as the Task you give wait_for: no second call, and no "
                                        "retry after the timeout."});
           grading::check(late.finished_before == 0,
                          "TimeoutError came only after the 400 ms query had finished: give up at the timeout, "
                          "without waiting for the thread",
                          grading::Hint{"Cancelling a task that awaits to_thread abandons the wait at once, while the "
                                        "query runs on: give wait_for query_async(db, id) itself, not a wait that "
                                        "holds on until the thread is done."});
         });

  return g.main(argc, argv);
}
