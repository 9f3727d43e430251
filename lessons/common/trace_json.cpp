// trace_json.cpp — Chrome Trace Event Format, written by hand: it is a flat list of small
// objects, and a JSON library would be one more dependency for twenty lines.
#include "trace_json.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>

namespace lesson {

using coop::Clock;
using Kind = coop::TraceEvent::Kind;

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20)
          out += fmt::format("\\u{:04x}", c);
        else
          out += ch;
    }
  }
  return out + "\"";
}

ChromeTrace::ChromeTrace(std::string process_name) {
  events_.push_back(fmt::format(R"({{"name":"process_name","ph":"M","pid":1,"tid":0,"args":{{"name":{}}}}})",
                                json_string(process_name)));
}

namespace {
double micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }
}  // namespace

void ChromeTrace::add_run(const std::string& label, const std::vector<coop::TraceEvent>& events,
                          Clock::duration end) {
  struct Open {
    int tid = 0;
    double running_since = -1;  // µs, or -1
    double waiting_since = -1;
    std::string waiting_on;
  };
  std::map<std::uint64_t, Open> tasks;
  Clock::duration last = end;
  auto slice = [&](int tid, const std::string& name, const char* cat, double from, double to) {
    events_.push_back(fmt::format(R"({{"name":{},"cat":"{}","ph":"X","ts":{:.3f},"dur":{:.3f},"pid":1,"tid":{}}})",
                                  json_string(name), cat, offset_us_ + from, std::max(0.0, to - from), tid));
  };
  auto instant = [&](int tid, const std::string& name, double at) {
    events_.push_back(fmt::format(R"({{"name":{},"cat":"task","ph":"i","s":"t","ts":{:.3f},"pid":1,"tid":{}}})",
                                  json_string(name), offset_us_ + at, tid));
  };
  for (const coop::TraceEvent& e : events) {
    last = std::max(last, e.at);
    const double at = micros(e.at);
    auto [it, fresh] = tasks.try_emplace(e.task);
    Open& t = it->second;
    if (fresh) {
      t.tid = next_tid_++;
      events_.push_back(fmt::format(R"({{"name":"thread_name","ph":"M","pid":1,"tid":{},"args":{{"name":{}}}}})", t.tid,
                                    json_string(label + " · " + e.task_name)));
      events_.push_back(fmt::format(R"({{"name":"thread_sort_index","ph":"M","pid":1,"tid":{},"args":{{"sort_index":{}}}}})",
                                    t.tid, t.tid));
    }
    switch (e.kind) {
      case Kind::spawned: instant(t.tid, "spawned", at); break;
      case Kind::step_began:
        if (t.waiting_since >= 0) slice(t.tid, t.waiting_on, "wait", t.waiting_since, at);
        t.waiting_since = -1;
        t.running_since = at;
        break;
      case Kind::step_ended:
        if (t.running_since >= 0) slice(t.tid, "running", "step", t.running_since, at);
        t.running_since = -1;
        break;
      case Kind::suspended:
        t.waiting_since = at;
        t.waiting_on = e.detail;
        break;
      case Kind::woken:
        if (t.waiting_since >= 0) slice(t.tid, t.waiting_on, "wait", t.waiting_since, at);
        t.waiting_since = -1;
        break;
      case Kind::cancel_requested: instant(t.tid, "cancel requested", at); break;
      case Kind::finished:
        if (t.waiting_since >= 0) slice(t.tid, t.waiting_on, "wait", t.waiting_since, at);
        t.waiting_since = -1;
        instant(t.tid, std::string(coop::to_string(e.outcome)), at);
        break;
    }
  }
  // Leave a visible gap before the next run.
  offset_us_ += micros(last) + std::max(1000.0, micros(last) / 10);
}

std::string ChromeTrace::json() const {
  std::string out = "{\"traceEvents\":[\n";
  for (std::size_t i = 0; i < events_.size(); ++i) {
    out += events_[i];
    out += i + 1 < events_.size() ? ",\n" : "\n";
  }
  out += "],\"displayTimeUnit\":\"ms\"}\n";
  return out;
}

}  // namespace lesson
