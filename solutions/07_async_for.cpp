// Exercise 07 — async for: the reference solution.
#include "07_async_for.hpp"

#include <utility>

namespace ex07 {

// ---- Part 1 --------------------------------------------------------------------------------

coop::Task<Summary> summarize(coop::AsyncGenerator<Order> orders) {
  // async for o in orders: each next() runs the generator up to its next co_yield, so one
  // order exists at a time (in the optional `o`), and it is gone at the end of the iteration.
  // The summary is three numbers, whatever the length of the stream: constant memory.
  Summary s;
  std::int64_t largest = -1;
  while (auto o = co_await orders.next()) {
    ++s.count;
    s.total_cents += o->cents;
    if (o->cents > largest) {  // strictly greater: the first one wins a tie
      largest = o->cents;
      s.largest_id = o->id;
    }
  }
  co_return s;
}

// ---- Part 2 --------------------------------------------------------------------------------

coop::AsyncGenerator<Page> pages(Api& api) {
  // The body runs only while the consumer awaits next(): the fetch of page k+1 starts when
  // the consumer asks for it, not before. While a fetch waits, the consumer's task is parked
  // and the loop runs other tasks. `last` ends the loop: never ask for a page past it.
  for (int number = 0;; ++number) {
    Page page = co_await api.fetch(number);
    const bool last = page.last;
    co_yield std::move(page);  // hand it over; resumed here at the next next()
    if (last) co_return;
  }
}

// ---- Part 3 --------------------------------------------------------------------------------

coop::AsyncGenerator<Order> orders(coop::AsyncGenerator<Page> in) {
  // `in` is a by-value parameter: this frame owns the upstream generator. Each pull of a page
  // runs `in` up to its next co_yield; its orders are then handed out one by one, and the
  // next page is pulled only when the consumer asks past the last of them.
  while (auto page = co_await in.next()) {
    for (Order& o : page->orders) {
      if (o.cents == 0) continue;  // cancelled
      co_yield std::move(o);
    }
  }  // `page` (the one page held) is destroyed here, before the next one is pulled
}

// ---- Part 4 --------------------------------------------------------------------------------

coop::AsyncGenerator<Order> take(coop::AsyncGenerator<Order> in, std::size_t n) {
  // A coroutine's parameters live as long as its frame, and this frame lives until the
  // consumer destroys the take generator, which may be long after the n-th item. So move the
  // upstream into a local: locals are destroyed when the body ends, right after the n-th item
  // has been handed out and before next() tells the consumer that take has ended. Destroying
  // the upstream generator destroys its suspended frame, and with it its locals (its
  // cleanup). The count is checked before pulling: never pull item n+1.
  coop::AsyncGenerator<Order> source = std::move(in);
  for (std::size_t taken = 0; taken < n; ++taken) {
    auto item = co_await source.next();
    if (!item) co_return;  // the upstream ended first
    co_yield std::move(*item);
  }
}

}  // namespace ex07
