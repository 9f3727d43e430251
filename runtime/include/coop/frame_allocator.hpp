// frame_allocator.hpp — where coroutine frames come from.
//
// Every call of a coroutine allocates a frame: its parameters, its locals, the awaiter it
// is suspended on, and its promise. A server that spawns a task per request allocates and
// frees frames of a handful of sizes at a furious rate, so coop recycles them: a freed
// frame goes onto a free list for its size and the next frame of that size reuses it,
// instead of a trip through malloc each time. The runtime's task records use the same
// pool.
//
// The pool also counts, so a lesson can show what a suspended coroutine costs (compare a
// frame of ~100 bytes with a thread's stack of megabytes) and a test can check that every
// frame was given back.
//
// Simplifications, labelled: each thread has its own pool (a loop runs on one thread, so
// no locking is needed; a frame freed on another thread joins that thread's pool); memory
// is reused but never returned to the system; frames larger than 1 KiB go straight to
// operator new. The counts are per thread (live_tasks too), so a frame made on one thread
// and destroyed on another shows in neither's live_frames correctly. Under
// AddressSanitizer the pool steps aside entirely, so ASan sees every frame as its own
// allocation and can catch a use after free that recycling would hide.
#pragma once

#include <cstddef>

namespace coop {

// Counters of this thread's coroutine frames, and of its tasks. After run() returns both
// live counts are back where they were before it: a test can assert that nothing leaked.
struct FrameStats {
  std::size_t live_frames = 0;      // allocated and not yet freed
  std::size_t live_tasks = 0;       // task records alive: a task's record outlives its
                                    // frame while a TaskHandle still holds it
  std::size_t live_bytes = 0;       // their total size, as the compiler asked for it
  std::size_t peak_bytes = 0;       // the most live_bytes has been
  std::size_t allocations = 0;      // frames allocated so far
  std::size_t recycled = 0;         // of those, how many reused a freed block
  std::size_t last_frame_size = 0;  // size of the most recent frame, in bytes
};

FrameStats frame_stats() noexcept;

namespace detail {

// The recycling pool, for frames and for the runtime's own small records.
void* pool_allocate(std::size_t size);
void pool_deallocate(void* p, std::size_t size) noexcept;

// The same, counted as coroutine frames in frame_stats().
void* allocate_frame(std::size_t size);
void deallocate_frame(void* p, std::size_t size) noexcept;

// A task record was made / destroyed (counted as live_tasks in frame_stats()).
void count_task(int delta) noexcept;

// Gives a class the pool as its operator new / delete.
struct Pooled {
  static void* operator new(std::size_t size) { return pool_allocate(size); }
  static void operator delete(void* p, std::size_t size) noexcept { pool_deallocate(p, size); }
};

}  // namespace detail
}  // namespace coop
