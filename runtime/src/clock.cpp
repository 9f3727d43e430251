// clock.cpp — format_duration (clock.hpp).
#include "coop/clock.hpp"

#include <fmt/format.h>

#include <cmath>

namespace coop {

std::string format_duration(Clock::duration d) {
  const double ns = static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
  const double a = std::fabs(ns);
  if (a >= 1e9) return fmt::format("{:g} s", std::round(ns / 1e6) / 1e3);
  if (a >= 1e6) return fmt::format("{:g} ms", std::round(ns / 1e3) / 1e3);
  if (a >= 1e3) return fmt::format("{:g} us", std::round(ns) / 1e3);
  return fmt::format("{:g} ns", ns);
}

}  // namespace coop
