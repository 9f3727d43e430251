// timeline.cpp — turns a trace into rows of █ (running), ─ (waiting) and · (ready).
//
// Each task's life is cut into segments, from its events: spawned -> ready; step_began ->
// running; suspended -> waiting (from the end of the step); woken -> ready; finished ->
// gone. Each segment is painted onto the columns it covers; where two meet in one column
// the more telling wins (running over waiting over ready), and a step always gets at least
// its own column, however short it was: a 2 µs step in a 300 ms timeline is still seen.
#include "timeline.hpp"

#include <fmt/color.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>

namespace lesson {

using coop::Clock;
using coop::Outcome;
using coop::TraceEvent;
using Kind = coop::TraceEvent::Kind;

std::string format_seconds(Clock::duration d) {
  return fmt::format("{:.3f} s", std::chrono::duration<double>(d).count());
}

namespace {

enum class State : std::uint8_t { none, ready, waiting, running };  // in order of priority

struct Segment {
  State state;
  int from, to;  // columns, inclusive
};

// What a task waited on, as the timeline labels it. The runtime describes a wait as it
// begins ("gather of 3 tasks, 3 still running"); printed beside "✓ returned" at the end
// of the row, that reads as a contradiction. So a gather is labelled with how its
// children ended instead, from their own rows: "gather of 3 tasks: 3 returned".
struct Wait {
  std::string detail;                   // WaitInfo::describe(), when the wait began
  std::vector<std::uint64_t> children;  // a gather's children (empty for other waits)
};

struct Row {
  std::string name;
  std::vector<Segment> segments;
  State state = State::none;
  int since = 0;                    // column where `state` began
  State after_step = State::ready;  // what follows the running step (waiting if it suspended)
  bool finished = false;
  Outcome outcome = Outcome::pending;
  Clock::duration finished_at{};
  std::vector<Wait> waits;          // distinct things it waited on, in order
  std::vector<std::uint64_t> spawned;  // the tasks this one spawned, in order
};

// A gather's children: the last N tasks its waiter spawned (gather starts its children, or
// is handed tasks made before, right before it suspends), N being the count the runtime's
// description begins with, "gather of N tasks", each of them named in that description
// (it names the children still running when the wait began). Where the text does not read
// so, nothing is guessed: the description is shown as it is.
std::vector<std::uint64_t> gathered(const Row& waiter, const std::string& detail,
                                    const std::map<std::uint64_t, Row>& rows) {
  std::size_t n = 0;
  if (std::sscanf(detail.c_str(), "gather of %zu tasks", &n) != 1 || n == 0 || n > waiter.spawned.size()) return {};
  std::vector<std::uint64_t> children(waiter.spawned.end() - static_cast<std::ptrdiff_t>(n), waiter.spawned.end());
  for (std::uint64_t child : children)
    if (detail.find("'" + rows.at(child).name + "'") == std::string::npos) return {};
  return children;
}

// "gather of 3 tasks: 3 returned", "gather of 3 tasks: 1 failed, 2 cancelled": how the
// children ended (or "running", if the trace ends first). Any other wait: its description.
std::string label(const Wait& w, const std::map<std::uint64_t, Row>& rows) {
  if (w.children.empty()) return w.detail;
  std::map<Outcome, std::size_t> ended;
  for (std::uint64_t child : w.children) {
    const auto it = rows.find(child);
    ++ended[it == rows.end() ? Outcome::pending : it->second.outcome];
  }
  std::string text = fmt::format("gather of {} tasks:", w.children.size());
  const char* sep = " ";
  for (const auto& [how, count] : ended) {
    text += fmt::format("{}{} {}", sep, count, how == Outcome::pending ? "running" : coop::to_string(how));
    sep = ", ";
  }
  return text;
}

std::string paint(bool color, const std::string& s, fmt::text_style st) {
  return color ? fmt::format(st, "{}", s) : s;
}

}  // namespace

std::string render_timeline(const std::vector<TraceEvent>& events, Clock::duration end, const TimelineStyle& style) {
  const int width = std::max(8, style.width);
  Clock::duration last = end;
  int steps = 0;
  for (const TraceEvent& e : events) {
    last = std::max(last, e.at);
    if (e.kind == Kind::step_began) ++steps;
  }
  // Axis: the loop's clock, or (when no time passed) the sequence of steps.
  const bool by_time = last > Clock::duration::zero();
  int step_no = -1;
  auto column = [&](const TraceEvent& e) {
    if (by_time) {
      const double x = static_cast<double>(e.at.count()) / static_cast<double>(last.count());
      return std::min(width - 1, static_cast<int>(std::floor(x * width)));
    }
    const int k = std::max(0, step_no);
    return steps <= width ? k : static_cast<int>(static_cast<std::int64_t>(k) * width / steps);
  };
  const int axis_width = by_time ? width : std::min(width, std::max(1, steps));

  std::map<std::uint64_t, Row> rows;
  std::vector<std::uint64_t> order;
  auto close = [](Row& r, int at) {
    if (r.state != State::none) r.segments.push_back({r.state, r.since, std::max(r.since, at)});
  };
  for (const TraceEvent& e : events) {
    if (e.kind == Kind::step_began) ++step_no;
    const int c = column(e);
    auto [it, fresh] = rows.try_emplace(e.task);
    Row& r = it->second;
    if (fresh) {
      order.push_back(e.task);
      r.name = e.task_name;
    }
    if (r.finished) continue;
    switch (e.kind) {
      case Kind::spawned:
        r.state = State::ready;
        r.since = c;
        if (const auto p = rows.find(e.parent); p != rows.end()) p->second.spawned.push_back(e.task);
        break;
      case Kind::step_began:
        close(r, c);
        r.state = State::running;
        r.since = c;
        r.after_step = State::ready;
        break;
      case Kind::suspended:
        if (std::none_of(r.waits.begin(), r.waits.end(), [&](const Wait& w) { return w.detail == e.detail; }))
          r.waits.push_back({e.detail, e.wait == coop::WaitKind::gather ? gathered(r, e.detail, rows)
                                                                        : std::vector<std::uint64_t>{}});
        if (r.state == State::running) {
          r.after_step = State::waiting;
        } else {
          close(r, c);
          r.state = State::waiting;
          r.since = c;
        }
        break;
      case Kind::step_ended:
        close(r, c);
        r.state = r.after_step;
        r.since = c;
        break;
      case Kind::woken:
        if (r.state == State::running) {
          r.after_step = State::ready;
        } else {
          close(r, c);
          r.state = State::ready;
          r.since = c;
        }
        break;
      case Kind::cancel_requested:
        break;
      case Kind::finished:
        close(r, c);
        r.state = State::none;
        r.finished = true;
        r.outcome = e.outcome;
        r.finished_at = e.at;
        break;
    }
  }
  // Tasks still alive when the trace ends run on to its right edge.
  for (auto& [id, r] : rows) close(r, axis_width - 1);

  std::size_t name_width = 4;
  for (const auto& [id, r] : rows) name_width = std::max(name_width, r.name.size());
  name_width = std::min<std::size_t>(name_width, 20);

  std::string out;
  std::string head = style.title.empty() ? "timeline" : "timeline: " + style.title;
  head += by_time ? fmt::format(" (0 to {})", format_seconds(last)) : " (no time passed: one column per step)";
  out += "  " + paint(style.color, head, fmt::emphasis::bold);
  out += '\n';
  for (std::uint64_t id : order) {
    const Row& r = rows.at(id);
    std::vector<State> cells(static_cast<std::size_t>(axis_width), State::none);
    for (const Segment& s : r.segments)
      for (int x = std::max(0, s.from); x <= std::min(axis_width - 1, s.to); ++x)
        cells[static_cast<std::size_t>(x)] = std::max(cells[static_cast<std::size_t>(x)], s.state);
    std::string bar;
    for (State s : cells) {
      switch (s) {
        case State::none: bar += ' '; break;
        case State::ready: bar += paint(style.color, "·", fmt::fg(fmt::terminal_color::bright_black)); break;
        case State::waiting: bar += paint(style.color, "─", fmt::fg(fmt::terminal_color::bright_black)); break;
        case State::running: bar += paint(style.color, "█", fmt::fg(fmt::terminal_color::bright_green)); break;
      }
    }
    std::string name = r.name.size() > name_width ? r.name.substr(0, name_width - 1) + "~" : r.name;
    std::string end_mark;
    switch (r.outcome) {
      case Outcome::returned: end_mark = "✓ returned "; break;
      case Outcome::failed: end_mark = paint(style.color, "✗ failed   ", fmt::fg(fmt::terminal_color::bright_red)); break;
      case Outcome::cancelled: end_mark = paint(style.color, "⊘ cancelled", fmt::fg(fmt::terminal_color::bright_red)); break;
      case Outcome::abandoned: end_mark = "! abandoned"; break;
      case Outcome::pending: end_mark = "… running  "; break;
    }
    std::string when = r.finished ? format_seconds(r.finished_at) : "";
    std::string waits;
    // Distinct waits are set apart by " · ": a label may hold a comma ("sleep(0), one loop turn"
    // is one wait), so ", " between waits would read as more waits than there were.
    for (std::size_t i = 0; i < r.waits.size() && i < 2; ++i) waits += (i ? " · " : "") + label(r.waits[i], rows);
    if (r.waits.size() > 2)
      waits += fmt::format(" · and {} more wait{}", r.waits.size() - 2, r.waits.size() - 2 == 1 ? "" : "s");
    out += fmt::format("  {:<{}} {}  {} {:>9}  {}", name, name_width, bar, end_mark, when,
                       paint(style.color, waits, fmt::fg(fmt::terminal_color::bright_black)));
    while (!out.empty() && out.back() == ' ') out.pop_back();
    out += '\n';
  }
  // The axis under the bars.
  const std::string left = by_time ? "0 s" : "step 1";
  const std::string right = by_time ? format_seconds(last) : fmt::format("step {}", steps);
  const int gap = std::max(1, axis_width - static_cast<int>(left.size() + right.size()));
  out += fmt::format("  {:<{}} {}{}{}\n", "", name_width, left, std::string(static_cast<std::size_t>(gap), ' '), right);
  out += paint(style.color, "  █ running  ─ waiting  · ready, not yet its turn  ✓ returned  ✗ failed  ⊘ cancelled;"
               "  last column: what the task waited on",
               fmt::fg(fmt::terminal_color::bright_black));
  out += '\n';
  std::string summary = fmt::format("  wall {} · {} task{} · {} step{}", format_seconds(last), order.size(),
                                    order.size() == 1 ? "" : "s", steps, steps == 1 ? "" : "s");
  if (!style.real_running.empty()) summary += " · running " + style.real_running;
  out += summary + '\n';
  return out;
}

}  // namespace lesson
