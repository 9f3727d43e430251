// gather.cpp — the one non-template gather: a vector of Task<void>.
#include "coop/gather.hpp"

namespace coop {

Task<void> gather(std::vector<Task<void>> tasks) {
  std::vector<TaskHandle<void>> children;
  children.reserve(tasks.size());
  for (Task<void>& t : tasks) children.push_back(create_task(std::move(t)));
  co_await detail::join_children(WaitKind::gather, children);
}

}  // namespace coop
