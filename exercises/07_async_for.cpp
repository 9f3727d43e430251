// Exercise 07 — async for. Replace each exercise::todo(...) with your code; the hints in the
// TODO comments get you started, `./coop run 7` grades it, `./coop hint 7` helps more.
#include "07_async_for.hpp"

#include "exercise.hpp"

namespace ex07 {

// ---- Part 1 --------------------------------------------------------------------------------

coop::Task<Summary> summarize(coop::AsyncGenerator<Order> orders) {
  // TODO: Summary s; then `while (auto o = co_await orders.next()) { ... }`, updating the
  //       running count, total and largest from *o. Keep no orders.
  (void)orders;
  exercise::todo("summarize");
  co_return {};
}

// ---- Part 2 --------------------------------------------------------------------------------

coop::AsyncGenerator<Page> pages(Api& api) {
  // TODO: for page numbers 0, 1, 2, ...: co_await api.fetch(number), co_yield the page, and
  //       stop after the one whose `last` is set. (A function with co_yield in it is a
  //       generator; this stub has one only so that it compiles.)
  (void)api;
  exercise::todo("pages");
  co_yield Page{};
}

// ---- Part 3 --------------------------------------------------------------------------------

coop::AsyncGenerator<Order> orders(coop::AsyncGenerator<Page> in) {
  // TODO: while (auto page = co_await in.next()), co_yield each order of page->orders that
  //       is not cancelled (cents != 0).
  (void)in;
  exercise::todo("orders");
  co_yield make_order(0);
}

// ---- Part 4 --------------------------------------------------------------------------------

coop::AsyncGenerator<Order> take(coop::AsyncGenerator<Order> in, std::size_t n) {
  // TODO: yield the first n items of `in`. Check the count before you pull, so that item
  //       n+1 is never pulled. And mind when `in` is destroyed: a parameter lives as long as
  //       the frame, which the consumer may keep long after the end.
  (void)in, (void)n;
  exercise::todo("take");
  co_yield make_order(0);
}

}  // namespace ex07
