// What a legitimate answer defines (integrity.py --object must flag none of it): functions
// in the exercise's namespace, helpers at global scope, templates of std and coop
// instantiated, classes with virtual bases (thunks), lambdas, local statics, a coroutine.
#include <coop/coop.hpp>

#include <map>
#include <string>
#include <vector>

namespace ex03 {
struct Base {
  virtual ~Base() = default;
  virtual int f() { return 1; }
};
struct Other {
  virtual ~Other() = default;
  virtual int g() { return 2; }
};
struct Both : Base, Other {
  int f() override { return 3; }
  int g() override { return 4; }
};
int use_both() {
  Both b;
  Other& o = b;
  return o.g();
}
coop::Task<int> answer(int x) {
  co_await coop::sleep(std::chrono::milliseconds(1));
  co_return x;
}
}  // namespace ex03

int global_helper(const std::vector<int>& v) {
  static std::map<std::string, int> seen;
  const auto add = [&](int x) { return x + static_cast<int>(seen.size()); };
  int total = 0;
  for (int x : v) total += add(x);
  return total;
}
