// The task heap: where spawned fibers' Task objects live (task_alloc() and
// task_free() in <weft/detail/task.hpp>), and what tests may ask of it.
//
// Why not malloc: a burst of spawns on a worker makes one small allocation per
// fiber, and glibc grows a worker thread's arena one page at a time, each step
// an mprotect() that takes the memory map lock for writing; behind the stack
// preparer's guard installs and page faults, a worker slept about 15 ms of a
// 100 ms burst of 100,000 spawns there. This heap maps 256 KiB spans instead.
//
// Shape: blocks of 16-byte size classes up to 256 bytes, in spans aligned to
// their size (a block's span is its address rounded down). Each thread keeps a
// bounded free list per class; past its bound it gives half back to a central
// list per class, under a mutex. A block freed on another thread than the one
// that took it goes to the freeing thread's list, so memory moves with the
// work. A span whose blocks have all come back is unmapped, but for one empty
// span kept per class: after a burst the memory goes back to the system.
// A thread's cached blocks go back to the central lists when the thread ends.
#pragma once

#include <cstddef>

namespace weft::detail {

inline constexpr std::size_t kTaskHeapMaxBlock = 256;
inline constexpr std::size_t kTaskHeapSpan = 256 * 1024;

// task_heap_alloc()/task_heap_free() are the heap itself, whatever builds use
// it for tasks (a sanitized build gives tasks to the global allocator, so that
// the sanitizer sees their lifetimes). n must be 1..kTaskHeapMaxBlock; free
// takes the size alloc was asked for. alloc throws std::bad_alloc.
void* task_heap_alloc(std::size_t n);
void task_heap_free(void* p, std::size_t n) noexcept;

// task_heap_spans() is how many spans are mapped now, in every class.
std::size_t task_heap_spans() noexcept;

// task_heap_blocks_out() is how many blocks the central lists have handed
// out: in use, or cached by a thread.
std::size_t task_heap_blocks_out() noexcept;

// task_heap_flush_thread() gives the calling thread's cached blocks back to
// the central lists, as its end would.
void task_heap_flush_thread() noexcept;

// task_heap_serves_tasks() is false in a sanitized build (see above).
bool task_heap_serves_tasks() noexcept;

}  // namespace weft::detail
