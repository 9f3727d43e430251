// Grader for exercise 07 — async for. Every check runs under virtual time. Besides the items
// themselves it watches what streaming means: how far each producer had got whenever the
// consumer received an item (nothing fetched or pulled ahead), how many Orders, coroutine
// frames and heap bytes were alive at once (the same for a long stream as for a short one),
// and when the upstream's cleanup ran. An answer that loads everything first, prefetches,
// pulls one item too many or keeps its upstream alive has the right items and still fails.
//
// The heap is measured by replacing the global operator new and delete in this grader (the
// framework has no allocation counter): every allocation of the process is counted, and a
// check compares the peak during a short run with the peak during a long one. Each block
// carries the size asked for in a header in front of it, so that delete knows what to take
// off without asking the allocator (glibc's malloc_usable_size is not on a Mac).
#include "07_async_for.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <new>

#include "exercise.hpp"
#include "grader.hpp"

using namespace std::chrono_literals;
using coop::AsyncGenerator;
using coop::Task;
using ex07::Order;
using ex07::Page;

// ---- counting heap bytes ------------------------------------------------------------------------

namespace heap {
std::size_t live = 0;  // bytes allocated with operator new and not yet deleted
std::size_t peak = 0;  // the most `live` has been since the last reset()
void reset() noexcept { peak = live; }
// The header in front of each block: as large as malloc's alignment, so the block keeps it.
constexpr std::size_t header = alignof(std::max_align_t);
}  // namespace heap

void* operator new(std::size_t size) {
  void* raw = std::malloc(heap::header + size);
  if (raw == nullptr) throw std::bad_alloc();
  *static_cast<std::size_t*>(raw) = size;
  heap::live += size;
  heap::peak = std::max(heap::peak, heap::live);
  return static_cast<char*>(raw) + heap::header;
}
void* operator new[](std::size_t size) { return ::operator new(size); }
// The nothrow forms go through the one above too, so every block has its header.
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return ::operator new(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return ::operator new(size, std::nothrow); }
void operator delete(void* p) noexcept {
  if (p == nullptr) return;
  void* raw = static_cast<char*>(p) - heap::header;
  heap::live -= *static_cast<std::size_t*>(raw);
  std::free(raw);
}
void operator delete[](void* p) noexcept { ::operator delete(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { ::operator delete(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { ::operator delete(p); }
void operator delete(void* p, std::size_t) noexcept { ::operator delete(p); }
void operator delete[](void* p, std::size_t) noexcept { ::operator delete(p); }

namespace {

long long ms() { return std::chrono::duration_cast<std::chrono::milliseconds>(grading::elapsed()).count(); }

// What one measured run used at most.
struct Usage {
  std::size_t orders = 0;      // Order objects alive at once
  std::size_t heap_bytes = 0;  // heap bytes above where the run started
  std::size_t frames = 0;      // coroutine frames alive (sampled by the grader's producer)
};

std::size_t g_most_frames = 0;  // the producers below sample frame_stats() into this
void sample_frames() { g_most_frames = std::max(g_most_frames, coop::frame_stats().live_frames); }

// Runs `t` and measures it (no trace recorder: it would grow with the run and blur the heap).
template <class T>
std::pair<T, Usage> measured(Task<T> t) {
  Order::peak = Order::live;
  const std::size_t orders_before = Order::live, heap_before = heap::live;
  g_most_frames = 0;
  heap::reset();
  T value = grading::run(std::move(t));
  return {std::move(value), Usage{Order::peak - orders_before, heap::peak - heap_before, g_most_frames}};
}

// ---- part 1: a stream of orders ----

// Orders 1..n, made one at a time; the stream waits 1 ms every 1,000 orders (a network read).
AsyncGenerator<Order> order_stream(int n) {
  for (int id = 1; id <= n; ++id) {
    if (id % 1000 == 0) co_await coop::sleep(1ms);
    sample_frames();
    co_yield ex07::make_order(id);
  }
}

struct Amount {
  int id;
  std::int64_t cents;
};
AsyncGenerator<Order> listed(std::vector<Amount> amounts) {
  for (const Amount& a : amounts) {
    co_await coop::sleep(1ms);
    co_yield Order(a.id, a.cents);
  }
}

ex07::Summary expected_summary(int n) {
  ex07::Summary s;
  std::int64_t largest = -1;
  for (int id = 1; id <= n; ++id) {
    const Order o = ex07::make_order(id);
    ++s.count;
    s.total_cents += o.cents;
    if (o.cents > largest) {
      largest = o.cents;
      s.largest_id = o.id;
    }
  }
  return s;
}

std::string show(const ex07::Summary& s) {
  return fmt::format("{{count {}, total_cents {}, largest_id {}}}", s.count, s.total_cents, s.largest_id);
}

// ---- part 2: the consumer of pages ----

// Receives the pages slowly (1 s each) and notes, for each, how far the API had got.
Task<std::vector<std::string>> read_pages(ex07::Api& api) {
  std::vector<std::string> seen;
  auto gen = ex07::pages(api);
  while (auto p = co_await gen.next()) {
    const int first = p->orders.empty() ? 0 : p->orders.front().id;
    const int last_id = p->orders.empty() ? 0 : p->orders.back().id;
    seen.push_back(fmt::format("{} ms: page {} (orders {}..{}{}); the API had fetched {}, started {}", ms(), p->number,
                               first, last_id, p->last ? ", last" : "", api.fetched(), api.started()));
    co_await coop::sleep(1s);  // a slow consumer: the generator must not use this time to run ahead
  }
  seen.push_back(fmt::format("{} ms: the end; the API had fetched {}, started {}", ms(), api.fetched(), api.started()));
  co_return seen;
}

std::vector<std::string> expected_pages(int pages, int per_page) {
  std::vector<std::string> want;
  for (int k = 0; k < pages; ++k)
    want.push_back(fmt::format("{} ms: page {} (orders {}..{}{}); the API had fetched {}, started {}", 50 + k * 1050, k,
                               k * per_page + 1, (k + 1) * per_page, k == pages - 1 ? ", last" : "", k + 1, k + 1));
  want.push_back(fmt::format("{} ms: the end; the API had fetched {}, started {}", pages * 1050, pages, pages));
  return want;
}

// ---- part 3: the stage over the grader's pages ----

// Pages 0..pages-1 of the API's orders, one per 50 ms; counts the pages pulled so far.
AsyncGenerator<Page> page_source(int pages, int per_page, int* pulled) {
  for (int k = 0; k < pages; ++k) {
    co_await coop::sleep(50ms);
    Page page{k, {}, k == pages - 1};
    for (int i = 1; i <= per_page; ++i) page.orders.push_back(ex07::make_order(k * per_page + i));
    ++*pulled;
    sample_frames();
    co_yield std::move(page);
  }
}

struct StageRun {
  std::vector<int> ids;    // what the stage yielded
  std::string read_ahead;  // the first time the stage had pulled more pages than needed
};

Task<StageRun> run_stage(int pages, int per_page) {
  StageRun r;
  int pulled = 0;
  auto gen = ex07::orders(page_source(pages, per_page, &pulled));
  while (auto o = co_await gen.next()) {
    r.ids.push_back(o->id);
    const int needed = (o->id - 1) / per_page + 1;  // the page holding this order, counted from 1
    if (pulled != needed && r.read_ahead.empty())
      r.read_ahead = fmt::format("when order {} (on page {}) arrived, the stage had pulled {} pages, expected {}",
                                 o->id, needed - 1, pulled, needed);
  }
  co_return r;
}

std::vector<int> expected_ids(int pages, int per_page) {
  std::vector<int> ids;
  for (int id = 1; id <= pages * per_page; ++id)
    if (ex07::make_order(id).cents != 0) ids.push_back(id);
  return ids;
}

// ---- part 4: take over the grader's upstream ----

// The upstream's resource: opened by its body, closed by the destructor of the body's local.
struct Upstream {
  int produced = 0;
  bool opened = false, closed = false;
  std::string cursor() const { return !opened ? "never opened" : closed ? "closed" : "still open"; }
};
struct Cursor {
  explicit Cursor(Upstream* u) : up(u) { up->opened = true; }
  ~Cursor() { up->closed = true; }
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  Upstream* up;
};

// Orders 1..count, one per 10 ms, with a cursor open while the body runs.
AsyncGenerator<Order> numbered(int count, Upstream* up) {
  Cursor cursor(up);
  for (int id = 1; id <= count; ++id) {
    co_await coop::sleep(10ms);
    ++up->produced;
    co_yield ex07::make_order(id);
  }
}

Task<std::vector<std::string>> take_some(std::size_t n, int count) {
  std::vector<std::string> seen;
  Upstream up;
  {
    auto first = ex07::take(numbered(count, &up), n);
    while (auto o = co_await first.next())
      seen.push_back(fmt::format("{} ms: order {}; the upstream had produced {}", ms(), o->id, up.produced));
    seen.push_back(
        fmt::format("{} ms: the end; the upstream had produced {}, its cursor is {}", ms(), up.produced, up.cursor()));
    co_await coop::sleep(1s);  // the consumer does other work, still holding `first`
  }
  co_return seen;
}

std::vector<std::string> expected_take(int items, std::string cursor) {
  std::vector<std::string> want;
  for (int id = 1; id <= items; ++id)
    want.push_back(fmt::format("{} ms: order {}; the upstream had produced {}", 10 * id, id, id));
  want.push_back(
      fmt::format("{} ms: the end; the upstream had produced {}, its cursor is {}", 10 * items, items, cursor));
  return want;
}

}  // namespace

int main(int argc, char** argv) {
  grading::Grader g(7, "async_for", "a streaming pipeline in constant memory");

  g.part("summarize: a consumer in constant memory",
         "summarize(orders) loops `while (auto o = co_await orders.next())` and returns the count, the total and "
         "the id of the largest order (the first on a tie). It uses as many Orders, heap bytes and frames at "
         "once for 50,000 orders as for 1,000.",
         {"Keep running totals, updated once per order; never keep the orders themselves.",
          "Summary s; while (auto o = co_await orders.next()) { ++s.count; s.total_cents += o->cents; ... } — for "
          "the largest, remember the largest amount so far and its id, and replace them only on a strictly larger "
          "amount (so the first one wins a tie).",
          "Summary s; std::int64_t best = -1; while (auto o = co_await orders.next()) { ++s.count; s.total_cents "
          "+= o->cents; if (o->cents > best) { best = o->cents; s.largest_id = o->id; } } co_return s;"},
         [] {
           const auto empty = grading::run(ex07::summarize(listed({})));
           grading::check(empty == ex07::Summary{},
                          "summarize of no orders: got " + show(empty) +
                              ", expected {count 0, total_cents 0, largest_id 0}",
                          grading::Hint{"With no orders the loop's body never runs: the Summary you start with, all "
                                        "zeros, is the answer."});
           const auto ties = grading::run(ex07::summarize(listed({{1, 500}, {2, 700}, {3, 700}, {4, 0}, {5, 100}})));
           grading::check(ties == ex07::Summary{5, 2000, 2},
                          "summarize of amounts 500, 700, 700, 0, 100 (ids 1..5): got " + show(ties) +
                              ", expected {count 5, total_cents 2000, largest_id 2} (the first of the two 700s)",
                          grading::Hint{"Replace the largest only on a strictly larger amount (>, not >=): then the "
                                        "first of two equal amounts keeps its place."});

           auto [small, small_use] = measured(ex07::summarize(order_stream(1'000)));
           auto [big, big_use] = measured(ex07::summarize(order_stream(50'000)));
           grading::check(small == expected_summary(1'000),
                          "summarize of orders 1..1,000: got " + show(small) + ", expected " +
                              show(expected_summary(1'000)),
                          grading::Hint{"One pass over the stream: count every order, add every amount, compare every amount; "
                                        "skip none, and read each order once."});
           grading::check(big == expected_summary(50'000),
                          "summarize of orders 1..50,000: got " + show(big) + ", expected " +
                              show(expected_summary(50'000)),
                          grading::Hint{"One pass over the stream: count every order, add every amount, compare every amount; "
                                        "skip none, and read each order once."});
           grading::check(big_use.orders == small_use.orders && big_use.orders <= 8,
                          fmt::format("the most Orders alive at once: {} for a stream of 1,000 orders, {} for 50,000; "
                                      "expected a few, the same for both: keep totals, not the orders",
                                      small_use.orders, big_use.orders));
           grading::check(big_use.heap_bytes <= small_use.heap_bytes + 256,
                          fmt::format("the heap grew by up to {} bytes for a stream of 1,000 orders but {} for "
                                      "50,000: something is kept per order",
                                      small_use.heap_bytes, big_use.heap_bytes));
           grading::check(big_use.frames == small_use.frames,
                          fmt::format("the most coroutine frames alive at once: {} for 1,000 orders, {} for 50,000",
                                      small_use.frames, big_use.frames),
                          grading::Hint{"Await orders.next() in summarize's own loop: a task or a coroutine started "
                                        "per order, and kept, adds frames that grow with the stream."});
         });

  g.part("pages: a generator that fetches one page per next()",
         "pages(api) fetches page 0, yields it, fetches page 1, ... and stops after the last page. With a consumer "
         "that takes 1 s per page, page k arrives at 50 ms + k x 1,050 ms, when exactly k + 1 pages have been "
         "fetched: no page is fetched before the consumer asks for it, and none past the last.",
         {"A function containing co_yield is a generator; it may also co_await (here api.fetch). Its body runs only "
          "while the consumer awaits next().",
          "Loop over page numbers: co_await api.fetch(number), then co_yield the page. Look at `last` before "
          "yielding (after `co_yield std::move(page)` the page is gone) and stop after the last page. Fetching everything first, or "
          "starting the next fetch before yielding, runs ahead of the consumer.",
          "for (int k = 0;; ++k) { Page p = co_await api.fetch(k); const bool last = p.last; co_yield std::move(p); "
          "if (last) co_return; }"},
         [] {
           {
             ex07::Api api(4, 3);
             grading::check_eq(grading::run(read_pages(api)), expected_pages(4, 3),
                               "what the consumer saw (4 pages of 3 orders, a consumer taking 1 s per page)",
                               grading::Hint{"Read the lines against the expected ones: a page that comes late, or an API that had "
                                             "fetched or started more pages than were handed out, means a fetch before "
                                             "the consumer asked. Fetch one page, yield it, only then fetch the next; "
                                             "stop after the page marked last."});
           }
           {
             ex07::Api api(1, 2);
             grading::check_eq(grading::run(read_pages(api)), expected_pages(1, 2), "what the consumer saw (1 page)",
                               grading::Hint{"Read the lines against the expected ones: a page that comes late, or an API that had "
                                             "fetched or started more pages than were handed out, means a fetch before "
                                             "the consumer asked. Fetch one page, yield it, only then fetch the next; "
                                             "stop after the page marked last."});
           }
         });

  g.part("orders: a stage that flattens pages, one order at a time",
         "orders(pages) yields the orders of every page in order, skipping cancelled ones (cents 0). Each order "
         "arrives when only the pages up to its own have been pulled, and the Orders and frames alive at once are "
         "the same for 200 pages as for 10 (about one page).",
         {"A stage is a generator that is also a consumer: it loops over `in` with co_await in.next() and "
          "co_yields what it passes on.",
          "while (auto page = co_await in.next()) { for (Order& o : page->orders) if (o.cents != 0) co_yield "
          "std::move(o); } — pull the next page only when every order of this one has been handed out.",
          "The loop above is the whole stage. Do not collect the pages or the orders first, and do not pull a page "
          "before you need it: the consumer sets the pace."},
         [] {
           auto [small, small_use] = measured(run_stage(10, 10));
           auto [big, big_use] = measured(run_stage(200, 10));
           grading::check_eq(small.ids, expected_ids(10, 10), "the ids yielded for 10 pages of 10 orders", grading::Hint{"Yield every order of every page, pages in order and orders in page order, skipping only "
                                  "those with cents == 0."});
           grading::check(big.ids == expected_ids(200, 10),
                          fmt::format("the ids yielded for 200 pages of 10 orders are wrong ({} ids, expected {})",
                                      big.ids.size(), expected_ids(200, 10).size()),
                          grading::Hint{"Yield every order of every page, pages in order and orders in page order, skipping only "
                                  "those with cents == 0."});
           const grading::Hint pace{"Pull the next page only once every order of the current one has been handed "
                                    "out: the outer loop's co_await in.next() is the only pull, and nothing comes "
                                    "before it."};
           grading::check(small.read_ahead.empty(), "the stage read ahead: " + small.read_ahead, pace);
           grading::check(big.read_ahead.empty(), "the stage read ahead: " + big.read_ahead, pace);
           grading::check(big_use.orders == small_use.orders && big_use.orders <= 3 * 10 + 5,
                          fmt::format("the most Orders alive at once: {} for 10 pages of 10, {} for 200 pages; "
                                      "expected about one page's worth, the same for both",
                                      small_use.orders, big_use.orders),
                          grading::Hint{"Don't collect: yield each order straight from the page you hold, and hold "
                                        "one page at a time."});
           grading::check(big_use.frames == small_use.frames,
                          fmt::format("the most coroutine frames alive at once: {} for 10 pages, {} for 200",
                                      small_use.frames, big_use.frames),
                          grading::Hint{"The stage's own loop, awaiting in.next(), is all it takes: a coroutine or "
                                        "task of your own per page or per order, kept, grows with the stream."});
           const auto none = grading::run(run_stage(0, 10));
           grading::check(none.ids.empty(), "orders() of a stream with no pages should yield nothing",
                          grading::Hint{"With no pages, the first in.next() gives nullopt: the loop ends and the "
                                        "stage yields nothing."});
         });

  g.part(
      "take: stop early, pull nothing extra, and end the upstream at once",
      "take(in, n) yields the first n items of `in` and ends: it never pulls item n+1, and the upstream "
      "generator is destroyed (its cursor closed) by the time the consumer learns that take has ended, although "
      "the consumer still holds the take generator afterwards.",
      {"Count before you pull: ask `in` for an item only while fewer than n have been taken.",
       "A coroutine's parameters live as long as its frame, and the frame lives until the consumer destroys the "
       "take generator — perhaps long after the end. Locals of the body, though, are destroyed when the body "
       "ends. So move `in` into a local (or reset it with `in = {};`) to end the upstream when take ends.",
       "auto src = std::move(in); for (std::size_t i = 0; i < n; ++i) { auto x = co_await src.next(); if (!x) "
       "co_return; co_yield std::move(*x); }"},
      [] {
        grading::check_eq(grading::run(take_some(3, 100)), expected_take(3, "closed"),
                          "take(3) of 100 orders (one per 10 ms)",
                          grading::Hint{"Two things to look at: whether item n+1 was pulled (count before you pull), "
                                        "and whether the cursor is still open at the end (`in` is a parameter and "
                                        "lives as long as take's frame: move it into a local of the body)."});
        grading::check_eq(grading::run(take_some(5, 2)), expected_take(2, "closed"), "take(5) of a stream of 2 orders",
                          grading::Hint{"When `in` ends first (next() gives nullopt), take ends too: co_return, and "
                                        "don't yield the empty optional."});
        grading::check_eq(grading::run(take_some(0, 100)), expected_take(0, "never opened"), "take(0) of 100 orders",
                          grading::Hint{"With n = 0, never call in.next(): the upstream must not even start."});
        grading::check(Order::live == 0, fmt::format("{} Orders are still alive after the runs", Order::live),
                       grading::Hint{"Pass every item on (co_yield std::move(*x)) and keep none: an Order kept in "
                                     "take's frame outlives the run."});
      });

  return g.main(argc, argv);
}
