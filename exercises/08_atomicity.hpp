// Exercise 08 — atomicity: no lost updates, no frozen loop (lesson 08).
//
// You write the four functions declared below in exercises/08_atomicity.cpp. Each starts
// from code that "works" and has one of the two bugs of lesson 08:
//   * an await in the middle of a read-modify-write: another task runs in the gap, and one
//     of the two updates is lost (parts 1 and 4);
//   * a step that never awaits for a long time (a blocking call, a long computation): the
//     loop switches tasks only at co_await, so every other task stalls (parts 2 and 3).
//
// The grader (tests/grading/08_atomicity.cpp) runs your code under virtual time beside
// other tasks and checks the results, the loop's clock and whether the others could run. So
// an answer that serialises everything behind one lock, or that blocks, has the right
// numbers and still fails.
//
// A compiler pitfall, GCC 12: do not write co_await inside the condition of an `if` or a
// `?:`, as in `if (!co_await bank.approve(...))`. GCC 12.2 compiles it wrongly when the
// awaited coroutine really suspends: the task is lost (the runtime then reports that it
// "suspended on an awaitable that does not go through coop's loop"), or the program
// crashes. Await into a variable first: `const bool ok = co_await ...; if (!ok) ...`.
#pragma once

#include <coop/coop.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace ex08 {

// ---- the bank (parts 1 and 4) ---------------------------------------------------------------

struct Bank {
  explicit Bank(std::vector<long> opening) : balance(std::move(opening)) {
    for (std::size_t i = 0; i < balance.size(); ++i) locks.emplace_back("account " + std::to_string(i));
  }

  std::vector<long> balance;    // balance[i]: the money in account i
  std::deque<coop::Lock> locks;  // locks[i]: a Lock for account i, for you to use if you need one
  int fraud_checks = 0;          // how many fraud checks were made (the grader looks)
  int approvals_asked = 0;       // how many times the risk service was asked (the grader looks)

  // The fraud check (given): a call to another service, 10 ms. It looks at the amount only,
  // and throws std::invalid_argument for an amount <= 0.
  coop::Task<void> fraud_check(long amount) {
    ++fraud_checks;
    co_await coop::sleep(std::chrono::milliseconds(10));
    if (amount <= 0) throw std::invalid_argument("fraud check: a deposit of " + std::to_string(amount));
  }

  // The risk service (given), 10 ms: may `amount` be taken out of an account that holds
  // `current`? Its answer is about the balance you show it, so show it the balance you will
  // take the money from.
  coop::Task<bool> approve(long current, long amount) {
    ++approvals_asked;
    co_await coop::sleep(std::chrono::milliseconds(10));
    co_return amount > 0 && amount <= current;
  }

  long total() const { return std::accumulate(balance.begin(), balance.end(), 0L); }
};

// Part 1. deposit: add `amount` to balance[account], once the fraud check has passed. If the
// check throws, the exception propagates and the balance does not change. This version
// (lesson 08's) loses updates; do not copy it:
//
//     const long seen = bank.balance[account];       // read
//     co_await bank.fraud_check(amount);             // other deposits run here, and read too
//     bank.balance[account] = seen + amount;         // write back: overwrites theirs
//
// Yours must lose nothing when many deposits run at once, and they must still overlap: 100
// deposits at the same moment take one fraud check (10 ms), not 100 of them (1 s).
coop::Task<void> deposit(Bank& bank, std::size_t account, long amount);

// ---- the blocking half (parts 2 and 3) -------------------------------------------------------

// What the flaky service throws when a call fails.
struct ServiceDown : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A flaky service (given): each call takes 5 ms, and fails with ServiceDown while
// failures_left > 0 (each failure uses one up).
struct FlakyService {
  int failures_left = 0;
  int calls = 0;  // calls made so far

  coop::Task<std::string> call() {
    const int n = ++calls;
    co_await coop::sleep(std::chrono::milliseconds(5));
    if (failures_left > 0) {
      --failures_left;
      throw ServiceDown("call " + std::to_string(n) + " failed");
    }
    co_return "ok on call " + std::to_string(n);
  }
};

// Part 2. fetch_with_retry: return svc.call()'s result; when a call throws ServiceDown, wait
// `backoff` and call again, doubling the wait each time (backoff, 2 × backoff, 4 × backoff,
// ...), `attempts` calls at most. After the last failed call, no wait: its ServiceDown
// propagates. This version, ported from a threaded program, retries correctly and freezes the
// loop while it waits:
//
//     for (int attempt = 1;; ++attempt) {
//       try {
//         co_return co_await svc.call();
//       } catch (const ServiceDown&) {
//         if (attempt == attempts) throw;
//         std::this_thread::sleep_for(backoff);  // blocks the thread: the loop stops with it
//         backoff *= 2;
//       }
//     }
//
// Yours must wait without blocking: the other tasks run while it waits.
coop::Task<std::string> fetch_with_retry(FlakyService& svc, int attempts, coop::Clock::duration backoff);

// How many times mix() has been called; the grader watches it to see how much work ran
// between two turns of another task.
inline std::uint64_t mix_calls = 0;

// One step of a checksum (given): mixes x into acc. Plain CPU work, no waiting.
inline std::uint64_t mix(std::uint64_t acc, std::uint64_t x) noexcept {
  ++mix_calls;
  return acc ^ (x + 0x9e3779b97f4a7c15ULL + (acc << 6) + (acc >> 2));
}

// Part 3. checksum: what this loop computes, mix over `data` in order, starting from 0:
//
//     std::uint64_t acc = 0;
//     for (std::uint64_t x : data) acc = mix(acc, x);
//
// Run as it is, a million items keep the loop's thread busy with no co_await, and every other
// task stalls until it ends. Yours gives way after every `chunk` items with
// co_await coop::sleep(0ms): one turn of the loop, so each other ready task runs once, and no
// waiting (the whole checksum takes no time on the loop's clock). chunk >= 1.
coop::Task<std::uint64_t> checksum(std::vector<std::uint64_t> data, std::size_t chunk);

// Part 4. transfer: move `amount` from account `from` to account `to` if the risk service
// approves it for from's balance, and return whether it moved. from != to. This version loses
// updates (the money others took out comes back); do not copy it:
//
//     const long seen = bank.balance[from];
//     const bool ok = co_await bank.approve(seen, amount);   // others run here
//     if (!ok) co_return false;
//     bank.balance[from] = seen - amount;    // overwrites what others took out meanwhile
//     bank.balance[to] += amount;
//     co_return true;
//
// Here the await needs what was read (approve must see the balance the money comes from), so
// moving the await out of the update, as in part 1, does not do it alone. With many transfers
// at once, yours must:
//   * neither lose nor create money, and never take a balance below 0 (money paid into
//     `from` while a transfer out of it awaits approval must not be lost either);
//   * refuse a transfer only when it would have overdrawn (100 in the account, ten transfers
//     of 10 out of it at once: all ten go through);
//   * let transfers that share no account overlap (ten of them take 10 ms, not 100 ms);
//   * not deadlock when transfers go opposite ways (0 -> 1 and 1 -> 0 at the same time).
coop::Task<bool> transfer(Bank& bank, std::size_t from, std::size_t to, long amount);

}  // namespace ex08
