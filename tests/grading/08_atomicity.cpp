// Grader for exercise 08 — atomicity. Every check runs under virtual time, beside other
// tasks: a lost update shows in the balances, a solution that serialises everything shows on
// the loop's clock, and a blocking or never-awaiting step shows in the other tasks, which
// could not run (and, for a blocking call, in the runtime's slow-step warning).
#include "08_atomicity.hpp"

#include "grader.hpp"

#include <algorithm>
#include <exception>
#include <limits>

using namespace std::chrono_literals;
using coop::Clock;
using coop::Task;

namespace {

std::string secs(Clock::duration d) { return coop::format_duration(d); }

// grading::run, with a word about the GCC 12 pitfall that the header warns of: a task lost
// by `if (co_await ...)` shows up as this UsageError.
template <class T>
T run_graded(Task<T> main, grading::Run* record = nullptr, grading::RunSettings settings = {}) {
  try {
    return grading::run(std::move(main), record, settings);
  } catch (const coop::UsageError& e) {
    if (std::string_view(e.what()).find("does not go through coop's loop") == std::string_view::npos) throw;
    grading::fail(fmt::format("{}. If your code has co_await inside an `if (...)` or `?:` condition: GCC 12 "
                              "compiles that wrongly (see the header); await into a variable first",
                              e.what()),
                  grading::Hint{"Write bool ok = co_await ...; and then if (ok): GCC 12 loses the task when the "
                                "co_await sits inside the condition itself."});
  }
}

// ---- parts 1 and 4: many updates at once ------------------------------------------------------

struct Deposit {
  std::size_t account;
  long amount;
};

// Every deposit at the same moment; how long until all were done.
Task<Clock::duration> deposits_at_once(ex08::Bank& bank, std::vector<Deposit> ds) {
  const Clock::time_point start = coop::now();
  std::vector<Task<void>> all;
  for (const Deposit& d : ds) all.push_back(ex08::deposit(bank, d.account, d.amount));
  co_await coop::gather(std::move(all));
  co_return coop::now() - start;
}

struct Move {
  std::size_t from, to;
  long amount;
};

struct Moved {
  std::vector<bool> done;  // what each transfer returned
  Clock::duration took{};
};

// Every transfer at the same moment, started in the order given.
Task<Moved> transfers_at_once(ex08::Bank& bank, std::vector<Move> ms) {
  const Clock::time_point start = coop::now();
  std::vector<Task<bool>> all;
  for (const Move& m : ms) all.push_back(ex08::transfer(bank, m.from, m.to, m.amount));
  Moved r;
  r.done = co_await coop::gather(std::move(all));
  r.took = coop::now() - start;
  co_return r;
}

// Runs the transfers; a deadlock becomes a failure that says why it happens.
Moved run_transfers(ex08::Bank& bank, std::vector<Move> ms, const std::string& what) {
  try {
    return run_graded(transfers_at_once(bank, std::move(ms)));
  } catch (const coop::DeadlockError& e) {
    grading::fail(fmt::format(
        "{} deadlocked: each transfer holds one account's lock and waits for the other's, which the other "
        "transfer holds. The runtime says: {}",
        what, e.what()),
        grading::Hint{"Lock only `from`, the one account read across the await; or, if you lock two, always the "
                      "lower index first, so that no two transfers can wait for each other in a circle."});
  }
}

std::string balances(const ex08::Bank& bank) { return fmt::format("{}", bank.balance); }

// ---- parts 2 and 3: is the loop free? --------------------------------------------------------

// Beats every 10 ms until cancelled, counting.
Task<void> heartbeat(int& beats) {
  for (;;) {
    ++beats;
    co_await coop::sleep(10ms);
  }
}

struct Retried {
  std::string result;  // the value, or "threw <what>"
  bool threw_service_down = false;
  Clock::duration took{};
  int beats = 0;
};

// fetch_with_retry beside a heartbeat that should beat every 10 ms throughout.
Task<Retried> retry_beside_heartbeat(ex08::FlakyService& svc, int attempts, Clock::duration backoff) {
  Retried r;
  auto beat = coop::create_task(heartbeat(r.beats), "heartbeat");
  const Clock::time_point start = coop::now();
  std::exception_ptr other;  // anything else: rethrown once the heartbeat has stopped
  try {
    r.result = co_await ex08::fetch_with_retry(svc, attempts, backoff);
  } catch (const ex08::ServiceDown& e) {
    r.threw_service_down = true;
    r.result = std::string("threw ServiceDown: ") + e.what();
  } catch (...) {
    other = std::current_exception();
  }
  r.took = coop::now() - start;
  co_await grading::stop(beat);
  if (other) std::rethrow_exception(other);
  co_return r;
}

// Takes a turn of the loop (sleep(0)) over and over until `done`, noting how many mix()
// calls ran between two of its turns.
struct Watch {
  long turns = 0;
  std::uint64_t most_between = 0;  // the most mix() calls between two turns
};

// It stops after 100,000 turns whatever happens: under virtual time the clock stands still
// while a task is ready, so a checksum that waits on a timer (sleep(1ms)) would otherwise
// never see its timer fire.
Task<void> ticker(Watch& w, const bool& done) {
  std::uint64_t last = 0;  // mix_calls is reset before checksum starts
  while (!done && w.turns < 100'000) {
    ++w.turns;
    w.most_between = std::max(w.most_between, ex08::mix_calls - last);
    last = ex08::mix_calls;
    co_await coop::sleep(0ms);
  }
  w.most_between = std::max(w.most_between, ex08::mix_calls - last);
}

struct Summed {
  std::uint64_t sum = 0;
  Clock::duration took{};
  Watch watch;
};

Task<Summed> checksum_beside_ticker(std::vector<std::uint64_t> data, std::size_t chunk) {
  Summed r;
  bool done = false;
  ex08::mix_calls = 0;
  auto t = coop::create_task(ticker(r.watch, done), "ticker");
  const Clock::time_point start = coop::now();
  r.sum = co_await ex08::checksum(std::move(data), chunk);
  r.took = coop::now() - start;
  done = true;
  co_await t;
  co_return r;
}

std::uint64_t expected_checksum(const std::vector<std::uint64_t>& data) {
  std::uint64_t acc = 0;
  for (std::uint64_t x : data) acc = ex08::mix(acc, x);
  return acc;
}

// Fresh for every run (the seed), so no checksum can be written down in advance.
std::vector<std::uint64_t> some_data(std::size_t n) {
  std::vector<std::uint64_t> v(n);
  std::uint64_t x = static_cast<std::uint64_t>(grading::fresh_number(1, std::numeric_limits<long>::max()));
  for (std::uint64_t& e : v) {  // xorshift: varied numbers
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    e = x;
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  grading::Grader g(8, "atomicity", "no lost updates, no frozen loop");

  g.part("deposit: no lost update, still concurrent",
         "100 deposits (1, 2, ..., 100) into one account at the same moment, 10 more into another: the "
         "balances end at 5050 and 10, and all of it takes one fraud check (10 ms). A deposit the check "
         "refuses throws and changes nothing.",
         {"Lesson 08, step 4: the fraud check does not need the balance. Where is the await, and does it have "
          "to sit between the read and the write?",
          "Await bank.fraud_check(amount) first, then update the balance in one statement. With no co_await "
          "between the read and the write, no other task can run there; a Lock would make the 100 checks run "
          "one after another (1 s).",
          "co_await bank.fraud_check(amount); bank.balance[account] += amount;  — in that order: updating "
          "first and checking after would deposit money the check refuses."},
         [] {
           ex08::Bank bank({0, 0, 0});
           std::vector<Deposit> ds;
           for (long a = 1; a <= 100; ++a) ds.push_back({0, a});
           for (int k = 0; k < 10; ++k) ds.push_back({1, 1});
           const Clock::duration took = run_graded(deposits_at_once(bank, ds));
           grading::check(bank.balance[0] == 5050,
                          fmt::format("account 0 got deposits 1 + 2 + ... + 100 at once and holds {}, expected "
                                      "5050: {} lost. A deposit read the balance, awaited, and wrote back what "
                                      "it had read plus its amount, over the others' updates",
                                      bank.balance[0], 5050 - bank.balance[0]));
           grading::check_eq(bank.balance, std::vector<long>{5050, 10, 0}, "balances after the deposits");
           grading::check(bank.fraud_checks == 110,
                          fmt::format("{} fraud checks for 110 deposits: every deposit must be checked",
                                      bank.fraud_checks),
                          grading::Hint{"Every deposit awaits bank.fraud_check(amount) itself, once, before it "
                                        "touches the balance."});
           grading::check(took == 10ms,
                          fmt::format("110 deposits took {}, expected 10 ms (one check: they all overlap). {}",
                                      secs(took),
                                      took > 10ms ? "They ran one after another, as behind a lock held across "
                                                    "the check: the check does not need the balance"
                                                  : "Did they await the fraud check?"),
                          grading::Hint{"Nothing may be held across the fraud check: the checks must overlap. Only "
                                        "the update must be atomic, and with no co_await inside it, it is."});

           ex08::Bank refused({7});
           bool threw = false;
           try {
             run_graded(ex08::deposit(refused, 0, -5));
           } catch (const std::invalid_argument&) {
             threw = true;
           }
           grading::check(threw,
                          "deposit(-5): the fraud check throws std::invalid_argument; deposit should let it propagate",
                          grading::Hint{"Don't catch the fraud check's exception in deposit: a refused deposit must "
                                        "fail for its caller."});
           grading::check(refused.balance[0] == 7,
                          fmt::format("deposit(-5) was refused by the fraud check, yet the balance went from 7 to "
                                      "{}: update only after the check has passed",
                                      refused.balance[0]),
                          grading::Hint{"Check first, then update: when the check throws, the update is never "
                                        "reached and the balance stays as it was."});
         });

  g.part("fetch_with_retry: wait without blocking",
         "fetch_with_retry(svc that fails 3 times, 5 attempts, backoff 40 ms) returns \"ok on call 4\" after "
         "4 × 5 ms + 40 + 80 + 160 ms = 300 ms on the loop's clock, while a heartbeat beats every 10 ms. With 3 "
         "attempts at a service that fails 5 times, ServiceDown propagates after 75 ms (no wait after the last "
         "call).",
         {"The waits must let the loop run the other tasks: which kind of sleep does that?",
          "std::this_thread::sleep_for blocks the thread, so the loop and every task on it. co_await "
          "coop::sleep(d) parks only this task. C++ does not allow co_await inside a catch block: let the "
          "handler decide whether to retry, and wait after it.",
          "for (int i = 1;; ++i) { try { co_return co_await svc.call(); } catch (const ServiceDown&) { if (i == "
          "attempts) throw; } co_await coop::sleep(backoff); backoff *= 2; }"},
         [] {
           ex08::FlakyService svc{3};
           grading::Run run;
           const Retried r = run_graded(retry_beside_heartbeat(svc, 5, 40ms), &run, {.slow_step_warning = 30ms});
           grading::check_eq(r.result, std::string("ok on call 4"), "fetch_with_retry's result",
                             grading::Hint{"Retry while svc.call() throws ServiceDown, and return the result of the "
                                           "first call that succeeds."});
           const grading::Hint calls{"Call again only after a ServiceDown, at most `attempts` times in all, and stop "
                                     "at the first success."};
           grading::check_eq(svc.calls, 4, "calls made", calls);
           // A wait that blocks the thread takes no time on the virtual clock, and no other task
           // runs meanwhile; the runtime's slow-step warning says how long it really took.
           std::string blocked;
           for (const coop::Diagnostic& d : run.diagnostics)
             if (d.kind == coop::Diagnostic::Kind::slow_step && blocked.empty())
               blocked = fmt::format(" The runtime warned: {}. The waits blocked the thread "
                                     "(std::this_thread::sleep_for?) instead of awaiting",
                                     d.message);
           grading::check(r.took == 300ms, fmt::format("took {} on the loop's clock, expected 300 ms: 4 calls of 5 ms "
                                                       "and waits of 40, 80 and 160 ms.{}",
                                                       secs(r.took), blocked),
                          grading::Hint{"co_await coop::sleep(backoff) between two calls, doubling the backoff after "
                                        "each wait (40, 80, 160 ms); a sleep that blocks the thread takes no time on "
                                        "the loop's clock."});
           grading::check(r.beats >= 25,
                          fmt::format("the heartbeat beat {} times during 300 ms, expected about 30 (every 10 ms): "
                                      "the loop was not free while fetch_with_retry waited.{}",
                                      r.beats, blocked));

           ex08::FlakyService down{5};
           const Retried f = run_graded(retry_beside_heartbeat(down, 3, 20ms), nullptr, {.slow_step_warning = 30ms});
           grading::check(f.threw_service_down,
                          "3 attempts at a service that fails 5 times: expected ServiceDown to propagate, got " +
                              (f.result.empty() ? std::string("a result") : "\"" + f.result + "\""),
                          grading::Hint{"When the last attempt fails, re-throw its ServiceDown (`throw;` in the "
                                        "handler): the caller must learn that the service is down."});
           grading::check_eq(down.calls, 3, "calls made with attempts = 3", calls);
           grading::check(f.took == 75ms, fmt::format("gave up after {}, expected 75 ms: 3 calls of 5 ms and waits of "
                                                      "20 and 40 ms, none after the last call",
                                                      secs(f.took)),
                          grading::Hint{"Decide in the handler: after the last attempt re-throw at once, and wait only "
                                        "when another call will follow."});
         });

  g.part("checksum: give way between chunks",
         "checksum of 10,000 items with chunk 1,000 returns the right sum, takes no time on the loop's clock, "
         "and another task gets a turn after every 1,000 items (never more in between), about 10 turns, not "
         "10,000.",
         {"Another task can only run when checksum reaches a co_await. How often does it reach one?",
          "co_await coop::sleep(0ms) gives way for exactly one turn of the loop without waiting. Do it once "
          "per chunk of items, not once per item, and not sleep(1ms), which waits.",
          "for (std::size_t i = 0; i < data.size(); ++i) { acc = mix(acc, data[i]); if ((i + 1) % chunk == 0) "
          "co_await coop::sleep(std::chrono::milliseconds(0)); }"},
         [] {
           const std::vector<std::uint64_t> data = some_data(10'000);
           const std::uint64_t want = expected_checksum(data);
           const Summed r = run_graded(checksum_beside_ticker(data, 1'000));
           grading::check(ex08::mix_calls == data.size(),
                          fmt::format("checksum of 10,000 items called ex08::mix {} times, expected once per item: "
                                      "fold the items with ex08::mix itself (acc = ex08::mix(acc, x)), not a copy",
                                      ex08::mix_calls),
                          grading::Hint{"The grader counts ex08::mix's calls: fold every item with ex08::mix itself, once per item, "
                                        "in order (acc = ex08::mix(acc, x), acc starting at 0)."});
           grading::check(r.sum == want, fmt::format("checksum of 10,000 items: got {}, expected {} (mix over the "
                                                     "items in order, from 0)",
                                                     r.sum, want),
                          grading::Hint{"acc starts at 0, then acc = ex08::mix(acc, x) for each item in order, the last short "
                                        "chunk included: giving way in between does not change the sum."});
           grading::check(r.watch.most_between <= 1'000,
                          fmt::format("another task waited while {} items were mixed in one go; with chunk 1,000 it "
                                      "should get a turn after every 1,000 at most",
                                      r.watch.most_between));
           grading::check(r.took == Clock::duration::zero(),
                          fmt::format("checksum took {} on the loop's clock, expected 0: give way with sleep(0ms), "
                                      "one turn of the loop, not a sleep that waits",
                                      secs(r.took)),
                          grading::Hint{"co_await coop::sleep(0ms) gives the others one turn and takes no time; "
                                        "sleep(1ms) waits a millisecond at every chunk."});
           grading::check(r.watch.turns >= 9,
                          fmt::format("the other task got {} turns during 10 chunks of 1,000 items, expected one "
                                      "after each chunk: co_await coop::sleep(0ms) between chunks",
                                      r.watch.turns));
           grading::check(r.watch.turns <= 13,
                          fmt::format("the other task got {} turns during 10 chunks of 1,000 items: give way once "
                                      "per chunk, not once per item (each turn of the loop costs time)",
                                      r.watch.turns),
                          grading::Hint{"Give way only when a chunk is complete, (i + 1) % chunk == 0, not after "
                                        "every item."});

           const std::vector<std::uint64_t> odd = some_data(2'500);
           const Summed o = run_graded(checksum_beside_ticker(odd, 1'000));
           grading::check(ex08::mix_calls == odd.size(),
                          fmt::format("checksum of 2,500 items called ex08::mix {} times, expected once per item",
                                      ex08::mix_calls),
                          grading::Hint{"The grader counts ex08::mix's calls: fold every item with ex08::mix itself, once per item, "
                                        "in order (acc = ex08::mix(acc, x), acc starting at 0)."});
           grading::check(o.sum == expected_checksum(odd), "checksum of 2,500 items (chunk 1,000): wrong sum",
                          grading::Hint{"acc starts at 0, then acc = ex08::mix(acc, x) for each item in order, the last short "
                                        "chunk included: giving way in between does not change the sum."});
           grading::check(o.watch.most_between <= 1'000,
                          fmt::format("2,500 items, chunk 1,000: another task waited for {} items at once",
                                      o.watch.most_between));
           const Summed none = run_graded(checksum_beside_ticker({}, 1'000));
           grading::check(none.sum == 0, fmt::format("checksum of no items: got {}, expected 0", none.sum),
                          grading::Hint{"With no items nothing is mixed: the checksum is the starting value, 0."});
         });

  g.part("transfer: lock what is read across the await, and no more",
         "Many transfers at once: out of an account with 100, ten of 10 all go through and it ends at 0; with "
         "50, exactly five do and nothing goes below 0; money is never lost or created; ten transfers on ten "
         "separate pairs of accounts take 10 ms, not 100; transfers going opposite ways do not deadlock.",
         {"approve() needs the balance, so the await cannot leave the read-modify-write. What stops a second "
          "transfer from reading the same balance meanwhile?",
          "Hold a coop::Lock from before the read until after the write (auto guard = co_await lock.lock();). "
          "One lock for the whole bank makes every transfer wait for every other: use the account's own lock, "
          "bank.locks[i]. Which accounts are read before the await and written after it?",
          "Only `from` is read across the await: auto guard = co_await bank.locks[from].lock(); then approve "
          "bank.balance[from]; then bank.balance[from] -= amount (not `= current - amount`: money may have come "
          "in meanwhile) and bank.balance[to] += amount (one step, no await: no lock needed). One lock at a time "
          "cannot deadlock; if you lock both accounts, lock the lower index first."},
         [] {
           // Out of 100: all ten fit, one after another.
           ex08::Bank rich({100, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
           std::vector<Move> ten;
           for (std::size_t to = 1; to <= 10; ++to) ten.push_back({0, to, 10});
           const Moved a = run_transfers(rich, ten, "ten transfers out of account 0");
           grading::check(rich.total() == 100,
                          fmt::format("ten transfers of 10 out of an account holding 100: the bank held 100 and "
                                      "now holds {} ({}). Balances: {}. A transfer read the balance, awaited "
                                      "approve(), and wrote back over what the others had taken out",
                                      rich.total(), rich.total() > 100 ? "money created" : "money lost",
                                      balances(rich)));
           const long refused_a = std::count(a.done.begin(), a.done.end(), false);
           grading::check(refused_a == 0, fmt::format("out of 100, ten transfers of 10 fit, but {} were refused: "
                                                      "refuse only one that would overdraw. Balances: {}",
                                                      refused_a, balances(rich)),
                          grading::Hint{"Read the balance after the lock is yours, so each transfer sees what the "
                                        "earlier ones left, and refuse only what approve() refuses."});
           grading::check_eq(rich.balance, std::vector<long>{0, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10},
                             "balances after ten transfers of 10 out of 100");
           grading::check(rich.approvals_asked >= 10,
                          fmt::format("the risk service was asked {} times for 10 transfers: ask it for each",
                                      rich.approvals_asked),
                          grading::Hint{"Every transfer awaits bank.approve(...) for its own balance, under the lock, "
                                        "before it moves any money."});

           // Out of 50: five fit, whatever the order.
           ex08::Bank poor({50, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
           const Moved b = run_transfers(poor, ten, "ten transfers out of account 0");
           const long moved_b = std::count(b.done.begin(), b.done.end(), true);
           const long lowest = *std::min_element(poor.balance.begin(), poor.balance.end());
           grading::check(lowest >= 0, fmt::format("ten transfers of 10 out of 50 took a balance to {}: "
                                                   "overdrawn. Balances: {}",
                                                   lowest, balances(poor)));
           grading::check(poor.total() == 50, fmt::format("ten transfers of 10 out of 50: the bank held 50 and "
                                                          "now holds {}. Balances: {}",
                                                          poor.total(), balances(poor)));
           grading::check(moved_b == 5 && poor.balance[0] == 0,
                          fmt::format("ten transfers of 10 out of 50: {} went through, account 0 holds {}; expected "
                                      "5 and 0 (each returns whether it moved the money)",
                                      moved_b, poor.balance[0]),
                          grading::Hint{"Return true when the money moved and false when approve() refused: the "
                                        "caller counts on the answer."});

           // Separate accounts overlap.
           ex08::Bank many(std::vector<long>(20, 100));
           std::vector<Move> pairs;
           for (std::size_t i = 0; i < 10; ++i) pairs.push_back({2 * i, 2 * i + 1, 30});
           const Moved c = run_transfers(many, pairs, "ten transfers on separate accounts");
           grading::check(std::count(c.done.begin(), c.done.end(), true) == 10 && many.total() == 2000,
                          fmt::format("ten transfers of 30 between separate pairs of accounts holding 100: "
                                      "balances {}", balances(many)),
                          grading::Hint{"A transfer of 30 out of 100 fits: it depends only on its own `from` account "
                                        "(its lock and its balance), never on the other pairs."});
           grading::check(c.took == 10ms,
                          fmt::format("ten transfers that share no account took {}, expected 10 ms (one approval: "
                                      "they overlap). {}",
                                      secs(c.took),
                                      c.took > 10ms ? "They waited for each other, as behind one lock for the whole "
                                                      "bank; only transfers out of the same account need to"
                                                    : "Did they await approve()?"),
                          grading::Hint{"One Lock for the whole bank makes every transfer wait for every other: lock "
                                        "bank.locks[from], the account's own."});

           // Opposite ways, while the accounts are busy: 0 -> 8 and 1 -> 9 hold 0 and 1 first,
           // then 0 -> 1 and 1 -> 0 queue for them. A transfer locking from, then to, deadlocks.
           ex08::Bank ways({100, 100, 0, 0, 0, 0, 0, 0, 0, 0});
           const Moved d = run_transfers(ways, {{0, 8, 10}, {1, 9, 10}, {0, 1, 20}, {1, 0, 30}},
                                         "0 -> 1 and 1 -> 0 at the same time");
           grading::check(std::count(d.done.begin(), d.done.end(), true) == 4,
                          fmt::format("transfers 0->8 (10), 1->9 (10), 0->1 (20), 1->0 (30) out of 100 each: all "
                                      "four should go through; balances {}",
                                      balances(ways)),
                          grading::Hint{"Each of these fits its `from` balance, so none is refused: read the balance "
                                        "under the lock, as it is when the lock is yours."});
           grading::check(ways.total() == 200,
                          fmt::format("transfers 0->8 (10), 1->9 (10), 0->1 (20), 1->0 (30) out of 100 each: the bank "
                                      "held 200 and now holds {}, balances {}. While 1->0 awaited approval, 0->1 paid "
                                      "20 into account 1; writing back a balance read before the await erased it. "
                                      "Debit with -=, which reads the balance as it writes",
                                      ways.total(), balances(ways)),
                          grading::Hint{"Debit after the await with bank.balance[from] -= amount, which reads the balance as "
                                        "it writes: a balance read before the await may be stale by then."});
           grading::check_eq(ways.balance, std::vector<long>{100, 80, 0, 0, 0, 0, 0, 0, 10, 10},
                             "balances after 0->8 (10), 1->9 (10), 0->1 (20), 1->0 (30)", grading::Hint{"Debit after the await with bank.balance[from] -= amount, which reads the balance as "
                                        "it writes: a balance read before the await may be stale by then."});
         });

  return g.main(argc, argv);
}
