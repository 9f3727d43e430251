// Exercise 05 — cancellation. Replace each exercise::todo(...) with your code; the hints in the
// TODO comments get you started, `./coop run 5` grades it, `./coop hint 5` helps more.
#include "05_cancellation.hpp"

#include "exercise.hpp"

namespace ex05 {

coop::Task<int> process(std::vector<Item> items, std::vector<std::string>& journal) {
  // TODO: a try around each co_await do_item(item), with two handlers:
  //       catch (const std::exception& e) for the failures (log, go on), and
  //       catch (const coop::CancelledError&) for the cancellation (log, then `throw;`).
  //       A catch (...) that goes on would swallow the cancellation too.
  (void)items, (void)journal;
  exercise::todo("process");
  co_return 0;
}

coop::Task<void> import_rows(Store& store, std::vector<std::string> rows) {
  // TODO: the writes and the commit inside a try; catch (const coop::CancelledError&) keeps
  //       std::current_exception() in a std::exception_ptr. After the try: if you kept one,
  //       co_await rollback(store), then std::rethrow_exception it.
  (void)store, (void)rows;
  exercise::todo("import_rows");
  co_return;
}

coop::Task<std::string> fetch_or(Server& server, std::string key, coop::Clock::duration takes,
                                 coop::Clock::duration limit, std::string fallback) {
  // TODO: co_return co_await coop::wait_for(fetch(...), limit), inside a try that catches
  //       coop::TimeoutError, and only that.
  (void)server, (void)key, (void)takes, (void)limit, (void)fallback;
  exercise::todo("fetch_or");
  co_return "";
}

coop::Task<std::vector<std::optional<std::string>>> fetch_all_within(Server& server, std::vector<Job> jobs,
                                                                     coop::Clock::duration limit) {
  // TODO: when the limit passes, gather is cancelled and returns nothing, so its results
  //       are lost. Let each fetch store its own result in its slot of a vector you own,
  //       as soon as it arrives (a small coroutine of your own), then run
  //       coop::wait_for(coop::gather(those), limit) and treat TimeoutError as "done".
  (void)server, (void)jobs, (void)limit;
  exercise::todo("fetch_all_within");
  co_return {};
}

}  // namespace ex05
