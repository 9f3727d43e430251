// test_task.cpp — Task<T>, the lazy coroutine, and what `co_await task` does.
//
// Proves: calling a Task-returning function runs none of its body; `co_await task` runs it
// inside the awaiting coroutine and yields its value or rethrows its exception, through any
// depth of nesting; move-only results work; awaiting a Task twice, or an empty Task, is a
// UsageError; and awaiting a million children that finish without suspending does not grow
// the stack (this must hold at -O0 and under AddressSanitizer, where the compiler does not
// turn symmetric transfer into a tail call), while deep chains that do suspend still resume
// correctly level by level.
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "support.hpp"

using namespace coop;
using namespace coop::testing;

namespace {

// Sets *ran when its body runs.
Task<int> marks_when_run(bool* ran) {
  *ran = true;
  co_return 42;
}


COOP_COUNTED_FRAME Task<void> holds_guard(SetOnDestroy guard, bool* ran) {
  *ran = true;
  (void)guard;
  co_return;
}

Task<int> add_one_later(int x) {
  co_await sleep(10ms);
  co_return x + 1;
}

Task<int> throws_runtime_error(std::string message) {
  throw std::runtime_error(message);
  co_return 0;  // unreachable; makes this a coroutine
}

Task<int> throws_after_suspending(std::string message) {
  co_await sleep(5ms);
  throw std::runtime_error(message);
}

// --- laziness ------------------------------------------------------------------------

Task<bool> lazy_inside_a_loop(bool* ran, bool* ran_before_await) {
  Task<int> t = marks_when_run(ran);
  co_await sleep(100ms);  // the loop turns; the Task still does nothing
  *ran_before_await = *ran;
  int v = co_await t;
  co_return v == 42;
}

// --- values and exceptions -------------------------------------------------------------

Task<int> value_after_suspension() {
  int a = co_await add_one_later(1);
  int b = co_await add_one_later(a);
  co_return a * 10 + b;  // 2 * 10 + 3
}

Task<std::string> catches_child_exception() {
  try {
    co_await throws_runtime_error("boom");
  } catch (const std::runtime_error& e) {
    co_return std::string("caught: ") + e.what();
  }
  co_return "not caught";
}

Task<std::string> catches_exception_after_suspension() {
  try {
    co_await throws_after_suspending("late boom");
  } catch (const std::runtime_error& e) {
    co_return std::string("caught: ") + e.what();
  }
  co_return "not caught";
}

Task<int> propagates(std::string message) {
  int v = co_await throws_after_suspending(message);
  co_return v + 1000;  // never reached
}

// --- nesting ---------------------------------------------------------------------------

Task<int> level3(int x) {
  co_await sleep(1ms);
  co_return x * 2;
}
Task<int> level2(int x) {
  int a = co_await level3(x);
  int b = co_await level3(x + 1);
  co_return a + b;
}
Task<int> level1(int x) {
  int a = co_await level2(x);
  co_return a + 1;
}

Task<std::string> nested_exception_inner() {
  co_await sleep(1ms);
  throw std::logic_error("deep");
}
Task<std::string> nested_exception_middle(bool* middle_continued) {
  std::string s = co_await nested_exception_inner();
  *middle_continued = true;
  co_return s;
}
Task<std::string> nested_exception_outer(bool* middle_continued) {
  try {
    co_return co_await nested_exception_middle(middle_continued);
  } catch (const std::logic_error& e) {
    co_return std::string("outer caught ") + e.what();
  }
}

// --- move-only results -------------------------------------------------------------------

Task<std::unique_ptr<int>> make_unique_later(int v) {
  co_await sleep(1ms);
  co_return std::make_unique<int>(v);
}
Task<std::unique_ptr<int>> make_unique_now(int v) { co_return std::make_unique<int>(v); }

Task<int> consumes_move_only() {
  std::unique_ptr<int> a = co_await make_unique_later(7);
  std::unique_ptr<int> b = co_await make_unique_now(8);
  co_return *a + *b;
}

// --- misuse ------------------------------------------------------------------------------

Task<int> returns_five() { co_return 5; }

struct TwiceOutcome {
  int first = 0;
  bool second_threw_usage_error = false;
  std::string message;
};
Task<TwiceOutcome> awaits_twice() {
  TwiceOutcome out;
  Task<int> t = returns_five();
  out.first = co_await t;
  try {
    int again = co_await t;
    (void)again;
  } catch (const UsageError& e) {
    out.second_threw_usage_error = true;
    out.message = e.what();
  }
  co_return out;
}

Task<std::string> awaits_default_constructed() {
  Task<int> empty;
  try {
    int v = co_await empty;
    (void)v;
  } catch (const UsageError& e) {
    co_return e.what();
  }
  co_return "no error";
}

Task<std::string> awaits_moved_from() {
  Task<int> a = returns_five();
  Task<int> b = std::move(a);
  int ok = co_await b;
  if (ok != 5) co_return "the moved-to Task did not run";
  try {
    int v = co_await a;  // NOLINT(bugprone-use-after-move): that is the point
    (void)v;
  } catch (const UsageError& e) {
    co_return e.what();
  }
  co_return "no error";
}

// --- stack safety --------------------------------------------------------------------------

Task<int> one() { co_return 1; }

Task<long> await_many_immediate_children(int n) {
  long sum = 0;
  for (int i = 0; i < n; ++i) sum += co_await one();
  co_return sum;
}

Task<void> nothing() { co_return; }
Task<int> one_via_grandchild() {
  co_await nothing();
  co_return 1;
}
Task<long> await_many_two_level_children(int n) {
  long sum = 0;
  for (int i = 0; i < n; ++i) sum += co_await one_via_grandchild();
  co_return sum;
}

Task<int> one_after_yield() {
  co_await sleep(0ms);
  co_return 1;
}
Task<long> await_many_suspending_children(int n) {
  long sum = 0;
  for (int i = 0; i < n; ++i) sum += co_await one_after_yield();
  co_return sum;
}

// A chain `depth` coroutines deep; the innermost sleeps, and every level also suspends
// before and after awaiting the next one.
Task<int> suspending_chain(int depth) {
  if (depth == 0) {
    co_await sleep(1ms);
    co_return 0;
  }
  co_await sleep(0ms);
  int below = co_await suspending_chain(depth - 1);
  co_await sleep(0ms);
  co_return below + 1;
}

// Virtual time, no diagnostics allowed, but no slow-step warning either: a million awaits
// in one step legitimately keep the loop busy for a while (longer under ASan).
template <class T>
T run_long_step(Task<T> main) {
  RunOptions o = virtual_options();
  o.slow_step_warning = std::chrono::milliseconds(0);
  return run(std::move(main), std::move(o));
}

template <class T>
Task<std::pair<T, Clock::duration>> timed(Task<T> t) {
  T v = co_await std::move(t);
  co_return std::pair<T, Clock::duration>(std::move(v), elapsed());
}

}  // namespace

TEST_CASE("calling a Task-returning function runs none of its body") {
  bool ran = false;
  {
    Task<int> t = marks_when_run(&ran);
    CHECK(static_cast<bool>(t));
    CHECK_FALSE(ran);
  }
  // Destroyed without ever being awaited: the body never ran at all.
  CHECK_FALSE(ran);
}

TEST_CASE("a Task never awaited still destroys its frame (and its parameters) when dropped") {
  bool ran = false;
  bool guard_destroyed = false;
  const std::size_t frames_before = frame_stats().live_frames;
  {
    Task<void> t = holds_guard(SetOnDestroy(&guard_destroyed), &ran);
    CHECK(frame_stats().live_frames == frames_before + 1);
    CHECK_FALSE(guard_destroyed);
  }
  CHECK_FALSE(ran);
  CHECK(guard_destroyed);
  CHECK(frame_stats().live_frames == frames_before);
}

TEST_CASE("a Task only runs when awaited, even while the loop turns around it") {
  bool ran = false;
  bool ran_before_await = true;
  CHECK(run_virtual(lazy_inside_a_loop(&ran, &ran_before_await)));
  CHECK_FALSE(ran_before_await);
  CHECK(ran);
}

TEST_CASE("co_await on a Task yields the value it co_returns, also after it suspended") {
  CHECK(run_virtual(value_after_suspension()) == 23);
}

TEST_CASE("co_await on a Task rethrows the exception its body threw") {
  CHECK(run_virtual(catches_child_exception()) == "caught: boom");
  CHECK(run_virtual(catches_exception_after_suspension()) == "caught: late boom");
}

TEST_CASE("an exception nobody catches passes through every awaiting coroutine up to run()") {
  CHECK_THROWS_WITH_AS(run_virtual(propagates("to the top")), "to the top", std::runtime_error);
}

TEST_CASE("nested awaits: values flow up through several levels, and so does time") {
  auto [value, at] = run_virtual(timed(level1(5)));
  CHECK(value == (10 + 12) + 1);
  CHECK(at == 2ms);  // two sequential 1 ms sleeps in level2
}

TEST_CASE("nested awaits: an exception skips the rest of the middle level and reaches the outer catch") {
  bool middle_continued = false;
  CHECK(run_virtual(nested_exception_outer(&middle_continued)) == "outer caught deep");
  CHECK_FALSE(middle_continued);
}

TEST_CASE("a Task can return a move-only value") {
  CHECK(run_virtual(consumes_move_only()) == 15);
  std::unique_ptr<int> p = run_virtual(make_unique_later(99));
  REQUIRE(p != nullptr);
  CHECK(*p == 99);
}

TEST_CASE("awaiting the same Task twice is a UsageError: a Task runs once") {
  TwiceOutcome out = run_virtual(awaits_twice());
  CHECK(out.first == 5);
  CHECK(out.second_threw_usage_error);
  CHECK(out.message.find("already ran") != std::string::npos);
}

TEST_CASE("awaiting an empty Task (default-constructed or moved from) is a UsageError") {
  std::string m1 = run_virtual(awaits_default_constructed());
  CHECK(m1.find("empty Task") != std::string::npos);
  std::string m2 = run_virtual(awaits_moved_from());
  CHECK(m2.find("empty Task") != std::string::npos);
}

TEST_CASE("stack safety: awaiting 1,000,000 children that finish without suspending does not grow the stack") {
  // With symmetric transfer alone, each child would add stack frames at -O0 or under ASan
  // and this would overflow the stack long before a million.
  CHECK(run_long_step(await_many_immediate_children(1'000'000)) == 1'000'000);
}

TEST_CASE("stack safety: children that themselves await an immediate grandchild do not grow the stack") {
  CHECK(run_long_step(await_many_two_level_children(300'000)) == 300'000);
}

TEST_CASE("stack safety: many children that suspend once each resume their parent from the loop") {
  CHECK(run_long_step(await_many_suspending_children(100'000)) == 100'000);
}

TEST_CASE("a deep chain of awaits that suspends at every level resumes every level in turn") {
  auto [value, at] = run_virtual(timed(suspending_chain(1000)));
  CHECK(value == 1000);
  CHECK(at == 1ms);  // only the innermost sleep takes time; sleep(0) takes none
}

TEST_CASE("every frame is freed after Tasks run, return, throw and nest") {
  const std::size_t frames_before = frame_stats().live_frames;
  const std::size_t bytes_before = frame_stats().live_bytes;
  CHECK(run_virtual(value_after_suspension()) == 23);
  CHECK(run_virtual(catches_exception_after_suspension()) == "caught: late boom");
  CHECK_THROWS_AS(run_virtual(propagates("x")), std::runtime_error);
  CHECK(run_virtual(consumes_move_only()) == 15);
  CHECK(run_virtual(awaits_twice()).first == 5);
  CHECK(frame_stats().live_frames == frames_before);
  CHECK(frame_stats().live_bytes == bytes_before);
}
