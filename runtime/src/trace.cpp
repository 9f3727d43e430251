// trace.cpp — names for the loop's events, the views handed to tracers, and the recorder.
#include "coop/trace.hpp"

#include <fmt/format.h>

#include "coop/loop.hpp"

namespace coop {

std::string_view to_string(WaitKind kind) noexcept {
  switch (kind) {
    case WaitKind::sleep: return "sleep";
    case WaitKind::yield: return "yield";
    case WaitKind::event: return "event";
    case WaitKind::lock: return "lock";
    case WaitKind::queue_get: return "queue get";
    case WaitKind::queue_put: return "queue put";
    case WaitKind::task: return "task";
    case WaitKind::gather: return "gather";
    case WaitKind::wait_for: return "wait_for";
    case WaitKind::io: return "io";
    case WaitKind::thread: return "thread";
    case WaitKind::other: return "other";
  }
  return "?";
}

std::string_view to_string(Outcome outcome) noexcept {
  switch (outcome) {
    case Outcome::pending: return "pending";
    case Outcome::returned: return "returned";
    case Outcome::failed: return "failed";
    case Outcome::cancelled: return "cancelled";
    case Outcome::abandoned: return "abandoned";
  }
  return "?";
}

std::string_view to_string(TraceEvent::Kind kind) noexcept {
  switch (kind) {
    case TraceEvent::Kind::spawned: return "spawned";
    case TraceEvent::Kind::step_began: return "step began";
    case TraceEvent::Kind::step_ended: return "step ended";
    case TraceEvent::Kind::suspended: return "suspended";
    case TraceEvent::Kind::woken: return "woken";
    case TraceEvent::Kind::cancel_requested: return "cancel requested";
    case TraceEvent::Kind::finished: return "finished";
  }
  return "?";
}

std::string_view to_string(Diagnostic::Kind kind) noexcept {
  switch (kind) {
    case Diagnostic::Kind::slow_step: return "slow step";
    case Diagnostic::Kind::swallowed_cancellation: return "swallowed cancellation";
    case Diagnostic::Kind::unretrieved_exception: return "unretrieved exception";
    case Diagnostic::Kind::abandoned: return "abandoned";
  }
  return "?";
}

// ---- views -------------------------------------------------------------------------------

std::uint64_t TaskInfo::id() const noexcept { return task_->id(); }
const std::string& TaskInfo::name() const { return task_->name(); }
Outcome TaskInfo::outcome() const noexcept { return task_->outcome(); }
std::string TaskInfo::waiting_on() const {
  const Wait* w = task_->waiting_on();
  return w != nullptr ? w->describe() : std::string();
}

WaitKind WaitInfo::kind() const noexcept { return wait_->kind(); }
std::string WaitInfo::describe() const { return wait_->describe(); }

// ---- the recorder --------------------------------------------------------------------------

TraceEvent& TraceRecorder::add(TraceEvent::Kind kind, TaskInfo task) {
  const Clock::duration at = elapsed();
  TraceEvent& e = events_.emplace_back();
  e.at = at;
  e.kind = kind;
  e.task = task.id();
  e.task_name = task.name();
  return e;
}

void TraceRecorder::task_spawned(TaskInfo task, const TaskInfo* parent) {
  add(TraceEvent::Kind::spawned, task).parent = parent != nullptr ? parent->id() : 0;
}
void TraceRecorder::step_began(TaskInfo task) { add(TraceEvent::Kind::step_began, task); }
void TraceRecorder::step_ended(TaskInfo task) { add(TraceEvent::Kind::step_ended, task); }
void TraceRecorder::task_suspended(TaskInfo task, WaitInfo on) {
  TraceEvent& e = add(TraceEvent::Kind::suspended, task);
  e.wait = on.kind();
  e.detail = on.describe();
}
void TraceRecorder::task_woken(TaskInfo task) { add(TraceEvent::Kind::woken, task); }
void TraceRecorder::cancel_requested(TaskInfo task) { add(TraceEvent::Kind::cancel_requested, task); }
void TraceRecorder::task_finished(TaskInfo task, Outcome how) { add(TraceEvent::Kind::finished, task).outcome = how; }

std::vector<std::string> TraceRecorder::step_order() const {
  std::vector<std::string> order;
  for (const TraceEvent& e : events_)
    if (e.kind == TraceEvent::Kind::step_began) order.push_back(e.task_name);
  return order;
}

std::vector<TraceEvent> TraceRecorder::events_of(std::string_view task_name) const {
  std::vector<TraceEvent> out;
  for (const TraceEvent& e : events_)
    if (e.task_name == task_name) out.push_back(e);
  return out;
}

}  // namespace coop
