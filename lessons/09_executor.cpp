// Lesson 09 — choose async or threads; offload blocking calls with to_thread.
//
// Python: async scales only when every library in the call stack is async. One
// synchronous call blocks the loop for every coroutine; loop.run_in_executor (or
// asyncio.to_thread) runs it on a thread pool instead, and the coroutine awaits the
// result. coop has the same pair: coop::to_thread(fn, args...) on the loop's default pool,
// coop::run_in_executor(pool, fn, args...) on a coop::ThreadPool of your choosing. Every
// step here runs real threads, so every step runs on the real clock, even under
// --virtual-time, and its timings are measured, not exact.
#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <cmath>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/lesson.hpp"

using namespace std::chrono_literals;
using coop::Clock;
using coop::Task;

namespace {

// What steps 1 to 3 measured, for the table of step 4 (empty when a step did not run).
struct Measured {
  std::optional<Clock::duration> frozen_for;    // step 1: how long 4 direct calls took
  std::optional<long> missed_blocking;          // step 1: heartbeats missed
  std::optional<long> missed_offloaded;         // step 2: heartbeats missed with to_thread
  std::optional<Clock::duration> one_thread;    // step 3: 16 calls on 1 thread
  std::optional<Clock::duration> sixteen;       // step 3: 16 calls on 16 threads
};
Measured g_measured;

// 20000 -> "20,000".
std::string num(long v) {
  std::string s = std::to_string(v < 0 ? -v : v);
  for (std::size_t i = s.size(); i > 3; i -= 3) s.insert(i - 3, ",");
  return (v < 0 ? "-" : "") + s;
}

std::string ms(Clock::duration d) {
  return fmt::format("{} ms", std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

// A measured figure, right-aligned in `width` columns (as wide as it shows: masked or not).
std::string right(const std::string& raw, std::size_t width) {
  const std::size_t shown = lesson::settings().golden ? std::string("<measured>").size() : raw.size();
  return std::string(width > shown ? width - shown : 0, ' ') + lesson::measured(raw);
}

// A horizontal rule of `width` columns.
std::string rule(std::size_t width) {
  std::string s;
  for (std::size_t i = 0; i < width; ++i) s += "─";
  return s;
}

// ---- steps 1 and 2 -------------------------------------------------------------------------

// snippet: driver
// A "legacy driver": a synchronous client library (think of a C database client). A query
// blocks the calling thread for its round trip to the server.
std::string legacy_query(int id) {
  std::this_thread::sleep_for(120ms);
  return fmt::format("row {}", id);
}

Task<std::string> handle_blocking(int id) {
  co_return legacy_query(id);  // on the loop's thread: the loop stops for 120 ms
}
// end snippet

// snippet: offloaded
Task<std::string> handle_offloaded(int id) {
  co_return co_await coop::to_thread(legacy_query, id);  // asyncio.to_thread(legacy_query, id)
}
// end snippet

// snippet: serve
// Beats every 50 ms, noting when: it shows whether the loop is free.
Task<void> heartbeat(std::vector<Clock::time_point>& beats) {
  for (;;) {
    beats.push_back(coop::now());
    co_await coop::sleep(50ms);
  }
}

struct Served {
  std::vector<std::string> rows;
  std::vector<Clock::time_point> beats;
  Clock::duration took{};
};

// Four requests at once, each handled by `handle`, beside the heartbeat.
Task<void> serve(Task<std::string> (*handle)(int), Served& s) {
  const Clock::time_point start = coop::now();
  lesson::say("4 requests arrive; the heartbeat starts");
  auto beat = coop::create_task(heartbeat(s.beats), "heartbeat");
  std::vector<coop::TaskHandle<std::string>> requests;
  for (int id = 1; id <= 4; ++id) requests.push_back(coop::create_task(handle(id), fmt::format("request {}", id)));
  s.rows = co_await coop::gather(std::move(requests));
  s.took = coop::now() - start;
  lesson::say("all 4 answered");
  beat.cancel();
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

// Every run of this lesson is on the real clock: threads take real time. A run with
// thousands of steps (`traced` false) is not recorded: its trace would draw no readable
// timeline and swamp --trace and --trace-json, and recording would inflate what it measures.
// The kit's RunSettings has no switch for that, so this removes the kit's recorder.
template <class T>
T run_real(Task<T> main, lesson::RunSettings s, bool traced = true) {
  s.real_time = true;
  if (!traced) s.timeline = false;
  lesson::RunScope scope(std::move(s));
  coop::RunOptions options = scope.options();
  if (!traced) options.tracer = nullptr;
  options.on_diagnostic = [kit = options.on_diagnostic](const coop::Diagnostic& d) {
    coop::Diagnostic shown = d;
    shown.message = mask_duration(d.message);
    kit(shown);
  };
  return coop::run(std::move(main), std::move(options));
}

// What a serve() run showed: heartbeats due vs heard, slow-step warnings, rows in order.
long report_served(const Served& s) {
  const long expected = static_cast<long>(s.took / 50ms) + 1;
  const long missed = std::max(0L, expected - static_cast<long>(s.beats.size()));
  Clock::duration longest{};
  for (std::size_t i = 1; i < s.beats.size(); ++i) longest = std::max(longest, s.beats[i] - s.beats[i - 1]);
  std::size_t slow = 0;
  for (const auto& d : lesson::last_diagnostics()) slow += d.kind == coop::Diagnostic::Kind::slow_step ? 1 : 0;
  std::string rows;
  for (const std::string& r : s.rows) rows += (rows.empty() ? "" : ", ") + r;
  lesson::conclude("4 queries of 120 ms (480 ms in sum) were answered in {}; gather gave them in order: {}",
                   lesson::measured(lesson::secs(s.took)), lesson::figure(rows));
  // A gap needs two beats: with fewer, say how long the heartbeat went without a second one.
  const std::string gap = s.beats.size() >= 2
                              ? fmt::format("its longest gap was {}", lesson::measured(ms(longest)))
                              : fmt::format("no second beat in {}", lesson::measured(lesson::secs(s.took)));
  lesson::conclude("the heartbeat should have beaten {} times and beat {} ({} missed); {}",
                   lesson::measured("{}", expected), lesson::measured("{}", s.beats.size()),
                   lesson::measured("{}", missed), gap);
  lesson::conclude("slow-step warnings: {}", lesson::figure(fmt::format("{}", slow)));
  return missed;
}

// ---- step 3 --------------------------------------------------------------------------------

// snippet: pools
void blocking_call(std::chrono::milliseconds d) { std::this_thread::sleep_for(d); }

Task<void> one_call(coop::ThreadPool& pool) {
  co_await coop::run_in_executor(pool, blocking_call, 50ms);  // loop.run_in_executor(pool, ...)
}

// 16 blocking calls at once on a pool of `threads`: how long until all are done?
Task<Clock::duration> sixteen_calls(std::size_t threads) {
  coop::ThreadPool pool(threads);  // concurrent.futures.ThreadPoolExecutor(threads)
  const Clock::time_point start = coop::now();
  std::vector<Task<void>> calls;
  for (int i = 0; i < 16; ++i) calls.push_back(one_call(pool));
  co_await coop::gather(std::move(calls));
  co_return coop::now() - start;
}  // ~ThreadPool joins its threads, idle by now

Task<std::vector<Clock::duration>> by_pool_size(std::vector<std::size_t> sizes) {
  std::vector<Clock::duration> took;
  for (const std::size_t n : sizes) took.push_back(co_await sixteen_calls(n));
  co_return took;
}
// end snippet

// ---- step 4 --------------------------------------------------------------------------------

// Counts the primes in [from, to) by trial division: plain CPU work, no waiting.
long count_primes(long from, long to) {
  long primes = 0;
  for (long n = std::max(from, 2L); n < to; ++n) {
    bool prime = true;
    for (long d = 2; d * d <= n && prime; ++d) prime = n % d != 0;
    primes += prime ? 1 : 0;
  }
  return primes;
}

// CPU time this process has used so far, all its threads together.
std::chrono::nanoseconds process_cpu_time() {
  timespec t{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return std::chrono::seconds(t.tv_sec) + std::chrono::nanoseconds(t.tv_nsec);
}

// snippet: costs
Task<void> parked(coop::Event& go, int& waiting) {
  ++waiting;
  co_await go.wait();
  --waiting;
}

struct Costs {
  std::optional<std::size_t> task_bytes;  // per task parked on an Event: frame + task record
  std::size_t frame_bytes = 0;            // ... of which its coroutine frame
  Clock::duration loop_turn{};        // one co_await sleep(0): a switch to the next task and back
  Clock::duration to_thread_trip{};   // one co_await to_thread(nothing): there and back
  struct Cpu {
    Clock::duration wall{};           // 4 chunks of CPU work, start to finish
    std::chrono::nanoseconds cpu{};   // CPU time the process used meanwhile, all threads
  } on_one, on_four;                  // on a pool of 1 thread, and of 4
};

void nothing() {}

Task<long> primes_in(coop::ThreadPool& pool, long from, long to) {
  co_return co_await coop::run_in_executor(pool, count_primes, from, to);
}

// Four equal chunks of CPU work (~0.1 s each) on a pool of `threads`.
Task<Costs::Cpu> cpu_chunks(std::size_t threads) {
  coop::ThreadPool pool(threads);
  const Clock::time_point start = coop::now();
  const std::chrono::nanoseconds cpu_start = process_cpu_time();
  std::vector<Task<long>> chunks;
  for (int k = 0; k < 4; ++k) chunks.push_back(primes_in(pool, 0, 350'000));  // 4 equal chunks
  co_await coop::gather(std::move(chunks));
  co_return Costs::Cpu{coop::now() - start, process_cpu_time() - cpu_start};
}

Clock::duration median(std::vector<Clock::duration> v) {
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

Task<Costs> measure_costs() {
  Costs c;
  coop::Event go;
  int waiting = 0;
  const std::optional<std::size_t> memory_before = lesson::resident_anon_bytes();
  const std::size_t frames_before = coop::frame_stats().live_bytes;
  for (int i = 0; i < 100'000; ++i) (void)coop::create_task(parked(go, waiting));  // handle dropped
  co_await coop::sleep(0ms);  // all 100,000 have started and parked
  const std::optional<std::size_t> memory_after = lesson::resident_anon_bytes();
  if (memory_before && memory_after && *memory_after >= *memory_before)
    c.task_bytes = (*memory_after - *memory_before + 50'000) / 100'000;
  c.frame_bytes = (coop::frame_stats().live_bytes - frames_before) / 100'000;
  go.set();
  while (waiting > 0) co_await coop::sleep(0ms);

  // Each cost is the median of batches: on a busy machine a batch in which this process
  // was paused for a few ms reads far too high, and a median ignores it (one average of
  // everything swung from 12 to 435 ns a turn between runs).
  std::vector<Clock::duration> batches;
  for (int b = 0; b < 21; ++b) {
    const Clock::time_point t = coop::now();
    for (int i = 0; i < 500; ++i) co_await coop::sleep(0ms);
    batches.push_back((coop::now() - t) / 500);
  }
  c.loop_turn = median(batches);

  co_await coop::to_thread(nothing);  // the default pool's threads start on first use
  batches.clear();
  for (int b = 0; b < 21; ++b) {
    const Clock::time_point t = coop::now();
    for (int i = 0; i < 50; ++i) co_await coop::to_thread(nothing);
    batches.push_back((coop::now() - t) / 50);
  }
  c.to_thread_trip = median(batches);

  c.on_one = co_await cpu_chunks(1);
  c.on_four = co_await cpu_chunks(4);
  co_return c;
}
// end snippet

std::size_t default_thread_stack() {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  std::size_t size = 0;
  pthread_attr_getstacksize(&attr, &size);
  pthread_attr_destroy(&attr);
  return size;
}

// What step 4's CPU-bound figures allow it to say. The work is the same on 1 thread and
// on 4, so 4 threads can finish it at most min(4, cores) times sooner. The process's CPU
// time says whether the threads got the cores: work on one thread should keep one core
// busy for its whole wall time, work on 4 threads min(4, cores) of them. When another
// program took the CPU instead, the times say nothing about threads, and the lesson says so
// rather than conclude (one run on a busy machine once showed "0.7× faster" beside
// "choose a thread pool", another a super-linear 2.2× on 2 cores).
struct CpuVerdict {
  double speedup = 0;    // wall time on 1 thread / on 4
  std::string in_table;  // after "... on 4: "
  std::string verdict;   // the conclusion, or why there is none
};

CpuVerdict judge_cpu(const Costs& c, unsigned cores) {
  const auto seconds = [](auto d) { return std::chrono::duration<double>(d).count(); };
  CpuVerdict v;
  const double one = seconds(c.on_one.wall), four = seconds(c.on_four.wall);
  v.speedup = four > 0 ? one / four : 0;
  const unsigned usable = std::clamp(cores, 1U, 4U);
  const double busy_one = one > 0 ? seconds(c.on_one.cpu) / one : 0;     // cores kept busy, 1 thread
  const double busy_four = four > 0 ? seconds(c.on_four.cpu) / four : 0;  // ... 4 threads
  const std::string times = fmt::format("{:.1f}×", v.speedup);
  if (cores <= 1) {
    v.in_table = fmt::format("{} (1 core here: no verdict)", times);
    v.verdict = fmt::format("this machine has 1 core, so the 4 threads took turns on it ({} the speed of 1): a pool "
                            "speeds up CPU-bound work only where there are cores to spread it over",
                            times);
  } else if (busy_one < 0.8 || busy_four < 0.8 * usable) {
    v.in_table = fmt::format("{} (machine busy: no verdict)", times);
    v.verdict = fmt::format("no verdict from this run: the threads did not get the cores. 1 thread kept {:.2f} of a "
                            "core busy, 4 threads {:.2f} cores of the {} they could use: other programs had the "
                            "rest. Run `--only 4` again when the machine is idle",
                            busy_one, busy_four, usable);
  } else if (v.speedup < 1.2 || v.speedup > usable * 1.15) {
    v.in_table = fmt::format("{} (no verdict)", times);
    v.verdict = v.speedup < 1.2 ? fmt::format("no verdict from this run: the threads got the CPU, yet 4 were no "
                                              "faster than 1 ({}); run `--only 4` again",
                                              times)
                                : fmt::format("no verdict from this run: {} is more than {} cores allow (at most "
                                              "{}×); run `--only 4` again",
                                              times, cores, usable);
  } else {
    v.in_table = fmt::format("{} faster ({} cores here)", times, cores);
    v.verdict = fmt::format("4 threads did the same CPU work {} faster than 1, with {} cores here (at most {}× "
                            "possible): C++ threads run in parallel, so CPU-bound work belongs on a pool",
                            times, cores, usable);
  }
  return v;
}

// "about 33,000": two significant figures, the precision such a ratio has.
std::string about(double x) {
  if (x <= 0) return "0";
  const double scale = std::pow(10.0, std::floor(std::log10(x)) - 1);
  const long rounded = std::lround(std::round(x / scale) * scale);
  return "about " + num(rounded);
}

// ---- step 5 --------------------------------------------------------------------------------

// snippet: boundary
// On a pool thread: adds 1 to the shared counter, n times. std::atomic makes each addition
// one indivisible operation, whichever threads do it at the same time.
void add_many(std::atomic<long>* counter, long n) {
  for (long i = 0; i < n; ++i) counter->fetch_add(1, std::memory_order_relaxed);
}

Task<void> add_on_thread(coop::ThreadPool& pool, std::atomic<long>& counter, long n) {
  co_await coop::run_in_executor(pool, add_many, &counter, n);
}

struct Watch {
  long samples = 0, changed = 0, work = 0;
};

// Meanwhile on the loop: read the counter, do a little work, read it again, all in one
// step (no co_await): on the loop, nothing else can have run in between.
Task<void> watch(const std::atomic<long>& counter, const bool& done, Watch& w) {
  while (!done) {
    const long first = counter.load();
    w.work += count_primes(0, 1'000);  // a few microseconds of work, no await
    const long second = counter.load();
    ++w.samples;
    w.changed += first != second ? 1 : 0;
    co_await coop::sleep(0ms);
  }
}

// The other way: the thread returns its result and touches nothing shared; the task
// does the shared update itself, back on the loop thread.
Task<void> add_primes(coop::ThreadPool& pool, long from, long to, long& total) {
  const long mine = co_await coop::run_in_executor(pool, count_primes, from, to);
  total += mine;  // on the loop thread, between two awaits: atomic again, no lock needed
}

struct Boundary {
  long counter = 0, total = 0;
  Watch watched;
};

Task<Boundary> across_threads() {
  coop::ThreadPool pool(4);
  Boundary b;
  std::atomic<long> counter{0};
  bool done = false;
  auto watcher = coop::create_task(watch(counter, done, b.watched), "watcher");
  std::vector<Task<void>> adders;
  for (int i = 0; i < 8; ++i) adders.push_back(add_on_thread(pool, counter, 200'000));
  co_await coop::gather(std::move(adders));  // 8 jobs × 200,000 additions, on 4 threads
  done = true;
  co_await watcher;
  b.counter = counter.load();

  std::vector<Task<void>> counters;
  for (long k = 0; k < 8; ++k) counters.push_back(add_primes(pool, k * 50'000, (k + 1) * 50'000, b.total));
  co_await coop::gather(std::move(counters));
  co_return b;
}
// end snippet

}  // namespace

int main(int argc, char** argv) {
  lesson::Lesson l({9, "executor", "Choose async or threads; offload blocking calls with to_thread",
                    "Choose async for high-concurrency I/O when you control the whole library stack; choose "
                    "threads for synchronous-only libraries or simpler workloads. A single synchronous call "
                    "blocks the loop for every coroutine; when you must use one, run it on a thread pool "
                    "(run_in_executor, to_thread) and await its result: async request handling, with threads "
                    "for the blocking calls."});

  l.step("A blocking driver call freezes the loop",
         "Four requests arrive at once; each handler calls legacy_query(), a synchronous driver\n"
         "that blocks for 120 ms. Called on the loop's thread, it blocks the loop: the four\n"
         "handlers run one after another and the heartbeat (every 50 ms) is silent meanwhile.\n"
         "This is lesson 08's blocking call, as it sneaks in through a library. Every step of\n"
         "this lesson runs real threads, so it runs on the real clock, even with --virtual-time.",
         {"driver", "serve"}, [] {
           Served s;
           run_real(serve(handle_blocking, s), {.title = "4 requests, driver called directly"});
           g_measured.missed_blocking = report_served(s);
           g_measured.frozen_for = s.took;
         });
  l.on_real_clock("real threads");

  l.step("to_thread keeps the heartbeat ticking",
         "The same driver and requests, but each handler awaits coop::to_thread(legacy_query,\n"
         "id): the call runs on a thread of the loop's default pool while the handler parks,\n"
         "as on any await. The loop stays free, and the four calls overlap on four threads.\n"
         "Arguments go after the function, as in asyncio.to_thread(f, *args); they are moved\n"
         "into the job. A lambda works too, named first or capturing by reference: GCC 12\n"
         "destroys twice a lambda temporary with owning captures written inside a co_await.",
         {"offloaded"}, [] {
           Served s;
           run_real(serve(handle_offloaded, s), {.title = "4 requests, driver on to_thread"});
           g_measured.missed_offloaded = report_served(s);
           const unsigned cores = std::thread::hardware_concurrency();
           lesson::conclude("the default pool has min(32, cores + 4) threads, like Python's: {} here",
                            lesson::measured("{}", std::min(32U, (cores == 0 ? 1U : cores) + 4U)));
         });
  l.on_real_clock("real threads");

  l.step("Throughput against pool size",
         "A pool runs as many blocking calls at once as it has threads; the rest queue. 16\n"
         "calls of 50 ms each, on pools of 1 to 32 threads (run_in_executor: your own pool,\n"
         "not the default one). Ideal: ⌈16 / threads⌉ rounds of 50 ms.",
         {"pools"}, [] {
           const std::vector<std::size_t> sizes{1, 2, 4, 8, 16, 32};
           const auto took = run_real(by_pool_size(sizes), {.title = "pools", .timeline = false});
           lesson::say("  threads   16 calls took   ideal ⌈16/threads⌉ × 50 ms   calls per second");
           for (std::size_t i = 0; i < sizes.size(); ++i) {
             const double secs = std::chrono::duration<double>(took[i]).count();
             const std::size_t rounds = (16 + sizes[i] - 1) / sizes[i];
             lesson::say("  {:>7}   {}   {:>26}   {}", sizes[i], right(lesson::secs(took[i]), 13),
                         lesson::secs(rounds * std::chrono::milliseconds(50)),
                         right(fmt::format("{:.0f}", secs > 0 ? 16 / secs : 0.0), 16));
           }
           g_measured.one_thread = took[0];
           g_measured.sixteen = took[4];
           // Said only when this run's figures show it: each of 1..16 threads within a quarter
           // of the ideal (a busy machine starts the threads late and falls behind it).
           bool follows_ideal = true;
           for (std::size_t i = 0; i < 5; ++i) {
             const std::size_t rounds = (16 + sizes[i] - 1) / sizes[i];
             if (took[i] > rounds * std::chrono::milliseconds(50) * 5 / 4) follows_ideal = false;
           }
           lesson::conclude("16 calls took {} on 1 thread and {} on 16: {}", lesson::measured(lesson::secs(took[0])),
                            lesson::measured(lesson::secs(took[4])),
                            lesson::measured(std::string(follows_ideal ? "each doubling of the threads halved the time, as the "
                                                             "ideal column says, up to a thread per call"
                                                           : "less gain than the ideal column: this machine was "
                                                             "busy, and threads waited for a core to start")));
           lesson::conclude("32 threads took {}, about what 16 took: only 16 calls were waiting, so 16 threads "
                            "had nothing to do",
                            lesson::measured(lesson::secs(took[5])));
         });
  l.on_real_clock("real threads");

  l.step("When to choose threads, when async",
         "The choice, as a table, each row with a number measured here. Two are new: what one\n"
         "to_thread costs against one loop turn, and CPU-bound work on 1 and 4 threads. Unlike\n"
         "Python, where the GIL lets one thread run Python code at a time (CPU-bound work goes\n"
         "to a ProcessPoolExecutor), C++ threads run on separate cores in parallel. The lesson\n"
         "concludes on that only if the threads got the cores (CPU time against wall time).",
         {"costs"}, [] {
           // 100,000 tasks made in one step take longer than the slow-step warning's 100 ms on a
           // slow machine; here that is the point, not a mistake.
           const Costs c = run_real(measure_costs(), {.title = "costs", .slow_step_warning = 0ms}, false);
           const std::size_t stack = default_thread_stack();
           const unsigned cores = std::thread::hardware_concurrency();
           const CpuVerdict cpu = judge_cpu(c, cores);
           // A time as printed, and the value it prints: a ratio below is computed from the
           // printed figures, so a reader who divides them gets the same answer.
           struct Shown {
             std::string text;
             double ns;
           };
           const auto shown = [](Clock::duration d) {
             const double ns = std::chrono::duration<double, std::nano>(d).count();
             if (ns < 1000) {  // a loop turn: tens of ns, which "0.01 µs" would hide
               const std::string text = fmt::format("{:.1f}", ns);
               return Shown{text + " ns", std::stod(text)};
             }
             const std::string text = fmt::format("{:.2f}", ns / 1000);
             return Shown{text + " µs", std::stod(text) * 1000};
           };
           const Shown trip = shown(c.to_thread_trip), turn = shown(c.loop_turn);
           bool missing = false;  // with --only 4, steps 1 to 3 did not run
           const auto or_run = [&missing](const auto& v, auto show) {
             missing = missing || !v;
             return v ? show(*v) : std::string("?");
           };
           const auto secs = [](Clock::duration d) { return lesson::measured(lesson::secs(d)); };
           const auto count = [](long n) { return lesson::measured("{}", n); };
           struct Row {
             std::vector<std::string> when;
             std::string choose;
             std::vector<std::string> why;
           };
           const std::vector<Row> rows{
               {{"many connections, mostly waiting,", "every library async"},
                "async",
                {fmt::format("a parked task holds {} in all,",
                             lesson::measured(c.task_bytes ? fmt::format("{} B", *c.task_bytes) : "n/a")),
                 fmt::format("{} of it its frame;", lesson::measured("{} B", c.frame_bytes)),
                 fmt::format("a thread reserves {} of stack", lesson::measured("{} KiB", stack / 1024))}},
               {{"one library is synchronous-only", "(a driver, an SDK, file APIs)"},
                "async + to_thread",
                {fmt::format("called directly, 4 queries took {}", or_run(g_measured.frozen_for, secs)),
                 fmt::format("and {} heartbeats were missed;", or_run(g_measured.missed_blocking, count)),
                 fmt::format("with to_thread, {} were missed", or_run(g_measured.missed_offloaded, count))}},
               {{"few connections, every library", "blocking; a simple workload"},
                "threads",
                {"simpler code, but each blocked call holds a",
                 fmt::format("thread: 16 calls took {} on 1 thread,", or_run(g_measured.one_thread, secs)),
                 fmt::format("{} on 16", or_run(g_measured.sixteen, secs))}},
               {{"CPU-bound work"},
                "a thread pool",
                {fmt::format("4 equal chunks took {} on 1 thread,", secs(c.on_one.wall)),
                 fmt::format("{} on 4: {}", secs(c.on_four.wall), lesson::measured(cpu.in_table))}},
               {{"a short call that never blocks"},
                "call it inline",
                {fmt::format("a to_thread round trip costs {},", lesson::measured(trip.text)),
                 fmt::format("a loop turn {}", lesson::measured(turn.text))}},
           };
           lesson::say("{:<34}  {:<18}  {}", "your situation", "choose", "measured in this lesson");
           for (const Row& r : rows) {
             lesson::say("{}  {}  {}", rule(34), rule(18), rule(44));
             for (std::size_t i = 0; i < std::max(r.when.size(), r.why.size()); ++i) {
               const std::string when = i < r.when.size() ? r.when[i] : "";
               const std::string why = i < r.why.size() ? r.why[i] : "";
               const std::string line = fmt::format("{:<34}  {:<18}  {}", when, i == 0 ? r.choose : "", why);
               lesson::say("{}", line.substr(0, line.find_last_not_of(' ') + 1));
             }
           }
           if (missing) lesson::conclude("? marks a figure from steps 1 to 3, which did not run this time");
           lesson::conclude("a parked task costs {} in all (resident memory per task, 100,000 parked: its frame and "
                            "the loop's record of it); a thread's stack reservation is {} times that",
                            lesson::measured(c.task_bytes ? fmt::format("{} B", *c.task_bytes) : "n/a (no /proc here)"),
                            lesson::measured(c.task_bytes && *c.task_bytes > 0
                                                 ? about(static_cast<double>(stack) / static_cast<double>(*c.task_bytes))
                                                 : "n/a"));
           lesson::conclude("CPU-bound work: {}", lesson::measured(cpu.verdict));
           lesson::conclude("to_thread costs {}× the price of a loop turn ({} against {}): offload what blocks, "
                            "not what is merely short",
                            lesson::measured(turn.ns > 0 ? about(trip.ns / turn.ns) : "n/a"),
                            lesson::measured(trip.text), lesson::measured(turn.text));
         });
  l.on_real_clock("real threads");

  l.step("Atomicity stops at the thread boundary",
         "Lesson 08's guarantee is about tasks: between two awaits no other task runs. A\n"
         "function on a pool thread is not a task; it runs at the same time as the loop. So\n"
         "anything it shares with tasks needs real thread synchronisation (std::atomic, or a\n"
         "std::mutex; coop::Lock only orders tasks). Better still, share nothing: return the\n"
         "result and let the task do the update on the loop thread, after the co_await.",
         {"boundary"}, [] {
           const Boundary b = run_real(across_threads(), {.title = "threads and the loop"}, false);
           lesson::conclude("8 jobs × 200,000 atomic additions on 4 threads: the counter reads {} (expected {})",
                            lesson::figure(num(b.counter)), lesson::figure(num(8 * 200'000)));
           lesson::conclude("the watcher read it, worked a little, read it again, all in one step, {} times; the "
                            "two reads differed {} times: a thread changed it in the middle of a task's step",
                            lesson::measured(num(b.watched.samples)), lesson::measured(num(b.watched.changed)));
           lesson::conclude("8 jobs' prime counts (run on the pool's 4 threads), added up on the loop after each co_await: {} (counted on one "
                            "thread: {})",
                            lesson::figure(num(b.total)), lesson::figure(num(count_primes(0, 400'000))));
           lesson::conclude(
               "not run here: with a plain `long` instead of std::atomic, `++counter` on two threads is a data race, "
               "undefined behaviour in C++; in practice two threads read the same value and both write it + 1, lesson "
               "08's lost update at the scale of one instruction, and ThreadSanitizer reports it");
         });
  l.on_real_clock("real threads");

  l.wrap_up(
      "A synchronous driver called on the loop froze it: the handlers ran one at a time and\n"
      "the heartbeat fell silent. to_thread moved the same calls onto threads; the loop\n"
      "stayed free and the calls overlapped, as many at once as the pool had threads. So:\n"
      "async for many waits through async libraries, to_thread (run_in_executor) for the\n"
      "blocking calls you cannot avoid, threads when everything blocks and the load is small.\n"
      "And the atomicity of lesson 08 ends at the thread boundary: share nothing with a\n"
      "thread, or synchronise for real.");
  return l.main(argc, argv);
}
