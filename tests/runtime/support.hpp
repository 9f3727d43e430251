// support.hpp — what the runtime tests share.
//
// Timing rules are checked under virtual time, so they are exact: `elapsed()` after
// `co_await sleep(300ms)` is exactly 300 ms, never "about". Diagnostics are captured, not
// printed, so a test can assert that a warning was (or was not) given.
#pragma once

#include <doctest/doctest.h>

#include <coop/coop.hpp>
#include <string>
#include <utility>
#include <vector>

// A coroutine whose frames a test counts (frame_stats()). Clang's optimiser may elide a
// frame's allocation (heap allocation elision) where the call is inlined into a caller the
// coroutine never outlives: the frame then lives inside the caller's, and the allocator
// sees nothing. GCC does not elide. A coroutine that is never inlined always allocates, so
// what such a test counts is the allocator's own doing, at every optimisation level. The
// "back where it was" checks need no such mark: they hold with elision too.
#define COOP_COUNTED_FRAME [[gnu::noinline]]

namespace coop::testing {

using namespace std::chrono_literals;

// Run options for a test: virtual time, diagnostics collected into `sink`.
inline RunOptions virtual_options(std::vector<Diagnostic>* sink = nullptr, Tracer* tracer = nullptr) {
  RunOptions o;
  o.virtual_time = true;
  o.tracer = tracer;
  if (sink != nullptr) o.on_diagnostic = [sink](const Diagnostic& d) { sink->push_back(d); };
  else o.on_diagnostic = [](const Diagnostic& d) { FAIL_CHECK("unexpected diagnostic: ", d.message); };
  return o;
}

// Run `main` under virtual time; any diagnostic fails the test unless `sink` collects them.
template <class T>
T run_virtual(Task<T> main, std::vector<Diagnostic>* sink = nullptr, Tracer* tracer = nullptr) {
  return run(std::move(main), virtual_options(sink, tracer));
}

// Loop time since run() began (exact under virtual time).
using coop::elapsed;

// How many diagnostics of one kind were given.
inline std::size_t count(const std::vector<Diagnostic>& ds, Diagnostic::Kind kind) {
  std::size_t n = 0;
  for (const auto& d : ds) n += d.kind == kind ? 1 : 0;
  return n;
}

// A witness that a scope ended: sets *flag when destroyed. As a local (or a parameter) of a
// coroutine it shows whether the coroutine's frame was destroyed.
struct SetOnDestroy {
  bool* flag;
  explicit SetOnDestroy(bool* f) : flag(f) {}
  SetOnDestroy(SetOnDestroy&& other) noexcept : flag(std::exchange(other.flag, nullptr)) {}
  SetOnDestroy(const SetOnDestroy&) = delete;
  SetOnDestroy& operator=(const SetOnDestroy&) = delete;
  SetOnDestroy& operator=(SetOnDestroy&&) = delete;
  ~SetOnDestroy() {
    if (flag != nullptr) *flag = true;
  }
};

}  // namespace coop::testing
