// grader.cpp — what a grader's checks use: grading::run's options, the trace queries of
// grading::Run, fail. Running the parts (each in a child process) is part_runner.cpp.
#include "grader.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>

// Under ThreadSanitizer a data race is reported and the program runs on; in a part's child
// process, which ends with _exit, the report would change nothing. Halting on the first
// report makes it a crash of that part, with the report in its output. (ASan and UBSan are
// built with -fno-sanitize-recover and halt already.) Unused without TSan.
extern "C" const char* __tsan_default_options() { return "halt_on_error=1"; }

namespace grading {

void fail(std::string message, Hint hint) { throw Failure{std::move(message), std::move(hint.text)}; }

coop::Clock::duration elapsed() { return coop::elapsed(); }

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

bool is_fatal(const coop::Diagnostic& d) noexcept {
  using K = coop::Diagnostic::Kind;
  return d.kind == K::swallowed_cancellation || d.kind == K::unretrieved_exception || d.kind == K::abandoned;
}

void fail_on_warnings(const std::vector<coop::Diagnostic>& diagnostics, std::size_t from) {
  for (std::size_t i = from; i < diagnostics.size(); ++i) {
    const coop::Diagnostic& d = diagnostics[i];
    if (!is_fatal(d)) continue;
    std::string advice;
    switch (d.kind) {
      case coop::Diagnostic::Kind::swallowed_cancellation:
        advice = "A catch (...) around a co_await catches CancelledError too: catch the errors you mean "
                 "(const std::exception&; CancelledError is not one), or re-throw";
        break;
      case coop::Diagnostic::Kind::unretrieved_exception:
        advice = "Every task you start must be awaited (or gathered) so its failure reaches someone; a task "
                 "left to fail alone hides the error";
        break;
      default:
        advice = "A task must stop when it is cancelled: let CancelledError leave the task instead of "
                 "catching it and waiting again";
        break;
    }
    fail(fmt::format("the runtime warned: {}", d.message), Hint{advice + "."});
  }
}

void print_warnings(const std::vector<coop::Diagnostic>& diagnostics, std::size_t from) noexcept {
  for (std::size_t i = from; i < diagnostics.size(); ++i)
    if (is_fatal(diagnostics[i])) std::fprintf(stderr, "coop: warning: %s\n", diagnostics[i].message.c_str());
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

std::vector<Run::Wait> Run::waits(coop::WaitKind kind) const {
  std::vector<Wait> out;
  std::map<std::uint64_t, std::size_t> open;  // task -> its wait in `out` not yet over
  for (const coop::TraceEvent& e : trace.events()) {
    using K = coop::TraceEvent::Kind;
    if (e.kind == K::suspended && e.wait == kind) {
      open[e.task] = out.size();
      out.push_back(Wait{e.task, e.task_name, e.wait, e.detail, e.at, e.at});
    } else if (e.kind == K::woken || e.kind == K::finished || e.kind == K::suspended) {
      auto it = open.find(e.task);
      if (it == open.end()) continue;
      out[it->second].to = e.at;
      open.erase(it);
    }
  }
  const coop::Clock::duration end = main_end();
  for (const auto& [task, i] : open) out[i].to = std::max(out[i].from, end);
  return out;
}

int Run::most_at_once(const std::vector<Wait>& waits) {
  std::vector<std::pair<coop::Clock::duration, int>> edges;  // (time, +1 start / -1 end)
  for (const Wait& w : waits) {
    if (w.to <= w.from) continue;  // over at once: never in progress beside another
    edges.emplace_back(w.from, +1);
    edges.emplace_back(w.to, -1);
  }
  std::sort(edges.begin(), edges.end());  // at equal times -1 sorts first: ends before starts
  int now = 0, most = 0;
  for (const auto& [at, step] : edges) most = std::max(most, now += step);
  return most;
}

namespace {
std::mt19937_64& generator() {
  static std::random_device device;
  static std::mt19937_64 gen(device());  // seeded once per process (each part is one) from the device
  return gen;
}
}  // namespace

long fresh_number(long lo, long hi) { return std::uniform_int_distribution<long>(lo, hi)(generator()); }

std::vector<long> fresh_numbers(std::size_t n, long lo, long hi) {
  std::vector<long> out;
  while (out.size() < n) {
    const long x = fresh_number(lo, hi);
    if (std::find(out.begin(), out.end(), x) == out.end()) out.push_back(x);
  }
  return out;
}

std::string token(std::size_t length) {
  std::mt19937_64& gen = generator();
  static constexpr std::string_view alphabet = "abcdefghijkmnpqrstuvwxyz23456789";
  std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
  std::string s;
  for (std::size_t i = 0; i < length; ++i) s += alphabet[pick(gen)];
  return s;
}

}  // namespace grading
