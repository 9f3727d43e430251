// grader.cpp — what a grader's checks use: grading::run's options, the trace queries of
// grading::Run, fail. Running the parts (each in a child process) is part_runner.cpp.
#include "grader.hpp"

#include <algorithm>
#include <map>

// Under ThreadSanitizer a data race is reported and the program runs on; in a part's child
// process, which ends with _exit, the report would change nothing. Halting on the first
// report makes it a crash of that part, with the report in its output. (ASan and UBSan are
// built with -fno-sanitize-recover and halt already.) Unused without TSan.
extern "C" const char* __tsan_default_options() { return "halt_on_error=1"; }

namespace grading {

void fail(std::string message) { throw Failure{std::move(message)}; }

coop::Clock::duration elapsed() {
  return coop::now() - coop::detail::Loop::current("grading::elapsed()").start_time();
}

coop::RunOptions options(Run* record, RunSettings s) {
  coop::RunOptions o;
  o.virtual_time = s.virtual_time;
  o.slow_step_warning = s.slow_step_warning;
  if (record != nullptr) {
    o.tracer = &record->trace;
    o.on_diagnostic = [record](const coop::Diagnostic& d) { record->diagnostics.push_back(d); };
  }
  return o;
}

namespace {
const coop::TraceEvent* finish_of(const Run& r, std::string_view task) {
  for (const coop::TraceEvent& e : r.trace.events())
    if (e.kind == coop::TraceEvent::Kind::finished && e.task_name == task) return &e;
  return nullptr;
}
}  // namespace

coop::Clock::duration Run::finished_at(std::string_view task) const {
  const coop::TraceEvent* e = finish_of(*this, task);
  if (e == nullptr) fail(fmt::format("no task named '{}' finished", task));
  return e->at;
}

coop::Outcome Run::outcome(std::string_view task) const {
  const coop::TraceEvent* e = finish_of(*this, task);
  return e == nullptr ? coop::Outcome::pending : e->outcome;
}

coop::Clock::duration Run::main_end() const noexcept {
  coop::Clock::duration last{};
  for (const coop::TraceEvent& e : trace.events()) {
    last = std::max(last, e.at);
    if (e.kind == coop::TraceEvent::Kind::finished && e.task_name == "main") return e.at;
  }
  return last;
}

bool Run::has_diagnostic(coop::Diagnostic::Kind kind) const {
  for (const coop::Diagnostic& d : diagnostics)
    if (d.kind == kind) return true;
  return false;
}

int Run::max_waiting_at_once() const {
  std::map<std::uint64_t, bool> waiting;
  int now = 0, most = 0;
  for (const coop::TraceEvent& e : trace.events()) {
    if (e.task_name == "main") continue;
    bool& w = waiting[e.task];
    const bool was = w;
    if (e.kind == coop::TraceEvent::Kind::suspended) w = true;
    if (e.kind == coop::TraceEvent::Kind::woken || e.kind == coop::TraceEvent::Kind::finished) w = false;
    now += (w ? 1 : 0) - (was ? 1 : 0);
    most = std::max(most, now);
  }
  return most;
}

}  // namespace grading
