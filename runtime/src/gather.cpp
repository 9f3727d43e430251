// gather.cpp — the one non-template gather: a vector of Task<void>.
#include "coop/gather.hpp"

namespace coop {

Task<void> gather(std::vector<Task<void>> tasks) {
  for (const Task<void>& t : tasks) detail::require_runnable(t, "gather");  // all or nothing
  std::vector<TaskHandle<void>> children;
  children.reserve(tasks.size());
  detail::JoinAll join(WaitKind::gather, tasks.size());
  for (Task<void>& t : tasks) {
    children.push_back(create_task(std::move(t)));
    join.add(children.back().state());
  }
  co_await join;
  join.rethrow_first_failure();
}

}  // namespace coop
