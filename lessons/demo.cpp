// demo.cpp — a two-minute tour of the runtime, until the nine lessons arrive.
//
// Three "downloads" of 300, 100 and 200 ms run first one after another, then together
// with gather. The loop's tracing hooks record who ran when, and the program prints it:
// the sequential version takes the sum, the concurrent one the longest.
#include <coop/coop.hpp>
#include <fmt/format.h>

#include <map>
#include <string>

using namespace std::chrono_literals;
using coop::Task;

namespace {

double ms_since(coop::Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(coop::now() - t0).count();
}

// A stand-in for a network call: it suspends, and the loop runs someone else meanwhile.
Task<std::string> download(std::string name, coop::Clock::duration how_long) {
  co_await coop::sleep(how_long);
  co_return name;
}

Task<void> tour() {
  fmt::print("Calling download(\"a\", 300ms) runs nothing yet: it returns a Task.\n");
  Task<std::string> lazy = download("a", 300ms);
  fmt::print("  ...and co_await runs it: got \"{}\"\n\n", co_await lazy);

  auto t0 = coop::now();
  co_await download("a", 300ms);
  co_await download("b", 100ms);
  co_await download("c", 200ms);
  fmt::print("One after another: {:.0f} ms (the sum of 300 + 100 + 200)\n", ms_since(t0));

  t0 = coop::now();
  auto a = coop::create_task(download("a", 300ms), "download a");
  auto b = coop::create_task(download("b", 100ms), "download b");
  auto c = coop::create_task(download("c", 200ms), "download c");
  auto [ra, rb, rc] = co_await coop::gather(a, b, c);
  fmt::print("With gather:       {:.0f} ms (the longest), results in argument order: {} {} {}\n", ms_since(t0), ra,
             rb, rc);
}

// Prints when each download task started, waited and finished, from the trace.
void print_timeline(const coop::TraceRecorder& trace) {
  fmt::print("\nWhat the loop saw (virtual time, ms since run() began):\n");
  std::map<std::string, std::string> rows;
  for (const coop::TraceEvent& e : trace.events()) {
    if (e.task_name.rfind("download", 0) != 0) continue;
    double ms = std::chrono::duration<double, std::milli>(e.at).count();
    if (e.kind == coop::TraceEvent::Kind::suspended)
      rows[e.task_name] += fmt::format("  {:4.0f} waits on {}", ms, e.detail);
    else if (e.kind == coop::TraceEvent::Kind::finished)
      rows[e.task_name] += fmt::format("  {:4.0f} {}", ms, to_string(e.outcome));
  }
  for (const auto& [name, row] : rows) fmt::print("  {:<11}{}\n", name, row);
  fmt::print("\nThe nine lessons (make lesson N=1 ... 9) go through each idea step by step.\n");
}

}  // namespace

int main() {
  coop::TraceRecorder trace;
  coop::RunOptions options;
  options.virtual_time = true;  // instant and exact: sleeps leap the clock forward
  options.tracer = &trace;
  coop::run(tour(), options);
  print_timeline(trace);
}
