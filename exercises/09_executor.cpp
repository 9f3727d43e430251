// Exercise 09 — executor. Replace each exercise::todo(...) with your code; the hints in the
// TODO comments get you started, `./coop run 9` grades it, `./coop hint 9` helps more.
#include "09_executor.hpp"

#include "exercise.hpp"

namespace ex09 {

coop::Task<std::string> query_async(LegacyDriver& db, int id) {
  // TODO: co_await coop::to_thread(...) runs a function on a pool thread and hands back its
  //       result (or exception). The function here is the member function LegacyDriver::query.
  (void)db, (void)id;
  exercise::todo("query_async");
  co_return {};
}

coop::Task<std::vector<std::string>> query_all(LegacyDriver& db, std::vector<int> ids) {
  // TODO: one query_async per id, all started together: coop::gather, as in lesson 03.
  (void)db, (void)ids;
  exercise::todo("query_all");
  co_return {};
}

coop::Task<std::string> SerialDriver::query(int id) {
  // TODO: coop::run_in_executor(pool, fn, args...) is to_thread on a pool of your choosing.
  (void)id, (void)db_, (void)thread_;
  exercise::todo("SerialDriver::query");
  co_return {};
}

coop::Task<std::string> query_with_timeout(LegacyDriver& db, int id, coop::Clock::duration timeout) {
  // TODO: coop::wait_for(task, timeout) gives a Task a time limit (lesson 05).
  (void)db, (void)id, (void)timeout;
  exercise::todo("query_with_timeout");
  co_return {};
}

}  // namespace ex09
