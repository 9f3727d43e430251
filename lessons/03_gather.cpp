// Lesson 03 — gather: run several coroutines concurrently and collect their results.
//
// Python: `users, orders, prices = await asyncio.gather(fetch(...), fetch(...), fetch(...))`.
// Every coroutine passed to gather starts at once and suspends at its own awaits, so the
// total time is the longest child's, not the sum; the results come back in argument order.
// coop::gather is the same, with one deliberate difference: when a child fails, coop
// cancels the other children and waits for them before rethrowing, because in C++ they may
// hold references into the caller's frame. Four steps measure all of it.
#include <array>
#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/lesson.hpp"

using namespace std::chrono_literals;
using coop::Task;

namespace {

// ---- steps 1 to 3: a pretend network call ----------------------------------------------------

// snippet: fetch
struct Reply {
  std::string source;
  coop::Clock::duration sent_at;  // when the request went out (time since run() began)
  coop::Clock::duration done_at;  // when the reply came back
};

// A stand-in for a network call: the sleep is the time spent waiting for the reply.
Task<Reply> fetch(std::string source, coop::Clock::duration latency) {
  const auto sent = lesson::elapsed();
  lesson::say("{}: request sent", source);
  co_await coop::sleep(latency);  // waiting for the reply: the loop is free meanwhile
  lesson::say("{}: reply after {}", source, coop::format_duration(latency));
  co_return Reply{source, sent, lesson::elapsed()};
}
// end snippet

struct Timed {
  coop::Clock::duration took;  // measured by the coroutine itself, on the loop's clock
  std::vector<Reply> replies;
};

// ---- step 1 --------------------------------------------------------------------------------

// snippet: sequence
Task<Timed> one_after_another() {
  const auto start = coop::now();
  Reply users = co_await fetch("users", 300ms);    // the next line waits for this reply
  Reply orders = co_await fetch("orders", 100ms);
  Reply prices = co_await fetch("prices", 200ms);
  co_return Timed{coop::now() - start, {users, orders, prices}};
}
// end snippet

// ---- step 2 --------------------------------------------------------------------------------

// snippet: gather
Task<Timed> all_at_once() {
  const auto start = coop::now();
  auto [users, orders, prices] =
      co_await coop::gather(fetch("users", 300ms), fetch("orders", 100ms), fetch("prices", 200ms));
  co_return Timed{coop::now() - start, {users, orders, prices}};
}
// end snippet

// ---- step 3 --------------------------------------------------------------------------------

// snippet: order
struct Source {
  std::string name;
  coop::Clock::duration latency;
};

Task<std::vector<Reply>> ask_all(std::vector<Source> sources) {
  std::vector<Task<Reply>> calls;
  for (const Source& s : sources) calls.push_back(fetch(s.name, s.latency));
  std::vector<Reply> replies = co_await coop::gather(std::move(calls));  // one result per call, in order
  for (std::size_t i = 0; i < sources.size(); ++i)
    lesson::say("sources[{}] = {:<6}  replies[{}] came from {:<6} (finished at {})", i, sources[i].name, i,
                replies[i].source, lesson::secs(replies[i].done_at));
  co_return replies;
}
// end snippet

// ---- step 4 --------------------------------------------------------------------------------

// snippet: failure
int open_connections = 0;  // connections the children hold right now

// What a child holds while it works. Its destructor is the child's cleanup: it runs however
// the child ends (returned, failed, or cancelled).
struct Connection {
  std::string to;
  explicit Connection(std::string name) : to(std::move(name)) {
    ++open_connections;
    lesson::say("{}: connected", to);
  }
  ~Connection() {
    --open_connections;
    lesson::say("{}: connection closed{}", to, std::uncaught_exceptions() > 0 ? " (an exception is unwinding it)" : "");
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
};

Task<void> fetch_into(std::string source, coop::Clock::duration latency, std::string& slot) {
  Connection conn(source);
  co_await coop::sleep(latency);
  slot = source + " data";  // `slot` is in the caller's frame
  lesson::say("{}: wrote its slot", source);
}

Task<void> fail_after(std::string source, coop::Clock::duration latency) {
  Connection conn(source);
  co_await coop::sleep(latency);
  throw std::runtime_error(source + ": HTTP 503");
}

Task<void> load_dashboard() {
  std::array<std::string, 2> slots;  // lives in this coroutine's frame; the children write into it
  co_await coop::gather(fetch_into("users", 300ms, slots[0]), fail_after("orders", 100ms),
                        fetch_into("prices", 50ms, slots[1]));
  lesson::say("dashboard: {} | {}", slots[0], slots[1]);  // not reached: gather threw
}

struct Caught {
  coop::Clock::duration at;  // when the caller caught the error
  int open;                  // connections still open then
};

Task<Caught> open_dashboard() {
  try {
    co_await load_dashboard();
  } catch (const std::exception& e) {  // load_dashboard's frame, slots included, is gone now
    lesson::say("caught \"{}\"; connections still open: {}", e.what(), open_connections);
  }
  co_return Caught{lesson::elapsed(), open_connections};
}
// end snippet

// ---- reading the trace -------------------------------------------------------------------------

using Kind = coop::TraceEvent::Kind;

// The tasks `main` spawned, in spawn order: gather's children, in argument order.
std::vector<std::string> children_of_main() {
  std::uint64_t main_id = 0;
  std::vector<std::string> names;
  for (const coop::TraceEvent& e : lesson::last_trace()) {
    if (e.kind != Kind::spawned) continue;
    if (e.task_name == "main") main_id = e.task;
    else if (e.parent == main_id && main_id != 0) names.push_back(e.task_name);
  }
  return names;
}

// The `finished` event of a task, or null.
const coop::TraceEvent* finished(std::string_view task) {
  for (const coop::TraceEvent& e : lesson::last_trace())
    if (e.kind == Kind::finished && e.task_name == task) return &e;
  return nullptr;
}

std::string join(const std::vector<std::string>& items, std::string_view sep = ", ") {
  std::string s;
  for (const std::string& i : items) s += (s.empty() ? "" : std::string(sep)) + i;
  return s;
}

std::string sent_times(const Timed& t) {
  std::vector<std::string> at;
  for (const Reply& r : t.replies) at.push_back(lesson::secs(r.sent_at));
  return join(at);
}

// "0.300 + 0.100 + 0.200 = 0.600 s", from how long each reply took.
std::string sum_of_waits(const Timed& t, coop::Clock::duration& sum) {
  std::vector<std::string> parts;
  sum = {};
  // Each part is the difference of the two times the log lines print (whole ms), and the
  // sum is of the parts as printed, so that everything agrees on the page: lines at 0.401 s
  // and 0.601 s give 0.200, and 0.300 + 0.101 + 0.200 = 0.601 (rounding each raw wait
  // instead could print 0.201 beside lines 0.200 apart).
  for (const Reply& r : t.replies) {
    using std::chrono::milliseconds;
    const auto ms = std::chrono::round<milliseconds>(r.done_at) - std::chrono::round<milliseconds>(r.sent_at);
    parts.push_back(fmt::format("{:.3f}", std::chrono::duration<double>(ms).count()));
    sum += ms;
  }
  return join(parts, " + ") + " = " + lesson::secs(sum);
}

}  // namespace

int main(int argc, char** argv) {
  lesson::Lesson l({3, "gather", "gather: run several coroutines at once, collect the results in order",
                    "coop::gather (asyncio.gather) runs several coroutines concurrently and collects all their "
                    "results. Every child starts at once and suspends independently at its own co_awaits, so "
                    "the total time is that of the longest child, not the sum. Results come back in argument "
                    "order, whatever order the children finished in. Unlike asyncio, when a child fails coop "
                    "cancels the others and waits for them before rethrowing: in C++ they may hold references "
                    "into the caller's frame."});

  l.step("Three awaits in sequence: the times add up",
         "fetch() stands for a network call: it sends a request, waits `latency` for the reply\n"
         "(coop::sleep stands in for the I/O) and returns what came back, with timestamps.\n"
         "Awaiting three of them one after another: each request goes out only once the previous\n"
         "reply is in, so the caller spends the waits one after the other.",
         {"fetch", "sequence"}, [] {
           const Timed t = lesson::run(one_after_another(), {.title = "three awaits in sequence"});
           coop::Clock::duration sum{};
           const std::string waits = sum_of_waits(t, sum);
           lesson::conclude("the requests went out at {}: each after the previous reply", sent_times(t));
           lesson::conclude("in sequence the three took {}: the sum of their waits, {}",
                            lesson::figure(lesson::secs(t.took)), lesson::figure(waits));
         });

  l.step("gather: all three at once, the time of the longest",
         "coop::gather(a, b, c) makes each Task a task of its own on the loop (named Task-2,\n"
         "Task-3, Task-4 in argument order, as asyncio names them), starts them together and\n"
         "suspends the caller until all have finished. Each child suspends at its own co_await,\n"
         "so the three waits overlap instead of queueing.",
         {"gather"}, [] {
           const Timed t = lesson::run(all_at_once(), {.title = "gather of three fetches"});
           coop::Clock::duration sum{}, longest{};
           const std::string waits = sum_of_waits(t, sum);
           for (const Reply& r : t.replies) longest = std::max(longest, r.done_at - r.sent_at);
           lesson::conclude("all three requests went out at {}: gather started every child at once",
                            sent_times(t));
           lesson::conclude("gather took {}: the longest wait ({}), not the sum of the waits ({})",
                            lesson::figure(lesson::secs(t.took)), lesson::figure(lesson::secs(longest)),
                            lesson::figure(waits));
         });

  l.step("Results in argument order, whatever order they finished in",
         "Four sources with different latencies, gathered from a std::vector<Task<Reply>> (the form\n"
         "for a number of calls known only at run time). The fastest finishes first, yet\n"
         "replies[i] is always the reply to sources[i]: a result is matched to its source by its\n"
         "index, with no bookkeeping.",
         {"order"}, [] {
           const std::vector<Source> sources{{"users", 300ms}, {"orders", 100ms}, {"prices", 200ms}, {"stock", 50ms}};
           const std::vector<Reply> replies =
               lesson::run(ask_all(sources), {.title = "gather of a vector of four fetches"});
           // Completion order, from the loop's own record: gather spawned child i for sources[i].
           const std::vector<std::string> children = children_of_main();
           std::vector<std::pair<coop::Clock::duration, std::string>> ends;
           for (std::size_t i = 0; i < children.size() && i < sources.size(); ++i)
             if (const coop::TraceEvent* e = finished(children[i])) ends.emplace_back(e->at, sources[i].name);
           std::stable_sort(ends.begin(), ends.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
           std::vector<std::string> finish_order, finish_times, result_order;
           for (const auto& [at, name] : ends) {
             finish_order.push_back(name);
             finish_times.push_back(lesson::secs(at));
           }
           int matched = 0;
           for (std::size_t i = 0; i < replies.size(); ++i) {
             result_order.push_back(replies[i].source);
             matched += replies[i].source == sources[i].name ? 1 : 0;
           }
           lesson::conclude("the trace shows the children finishing in the order {} (at {})",
                            lesson::figure(join(finish_order)), join(finish_times));
           lesson::conclude("gather returned {}: argument order; replies[i] came from sources[i] for {} of {}",
                            lesson::figure(join(result_order)), lesson::figure(std::to_string(matched)),
                            sources.size());
         });

  l.step("A child fails: coop cancels its siblings, and waits for them",
         "load_dashboard hands two children a reference into its own frame (slots[i]) to write\n"
         "into; 'orders' fails after 0.100 s. asyncio's gather would raise at once and let 'users'\n"
         "run on, to write into slots[0] at 0.300 s. But the exception has unwound load_dashboard\n"
         "by then, and slots with it: in C++ that write would be a use-after-free. So coop's gather\n"
         "cancels the children still running, waits until they have finished (cleanup included),\n"
         "and only then rethrows. (Lesson 05 shows cancellation from the inside.)",
         {"failure"}, [] {
           const Caught caught = lesson::run(open_dashboard(), {.title = "gather with a failing child"});
           // gather's children, in argument order: users, orders, prices.
           const std::vector<std::string> children = children_of_main();
           const coop::TraceEvent* users = children.size() == 3 ? finished(children[0]) : nullptr;
           const coop::TraceEvent* orders = children.size() == 3 ? finished(children[1]) : nullptr;
           const coop::TraceEvent* prices = children.size() == 3 ? finished(children[2]) : nullptr;
           if (users == nullptr || orders == nullptr || prices == nullptr) {
             lesson::conclude("(the trace did not record the three children: nothing to measure)");
             return;
           }
           lesson::conclude("'prices' ({}) {} at {}; 'orders' ({}) {} at {}", prices->task_name,
                            coop::to_string(prices->outcome), lesson::secs(prices->at), orders->task_name,
                            coop::to_string(orders->outcome), lesson::figure(lesson::secs(orders->at)));
           lesson::conclude("'users' ({}) ended {} at {}, {} before its 0.300 s reply was due: gather cancelled it, "
                            "and the CancelledError thrown at its co_await unwound it and closed its connection",
                            users->task_name, lesson::figure(std::string(coop::to_string(users->outcome))),
                            lesson::figure(lesson::secs(users->at)), lesson::secs(300ms - users->at));
           // Did 'users' finish before the caller's task resumed to catch the error?
           const auto& trace = lesson::last_trace();
           std::size_t users_end = trace.size(), caller_resumed = 0;
           for (std::size_t i = 0; i < trace.size(); ++i) {
             if (&trace[i] == users) users_end = i;
             if (trace[i].kind == Kind::step_began && trace[i].task_name == "main") caller_resumed = i;
           }
           const bool users_first = users_end < caller_resumed;
           lesson::conclude("the caller caught the error at {} with {} connections open; in the trace 'users' "
                            "finished {} the caller resumed",
                            lesson::figure(lesson::secs(caught.at)), lesson::figure(std::to_string(caught.open)),
                            lesson::figure(users_first ? "before" : "AFTER"));
           if (users_first)
             lesson::conclude("so no child could write into slots once load_dashboard's frame was gone; "
                              "under asyncio's rule 'users' would have, at 0.300 s");
         });

  l.wrap_up(
      "Awaited one after another, three fetches took the sum of their waits; gathered, they all\n"
      "started at once and took as long as the longest. The results came back in argument order\n"
      "although the children finished fastest first. When one child failed, gather cancelled the\n"
      "others and waited for their cleanup before rethrowing, so no child outlived the frame it\n"
      "held references into. (To keep every result even when some fail, catch inside each child\n"
      "and return an error value: asyncio's return_exceptions=True, done by hand.)\n"
      "Next: lesson 04, create_task, for work that runs in the background while you carry on.");
  return l.main(argc, argv);
}
