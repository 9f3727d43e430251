// timeline.hpp — drawing what the loop did, from its trace (coop::TraceRecorder's events).
//
//   timeline: gather, 0 to 0.300 s
//   main        █──────────────────────────────────────────────█  ✓ returned   0.300 s
//   download a   ·█────────────────────────────────────────────  ✓ returned   0.300 s  sleep(300 ms)
//   download b   ·█──────────────█                               ✓ returned   0.100 s  sleep(100 ms)
//               0 s                                         0.300 s
//   █ running  ─ waiting  · ready, waiting for its turn  ✓ returned  ✗ failed  ⊘ cancelled
//   wall 0.300 s · 3 tasks · 7 steps · running 31 µs (real)
//
// One row per task, in spawn order. The horizontal axis is the loop's clock from the start
// of run(); when no time passed at all (everything happened in one instant of virtual
// time), it is the sequence of steps instead, one column each, so interleaving still shows.
#pragma once

#include <coop/coop.hpp>

#include <string>
#include <vector>

namespace lesson {

struct TimelineStyle {
  int width = 56;            // columns of the bar
  bool color = false;
  std::string title;         // "timeline: <title>"
  std::string real_running;  // "31 µs (real)", or "" to leave it out
};

// The whole drawing, lines ending in '\n'. `end` is when run() ended on the loop's clock.
std::string render_timeline(const std::vector<coop::TraceEvent>& events, coop::Clock::duration end,
                            const TimelineStyle& style);

// "0.300 s", fixed three decimals: times on a timeline line up.
std::string format_seconds(coop::Clock::duration d);

}  // namespace lesson
