// Exercise 08 — atomicity. Replace each exercise::todo(...) with your code; the hints in the
// TODO comments get you started, `./coop run 8` grades it, `./coop hint 8` helps more.
#include "08_atomicity.hpp"

#include "exercise.hpp"

namespace ex08 {

coop::Task<void> deposit(Bank& bank, std::size_t account, long amount) {
  // TODO: the fraud check does not need the balance. Await it first; then read and write the
  //       balance in one go, with no co_await in between (nothing can run there).
  (void)bank, (void)account, (void)amount;
  exercise::todo("deposit");
  co_return;
}

coop::Task<std::string> fetch_with_retry(FlakyService& svc, int attempts, coop::Clock::duration backoff) {
  // TODO: wait with co_await coop::sleep(backoff), not std::this_thread::sleep_for. C++ does
  //       not allow co_await inside a catch block: note the failure there, wait after it.
  (void)svc, (void)attempts, (void)backoff;
  exercise::todo("fetch_with_retry");
  co_return {};
}

coop::Task<std::uint64_t> checksum(std::vector<std::uint64_t> data, std::size_t chunk) {
  // TODO: the loop from the header, plus co_await coop::sleep(std::chrono::milliseconds(0))
  //       once every `chunk` items.
  (void)data, (void)chunk;
  exercise::todo("checksum");
  co_return 0;
}

coop::Task<bool> transfer(Bank& bank, std::size_t from, std::size_t to, long amount) {
  // TODO: nobody else may debit `from` between reading its balance and writing it back.
  //       Hold a coop::Lock across that await — which one decides what can still overlap.
  (void)bank, (void)from, (void)to, (void)amount;
  exercise::todo("transfer");
  co_return false;
}

}  // namespace ex08
