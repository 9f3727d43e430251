// Lesson 06 — async with: a resource whose entry and exit await; the exit always runs.
//
// asyncio: `async with connect(host) as conn:` awaits conn.__aenter__() (open the
// connection), runs the block, then awaits conn.__aexit__(...) however the block ended
// (returned, raised, was cancelled). C++ has no `async with` statement, and its own tool for
// "always clean up", the destructor, cannot co_await. coop::async_with(resource, body) is the
// function that does the same job: aenter, body, aexit, whatever happened. Five steps: the
// three ways a body ends, the try/catch it replaces, and why a destructor cannot do it.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/lesson.hpp"

using namespace std::chrono_literals;
using coop::Task;

namespace {

// When each part of one use of a connection ran (the loop's time since run() began).
struct Record {
  coop::Clock::duration enter_began{}, enter_ended{}, body_began{}, exit_began{}, exit_ended{}, caller_at{};
  bool exit_ran = false;
  std::string exit_saw;    // what aexit was told about the body's end
  std::string caller_saw;  // what the caller got: "returned", or the exception
};

// Step 4 runs nine connections and shows them in a table; their lines stay quiet.
bool g_quiet = false;

// lesson::say, unless quiet.
template <class... Args>
void note(fmt::format_string<Args...> f, Args&&... args) {
  if (!g_quiet) lesson::say(f, std::forward<Args>(args)...);
}

// What an exception_ptr holds, in words.
std::string describe(const std::exception_ptr& e) {
  if (!e) return "no exception";
  try {
    std::rethrow_exception(e);
  } catch (const coop::CancelledError&) {
    return "CancelledError";
  } catch (const std::exception& x) {
    return fmt::format("runtime_error(\"{}\")", x.what());
  } catch (...) {
    return "an unknown exception";
  }
}

// ---- the resource and the body (steps 1 to 5) ----------------------------------------------

enum class Body { returns, throws };

// snippet: connection
// A simulated database connection. Connecting and closing take time (coop::sleep stands in
// for the handshakes), so both are coroutines: Python's __aenter__ and __aexit__.
// (note() is lesson::say, silenced in step 4.)
struct Connection {
  std::string host;
  bool open = false;
  Record* log = nullptr;  // when each part ran, for the conclusions

  Task<void> aenter() {
    log->enter_began = lesson::elapsed();
    note("aenter: connecting to {}", host);
    co_await coop::sleep(100ms);  // TCP and TLS handshakes
    open = true;
    log->enter_ended = lesson::elapsed();
    note("aenter: connected");
  }

  Task<void> aexit(std::exception_ptr error) {  // null when the body returned
    log->exit_ran = true;
    log->exit_began = lesson::elapsed();
    log->exit_saw = describe(error);
    note("aexit: the body ended with {}; closing", log->exit_saw);
    co_await coop::sleep(50ms);  // the close handshake
    open = false;
    log->exit_ended = lesson::elapsed();
    note("aexit: closed");
  }
};

Task<void> query(Connection& conn, Body how) {
  conn.log->body_began = lesson::elapsed();
  note("body: SELECT ... on {}", conn.host);
  co_await coop::sleep(200ms);  // the server runs the query
  if (how == Body::throws) throw std::runtime_error("syntax error");
  note("body: 42 rows");
}
// end snippet

// snippet: with
Task<void> use_connection(Connection& conn, Body how) {
  // The body is the named coroutine query(c, how); this lambda is not a coroutine (no
  // co_await in it), it only calls one and returns its Task.
  auto body = [how](Connection& c) { return query(c, how); };
  co_await coop::async_with(conn, body);  // aenter; body; aexit, however the body ended
}
// end snippet

// ---- step 1 --------------------------------------------------------------------------------

// snippet: returns
Task<void> heartbeat(coop::Clock::duration every, std::vector<coop::Clock::duration>& beats) {
  for (;;) {
    co_await coop::sleep(every);
    beats.push_back(lesson::elapsed());
  }
}

Task<void> body_returns(Connection& conn, std::vector<coop::Clock::duration>& beats) {
  coop::TaskHandle<void> beat = coop::create_task(heartbeat(40ms, beats), "heartbeat");
  co_await use_connection(conn, Body::returns);
  conn.log->caller_at = lesson::elapsed();
  lesson::say("main: async_with returned; open: {}", conn.open);
  beat.cancel();
}
// end snippet

// ---- step 2 --------------------------------------------------------------------------------

// snippet: throws
Task<void> body_throws(Connection& conn) {
  try {
    co_await use_connection(conn, Body::throws);
  } catch (const std::runtime_error& e) {
    conn.log->caller_at = lesson::elapsed();
    lesson::say("main: caught \"{}\"; open: {}", e.what(), conn.open);
  }
}
// end snippet

// ---- step 3 --------------------------------------------------------------------------------

// snippet: cancelled
Task<void> body_cancelled(Connection& conn, bool& ended_cancelled) {
  coop::TaskHandle<void> client = coop::create_task(use_connection(conn, Body::returns), "client");
  co_await coop::sleep(200ms);  // the client is in the middle of its query
  lesson::say("main: client.cancel()");
  client.cancel();
  try {
    co_await client;
  } catch (const coop::CancelledError&) {
    conn.log->caller_at = lesson::elapsed();
    ended_cancelled = client.cancelled();
    lesson::say("main: the client ended cancelled ({}); open: {}", ended_cancelled, conn.open);
  }
}
// end snippet

// ---- step 4 --------------------------------------------------------------------------------

// snippet: by_hand
// What async_with does, written out. aenter first: if it throws, there is nothing to close.
Task<void> use_connection_by_hand(Connection& conn, Body how) {
  co_await conn.aenter();
  std::exception_ptr error;
  try {
    co_await query(conn, how);
  } catch (...) {                        // CancelledError too
    error = std::current_exception();    // no co_await in a handler: keep it and leave
  }
  co_await conn.aexit(error);            // outside the handler, co_await is allowed
  if (error) std::rethrow_exception(error);
}

// And what is easy to write instead: the close is skipped whenever the body does not return.
Task<void> use_connection_naive(Connection& conn, Body how) {
  co_await conn.aenter();
  co_await query(conn, how);  // throws, or is cancelled: the next line never runs
  co_await conn.aexit(nullptr);
}
// end snippet

enum class Scenario { returns, throws, cancelled };
using UseFn = Task<void> (*)(Connection&, Body);

// One use of a fresh connection, ending the way `s` says; the record says what happened.
Task<void> drive(UseFn use, Scenario s, Connection& conn) {
  coop::TaskHandle<void> client =
      coop::create_task(use(conn, s == Scenario::throws ? Body::throws : Body::returns), "client");
  if (s == Scenario::cancelled) {
    co_await coop::sleep(200ms);
    client.cancel();
  }
  try {
    co_await client;
    conn.log->caller_saw = "returned";
  } catch (const coop::CancelledError&) {
    conn.log->caller_saw = "CancelledError";
  } catch (const std::exception&) {
    conn.log->caller_saw = "runtime_error";
  }
  conn.log->caller_at = lesson::elapsed();
}

// ---- step 5 --------------------------------------------------------------------------------

// snippet: raii
// RAII, C++'s "always clean up", cannot do this: a destructor is an ordinary function and
// cannot co_await (GCC and Clang: "'co_await' cannot be used in a destructor"). It has two
// ways out, and both are wrong.
struct CloseInBackground {  // 1. start the close as a task, and return before it is done
  Connection& conn;
  ~CloseInBackground() { coop::create_task(conn.aexit(nullptr), "close"); }
};

struct CloseBlocking {  // 2. close without the loop: block the thread, and every task on it
  Connection& conn;
  ~CloseBlocking() {
    std::this_thread::sleep_for(50ms);  // the close handshake, done the blocking way
    conn.open = false;
  }
};

Task<void> with_background_close(Connection& conn, coop::Clock::duration& scope_left, bool& open_after) {
  co_await conn.aenter();
  {
    CloseInBackground guard{conn};
    co_await query(conn, Body::returns);
  }  // ~CloseInBackground runs here: it can only start the close
  scope_left = lesson::elapsed();
  open_after = conn.open;
  lesson::say("main: left the scope; open: {}; carrying on", conn.open);
  co_await coop::sleep(100ms);  // other work; meanwhile the close finishes, or fails, unseen
}

Task<void> with_blocking_close(Connection& conn, std::vector<coop::Clock::duration>& beats) {
  coop::TaskHandle<void> beat = coop::create_task(heartbeat(10ms, beats), "heartbeat");
  co_await coop::sleep(30ms);
  {
    CloseBlocking guard{conn};
    conn.open = true;
    co_await coop::sleep(10ms);
  }  // ~CloseBlocking: 50 ms in which no task runs
  lesson::say("main: left the scope; open: {}", conn.open);
  co_await coop::sleep(30ms);
  beat.cancel();
}
// end snippet

// ---- helpers for the conclusions --------------------------------------------------------------

std::string span(coop::Clock::duration a, coop::Clock::duration b) {
  using S = std::chrono::duration<double>;
  return fmt::format("{:.3f}–{:.3f}", S(a).count(), S(b).count());
}

std::string order_of(const Record& r) {
  std::string o = fmt::format("aenter {} s, body {} s", span(r.enter_began, r.enter_ended),
                              span(r.body_began, r.exit_ran ? r.exit_began : r.caller_at));
  if (r.exit_ran) o += fmt::format(", aexit {} s", span(r.exit_began, r.exit_ended));
  return o;
}

// aenter, then the body, then aexit (if it ran), then the caller: each began after the last ended.
bool in_order(const Record& r) {
  if (!(r.enter_began <= r.enter_ended && r.enter_ended <= r.body_began)) return false;
  if (!r.exit_ran) return r.body_began <= r.caller_at;
  return r.body_began <= r.exit_began && r.exit_began <= r.exit_ended && r.exit_ended <= r.caller_at;
}

int beats_within(const std::vector<coop::Clock::duration>& beats, coop::Clock::duration a, coop::Clock::duration b) {
  return static_cast<int>(std::count_if(beats.begin(), beats.end(), [&](coop::Clock::duration t) { return a < t && t < b; }));
}

const char* name_of(Scenario s) {
  switch (s) {
    case Scenario::returns: return "body returns";
    case Scenario::throws: return "body throws";
    case Scenario::cancelled: return "cancelled";
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  lesson::Lesson l({6, "async_with", "async with: enter and exit may await; exit always runs",
                    "An async context manager has async enter and exit methods. Entering the block awaits "
                    "enter, which can do I/O such as opening a connection. Leaving it for any reason (normal "
                    "completion, an exception, a cancellation) awaits exit, which can close the connection. "
                    "Cleanup is guaranteed without blocking the loop and without hand-written try/finally. "
                    "C++ spells it coop::async_with(resource, body)."});

  l.step("aenter and aexit await: the body returns",
         "aenter() connects (100 ms) and aexit() closes (50 ms); both are coroutines that await.\n"
         "coop::async_with(conn, body) awaits aenter, then body(conn), then aexit: `async with`.\n"
         "The body is the named coroutine query(c, how); the lambda only calls it. A lambda that is\n"
         "itself a coroutine keeps its captures in the closure, not in its frame, and the closure\n"
         "may die first: pass what a coroutine needs as parameters, which are copied into the frame.\n"
         "A heartbeat ticks every 40 ms meanwhile: connecting and closing leave the loop free.",
         {"connection", "with", "returns"}, [] {
           Record r;
           Connection conn{.host = "db.example", .open = false, .log = &r};
           std::vector<coop::Clock::duration> beats;
           lesson::run(body_returns(conn, beats), {.title = "async_with, the body returns"});
           lesson::conclude("in order: {}; main went on at {}", order_of(r), lesson::figure(lesson::secs(r.caller_at)));
           lesson::conclude("aexit was told: {}; the connection is open: {}", r.exit_saw, conn.open);
           lesson::conclude("the heartbeat ticked {} times while aenter awaited and {} while aexit awaited: the "
                            "loop ran other tasks during the connect and the close",
                            lesson::figure(std::to_string(beats_within(beats, r.enter_began, r.enter_ended))),
                            lesson::figure(std::to_string(beats_within(beats, r.exit_began, r.exit_ended))));
         });

  l.step("The body throws: aexit runs, then the exception goes on",
         "The query fails after 200 ms. async_with catches the exception, awaits aexit with it\n"
         "(aexit can tell a failure from success), and then re-throws it to the caller. So the\n"
         "caller gets its exception only once the connection is closed.",
         {"throws"}, [] {
           Record r;
           Connection conn{.host = "db.example", .open = false, .log = &r};
           lesson::run(body_throws(conn), {.title = "async_with, the body throws"});
           lesson::conclude("in order: {}; main caught the exception at {}", order_of(r),
                            lesson::figure(lesson::secs(r.caller_at)));
           lesson::conclude("aexit was told: {}; the connection is open: {}", r.exit_saw, conn.open);
         });

  l.step("The task is cancelled: aexit runs, and can still await",
         "main cancels the client halfway through its query. CancelledError comes out of the\n"
         "body's co_await; async_with awaits aexit with it, and the close's own co_await works,\n"
         "because a cancel() is delivered once (lesson 05). Then CancelledError goes on, and the\n"
         "client ends cancelled.",
         {"cancelled"}, [] {
           Record r;
           Connection conn{.host = "db.example", .open = false, .log = &r};
           bool ended_cancelled = false;
           lesson::run(body_cancelled(conn, ended_cancelled), {.title = "async_with, cancelled"});
           lesson::conclude("in order: {}; the client ended cancelled at {}", order_of(r),
                            lesson::figure(lesson::secs(r.caller_at)));
           lesson::conclude("aexit was told: {}; it awaited its {} close after the cancel(); open: {}; "
                            "client.cancelled() -> {}",
                            r.exit_saw, lesson::figure(lesson::secs(r.exit_ended - r.exit_began)), conn.open,
                            ended_cancelled);
         });

  l.step("The try/catch it replaces",
         "By hand, the same guarantee takes the lesson 05 shape: catch everything, keep it, leave\n"
         "the handler, await aexit, re-throw. The obvious three lines (aenter; body; aexit) skip\n"
         "the close whenever the body throws or is cancelled. Each version below ran the three\n"
         "endings on a fresh connection (output silenced; the table is what they recorded).",
         {"with", "by_hand"}, [] {
           struct Version {
             const char* name;
             UseFn use;
           };
           const Version versions[] = {{"async_with", use_connection},
                                       {"by hand", use_connection_by_hand},
                                       {"naive", use_connection_naive}};
           const Scenario scenarios[] = {Scenario::returns, Scenario::throws, Scenario::cancelled};
           Record records[3][3];
           bool open_after[3][3] = {};
           g_quiet = true;
           for (int s = 0; s < 3; ++s)
             for (int v = 0; v < 3; ++v) {
               Connection conn{.host = "db.example", .open = false, .log = &records[s][v]};
               lesson::run(drive(versions[v].use, scenarios[s], conn), {.timeline = false});
               open_after[s][v] = conn.open;
             }
           g_quiet = false;

           lesson::say_line(fmt::format("{:<13} {:<11} {:<12} {:<12} {:<12} {:<29} {:<21} {}", "ending", "code",
                                        "aenter (s)", "body (s)", "aexit (s)", "aexit was told", "caller got",
                                        "open after"));
           for (int s = 0; s < 3; ++s)
             for (int v = 0; v < 3; ++v) {
               const Record& r = records[s][v];
               lesson::say_line(fmt::format(
                   "{:<13} {:<11} {:<12} {:<12} {:<12} {:<29} {:<21} {}", v == 0 ? name_of(scenarios[s]) : "",
                   versions[v].name, span(r.enter_began, r.enter_ended),
                   span(r.body_began, r.exit_ran ? r.exit_began : r.caller_at),
                   r.exit_ran ? span(r.exit_began, r.exit_ended) : "never ran", r.exit_ran ? r.exit_saw : "—",
                   fmt::format("{} {:.3f}", r.caller_saw, std::chrono::duration<double>(r.caller_at).count()),
                   open_after[s][v]));
             }

           // async_with against by hand: aenter, body, aexit in that order, aexit told the same, the
           // caller given the same; and how far apart their times were.
           int same = 0;
           coop::Clock::duration worst{};
           for (int s = 0; s < 3; ++s) {
             const Record& a = records[s][0];
             const Record& b = records[s][1];
             const coop::Clock::duration ts[][2] = {{a.enter_began, b.enter_began}, {a.enter_ended, b.enter_ended},
                                                    {a.body_began, b.body_began},   {a.exit_began, b.exit_began},
                                                    {a.exit_ended, b.exit_ended},   {a.caller_at, b.caller_at}};
             // Compared as the table prints them (lesson::secs: whole ms), so the figure below is
             // one a reader can check against the table: 0.300 and 0.301 differ by 0.001.
             const auto printed = [](coop::Clock::duration t) { return std::stod(lesson::secs(t)); };
             coop::Clock::duration d{};
             for (const auto& t : ts)
               d = std::max(d, std::chrono::duration_cast<coop::Clock::duration>(std::chrono::milliseconds(
                                   std::llround(std::fabs(printed(t[0]) - printed(t[1])) * 1000))));
             worst = std::max(worst, d);
             if (in_order(a) && in_order(b) && a.exit_ran == b.exit_ran && a.exit_saw == b.exit_saw &&
                 a.caller_saw == b.caller_saw && open_after[s][0] == open_after[s][1])
               ++same;
           }
           int naive_leaks = 0;
           for (int s = 0; s < 3; ++s) naive_leaks += open_after[s][2] ? 1 : 0;
           lesson::conclude("async_with and the hand-written try/catch behaved the same in {} of 3 endings: "
                            "aenter, body, aexit in order, aexit told the same, the caller given the same (their "
                            "times differed by at most {})",
                            lesson::figure(std::to_string(same)), lesson::secs(worst));
           lesson::conclude("the naive version left the connection open in {} of 3 endings: aexit never ran when the "
                            "body threw or was cancelled",
                            lesson::figure(std::to_string(naive_leaks)));
         });

  l.step("Why not a destructor? C++ has no async destructor",
         "In C++ cleanup that must always run goes in a destructor, but a destructor is not a\n"
         "coroutine: it runs to its end, synchronously, also while an exception unwinds. A close\n"
         "that awaits cannot fit. It can start the close and return early (1), or block the thread\n"
         "until the close is done (2): every other task stops with it. Both are measured below;\n"
         "(2) runs in real time: a blocked thread does not move the virtual clock (lesson 08).",
         {"raii"}, [] {
           Record r1;
           Connection c1{.host = "db.example", .open = false, .log = &r1};
           coop::Clock::duration scope_left{};
           bool open_after = false;
           lesson::run(with_background_close(c1, scope_left, open_after), {.title = "1. close in the background"});
           lesson::conclude("(1) the scope ended at {} with the connection open: {}; the close ran from {} to {} "
                            "in a task nobody awaits: an error there reaches no caller, and had the connection "
                            "been a local of the scope, the close would use a destroyed object",
                            lesson::figure(lesson::secs(scope_left)), open_after, lesson::secs(r1.exit_began),
                            lesson::figure(lesson::secs(r1.exit_ended)));

           lesson::say_line("(2) close by blocking, a real-time run:");
           Record r2;
           Connection c2{.host = "db.example", .open = false, .log = &r2};
           std::vector<coop::Clock::duration> beats;
           lesson::run(with_blocking_close(c2, beats), {.title = "2. close by blocking", .real_time = true});
           coop::Clock::duration gap{}, prev{};
           for (coop::Clock::duration t : beats) {
             gap = std::max(gap, t - prev);
             prev = t;
           }
           lesson::conclude("(2) the close was done when the scope ended (open: {}), but the heartbeat that ticks "
                            "every 10 ms went {} without a tick (up to its 10 ms period plus the 50 ms the destructor "
                            "blocked): while the destructor blocked, no task ran",
                            c2.open, lesson::measured("{:.0f} ms", std::chrono::duration<double, std::milli>(gap).count()));
         });
  l.on_real_clock("a blocking call");

  l.wrap_up(
      "async_with awaited aenter, the body and aexit in that order, and aexit ran whether the body\n"
      "returned, threw or was cancelled, told which; the exception then went on to the caller.\n"
      "The loop stayed free while they awaited. By hand that is the catch-keep-await-rethrow shape\n"
      "of lesson 05; the naive version leaks. A destructor cannot await, which is why C++ needs a\n"
      "function here where Python has a statement.\n"
      "Next: lesson 07, async iteration, where C++ again needs a different shape (no `async for`).");
  return l.main(argc, argv);
}
