// Exercise 07 — async for: a streaming pipeline in constant memory (lesson 07).
//
// You write the functions declared below, after the given Api, in exercises/07_async_for.cpp.
// They are async generators and their consumers: coop::AsyncGenerator<T>
// (runtime/include/coop/generator.hpp) is a coroutine that co_yields T's and may co_await in
// between; C++ has no `async for`, so a consumer loops
//     while (auto x = co_await gen.next()) { ... *x ... }   // async for x in gen: ...
// next() yields std::optional<T>: the next item, or std::nullopt at the end.
//
// The grader (tests/grading/07_async_for.cpp) runs everything under virtual time and watches
// how far each producer has got whenever the consumer receives an item, how many Orders exist
// at once, how many coroutine frames and heap bytes are alive, and when cleanup runs. So an
// answer that loads everything first, reads ahead, or keeps the upstream alive too long gets
// the right items and still fails.
//
// C++ points to keep in mind:
//   * A generator's body runs only while its consumer awaits next(): it is never "ahead"
//     unless you make it so (by collecting, or by starting tasks of your own).
//   * Take generators by value (AsyncGenerator<T> in), as these signatures do: the frame then
//     owns its upstream. A reference parameter to a temporary generator dangles as soon as the
//     call's full expression ends, while the frame lives on.
//   * Write generators as named functions. A lambda that is itself a coroutine keeps its
//     captures in the closure, which may die before the generator does.
#pragma once

#include <coop/coop.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace ex07 {

// One order (given). It counts how many Order objects exist at once, copies included, so the
// grader can tell streaming (a handful at a time) from loading (all of them).
struct Order {
  int id = 0;
  std::int64_t cents = 0;  // its amount; 0 for a cancelled order

  Order(int id_, std::int64_t cents_) noexcept : id(id_), cents(cents_) { born(); }
  Order(const Order& o) noexcept : id(o.id), cents(o.cents) { born(); }
  Order(Order&& o) noexcept : id(o.id), cents(o.cents) { born(); }
  Order& operator=(const Order&) noexcept = default;
  Order& operator=(Order&&) noexcept = default;
  ~Order() { --live; }

  static inline std::size_t live = 0;  // Order objects alive now
  static inline std::size_t peak = 0;  // the most alive at once (the grader resets it)

 private:
  static void born() noexcept {
    if (++live > peak) peak = live;
  }
};

// The order numbered `id` (given): a deterministic amount; every fifth order is cancelled.
inline Order make_order(int id) {
  const auto h = static_cast<std::uint32_t>(id) * 2654435761u;
  return Order(id, id % 5 == 0 ? 0 : 100 + static_cast<std::int64_t>(h % 9'900));
}

// One page of orders from the API.
struct Page {
  int number = 0;             // 0, 1, 2, ...
  std::vector<Order> orders;  // the orders of this page, in id order
  bool last = false;          // no page after this one
};

// A paged web API of orders (given): `pages` pages of `per_page` orders each; page k holds the
// orders with ids k*per_page + 1 ... (k+1)*per_page.
class Api {
 public:
  static constexpr coop::Clock::duration latency = std::chrono::milliseconds(50);

  Api(int pages, int per_page) : pages_(pages), per_page_(per_page) {}

  // GET /orders?page=number: takes `latency`, then returns the page (its `last` is set on the
  // final one). Throws std::out_of_range for a page that does not exist.
  coop::Task<Page> fetch(int number) {
    ++started_;
    co_await coop::sleep(latency);
    ++fetched_;
    if (number < 0 || number >= pages_)
      throw std::out_of_range("GET /orders?page=" + std::to_string(number) + ": there are only " +
                              std::to_string(pages_) + " pages (0 to " + std::to_string(pages_ - 1) + ")");
    Page page{number, {}, number == pages_ - 1};
    page.orders.reserve(static_cast<std::size_t>(per_page_));
    for (int i = 1; i <= per_page_; ++i) page.orders.push_back(make_order(number * per_page_ + i));
    co_return page;
  }

  int started() const noexcept { return started_; }  // fetch calls begun
  int fetched() const noexcept { return fetched_; }  // fetch calls finished

 private:
  int pages_, per_page_;
  int started_ = 0, fetched_ = 0;
};

// ---- Part 1 --------------------------------------------------------------------------------
// Consumes a stream of orders and sums it up, in constant memory: keep running totals, never
// the orders. (A million orders must cost no more memory than ten.)
struct Summary {
  std::size_t count = 0;         // orders seen, cancelled ones included
  std::int64_t total_cents = 0;  // the sum of their amounts
  int largest_id = 0;            // the id of the order with the largest amount (the first one
                                 // on a tie); 0 when there were no orders
  bool operator==(const Summary&) const = default;
};
coop::Task<Summary> summarize(coop::AsyncGenerator<Order> orders);

// ---- Part 2 --------------------------------------------------------------------------------
// An async generator of the API's pages, in order: fetch page 0, yield it, fetch page 1, yield
// it, ... and stop after the page whose `last` is set (never ask for a page past it). Fetch a
// page only when the consumer asks for it: when the consumer has received page k, exactly
// k + 1 pages have been fetched, and none is being fetched. `api` must outlive the generator.
coop::AsyncGenerator<Page> pages(Api& api);

// ---- Part 3 --------------------------------------------------------------------------------
// A stage of the pipeline: yields every order of every page of `in`, in order, one at a time,
// and skips the cancelled ones (cents == 0). Pull the next page only when the current one has
// been handed out: at most one page is held at a time.
coop::AsyncGenerator<Order> orders(coop::AsyncGenerator<Page> in);

// ---- Part 4 --------------------------------------------------------------------------------
// The first `n` items of `in` (fewer if it ends sooner), like Python's islice(in, n) or
// `if taken == n: break` inside `async for`. Pull no item beyond the n-th, and once take is
// done, destroy `in` right away (ending its frame runs its cleanup: a cursor closes, a
// connection goes back) before telling the consumer that take has ended: the consumer may
// keep the take generator alive for a long time after that.
coop::AsyncGenerator<Order> take(coop::AsyncGenerator<Order> in, std::size_t n);

}  // namespace ex07
