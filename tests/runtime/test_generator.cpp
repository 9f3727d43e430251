// test_generator.cpp — AsyncGenerator<T>: async generators and the `async for` idiom.
//
// Proves: items arrive in the order they are yielded, then std::nullopt, and nullopt again
// after that; the generator is lazy and produces one item per next(), never ahead; what the
// body throws surfaces from next(); dropping an unfinished generator runs its locals'
// destructors and frees its frame; the body's awaits park the consumer's task (it runs
// inside that task) while other tasks run, at exact virtual times; cancelling the consumer
// while the body waits throws CancelledError inside the body, runs its cleanup and reaches
// the consumer; generators compose into pipelines; the body may await a Task, an Event and
// a Queue; a million items yielded without suspending do not grow the stack (-O0, ASan);
// two tasks calling next() on one generator at once is a UsageError; move-only items work;
// and streaming a million items costs no more memory than streaming a thousand.
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "support.hpp"

using namespace coop;
using namespace coop::testing;

namespace {

using Log = std::vector<std::string>;

// "what @time", the time since run() began (exact under virtual time).
std::string stamp(const std::string& what) { return what + " @" + format_duration(elapsed()); }

// Virtual time, no diagnostics allowed, but no slow-step warning either: a million items in
// one step legitimately keep the loop busy for a while (longer under ASan).
template <class T>
T run_long_step(Task<T> main) {
  RunOptions o = virtual_options();
  o.slow_step_warning = std::chrono::milliseconds(0);
  return run(std::move(main), std::move(o));
}

// Pulls every item into a vector: the `async for` idiom.
template <class T>
Task<std::vector<T>> collect(AsyncGenerator<T> gen) {
  std::vector<T> out;
  while (auto x = co_await gen.next()) out.push_back(std::move(*x));
  co_return out;
}

// --- order and end -----------------------------------------------------------------------

// 0, 1, ..., n-1; every other item after a short sleep, so both paths are exercised.
AsyncGenerator<int> count_to(int n) {
  for (int i = 0; i < n; ++i) {
    if (i % 2 == 1) co_await sleep(1ms);
    co_yield i;
  }
}

struct EndOutcome {
  std::vector<int> items;
  int nullopts_after_end = 0;
};
Task<EndOutcome> read_past_the_end() {
  EndOutcome out;
  AsyncGenerator<int> gen = count_to(2);
  while (auto x = co_await gen.next()) out.items.push_back(*x);
  for (int i = 0; i < 3; ++i)
    if (!(co_await gen.next())) ++out.nullopts_after_end;
  co_return out;
}

AsyncGenerator<int> yields_nothing() { co_return; }

// --- laziness ------------------------------------------------------------------------------

// Counts the items it has produced, at the moment it produces them.
AsyncGenerator<int> counted(int* produced, int n) {
  for (int i = 0; i < n; ++i) {
    ++*produced;
    co_yield i;
  }
}

struct LazyOutcome {
  int before_first_next = -1;     // produced, after the loop turned once
  int after_first_next = -1;      // produced, right after the first item arrived
  int after_a_pause = -1;         // produced, after the consumer slept with the item in hand
  int after_second_next = -1;
  int item0 = -1, item1 = -1;
};
Task<LazyOutcome> pulls_slowly(int* produced) {
  LazyOutcome out;
  AsyncGenerator<int> gen = counted(produced, 10);
  co_await sleep(10ms);  // the loop turns; the generator still does nothing
  out.before_first_next = *produced;
  out.item0 = *co_await gen.next();
  out.after_first_next = *produced;
  co_await sleep(10ms);  // nothing is produced ahead while the consumer is busy elsewhere
  out.after_a_pause = *produced;
  out.item1 = *co_await gen.next();
  out.after_second_next = *produced;
  co_return out;
}

// --- exceptions --------------------------------------------------------------------------------

// Yields 1 and 2, then throws; after a sleep when `after_await`.
AsyncGenerator<int> fails_after_two(bool after_await) {
  co_yield 1;
  co_yield 2;
  if (after_await) co_await sleep(5ms);
  throw std::runtime_error("source broke");
}

struct FailOutcome {
  std::vector<int> items;
  std::string error;
  bool nullopt_afterwards = false;
};
Task<FailOutcome> reads_until_failure(bool after_await) {
  FailOutcome out;
  AsyncGenerator<int> gen = fails_after_two(after_await);
  try {
    while (auto x = co_await gen.next()) out.items.push_back(*x);
  } catch (const std::runtime_error& e) {
    out.error = e.what();
  }
  out.nullopt_afterwards = !(co_await gen.next());  // the generator has ended
  co_return out;
}

// --- dropping early ----------------------------------------------------------------------------

COOP_COUNTED_FRAME AsyncGenerator<int> with_cleanup(bool* cleaned_up, bool* ran_past_yield) {
  SetOnDestroy cleanup(cleaned_up);  // a local: its destructor is the generator's cleanup
  for (int i = 0;; ++i) {
    if (i == 2) *ran_past_yield = true;
    co_await sleep(1ms);
    co_yield i;
  }
}

struct DropOutcome {
  std::vector<int> items;
  bool cleaned_up_while_alive = true;
  bool cleaned_up_after_drop = false;
  bool ran_past_second_yield = true;
  bool one_more_frame_while_alive = false;
  bool frames_back_after_drop = false;
};
Task<DropOutcome> takes_two_then_drops(bool* cleaned_up, bool* ran_past_yield) {
  DropOutcome out;
  const std::size_t frames_before = frame_stats().live_frames;
  {
    AsyncGenerator<int> gen = with_cleanup(cleaned_up, ran_past_yield);
    out.items.push_back(*co_await gen.next());
    out.items.push_back(*co_await gen.next());
    out.one_more_frame_while_alive = frame_stats().live_frames == frames_before + 1;
    out.cleaned_up_while_alive = *cleaned_up;
  }  // dropped here, suspended at its second co_yield
  out.cleaned_up_after_drop = *cleaned_up;
  out.ran_past_second_yield = *ran_past_yield;
  out.frames_back_after_drop = frame_stats().live_frames == frames_before;
  co_return out;
}

COOP_COUNTED_FRAME AsyncGenerator<int> holds_parameter(SetOnDestroy guard, bool* ran) {
  *ran = true;
  (void)guard;
  co_yield 1;
}

// --- interleaving with other tasks -------------------------------------------------------------

// An item every 10 ms.
AsyncGenerator<int> slow_source(Log* log, int n) {
  for (int i = 0; i < n; ++i) {
    co_await sleep(10ms);
    log->push_back(stamp("yield " + std::to_string(i)));
    co_yield i;
  }
}

Task<void> ticker(Log* log, int ticks) {
  for (int i = 0; i < ticks; ++i) {
    co_await sleep(7ms);
    log->push_back(stamp("tick"));
  }
}

Task<void> consumes_while_ticking(Log* log) {
  auto t = create_task(ticker(log, 5), "ticker");
  AsyncGenerator<int> gen = slow_source(log, 3);
  while (auto x = co_await gen.next()) log->push_back(stamp("got " + std::to_string(*x)));
  log->push_back(stamp("end"));
  co_await t;
}

// --- cancellation ------------------------------------------------------------------------------

// Waits 100 ms before each item; logs CancelledError on its way through, then re-throws it.
AsyncGenerator<int> slow_with_cleanup(Log* log, bool* cleaned_up) {
  SetOnDestroy cleanup(cleaned_up);
  for (int i = 0;; ++i) {
    try {
      co_await sleep(100ms);
    } catch (const CancelledError&) {
      log->push_back(stamp("generator: CancelledError at its sleep"));
      throw;
    }
    co_yield i;
  }
}

Task<void> cancellable_consumer(Log* log, bool* cleaned_up) {
  AsyncGenerator<int> gen = slow_with_cleanup(log, cleaned_up);
  try {
    while (auto x = co_await gen.next()) log->push_back(stamp("consumer: got " + std::to_string(*x)));
  } catch (const CancelledError&) {
    log->push_back(stamp(std::string("consumer: CancelledError from next(); generator cleaned up: ") +
                         (*cleaned_up ? "yes" : "no")));
    throw;
  }
}

struct CancelOutcome {
  bool consumer_got_cancelled_error = false;
  bool handle_cancelled = false;
};
Task<CancelOutcome> cancels_consumer_mid_wait(Log* log, bool* cleaned_up) {
  CancelOutcome out;
  auto h = create_task(cancellable_consumer(log, cleaned_up), "consumer");
  co_await sleep(150ms);  // the consumer has item 0 and is parked in the generator's second sleep
  log->push_back(stamp("main: cancel"));
  h.cancel();
  try {
    co_await h;
  } catch (const CancelledError&) {
    out.consumer_got_cancelled_error = true;
  }
  out.handle_cancelled = h.cancelled();
  co_return out;
}

// --- pipelines ---------------------------------------------------------------------------------

AsyncGenerator<int> squares(AsyncGenerator<int> source) {
  while (auto x = co_await source.next()) co_yield *x * *x;
}

AsyncGenerator<int> evens_only(AsyncGenerator<int> source) {
  while (auto x = co_await source.next())
    if (*x % 2 == 0) co_yield *x;
}

AsyncGenerator<int> every_ms(int n) {
  for (int i = 1; i <= n; ++i) {
    co_await sleep(1ms);
    co_yield i;
  }
}

template <class T>
Task<std::pair<T, Clock::duration>> timed(Task<T> t) {
  T v = co_await std::move(t);
  co_return std::pair<T, Clock::duration>(std::move(v), elapsed());
}

// --- any awaitable inside --------------------------------------------------------------------

Task<int> doubled_later(int x) {
  co_await sleep(2ms);
  co_return 2 * x;
}

// Waits for `go`, then relays what the queue holds until it reads -1, doubling each via a Task.
AsyncGenerator<int> relay(Event* go, Queue<int>* q) {
  co_await go->wait();
  for (;;) {
    int v = co_await q->get();
    if (v < 0) co_return;
    co_yield co_await doubled_later(v);
  }
}

Task<void> feeds(Event* go, Queue<int>* q) {
  co_await sleep(5ms);
  go->set();
  for (int v : {1, 2, 3, -1}) {
    co_await sleep(1ms);
    co_await q->put(v);
  }
}

Task<std::pair<std::vector<int>, Clock::duration>> relays_from_a_queue() {
  Event go("go");
  Queue<int> q;
  auto feeder = create_task(feeds(&go, &q), "feeder");
  std::vector<int> got = co_await collect(relay(&go, &q));
  co_await feeder;
  co_return std::pair(got, elapsed());
}

// --- stack safety and memory -----------------------------------------------------------------

AsyncGenerator<int> ones(int n) {
  for (int i = 0; i < n; ++i) co_yield 1;
}

Task<long> sums(AsyncGenerator<int> gen) {
  long sum = 0;
  while (auto x = co_await gen.next()) sum += *x;
  co_return sum;
}

// An item type that counts how many of its values exist at once.
struct Counted {
  static inline int live = 0;
  int value;
  explicit Counted(int v) : value(v) { ++live; }
  Counted(Counted&& other) noexcept : value(other.value) { ++live; }
  Counted(const Counted&) = delete;
  Counted& operator=(const Counted&) = delete;
  Counted& operator=(Counted&&) = delete;
  ~Counted() { --live; }
};

// Samples the frame bytes in use (and the items alive) at every item, on both sides.
struct MemoryProbe {
  std::size_t base_bytes = 0;
  std::size_t peak_bytes_above_base = 0;
  int peak_items_alive = 0;
  void sample() {
    std::size_t now = frame_stats().live_bytes - base_bytes;
    if (now > peak_bytes_above_base) peak_bytes_above_base = now;
    if (Counted::live > peak_items_alive) peak_items_alive = Counted::live;
  }
};

COOP_COUNTED_FRAME AsyncGenerator<Counted> counted_items(MemoryProbe* probe, int n) {
  for (int i = 0; i < n; ++i) {
    probe->sample();
    co_yield Counted(i);
  }
}

Task<long> streams(MemoryProbe* probe, int n) {
  probe->base_bytes = frame_stats().live_bytes;
  long sum = 0;
  AsyncGenerator<Counted> gen = counted_items(probe, n);
  while (auto x = co_await gen.next()) {
    probe->sample();
    sum += x->value;
  }
  co_return sum;
}

// --- misuse --------------------------------------------------------------------------------------

AsyncGenerator<int> slow_pair() {
  co_await sleep(10ms);
  co_yield 1;
  co_await sleep(10ms);
  co_yield 2;
}

Task<int> pulls_one(AsyncGenerator<int>* gen) { co_return *(co_await gen->next()); }

struct SharedOutcome {
  int first_task_item = 0;
  std::string second_task_error;
  int later_item = 0;
};
Task<std::string> pulls_expecting_usage_error(AsyncGenerator<int>* gen) {
  try {
    (void)co_await gen->next();
  } catch (const UsageError& e) {
    co_return e.what();
  }
  co_return "no error";
}
Task<SharedOutcome> two_tasks_share_a_generator() {
  SharedOutcome out;
  AsyncGenerator<int> gen = slow_pair();
  auto a = create_task(pulls_one(&gen), "a");
  co_await sleep(1ms);  // a is now parked inside the generator's first sleep
  auto b = create_task(pulls_expecting_usage_error(&gen), "b");
  out.second_task_error = co_await b;
  out.first_task_item = co_await a;
  out.later_item = *(co_await gen.next());  // once a's next() is over, the generator works again
  co_return out;
}

Task<std::string> next_on_moved_from() {
  AsyncGenerator<int> a = count_to(3);
  AsyncGenerator<int> b = std::move(a);
  if (*co_await b.next() != 0) co_return "the moved-to generator did not work";
  try {
    (void)co_await a.next();  // NOLINT(bugprone-use-after-move): that is the point
  } catch (const UsageError& e) {
    co_return e.what();
  }
  co_return "no error";
}

// --- move-only items -------------------------------------------------------------------------

AsyncGenerator<std::unique_ptr<int>> boxes() {
  co_yield std::make_unique<int>(1);  // a temporary
  auto p = std::make_unique<int>(2);
  co_await sleep(1ms);
  co_yield std::move(p);  // a local, moved
}

Task<std::vector<int>> unboxes() {
  std::vector<int> out;
  AsyncGenerator<std::unique_ptr<int>> gen = boxes();
  while (std::optional<std::unique_ptr<int>> box = co_await gen.next()) out.push_back(**box);
  co_return out;
}

}  // namespace

TEST_CASE("a generator's items arrive in the order it yields them") {
  CHECK(run_virtual(collect(count_to(6))) == std::vector<int>{0, 1, 2, 3, 4, 5});
}

TEST_CASE("after the last item next() yields std::nullopt, and keeps yielding it") {
  EndOutcome out = run_virtual(read_past_the_end());
  CHECK(out.items == std::vector<int>{0, 1});
  CHECK(out.nullopts_after_end == 3);
  CHECK(run_virtual(collect(yields_nothing())).empty());
}

TEST_CASE("a generator is lazy: calling it runs nothing, and each next() produces exactly one item") {
  int produced = 0;
  {
    AsyncGenerator<int> gen = counted(&produced, 10);
    CHECK(static_cast<bool>(gen));
  }
  CHECK(produced == 0);  // dropped without a next(): the body never ran

  LazyOutcome out = run_virtual(pulls_slowly(&produced));
  CHECK(out.before_first_next == 0);
  CHECK(out.item0 == 0);
  CHECK(out.after_first_next == 1);
  CHECK(out.after_a_pause == 1);  // nothing produced ahead, nothing buffered
  CHECK(out.item1 == 1);
  CHECK(out.after_second_next == 2);
}

TEST_CASE("an exception thrown by the generator's body surfaces from next(), after the items before it") {
  for (bool after_await : {false, true}) {
    CAPTURE(after_await);
    FailOutcome out = run_virtual(reads_until_failure(after_await));
    CHECK(out.items == std::vector<int>{1, 2});
    CHECK(out.error == "source broke");
    CHECK(out.nullopt_afterwards);  // once it has thrown, the generator has ended
  }
}

TEST_CASE("dropping a generator before its end runs its locals' destructors and frees its frame") {
  const std::size_t frames_before = frame_stats().live_frames;
  bool cleaned_up = false;
  bool ran_past_yield = false;
  DropOutcome out = run_virtual(takes_two_then_drops(&cleaned_up, &ran_past_yield));
  CHECK(out.items == std::vector<int>{0, 1});
  CHECK(out.one_more_frame_while_alive);
  CHECK_FALSE(out.cleaned_up_while_alive);
  CHECK(out.cleaned_up_after_drop);
  CHECK_FALSE(out.ran_past_second_yield);  // no code after its current co_yield runs
  CHECK(out.frames_back_after_drop);
  CHECK(frame_stats().live_frames == frames_before);
}

TEST_CASE("a generator dropped before its first next() never runs but still destroys its parameters") {
  const std::size_t frames_before = frame_stats().live_frames;
  bool destroyed = false;
  bool ran = false;
  {
    AsyncGenerator<int> gen = holds_parameter(SetOnDestroy(&destroyed), &ran);
    CHECK(frame_stats().live_frames == frames_before + 1);
    CHECK_FALSE(destroyed);
  }
  CHECK_FALSE(ran);
  CHECK(destroyed);
  CHECK(frame_stats().live_frames == frames_before);
}

TEST_CASE("while the generator awaits, other tasks run: its items and another task's ticks interleave, at exact times") {
  Log log;
  TraceRecorder rec;
  run_virtual(consumes_while_ticking(&log), nullptr, &rec);
  CHECK(log == Log{
                   "tick @7 ms",
                   "yield 0 @10 ms", "got 0 @10 ms",
                   "tick @14 ms",
                   "yield 1 @20 ms", "got 1 @20 ms",
                   "tick @21 ms", "tick @28 ms",
                   "yield 2 @30 ms", "got 2 @30 ms",
                   "end @30 ms",  // the body's loop is over: next() finds the end at once
                   "tick @35 ms",
               });
  // The generator is not a task of its own: it runs inside the consumer's task ("main"),
  // whose task is what parks on the body's sleeps.
  for (const std::string& name : rec.step_order()) CHECK((name == "main" || name == "ticker"));
  int main_sleeps = 0;
  for (const TraceEvent& e : rec.events_of("main"))
    if (e.kind == TraceEvent::Kind::suspended && e.detail == "sleep(10 ms)") ++main_sleeps;
  CHECK(main_sleeps == 3);
}

TEST_CASE("cancelling the consumer while the generator awaits: CancelledError is thrown inside the generator, its cleanup runs, and next() rethrows it") {
  Log log;
  bool cleaned_up = false;
  CancelOutcome out = run_virtual(cancels_consumer_mid_wait(&log, &cleaned_up));
  CHECK(log == Log{
                   "consumer: got 0 @100 ms",
                   "main: cancel @150 ms",
                   "generator: CancelledError at its sleep @150 ms",
                   "consumer: CancelledError from next(); generator cleaned up: yes @150 ms",
               });
  CHECK(out.consumer_got_cancelled_error);
  CHECK(out.handle_cancelled);
  CHECK(cleaned_up);
}

TEST_CASE("generators compose into a pipeline: one generator consumes another") {
  auto [items, at] = run_virtual(timed(collect(evens_only(squares(every_ms(6))))));
  CHECK(items == std::vector<int>{4, 16, 36});
  CHECK(at == 6ms);  // six 1 ms sleeps in the source, one after the other
}

TEST_CASE("the generator's body may await anything: an Event, a Queue, a Task") {
  auto [items, at] = run_virtual(relays_from_a_queue());
  CHECK(items == std::vector<int>{2, 4, 6});
  // Event at 5 ms; puts at 6, 7, 8, 9 ms; each item then takes a 2 ms Task: 8, 10, 12 ms,
  // and the -1 put at 9 ms is read at 12 ms.
  CHECK(at == 12ms);
}

TEST_CASE("stack safety: pulling 1,000,000 items yielded without suspending does not grow the stack") {
  // With symmetric transfer alone, each item would add stack frames at -O0 or under ASan
  // (consumer -> body -> consumer -> ...) and this would overflow the stack.
  CHECK(run_long_step(sums(ones(1'000'000))) == 1'000'000);
}

TEST_CASE("stack safety: a three-stage pipeline of 300,000 synchronous items does not grow the stack") {
  CHECK(run_long_step(sums(squares(squares(ones(300'000))))) == 300'000);
}

TEST_CASE("two tasks calling next() on the same generator at once: the second gets UsageError (already running)") {
  SharedOutcome out = run_virtual(two_tasks_share_a_generator());
  CHECK(out.second_task_error.find("already running") != std::string::npos);
  CHECK(out.first_task_item == 1);  // the first next() was not disturbed
  CHECK(out.later_item == 2);
}

TEST_CASE("next() on an empty generator (moved from, or default-constructed) is a UsageError") {
  CHECK(run_virtual(next_on_moved_from()).find("empty AsyncGenerator") != std::string::npos);
}

TEST_CASE("a generator can yield move-only items (std::unique_ptr)") {
  CHECK(run_virtual(unboxes()) == std::vector<int>{1, 2});
}

TEST_CASE("streaming in constant memory: 1,000,000 items need no more frame memory than 1,000") {
  MemoryProbe small, large;
  CHECK(run_long_step(streams(&small, 1'000)) == 999L * 1'000 / 2);
  CHECK(run_long_step(streams(&large, 1'000'000)) == 999'999L * 1'000'000 / 2);
  CHECK(large.peak_bytes_above_base == small.peak_bytes_above_base);
  CHECK(large.peak_bytes_above_base > 0);     // the generator's one frame
  CHECK(large.peak_bytes_above_base < 1024);  // ... and nothing per item
  // At most the item in the consumer's hands and the body's (moved-from) temporary exist at
  // once: items are handed over one at a time, never queued up.
  CHECK(large.peak_items_alive <= 2);
  CHECK(Counted::live == 0);
}
