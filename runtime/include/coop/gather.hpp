// gather.hpp — run several coroutines concurrently and collect their results.
//
// asyncio: `a, b, c = await asyncio.gather(fa(), fb(), fc())`. Every child is scheduled as
// its own task, so all of them start together and each suspends independently: the total
// time is that of the longest child, not the sum. Results come back in argument order,
// whatever order the children finished in.
//
// On the first exception (or cancellation) of a child, the other children are cancelled
// and awaited until they have finished, then that exception is rethrown. asyncio lets the
// siblings run on; in C++ they may hold references into the caller's frame, which is gone
// once the exception unwinds it (join_all.hpp). Cancelling the task that awaits gather
// cancels every child, likewise waiting for them.
//
// Children made from Task<T>s are named "Task-<id>", as in asyncio; to name them (for a
// timeline), create_task them with names and gather the handles.
#pragma once

#include <tuple>
#include <type_traits>
#include <variant>
#include <vector>

#include "coop/join_all.hpp"
#include "coop/task.hpp"
#include "coop/task_handle.hpp"

namespace coop {
namespace detail {

// A void child contributes std::monostate to the tuple.
template <class T>
using gather_value_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

template <class T>
gather_value_t<T> take_gathered(TaskState<T>& s) {
  if constexpr (std::is_void_v<T>) {
    s.take_result();
    return {};
  } else {
    return s.take_result();
  }
}

template <class T>
gather_value_t<T> copy_gathered(TaskState<T>& s) {
  if constexpr (std::is_void_v<T>) {
    s.copy_result();
    return {};
  } else {
    return s.copy_result();
  }
}

}  // namespace detail

// gather(fa(), fb(), ...) -> std::tuple of the results (std::monostate for a void child).
template <class... Ts>
Task<std::tuple<detail::gather_value_t<Ts>...>> gather(Task<Ts>... tasks) {
  (detail::require_runnable(tasks, "gather"), ...);  // all or nothing: see task.hpp
  // Braced initialisation runs left to right: children are scheduled in argument order.
  std::tuple<TaskHandle<Ts>...> children{create_task(std::move(tasks))...};
  detail::JoinAll join(WaitKind::gather, sizeof...(Ts));
  std::apply([&](auto&... h) { (join.add(h.state()), ...); }, children);
  co_await join;  // every child has finished (or been cancelled and finished)
  join.rethrow_first_failure();
  co_return std::apply(
      [](auto&... h) { return std::tuple<detail::gather_value_t<Ts>...>{detail::take_gathered(h.state())...}; },
      children);
}

// gather(vector of Task<T>) -> std::vector<T>, in the vector's order (Task<void> when T
// is void).
template <class T>
auto gather(std::vector<Task<T>> tasks) -> Task<std::conditional_t<std::is_void_v<T>, void, std::vector<T>>> {
  for (const Task<T>& t : tasks) detail::require_runnable(t, "gather");  // all or nothing
  std::vector<TaskHandle<T>> children;
  children.reserve(tasks.size());
  detail::JoinAll join(WaitKind::gather, tasks.size());
  for (Task<T>& t : tasks) {
    children.push_back(create_task(std::move(t)));
    join.add(children.back().state());
  }
  co_await join;
  join.rethrow_first_failure();
  if constexpr (!std::is_void_v<T>) {
    std::vector<T> results;
    results.reserve(children.size());
    for (TaskHandle<T>& h : children) {
      results.push_back(h.state().take_result());
      h = {};  // done with this child: let its record go
    }
    co_return results;
  }
}

// The same for tasks already scheduled with create_task (for instance to name them).
// Results are copies: the handles stay usable.
template <class... Ts>
  requires(sizeof...(Ts) > 0)
Task<std::tuple<detail::gather_value_t<Ts>...>> gather(TaskHandle<Ts>... handles) {
  std::tuple<TaskHandle<Ts>...> children{std::move(handles)...};
  detail::JoinAll join(WaitKind::gather, sizeof...(Ts));
  std::apply([&](auto&... h) { (join.add(h.state()), ...); }, children);
  co_await join;
  join.rethrow_first_failure();
  co_return std::apply(
      [](auto&... h) { return std::tuple<detail::gather_value_t<Ts>...>{detail::copy_gathered(h.state())...}; },
      children);
}

template <class T>
auto gather(std::vector<TaskHandle<T>> handles)
    -> Task<std::conditional_t<std::is_void_v<T>, void, std::vector<T>>> {
  detail::JoinAll join(WaitKind::gather, handles.size());
  for (TaskHandle<T>& h : handles) join.add(h.state());
  co_await join;
  join.rethrow_first_failure();
  if constexpr (!std::is_void_v<T>) {
    std::vector<T> results;
    results.reserve(handles.size());
    for (TaskHandle<T>& h : handles) results.push_back(h.state().copy_result());
    co_return results;
  }
}

}  // namespace coop
