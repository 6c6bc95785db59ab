// The task heap (see task_heap.hpp): per-thread free lists in front of central
// lists that count each span's free blocks, so that empty spans can go back.
#include "task_heap.hpp"

#include <pthread.h>
#include <sys/mman.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <new>
#include <utility>

#include <weft/detail/task.hpp>

namespace weft::detail {

namespace {

// A sanitizer must see each task's allocation and free to report leaks, uses
// after free and uninitialised reads in them; pooled blocks would hide all three.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

constexpr std::size_t kClasses = kTaskHeapMaxBlock / 16;
constexpr std::size_t class_of(std::size_t n) noexcept { return (n - 1) >> 4; }
constexpr std::size_t block_size(std::size_t c) noexcept { return (c + 1) << 4; }

// cache_limit() is the most blocks of class c a thread keeps: 32 KiB of them,
// and at least 32. Past it the thread gives back all but half; an empty list
// takes half from the central one. Either way one trip to the mutex moves a
// batch, not a block.
constexpr std::uint32_t cache_limit(std::size_t c) noexcept {
  const std::size_t n = 32768 / block_size(c);
  return static_cast<std::uint32_t>(n < 32 ? 32 : n);
}

struct Block {
  Block* next;
};

// Span is the header of a kTaskHeapSpan-aligned mapping; its blocks follow.
struct Span {
  Span* prev;
  Span* next;    // in its class's list of spans with free blocks
  Block* free;   // blocks given back
  char* bump;    // the first block never handed out
  std::uint32_t nfree;     // blocks given back plus blocks never handed out
  std::uint32_t capacity;
};

constexpr std::size_t kHeader = (sizeof(Span) + 15) & ~std::size_t{15};

Span* span_of(void* p) noexcept {
  return reinterpret_cast<Span*>(reinterpret_cast<std::uintptr_t>(p) & ~(kTaskHeapSpan - 1));
}

std::atomic<std::size_t> g_spans{0};

// map_span() maps twice a span and unmaps the misaligned ends: three calls for
// 256 KiB, where growing a malloc arena took one per page.
void* map_span() noexcept {
  void* m = mmap(nullptr, 2 * kTaskHeapSpan, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return nullptr;
  const auto lo = reinterpret_cast<std::uintptr_t>(m);
  const auto at = (lo + kTaskHeapSpan - 1) & ~(kTaskHeapSpan - 1);
  if (at > lo) munmap(m, at - lo);
  const auto tail = lo + 2 * kTaskHeapSpan - (at + kTaskHeapSpan);
  if (tail) munmap(reinterpret_cast<void*>(at + kTaskHeapSpan), tail);
  g_spans.fetch_add(1, std::memory_order_relaxed);
  return reinterpret_cast<void*>(at);
}

void unmap_span(Span* s) noexcept {
  munmap(s, kTaskHeapSpan);
  g_spans.fetch_sub(1, std::memory_order_relaxed);
}

// Central holds one class's spans that have free blocks, and one empty span
// kept so that a thread hovering at a span's edge does not map and unmap.
class Central {
 public:
  constexpr Central() noexcept = default;

  // take() links up to want blocks into *out and returns how many (0: no
  // memory could be mapped).
  std::uint32_t take(std::size_t c, std::uint32_t want, Block** out) noexcept {
    Block* head = nullptr;
    std::uint32_t n = 0;
    std::lock_guard<std::mutex> g(lock_);
    while (n < want) {
      Span* s = list_;
      if (!s && !(s = fresh(c))) break;
      while (n < want && s->nfree) {
        Block* b;
        if (s->free) {
          b = s->free;
          s->free = b->next;
        } else {
          b = reinterpret_cast<Block*>(s->bump);
          s->bump += block_size(c);
        }
        --s->nfree;
        b->next = head;
        head = b;
        ++n;
      }
      if (!s->nfree) unlink(s);
    }
    out_ += n;
    *out = head;
    return n;
  }

  // give() takes back a list of blocks and unmaps the spans it empties.
  void give(Block* head) noexcept {
    Span* drop = nullptr;
    {
      std::lock_guard<std::mutex> g(lock_);
      while (head) {
        Block* b = head;
        head = b->next;
        Span* s = span_of(b);
        b->next = s->free;
        s->free = b;
        --out_;
        if (s->nfree++ == 0) link(s);
        if (s->nfree == s->capacity) {
          unlink(s);
          if (!spare_) {
            spare_ = s;
          } else {
            s->next = drop;
            drop = s;
          }
        }
      }
    }
    while (drop) {
      Span* s = drop;
      drop = s->next;
      unmap_span(s);
    }
  }

  std::size_t out() noexcept {
    std::lock_guard<std::mutex> g(lock_);
    return out_;
  }

  std::mutex& lock() noexcept { return lock_; }

 private:
  // fresh() is a span with every block free, linked first in the list.
  Span* fresh(std::size_t c) noexcept {
    Span* s = std::exchange(spare_, nullptr);
    if (!s) s = static_cast<Span*>(map_span());
    if (!s) return nullptr;
    s->free = nullptr;
    s->bump = reinterpret_cast<char*>(s) + kHeader;
    s->capacity = static_cast<std::uint32_t>((kTaskHeapSpan - kHeader) / block_size(c));
    s->nfree = s->capacity;
    link(s);
    return s;
  }

  void link(Span* s) noexcept {
    s->prev = nullptr;
    s->next = list_;
    if (list_) list_->prev = s;
    list_ = s;
  }

  void unlink(Span* s) noexcept {
    if (s->prev) {
      s->prev->next = s->next;
    } else {
      list_ = s->next;
    }
    if (s->next) s->next->prev = s->prev;
  }

  std::mutex lock_;
  Span* list_ = nullptr;
  Span* spare_ = nullptr;
  std::size_t out_ = 0;  // blocks in use or in a thread's list
};

// Constant-initialised and trivially destructible: usable by any static
// constructor or destructor, and by threads ending after main().
constinit Central g_central[kClasses];

// A fork() child has only the forking thread: a mutex another thread held at
// the fork would stay locked there for good.
void lock_all() noexcept {
  for (Central& c : g_central) c.lock().lock();
}
void unlock_all() noexcept {
  for (Central& c : g_central) c.lock().unlock();
}

struct Bin {
  Block* head;
  std::uint32_t count;
};

struct ThreadCache {
  Bin bins[kClasses];
};

void flush(ThreadCache& tc) noexcept {
  for (std::size_t c = 0; c < kClasses; ++c) {
    if (tc.bins[c].head) g_central[c].give(tc.bins[c].head);
    tc.bins[c] = Bin{};
  }
}

enum : unsigned char { kUnregistered, kLive, kEnded };

// Plain thread-locals (no destructor of their own): the cache is flushed by a
// pthread key's destructor, which runs after the thread's C++ thread_local
// destructors, so a task a thread_local object releases still finds its cache.
// Blocks freed after that go straight to the central lists.
thread_local constinit ThreadCache t_cache{};
thread_local constinit unsigned char t_state = kUnregistered;

void thread_ended(void* p) noexcept {
  flush(*static_cast<ThreadCache*>(p));
  t_state = kEnded;
}

// thread_key() is the key whose destructor flushes a thread's cache, made once
// (with the fork handlers); null if the process has no key to spare.
const pthread_key_t* thread_key() noexcept {
  static pthread_key_t key;
  static const bool made = [] {
    if (pthread_key_create(&key, thread_ended) != 0) return false;
    pthread_atfork(lock_all, unlock_all, unlock_all);
    return true;
  }();
  return made ? &key : nullptr;
}

ThreadCache* cache() noexcept {
  if (t_state == kLive) [[likely]]
    return &t_cache;
  if (t_state == kEnded) return nullptr;
  // Without a key the cache would never be flushed: use the central lists.
  const pthread_key_t* key = thread_key();
  if (!key || pthread_setspecific(*key, &t_cache) != 0) {
    t_state = kEnded;
    return nullptr;
  }
  t_state = kLive;
  return &t_cache;
}

// trim() gives back all but the newest half of a list that has passed its limit.
void trim(Bin& bin, std::size_t c) noexcept {
  const std::uint32_t keep = cache_limit(c) / 2;
  Block* last = bin.head;
  for (std::uint32_t i = 1; i < keep; ++i) last = last->next;
  Block* rest = last->next;
  last->next = nullptr;
  bin.count = keep;
  g_central[c].give(rest);
}

}  // namespace

void* task_heap_alloc(std::size_t n) {
  const std::size_t c = class_of(n);
  ThreadCache* tc = cache();
  Block* b;
  if (!tc) [[unlikely]] {
    if (!g_central[c].take(c, 1, &b)) throw std::bad_alloc();
    return b;
  }
  Bin& bin = tc->bins[c];
  if (!bin.head) [[unlikely]] {
    bin.count = g_central[c].take(c, cache_limit(c) / 2, &bin.head);
    if (!bin.count) throw std::bad_alloc();
  }
  b = bin.head;
  bin.head = b->next;
  --bin.count;
  return b;
}

void task_heap_free(void* p, std::size_t n) noexcept {
  const std::size_t c = class_of(n);
  auto* b = static_cast<Block*>(p);
  ThreadCache* tc = cache();
  if (!tc) [[unlikely]] {
    b->next = nullptr;
    g_central[c].give(b);
    return;
  }
  Bin& bin = tc->bins[c];
  b->next = bin.head;
  bin.head = b;
  if (++bin.count > cache_limit(c)) [[unlikely]]
    trim(bin, c);
}

std::size_t task_heap_spans() noexcept { return g_spans.load(std::memory_order_relaxed); }

std::size_t task_heap_blocks_out() noexcept {
  std::size_t n = 0;
  for (Central& c : g_central) n += c.out();
  return n;
}

void task_heap_flush_thread() noexcept {
  if (t_state == kLive) flush(t_cache);
}

bool task_heap_serves_tasks() noexcept { return !kSanitized; }

void* task_alloc(std::size_t n) {
  if (kSanitized || n > kTaskHeapMaxBlock) return ::operator new(n);
  return task_heap_alloc(n);
}

void task_free(void* p, std::size_t n) noexcept {
  if (kSanitized || n > kTaskHeapMaxBlock) {
    ::operator delete(p, n);
  } else {
    task_heap_free(p, n);
  }
}

}  // namespace weft::detail
