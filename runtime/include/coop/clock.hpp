// clock.hpp — time, as the loop keeps it.
//
// coop measures time with std::chrono::steady_clock: it never jumps backwards when the
// system clock is set, which is what deadlines need (asyncio uses time.monotonic() for the
// same reason). The loop's own reading, coop::now(), is in loop.hpp: under virtual time it
// is not the real clock at all, but one that leaps from timer to timer.
#pragma once

#include <chrono>
#include <string>

namespace coop {

using Clock = std::chrono::steady_clock;

// "250 ms", "1.5 s", "40 us": a duration as a person would write it, for messages.
std::string format_duration(Clock::duration d);

}  // namespace coop
