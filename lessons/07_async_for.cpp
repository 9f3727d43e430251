// Lesson 07 — async for: async iteration and async generators, streaming in constant memory.
//
// Python: `async for x in gen():` awaits gen's __anext__ once per item, and an async
// generator (an `async def` with `yield`) provides __anext__ for free. Each __anext__ runs
// the generator's body up to its next yield and may await on the way, so other coroutines
// run between items, and only one item exists at a time.
// C++20 has coroutines but no `async for`: coop::AsyncGenerator<T> is the async generator,
// and `while (auto x = co_await gen.next())` is the loop. Six steps: the idiom; millions of
// records streamed in constant memory against loading them all; the same stream from a
// hand-written async iterator (the __anext__ spelling) beside the generator that replaces it;
// other tasks running between items; a pipeline of generators; breaking out early, and what
// cleans up.
#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "common/lesson.hpp"
#include "coop/platform.hpp"

using namespace std::chrono_literals;
using coop::AsyncGenerator;
using coop::Task;

namespace {

// ---- helpers (not shown: they format numbers and read /proc) --------------------------------

// 1234567 -> "1,234,567".
std::string grouped(std::uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// Cents as money: 123456789 -> "1,234,567.89".
std::string money(std::int64_t cents) {
  const std::uint64_t c = static_cast<std::uint64_t>(cents < 0 ? -cents : cents);
  return fmt::format("{}{}.{:02}", cents < 0 ? "-" : "", grouped(c / 100), c % 100);
}

std::string mib(double bytes) { return fmt::format("{:.1f} MiB", bytes / (1024.0 * 1024.0)); }

// The process's resident memory (its pages in RAM), in bytes: VmRSS in /proc/self/status
// (Linux; 0 elsewhere, and steps 2 and 3 print "n/a (no /proc)"). Read with plain read() into a stack buffer, so
// that measuring allocates nothing. The kernel counts whole pages: accurate to a few KiB.
std::size_t resident_bytes() {
  if (!COOP_HAS_PROC_FS) return 0;
  const int fd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[8192];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  const char* line = std::strstr(buf, "VmRSS:");
  if (line == nullptr) return 0;
  return static_cast<std::size_t>(std::strtoull(line + 6, nullptr, 10)) * 1024;  // "VmRSS:  1992 kB"
}

// Prints only when narrating (step 5's small run); otherwise a branch per item and nothing more.
bool narrating = false;
template <class... Args>
void note(fmt::format_string<Args...> f, Args&&... args) {
  if (narrating) lesson::say(f, std::forward<Args>(args)...);
}

std::uint64_t g_records = 1'000'000;  // --records N

// ---- step 1 --------------------------------------------------------------------------------

// snippet: idiom
// Python: async def countdown(n):           C++: an AsyncGenerator: co_await and co_yield
//             for i in range(n, 0, -1):
//                 await asyncio.sleep(0.1)
//                 yield i
AsyncGenerator<int> countdown(int from) {
  lesson::say("countdown: body starts");
  for (int i = from; i > 0; --i) {
    co_await coop::sleep(100ms);  // may suspend: the loop runs other tasks meanwhile
    lesson::say("countdown: yields {}", i);
    co_yield i;  // hands i over and stops here until the next next()
  }
  lesson::say("countdown: body ends");
}

Task<int> count_down() {
  auto gen = countdown(3);  // a call: makes the frame, runs nothing
  lesson::say("countdown(3) returned a generator; its body has not started");
  int items = 0;
  // Python: async for i in countdown(3): print(i)
  while (auto i = co_await gen.next()) {  // next() is __anext__: std::optional<int>
    lesson::say("consumer got {}", *i);
    ++items;
  }
  lesson::say("next() gave std::nullopt (Python: StopAsyncIteration): the loop ends");
  co_return items;
}
// end snippet

// ---- step 2 --------------------------------------------------------------------------------

// snippet: source
struct Record {  // one row of a sales log
  std::uint64_t id;
  std::int64_t cents;  // the amount
  std::uint32_t region;  // 0..7
  std::uint32_t customer;
  std::uint64_t day;
};

Record make_record(std::uint64_t id);  // a deterministic "random" record (a hash of id)

// Python: async def read_records(n):
//             for id in range(n): yield make_record(id)
// A real source would await a file or a socket here; this one computes each record, so
// that the step measures the streaming and nothing else.
AsyncGenerator<Record> read_records(std::uint64_t n) {
  for (std::uint64_t id = 0; id < n; ++id) {
    note("source: makes #{}", id);  // prints only in step 5's small run
    co_yield make_record(id);       // the only record in existence, until the next next()
  }
}
// end snippet

Record make_record(std::uint64_t id) {
  std::uint64_t h = id + 0x9E3779B97F4A7C15ULL;  // splitmix64
  h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ULL;
  h = (h ^ (h >> 27)) * 0x94D049BB133111EBULL;
  h ^= h >> 31;
  return {id, static_cast<std::int64_t>(h % 100'000), static_cast<std::uint32_t>((h >> 20) % 8),
          static_cast<std::uint32_t>((h >> 32) % 50'000), id / 10'000};
}

// snippet: probe
// How memory is measured, the same way in both passes, every 100,000 records and at the end
// (the most seen is kept): resident pages above where the pass started, and coroutine frames.
struct Probe {
  std::size_t rss_base = resident_bytes();  // the process's pages in RAM, as the pass starts
  std::size_t rss_growth = 0;               // the most they grew above that
  std::size_t frame_bytes = 0;              // the most bytes of coroutine frames alive: the
                                            // pass's own and its generator's (nothing else runs;
                                            // Clang may build the generator inside the pass's frame)
  void sample() {
    const std::size_t rss = resident_bytes();
    rss_growth = std::max(rss_growth, rss > rss_base ? rss - rss_base : 0);
    frame_bytes = std::max(frame_bytes, coop::frame_stats().live_bytes);
  }
};
// end snippet

struct Pass {
  std::uint64_t count = 0;
  std::int64_t cents = 0;
  std::size_t bytes_held = 0;  // what the pass kept in a container
  Probe probe;
};

// snippet: stream
Task<Pass> stream_total(std::uint64_t n) {
  Pass p;  // p.probe starts measuring here
  auto records = read_records(n);
  while (auto r = co_await records.next()) {  // async for r in read_records(n):
    p.cents += r->cents;
    if (++p.count % 100'000 == 0) p.probe.sample();
  }
  p.probe.sample();
  co_return p;
}

Task<Pass> load_then_total(std::uint64_t n) {
  Pass p;
  std::vector<Record> all;  // Python: all = [r async for r in read_records(n)]
  all.reserve(n);           // the kindest case: we know n, so the vector never regrows
  auto records = read_records(n);
  while (auto r = co_await records.next()) {
    all.push_back(*r);
    if (all.size() % 100'000 == 0) p.probe.sample();
  }
  p.probe.sample();
  for (const Record& r : all) {  // the same work as above, once everything is loaded
    p.cents += r.cents;
    ++p.count;
  }
  p.bytes_held = all.capacity() * sizeof(Record);
  co_return p;
}
// end snippet

// ---- step 3 --------------------------------------------------------------------------------

// snippet: by_hand
// Python: class ReadRecords:                     C++: an object whose next() is awaitable
//             def __init__(self, n): self.id, self.n = 0, n
//             def __aiter__(self): return self
//             async def __anext__(self):
//                 if self.id == self.n: raise StopAsyncIteration
//                 self.id += 1
//                 return make_record(self.id - 1)
class RecordReader {
 public:
  explicit RecordReader(std::uint64_t n) : n_(n) {}
  Task<std::optional<Record>> next() {        // __anext__: a coroutine, so it may co_await
    if (id_ == n_) co_return std::nullopt;    // raise StopAsyncIteration
    co_return make_record(id_++);
  }

 private:
  std::uint64_t id_ = 0;  // where it is: what the generator keeps in its frame, kept by hand
  std::uint64_t n_;
};

Task<Pass> stream_by_hand(std::uint64_t n) {
  Pass p;  // measured as stream_total is
  RecordReader records(n);
  while (auto r = co_await records.next()) {  // the same loop: async for r in ReadRecords(n):
    p.cents += r->cents;
    if (++p.count % 100'000 == 0) p.probe.sample();
  }
  p.probe.sample();
  co_return p;
}
// end snippet

// ---- step 4 --------------------------------------------------------------------------------

// snippet: pages
// A paged source: each page of records takes a (simulated) network round trip.
AsyncGenerator<Record> fetch_pages(int pages, int per_page) {
  for (int page = 0; page < pages; ++page) {
    co_await coop::sleep(50ms);  // "GET /sales?page=..": the consumer's task parks, the loop is free
    lesson::say("fetch_pages: page {} arrived ({} records)", page, per_page);
    for (int i = 0; i < per_page; ++i)
      co_yield make_record(static_cast<std::uint64_t>(page * per_page + i));  // no wait: no loop turn
  }
}

struct Progress {
  std::uint64_t records = 0;
  std::int64_t cents = 0;
  bool finished = false;
};

Task<void> consume(AsyncGenerator<Record> source, Progress& progress) {
  while (auto r = co_await source.next()) {  // async for r in source:
    ++progress.records;
    progress.cents += r->cents;
  }
  progress.finished = true;
  lesson::say("consumer: stream ended after {} records", grouped(progress.records));
}

// A second, unrelated task: every 70 ms it reports, until the stream has ended.
Task<void> reporter(const Progress& progress, std::vector<std::uint64_t>& seen) {
  for (;;) {
    co_await coop::sleep(70ms);
    if (progress.finished) co_return;
    seen.push_back(progress.records);
    lesson::say("reporter: {} records so far, total {}", grouped(progress.records), money(progress.cents));
  }
}

Task<std::vector<std::uint64_t>> stream_with_reporter() {
  Progress progress;
  std::vector<std::uint64_t> seen;  // what the reporter saw, each time it ran
  auto c = coop::create_task(consume(fetch_pages(6, 1'000), progress), "consumer");
  auto r = coop::create_task(reporter(progress, seen), "reporter");
  co_await coop::gather(c, r);
  co_return seen;
}
// end snippet

// ---- step 5 --------------------------------------------------------------------------------

// snippet: pipeline
// Stage 2, a filter: pulls records from `in`, yields those of one region.
AsyncGenerator<Record> only_region(AsyncGenerator<Record> in, std::uint32_t region) {
  while (auto r = co_await in.next()) {
    if (r->region != region) {
      note("  only_region: drops #{} (region {})", r->id, r->region);
      continue;
    }
    note("  only_region: passes #{}", r->id);
    co_yield *r;
  }
}

// Stage 3, a transform: each record becomes its amount with 20% tax added, in cents.
AsyncGenerator<std::int64_t> with_tax(AsyncGenerator<Record> in) {
  while (auto r = co_await in.next()) {
    const std::int64_t gross = r->cents + r->cents / 5;
    note("    with_tax: #{} {} -> {}", r->id, money(r->cents), money(gross));
    co_yield gross;
  }
}

struct Totals {
  std::uint64_t count = 0;
  std::int64_t cents = 0;
  std::size_t most_frames = 0, most_frame_bytes = 0;  // coroutine frames alive, looked at on every item
};

// The consumer pulls; each pull runs the stages backwards until one record gets through.
Task<Totals> total_of(AsyncGenerator<std::int64_t> amounts) {
  Totals t;
  while (auto c = co_await amounts.next()) {
    note("      consumer: got {}", money(*c));
    ++t.count;
    t.cents += *c;
    t.most_frames = std::max(t.most_frames, coop::frame_stats().live_frames);
    t.most_frame_bytes = std::max(t.most_frame_bytes, coop::frame_stats().live_bytes);
  }
  co_return t;
}

Task<Totals> pipeline(std::uint64_t n) {
  // Python: total_of(with_tax(only_region(read_records(n), 1)))
  co_return co_await total_of(with_tax(only_region(read_records(n), 1)));
}
// end snippet

// The same computation without generators, to check the pipeline's answer.
Totals plain_loop(std::uint64_t n) {
  Totals t;
  for (std::uint64_t id = 0; id < n; ++id) {
    const Record r = make_record(id);
    if (r.region != 1) continue;
    ++t.count;
    t.cents += r.cents + r.cents / 5;
  }
  return t;
}

// ---- step 6 --------------------------------------------------------------------------------

std::vector<std::string> g_events;  // what happened, in order, for the conclusions

// snippet: early
// A resource the generator holds: opened by its body, closed by its destructor.
struct Cursor {
  explicit Cursor(std::string table) : table_(std::move(table)) {
    lesson::say("cursor on '{}' opened", table_);
  }
  ~Cursor() {
    lesson::say("cursor on '{}' closed (~Cursor, a local of the generator's frame)", table_);
    g_events.push_back("closed");
  }
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  std::string table_;
};

AsyncGenerator<Record> query(std::string table, std::uint64_t rows) {
  Cursor cursor(table);  // lives in the frame, as long as the generator does
  for (std::uint64_t id = 0; id < rows; ++id) {
    co_await coop::sleep(10ms);  // one row from the database
    g_events.push_back("row");
    co_yield make_record(id);
  }
  lesson::say("query: all rows read");  // only reached if the consumer reads to the end
  g_events.push_back("all rows read");
}

Task<void> first_three() {
  {
    auto rows = query("sales", 1'000'000);
    int taken = 0;
    while (auto r = co_await rows.next()) {
      lesson::say("consumer: row #{}, {}", r->id, money(r->cents));
      g_events.push_back("got");
      if (++taken == 3) break;  // Python: break inside `async for`
    }
    lesson::say("consumer: left the loop; `rows` is destroyed at the closing brace");
    g_events.push_back("left loop");
  }  // ~AsyncGenerator destroys the suspended frame, and with it `cursor`
  lesson::say("consumer: after the block");
  g_events.push_back("after block");
}
// end snippet

std::size_t index_of(const std::vector<std::string>& v, const std::string& what) {
  return static_cast<std::size_t>(std::find(v.begin(), v.end(), what) - v.begin());
}

std::size_t count_of(const std::vector<std::string>& v, const std::string& what) {
  return static_cast<std::size_t>(std::count(v.begin(), v.end(), what));
}

// One row of step 2's table.
void row(const std::string& label, const std::string& a, const std::string& b) {
  lesson::say("{:<34} {:>22} {:>22}", label, a, b);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  lesson::Lesson l({7, "async_for", "async for: async iteration and async generators",
                    "async for implements async iteration with __anext__, an async method: on each "
                    "iteration the loop awaits __anext__, which may suspend between items. Async generators "
                    "(async def with yield) implement the protocol automatically. Between iteration steps "
                    "the loop can run other coroutines, which makes async for the tool for streaming large "
                    "data sets in constant memory instead of loading them all at once."});
  l.flags()
      .add_option("--records", g_records, "How many records steps 2 and 4 stream (default 1,000,000)")
      ->type_name("N")
      ->check(CLI::Range(std::uint64_t{1'000}, std::uint64_t{50'000'000}));

  l.step("C++ has no `async for`: a while loop around co_await gen.next()",
         "A range-for calls begin(), ++ and !=, and none of them can co_await. The Coroutines TS\n"
         "had `for co_await (x : r)`, but C++20 left it out, so the loop is written by hand:\n"
         "next() is __anext__; co_await gen.next() gives a std::optional<T>, and std::nullopt\n"
         "is StopAsyncIteration. The generator's body runs inside the consumer's task, one item\n"
         "per next(): the timeline shows its sleeps as the consumer's waits.",
         {"idiom"}, [] {
           const int items = lesson::run(count_down(), {.title = "async for over countdown(3)"});
           lesson::conclude("{} items and the end took {}: the body's 3 sleeps of 0.100 s, each run only when "
                            "the consumer asked for the next item",
                            lesson::figure(std::to_string(items)),
                            lesson::figure(lesson::secs(lesson::last_trace().back().at)));
         });

  l.step("Streaming a million records in constant memory",
         "read_records(n) makes each record only when next() asks, and keeps only that one.\n"
         "One pass adds the records up as they stream; the other first stores them all in a\n"
         "vector, as `[r async for r in ...]` or reading a whole file would. Both are measured\n"
         "the same way: resident memory (VmRSS in /proc/self/status) and the bytes of coroutine\n"
         "frames alive. Each runs on 1% of the records, then on all (--records N sets the count).\n"
         "Resident memory moves in whole pages: a few dozen KiB either way is noise.",
         {"source", "probe", "stream"}, [] {
           const std::uint64_t n = g_records, small = n / 100;
           const lesson::RunSettings quiet{.title = "", .timeline = false, .slow_step_warning = 0ms};
           // Streaming first: its figures must not depend on memory the loading pass touched.
           const Pass stream_small = lesson::run(stream_total(small), quiet);
           auto t0 = std::chrono::steady_clock::now();
           const Pass stream_big = lesson::run(stream_total(n), quiet);
           const double t_stream = seconds_since(t0);
           const Pass load_small = lesson::run(load_then_total(small), quiet);
           t0 = std::chrono::steady_clock::now();
           const Pass load_big = lesson::run(load_then_total(n), quiet);
           const double t_load = seconds_since(t0);

           auto kib = [](std::size_t b) {
             return COOP_HAS_PROC_FS ? lesson::measured("{} KiB", grouped(b / 1024)) : lesson::measured("n/a (no /proc)");
           };
           auto bytes = [](std::size_t b) { return lesson::measured("{} B", b); };
           row("", grouped(small) + " records", grouped(n) + " records");
           row("streaming: total", money(stream_small.cents), money(stream_big.cents));
           row("  coroutine frames alive", bytes(stream_small.probe.frame_bytes), bytes(stream_big.probe.frame_bytes));
           row("  resident memory grew by", kib(stream_small.probe.rss_growth), kib(stream_big.probe.rss_growth));
           row("loading: total", money(load_small.cents), money(load_big.cents));
           row(fmt::format("  the vector holds (n × {} B)", sizeof(Record)), grouped(load_small.bytes_held) + " B",
               grouped(load_big.bytes_held) + " B");
           row("  resident memory grew by", kib(load_small.probe.rss_growth), kib(load_big.probe.rss_growth));
           lesson::conclude("streaming: the same bytes of frames for {} and for {} records: {} (the pass's "
                            "frame and its generator's, which holds the one record)",
                            grouped(small), grouped(n),
                            stream_small.probe.frame_bytes == stream_big.probe.frame_bytes ? "yes" : "NO");
           lesson::conclude("loading: {} × sizeof(Record) = {} × {} B = {} B ({}), computed exactly: 100 times the "
                            "records, 100 times the memory",
                            grouped(n), grouped(n), sizeof(Record), grouped(load_big.bytes_held),
                            mib(static_cast<double>(load_big.bytes_held)));
           const std::size_t ratio = load_big.bytes_held / std::max<std::size_t>(1, stream_big.probe.frame_bytes);
           lesson::conclude("for {} records, loading held {} times the bytes streaming did ({} B of vector "
                            "against {} of frames)",
                            grouped(n), lesson::measured(grouped(ratio)), grouped(load_big.bytes_held),
                            bytes(stream_big.probe.frame_bytes));
           const bool same = stream_big.cents == load_big.cents && stream_big.count == load_big.count;
           lesson::conclude("both passes found the same total: {}", same ? "yes" : "NO");
           lesson::conclude("time: streaming {} ({} per record); loading, then summing {}",
                            lesson::measured("{:.3f} s", t_stream),
                            lesson::measured("{:.0f} ns", t_stream * 1e9 / static_cast<double>(n)),
                            lesson::measured("{:.3f} s", t_load));
         });

  l.step("By hand: an object whose next() is awaitable (Python's __anext__)",
         "Python's protocol is a class: __aiter__ returns the iterator, and each `async for` turn\n"
         "awaits its __anext__, which raises StopAsyncIteration at the end. The same in C++: an\n"
         "object whose next() is a coroutine returning std::optional, consumed by the same loop.\n"
         "Where it is between items (id_) is a member, kept by hand; a generator keeps it in its\n"
         "frame, as a local, and resumes where it stopped. Both stream the records of step 2,\n"
         "measured the same way (frames alive, resident memory, time).",
         {"by_hand"}, [] {
           const std::uint64_t n = g_records;
           const lesson::RunSettings quiet{.title = "", .timeline = false, .slow_step_warning = 0ms};
           std::size_t made = coop::frame_stats().allocations;
           auto t0 = std::chrono::steady_clock::now();
           const Pass by_hand = lesson::run(stream_by_hand(n), quiet);
           const double t_hand = seconds_since(t0);
           const std::size_t made_by_hand = coop::frame_stats().allocations - made;
           made = coop::frame_stats().allocations;
           t0 = std::chrono::steady_clock::now();
           const Pass generated = lesson::run(stream_total(n), quiet);
           const double t_gen = seconds_since(t0);
           const std::size_t made_generated = coop::frame_stats().allocations - made;
           auto kib = [](std::size_t b) {
             return COOP_HAS_PROC_FS ? lesson::measured("{} KiB", grouped(b / 1024)) : lesson::measured("n/a (no /proc)");
           };
           auto bytes = [](std::size_t b) { return lesson::measured("{} B", b); };
           auto per_record = [n](double t) { return lesson::measured("{:.0f} ns", t * 1e9 / static_cast<double>(n)); };
           row("", "by hand (__anext__)", "AsyncGenerator");
           row(fmt::format("total of {} records", grouped(n)), money(by_hand.cents), money(generated.cents));
           row("  coroutine frames alive", bytes(by_hand.probe.frame_bytes), bytes(generated.probe.frame_bytes));
           // Counts that depend on the compiler (Clang may build a frame inside its caller's): masked
           // in golden files, like the machine's figures.
           row("  coroutine frames made", lesson::measured(grouped(made_by_hand)),
               lesson::measured(grouped(made_generated)));
           row("  resident memory grew by", kib(by_hand.probe.rss_growth), kib(generated.probe.rss_growth));
           row("  time per record", per_record(t_hand), per_record(t_gen));
           lesson::conclude("the same total: {}; both in constant memory, one record at a time",
                            by_hand.cents == generated.cents && by_hand.count == generated.count ? "yes" : "NO");
           lesson::conclude("frames made: by hand {}, {}; the generator {}, however many records: its frame is "
                            "resumed for every item",
                            lesson::measured(grouped(made_by_hand)),
                            lesson::measured(made_by_hand > n
                                                 ? "the pass's and one per next(), a coroutine call of its own "
                                                   "(coop's pool recycles each for the next)"
                                                 : "fewer than the next() calls: the compiler built their frames "
                                                   "inside the caller's"),
                            lesson::measured(grouped(made_generated)));
           lesson::conclude("what the generator saves: the class, the member that remembers where it is, and the "
                            "code that picks up from there; with two nested loops (pages of records, step 4) the "
                            "class would need both positions and the logic to move between them, where the "
                            "generator is the loops as written");
         });

  l.step("Other tasks run between items, where the generator awaits",
         "fetch_pages awaits a (simulated) network fetch before each page of 1,000 records. While\n"
         "it waits, the consumer's task is parked and the loop runs the reporter, an unrelated\n"
         "task. Handing over a record that is already there does not suspend: the loop gets a turn\n"
         "only where the generator awaits (Python's async for behaves the same).",
         {"pages"}, [] {
           const std::vector<std::uint64_t> seen =
               lesson::run(stream_with_reporter(), {.title = "a paged stream and a reporter"});
           int consumer_waits = 0;
           for (const coop::TraceEvent& e : lesson::last_trace())
             if (e.kind == coop::TraceEvent::Kind::suspended && e.task_name == "consumer") ++consumer_waits;
           const bool between_pages =
               std::all_of(seen.begin(), seen.end(), [](std::uint64_t k) { return k % 1'000 == 0; });
           lesson::conclude("the reporter ran {} times while the stream was in progress, and every count it saw "
                            "was a whole number of pages: {}",
                            lesson::figure(std::to_string(seen.size())), between_pages ? "yes" : "NO");
           lesson::conclude("the consumer's task suspended {} times for 6,000 records: once per page, at the "
                            "generator's sleep, not once per record",
                            lesson::figure(std::to_string(consumer_waits)));
         });

  l.step("A pipeline of generators",
         "A generator can pull from another generator: source -> filter -> transform -> consumer,\n"
         "like chaining Python async generators. Nothing runs ahead: each next() of the consumer\n"
         "pulls through the stages (with_tax asks only_region, which asks the source) until one\n"
         "record gets all the way through. First 6 records, narrated; then the full count, with\n"
         "frames checked at every item.",
         {"pipeline"}, [] {
           narrating = true;
           const Totals six = lesson::run(pipeline(6), {.title = "", .timeline = false});
           narrating = false;
           lesson::conclude("the consumer got {} amounts; each time, the source had made only the records up "
                            "to that one (the lines above): no stage ran ahead",
                            lesson::figure(std::to_string(six.count)));

           const std::uint64_t n = g_records, small = n / 100;
           const lesson::RunSettings quiet{.title = "", .timeline = false, .slow_step_warning = 0ms};
           const coop::FrameStats base = coop::frame_stats();
           const Totals few = lesson::run(pipeline(small), quiet);
           const auto t0 = std::chrono::steady_clock::now();
           const Totals all = lesson::run(pipeline(n), quiet);
           const double t = seconds_since(t0);
           const Totals check = plain_loop(n);
           lesson::conclude("{} records: {} in region 1, total with tax {}; a plain for loop agrees: {}",
                            grouped(n), grouped(all.count), money(all.cents),
                            check.count == all.count && check.cents == all.cents ? "yes" : "NO");
           lesson::conclude("coroutine frames alive: at most {} ({}) for {} records, and {} ({}) for {}: {}",
                            lesson::measured("{}", few.most_frames - base.live_frames),
                            lesson::measured("{} B", few.most_frame_bytes - base.live_bytes), grouped(small),
                            lesson::measured("{}", all.most_frames - base.live_frames),
                            lesson::measured("{} B", all.most_frame_bytes - base.live_bytes), grouped(n),
                            few.most_frame_bytes == all.most_frame_bytes && few.most_frames == all.most_frames
                                ? "the same whatever the count (a frame per coroutine, or fewer where the "
                                  "compiler builds one inside its caller's)"
                                : "NOT the same");
           lesson::conclude("time: {} for 3 stages, {} per record", lesson::measured("{:.3f} s", t),
                            lesson::measured("{:.0f} ns", t * 1e9 / static_cast<double>(n)));
         });

  l.step("Breaking out early: the frame is destroyed, its locals clean up",
         "The consumer wants 3 rows of a million and breaks. The generator is suspended at its\n"
         "co_yield; when `rows` goes out of scope, ~AsyncGenerator destroys the frame, and the\n"
         "destructors of its locals run there and then. Code after the co_yield never runs.\n"
         "Python closes a generator left this way later (aclose(), from the garbage collector or\n"
         "the loop), and its `finally` may await; a C++ destructor runs at once but cannot await,\n"
         "so cleanup that must await goes after the loop in the consumer, or into async_with.",
         {"early"}, [] {
           g_events.clear();
           const std::size_t frames = coop::frame_stats().live_frames;
           lesson::run(first_three(), {.title = "", .timeline = false});
           lesson::conclude("rows read: {} of 1,000,000; `all rows read` ran {} times",
                            lesson::figure(std::to_string(count_of(g_events, "row"))),
                            lesson::figure(std::to_string(count_of(g_events, "all rows read"))));
           lesson::conclude("the cursor closed as event {} of {}: after `left the loop` (event {}), before "
                            "`after the block` (event {})",
                            index_of(g_events, "closed") + 1, g_events.size(), index_of(g_events, "left loop") + 1,
                            index_of(g_events, "after block") + 1);
           lesson::conclude("coroutine frames alive after the run: {} more than before",
                            coop::frame_stats().live_frames - frames);
         });

  l.wrap_up(
      "C++ has no `async for`, so the loop is `while (auto x = co_await gen.next())`, and an\n"
      "AsyncGenerator is the async generator: its body runs one item per next(), inside the\n"
      "consumer's task. Streaming kept one record at a time, in frames of a fixed size, where\n"
      "loading kept them all; other tasks ran wherever the generator awaited; generators chained\n"
      "into a pipeline in constant memory; and breaking early destroyed the frame, running its\n"
      "locals' destructors at once. Next: lesson 08, what runs atomically between two awaits.");
  return l.main(argc, argv);
}
