// trace_json.hpp — the loop's trace in Chrome's Trace Event Format, for --trace-json FILE.
//
// Open the file in https://ui.perfetto.dev (or chrome://tracing): one track per task,
// named "step N · task"; a slice per step the task ran ("running") and per wait (named by
// what it waited on, e.g. "sleep(100 ms)"); instant markers for cancel requests and for the
// end ("returned", "failed", "cancelled"). Each lesson::run is placed after the previous
// one on the time axis, so a whole lesson reads left to right.
#pragma once

#include <coop/coop.hpp>

#include <string>
#include <vector>

namespace lesson {

class ChromeTrace {
 public:
  explicit ChromeTrace(std::string process_name);

  // One run's events; `label` prefixes its track names ("step 3").
  void add_run(const std::string& label, const std::vector<coop::TraceEvent>& events, coop::Clock::duration end);

  // The whole document: {"traceEvents":[...],"displayTimeUnit":"ms"}.
  std::string json() const;

 private:
  std::vector<std::string> events_;  // one JSON object each
  double offset_us_ = 0;             // where the next run starts on the time axis
  int next_tid_ = 1;                 // one track (tid) per task per run
};

// `s` as a JSON string literal, quotes included.
std::string json_string(const std::string& s);

}  // namespace lesson
