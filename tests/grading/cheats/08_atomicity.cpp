// Cheat for exercise 08 part 3: checksum folds with a private copy of mix (uncounted) and never
// gives way; the other parts are the reference.
// Exercise 08 — atomicity: the reference solution.
#include "08_atomicity.hpp"

#include <chrono>
#include <utility>

namespace ex08 {

coop::Task<void> deposit(Bank& bank, std::size_t account, long amount) {
  // The check looks at the amount only, so it can come first. The update after it has no
  // co_await inside: the loop cannot switch tasks there, so nobody reads the balance
  // between our read and our write. No lock, and 100 deposits still overlap their checks.
  // If the check throws, we never reach the update.
  co_await bank.fraud_check(amount);
  bank.balance[account] += amount;
}

coop::Task<std::string> fetch_with_retry(FlakyService& svc, int attempts, coop::Clock::duration backoff) {
  for (int attempt = 1;; ++attempt) {
    try {
      co_return co_await svc.call();
    } catch (const ServiceDown&) {
      if (attempt >= attempts) throw;  // the last call: no wait, its exception propagates
    }
    // The wait comes after the handler: C++ forbids co_await inside a catch block, so the
    // handler only decides whether to go on.
    //
    // coop::sleep parks this task on a timer; the loop runs everyone else meanwhile.
    // std::this_thread::sleep_for would park the whole thread, and the loop with it: no
    // other task could run until it returned.
    co_await coop::sleep(backoff);
    backoff *= 2;
  }
}

namespace {
// A copy of ex08::mix that the grader cannot count.
std::uint64_t my_mix(std::uint64_t acc, std::uint64_t x) noexcept {
  return acc ^ (x + 0x9e3779b97f4a7c15ULL + (acc << 6) + (acc >> 2));
}
}  // namespace

coop::Task<std::uint64_t> checksum(std::vector<std::uint64_t> data, std::size_t) {
  std::uint64_t acc = 0;
  for (std::uint64_t x : data) acc = my_mix(acc, x);  // never gives way, and mix_calls stays 0
  co_return acc;
}

coop::Task<bool> transfer(Bank& bank, std::size_t from, std::size_t to, long amount) {
  // approve() must see the balance the money comes from, so the read of `from` and the debit
  // sit on both sides of an await. A lock on `from`, held across it, makes every other
  // transfer out of `from` wait its turn: none can take money out between our read and our
  // debit, so the approval still holds when we debit. Transfers out of other accounts take
  // other locks and overlap.
  //
  // Money can still come IN to `from` meanwhile (a transfer into it locks its own source,
  // not `from`). So the debit is `-= amount`, which reads the balance when it writes, not
  // `= current - amount`, which would write back a value read before the await and erase
  // that payment: part 1's lost update again. Credits only add, so the balance is still at
  // least `current`, and the debit cannot overdraw.
  //
  // `to` needs no lock: `+= amount` is one step with no co_await, atomic on the loop. And
  // holding one lock at a time leaves no order to get wrong: transfers going opposite ways
  // cannot deadlock. (Locking both accounts works too, if every transfer takes them in the
  // same order, e.g. the lower index first: 0 -> 1 taking 0 then 1 while 1 -> 0 takes 1
  // then 0 deadlocks.)
  auto guard = co_await bank.locks[from].lock();  // released when `guard` goes out of scope
  // Awaited into a variable, not inside the `if`: GCC 12 miscompiles `if (co_await ...)`
  // (see the header).
  const bool approved = co_await bank.approve(bank.balance[from], amount);
  if (!approved) co_return false;
  bank.balance[from] -= amount;
  bank.balance[to] += amount;
  co_return true;
}

}  // namespace ex08
