// program.hpp — random concurrent programs, run on coop's loop and checked.
//
// coop_stress (stress_main.cpp) and the libFuzzer target fuzz_ops (fuzz/fuzz_ops.cpp) share
// this interpreter. It turns a stream of choices into a concurrent program, runs it with
// coop::run under virtual time, and then checks that the runtime kept its promises. A unit
// test checks one rule in one situation somebody thought of; this checks every rule in
// situations nobody thought of: a cancel that lands while the target is parked inside a
// gather inside an async_with, a lock handed to a waiter whose wait_for just timed out, a
// generator dropped while its consumer has a cancellation pending...
//
// WHERE THE CHOICES COME FROM. Every decision (which operation next, how long to sleep,
// which task to cancel) is one call to Choices::pick(bound). SeedChoices draws them from a
// PRNG seeded with a number, so a seed names a program and `coop_stress --seed N` replays
// it exactly. ByteChoices reads them from the fuzzer's bytes, so libFuzzer can steer the
// program towards code it has not covered yet. When the bytes run out pick() returns 0,
// and choice 0 is always the one that ends things (no more operations, no more children),
// so every input terminates. The program is generated while it runs: each task asks for
// its next operation when it gets there, so an operation can react to the state of the
// moment (cancel a task that happens to be suspended right now). The loop is
// deterministic under virtual time, so the same choices always give the same program.
//
// WHAT A PROGRAM IS. A tree of tasks (at most kMaxBodies task bodies, kMaxDepth deep, in
// program.cpp, so that one run takes well under a millisecond optimised). The root is coop::run's main task. Each task body runs a
// random sequence of up to kMaxOpsPerBody operations:
//   * sleep for a random virtual duration, 0 (one loop turn) included;
//   * create_task a child, keeping its handle or dropping it; sometimes cancel it at once,
//     before it has started;
//   * await a child's handle (or any kept handle: several tasks may await one task), bare
//     or under wait_for; or poll it (done(), then exception() or result());
//   * gather 1 to 3 new children (the vector form, the vector-of-Task<void> form, or the
//     two-argument tuple form), or gather handles of tasks already running (repeats allowed);
//   * wait_for a new child with a timeout (0 included: it expires before the child starts);
//   * cancel another task with a handle (not started, suspended, ready because it was woken
//     at this same instant, or finished), or cancel itself while running;
//   * Event wait / set / clear; Lock held across a sleep, through its own Guard or through
//     async_with; Queue put / get on a bounded or unbounded queue; each wait bare or under
//     wait_for;
//   * async_with on a resource whose aenter and aexit both await (and may throw, or spawn a
//     fire-and-forget task on the way out), with a nested sequence of operations as the body;
//   * consume an AsyncGenerator partly or fully (dropping it early), which may throw midway;
//   * throw an exception, which the awaiting operation catches or lets through; in a task
//     whose handle was dropped it is the runtime's to report;
//   * catch the task's own CancelledError and return normally (swallowing it); or refuse to
//     stop at all (a "stubborn" task: it waits forever, swallowing every cancellation and
//     spawning a child on its way), which run()'s shutdown can only abandon;
//   * misuse the runtime (await a Task twice, await one's own handle, run() inside the loop,
//     use an empty handle or Task), which must be a UsageError and nothing else.
// The main task ends in one of three ways: returning (run's shutdown cancels whatever is
// left), joining its children with timeouts, or waiting on an Event nobody will ever set,
// which must end in DeadlockError.
//
// WHY EVERY PROGRAM ENDS. Sleeps are finite and so are operation sequences. A task is
// either *bounded* (it may only wait on things that are guaranteed to end: sleeps, locks,
// which are only ever held across a sleep, bounded children, and anything under wait_for)
// or *unbounded* (it may also wait bare on an Event or a Queue, which may never come).
// The main task is bounded, so run() reaches main's ending, and its shutdown cancels the
// unbounded waits that are left. Cancellation ends every wait promptly, and a task that
// swallows a cancellation returns at once, so wait_for and gather never hang either. A
// stubborn task is one nobody waits for (its handle was dropped), so it holds up only
// shutdown, which gives up on it when nothing else can run.
//
// THE INVARIANTS, checked after every run (a violation is one precise message):
//   * Tasks: every task spawned (as the tracer saw it) finished exactly once, returned,
//     failed or cancelled; abandoned only if it was stubborn, and then always, with one
//     "abandoned" warning; a task spawned during shutdown is cancelled, never abandoned
//     without a cancellation. No event for a task after it finished; a step never starts
//     while another runs, nor for a task that is parked; ready tasks run in FIFO order (the
//     tracer's spawned and woken events, replayed as a queue); each body runs in the task
//     that was created for it. What the body did and how the runtime says it ended
//     agree (a body that returned while a cancel was pending ends cancelled, as documented).
//     A task cancelled before it started never ran a line of its body. A task whose
//     cancel() returned true ended cancelled or failed, unless it swallowed the cancellation.
//     cancel() returns false exactly when the task has finished already. A cancel of self is
//     delivered at the next co_await that suspends.
//   * Exceptions: every exception is retrieved by an awaiter, or reported exactly once as an
//     "unretrieved exception" diagnostic that names its task and its message; a task that
//     swallowed a cancellation and returned is reported as such, a stubborn task abandoned
//     at shutdown as such; no other diagnostic.
//   * Cleanup: every coroutine frame's RAII guard was destroyed (made == destroyed), every
//     task body's and generator's frame was destroyed exactly once, every async_with
//     resource entered was exited exactly once (aexit ran to its end, or was itself
//     cancelled), and aexit was told how the body ended; every lock is free at the end;
//     frame_stats() live frames, bytes and tasks are back where they were before the run.
//   * Results: sleep(d) takes exactly d of virtual time, and sleeps end in deadline order
//     (equal deadlines in the order they were set); gather returns its children's values
//     in order, or rethrows the first child's failure, and no child outlives it; wait_for
//     returns the child's value, its exception, or TimeoutError only after the timeout and
//     with the child cancelled, and the child never outlives it; a joined handle yields the
//     child's value or exception; an Event wait never wakes without a set(), and does not
//     suspend on a set Event; a Lock has one holder at a time, and a free one is taken
//     without suspending; every Queue item is taken at most once, never one that a cancelled
//     put() failed to add, items come out in put order (per producer, as one consumer sees
//     them), the items put equal the items taken plus those left, a put() or get() that
//     can go does not suspend, and a parked put() means a full queue, a parked get() an
//     empty one; a generator yields its items in order, then its exception or the end, then
//     nullopt for good.
//   * Deadlock: a DeadlockError only when main waits on the Event nobody sets, and then its
//     message names exactly the tasks that were alive, each of them parked (none ready).
//   * Determinism: the same choices give the same run, event for event (checked by running
//     each program twice and comparing a hash of the trace and of the operations).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace coop_stress {

// The source of every decision the program makes.
class Choices {
 public:
  virtual ~Choices() = default;
  // A number in [0, bound); 0 when bound <= 1. Choice 0 always means "stop / the least".
  virtual std::uint32_t pick(std::uint32_t bound) = 0;
};

// Choices from a seed. splitmix64, written out here: std::uniform_int_distribution's output
// is implementation-defined, so GCC and Clang would run different programs for one seed.
class SeedChoices final : public Choices {
 public:
  explicit SeedChoices(std::uint64_t seed) : state_(seed) {}
  std::uint32_t pick(std::uint32_t bound) override;

 private:
  std::uint64_t state_;
};

// Choices from bytes (the fuzzer's input): one byte per pick (two for a bound above 256),
// modulo the bound; 0 once the bytes run out, so every input ends.
class ByteChoices final : public Choices {
 public:
  ByteChoices(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  std::uint32_t pick(std::uint32_t bound) override;

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

// Passes another source's choices through and writes them down as the bytes that make
// ByteChoices repeat them: how a stress seed becomes a fuzz corpus entry.
class RecordingChoices final : public Choices {
 public:
  explicit RecordingChoices(Choices& inner) : inner_(inner) {}
  std::uint32_t pick(std::uint32_t bound) override;
  const std::vector<std::uint8_t>& bytes() const noexcept { return bytes_; }

 private:
  Choices& inner_;
  std::vector<std::uint8_t> bytes_;
};

struct ProgramOptions {
  bool verbose = false;  // print each operation as it runs (and the diagnostics)
};

// What one run did, for the summary.
struct ProgramStats {
  std::uint64_t tasks = 0;        // tasks spawned, main and gather/wait_for children included
  std::uint64_t operations = 0;   // operations the task bodies ran
  std::uint64_t cancel_calls = 0; // cancel() calls that returned true
  std::uint64_t cancelled = 0;    // tasks that ended cancelled
  std::uint64_t exceptions = 0;   // exceptions the program threw
  std::uint64_t unretrieved = 0;  // of those, reported by the runtime as never retrieved
  std::uint64_t timeouts = 0;     // wait_for calls that timed out
  std::uint64_t deadlocks = 0;    // 1 when run() ended in DeadlockError (as it had to)
};

struct ProgramResult {
  bool ok = true;
  std::string failure;  // the first violation, when !ok
  ProgramStats stats;
  std::uint64_t hash = 0;  // of the trace and of the operations: equal runs, equal hashes
};

// Runs the program that `choices` describes once, and checks it.
ProgramResult run_program(Choices& choices, const ProgramOptions& options = {});

// Runs it twice, from two fresh sources of the same choices, and also checks that both runs
// were the same. Only the first run is verbose.
ProgramResult check_program(const std::function<std::unique_ptr<Choices>()>& make_choices,
                            const ProgramOptions& options = {});

}  // namespace coop_stress
