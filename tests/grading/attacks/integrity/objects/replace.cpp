// Definitions that would replace the grader's, the runtime's or the allocator (integrity.py
// --object must flag each from the compiled object). Built as an object only, never linked.
#include <cstddef>
#include <cstdlib>
#include <new>

// expect-symbol: replaces the global operator new
void* operator new(std::size_t n) { return std::malloc(n == 0 ? 1 : n); }
// expect-symbol: replaces the global operator delete
void operator delete(void* p) noexcept { std::free(p); }

#define NS(x) x
namespace NS(grading) {
// expect-symbol: grading::
inline bool passed() { return true; }
bool (*use)() = passed;
}  // namespace grading

namespace coop {
// expect-symbol: coop::run_forged
void run_forged() {}
}  // namespace coop

namespace std {
// expect-symbol: std::forged
int forged = 1;
}  // namespace std
