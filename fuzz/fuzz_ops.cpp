// fuzz_ops.cpp — libFuzzer drives the stress test's interpreter (tests/stress/program.hpp).
//
// coop_stress draws a program's choices from a PRNG, so it explores where the dice fall;
// here they come from the fuzzer's bytes, and libFuzzer keeps the inputs that reach code
// no earlier input reached (coverage-guided), so it works its way towards rare corners:
// a cancel that lands in a particular state, a queue that is full exactly when a getter is
// cancelled. Every invariant program.hpp lists is checked after each run, the run is made
// twice (determinism), and a violation aborts with its message, which libFuzzer reports
// together with the input that caused it (saved as crash-*; replay it by passing the file
// to fuzz_ops).
//
// Built only with Clang (`make fuzz`, or -DCOOP_FUZZ=ON with clang++): libFuzzer is part
// of Clang's runtime. The bytes are read one per decision, so inputs stay small.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "program.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const coop_stress::ProgramResult r = coop_stress::check_program(
      [data, size] { return std::make_unique<coop_stress::ByteChoices>(data, size); });
  if (!r.ok) {
    std::fprintf(stderr, "fuzz_ops: invariant violated: %s\n", r.failure.c_str());
    std::abort();  // libFuzzer saves the input and reports it as a crash
  }
  return 0;
}
