// program.cpp — the interpreter behind coop_stress and fuzz_ops. program.hpp says what it
// generates and which invariants it checks; this file is read in that order:
//   1. the sources of choices;
//   2. the program's bookkeeping: one Rec per task body, the Watch (a coop::Tracer that
//      checks the loop's events as they happen), and Interp, which holds everything;
//   3. the operations, one coroutine (or function) each, with their checks;
//   4. running a program and the checks after the run.
//
// Written as plain coroutine functions with parameters, never lambda coroutines (their
// captures die with the lambda), and with every co_await outside if/?: conditions and no
// lambda temporaries inside co_await expressions (GCC 12 miscompiles those; README).
#include "program.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <coop/coop.hpp>
#include <deque>
#include <exception>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

namespace coop_stress {

// ---- 1. choices ---------------------------------------------------------------------------

std::uint32_t SeedChoices::pick(std::uint32_t bound) {
  if (bound <= 1) return 0;
  // splitmix64 (Steele, Lea, Flood 2014): tiny, fast, and the same bits on every compiler.
  state_ += 0x9E3779B97F4A7C15ull;
  std::uint64_t z = state_;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<std::uint32_t>(((z >> 32) * bound) >> 32);  // [0, bound), no division
}

std::uint32_t ByteChoices::pick(std::uint32_t bound) {
  if (bound <= 1 || pos_ >= size_) return 0;
  std::uint32_t v = data_[pos_++];
  if (bound > 256 && pos_ < size_) v |= static_cast<std::uint32_t>(data_[pos_++]) << 8;
  return v % bound;
}

std::uint32_t RecordingChoices::pick(std::uint32_t bound) {
  const std::uint32_t v = inner_.pick(bound);
  if (bound > 1) {  // ByteChoices reads no byte for these either
    bytes_.push_back(static_cast<std::uint8_t>(v & 0xff));
    if (bound > 256) bytes_.push_back(static_cast<std::uint8_t>((v >> 8) & 0xff));
  }
  return v;
}

namespace {

using namespace std::chrono_literals;
using coop::Clock;
using coop::Outcome;
using coop::Task;
using coop::TaskHandle;

// ---- 2. bookkeeping -------------------------------------------------------------------------

// The size of a program. Small enough that one run takes about a millisecond optimised
// (2000 seeds, each run twice, must stay within ~20 s at -O0 under AddressSanitizer), big
// enough that most runs have dozens of tasks interleaving.
constexpr std::uint64_t kMaxBodies = 120;   // task bodies (helper tasks come on top)
constexpr int kMaxDepth = 3;                // main is 0; bodies at depth 3 start no children
constexpr int kMaxOpsPerBody = 10;
constexpr int kMaxOpsMain = 30;             // main's top level: the trunk of the tree
constexpr std::uint64_t kMaxOps = 700;      // in the whole program
constexpr int kMaxNesting = 2;              // async_with bodies inside async_with bodies
constexpr std::uint32_t kEvents = 2, kLocks = 2, kQueues = 2;

// The program's own exception. Each one thrown is numbered, so a check can say which one
// it expected to come out of a gather or a handle.
class Boom : public std::runtime_error {
 public:
  Boom(std::uint32_t number, std::uint32_t body)
      : std::runtime_error(fmt::format("boom #{} thrown by body {}", number, body)), id(number) {}
  std::uint32_t id;
};

// The operations a body picks from, and how often (each weight out of their sum). `end` is
// first so that choice 0 ends a body (ByteChoices gives 0 once the fuzzer's bytes run out);
// its weight depends on the level (next_op).
enum class Op : std::uint8_t {
  end,
  sleep,
  spawn,
  await_child,
  gather,
  wait_for,
  cancel_other,
  cancel_self,
  event_wait,
  event_set,
  event_clear,
  lock,
  queue_put,
  queue_get,
  async_with,
  generator,
  raise,
  swallow,
  poll,
  gather_handles,
  stubborn,
  misuse,
  count_
};
constexpr std::array<std::uint32_t, static_cast<std::size_t>(Op::count_)> kWeights = {
    0,  // end
    4,  // sleep
    4,  // spawn
    3,  // await_child
    2,  // gather
    2,  // wait_for
    3,  // cancel_other
    1,  // cancel_self
    2,  // event_wait
    2,  // event_set
    1,  // event_clear
    2,  // lock
    2,  // queue_put
    2,  // queue_get
    2,  // async_with
    2,  // generator
    1,  // raise
    1,  // swallow
    1,  // poll
    1,  // gather_handles
    1,  // stubborn
    1,  // misuse
};

// How a body was started: by run() (main), create_task, gather or wait_for. The last two
// own their children: the runtime marks their exceptions retrieved (join_all.hpp).
enum class Mode : std::uint8_t { main, created, gather_child, waitfor_child };
// How a body ended, as the body itself saw it.
enum class End : std::uint8_t { none, returned, failed, cancelled };

std::string_view to_string(End e) {
  switch (e) {
    case End::none: return "not at all";
    case End::returned: return "returned";
    case End::failed: return "failed";
    case End::cancelled: return "cancelled";
  }
  return "?";
}

// One task body of the program (every task runs one, except the small helper tasks that
// wait_for puts around a join or a wait).
struct Rec {
  std::uint32_t id = 0;               // index in Interp::recs; main is 0
  std::uint32_t parent = 0;
  int depth = 0;
  Mode mode = Mode::main;
  bool bounded = true;                // may only wait on things that surely end (program.hpp)
  std::uint64_t task = 0;             // the runtime's task id
  int handle = -1;                    // index of its handle in Interp::registry, if kept
  std::vector<std::uint32_t> kept;    // the children whose handles it kept
  int ops = 0;                        // operations run so far
  int puts = 0;                       // queue items put so far (numbers them)
  bool started = false;
  End end = End::none;
  std::uint32_t boom = 0;             // the Boom it failed with
  int value = 0;                      // what it returned
  bool swallowed = false;             // it caught its own CancelledError and returned
  bool stubborn = false;              // it refuses to stop: run() must abandon it
  bool cancelled_at_birth = false;    // cancelled right after create_task
  bool cancel_requested = false;      // some cancel() of it returned true
  int frames_destroyed = 0;           // its Token's count: must end at exactly 1
};

// What the program knows about a task id.
struct Meta {
  bool known = false;
  std::int64_t rec = -1;   // the body it runs; -1 for a helper
  bool group = false;      // a gather or wait_for child: the group retrieves its exception
  bool retrieved = false;  // the program looked at its exception (awaited it, exception())
};

class Interp;

// The loop's events, checked as they happen and hashed (the determinism check).
class Watch final : public coop::Tracer {
 public:
  enum class State : std::uint8_t { ready, waiting, done };
  struct Task_ {
    std::uint32_t finished = 0;  // task_finished events: must end at exactly 1
    Outcome outcome = Outcome::pending;
    State state = State::ready;
    bool stepped = false;        // a step of it began (its body started)
    std::uint32_t cancels = 0;   // cancel_requested events
    std::uint64_t suspends = 0;  // suspended events
    std::uint64_t finish_seq = 0;
  };

  explicit Watch(Interp& in) : in_(in) {}

  std::uint64_t spawned() const noexcept { return tasks.size() - 1; }
  bool finished(std::uint64_t id) const noexcept { return id < tasks.size() && tasks[id].finished > 0; }
  Outcome outcome(std::uint64_t id) const noexcept { return id < tasks.size() ? tasks[id].outcome : Outcome::pending; }
  Clock::duration since_start() const { return have_t0_ ? coop::now() - t0_ : Clock::duration::zero(); }

  void task_spawned(coop::TaskInfo t, const coop::TaskInfo* parent) override;
  void step_began(coop::TaskInfo t) override;
  void step_ended(coop::TaskInfo t) override;
  void task_suspended(coop::TaskInfo t, coop::WaitInfo on) override;
  void task_woken(coop::TaskInfo t) override;
  void cancel_requested(coop::TaskInfo t) override;
  void task_finished(coop::TaskInfo t, Outcome how) override;

  std::vector<Task_> tasks = std::vector<Task_>(1);  // by task id; [0] is unused
  // The ready queue as the events describe it: spawned and woken tasks join the back, and
  // each step (or the end of a task cancelled before it started) must take the front.
  std::deque<std::uint64_t> ready;
  std::uint64_t running = 0;                         // the task whose step is executing
  std::uint64_t finishes = 0;
  std::uint64_t hash = 14695981039346656037ull;      // FNV-1a
  // run()'s shutdown begins by cancelling main (the program never cancels main itself).
  // What was alive at that moment is what a DeadlockError must name.
  bool shutdown_seen = false;
  std::vector<std::uint64_t> live_at_shutdown;
  std::vector<std::uint64_t> ready_at_shutdown;  // of those, the ones not parked

 private:
  void mix(std::uint64_t v) noexcept { hash = (hash ^ v) * 1099511628211ull; }
  void event(int kind, std::uint64_t id);
  bool valid(std::uint64_t id, const char* hook);
  void take_front(std::uint64_t id, const char* what);

  Interp& in_;
  Clock::time_point t0_{};
  bool have_t0_ = false;
};

// The state the operations share: an Event, a Lock or a Queue with what the checks need.
struct Ev {
  explicit Ev(std::string name) : e(std::move(name)) {}
  coop::Event e;
  std::uint64_t sets = 0;  // set() calls so far: a waiter must not wake without one
};
struct Lk {
  explicit Lk(std::string name) : lock(std::move(name)) {}
  coop::Lock lock;
  int holders = 0;  // must never exceed 1
};
enum class Item : std::uint8_t { putting, entered, taken_early, taken };
struct Qu {
  explicit Qu(std::size_t maxsize) : q(maxsize) {}
  coop::Queue<int> q;
  std::unordered_map<int, Item> items;
  std::map<std::pair<std::uint32_t, std::uint32_t>, int> last;  // (consumer, producer) -> last seq
  std::map<int, std::uint64_t> putters;        // item -> the task putting it, while put() runs
  std::multiset<std::uint64_t> getters;        // tasks inside get()
};

class Interp {
 public:
  Interp(Choices& choices, const ProgramOptions& options);
  Interp(const Interp&) = delete;
  Interp& operator=(const Interp&) = delete;

  // -- choosing
  std::uint32_t pick(std::uint32_t bound) {
    const std::uint32_t v = choices_.pick(bound);
    mix(v);
    return v;
  }
  std::uint32_t pick_index(std::size_t size) { return pick(static_cast<std::uint32_t>(size)); }
  Clock::duration pick_duration() {
    static constexpr std::array<int, 6> ms = {0, 0, 1, 2, 5, 10};
    return std::chrono::milliseconds(ms[pick_index(ms.size())]);
  }
  Clock::duration pick_timeout() {
    static constexpr std::array<int, 5> ms = {0, 1, 3, 8, 20};
    return std::chrono::milliseconds(ms[pick_index(ms.size())]);
  }
  // Whether an operation catches a Boom coming out of what it awaited, or lets it through.
  // Main catches 7 times out of 8: a main that fails ends the whole program early.
  bool pick_catch(std::uint32_t r) { return pick(r == 0 ? 8u : 2u) != 1; }
  Clock::duration pick_short() { return std::chrono::milliseconds(pick(3u)); }
  Op next_op(std::uint32_t r, int level);

  // -- bookkeeping
  std::uint32_t new_rec(std::uint32_t parent, Mode mode, bool bounded);
  bool can_start_bodies(std::uint32_t r, std::uint32_t k) const {
    return recs[r].depth < kMaxDepth && bodies_ + k <= kMaxBodies;
  }
  Meta& meta_of(std::uint64_t id) {
    if (meta.size() <= id) meta.resize(id + 1);
    return meta[id];
  }
  void bind(std::uint32_t r, std::uint64_t task) {
    recs[r].task = task;
    Meta& m = meta_of(task);
    m.known = true;
    m.rec = r;
    m.group = recs[r].mode == Mode::gather_child || recs[r].mode == Mode::waitfor_child;
  }
  // The next task spawned will be a helper (a join or a wait under wait_for).
  void expect_helper() {
    Meta& m = meta_of(watch.spawned() + 1);
    m.known = true;
    m.group = true;
  }
  std::string task_name(std::uint64_t id) const;
  std::uint32_t cancels_of(std::uint32_t r) const {
    const std::uint64_t t = recs[r].task;
    return t < watch.tasks.size() ? watch.tasks[t].cancels : 0;
  }
  Boom make_boom(std::uint32_t r) {
    ++stats.exceptions;
    return Boom(++booms_, r);
  }
  void body_started(std::uint32_t r);
  void body_ended(std::uint32_t r, End how, int value, std::uint32_t boom);

  // -- reporting
  void fail(const std::string& what);
  bool verbose() const noexcept { return options_.verbose; }
  template <class... A>
  void say(std::uint32_t r, fmt::format_string<A...> f, A&&... args) {
    const auto t = std::chrono::duration_cast<std::chrono::milliseconds>(watch.since_start()).count();
    fmt::print("{:>6}ms  {:<8} {}\n", t, rec_name(r), fmt::format(f, std::forward<A>(args)...));
  }
  std::string rec_name(std::uint32_t r) const {
    return recs[r].mode == Mode::main ? "main" : fmt::format("{}{}", recs[r].mode == Mode::created ? "t" : "body", r);
  }
  void mix(std::uint64_t v) noexcept { hash_ = (hash_ ^ v) * 1099511628211ull; }

  // -- checks made along the way
  std::uint64_t suspends_of_running() const { return watch.tasks[watch.running].suspends; }
  void check_queue(std::uint32_t qi);
  // Timers fire in deadline order, equal deadlines in the order they were set: a sleep that
  // returns must be the earliest of those still pending.
  std::set<std::pair<Clock::time_point, std::uint64_t>> sleeping;
  std::uint64_t sleeps_set = 0;

  // -- running, checking
  void run();
  void verify();
  ProgramResult result();

  Watch watch{*this};
  std::deque<Rec> recs;                     // deque: references stay valid as it grows
  std::vector<TaskHandle<int>> registry;    // kept handles, for sibling cancels and joins
  std::vector<Meta> meta;                   // by task id
  std::array<std::unique_ptr<Ev>, kEvents> events;
  std::array<std::unique_ptr<Lk>, kLocks> locks;
  std::array<std::unique_ptr<Qu>, kQueues> queues;
  coop::Event never{"never"};               // main's deadlock ending waits here
  coop::Event stubborn{"stubborn"};         // stubborn tasks wait here, forever
  bool deadlock_expected = false;

  // Counters the checks compare.
  std::uint64_t guards_made = 0, guards_destroyed = 0;  // FrameGuard: one per frame that ran
  std::uint64_t gens_made = 0, gens_destroyed = 0;      // generator frames
  std::uint64_t enters = 0, exits_started = 0, exits_done = 0, exits_interrupted = 0;
  ProgramStats stats;

 private:
  enum class RunEnd : std::uint8_t { none, value, boom, cancelled, deadlock, other };
  void verify_run_end();
  void verify_deadlock();
  void verify_tasks();
  void verify_diagnostics();
  void verify_state();

  Choices& choices_;
  ProgramOptions options_;
  std::uint64_t hash_ = 14695981039346656037ull;
  std::uint64_t ops_ = 0;
  std::uint64_t bodies_ = 0;
  std::uint32_t booms_ = 0;
  std::vector<coop::Diagnostic> diags_;
  std::string failure_;
  std::uint32_t failures_ = 0;
  RunEnd ran_ = RunEnd::none;
  int run_value_ = 0;
  std::uint32_t run_boom_ = 0;
  std::string run_message_;
};

// A witness in every coroutine frame the program runs: made when the frame starts running,
// destroyed with it. made == destroyed after the run says no frame was leaked or left behind.
class FrameGuard {
 public:
  explicit FrameGuard(Interp& in) : in_(in) { ++in_.guards_made; }
  FrameGuard(const FrameGuard&) = delete;
  FrameGuard& operator=(const FrameGuard&) = delete;
  ~FrameGuard() { ++in_.guards_destroyed; }

 private:
  Interp& in_;
};

// A parameter of every body and generator: a coroutine's parameters live in its frame from
// the call on, so this counts the frames destroyed even of bodies that never started.
class Token {
 public:
  static constexpr std::int64_t kGenerator = -1;  // counts generator frames
  static constexpr std::int64_t kNone = -2;       // counts nothing (an async_with body)
  Token(Interp& in, std::int64_t rec) : in_(&in), rec_(rec) {
    if (rec_ == kGenerator) ++in.gens_made;
  }
  Token(Token&& other) noexcept : in_(std::exchange(other.in_, nullptr)), rec_(other.rec_) {}
  Token(const Token&) = delete;
  Token& operator=(const Token&) = delete;
  Token& operator=(Token&&) = delete;
  ~Token() {
    if (in_ == nullptr) return;  // moved from
    if (rec_ == kGenerator)
      ++in_->gens_destroyed;
    else if (rec_ >= 0)
      ++in_->recs[static_cast<std::size_t>(rec_)].frames_destroyed;
  }

 private:
  Interp* in_;
  std::int64_t rec_;
};

// Prints what a task does, with --verbose. A macro, so that the arguments (formatted
// strings, mostly) are not even computed in the usual, quiet run.
#define SAY(in, r, ...)                               \
  do {                                                \
    if ((in).verbose()) (in).say((r), __VA_ARGS__); \
  } while (false)

std::string ms(Clock::duration d) {
  return fmt::format("{}ms", std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

// ---- Watch --------------------------------------------------------------------------------

bool Watch::valid(std::uint64_t id, const char* hook) {
  if (id != 0 && id < tasks.size()) return true;
  in_.fail(fmt::format("tracer: {} for task id {}, which was never spawned", hook, id));
  return false;
}

void Watch::take_front(std::uint64_t id, const char* what) {
  if (ready.empty() || ready.front() != id) {
    in_.fail(fmt::format("tracer: task {} {}, but task {} was first in the ready queue (FIFO)", id, what,
                         ready.empty() ? 0 : ready.front()));
    const auto it = std::find(ready.begin(), ready.end(), id);
    if (it != ready.end()) ready.erase(it);  // carry on with the model
    return;
  }
  ready.pop_front();
}

void Watch::event(int kind, std::uint64_t id) {
  mix(static_cast<std::uint64_t>(kind));
  mix(id);
  mix(static_cast<std::uint64_t>(since_start().count()));
}

void Watch::task_spawned(coop::TaskInfo t, const coop::TaskInfo* parent) {
  if (!have_t0_) {  // virtual time stands still until the loop first idles: this is its start
    t0_ = coop::now();
    have_t0_ = true;
  }
  const std::uint64_t id = t.id();
  event(1, id);
  if (id != tasks.size()) in_.fail(fmt::format("tracer: task ids go 1, 2, 3...; got {} after {}", id, spawned()));
  const std::uint64_t from = parent != nullptr ? parent->id() : 0;
  if (from != running) in_.fail(fmt::format("tracer: task {} spawned by {} while {} was running", id, from, running));
  tasks.resize(std::max<std::size_t>(tasks.size(), id + 1));
  ready.push_back(id);
}

void Watch::step_began(coop::TaskInfo t) {
  const std::uint64_t id = t.id();
  event(2, id);
  if (!valid(id, "step began")) return;
  if (running != 0) in_.fail(fmt::format("tracer: a step of task {} began inside a step of task {}", id, running));
  Task_& x = tasks[id];
  if (x.finished > 0) in_.fail(fmt::format("tracer: a step of task {} began after it finished", id));
  if (x.state == State::waiting) in_.fail(fmt::format("tracer: a step of task {} began while it was parked", id));
  take_front(id, "began a step");
  running = id;
  x.stepped = true;
}

void Watch::step_ended(coop::TaskInfo t) {
  const std::uint64_t id = t.id();
  event(3, id);
  if (id != running) in_.fail(fmt::format("tracer: the step of task {} ended, but task {} was running", id, running));
  running = 0;
}

void Watch::task_suspended(coop::TaskInfo t, coop::WaitInfo on) {
  const std::uint64_t id = t.id();
  event(4, id);
  mix(static_cast<std::uint64_t>(on.kind()));
  if (!valid(id, "suspended")) return;
  if (id != running) in_.fail(fmt::format("tracer: task {} suspended, but task {} was running", id, running));
  tasks[id].state = State::waiting;
  ++tasks[id].suspends;
}

void Watch::task_woken(coop::TaskInfo t) {
  const std::uint64_t id = t.id();
  event(5, id);
  if (!valid(id, "woken")) return;
  if (tasks[id].state != State::waiting) in_.fail(fmt::format("tracer: task {} woken while not parked", id));
  tasks[id].state = State::ready;
  ready.push_back(id);
}

void Watch::cancel_requested(coop::TaskInfo t) {
  const std::uint64_t id = t.id();
  event(6, id);
  if (!valid(id, "cancel requested")) return;
  if (tasks[id].finished > 0) in_.fail(fmt::format("tracer: cancel requested for task {} after it finished", id));
  ++tasks[id].cancels;
  if (id == 1 && !shutdown_seen) {
    shutdown_seen = true;
    for (std::uint64_t i = 1; i < tasks.size(); ++i)
      if (tasks[i].finished == 0) {
        live_at_shutdown.push_back(i);
        if (tasks[i].state != State::waiting) ready_at_shutdown.push_back(i);
      }
  }
}

void Watch::task_finished(coop::TaskInfo t, Outcome how) {
  const std::uint64_t id = t.id();
  event(7, id);
  mix(static_cast<std::uint64_t>(how));
  if (!valid(id, "finished")) return;
  Task_& x = tasks[id];
  if (++x.finished > 1) in_.fail(fmt::format("tracer: task {} finished {} times", id, x.finished));
  if (how == Outcome::pending) in_.fail(fmt::format("tracer: task {} finished 'pending'", id));
  // Cancelled before it started: the loop took it from the ready queue and ended it.
  if (!x.stepped && running == 0) take_front(id, "ended without running");
  x.outcome = how;
  x.state = State::done;
  x.finish_seq = ++finishes;
}

// ---- Interp -------------------------------------------------------------------------------

Interp::Interp(Choices& choices, const ProgramOptions& options) : choices_(choices), options_(options) {
  for (std::uint32_t i = 0; i < kEvents; ++i) events[i] = std::make_unique<Ev>(fmt::format("e{}", i));
  for (std::uint32_t i = 0; i < kLocks; ++i) locks[i] = std::make_unique<Lk>(fmt::format("l{}", i));
  for (std::uint32_t i = 0; i < kQueues; ++i) queues[i] = std::make_unique<Qu>(pick(4u));  // 0: unbounded
}

Op Interp::next_op(std::uint32_t r, int level) {
  Rec& rec = recs[r];
  // Main's top level is the trunk: it runs longest, and does not throw there itself (it
  // still may let a child's exception through), so most programs grow a real tree.
  const bool trunk = rec.mode == Mode::main && level == 0;
  if (rec.ops >= (trunk ? kMaxOpsMain : kMaxOpsPerBody) || ops_ >= kMaxOps) return Op::end;
  // Nested bodies (async_with's) are shorter; swallowing is for a task's top level only,
  // where "return at once" means the task ends.
  const auto weight = [&](std::size_t i) -> std::uint32_t {
    const Op op = static_cast<Op>(i);
    if ((op == Op::swallow || op == Op::stubborn) && level != 0) return 0;
    if (op == Op::raise && trunk) return 0;
    return kWeights[i];
  };
  const std::uint32_t end_weight = trunk ? (rec.ops < 8 ? 0 : 1) : level == 0 ? 2 : 6;
  std::uint32_t total = end_weight;
  for (std::size_t i = 1; i < kWeights.size(); ++i) total += weight(i);
  std::uint32_t x = pick(total);
  ++rec.ops;
  ++ops_;
  ++stats.operations;
  if (x < end_weight) return Op::end;
  x -= end_weight;
  for (std::size_t i = 1; i < kWeights.size(); ++i) {
    if (x < weight(i)) {
      mix(i);
      return static_cast<Op>(i);
    }
    x -= weight(i);
  }
  return Op::end;
}

std::uint32_t Interp::new_rec(std::uint32_t parent, Mode mode, bool bounded) {
  Rec rec;
  rec.id = static_cast<std::uint32_t>(recs.size());
  rec.parent = parent;
  rec.depth = recs[parent].depth + 1;
  rec.mode = mode;
  rec.bounded = bounded;
  recs.push_back(std::move(rec));
  ++bodies_;
  return recs.back().id;
}

std::string Interp::task_name(std::uint64_t id) const {
  if (id < meta.size() && meta[id].rec >= 0) {
    const Rec& rec = recs[static_cast<std::size_t>(meta[id].rec)];
    if (rec.mode == Mode::main) return "main";
    if (rec.mode == Mode::created) return fmt::format("t{}", rec.id);
  }
  return fmt::format("Task-{}", id);  // gather and wait_for name their children so
}

void Interp::body_started(std::uint32_t r) {
  Rec& rec = recs[r];
  if (rec.started) fail(fmt::format("body {} started twice", r));
  rec.started = true;
  if (watch.running != rec.task)
    fail(fmt::format("body {} (task {}) started inside task {}", r, rec.task, watch.running));
  if (rec.cancelled_at_birth) fail(fmt::format("{} was cancelled before it started, yet its body ran", rec_name(r)));
  SAY(*this, r, "start (task {}, {}{})", rec.task, rec.bounded ? "bounded" : "unbounded",
      rec.mode == Mode::created ? "" : rec.mode == Mode::gather_child ? ", gather child" : rec.mode == Mode::waitfor_child ? ", wait_for child" : "");
}

void Interp::body_ended(std::uint32_t r, End how, int value, std::uint32_t boom) {
  Rec& rec = recs[r];
  if (rec.end != End::none) fail(fmt::format("body {} ended twice", r));
  rec.end = how;
  rec.value = value;
  rec.boom = boom;
  mix(static_cast<std::uint64_t>(how) * 31 + static_cast<std::uint64_t>(value));
  SAY(*this, r, "{}", how == End::returned ? fmt::format("return {}", value)
               : how == End::failed  ? fmt::format("end: failed with boom #{}", boom)
                                     : std::string("end: cancelled"));
}

// A get() parks only on an empty queue, a put() only on a full one, and room or an item
// that appears goes to them at once: so a parked getter means empty, a parked putter full.
void Interp::check_queue(std::uint32_t qi) {
  Qu& q = *queues[qi];
  for (const auto& [item, task] : q.putters)
    if (q.items[item] == Item::putting && watch.tasks[task].state == Watch::State::waiting && !q.q.full())
      fail(fmt::format("queue q{} has room ({} of {}), yet a put() of item {} waits", qi, q.q.size(), q.q.maxsize(), item));
  for (std::uint64_t task : q.getters)
    if (watch.tasks[task].state == Watch::State::waiting && !q.q.empty())
      fail(fmt::format("queue q{} holds {} items, yet a get() waits", qi, q.q.size()));
}

void Interp::fail(const std::string& what) {
  if (failures_++ > 0) return;  // the first violation is the one to chase
  failure_ = what;
  if (options_.verbose) fmt::print("VIOLATION: {}\n", what);
}

// ---- 3. the operations ----------------------------------------------------------------------

// An awaited operation's outcome, caught and classified so that the checks can run before
// it is passed on (C++ forbids co_await in a catch block, and the checks need none, but the
// classification keeps every operation's tail in one shape).
enum class Kind : std::uint8_t { value, boom, timeout, cancelled };
template <class T>
struct Settled {
  Kind kind = Kind::value;
  T value{};
  std::uint32_t boom = 0;
  std::exception_ptr error;  // what to rethrow, for boom and cancelled
};

template <class T>
Task<Settled<T>> settle(Interp& in, Task<T> job) {
  FrameGuard guard(in);
  Settled<T> s;
  try {
    s.value = co_await std::move(job);
  } catch (const coop::TimeoutError&) {
    s.kind = Kind::timeout;
  } catch (const Boom& b) {
    s.kind = Kind::boom;
    s.boom = b.id;
    s.error = std::current_exception();
  } catch (const coop::CancelledError&) {
    s.kind = Kind::cancelled;
    s.error = std::current_exception();
  }
  co_return s;  // anything else (UsageError...) goes on: the body reports it
}

// Passes the outcome on: rethrows a cancellation always, a Boom unless the operation chose
// to catch it (it is then retrieved, and dropped).
template <class T>
void pass_on(const Settled<T>& s, bool catch_boom) {
  if (s.kind == Kind::cancelled || (s.kind == Kind::boom && !catch_boom)) std::rethrow_exception(s.error);
}


struct Res;
Task<int> main_ending(Interp& in);
Task<int> run_ops(Interp& in, std::uint32_t r, int level, Res* res, Token token);

// A task body: the root coroutine of every task the program makes (run_ops at level 0; not
// a coroutine itself, so that it adds no frame an exception must cross).
Task<int> body(Interp& in, std::uint32_t r) { return run_ops(in, r, 0, nullptr, Token(in, r)); }

Task<int> op_sleep(Interp& in, std::uint32_t r) {
  FrameGuard guard(in);
  const Clock::duration d = in.pick_duration();
  SAY(in, r, "sleep {}", ms(d));
  const Clock::time_point before = coop::now();
  const std::pair<Clock::time_point, std::uint64_t> timer{before + d, ++in.sleeps_set};
  if (d > Clock::duration::zero()) in.sleeping.insert(timer);
  try {
    co_await coop::sleep(d);
  } catch (...) {
    in.sleeping.erase(timer);
    throw;
  }
  if (d > Clock::duration::zero()) {
    if (*in.sleeping.begin() != timer)
      in.fail(fmt::format("{}: sleep({}) returned before a sleep due {} earlier (or set earlier for the same time)",
                          in.rec_name(r), ms(d), ms(timer.first - in.sleeping.begin()->first)));
    in.sleeping.erase(timer);
  }
  const Clock::duration took = coop::now() - before;
  if (took != std::max(d, Clock::duration::zero()))
    in.fail(fmt::format("{}: sleep({}) took {} of virtual time", in.rec_name(r), ms(d), ms(took)));
  co_return 1;
}

// create_task a child; keep its handle or drop it; maybe cancel it before it can start.
void start_child(Interp& in, std::uint32_t r, bool keep, bool bounded, bool cancel_at_birth) {
  if (!in.can_start_bodies(r, 1)) return;
  const std::uint32_t c = in.new_rec(r, Mode::created, bounded);
  TaskHandle<int> h = coop::create_task(body(in, c), fmt::format("t{}", c));
  in.bind(c, h.id());
  SAY(in, r, "create_task t{} (task {}){}{}", c, h.id(), keep ? ", keep the handle" : ", drop the handle",
         cancel_at_birth ? ", cancel it at once" : "");
  if (cancel_at_birth) {
    if (!h.cancel()) in.fail(fmt::format("cancel() of t{} right after create_task returned false", c));
    in.recs[c].cancelled_at_birth = true;
    in.recs[c].cancel_requested = true;
    ++in.stats.cancel_calls;
  }
  if (keep) {
    in.recs[c].handle = static_cast<int>(in.registry.size());
    in.registry.push_back(h);
    in.recs[r].kept.push_back(c);
  }
}

int op_spawn(Interp& in, std::uint32_t r) {
  const bool keep = in.pick(4u) != 0;
  const bool bounded = in.pick(2u) == 0;
  const bool cancel_at_birth = in.pick(8u) == 0;
  start_child(in, r, keep, bounded, cancel_at_birth);
  return 0;
}

// `co_await handle`, and what it must yield: the child's value, or its exception (which
// this retrieves). A CancelledError passes through unchecked: it may be the child's, or the
// awaiting task's own.
Task<int> join(Interp& in, TaskHandle<int> h, std::uint32_t c) {
  FrameGuard guard(in);
  try {
    const int v = co_await h;
    const Rec& child = in.recs[c];
    if (child.end != End::returned || v != child.value)
      in.fail(fmt::format("awaiting t{} yielded {}, but its body ended {} with {}", c, v,
                          to_string(child.end), child.value));
    co_return v;
  } catch (const Boom& b) {
    in.meta_of(h.id()).retrieved = true;
    const Rec& child = in.recs[c];
    if (child.end != End::failed || child.boom != b.id)
      in.fail(fmt::format("awaiting t{} threw boom #{}, but its body ended {} (boom #{})", c, b.id,
                          to_string(child.end), child.boom));
    throw;
  }
}

// Await one of our kept children: bare, or under wait_for. `which` < 0: pick one.
Task<int> op_await_child(Interp& in, std::uint32_t r, std::int64_t which, bool force_wrap) {
  FrameGuard guard(in);
  Rec& me = in.recs[r];
  // Usually one of our own children; sometimes any task whose handle was kept (a sibling, a
  // parent...), which several tasks may then await at once.
  const bool anyone = which < 0 && in.pick(3u) == 2;
  std::uint32_t c = 0;
  if (which >= 0) {
    c = static_cast<std::uint32_t>(which);
  } else if (anyone) {
    if (in.registry.empty()) co_return 0;
    c = static_cast<std::uint32_t>(in.meta_of(in.registry[in.pick_index(in.registry.size())].id()).rec);
    if (c == r) co_return 0;  // awaiting its own handle is a UsageError (test_create_task.cpp)
  } else {
    if (me.kept.empty()) co_return 0;
    c = me.kept[in.pick_index(me.kept.size())];
  }
  const Rec& child = in.recs[c];
  // A bounded task may wait bare only for a bounded child of its own (the tree has no
  // cycles; two tasks awaiting each other's handles would wait forever).
  const bool bare = !force_wrap && (!me.bounded || (child.bounded && !anyone)) && in.pick(2u) == 0;
  const bool catch_boom = in.pick_catch(r);
  Clock::duration timeout{};
  Task<int> job = join(in, in.registry[static_cast<std::size_t>(child.handle)], c);
  if (!bare) {
    timeout = in.pick_timeout();
    in.expect_helper();
    job = coop::wait_for(std::move(job), timeout);
  }
  SAY(in, r, "await t{}{}", c, bare ? std::string() : fmt::format(" under wait_for({})", ms(timeout)));
  const Clock::time_point t0 = coop::now();
  Task<Settled<int>> settling = settle(in, std::move(job));
  Settled<int> s = co_await std::move(settling);
  const Clock::duration took = coop::now() - t0;
  if (s.kind == Kind::timeout) {
    ++in.stats.timeouts;
    if (bare) in.fail(fmt::format("{}: a bare await of t{} threw TimeoutError", in.rec_name(r), c));
    if (took < timeout) in.fail(fmt::format("{}: wait_for({}) timed out after {}", in.rec_name(r), ms(timeout), ms(took)));
  }
  if (s.kind == Kind::value && !bare && took > timeout)
    in.fail(fmt::format("{}: wait_for({}) returned a value after {}", in.rec_name(r), ms(timeout), ms(took)));
  SAY(in, r, "await t{}: {}", c, s.kind == Kind::value ? fmt::format("{}", s.value) : s.kind == Kind::boom ? fmt::format("boom #{}", s.boom) : s.kind == Kind::timeout ? "timeout" : "cancelled");
  pass_on(s, catch_boom);
  co_return s.value % 7;
}

Task<std::vector<int>> pair_as_vector(Interp& in, Task<std::tuple<int, int>> pair) {
  FrameGuard guard(in);
  const std::tuple<int, int> p = co_await std::move(pair);
  co_return std::vector<int>{std::get<0>(p), std::get<1>(p)};
}

Task<void> discard(Interp& in, Task<int> job) {
  FrameGuard guard(in);
  (void)co_await std::move(job);
}

// A gather of Task<void>s returns nothing; stand in the values its children returned, so
// that the checks below stay the same.
Task<std::vector<int>> void_gathered(Interp& in, Task<void> all, std::vector<std::uint32_t> kids) {
  FrameGuard guard(in);
  co_await std::move(all);
  std::vector<int> values;
  for (std::uint32_t c : kids) values.push_back(in.recs[c].value);
  co_return values;
}

// The first of `kids` to end other than by returning, in the order they finished: the one
// whose failure a gather rethrows.
std::optional<std::uint32_t> first_failure(const Interp& in, const std::vector<std::uint32_t>& kids) {
  std::optional<std::uint32_t> first;
  for (std::uint32_t c : kids) {
    const Watch::Task_& t = in.watch.tasks[in.recs[c].task];
    if (t.outcome == Outcome::returned) continue;
    if (!first || t.finish_seq < in.watch.tasks[in.recs[*first].task].finish_seq) first = c;
  }
  return first;
}

// gather 1..3 new children: the vector form, or the two-argument (tuple) form.
Task<int> op_gather(Interp& in, std::uint32_t r) {
  FrameGuard guard(in);
  const std::uint32_t k = 1 + in.pick(3u);
  // The vector form, the vector-of-Task<void> form (gather returns nothing), or the
  // two-argument form (a tuple): each is its own template.
  const std::uint32_t form = in.pick(k == 2 ? 3u : 2u);
  const bool catch_boom = in.pick_catch(r);
  const bool bounded = in.recs[r].bounded || in.pick(2u) == 0;  // gather waits for them all
  if (!in.can_start_bodies(r, k)) co_return 0;
  std::vector<std::uint32_t> kids;
  std::vector<Task<int>> tasks;
  const std::uint64_t base = in.watch.spawned();  // gather spawns them next, in order
  for (std::uint32_t i = 0; i < k; ++i) {
    const std::uint32_t c = in.new_rec(r, Mode::gather_child, bounded);
    in.bind(c, base + 1 + i);
    kids.push_back(c);
    tasks.push_back(body(in, c));
  }
  SAY(in, r, "gather of {} (bodies {}..{}, {} form)", k, kids.front(), kids.back(),
      form == 0 ? "vector" : form == 1 ? "void vector" : "tuple");
  Task<std::vector<int>> all;
  if (form == 0) {
    all = coop::gather(std::move(tasks));
  } else if (form == 1) {
    std::vector<Task<void>> voids;
    for (Task<int>& t : tasks) voids.push_back(discard(in, std::move(t)));
    all = void_gathered(in, coop::gather(std::move(voids)), kids);
  } else {
    all = pair_as_vector(in, coop::gather(std::move(tasks[0]), std::move(tasks[1])));
  }
  Task<Settled<std::vector<int>>> settling = settle(in, std::move(all));
  Settled<std::vector<int>> s = co_await std::move(settling);

  const std::string who = in.rec_name(r);
  for (std::uint32_t c : kids)
    if (!in.watch.finished(in.recs[c].task))
      in.fail(fmt::format("{}: gather ended while its child body {} was still running", who, c));
  const std::optional<std::uint32_t> first = first_failure(in, kids);
  int sum = 0;
  switch (s.kind) {
    case Kind::value:
      if (s.value.size() != k) in.fail(fmt::format("{}: gather of {} returned {} values", who, k, s.value.size()));
      for (std::size_t i = 0; i < kids.size() && i < s.value.size(); ++i) {
        const Rec& c = in.recs[kids[i]];
        if (in.watch.outcome(c.task) != Outcome::returned || c.value != s.value[i])
          in.fail(fmt::format("{}: gather's value #{} is {}, but body {} ended {} with {}", who, i, s.value[i], c.id,
                              coop::to_string(in.watch.outcome(c.task)), c.value));
        sum += s.value[i];
      }
      break;
    case Kind::boom:
      if (!first || in.watch.outcome(in.recs[*first].task) != Outcome::failed || in.recs[*first].boom != s.boom)
        in.fail(fmt::format("{}: gather threw boom #{}, which is not the first failure of its children", who, s.boom));
      break;
    case Kind::cancelled:
      if (in.cancels_of(r) == 0 && (!first || in.watch.outcome(in.recs[*first].task) != Outcome::cancelled))
        in.fail(fmt::format("{}: gather threw CancelledError, but neither it nor its first failing child was cancelled", who));
      break;
    case Kind::timeout:
      in.fail(fmt::format("{}: gather threw TimeoutError", who));
      break;
  }
  SAY(in, r, "gather: {}", s.kind == Kind::value ? fmt::format("{}", fmt::join(s.value, ", ")) : s.kind == Kind::boom ? fmt::format("boom #{}", s.boom) : "cancelled");
  pass_on(s, catch_boom);
  co_return sum % 7;
}

// gather() of tasks already running: the handles gather takes share them, the values it
// returns are copies. `*began` says when it started, as the tracer's count of finished tasks.
Task<std::vector<int>> gather_handles(Interp& in, std::vector<TaskHandle<int>> hs, bool tuple_form,
                                      std::optional<std::uint64_t>* began) {
  FrameGuard guard(in);
  *began = in.watch.finishes;
  if (tuple_form) {
    Task<std::tuple<int, int>> pair = coop::gather(hs[0], hs[1]);
    const std::tuple<int, int> p = co_await std::move(pair);
    co_return std::vector<int>{std::get<0>(p), std::get<1>(p)};
  }
  Task<std::vector<int>> all = coop::gather(std::move(hs));
  co_return co_await std::move(all);
}

// gather kept handles (repeats allowed), bare or under wait_for. Children already finished
// are looked at in argument order when the gather starts; the rest in the order they end.
// On the first failure gather cancels the others, although other tasks own them.
Task<int> op_gather_handles(Interp& in, std::uint32_t r) {
  FrameGuard guard(in);
  Rec& me = in.recs[r];
  if (me.kept.empty()) co_return 0;
  const std::uint32_t k = 1 + in.pick(3u);
  std::vector<std::uint32_t> kids;
  std::vector<TaskHandle<int>> hs;
  bool all_bounded = true;
  for (std::uint32_t i = 0; i < k; ++i) {
    kids.push_back(me.kept[in.pick_index(me.kept.size())]);
    hs.push_back(in.registry[static_cast<std::size_t>(in.recs[kids.back()].handle)]);
    all_bounded = all_bounded && in.recs[kids.back()].bounded;
  }
  const bool tuple_form = k == 2 && in.pick(2u) == 0;
  const bool catch_boom = in.pick_catch(r);
  const bool bare = (!me.bounded || all_bounded) && in.pick(2u) == 0;
  std::optional<std::uint64_t> began;  // set by gather_handles when it starts
  Task<std::vector<int>> job = gather_handles(in, std::move(hs), tuple_form, &began);
  Clock::duration timeout{};
  if (!bare) {
    timeout = in.pick_timeout();
    in.expect_helper();
    job = coop::wait_for(std::move(job), timeout);
  }
  SAY(in, r, "gather the handles of t{}{}", fmt::join(kids, ", t"), bare ? std::string() : fmt::format(" under wait_for({})", ms(timeout)));
  const Clock::time_point t0 = coop::now();
  Task<Settled<std::vector<int>>> settling = settle(in, std::move(job));
  Settled<std::vector<int>> s = co_await std::move(settling);
  const Clock::duration took = coop::now() - t0;

  const std::string who = in.rec_name(r);
  const bool ran = began.has_value();  // under wait_for(0) it may never start
  if (bare && !ran) in.fail(fmt::format("{}: a bare gather of handles never started", who));
  std::optional<std::uint32_t> first;
  if (ran) {
    for (std::uint32_t c : kids) {
      const Watch::Task_& t = in.watch.tasks[in.recs[c].task];
      in.meta_of(in.recs[c].task).retrieved = true;  // the gather looked at each
      if (t.finished == 0 && s.kind != Kind::timeout)
        in.fail(fmt::format("{}: gather of handles ended while t{} was still running", who, c));
    }
    for (std::uint32_t c : kids) {  // finished before the gather began: argument order
      const Watch::Task_& t = in.watch.tasks[in.recs[c].task];
      if (t.finished > 0 && t.finish_seq <= *began && t.outcome != Outcome::returned) {
        first = c;
        break;
      }
    }
    if (!first) {  // else: the first to fail afterwards
      for (std::uint32_t c : kids) {
        const Watch::Task_& t = in.watch.tasks[in.recs[c].task];
        if (t.finished == 0 || t.outcome == Outcome::returned) continue;
        if (!first || t.finish_seq < in.watch.tasks[in.recs[*first].task].finish_seq) first = c;
      }
    }
  }
  switch (s.kind) {
    case Kind::value:
      if (!bare && took > timeout) in.fail(fmt::format("{}: wait_for({}) returned a value after {}", who, ms(timeout), ms(took)));
      for (std::size_t i = 0; i < kids.size() && i < s.value.size(); ++i) {
        const Rec& c = in.recs[kids[i]];
        if (in.watch.outcome(c.task) != Outcome::returned || c.value != s.value[i])
          in.fail(fmt::format("{}: gather's value #{} is {}, but t{} ended {} with {}", who, i, s.value[i], c.id,
                              coop::to_string(in.watch.outcome(c.task)), c.value));
      }
      if (s.value.size() != k) in.fail(fmt::format("{}: gather of {} handles returned {} values", who, k, s.value.size()));
      break;
    case Kind::boom:
      if (!first || in.watch.outcome(in.recs[*first].task) != Outcome::failed || in.recs[*first].boom != s.boom)
        in.fail(fmt::format("{}: gather of handles threw boom #{}, which is not the first failure of its children", who, s.boom));
      break;
    case Kind::cancelled:
      if (in.cancels_of(r) == 0 && (!first || in.watch.outcome(in.recs[*first].task) != Outcome::cancelled))
        in.fail(fmt::format("{}: gather of handles threw CancelledError, but neither it nor its first failing child was cancelled", who));
      break;
    case Kind::timeout:
      ++in.stats.timeouts;
      if (bare) in.fail(fmt::format("{}: a bare gather of handles threw TimeoutError", who));
      if (took < timeout) in.fail(fmt::format("{}: wait_for({}) timed out after {}", who, ms(timeout), ms(took)));
      break;
  }
  SAY(in, r, "gather of handles: {}", s.kind == Kind::value ? fmt::format("{}", fmt::join(s.value, ", ")) : s.kind == Kind::boom ? fmt::format("boom #{}", s.boom) : s.kind == Kind::timeout ? "timeout" : "cancelled");
  pass_on(s, catch_boom);
  co_return 1;
}

// wait_for a new child body with a timeout.
Task<int> op_wait_for(Interp& in, std::uint32_t r) {
  FrameGuard guard(in);
  const bool bounded = in.pick(2u) == 0;  // the timeout bounds it anyway
  const Clock::duration timeout = in.pick_timeout();
  const bool catch_boom = in.pick_catch(r);
  if (!in.can_start_bodies(r, 1)) co_return 0;
  const std::uint32_t c = in.new_rec(r, Mode::waitfor_child, bounded);
  in.bind(c, in.watch.spawned() + 1);
  SAY(in, r, "wait_for(body {}, {})", c, ms(timeout));
  Task<int> job = coop::wait_for(body(in, c), timeout);
  const Clock::time_point t0 = coop::now();
  Task<Settled<int>> settling = settle(in, std::move(job));
  Settled<int> s = co_await std::move(settling);
  const Clock::duration took = coop::now() - t0;

  const std::string who = in.rec_name(r);
  const Rec& child = in.recs[c];
  const Outcome o = in.watch.outcome(child.task);
  if (!in.watch.finished(child.task))
    in.fail(fmt::format("{}: wait_for ended while its child body {} was still running", who, c));
  switch (s.kind) {
    case Kind::value:
      if (o != Outcome::returned || s.value != child.value)
        in.fail(fmt::format("{}: wait_for returned {}, but body {} ended {} with {}", who, s.value, c, coop::to_string(o), child.value));
      // A child that swallowed the timeout's cancellation returns late, and wait_for
      // returns its value (wait_for.hpp).
      if (took > timeout && !child.swallowed)
        in.fail(fmt::format("{}: wait_for({}) returned a value after {}", who, ms(timeout), ms(took)));
      break;
    case Kind::timeout:
      ++in.stats.timeouts;
      if (took < timeout) in.fail(fmt::format("{}: wait_for({}) timed out after {}", who, ms(timeout), ms(took)));
      if (o != Outcome::cancelled) in.fail(fmt::format("{}: wait_for timed out, but its child ended {}", who, coop::to_string(o)));
      break;
    case Kind::boom:
      if (o != Outcome::failed || child.boom != s.boom)
        in.fail(fmt::format("{}: wait_for threw boom #{}, but body {} ended {} (boom #{})", who, s.boom, c, coop::to_string(o), child.boom));
      break;
    case Kind::cancelled:
      if (in.cancels_of(r) == 0 && o != Outcome::cancelled)
        in.fail(fmt::format("{}: wait_for threw CancelledError, but neither it nor its child was cancelled", who));
      break;
  }
  SAY(in, r, "wait_for: {}", s.kind == Kind::value ? fmt::format("{}", s.value) : s.kind == Kind::boom ? fmt::format("boom #{}", s.boom) : s.kind == Kind::timeout ? "timeout" : "cancelled");
  pass_on(s, catch_boom);
  co_return s.value % 7;
}

// cancel() some task that has a handle: whatever state it is in right now.
int op_cancel_other(Interp& in, std::uint32_t r) {
  if (in.registry.empty()) return 0;
  TaskHandle<int> h = in.registry[in.pick_index(in.registry.size())];
  const bool was_done = in.watch.finished(h.id());
  const bool ok = h.cancel();
  SAY(in, r, "cancel {} -> {}", h.name(), ok);
  if (ok == was_done)
    in.fail(fmt::format("{}: cancel() of {} returned {} although it had{} finished", in.rec_name(r), h.name(), ok,
                        was_done ? "" : " not"));
  if (ok) {
    in.recs[static_cast<std::size_t>(in.meta_of(h.id()).rec)].cancel_requested = true;
    ++in.stats.cancel_calls;
  }
  return 0;
}

// Cancel ourselves while running: the CancelledError must come at the next co_await that
// suspends (a sleep always does), and it is let through.
Task<int> op_cancel_self(Interp& in, std::uint32_t r) {
  FrameGuard guard(in);
  Rec& me = in.recs[r];
  if (me.handle < 0) co_return 0;  // only created tasks have a handle to cancel themselves by
  const Clock::duration d = in.pick_duration();
  TaskHandle<int> h = in.registry[static_cast<std::size_t>(me.handle)];
  SAY(in, r, "cancel self, then sleep {}", ms(d));
  if (!h.cancel()) in.fail(fmt::format("{}: cancel() of itself, while running, returned false", in.rec_name(r)));
  me.cancel_requested = true;
  ++in.stats.cancel_calls;
  std::exception_ptr delivered;
  try {
    co_await coop::sleep(d);
  } catch (const coop::CancelledError&) {
    delivered = std::current_exception();
  }
  if (!delivered) {
    in.fail(fmt::format("{}: cancelled itself, and the next co_await (sleep {}) returned normally", in.rec_name(r), ms(d)));
    co_return 0;
  }
  std::rethrow_exception(delivered);
}

// Await `job` bare, or under wait_for when `bare` is false: how every wait on an Event, a
// Lock or a Queue is done.
Task<int> waiting(Interp& in, std::uint32_t r, Task<int> job, bool bare, std::string what) {
  FrameGuard guard(in);
  Clock::duration timeout{};
  if (!bare) {
    timeout = in.pick_timeout();
    in.expect_helper();
    job = coop::wait_for(std::move(job), timeout);
  }
  SAY(in, r, "{}{}", what, bare ? std::string() : fmt::format(" under wait_for({})", ms(timeout)));
  Task<Settled<int>> settling = settle(in, std::move(job));
  Settled<int> s = co_await std::move(settling);
  if (s.kind == Kind::timeout) {
    ++in.stats.timeouts;
    if (bare) in.fail(fmt::format("{}: a bare {} threw TimeoutError", in.rec_name(r), what));
  }
  if (s.kind == Kind::boom) in.fail(fmt::format("{}: {} threw boom #{}", in.rec_name(r), what, s.boom));
  SAY(in, r, "{}: {}", what, s.kind == Kind::value ? "done" : s.kind == Kind::timeout ? "timeout" : "cancelled");
  pass_on(s, false);
  co_return s.value;
}

Task<int> event_wait(Interp& in, std::uint32_t e) {
  FrameGuard guard(in);
  Ev& ev = *in.events[e];
  const bool was_set = ev.e.is_set();
  const std::uint64_t sets = ev.sets;
  const std::uint64_t suspends = in.suspends_of_running();
  co_await ev.e.wait();
  if (!was_set && ev.sets == sets) in.fail(fmt::format("a wait on Event 'e{}' returned, but nobody set it", e));
  if (was_set && in.suspends_of_running() != suspends) in.fail(fmt::format("a wait on Event 'e{}', which was set, suspended", e));
  co_return 1;
}

// (Not a coroutine: it returns the wait itself, one frame fewer for exceptions to cross.)
Task<int> op_event_wait(Interp& in, std::uint32_t r) {
  const std::uint32_t e = in.pick(kEvents);
  const bool bare = !in.recs[r].bounded && in.pick(2u) == 0;  // nobody may ever set it
  return waiting(in, r, event_wait(in, e), bare, fmt::format("wait on e{}", e));
}

int op_event_set(Interp& in, std::uint32_t r) {
  const std::uint32_t e = in.pick(kEvents);
  SAY(in, r, "set e{}", e);
  ++in.events[e]->sets;
  in.events[e]->e.set();
  if (!in.events[e]->e.is_set()) in.fail(fmt::format("Event 'e{}': is_set() is false right after set()", e));
  return 0;
}

int op_event_clear(Interp& in, std::uint32_t r) {
  const std::uint32_t e = in.pick(kEvents);
  SAY(in, r, "clear e{}", e);
  in.events[e]->e.clear();
  if (in.events[e]->e.is_set()) in.fail(fmt::format("Event 'e{}': is_set() is true right after clear()", e));
  return 0;
}

// Held while a lock is: counts its holders (at most one, ever).
class Holding {
 public:
  Holding(Interp& in, std::uint32_t li) : in_(in), lk_(*in.locks[li]) {
    if (++lk_.holders != 1) in_.fail(fmt::format("Lock 'l{}' has {} holders at once", li, lk_.holders));
    if (!lk_.lock.locked()) in_.fail(fmt::format("Lock 'l{}' is held, yet locked() is false", li));
  }
  Holding(const Holding&) = delete;
  Holding& operator=(const Holding&) = delete;
  ~Holding() { --lk_.holders; }

 private:
  Interp& in_;
  Lk& lk_;
};

Task<int> hold_lock(Interp& in, std::uint32_t li, Clock::duration hold) {
  FrameGuard guard(in);
  Holding holding(in, li);
  co_await coop::sleep(hold);
  co_return 1;
}

// A lock as an async_with resource: aenter acquires (and may wait), aexit releases.
struct LockRes {
  Interp* in;
  std::uint32_t li;
  coop::Lock::Guard held;
  Task<void> aenter() {
    FrameGuard guard(*in);
    held = co_await in->locks[li]->lock.lock();
    ++in->enters;
  }
  Task<void> aexit(std::exception_ptr) {
    FrameGuard guard(*in);
    ++in->exits_started;
    held.unlock();
    ++in->exits_done;
    co_return;
  }
};
struct HoldBody {
  Interp* in;
  std::uint32_t li;
  Clock::duration hold;
  Task<int> operator()(LockRes&) const { return hold_lock(*in, li, hold); }
};

// Hold a lock across a sleep, through its own Guard or through async_with. A holder only
// ever sleeps, so every wait for a lock ends.
Task<int> lock_section(Interp& in, std::uint32_t li, Clock::duration hold, bool via_with) {
  FrameGuard guard(in);
  if (via_with) {
    LockRes res{&in, li, {}};
    HoldBody hb{&in, li, hold};
    Task<int> t = coop::async_with(res, hb);
    const int v = co_await std::move(t);
    co_return v;
  }
  const bool was_free = !in.locks[li]->lock.locked();
  const std::uint64_t suspends = in.suspends_of_running();
  coop::Lock::Guard held = co_await in.locks[li]->lock.lock();
  if (was_free && in.suspends_of_running() != suspends) in.fail(fmt::format("taking Lock 'l{}', which was free, suspended", li));
  if (!held.owns_lock()) in.fail(fmt::format("lock() of 'l{}' gave a Guard that does not own it", li));
  Holding holding(in, li);
  co_await coop::sleep(hold);
  co_return 1;
}

Task<int> op_lock(Interp& in, std::uint32_t r) {
  const std::uint32_t li = in.pick(kLocks);
  const Clock::duration hold = in.pick_duration();
  const bool via_with = in.pick(2u) == 0;
  const bool bare = in.pick(2u) == 0;
  std::string what = fmt::format("hold l{} for {}{}", li, ms(hold), via_with ? " (async_with)" : "");
  return waiting(in, r, lock_section(in, li, hold, via_with), bare, std::move(what));
}

// put() items one after the other; each may wait while the queue is full.
Task<int> queue_put(Interp& in, std::uint32_t qi, std::vector<int> items) {
  FrameGuard guard(in);
  Qu& q = *in.queues[qi];
  for (int item : items) {
    auto [it, fresh] = q.items.emplace(item, Item::putting);
    if (!fresh) in.fail(fmt::format("queue q{}: item {} put twice", qi, item));
    q.putters[item] = in.watch.running;
    in.check_queue(qi);
    // Room, or a getter waiting for an item: the put must not suspend.
    const bool can_go = !q.q.full() || std::any_of(q.getters.begin(), q.getters.end(), [&](std::uint64_t t) {
      return in.watch.tasks[t].state == Watch::State::waiting;
    });
    const std::uint64_t suspends = in.suspends_of_running();
    try {
      co_await q.q.put(item);
    } catch (...) {
      // A put that did not complete added nothing (queue.hpp): nobody may have taken it.
      q.putters.erase(item);
      if (q.items[item] != Item::putting) in.fail(fmt::format("queue q{}: item {} was taken, yet its put() failed", qi, item));
      q.items.erase(item);
      throw;
    }
    q.putters.erase(item);
    if (can_go && in.suspends_of_running() != suspends) in.fail(fmt::format("queue q{}: put({}) suspended although it could go", qi, item));
    Item& state = q.items[item];
    if (state == Item::putting) state = Item::entered;
    else if (state == Item::taken_early) state = Item::taken;  // admitted, and taken before we ran
    else in.fail(fmt::format("queue q{}: item {} in a bad state after put()", qi, item));
    if (q.q.maxsize() != 0 && q.q.size() > q.q.maxsize())
      in.fail(fmt::format("queue q{} holds {} items, maxsize {}", qi, q.q.size(), q.q.maxsize()));
    in.check_queue(qi);
  }
  co_return 1;
}

// get() `n` items one after the other; each may wait while the queue is empty.
Task<int> queue_get(Interp& in, std::uint32_t qi, std::uint32_t consumer, int n) {
  FrameGuard guard(in);
  Qu& q = *in.queues[qi];
  int sum = 0;
  for (int i = 0; i < n; ++i) {
    in.check_queue(qi);
    const std::uint64_t me = in.watch.running;
    const bool has_item = !q.q.empty();
    const std::uint64_t suspends = in.suspends_of_running();
    q.getters.insert(me);
    int item = 0;
    try {
      item = co_await q.q.get();
    } catch (...) {
      q.getters.erase(q.getters.find(me));
      throw;
    }
    q.getters.erase(q.getters.find(me));
    if (has_item && in.suspends_of_running() != suspends) in.fail(fmt::format("queue q{}: get() suspended although it held items", qi));
    auto it = q.items.find(item);
    if (it == q.items.end()) {
      in.fail(fmt::format("queue q{}: got item {}, which nobody put", qi, item));
    } else if (it->second == Item::putting) {
      it->second = Item::taken_early;  // its put() completes when its putter runs
    } else if (it->second == Item::entered) {
      it->second = Item::taken;
    } else {
      in.fail(fmt::format("queue q{}: item {} taken twice", qi, item));
    }
    // Items of one producer enter in put order; one consumer takes items in queue order.
    const std::uint32_t producer = static_cast<std::uint32_t>(item / 100000);
    const int seq = item % 100000;
    int& last = q.last[{consumer, producer}];
    if (seq <= last)
      in.fail(fmt::format("queue q{}: body {} got item {} after item {} of the same producer", qi, consumer, item,
                          producer * 100000 + last));
    last = seq;
    sum += item % 7;
    in.check_queue(qi);
  }
  co_return sum;
}

Task<int> op_queue_put(Interp& in, std::uint32_t r) {
  const std::uint32_t qi = in.pick(kQueues);
  // A full queue may never drain: a bounded task puts under wait_for (or on an unbounded one).
  const bool bare = (!in.recs[r].bounded || in.queues[qi]->q.maxsize() == 0) && in.pick(2u) == 0;
  std::vector<int> items(1 + in.pick(3u));
  for (int& item : items) item = static_cast<int>(r) * 100000 + ++in.recs[r].puts;
  std::string what = fmt::format("put {} on q{}", fmt::join(items, ", "), qi);
  return waiting(in, r, queue_put(in, qi, std::move(items)), bare, std::move(what));
}

Task<int> op_queue_get(Interp& in, std::uint32_t r) {
  const std::uint32_t qi = in.pick(kQueues);
  const bool bare = !in.recs[r].bounded && in.pick(2u) == 0;
  const int n = 1 + static_cast<int>(in.pick(3u));
  return waiting(in, r, queue_get(in, qi, r, n), bare, fmt::format("get {} from q{}", n, qi));
}

// An async context manager whose aenter and aexit await, and may throw.
struct Res {
  Interp* in;
  std::uint32_t r;
  bool fail_enter;
  bool fail_exit;
  Clock::duration enter_for;
  Clock::duration exit_for;
  bool spawn_on_exit;
  // What happened, for the checks after async_with.
  bool entered = false;
  bool exit_started = false;
  bool exit_done = false;
  bool exit_interrupted = false;
  std::uint32_t enter_boom = 0, exit_boom = 0;
  End body_end = End::none;
  std::uint32_t body_boom = 0;
  int body_value = 0;

  Task<void> aenter();
  Task<void> aexit(std::exception_ptr error);
};

Task<void> Res::aenter() {
  FrameGuard guard(*in);
  co_await coop::sleep(enter_for);
  if (fail_enter) {
    Boom b = in->make_boom(r);
    enter_boom = b.id;
    throw b;
  }
  entered = true;
  ++in->enters;
}

Task<void> Res::aexit(std::exception_ptr error) {
  FrameGuard guard(*in);
  if (!entered) in->fail(fmt::format("{}: aexit ran although aenter did not succeed", in->rec_name(r)));
  if (exit_started) in->fail(fmt::format("{}: aexit ran twice", in->rec_name(r)));
  exit_started = true;
  ++in->exits_started;
  // async_with hands aexit how the body ended: null when it returned, else its exception.
  bool cancelled = false;
  std::uint32_t boom = 0;
  if (error) {
    try {
      std::rethrow_exception(error);
    } catch (const coop::CancelledError&) {
      cancelled = true;
    } catch (const Boom& b) {
      boom = b.id;
    } catch (...) {
    }
  }
  const bool agrees = body_end == End::returned ? !error
                      : body_end == End::failed ? boom != 0 && boom == body_boom
                      : body_end == End::cancelled ? cancelled
                                                   : false;
  if (!agrees)
    in->fail(fmt::format("{}: aexit was told the body ended {}, but it ended {}", in->rec_name(r),
                         !error ? "normally" : cancelled ? "cancelled" : boom != 0 ? fmt::format("with boom #{}", boom) : "oddly",
                         to_string(body_end)));
  std::exception_ptr interrupted;
  try {
    co_await coop::sleep(exit_for);
  } catch (const coop::CancelledError&) {
    interrupted = std::current_exception();  // a second cancel, while cleaning up
  }
  if (interrupted) {
    exit_interrupted = true;
    ++in->exits_interrupted;
    std::rethrow_exception(interrupted);
  }
  exit_done = true;
  ++in->exits_done;
  // Cleanup that hands work to a new task. At shutdown, run() cancels it in its next round.
  if (spawn_on_exit) {
    SAY(*in, r, "aexit: create_task a fire-and-forget child");
    start_child(*in, r, false, true, false);
  }
  // An exit that fails replaces the body's exception; never a cancellation, though: that
  // would hide from the model that the task's cancel was delivered (a "swallow").
  if (fail_exit && !cancelled) {
    Boom b = in->make_boom(r);
    exit_boom = b.id;
    throw b;
  }
}

// How a sequence of operations ended: the task body's end, or the async_with body's.
void ops_ended(Interp& in, std::uint32_t r, int level, Res* res, End how, int value, std::uint32_t boom) {
  if (level == 0) {
    in.body_ended(r, how, value, boom);
    return;
  }
  res->body_end = how;
  res->body_value = value;
  res->body_boom = boom;
}

struct NestedBody {
  Interp* in;
  std::uint32_t r;
  int level;
  Res* res;
  Task<int> operator()(Res&) const { return run_ops(*in, r, level, res, Token(*in, Token::kNone)); }
};

// async_with a Res, with a nested sequence of operations as its body.
Task<int> op_async_with(Interp& in, std::uint32_t r, int level) {
  FrameGuard guard(in);
  if (level >= kMaxNesting) co_return 0;
  Res res{&in, r, in.pick(6u) == 0, in.pick(6u) == 0, in.pick_short(), in.pick_short(), in.pick(5u) == 4};
  const bool catch_boom = in.pick_catch(r);
  SAY(in, r, "async_with (enter {}{}, exit {}{}) {{", ms(res.enter_for), res.fail_enter ? " and fail" : "", ms(res.exit_for),
         res.fail_exit ? " and fail" : "");
  NestedBody nb{&in, r, level + 1, &res};
  Task<int> t = coop::async_with(res, nb);
  Task<Settled<int>> settling = settle(in, std::move(t));
  Settled<int> s = co_await std::move(settling);

  const std::string who = in.rec_name(r);
  if (res.entered && !res.exit_started) in.fail(fmt::format("{}: async_with entered, and aexit never ran", who));
  if (res.entered && !res.exit_done && !res.exit_interrupted)
    in.fail(fmt::format("{}: async_with returned before its aexit finished", who));
  if (!res.entered && res.body_end != End::none) in.fail(fmt::format("{}: async_with ran the body without entering", who));
  switch (s.kind) {
    case Kind::value:
      if (!res.exit_done || res.body_end != End::returned || s.value != res.body_value)
        in.fail(fmt::format("{}: async_with returned {}, but the body or aexit did not finish normally", who, s.value));
      break;
    case Kind::boom: {
      const std::uint32_t want = !res.entered ? res.enter_boom : res.exit_boom != 0 ? res.exit_boom : res.body_boom;
      if (s.boom != want) in.fail(fmt::format("{}: async_with threw boom #{}; expected #{}", who, s.boom, want));
      break;
    }
    case Kind::cancelled:
      if (res.entered && !res.exit_interrupted && res.body_end != End::cancelled)
        in.fail(fmt::format("{}: async_with threw CancelledError, but neither its body nor aexit was cancelled", who));
      break;
    case Kind::timeout:
      in.fail(fmt::format("{}: async_with threw TimeoutError", who));
      break;
  }
  SAY(in, r, "}} async_with: {}", s.kind == Kind::value ? fmt::format("{}", s.value) : s.kind == Kind::boom ? fmt::format("boom #{}", s.boom) : "cancelled");
  pass_on(s, catch_boom);
  co_return s.value % 7;
}

// Yields 0, 1, ..., n-1; throws before item `fail_at` (n: after the last); pauses before
// each item: not at all (yields at once), one loop turn, or 1 ms.
coop::AsyncGenerator<int> numbers(Interp& in, std::uint32_t r, int n, int fail_at, int pause,
                                  [[maybe_unused]] Token token) {
  FrameGuard guard(in);
  for (int i = 0; i < n; ++i) {
    if (i == fail_at) throw in.make_boom(r);
    if (pause == 1) co_await coop::sleep(Clock::duration::zero());
    if (pause == 2) co_await coop::sleep(1ms);
    co_yield i;
  }
  if (fail_at == n) throw in.make_boom(r);
}

// Pull items from a generator, some or all (then past its end), and drop it.
Task<int> op_generator(Interp& in, std::uint32_t r) {
  FrameGuard guard(in);
  const int n = static_cast<int>(in.pick(5u));
  const int fail_at = in.pick(3u) == 0 ? static_cast<int>(in.pick(static_cast<std::uint32_t>(n + 1))) : -1;
  const int pause = static_cast<int>(in.pick(3u));
  const int pulls = static_cast<int>(in.pick(static_cast<std::uint32_t>(n + 3)));
  const bool catch_boom = in.pick_catch(r);
  SAY(in, r, "generator of {}{}, pull {}", n, fail_at >= 0 ? fmt::format(" failing at {}", fail_at) : "", pulls);
  coop::AsyncGenerator<int> gen = numbers(in, r, n, fail_at, pause, Token(in, Token::kGenerator));
  const std::string who = in.rec_name(r);
  bool over = false;  // its end or its exception has been seen
  int sum = 0;
  for (int i = 0; i < pulls; ++i) {
    std::optional<int> item;
    std::exception_ptr error;
    bool cancelled = false;
    std::uint32_t boom = 0;
    try {
      item = co_await gen.next();
    } catch (const Boom& b) {
      boom = b.id;
      error = std::current_exception();
    } catch (const coop::CancelledError&) {
      cancelled = true;
      error = std::current_exception();
    }
    if (cancelled) std::rethrow_exception(error);
    if (over) {
      if (item || boom != 0) in.fail(fmt::format("{}: next() after the generator's end yielded something", who));
    } else if (i == fail_at) {
      if (boom == 0) in.fail(fmt::format("{}: the generator should have thrown at pull {}", who, i));
      over = true;
      SAY(in, r, "generator: boom #{}", boom);
      if (!catch_boom) std::rethrow_exception(error);
    } else if (boom != 0) {
      in.fail(fmt::format("{}: the generator threw boom #{} at pull {}", who, boom, i));
    } else if (i < n) {
      if (!item || *item != i) in.fail(fmt::format("{}: pull {} of the generator yielded {}", who, i, item ? fmt::format("{}", *item) : "nothing"));
      sum += item.value_or(0);
    } else {
      if (item) in.fail(fmt::format("{}: pull {} of a generator of {} yielded {}", who, i, n, *item));
      over = true;
    }
  }
  co_return sum % 7;  // the generator is dropped here, finished or not
}

// Catch our own CancelledError and return normally: the runtime must say so.
Task<bool> op_swallow(Interp& in, std::uint32_t r) {
  FrameGuard guard(in);
  const Clock::duration d = in.pick_duration();
  SAY(in, r, "sleep {}, swallowing a cancellation", ms(d));
  bool swallowed = false;
  try {
    co_await coop::sleep(d);
  } catch (const coop::CancelledError&) {
    swallowed = true;
  }
  if (swallowed) {
    in.recs[r].swallowed = true;
    SAY(in, r, "swallowed a cancellation: return at once");
  }
  co_return swallowed;
}

// Look at a kept child without waiting: done(), and once done its exception() (which
// retrieves it) and cancelled().
int op_poll(Interp& in, std::uint32_t r) {
  Rec& me = in.recs[r];
  if (me.kept.empty()) return 0;
  const std::uint32_t c = me.kept[in.pick_index(me.kept.size())];
  const Rec& child = in.recs[c];
  const TaskHandle<int>& h = in.registry[static_cast<std::size_t>(child.handle)];
  const bool done = h.done();
  SAY(in, r, "poll t{}: {}", c, done ? "done" : "running");
  if (done != in.watch.finished(h.id())) in.fail(fmt::format("{}: t{}.done() is {}, but the tracer disagrees", in.rec_name(r), c, done));
  if (!done) return 0;
  const Outcome o = in.watch.outcome(h.id());
  std::exception_ptr e;
  if (in.pick(2u) == 0) {
    e = h.exception();
  } else {
    try {  // result(): the value, or the exception rethrown
      const int v = h.result();
      if (o != Outcome::returned || v != child.value)
        in.fail(fmt::format("{}: t{}.result() is {}, but it ended {} with {}", in.rec_name(r), c, v, coop::to_string(o), child.value));
    } catch (...) {
      e = std::current_exception();
    }
  }
  in.meta_of(h.id()).retrieved = true;
  std::string got = "null";
  if (e) {
    try {
      std::rethrow_exception(e);
    } catch (const coop::CancelledError&) {
      got = "CancelledError";
    } catch (const Boom& b) {
      got = fmt::format("boom #{}", b.id);
    } catch (...) {
      got = "something else";
    }
  }
  const std::string want = o == Outcome::returned  ? "null"
                           : o == Outcome::failed ? fmt::format("boom #{}", child.boom)
                                                  : "CancelledError";
  if (got != want) in.fail(fmt::format("{}: t{}.exception() is {}; it ended {}, so it should be {}", in.rec_name(r), c, got, coop::to_string(o), want));
  if (h.cancelled() != (o == Outcome::cancelled)) in.fail(fmt::format("{}: t{}.cancelled() disagrees with how it ended", in.rec_name(r), c));
  return 1;
}

// Refuse to stop: catch every CancelledError and wait again, forever; the first two times,
// spawn a child on the way (shutdown must cancel those in its next round). run() cannot end
// such a task; when nothing else can run it abandons it: destroys its frame, and warns.
// Only a created, unbounded task whose handle was dropped does this, at its top level: it
// holds no resource, and nobody waits for it.
Task<int> op_stubborn(Interp& in, std::uint32_t r) {
  FrameGuard guard(in);
  Rec& me = in.recs[r];
  if (me.mode != Mode::created || me.handle >= 0 || me.bounded) co_return 0;
  me.stubborn = true;
  SAY(in, r, "stubborn: wait on Event 'stubborn' forever, swallowing every cancellation");
  for (int caught = 0;; ++caught) {
    bool cancelled = false;
    try {
      co_await in.stubborn.wait();
    } catch (const coop::CancelledError&) {
      cancelled = true;
    }
    if (!cancelled) in.fail("Event 'stubborn' woke a task up");
    if (caught < 2) {
      SAY(in, r, "stubborn: cancelled; create_task a child, and wait again");
      start_child(in, r, false, true, false);
    }
  }
}

Task<int> answer(Interp& in) {
  FrameGuard guard(in);
  co_return 42;
}

// Misuse is a clear UsageError (DESIGN.md): a Task awaited twice, a task awaiting its own
// handle, run() inside a running loop, an empty handle or Task.
Task<int> op_misuse(Interp& in, std::uint32_t r) {
  FrameGuard guard(in);
  const std::uint32_t which = in.pick(4u);
  const char* what[] = {"await a Task twice", "await its own handle", "run() inside the loop", "use an empty handle and Task"};
  SAY(in, r, "misuse: {}", what[which]);
  bool threw = false;
  if (which == 0) {
    Task<int> t = answer(in);
    const int v = co_await t;
    if (v != 42) in.fail(fmt::format("{}: a Task returning 42 gave {}", in.rec_name(r), v));
    try {
      (void)co_await t;
    } catch (const coop::UsageError&) {
      threw = true;
    }
  } else if (which == 1) {
    if (in.recs[r].handle < 0) co_return 0;
    TaskHandle<int> self = in.registry[static_cast<std::size_t>(in.recs[r].handle)];
    try {
      (void)co_await self;
    } catch (const coop::UsageError&) {
      threw = true;
    }
  } else if (which == 2) {
    try {
      (void)coop::run(answer(in));
    } catch (const coop::UsageError&) {
      threw = true;
    }
  } else {
    int errors = 0;
    try {
      (void)TaskHandle<int>().done();
    } catch (const coop::UsageError&) {
      ++errors;
    }
    Task<int> empty;
    try {
      (void)co_await empty;
    } catch (const coop::UsageError&) {
      ++errors;
    }
    threw = errors == 2;
  }
  if (!threw) in.fail(fmt::format("{}: misuse ({}) was not a UsageError", in.rec_name(r), what[which]));
  co_return 0;
}

// A sequence of operations: a task's body (level 0; `token` counts its frame) or an
// async_with body (level > 0; `res` is its resource, told how the body ended). One
// coroutine for both the loop and the bookkeeping: every coroutine an exception crosses is
// one more throw, and cancellations are exceptions (they dominate the run time).
Task<int> run_ops(Interp& in, std::uint32_t r, int level, Res* res, [[maybe_unused]] Token token) {
  FrameGuard guard(in);
  if (level == 0) in.body_started(r);
  int acc = 0;
  try {
    bool done = false;
    while (!done) {
      const Op op = in.next_op(r, level);
      int got = 0;
        switch (op) {
          case Op::end:
            done = true;
            break;
          case Op::sleep:
            got = co_await op_sleep(in, r);
            break;
          case Op::spawn:
            got = op_spawn(in, r);
            break;
          case Op::await_child:
            got = co_await op_await_child(in, r, -1, false);
            break;
          case Op::gather:
            got = co_await op_gather(in, r);
            break;
          case Op::wait_for:
            got = co_await op_wait_for(in, r);
            break;
          case Op::cancel_other:
            got = op_cancel_other(in, r);
            break;
          case Op::cancel_self:
            got = co_await op_cancel_self(in, r);
            break;
          case Op::event_wait:
            got = co_await op_event_wait(in, r);
            break;
          case Op::event_set:
            got = op_event_set(in, r);
            break;
          case Op::event_clear:
            got = op_event_clear(in, r);
            break;
          case Op::lock:
            got = co_await op_lock(in, r);
            break;
          case Op::queue_put:
            got = co_await op_queue_put(in, r);
            break;
          case Op::queue_get:
            got = co_await op_queue_get(in, r);
            break;
          case Op::async_with:
            got = co_await op_async_with(in, r, level);
            break;
          case Op::generator:
            got = co_await op_generator(in, r);
            break;
          case Op::raise: {
            Boom b = in.make_boom(r);
            SAY(in, r, "throw boom #{}", b.id);
            throw b;
          }
          case Op::swallow: {
            const bool swallowed = co_await op_swallow(in, r);
            done = swallowed;  // and return at once
            break;
          }
          case Op::poll:
            got = op_poll(in, r);
            break;
          case Op::gather_handles:
            got = co_await op_gather_handles(in, r);
            break;
          case Op::stubborn:
            got = co_await op_stubborn(in, r);
            break;
          case Op::misuse:
            got = co_await op_misuse(in, r);
            break;
          case Op::count_:
            break;
        }
      acc += got;
    }
    if (level == 0 && in.recs[r].mode == Mode::main) {
      const int more = co_await main_ending(in);
      acc += more;
    }
  } catch (const coop::CancelledError&) {
    ops_ended(in, r, level, res, End::cancelled, 0, 0);
    throw;
  } catch (const Boom& b) {
    ops_ended(in, r, level, res, End::failed, 0, b.id);
    throw;
  } catch (const std::exception& e) {
    in.fail(fmt::format("{} ended with an exception the program never throws: {}", in.rec_name(r), e.what()));
    ops_ended(in, r, level, res, End::failed, 0, 0);
    throw;
  }
  const int value = level == 0 ? static_cast<int>(r) * 1000 + acc % 1000 : acc;
  ops_ended(in, r, level, res, End::returned, value, 0);
  co_return value;
}

// How main ends, after its operations: return (shutdown cancels the rest), join every kept
// child under wait_for, or wait for an Event nobody sets (run() must report a deadlock).
Task<int> main_ending(Interp& in) {
  FrameGuard guard(in);
  const std::uint32_t how = in.pick(3u);
  int sum = 0;
  if (how == 1) {
    SAY(in, 0, "ending: join every kept child under wait_for");
    const std::vector<std::uint32_t> kids = in.recs[0].kept;
    for (std::uint32_t c : kids) {
      const int v = co_await op_await_child(in, 0, c, true);
      sum += v;
    }
  } else if (how == 2) {
    SAY(in, 0, "ending: wait on Event 'never', which nobody sets");
    in.deadlock_expected = true;
    co_await in.never.wait();
    in.fail("Event 'never' woke main up");
  } else {
    SAY(in, 0, "ending: return; run() cancels what is left");
  }
  co_return sum;
}

// ---- 4. running and checking ---------------------------------------------------------------

void Interp::run() {
  coop::RunOptions o;
  o.virtual_time = true;
  o.slow_step_warning = std::chrono::milliseconds(0);  // real time: runs would differ
  o.tracer = &watch;
  o.on_diagnostic = [this](const coop::Diagnostic& d) {
    diags_.push_back(d);
    mix(static_cast<std::uint64_t>(d.kind));
    if (options_.verbose) fmt::print("diagnostic ({}): {}\n", coop::to_string(d.kind), d.message);
  };
  recs.emplace_back();  // main: id 0, depth 0, bounded
  Task<int> main_task = body(*this, 0);
  bind(0, 1);  // run() spawns main first
  try {
    run_value_ = coop::run(std::move(main_task), std::move(o));
    ran_ = RunEnd::value;
  } catch (const coop::DeadlockError& e) {
    ran_ = RunEnd::deadlock;
    run_message_ = e.what();
  } catch (const Boom& b) {
    ran_ = RunEnd::boom;
    run_boom_ = b.id;
  } catch (const coop::CancelledError&) {
    ran_ = RunEnd::cancelled;
  } catch (const std::exception& e) {
    ran_ = RunEnd::other;
    fail(fmt::format("run() threw: {}", e.what()));
  }
  if (options_.verbose)
    fmt::print("run() ended: {}\n", ran_ == RunEnd::value      ? fmt::format("returned {}", run_value_)
                                    : ran_ == RunEnd::boom     ? fmt::format("threw boom #{}", run_boom_)
                                    : ran_ == RunEnd::cancelled ? std::string("threw CancelledError")
                                    : ran_ == RunEnd::deadlock ? "DeadlockError: " + run_message_
                                                               : std::string("threw something else"));
  mix(static_cast<std::uint64_t>(ran_));
  mix(static_cast<std::uint64_t>(run_value_));
  registry.clear();  // the records the registry kept go now, before frame_stats() is compared
}

void Interp::verify() {
  verify_run_end();
  verify_tasks();
  verify_diagnostics();
  verify_state();
}

// run()'s outcome is main's: its value, its exception, or DeadlockError when main chose
// the Event nobody sets.
void Interp::verify_run_end() {
  const Rec& m = recs[0];
  if (deadlock_expected != (ran_ == RunEnd::deadlock)) {
    fail(deadlock_expected ? "main waited on an Event nobody sets, and run() did not report a deadlock"
                           : "run() reported a deadlock: " + run_message_);
    return;
  }
  switch (ran_) {
    case RunEnd::value:
      if (m.end != End::returned || m.value != run_value_) fail(fmt::format("run() returned {}, but main's body did not", run_value_));
      break;
    case RunEnd::boom:
      if (m.end != End::failed || m.boom != run_boom_) fail(fmt::format("run() threw boom #{}, but main's body did not", run_boom_));
      break;
    case RunEnd::cancelled:
      if (m.end != End::cancelled) fail("run() threw CancelledError, but main's body did not");
      break;
    case RunEnd::deadlock:
      verify_deadlock();
      break;
    case RunEnd::none:
    case RunEnd::other:
      break;
  }
}

// The DeadlockError's message names every task alive when the loop gave up, and what it
// waits for; none of them may have been ready to run.
void Interp::verify_deadlock() {
  if (!watch.shutdown_seen) {
    fail("DeadlockError, yet run() never cancelled main");
    return;
  }
  std::set<std::string> want;
  for (std::uint64_t id : watch.live_at_shutdown) want.insert(task_name(id));
  for (std::uint64_t id : watch.ready_at_shutdown)
    fail(fmt::format("DeadlockError, although task {} was ready to run", task_name(id)));
  std::set<std::string> listed;
  const std::string& msg = run_message_;
  std::size_t pos = msg.find('\n');
  while (pos != std::string::npos) {
    const std::size_t next = msg.find('\n', pos + 1);
    const std::string line = msg.substr(pos + 1, next == std::string::npos ? std::string::npos : next - pos - 1);
    pos = next;
    const std::string head = "  task '";
    const std::string mid = "' waits on ";
    const std::size_t m = line.find(mid);
    if (line.rfind(head, 0) != 0 || m == std::string::npos) {
      fail("DeadlockError: a line of its message is not \"  task '<name>' waits on <what>\": " + line);
      return;
    }
    const std::string name = line.substr(head.size(), m - head.size());
    const std::string what = line.substr(m + mid.size());
    if (!listed.insert(name).second) fail("DeadlockError names task '" + name + "' twice");
    if (name == "main" && what != "Event 'never'") fail("DeadlockError says main waits on " + what + ", not Event 'never'");
    if (what == "nothing coop knows of") fail("DeadlockError lists task '" + name + "', which was not parked: it could still run");
  }
  if (listed != want) {
    std::string missing, extra;
    for (const std::string& n : want)
      if (!listed.count(n)) missing += " " + n;
    for (const std::string& n : listed)
      if (!want.count(n)) extra += " " + n;
    fail(fmt::format("DeadlockError's message does not name the tasks alive (missing:{}; not alive:{})", missing, extra));
  }
}

void Interp::verify_tasks() {
  // Every task spawned finished exactly once (never abandoned: the Watch checked how).
  for (std::uint64_t id = 1; id < watch.tasks.size(); ++id) {
    if (watch.tasks[id].finished != 1) {
      fail(fmt::format("task {} finished {} times", task_name(id), watch.tasks[id].finished));
      return;
    }
    if (id >= meta.size() || !meta[id].known) {
      fail(fmt::format("task {} was spawned by nothing the program did", id));
      return;
    }
  }
  for (const Rec& rec : recs) {
    const std::string who = rec_name(rec.id);
    if (rec.frames_destroyed != 1) fail(fmt::format("{}: its frame was destroyed {} times", who, rec.frames_destroyed));
    if (rec.task == 0 || rec.task > watch.spawned()) {
      fail(fmt::format("{}: its task was never spawned", who));
      continue;
    }
    const Watch::Task_& t = watch.tasks[rec.task];
    if (rec.started != t.stepped) fail(fmt::format("{}: the body {} but the task {}", who, rec.started ? "started" : "never started", t.stepped ? "ran" : "never ran"));
    switch (rec.end) {
      case End::none:
        if (rec.stubborn) {
          if (t.outcome != Outcome::abandoned) fail(fmt::format("{}: refused to stop, yet ended {}", who, coop::to_string(t.outcome)));
        } else if (rec.started) fail(fmt::format("{}: its body started and never ended", who));
        else if (t.outcome != Outcome::cancelled) fail(fmt::format("{}: never started, yet ended {}", who, coop::to_string(t.outcome)));
        else if (t.cancels == 0) fail(fmt::format("{}: never started, and ended cancelled without a cancel()", who));
        break;
      case End::returned:
        // A cancel() that arrived while the body ran its last step, and found no co_await
        // left to be delivered at, makes the task end cancelled (loop.cpp, step()).
        if (t.outcome != Outcome::returned && !(t.outcome == Outcome::cancelled && t.cancels > 0))
          fail(fmt::format("{}: the body returned, but the task ended {}", who, coop::to_string(t.outcome)));
        break;
      case End::failed:
        if (t.outcome != Outcome::failed) fail(fmt::format("{}: the body threw, but the task ended {}", who, coop::to_string(t.outcome)));
        break;
      case End::cancelled:
        if (t.outcome != Outcome::cancelled) fail(fmt::format("{}: the body was cancelled, but the task ended {}", who, coop::to_string(t.outcome)));
        break;
    }
    if (t.outcome == Outcome::abandoned && !rec.stubborn)
      fail(fmt::format("{} was abandoned at shutdown: it did not finish after its cancellation", who));
    if (rec.cancel_requested && !rec.swallowed && t.outcome == Outcome::returned)
      fail(fmt::format("{}: cancel() of it returned true, yet it ended returned without swallowing it", who));
    if (t.outcome == Outcome::cancelled) ++stats.cancelled;
  }
  // Helpers are cancelled too (a timed-out wait_for's child).
  for (std::uint64_t id = 1; id < watch.tasks.size(); ++id) {
    if (meta[id].rec < 0 && watch.tasks[id].outcome == Outcome::cancelled) ++stats.cancelled;
    if (meta[id].rec < 0 && watch.tasks[id].outcome == Outcome::abandoned)
      fail(fmt::format("helper task {} was abandoned at shutdown", task_name(id)));
  }
}

// Diagnostics: exactly one "unretrieved exception" per failed task whose exception nobody
// looked at, a "swallowed cancellation" per task that swallowed one and returned, nothing
// else.
void Interp::verify_diagnostics() {
  std::unordered_map<std::string, std::uint64_t> by_name;
  for (std::uint64_t id = 1; id < watch.tasks.size(); ++id) by_name[task_name(id)] = id;
  std::set<std::uint64_t> want_unretrieved, want_swallowed, seen_unretrieved, seen_swallowed, seen_abandoned;
  for (std::uint64_t id = 1; id < watch.tasks.size(); ++id) {
    const Meta& m = meta[id];
    const bool is_main = id == 1;
    if (watch.tasks[id].outcome == Outcome::failed && !m.group && !is_main && !m.retrieved) want_unretrieved.insert(id);
    if (m.rec >= 0 && recs[static_cast<std::size_t>(m.rec)].swallowed && watch.tasks[id].outcome == Outcome::returned)
      want_swallowed.insert(id);
  }
  for (const coop::Diagnostic& d : diags_) {
    const auto it = by_name.find(d.task);
    if (it == by_name.end()) {
      fail(fmt::format("a diagnostic names task '{}', which does not exist: {}", d.task, d.message));
      continue;
    }
    const std::uint64_t id = it->second;
    switch (d.kind) {
      case coop::Diagnostic::Kind::unretrieved_exception: {
        ++stats.unretrieved;
        if (!want_unretrieved.count(id)) fail(fmt::format("unexpected diagnostic: {}", d.message));
        if (!seen_unretrieved.insert(id).second) fail(fmt::format("reported twice: {}", d.message));
        const std::int64_t r = meta[id].rec;
        const std::string boom = r >= 0 ? fmt::format("boom #{} ", recs[static_cast<std::size_t>(r)].boom) : "?";
        if (d.message.find(boom) == std::string::npos) fail(fmt::format("the report does not give the exception ({}): {}", boom, d.message));
        break;
      }
      case coop::Diagnostic::Kind::swallowed_cancellation:
        if (!want_swallowed.count(id)) fail(fmt::format("unexpected diagnostic: {}", d.message));
        if (!seen_swallowed.insert(id).second) fail(fmt::format("reported twice: {}", d.message));
        break;
      case coop::Diagnostic::Kind::abandoned:
        if (watch.tasks[id].outcome != Outcome::abandoned) fail(fmt::format("unexpected diagnostic: {}", d.message));
        if (!seen_abandoned.insert(id).second) fail(fmt::format("reported twice: {}", d.message));
        break;
      default:
        fail(fmt::format("unexpected diagnostic ({}): {}", coop::to_string(d.kind), d.message));
        break;
    }
  }
  for (std::uint64_t id : want_unretrieved)
    if (!seen_unretrieved.count(id))
      fail(fmt::format("task {} failed (boom #{}), nobody retrieved its exception, and the runtime did not report it",
                       task_name(id), meta[id].rec >= 0 ? recs[static_cast<std::size_t>(meta[id].rec)].boom : 0));
  for (std::uint64_t id : want_swallowed)
    if (!seen_swallowed.count(id)) fail(fmt::format("task {} swallowed a cancellation and returned, unreported", task_name(id)));
  for (std::uint64_t id = 1; id < watch.tasks.size(); ++id)
    if (watch.tasks[id].outcome == Outcome::abandoned && !seen_abandoned.count(id))
      fail(fmt::format("task {} was abandoned at shutdown without a warning", task_name(id)));
}

// Cleanup: frames, resources, locks and queues.
void Interp::verify_state() {
  if (guards_made != guards_destroyed)
    fail(fmt::format("{} coroutine frames ran, {} were destroyed", guards_made, guards_destroyed));
  if (gens_made != gens_destroyed) fail(fmt::format("{} generators made, {} destroyed", gens_made, gens_destroyed));
  if (enters != exits_started) fail(fmt::format("async_with: {} entered, {} exits ran", enters, exits_started));
  if (exits_started != exits_done + exits_interrupted)
    fail(fmt::format("async_with: {} exits ran, {} finished, {} were cancelled", exits_started, exits_done, exits_interrupted));
  for (std::uint32_t i = 0; i < kLocks; ++i)
    if (locks[i]->lock.locked() || locks[i]->holders != 0) fail(fmt::format("Lock 'l{}' is still held after run()", i));
  for (std::uint32_t i = 0; i < kQueues; ++i) {
    std::size_t in_queue = 0;
    for (const auto& [item, state] : queues[i]->items) {
      if (state == Item::entered) ++in_queue;
      if (state == Item::putting || state == Item::taken_early)
        fail(fmt::format("queue q{}: item {}'s put() never completed", i, item));
    }
    if (in_queue != queues[i]->q.size())
      fail(fmt::format("queue q{}: {} items were put and not taken, but it holds {}", i, in_queue, queues[i]->q.size()));
  }
}

ProgramResult Interp::result() {
  ProgramResult res;
  res.ok = failures_ == 0;
  res.failure = failures_ > 1 ? fmt::format("{} (and {} more)", failure_, failures_ - 1) : failure_;
  stats.tasks = watch.spawned();
  stats.deadlocks = ran_ == RunEnd::deadlock ? 1 : 0;
  res.stats = stats;
  res.hash = hash_ ^ (watch.hash * 31);
  return res;
}

}  // namespace

ProgramResult run_program(Choices& choices, const ProgramOptions& options) {
  const coop::FrameStats before = coop::frame_stats();
  ProgramResult res;
  {
    Interp in(choices, options);
    in.run();
    in.verify();
    res = in.result();
  }
  const coop::FrameStats after = coop::frame_stats();
  if (res.ok && (after.live_frames != before.live_frames || after.live_bytes != before.live_bytes ||
                 after.live_tasks != before.live_tasks)) {
    res.ok = false;
    res.failure = fmt::format("frame_stats(): live frames {} -> {}, bytes {} -> {}, tasks {} -> {} across the run",
                              before.live_frames, after.live_frames, before.live_bytes, after.live_bytes,
                              before.live_tasks, after.live_tasks);
  }
  return res;
}

ProgramResult check_program(const std::function<std::unique_ptr<Choices>()>& make_choices,
                            const ProgramOptions& options) {
  std::unique_ptr<Choices> first = make_choices();
  ProgramResult a = run_program(*first, options);
  if (!a.ok) return a;
  ProgramOptions quiet = options;
  quiet.verbose = false;
  std::unique_ptr<Choices> second = make_choices();
  ProgramResult b = run_program(*second, quiet);
  if (!b.ok) {
    b.failure = "the second run of the same choices: " + b.failure;
    return b;
  }
  if (a.hash != b.hash) {
    a.ok = false;
    a.failure = fmt::format("the same choices ran differently twice (hash {:016x}, then {:016x})", a.hash, b.hash);
  }
  return a;
}

}  // namespace coop_stress
