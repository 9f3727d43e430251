// test_trace.cpp — the tracing hooks (trace.hpp): what the loop tells an observer.
//
// Proves, for small programs under virtual time (so every `at` is exact):
//   * a TraceRecorder sees, in order: spawned (with the spawning task's id as parent),
//     step_began/step_ended pairs that never nest, suspended with the WaitKind and a
//     describe() text, woken, cancel_requested, and finished with the Outcome;
//   * every kind of wait is reported with its own WaitKind and a readable description;
//   * step_order() shows two tasks that alternate with sleep(0) running in strict FIFO turns;
//   * a custom Tracer that overrides a single hook works, and coop::now() inside a hook is
//     the time of the event.
#include <string>
#include <vector>

#include "support.hpp"

using namespace coop;
using namespace coop::testing;
using namespace std::chrono_literals;

namespace {

using K = TraceEvent::Kind;

// One event as a line of text: "<at> <kind> <task> [<detail>|<outcome>]".
std::string line(const TraceEvent& e) {
  std::string s = format_duration(e.at) + " " + std::string(to_string(e.kind)) + " " + e.task_name;
  if (e.kind == K::suspended) s += " [" + std::string(to_string(e.wait)) + ": " + e.detail + "]";
  if (e.kind == K::finished) s += " [" + std::string(to_string(e.outcome)) + "]";
  return s;
}

std::vector<std::string> lines(const std::vector<TraceEvent>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(line(e));
  return out;
}

const TraceEvent* find(const std::vector<TraceEvent>& events, K kind, const std::string& task) {
  for (const auto& e : events)
    if (e.kind == kind && e.task_name == task) return &e;
  return nullptr;
}

Task<int> worker(Event& go) {
  co_await sleep(100ms);
  co_await go.wait();
  co_return 5;
}

Task<void> simple_program(Event& go) {
  auto w = create_task(worker(go), "worker");
  co_await sleep(150ms);
  go.set();
  CHECK(co_await w == 5);
}

Task<void> alternate(int rounds) {
  for (int i = 0; i < rounds; ++i) co_await sleep(0ms);
}

Task<void> fail_soon() {
  co_await sleep(5ms);
  throw std::runtime_error("no");
}

Task<void> nap(Clock::duration d) { co_await sleep(d); }

Task<void> set_after(Event& e, Clock::duration d) {
  co_await sleep(d);
  e.set();
}

Task<void> hold(Lock& l, Clock::duration d) {
  auto guard = co_await l.lock();
  co_await sleep(d);
}

Task<void> put_after(Queue<int>& q, Clock::duration d, int v) {
  co_await sleep(d);
  co_await q.put(v);
}

Task<void> get_after(Queue<int>& q, Clock::duration d) {
  co_await sleep(d);
  (void)co_await q.get();
}

// Suspends once on each kind of wait, in this order.
Task<void> every_wait() {
  co_await sleep(0ms);
  co_await sleep(5ms);
  Event ev("ev");
  auto setter = create_task(set_after(ev, 1ms), "setter");
  co_await ev.wait();
  co_await setter;
  Lock lock("lk");
  auto holder = create_task(hold(lock, 10ms), "holder");
  co_await sleep(1ms);
  { auto guard = co_await lock.lock(); }
  co_await holder;
  Queue<int> q(1);
  auto putter = create_task(put_after(q, 1ms, 7), "putter");
  (void)co_await q.get();
  co_await putter;
  co_await q.put(1);
  auto getter = create_task(get_after(q, 1ms), "getter");
  co_await q.put(2);
  co_await getter;
  auto child = create_task(nap(1ms), "child");
  co_await child;
  co_await gather(nap(1ms), nap(2ms));
  co_await wait_for(nap(1ms), 1s);
}

}  // namespace

TEST_CASE("trace: a recorder sees a task's whole life, in order, with exact times") {
  TraceRecorder rec;
  Event go("go");
  run_virtual(simple_program(go), nullptr, &rec);

  CHECK(lines(rec.events_of("worker")) == std::vector<std::string>{
                                               "0 ns spawned worker",
                                               "0 ns step began worker",
                                               "0 ns suspended worker [sleep: sleep(100 ms)]",
                                               "0 ns step ended worker",
                                               "100 ms woken worker",
                                               "100 ms step began worker",
                                               "100 ms suspended worker [event: Event 'go']",
                                               "100 ms step ended worker",
                                               "150 ms woken worker",
                                               "150 ms step began worker",
                                               "150 ms step ended worker",
                                               "150 ms finished worker [returned]",
                                           });
  CHECK(lines(rec.events_of("main")) == std::vector<std::string>{
                                             "0 ns spawned main",
                                             "0 ns step began main",
                                             "0 ns suspended main [sleep: sleep(150 ms)]",
                                             "0 ns step ended main",
                                             "150 ms woken main",
                                             "150 ms step began main",
                                             "150 ms suspended main [task: task 'worker']",
                                             "150 ms step ended main",
                                             "150 ms woken main",
                                             "150 ms step began main",
                                             "150 ms step ended main",
                                             "150 ms finished main [returned]",
                                         });
}

TEST_CASE("trace: spawned carries the parent's id; main, spawned by run(), has none") {
  TraceRecorder rec;
  Event go("go");
  run_virtual(simple_program(go), nullptr, &rec);
  const TraceEvent* main_spawned = find(rec.events(), K::spawned, "main");
  const TraceEvent* worker_spawned = find(rec.events(), K::spawned, "worker");
  REQUIRE(main_spawned != nullptr);
  REQUIRE(worker_spawned != nullptr);
  CHECK(main_spawned->task == 1);  // ids count up from 1 in spawn order
  CHECK(main_spawned->parent == 0);
  CHECK(worker_spawned->task == 2);
  CHECK(worker_spawned->parent == main_spawned->task);
  // The worker's spawn happened inside main's first step.
  CHECK(rec.events()[0].kind == K::spawned);
  CHECK(rec.events()[1].kind == K::step_began);
  CHECK(rec.events()[2].kind == K::spawned);
  CHECK(rec.events()[2].task_name == "worker");
}

TEST_CASE("trace: step_began and step_ended come in pairs for the same task, never nested") {
  TraceRecorder rec;
  Event go("go");
  run_virtual(simple_program(go), nullptr, &rec);
  std::uint64_t in_step = 0;  // the task whose step is open, 0 if none
  int steps = 0;
  for (const TraceEvent& e : rec.events()) {
    if (e.kind == K::step_began) {
      CHECK(in_step == 0);
      in_step = e.task;
      ++steps;
    } else if (e.kind == K::step_ended) {
      CHECK(in_step == e.task);
      in_step = 0;
    } else if (e.kind == K::suspended) {
      CHECK(in_step == e.task);  // only a running task can suspend
    }
  }
  CHECK(in_step == 0);
  CHECK(steps == 6);  // main 3, worker 3
}

TEST_CASE("trace: cancelling shows cancel_requested, then the task is woken and finishes cancelled") {
  TraceRecorder rec;
  run_virtual(
      []() -> Task<void> {
        auto k = create_task(nap(1h), "k");
        co_await sleep(10ms);
        k.cancel();
        bool cancelled = false;
        try {
          co_await k;
        } catch (const CancelledError&) {
          cancelled = true;
        }
        CHECK(cancelled);
      }(),
      nullptr, &rec);
  CHECK(lines(rec.events_of("k")) == std::vector<std::string>{
                                          "0 ns spawned k",
                                          "0 ns step began k",
                                          "0 ns suspended k [sleep: sleep(3600 s)]",
                                          "0 ns step ended k",
                                          "10 ms cancel requested k",
                                          "10 ms woken k",
                                          "10 ms step began k",
                                          "10 ms step ended k",
                                          "10 ms finished k [cancelled]",
                                      });
  // The request came from main's step, at the moment main called cancel().
  const TraceEvent* req = find(rec.events(), K::cancel_requested, "k");
  REQUIRE(req != nullptr);
  CHECK(req->at == 10ms);
}

TEST_CASE("trace: a task that throws finishes with Outcome::failed") {
  TraceRecorder rec;
  run_virtual(
      []() -> Task<void> {
        auto f = create_task(fail_soon(), "f");
        CHECK_THROWS_AS(co_await f, std::runtime_error);
      }(),
      nullptr, &rec);
  const TraceEvent* fin = find(rec.events(), K::finished, "f");
  REQUIRE(fin != nullptr);
  CHECK(fin->outcome == Outcome::failed);
  CHECK(fin->at == 5ms);
}

TEST_CASE("trace: each kind of wait is reported with its WaitKind and a description") {
  TraceRecorder rec;
  run_virtual(every_wait(), nullptr, &rec);
  struct Expected {
    WaitKind kind;
    std::string detail_starts_with;
  };
  const std::vector<Expected> expected{
      {WaitKind::yield, "sleep(0), one loop turn"},
      {WaitKind::sleep, "sleep(5 ms)"},
      {WaitKind::event, "Event 'ev'"},
      {WaitKind::sleep, "sleep(1 ms)"},
      {WaitKind::lock, "Lock 'lk', held by task 'holder'"},
      {WaitKind::queue_get, "Queue.get() on an empty queue"},
      {WaitKind::queue_put, "Queue.put() on a full queue (maxsize 1)"},
      {WaitKind::task, "task 'child'"},
      {WaitKind::gather, "gather of 2 tasks, 2 still running"},
      {WaitKind::wait_for, "wait_for task 'Task-"},
  };
  std::vector<TraceEvent> suspended;
  for (const TraceEvent& e : rec.events_of("main"))
    if (e.kind == K::suspended) suspended.push_back(e);
  REQUIRE(suspended.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(i);
    CAPTURE(suspended[i].detail);
    CHECK(suspended[i].wait == expected[i].kind);
    CHECK(suspended[i].detail.rfind(expected[i].detail_starts_with, 0) == 0);
  }
}

TEST_CASE("trace: step_order shows two tasks that alternate with sleep(0) taking strict FIFO turns") {
  TraceRecorder rec;
  run_virtual(
      []() -> Task<void> {
        auto a = create_task(alternate(3), "a");
        auto b = create_task(alternate(3), "b");
        co_await a;
        co_await b;
      }(),
      nullptr, &rec);
  CHECK(rec.step_order() == std::vector<std::string>{"main", "a", "b", "a", "b", "a", "b", "a", "b", "main"});
  for (const TraceEvent& e : rec.events())
    CHECK(e.at == 0ms);  // sleep(0) takes a turn, not time
}

TEST_CASE("trace: a custom Tracer that overrides one hook receives it, at the time of the event") {
  struct FinishLog final : Tracer {
    std::vector<std::string> finished;
    void task_finished(TaskInfo task, Outcome how) override {
      finished.push_back(task.name() + " " + std::string(to_string(how)) + " at " + format_duration(elapsed()));
    }
  };
  FinishLog log;
  run_virtual(
      []() -> Task<void> {
        auto slow = create_task(nap(30ms), "slow");
        auto fast = create_task(nap(10ms), "fast");
        auto doomed = create_task(nap(1h), "doomed");
        co_await slow;
        doomed.cancel();
        co_await sleep(0ms);
      }(),
      nullptr, &log);
  CHECK(log.finished == std::vector<std::string>{"fast returned at 10 ms", "slow returned at 30 ms",
                                                 "doomed cancelled at 30 ms", "main returned at 30 ms"});
}

TEST_CASE("trace: the recorder's clear() forgets what it saw") {
  TraceRecorder rec;
  Event go("go");
  run_virtual(simple_program(go), nullptr, &rec);
  CHECK_FALSE(rec.events().empty());
  rec.clear();
  CHECK(rec.events().empty());
  CHECK(rec.step_order().empty());
}
