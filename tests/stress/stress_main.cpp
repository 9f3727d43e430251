// stress_main.cpp — coop_stress: run many random programs (program.hpp) and check each.
//
//   coop_stress --seeds 1..2000          seeds 1 to 2000 (CTest runs this one)
//   coop_stress --first 1 --count 10000  the same, as a start and a count (make stress)
//   coop_stress --seed 42 --verbose      one seed, printing every operation as it runs
//   coop_stress --seed 42 --dump-choices fuzz/corpus/seed-42
//                                        write seed 42's choices as a fuzz input
//   coop_stress --input build-fuzz/crashes/crash-... --verbose
//                                        run a fuzz input (what fuzz_ops ran), verbosely
//
// Every seed is run to the end, even after a failure, so one run tells how many seeds fail;
// each failing seed prints one line with the command that replays it. Exit status: 0 when
// all passed, 1 when any failed, 2 for a bad command line.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "program.hpp"

namespace {

// "A..B" (inclusive) -> first, count. False when it is not that.
bool parse_range(const std::string& text, std::uint64_t& first, std::uint64_t& count) {
  const std::size_t dots = text.find("..");
  if (dots == std::string::npos || dots == 0 || dots + 2 >= text.size()) return false;
  const std::string a = text.substr(0, dots), b = text.substr(dots + 2);
  if (a.find_first_not_of("0123456789") != std::string::npos || b.find_first_not_of("0123456789") != std::string::npos)
    return false;
  if (a.size() > 18 || b.size() > 18) return false;
  const std::uint64_t lo = std::stoull(a), hi = std::stoull(b);
  if (hi < lo) return false;
  first = lo;
  count = hi - lo + 1;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app(
      "coop_stress: run random concurrent programs on coop's loop under virtual time and check the "
      "runtime's invariants after each (tests/stress/program.hpp lists them)");
  std::string seeds;
  std::uint64_t seed = 0, first = 1, count = 100;
  bool verbose = false;
  std::string dump, input;
  auto* seeds_opt = app.add_option("--seeds", seeds, "A range of seeds, A..B (inclusive)");
  auto* seed_opt = app.add_option("--seed", seed, "One seed");
  auto* first_opt = app.add_option("--first", first, "The first seed (default 1)");
  auto* count_opt = app.add_option("--count", count, "How many seeds from --first (default 100)");
  app.add_flag("--verbose,-v", verbose, "Print each operation as it runs (with --seed or --input)");
  auto* dump_opt = app.add_option("--dump-choices", dump, "Write the seed's choices to FILE, as a fuzz input (with --seed)");
  auto* input_opt = app.add_option("--input", input, "Run the choices in FILE, a fuzz input, instead of a seed");
  seeds_opt->excludes(seed_opt)->excludes(first_opt)->excludes(count_opt)->excludes(input_opt);
  seed_opt->excludes(first_opt)->excludes(count_opt)->excludes(input_opt);
  input_opt->excludes(first_opt)->excludes(count_opt);
  dump_opt->needs(seed_opt);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "coop_stress: %s (see coop_stress --help)\n", e.what());
    return 2;
  }
  if (verbose && !*seed_opt && !*input_opt) {
    std::fprintf(stderr, "coop_stress: --verbose needs --seed or --input (see coop_stress --help)\n");
    return 2;
  }
  if (*seeds_opt && !parse_range(seeds, first, count)) {
    std::fprintf(stderr, "coop_stress: --seeds %s: expected a range A..B with A <= B, e.g. --seeds 1..2000\n", seeds.c_str());
    return 2;
  }
  if (*seed_opt) {
    first = seed;
    count = 1;
  }
  if (count == 0) {
    std::fprintf(stderr, "coop_stress: --count 0: nothing to run\n");
    return 2;
  }

  if (!dump.empty()) {
    coop_stress::SeedChoices source(seed);
    coop_stress::RecordingChoices recording(source);
    const coop_stress::ProgramResult r = coop_stress::run_program(recording);
    std::ofstream out(dump, std::ios::binary);
    out.write(reinterpret_cast<const char*>(recording.bytes().data()), static_cast<std::streamsize>(recording.bytes().size()));
    if (!out) {
      std::fprintf(stderr, "coop_stress: --dump-choices %s: cannot write that file\n", dump.c_str());
      return 2;
    }
    std::printf("coop_stress: seed %llu: %zu bytes of choices written to %s (%s)\n", static_cast<unsigned long long>(seed),
                recording.bytes().size(), dump.c_str(), r.ok ? "passed" : r.failure.c_str());
    return r.ok ? 0 : 1;
  }

  coop_stress::ProgramOptions options;
  options.verbose = verbose;
  if (!input.empty()) {
    std::ifstream in(input, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "coop_stress: --input %s: cannot read that file\n", input.c_str());
      return 2;
    }
    const std::vector<std::uint8_t> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    const coop_stress::ProgramResult r = coop_stress::check_program(
        [&bytes] { return std::make_unique<coop_stress::ByteChoices>(bytes.data(), bytes.size()); }, options);
    if (!r.ok) {
      std::printf("coop_stress: input %s FAILED: %s\n", input.c_str(), r.failure.c_str());
      return 1;
    }
    std::printf("coop_stress: input %s passed: %llu tasks, %llu operations\n", input.c_str(),
                static_cast<unsigned long long>(r.stats.tasks), static_cast<unsigned long long>(r.stats.operations));
    return 0;
  }
  coop_stress::ProgramStats total;
  std::uint64_t failed = 0;
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t s = first; s - first < count; ++s) {
    const coop_stress::ProgramResult r = coop_stress::check_program(
        [s] { return std::make_unique<coop_stress::SeedChoices>(s); }, options);
    total.tasks += r.stats.tasks;
    total.operations += r.stats.operations;
    total.cancel_calls += r.stats.cancel_calls;
    total.cancelled += r.stats.cancelled;
    total.exceptions += r.stats.exceptions;
    total.unretrieved += r.stats.unretrieved;
    total.timeouts += r.stats.timeouts;
    total.deadlocks += r.stats.deadlocks;
    if (!r.ok) {
      ++failed;
      std::printf("coop_stress: seed %llu FAILED: %s (replay: %s --seed %llu --verbose)\n", static_cast<unsigned long long>(s),
                  r.failure.c_str(), argv[0], static_cast<unsigned long long>(s));
      std::fflush(stdout);
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "coop_stress: %llu seeds (%llu..%llu), %llu failed, in %.2f s (each run twice). In all: %llu tasks, %llu operations, "
      "%llu cancel() calls, %llu tasks ended cancelled, %llu exceptions thrown (%llu reported as never retrieved), "
      "%llu timeouts, %llu deadlocks reported\n",
      static_cast<unsigned long long>(count), static_cast<unsigned long long>(first),
      static_cast<unsigned long long>(first + count - 1), static_cast<unsigned long long>(failed), secs,
      static_cast<unsigned long long>(total.tasks), static_cast<unsigned long long>(total.operations),
      static_cast<unsigned long long>(total.cancel_calls), static_cast<unsigned long long>(total.cancelled),
      static_cast<unsigned long long>(total.exceptions), static_cast<unsigned long long>(total.unretrieved),
      static_cast<unsigned long long>(total.timeouts), static_cast<unsigned long long>(total.deadlocks));
  return failed == 0 ? 0 : 1;
}
