// run.hpp — coop::run, the way into the loop (asyncio.run).
//
// run(main()) makes a loop on this thread, schedules main() as its first task (named
// "main"), runs the loop until main finishes, then winds down: every task still alive is
// cancelled and given the chance to clean up, and the result of main is returned, or its
// exception rethrown. One loop per thread at a time; calling run() from inside a running
// loop is a UsageError (inside a coroutine, co_await the Task instead).
#pragma once

#include <utility>

#include "coop/loop.hpp"
#include "coop/task.hpp"
#include "coop/task_handle.hpp"

namespace coop {

template <class T>
T run(Task<T> main, RunOptions options = {}) {
  detail::Loop loop(std::move(options));
  TaskHandle<T> handle = create_task(std::move(main), "main");
  loop.run_main(handle.state());  // throws DeadlockError, or a UsageError from the loop
  return handle.state().take_result();
}

}  // namespace coop
