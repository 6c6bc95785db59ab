#include "fd_table.hpp"

#include <sys/mman.h>

namespace weft::hook {

namespace {
constexpr int kChunkBits = 14;  // 16384 records, 1 MiB of address space
constexpr int kTopBits = 16;    // 2^30 descriptors: above the kernel's nr_open cap
constexpr std::uint32_t kChunkSize = 1u << kChunkBits;

std::atomic<FdRec*> top[1u << kTopBits];  // zero pages until touched

FdRec* chunk(int fd, bool create) noexcept {
  if (fd < 0 || static_cast<unsigned>(fd) >= (1u << (kChunkBits + kTopBits))) return nullptr;
  std::atomic<FdRec*>& slot = top[static_cast<unsigned>(fd) >> kChunkBits];
  FdRec* c = slot.load(std::memory_order_acquire);
  if (c || !create) return c;
  // mmap, not new: zeroed, lazily backed, and no allocator reentrancy from
  // inside a hooked call.
  void* p = mmap(nullptr, sizeof(FdRec) * kChunkSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  FdRec* fresh = static_cast<FdRec*>(p);
  if (!slot.compare_exchange_strong(c, fresh, std::memory_order_acq_rel)) {
    munmap(p, sizeof(FdRec) * kChunkSize);
    return c;
  }
  return fresh;
}
}  // namespace

FdRec* find(int fd) noexcept {
  FdRec* c = chunk(fd, false);
  return c ? &c[static_cast<unsigned>(fd) & (kChunkSize - 1)] : nullptr;
}

FdRec* get(int fd) noexcept {
  FdRec* c = chunk(fd, true);
  return c ? &c[static_cast<unsigned>(fd) & (kChunkSize - 1)] : nullptr;
}

weft_hook_reg reset(int fd) noexcept {
  FdRec* r = find(fd);
  if (!r) return weft_hook_reg{};
  r->acquire();
  weft_hook_reg reg = r->clear();
  r->release();
  return reg;
}

void set_known(int fd, std::uint32_t state, std::int64_t rcv_ns, std::int64_t snd_ns) noexcept {
  FdRec* r = get(fd);
  if (!r) return;
  r->acquire();
  r->reg = weft_hook_reg{};
  r->rcv_ns.store(rcv_ns, std::memory_order_relaxed);
  r->snd_ns.store(snd_ns, std::memory_order_relaxed);
  r->state.store(state | kKnown, std::memory_order_release);
  r->release();
}

}  // namespace weft::hook
