// wait_for.hpp — give a coroutine a time limit (asyncio.wait_for).
//
// The coroutine runs as a child task. If it finishes within `timeout`, wait_for returns its
// result (or rethrows its exception). If the timeout passes first, the child is cancelled,
// wait_for waits until it has finished cleaning up, and throws TimeoutError. If the task
// calling wait_for is cancelled, the child is cancelled too, and CancelledError propagates
// once the child has finished. (The child never outlives wait_for: see join_all.hpp.)
//
// If the child catches its CancelledError and returns a value anyway, that value is
// returned, and the runtime warns that the child swallowed its cancellation.
#pragma once

#include "coop/errors.hpp"
#include "coop/join_all.hpp"
#include "coop/task.hpp"
#include "coop/task_handle.hpp"

namespace coop {

template <class T>
Task<T> wait_for(Task<T> task, Clock::duration timeout) {
  detail::Loop& loop = detail::Loop::current("coop::wait_for()");
  TaskHandle<T> child = create_task(std::move(task));
  detail::JoinAll join(WaitKind::wait_for, 1, loop.deadline_after(timeout));
  join.add(child.state());
  co_await join;
  if (join.timed_out() && child.cancelled())
    throw TimeoutError("wait_for: task '" + child.name() + "' did not finish within " + format_duration(timeout));
  co_return child.state().take_result();
}

}  // namespace coop
