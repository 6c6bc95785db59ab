// Stacks come from slabs: one mmap reserves many stacks (MAP_NORESERVE, so only
// touched pages cost memory), which keeps the mapping count far below
// vm.max_map_count even for a million fibers. Guard pages use
// MADV_GUARD_INSTALL where the kernel has it (Linux >= 6.13): a guard region
// that splits no mapping. mprotect() guards split the slab into two mappings
// per stack, so they are used only when StackGuard::always insists.
//
// Recycled stacks keep their touched pages, and are handed out again most
// recently used first. So that a burst of a million fibers does not pin its
// memory forever, trim() (the runtime's monitor calls it every few
// milliseconds) gives back the pages (MADV_DONTNEED) of the free stacks beyond
// the kKeepCommitted most recent ones, once there have been too many for half
// a second, with one call per run of adjacent stacks. Not on release: there
// every call would stop the fiber that ended, and with several workers each
// call interrupts the other cores to flush their TLBs (a 100k-fiber burst
// ending took 200 ms of it, holding the pool lock, and woke sleepers that
// late).
#include "stack_pool.hpp"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <system_error>

#include "log.hpp"
#include "steady_ns.hpp"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

namespace weft::detail {

namespace {
constexpr std::size_t kPage = 4096;
constexpr std::size_t kMinUsable = 16 * 1024;
constexpr std::size_t kMaxUsable = std::size_t{1} << 30;  // 1 GiB: beyond, a thread is the tool
// A size's first slab holds this many bytes of stacks (at least one stack);
// each later one as many as all before, up to kMaxSlabBytes: a burst of
// 100k fibers then maps a dozen slabs, not hundreds. Each mapping of a slab
// next to the last one extends that one's VMA, which waits for every page
// fault in progress there (and they for it).
constexpr std::size_t kSlabBytes = 8 * 1024 * 1024;
constexpr std::size_t kMaxSlabBytes = 64 * 1024 * 1024;
// Stacks moved between a worker cache and the shared list at once.
constexpr std::size_t kBatch = 32;
constexpr std::size_t kCacheMax = 4 * kBatch;
// Free stacks beyond this count are decommitted by trim(), once they have
// been in excess for kTrimDelayNs.
constexpr std::size_t kKeepCommitted = 4096;
constexpr std::int64_t kTrimDelayNs = 500'000'000;

std::size_t round_page(std::size_t n) { return (n + kPage - 1) & ~(kPage - 1); }

// guard_install_works() probes once whether MADV_GUARD_INSTALL is available.
bool guard_install_works() {
  static const bool works = [] {
    void* p = mmap(nullptr, 2 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return false;
    bool ok = madvise(p, kPage, MADV_GUARD_INSTALL) == 0;
    munmap(p, 2 * kPage);
    return ok;
  }();
  return works;
}

// install_guards() places MADV_GUARD_INSTALL guards on the first page of
// each of the count spans of `span` bytes from first, and returns how many
// of the first ones it guarded: all of them, or fewer (none where the kernel
// cannot take the advice through process_madvise(): before Linux 6.13, or
// with no descriptor to spare), and the caller places the rest one call
// each. One call per up to 1,024 guards instead of one each: each call takes
// the process's memory map lock, and a slab of 512 stacks so placed one by
// one kept meeting the writers of that lock (malloc growing a thread's
// arena with mprotect()), its thread sleeping at each. The iovec array is
// on the heap: this may run on a fiber's small stack.
//
// The call names this process with PIDFD_SELF_THREAD_GROUP where the kernel
// knows it (Linux 6.14+), and with a pidfd opened and closed around the
// calls where it does not. A descriptor opened here, on whatever thread grows
// the pool, takes the lowest free number for a moment: a program that has
// just closed a descriptor and expects its number back from its next
// open() or socket() could get another one.
std::size_t install_guards(char* first, std::size_t span, std::size_t count) noexcept {
  constexpr std::size_t kIov = 1024;  // IOV_MAX
  constexpr int kPidfdSelf = -10001;  // PIDFD_SELF_THREAD_GROUP
  static std::atomic<bool> self_refused{false};
  std::unique_ptr<iovec[]> iov(new (std::nothrow) iovec[kIov]);
  if (!iov) return 0;
  int self = kPidfdSelf, opened = -1;
  // A kernel before 6.14 refuses the name (EBADF): a pidfd it is, now and
  // for every later slab.
  auto use_pidfd = [&] {
    self_refused.store(true, std::memory_order_relaxed);
    self = opened = static_cast<int>(syscall(SYS_pidfd_open, getpid(), 0u));
    return self >= 0;
  };
  if (self_refused.load(std::memory_order_relaxed) && !use_pidfd()) return 0;
  std::size_t done = 0;
  while (done < count) {
    const std::size_t n = std::min(kIov, count - done);
    for (std::size_t i = 0; i < n; ++i) {
      iov[i].iov_base = first + (done + i) * span;
      iov[i].iov_len = kPage;
    }
    const long r = syscall(SYS_process_madvise, self, iov.get(), n, MADV_GUARD_INSTALL, 0u);
    if (r < 0 && errno == EBADF && opened < 0) {
      if (!use_pidfd()) return 0;
      continue;
    }
    if (r <= 0) break;
    done += static_cast<std::size_t>(r) / kPage;
    if (static_cast<std::size_t>(r) != n * kPage) break;
  }
  if (opened >= 0) close(opened);
  return done;
}
}  // namespace

StackPool::~StackPool() { reset(); }

void StackPool::configure(std::size_t default_usable, StackGuard guard, Preparer prep, std::string thread_name,
                          const CpuPlan& cpus, std::function<void()> wake_worker) {
  cpus_ = &cpus;
  if (default_usable < kMinUsable || default_usable > kMaxUsable)
    throw std::invalid_argument("weft: stack size " + std::to_string(default_usable) +
                                " is outside 16 KiB .. 1 GiB");
  default_usable_ = round_page(default_usable);
  guard_ = guard;
  if (guard_ == StackGuard::automatic && !guard_install_works()) guard_ = StackGuard::never;
  // With mprotect() guards every stack carved costs two of the process's
  // memory mappings: none is spent on stacks that may never be used.
  prep_ = mprotect_guards() ? Preparer::none : prep;
  if (prep_ == Preparer::workers && !wake_worker) prep_ = Preparer::none;
  prep_name_ = std::move(thread_name);
  wake_worker_ = std::move(wake_worker);
}

bool StackPool::mprotect_guards() const noexcept { return guard_wanted() && !guard_install_works(); }

std::size_t StackPool::slab_count(std::size_t usable, std::size_t carved) const noexcept {
  const std::size_t span = usable + (guard_wanted() ? kPage : 0);
  return std::max<std::size_t>(1, std::clamp(carved, kSlabBytes / span, kMaxSlabBytes / span));
}

StackPool::Slab StackPool::map_slab(std::size_t usable, std::size_t carved, std::vector<Stack>& into) {
  const bool guard = guard_wanted();
  const std::size_t span = usable + (guard ? kPage : 0);
  const std::size_t count = slab_count(usable, carved);
  const std::size_t bytes = count * span;
  void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (base == MAP_FAILED) {
    int e = errno;
    throw std::system_error(e, std::generic_category(),
                            "weft: cannot reserve " + std::to_string(bytes) + " bytes for fiber stacks");
  }
  // Transparent huge pages would commit 2 MiB where a fiber touches 4 KiB.
  madvise(base, bytes, MADV_NOHUGEPAGE);
  mappings_.fetch_add(1, std::memory_order_relaxed);
  const std::size_t before = into.size();
  char* p = static_cast<char*>(base);
  const bool cheap_guard = guard && guard_install_works();
  // Guard pages placed ahead in batches, where the kernel can: the loop
  // below then only carves those stacks.
  const std::size_t batched = cheap_guard ? install_guards(p, span, count) : 0;
  for (std::size_t i = 0; i < count; ++i, p += span) {
    Stack s;
    s.lo = p + (guard ? kPage : 0);
    s.hi = p + span;
    s.guarded = guard;
    if (guard && i >= batched) {
      int rc = cheap_guard ? madvise(p, kPage, MADV_GUARD_INSTALL) : mprotect(p, kPage, PROT_NONE);
      if (rc != 0) {
        int e = errno;
        // Keep what was carved so far; the rest of the slab stays unused.
        if (i == 0) {
          munmap(base, bytes);
          mappings_.fetch_sub(1, std::memory_order_relaxed);
          throw std::system_error(e, std::generic_category(),
                                  "weft: cannot place a stack guard page (mprotect costs two mappings "
                                  "per stack: raise vm.max_map_count or use StackGuard::automatic)");
        }
        logger().warn("stack guard failed after {} stacks: {}", i, std::strerror(e));
        break;
      }
      if (!cheap_guard) mappings_.fetch_add(2, std::memory_order_relaxed);
    }
    into.push_back(s);
  }
  reserved_.fetch_add(into.size() - before, std::memory_order_relaxed);
  return {base, bytes};
}

void StackPool::grow(std::size_t usable, FreeList& fl, std::unique_lock<std::mutex>& lk) {
  // Two workers that ran out at once would each map a slab (up to 496
  // stacks), where one slab serves both: the second waits for the first.
  if (fl.growing) {
    grown_cv_.wait(lk, [&] { return !fl.growing; });
    return;
  }
  // Mapping a slab and placing its guards takes a while: other threads take
  // and return stacks meanwhile.
  const std::size_t carved = fl.carved;
  fl.growing = true;
  lk.unlock();
  struct Grown {  // however this ends, the waiters look again
    StackPool* pool;
    FreeList& fl;
    std::unique_lock<std::mutex>& lk;
    ~Grown() {
      if (!lk.owns_lock()) lk.lock();
      fl.growing = false;
      pool->grown_cv_.notify_all();
    }
  } grown{this, fl, lk};
  std::vector<Stack> fresh;
  const Slab slab = map_slab(usable, carved, fresh);
  lk.lock();
  try {
    slabs_.push_back(slab);
    // Doubling: a burst carves hundreds of slabs, and growing by one slab
    // each time would reallocate (and, past malloc's mmap threshold, map
    // and unmap) both lists every time.
    const std::size_t need = fl.carved + fresh.size();
    if (need > fl.hot.capacity()) fl.hot.reserve(std::max(need, 2 * fl.hot.capacity()));
    if (need > fl.cold.capacity()) fl.cold.reserve(std::max(need, 2 * fl.cold.capacity()));
  } catch (...) {
    if (!slabs_.empty() && slabs_.back() == slab) slabs_.pop_back();
    munmap(slab.first, slab.second);
    mappings_.fetch_sub(1, std::memory_order_relaxed);
    reserved_.fetch_sub(fresh.size(), std::memory_order_relaxed);
    throw;
  }
  fl.carved += fresh.size();
  fl.cold.insert(fl.cold.end(), fresh.begin(), fresh.end());
}

Stack StackPool::acquire(std::size_t usable, StackCache* cache) {
  usable = usable ? round_page(usable) : default_usable_;
  if (usable < kMinUsable || usable > kMaxUsable)
    throw std::invalid_argument("weft: stack size " + std::to_string(usable) + " is outside 16 KiB .. 1 GiB");
  count(cache, 1);
  if (cache && usable == default_usable_ && !cache->stacks.empty()) {
    Stack s = cache->stacks.back();
    cache->stacks.pop_back();
    return s;
  }
  bool kick = false;
  Stack s;
  try {
    std::unique_lock<std::mutex> lk(mu_);
    FreeList& fl = free_[usable];  // a node: stays put while the lock is let go
    while (fl.empty()) grow(usable, fl, lk);
    // Stacks taken past the hot ones mean a burst: the preparer commits the
    // next ones' top pages off this thread (stack_preparer.cpp).
    const std::size_t hot_before = fl.hot.size(), cold_before = fl.cold.size();
    s = fl.take();
    // Refill the worker's cache in one go, to take the lock less often.
    if (cache && usable == default_usable_) {
      while (cache->stacks.size() < kBatch && !fl.empty()) cache->stacks.push_back(fl.take());
      if (hot_before <= cache->stacks.size()) kick = note_demand(fl, cold_before - fl.cold.size());
      grow_ahead(usable, fl, lk);
    }
  } catch (...) {
    count(cache, -1);
    throw;
  }
  if (kick) kick_preparer();
  return s;
}

void StackPool::grow_ahead(std::size_t usable, FreeList& fl, std::unique_lock<std::mutex>& lk) noexcept {
  // In a burst, workers draw on one list. Grown only once empty, the list ran
  // out for all of them at once, and all but the one mapping the next slab
  // (a quarter of a millisecond with its guard pages) slept until it was
  // done: 15 ms of a 110 ms burst of 100,000 spawns on two workers, on the
  // spawning one. Mapped while half a slab is left, the others take those.
  if (fl.growing || fl.carved < kBurst) return;
  // Not with mprotect() guards: each stack carved costs two of the process's
  // mappings, and none is spent ahead of need.
  if (mprotect_guards()) return;
  if (fl.size() >= slab_count(usable, fl.carved) / 2) return;
  try {
    grow(usable, fl, lk);
  } catch (...) {
    // Out of memory or mappings: the acquire() that finds the list empty
    // meets it again and reports it; this one has its stack.
  }
}

void StackPool::count(StackCache* cache, std::int64_t d) noexcept {
  if (cache) {
    cache->count(d);
  } else {
    in_use_.fetch_add(d, std::memory_order_relaxed);
  }
}

void StackPool::release(const Stack& s, StackCache* cache) noexcept {
  count(cache, -1);
  if (cache && s.usable() == default_usable_) {
    cache->stacks.push_back(s);
    if (cache->stacks.size() <= kCacheMax) return;
    // Spill the oldest half to the shared list.
    std::lock_guard<std::mutex> lk(mu_);
    auto& hot = free_[default_usable_].hot;
    hot.insert(hot.end(), cache->stacks.begin(), cache->stacks.begin() + kCacheMax / 2);
    cache->stacks.erase(cache->stacks.begin(), cache->stacks.begin() + kCacheMax / 2);
    if (hot.size() > kKeepCommitted) excess_.store(true, std::memory_order_relaxed);
    return;
  }
  std::lock_guard<std::mutex> lk(mu_);
  auto& hot = free_[s.usable()].hot;
  hot.push_back(s);
  if (hot.size() > kKeepCommitted) excess_.store(true, std::memory_order_relaxed);
}

std::size_t StackPool::trim() noexcept {
  // Only after a burst, and never making a worker wait: the monitor thread
  // may lose its CPU while it holds the lock.
  if (!excess_.load(std::memory_order_relaxed)) {
    excess_since_ = -1;
    return 0;
  }
  // And only once the burst is over: while fibers still come and go, the
  // free stacks are soon taken again (their pages would fault back in), and
  // each decommit interrupts every core running a worker.
  const std::int64_t now = steady_ns();
  if (excess_since_ < 0) excess_since_ = now;
  if (now - excess_since_ < kTrimDelayNs) return 0;
  excess_since_ = -1;
  std::vector<Stack> excess;
  {
    std::unique_lock<std::mutex> lk(mu_, std::try_to_lock);
    if (!lk.owns_lock()) return 0;
    excess_.store(false, std::memory_order_relaxed);
    for (auto& [usable, fl] : free_) {
      if (fl.hot.size() <= kKeepCommitted) continue;
      // The oldest are at the front: least likely to be cached anywhere.
      const auto end = fl.hot.end() - static_cast<std::ptrdiff_t>(kKeepCommitted);
      // The burst is over: stacks the preparer made ready go back too.
      try {
        excess.reserve(excess.size() + static_cast<std::size_t>(end - fl.hot.begin()) + fl.ready.size());
      } catch (...) {
        excess_.store(true, std::memory_order_relaxed);  // no memory for the list: the rest next time
        break;
      }
      excess.insert(excess.end(), fl.hot.begin(), end);
      excess.insert(excess.end(), fl.ready.begin(), fl.ready.end());
      fl.hot.erase(fl.hot.begin(), end);
      fl.ready.clear();
    }
    ready_target_ = 0;
  }
  if (excess.empty()) return 0;
  // Outside the lock: workers take and return stacks meanwhile. These are in
  // no list, so nobody runs on them.
  std::sort(excess.begin(), excess.end(), [](const Stack& a, const Stack& b) { return a.lo < b.lo; });
  std::size_t calls = 0;
  for (std::size_t i = 0; i < excess.size();) {
    std::size_t j = i + 1;
    while (j < excess.size() && excess[j].lo == excess[j - 1].hi) ++j;
    madvise(excess[i].lo, static_cast<std::size_t>(excess[j - 1].hi - excess[i].lo), MADV_DONTNEED);
    ++calls;
    i = j;
  }
  std::lock_guard<std::mutex> lk(mu_);
  for (const Stack& st : excess) {
    // cold has room reserved: see FreeList.
    free_[st.usable()].cold.push_back(st);
  }
  return calls;
}

void StackPool::flush(StackCache& cache) noexcept {
  std::lock_guard<std::mutex> lk(mu_);
  auto& hot = free_[default_usable_].hot;
  hot.insert(hot.end(), cache.stacks.begin(), cache.stacks.end());
  cache.stacks.clear();
  in_use_.fetch_add(cache.taken.exchange(0, std::memory_order_relaxed), std::memory_order_relaxed);
}

void StackPool::reset() noexcept {
  stop_preparer();  // it may hold stacks in no list
  std::lock_guard<std::mutex> lk(mu_);
  if (in_use_.load() != 0) {
    // A stack still in use must stay mapped: a fiber runs on it.
    logger().error("stack pool reset with {} stacks in use; keeping its memory", in_use_.load());
    return;
  }
  for (auto& [p, n] : slabs_) munmap(p, n);
  slabs_.clear();
  free_.clear();
  reserved_.store(0);
  mappings_.store(0);
}

}  // namespace weft::detail
