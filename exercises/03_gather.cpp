// Exercise 03 — gather. Replace each exercise::todo(...) with your code; the hints in the
// TODO comments get you started, `./coop run 3` grades it, `./coop hint 3` helps more.
#include "03_gather.hpp"

#include "exercise.hpp"

namespace ex03 {

coop::Task<std::pair<std::string, std::string>> fetch_both(Source a, Source b) {
  // TODO: start fetch(a...) and fetch(b...) together with coop::gather, and co_await it.
  //       gather of two Tasks yields a std::tuple.
  (void)a, (void)b;
  exercise::todo("fetch_both");
  co_return {};
}

coop::Task<std::vector<std::string>> fetch_all(std::vector<Source> sources) {
  // TODO: build a std::vector<coop::Task<std::string>>, one fetch per source, and gather it.
  (void)sources;
  exercise::todo("fetch_all");
  co_return {};
}

coop::Task<std::vector<std::string>> fetch_all_or(std::vector<Source> sources, std::string fallback) {
  // TODO: gather cancels everyone when one child throws. Give each child its own try/catch,
  //       in a coroutine of your own that awaits fetch and returns `fallback` on error.
  (void)sources, (void)fallback;
  exercise::todo("fetch_all_or");
  co_return {};
}

coop::Task<std::vector<std::string>> fetch_all_limited(std::vector<Source> sources, std::size_t limit) {
  // TODO: start at most `limit` workers; each takes the next source index until none is
  //       left, and stores its result in the right slot.
  (void)sources, (void)limit;
  exercise::todo("fetch_all_limited");
  co_return {};
}

}  // namespace ex03
