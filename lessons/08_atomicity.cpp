// Lesson 08 — between two awaits a coroutine runs alone; a blocking call freezes everyone.
//
// Python: between two `await`s a coroutine cannot be interrupted, so shared state mutated
// there needs no lock; the same guarantee means that time.sleep, a synchronous driver or a
// long computation stalls every other coroutine. C++ on coop is the same machine: one
// thread, and the loop switches tasks only at co_await. Five steps measure both halves:
// what the guarantee gives (no lost update, without a lock), where it ends (an await in the
// middle of an update), and what it costs (a blocking call stops the clock for everyone).
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "common/lesson.hpp"

using namespace std::chrono_literals;
using coop::Clock;
using coop::Task;

namespace {

// ---- step 1 --------------------------------------------------------------------------------

// snippet: transfers
struct Bank {
  std::vector<long> accounts = std::vector<long>(100, 1000);  // 100 accounts, 1000 each
  long transfers = 0;
  bool open = true;
};

// Moves money around, ten times, awaiting between transfers (as a real handler would await
// a request). Between the `-=` and the `+=` the books are wrong for an instant, but no
// other task can see it: there is no co_await in between.
Task<void> teller(Bank& bank, int id) {
  for (int k = 0; k < 10; ++k) {
    const std::size_t from = static_cast<std::size_t>(id * 7 + k) % 100;
    const std::size_t to = static_cast<std::size_t>(id * 13 + k * 3 + 1) % 100;
    const long amount = 1 + (id + k) % 10;
    bank.accounts[from] -= amount;  // no lock: nobody runs between these two lines
    bank.accounts[to] += amount;
    ++bank.transfers;
    co_await coop::sleep(std::chrono::microseconds(100 * ((id + k) % 7)));  // others run here
  }
}

// Checks the books every 50 µs while the tellers work: the total must be 100,000.
Task<int> auditor(const Bank& bank, int& audits) {
  int wrong = 0;
  while (bank.open) {
    ++audits;
    if (std::accumulate(bank.accounts.begin(), bank.accounts.end(), 0L) != 100'000) ++wrong;
    co_await coop::sleep(50us);
  }
  co_return wrong;
}

struct AuditResult {
  long transfers = 0, total = 0;
  int audits = 0, wrong = 0;
};

Task<AuditResult> busy_bank(int tellers) {
  Bank bank;
  AuditResult r;
  auto audit = coop::create_task(auditor(bank, r.audits), "auditor");
  std::vector<Task<void>> work;
  for (int id = 0; id < tellers; ++id) work.push_back(teller(bank, id));
  co_await coop::gather(std::move(work));  // 2,000 tellers at once
  bank.open = false;
  r.wrong = co_await audit;
  r.transfers = bank.transfers;
  r.total = std::accumulate(bank.accounts.begin(), bank.accounts.end(), 0L);
  co_return r;
}
// end snippet

// ---- steps 2 to 4 --------------------------------------------------------------------------

// One account and its customers. Each customer arrives (customer i at i × 100 µs) and
// deposits 1; the deposit awaits a 1 ms fraud check. `narrate` prints each read and write.
struct Account {
  long balance = 0;
  coop::Lock lock{"balance"};
  Clock::duration check = 1ms;  // how long the fraud check takes
  bool narrate = false;

  template <class... Args>
  void note(fmt::format_string<Args...> f, Args&&... args) {
    if (narrate) lesson::say(f, std::forward<Args>(args)...);
  }
};

// snippet: racy
Task<void> deposit(Account& acct, std::string who, long amount) {
  const long seen = acct.balance;  // read
  acct.note("{} reads the balance: {}", who, seen);
  co_await coop::sleep(acct.check);  // an await in the middle: other tasks run here
  acct.balance = seen + amount;      // write back what it read, plus its amount
  acct.note("{} writes {} + {} = {}", who, seen, amount, acct.balance);
}
// end snippet

// snippet: locked
Task<void> deposit_locked(Account& acct, std::string who, long amount) {
  auto guard = co_await acct.lock.lock();  // Python: async with lock:
  const long seen = acct.balance;
  acct.note("{} has the lock, reads the balance: {}", who, seen);
  co_await coop::sleep(acct.check);  // others run here, but none inside this update
  acct.balance = seen + amount;
  acct.note("{} writes {} + {} = {}, releases the lock", who, seen, amount, acct.balance);
}  // guard's destructor releases the lock
// end snippet

// snippet: reordered
Task<void> deposit_check_first(Account& acct, std::string who, long amount) {
  co_await coop::sleep(acct.check);  // the fraud check first: it needs no balance
  acct.balance += amount;            // then read and write in one step: no await between
  acct.note("{} adds {}: balance {}", who, amount, acct.balance);
}
// end snippet

enum class Way { racy, locked, check_first };

Task<void> customer(Account& acct, Way way, int i, std::string who) {
  co_await coop::sleep(std::chrono::microseconds(100 * i));  // customer i arrives at i × 100 µs
  if (way == Way::racy) co_await deposit(acct, std::move(who), 1);
  if (way == Way::locked) co_await deposit_locked(acct, std::move(who), 1);
  if (way == Way::check_first) co_await deposit_check_first(acct, std::move(who), 1);
}

struct DepositResult {
  long balance = 0;
  Clock::duration took{};
};

// `customers` deposits of 1 into one account, made the way `way` says.
Task<DepositResult> deposits(Way way, int customers) {
  Account acct;
  const Clock::time_point start = coop::now();
  std::vector<Task<void>> all;
  for (int i = 0; i < customers; ++i) all.push_back(customer(acct, way, i, fmt::format("customer {}", i)));
  co_await coop::gather(std::move(all));
  co_return DepositResult{acct.balance, coop::now() - start};
}

// Two customers, A and B, 100 ms apart, with a 250 ms check: slow enough to read.
Task<long> two_customers(Way way) {
  Account acct;
  acct.check = 250ms;
  acct.narrate = true;
  auto a = coop::create_task(customer(acct, way, 0, "A"), "customer A");
  co_await coop::sleep(100ms);
  auto b = coop::create_task(customer(acct, way, 0, "B"), "customer B");
  co_await coop::gather(a, b);
  lesson::say("final balance: {}", acct.balance);
  co_return acct.balance;
}

// ---- step 5 --------------------------------------------------------------------------------

// snippet: blocking
// Beats every 50 ms, noting when; it is how we see whether the loop is free.
Task<void> heartbeat(std::vector<Clock::time_point>& beats) {
  for (;;) {
    beats.push_back(coop::now());
    co_await coop::sleep(50ms);
  }
}

// A CPU-bound loop: counts primes for `budget` of real time, never awaiting.
long count_primes_for(std::chrono::milliseconds budget) {
  const auto until = Clock::now() + budget;
  long primes = 0;
  for (long n = 2; Clock::now() < until; ++n) {
    bool prime = true;
    for (long d = 2; d * d <= n && prime; ++d) prime = n % d != 0;
    primes += prime ? 1 : 0;
  }
  return primes;
}

Task<long> report() {
  co_await coop::sleep(100ms);
  std::this_thread::sleep_for(300ms);  // blocking: the thread sleeps, and the loop with it
  co_await coop::sleep(100ms);
  const long primes = count_primes_for(200ms);  // CPU-bound: the same, for 200 ms
  co_await coop::sleep(100ms);
  co_return primes;
}

struct Frozen {
  std::vector<Clock::time_point> beats;
  Clock::duration took{};
  long primes = 0;
};

Task<void> frozen(Frozen& f) {
  const Clock::time_point start = coop::now();
  auto beat = coop::create_task(heartbeat(f.beats), "heartbeat");
  f.primes = co_await coop::create_task(report(), "report");
  f.took = coop::now() - start;
  beat.cancel();  // lesson 05: it stops at its next await
}
// end snippet

// The kit prints the runtime's warnings as they come ("⚠ coop warning: ..."). A slow-step
// warning says how long the step blocked, which differs from run to run, so that figure
// goes through lesson::measured (masked in golden mode). The kit has no such hook yet; this
// wraps the kit's own handler, so the warning still reaches lesson::last_diagnostics().
std::string mask_duration(const std::string& message) {
  const std::string before = "blocked the loop for ", after = " in one step";
  const auto a = message.find(before);
  const auto b = a == std::string::npos ? a : message.find(after, a + before.size());
  if (b == std::string::npos) return message;
  const std::size_t from = a + before.size();
  return message.substr(0, from) + lesson::measured(message.substr(from, b - from)) + message.substr(b);
}

template <class T>
T run_masking_warnings(Task<T> main, lesson::RunSettings s) {
  lesson::RunScope scope(std::move(s));
  coop::RunOptions options = scope.options();
  options.on_diagnostic = [kit = options.on_diagnostic](const coop::Diagnostic& d) {
    coop::Diagnostic shown = d;
    shown.message = mask_duration(d.message);
    kit(shown);
  };
  return coop::run(std::move(main), std::move(options));
}

// Runs with thousands of tasks are not recorded: their trace (tens of thousands of events)
// would draw no readable timeline and swamp --trace and --trace-json. The kit's RunSettings
// has no switch for that, so this replaces its recorder with `counter` (or nothing).
template <class T>
T run_untraced(Task<T> main, lesson::RunSettings s, coop::Tracer* counter = nullptr) {
  s.timeline = false;
  lesson::RunScope scope(std::move(s));
  coop::RunOptions options = scope.options();
  options.tracer = counter;
  return coop::run(std::move(main), std::move(options));
}

// Counts the loop's steps (one step: a task runs from one co_await to the next).
struct StepCounter : coop::Tracer {
  long steps = 0;
  void step_began(coop::TaskInfo) override { ++steps; }
};

// 20000 -> "20,000".
std::string num(long v) {
  std::string s = std::to_string(v < 0 ? -v : v);
  for (std::size_t i = s.size(); i > 3; i -= 3) s.insert(i - 3, ",");
  return (v < 0 ? "-" : "") + s;
}

std::string ms(Clock::duration d) {
  return fmt::format("{} ms", std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

}  // namespace

int main(int argc, char** argv) {
  lesson::Lesson l({8, "atomicity", "Between two awaits, a coroutine runs alone; a blocking call freezes everyone",
                    "Between two await points, a coroutine runs atomically in a single thread: no other "
                    "coroutine can interrupt it, so shared state mutated between awaits is safe from races "
                    "by design. The same guarantee is a responsibility: any blocking call (a synchronous "
                    "driver, a CPU-bound computation, a sleep) freezes the whole loop and stalls every other "
                    "coroutine until it returns."});

  l.step("Between two awaits a task runs alone: no lock, no lost update",
         "2,000 tellers move money between 100 accounts, 10 transfers each, awaiting between\n"
         "transfers, while an auditor checks every 50 µs that the total is still 100,000.\n"
         "A transfer is two lines (-= then +=), and between them the books are wrong, but no\n"
         "task can run there: the loop switches only at a co_await. So no lock is needed.\n"
         "(Threads could switch between any two instructions; lesson 09 comes back to that.)",
         {"transfers"}, [] {
           StepCounter counter;
           // main starts 2,000 tasks in one step; on a busy machine that step can pass the 100 ms
           // slow-step warning, which is step 5's subject, not this one's: off here.
           const AuditResult r = run_untraced(busy_bank(2'000), {.title = "2,000 tellers", .slow_step_warning = {}},
                                              &counter);
           lesson::conclude("{} transfers by 2,000 tasks, interleaved in {} steps of the loop, with no lock",
                            lesson::figure(num(r.transfers)), lesson::figure(num(counter.steps)));
           lesson::conclude("the auditor checked the total {} times between those steps; it was wrong {} times",
                            lesson::figure(num(r.audits)), lesson::figure(num(r.wrong)));
           lesson::conclude("money at the end: {} (it started at 100,000): not one update lost",
                            lesson::figure(num(r.total)));
         });

  l.step("An await inside an update lets others in: lost updates",
         "The guarantee covers the code between two awaits, not a whole function. deposit()\n"
         "reads the balance, awaits a fraud check, then writes back what it read plus its\n"
         "amount. While it waits, another deposit reads the same old balance; whoever writes\n"
         "last wins and the other deposit is lost. First two customers, slowly; then 1,000\n"
         "customers arriving every 100 µs, each depositing 1, with a 1 ms check.",
         {"racy"}, [] {
           const long two = lesson::run(two_customers(Way::racy), {.title = "A and B, no lock"});
           lesson::conclude("A and B deposited 1 each; the balance is {}: {} deposit lost, without any thread",
                            lesson::figure(fmt::format("{}", two)), lesson::figure(fmt::format("{}", 2 - two)));
           const DepositResult r = run_untraced(deposits(Way::racy, 1'000), {.title = "1,000 customers"});
           lesson::conclude("1,000 deposits of 1 in {}: the balance is {}, so {} deposits were lost",
                            lesson::figure(lesson::secs(r.took)), lesson::figure(num(r.balance)),
                            lesson::figure(num(1'000 - r.balance)));
           lesson::conclude("a deposit's window (read … write) is 1 ms and a customer comes every 100 µs, so about "
                            "10 others read the same balance inside each window: only one deposit in {} survived",
                            lesson::figure(fmt::format("{:.1f}", 1'000.0 / static_cast<double>(std::max(1L, r.balance)))));
         });

  l.step("Lock: one task at a time inside the update, across its await",
         "coop::Lock is asyncio.Lock: co_await lock.lock() waits until no other task holds\n"
         "it and returns a guard that releases it when it goes out of scope (C++ has no\n"
         "`async with`; the guard's destructor plays __aexit__, and releasing needs no await).\n"
         "B now waits for the lock (the timeline shows it) instead of reading too early. The\n"
         "price: the 1,000 checks, 1 ms each, now happen one after another.",
         {"locked"}, [] {
           const long two = lesson::run(two_customers(Way::locked), {.title = "A and B, with a Lock"});
           lesson::conclude("A and B deposited 1 each; the balance is {}", lesson::figure(fmt::format("{}", two)));
           const DepositResult r = run_untraced(deposits(Way::locked, 1'000), {.title = "1,000 customers"});
           lesson::conclude("1,000 deposits: the balance is {}, {} lost; they took {}", lesson::figure(num(r.balance)),
                            lesson::figure(num(1'000 - r.balance)), lesson::figure(lesson::secs(r.took)));
           lesson::conclude("the lock is held across the 1 ms check, so the checks ran one at a time: "
                            "1,000 × 1 ms, instead of overlapping");
         });

  l.step("Often better: no await inside the update at all",
         "The check does not need the balance, so do it first, then read and write the\n"
         "balance in one step. The update sits between two awaits again: atomic, no lock, and\n"
         "the checks overlap. Keep awaits out of read-modify-write sequences where you can;\n"
         "take a Lock where you cannot (the await needs what you read).",
         {"reordered"}, [] {
           const DepositResult r =
               run_untraced(deposits(Way::check_first, 1'000), {.title = "1,000 customers"});
           lesson::conclude("1,000 deposits: the balance is {}, {} lost, in {} (the last customer came at 0.0999 s, "
                            "plus its 1 ms check)",
                            lesson::figure(num(r.balance)), lesson::figure(num(1'000 - r.balance)),
                            lesson::figure(lesson::secs(r.took)));
         });

  l.step("A blocking call freezes every task",
         "The other side of the guarantee: the loop runs one step at a time, so a step that\n"
         "does not return keeps everyone waiting. report() calls std::this_thread::sleep_for\n"
         "(like time.sleep, or a synchronous driver), later counts primes for 200 ms; neither\n"
         "awaits. The heartbeat should beat every 50 ms: watch its row go silent while report's\n"
         "row is solid █. This step always runs on the real clock: under --virtual-time a\n"
         "blocking sleep_for takes no virtual time, so there would be no gap to see.",
         {"blocking"}, [] {
           Frozen f;
           run_masking_warnings(frozen(f), {.title = "heartbeat and a blocking report", .real_time = true});
           const auto period = 50ms;
           const long expected = static_cast<long>(f.took / period) + 1;
           Clock::duration longest{};
           for (std::size_t i = 1; i < f.beats.size(); ++i) longest = std::max(longest, f.beats[i] - f.beats[i - 1]);
           std::size_t slow = 0;
           for (const auto& d : lesson::last_diagnostics())
             slow += d.kind == coop::Diagnostic::Kind::slow_step && d.task == "report" ? 1 : 0;
           lesson::conclude("the run took {}: {} beats should have happened, {} did ({} missed)",
                            lesson::measured(lesson::secs(f.took)), lesson::measured("{}", expected),
                            lesson::measured("{}", f.beats.size()),
                            lesson::measured("{}", expected - static_cast<long>(f.beats.size())));
           lesson::conclude("the longest gap between two beats was {} (the period is 50 ms)", lesson::measured(ms(longest)));
           lesson::conclude("the runtime warned {} times that task 'report' blocked the loop (once for sleep_for, "
                            "once for the {} primes)",
                            lesson::figure(fmt::format("{}", slow)), lesson::measured(num(f.primes)));
         });
  l.on_real_clock("a blocking call");

  l.wrap_up(
      "2,000 tasks updated shared books with no lock and lost nothing: between two awaits a\n"
      "task runs alone. Put an await inside a read-modify-write and that stops being true:\n"
      "deposits were lost, without a single thread. A Lock held across the await fixed it at\n"
      "the price of running those updates one at a time; moving the await out of the update\n"
      "fixed it for free. And because nothing interrupts a step, a blocking call or a long\n"
      "computation stopped the heartbeat for as long as it ran.\n"
      "Next: lesson 09, running such calls on threads (to_thread) so that the loop stays free.");
  return l.main(argc, argv);
}
