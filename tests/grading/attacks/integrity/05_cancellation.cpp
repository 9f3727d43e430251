// expect-none: what the integrity scan must not flag. Words in comments and strings, members
// that share a name with a system call, digit separators and raw strings are all fine: fork,
// kill(0, SIGKILL), exit(1), #include <unistd.h>, namespace grading, extern "C", asm.
#include "05_cancellation.hpp"

#include <coop/coop.hpp>
#include <cstdio>
#include <string>
#include <thread>

#include "exercise.hpp"

namespace ex05 {
namespace {
/* a block comment: fork(); kill(0, 9); namespace coop { } */
const char* kMessage = "fork() and exit(0) and namespace grading { } and extern \"C\"";
const char kQuote = '"';
const char* kRaw = R"x(kill(0, 9); "quoted" )x";
constexpr long kBig = 1'000'000;
constexpr unsigned kHex = 0xFF'FF;
const char16_t kWide = u'k';

struct Stream {
  void close() {}
  void write(int) {}
  int signal = 0;
};

void members(Stream& s, Stream* p) {
  s.close();
  p->write(kBig + kHex + kWide + kQuote);
  s.signal = 1;
  (void)kMessage, (void)kRaw;
  std::this_thread::yield();
  std::printf("%s\n", "exit");
}
}  // namespace

// A definition in the exercise's own namespace, with coop types in its signature.
coop::Task<void> not_flagged(coop::TaskHandle<void> h) { co_await h; }
}  // namespace ex05

namespace {
int count_exits(const std::string& exit_code) { return static_cast<int>(exit_code.size()); }
}  // namespace
