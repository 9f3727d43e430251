// frame_allocator.cpp — size-class free lists carved from large slabs.
//
// A request of n bytes is rounded up to a multiple of 16 (the alignment operator new
// promises) and served from the free list of that size. An empty list is refilled by
// bumping a pointer through the current 64 KiB slab. Freeing pushes the block back onto
// its list. Both are a few instructions; nothing is ever searched.
#include "coop/frame_allocator.hpp"

#include <cstdint>
#include <mutex>
#include <new>

#if defined(__SANITIZE_ADDRESS__)
#define COOP_POOL_BYPASS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COOP_POOL_BYPASS 1
#endif
#endif
#if defined(COOP_NO_FRAME_POOL)
#undef COOP_POOL_BYPASS
#define COOP_POOL_BYPASS 1
#endif

namespace coop {
namespace {

constexpr std::size_t kGranule = 16;
constexpr std::size_t kLargest = 1024;  // bigger requests go to operator new
constexpr std::size_t kClasses = kLargest / kGranule;
constexpr std::size_t kSlabBytes = 64 * 1024;

struct FreeBlock {
  FreeBlock* next;
};

struct Slab {
  Slab* next;  // this thread's slabs, chained (see Retirer)
};

// Everything the pool knows, per thread. Trivially destructible and zero-initialised.
struct Pool {
  FreeBlock* free[kClasses];
  Slab* slabs;
  Slab* last_slab;       // the end of the chain, to hand it over in one step
  std::byte* bump;       // next unused byte of the current slab
  std::byte* bump_end;   // end of the current slab
  FrameStats stats;
};
constinit thread_local Pool pool{};

// Slabs are never given back to the system while the process runs: a frame made on one
// thread may be destroyed on another, after its maker has ended (a Task created inside a
// to_thread job, say), so its slab must outlive the thread. When a thread ends, its slabs
// move to this process-wide chain, which keeps them reachable (leak checkers see memory
// in use, not lost). The cost: a pool's memory is reused, never returned; labelled.
std::mutex retired_mutex;
Slab* retired = nullptr;

struct Retirer {
  bool armed = false;
  ~Retirer() {
    if (pool.slabs == nullptr) return;
    std::lock_guard<std::mutex> lock(retired_mutex);
    pool.last_slab->next = retired;
    retired = pool.slabs;
    pool.slabs = pool.last_slab = nullptr;
  }
};
thread_local Retirer retirer;

[[maybe_unused]] std::size_t class_of(std::size_t size) { return (size + kGranule - 1) / kGranule - 1; }

[[maybe_unused]] void* carve(std::size_t rounded) {
  if (pool.bump == nullptr || static_cast<std::size_t>(pool.bump_end - pool.bump) < rounded) {
    retirer.armed = true;  // touching the thread_local registers its destructor
    auto* slab = static_cast<Slab*>(::operator new(kSlabBytes));
    slab->next = pool.slabs;
    if (pool.slabs == nullptr) pool.last_slab = slab;
    pool.slabs = slab;
    // The slab header takes one granule; blocks follow, 16-byte aligned.
    pool.bump = reinterpret_cast<std::byte*>(slab) + kGranule;
    pool.bump_end = reinterpret_cast<std::byte*>(slab) + kSlabBytes;
  }
  void* p = pool.bump;
  pool.bump += rounded;
  return p;
}

// The pool itself: a block from the free list of its size class, else a fresh one.
void* take(std::size_t size, bool& recycled) {
  recycled = false;
#if COOP_POOL_BYPASS
  return ::operator new(size);
#else
  if (size == 0 || size > kLargest) return ::operator new(size);
  std::size_t c = class_of(size);
  if (FreeBlock* b = pool.free[c]) {
    pool.free[c] = b->next;
    recycled = true;
    return b;
  }
  return carve((c + 1) * kGranule);
#endif
}

void give_back(void* p, std::size_t size) noexcept {
#if COOP_POOL_BYPASS
  (void)size;
  ::operator delete(p);  // unsized: Clang 14 has no sized deallocation by default
#else
  if (p == nullptr) return;
  if (size == 0 || size > kLargest) {
    ::operator delete(p);
    return;
  }
  std::size_t c = class_of(size);
  auto* b = static_cast<FreeBlock*>(p);
  b->next = pool.free[c];
  pool.free[c] = b;
#endif
}

}  // namespace

FrameStats frame_stats() noexcept { return pool.stats; }

namespace detail {

void* pool_allocate(std::size_t size) {
  bool recycled;
  return take(size, recycled);
}

void pool_deallocate(void* p, std::size_t size) noexcept { give_back(p, size); }

void* allocate_frame(std::size_t size) {
  bool recycled;
  void* p = take(size, recycled);
  FrameStats& s = pool.stats;
  ++s.live_frames;
  ++s.allocations;
  if (recycled) ++s.recycled;
  s.live_bytes += size;
  if (s.live_bytes > s.peak_bytes) s.peak_bytes = s.live_bytes;
  s.last_frame_size = size;
  return p;
}

void count_task(int delta) noexcept { pool.stats.live_tasks += static_cast<std::size_t>(delta); }

void deallocate_frame(void* p, std::size_t size) noexcept {
  FrameStats& s = pool.stats;
  --s.live_frames;
  s.live_bytes -= size;
  give_back(p, size);
}

}  // namespace detail
}  // namespace coop
