// See timer_wheel.hpp.
#include "timer_wheel.hpp"

#include <algorithm>
#include <utility>

#include <weft/detail/task.hpp>

namespace weft::detail {

namespace {
constexpr unsigned kBits = 6;
constexpr std::uint64_t kMaxSpan = std::uint64_t{1} << (kBits * TimerWheel::kLevels);  // 64^6 ticks
static_assert(sizeof(TimerBlock) == 256);
}  // namespace

TimerWheel::~TimerWheel() {
  for (auto& level : slots_) {
    for (TimerBlock*& head : level) {
      while (head) free_block(std::exchange(head, head->next));
    }
  }
  while (free_) {
    TimerBlock* b = std::exchange(free_, free_->next);
    task_free(b, sizeof(TimerBlock));
  }
}

std::uint64_t TimerWheel::blocks_needed(std::uint64_t entries) noexcept {
  // Every slot's blocks but its newest are full, so the filed entries use at
  // most entries/kCap blocks plus one partial block per slot in use; a pass
  // of advance() holds one more partial block, the one it is emptying, and
  // integer division loses less than one. Whatever advance() re-files then
  // finds a free block.
  constexpr std::uint64_t kSlotsAll = std::uint64_t{kLevels} * kSlots;
  return entries / TimerBlock::kCap + std::min(entries, kSlotsAll) + 2;
}

void TimerWheel::insert(TimerEntry* e, std::uint64_t deadline) {
  const std::uint64_t need = blocks_needed(count_ + 1);
  while (blocks_ < need) {
    // From task_alloc() for the reason tasks are (task_heap.hpp): a burst of
    // sleeps on a worker would otherwise grow its malloc arena a page, and an
    // mprotect() behind the memory map lock, at a time.
    auto* b = static_cast<TimerBlock*>(task_alloc(sizeof(TimerBlock)));
    b->next = free_;
    free_ = b;
    ++blocks_;
  }
  file(e, deadline);
}

void TimerWheel::file(TimerEntry* e, std::uint64_t deadline) noexcept {
  std::uint64_t d = deadline < elapsed_ ? elapsed_ : deadline;
  if (d - elapsed_ >= kMaxSpan) d = elapsed_ + kMaxSpan - 1;  // re-filed when reached
  const unsigned level = level_for(elapsed_, d);
  const unsigned slot = static_cast<unsigned>((d >> (level * kBits)) & (kSlots - 1));
  TimerBlock*& head = slots_[level][slot];
  if (!head || head->count == TimerBlock::kCap) {
    TimerBlock* b = free_;  // there is one: blocks_needed()
    free_ = b->next;
    b->next = head;
    b->count = 0;
    head = b;
    occupied_[level] |= std::uint64_t{1} << slot;
  }
  const std::uint32_t i = head->count++;
  head->pairs[i] = TimerBlock::Pair{deadline, e};
  e->block = head;
  e->index = i;
  e->level = static_cast<std::uint8_t>(level);
  e->slot = static_cast<std::uint8_t>(slot);
  ++count_;
}

void TimerWheel::remove(TimerEntry* e) noexcept {
  if (!e->filed()) return;
  TimerBlock*& head = slots_[e->level][e->slot];
  // The slot's last pair fills e's place (it may be e's own).
  const TimerBlock::Pair last = head->pairs[--head->count];
  if (last.entry != e) {
    e->block->pairs[e->index] = last;
    last.entry->block = e->block;
    last.entry->index = e->index;
  }
  if (head->count == 0) {
    TimerBlock* empty = head;
    head = empty->next;
    free_block(empty);
    if (!head) occupied_[e->level] &= ~(std::uint64_t{1} << e->slot);
  }
  e->block = nullptr;
  --count_;
}

void TimerWheel::free_block(TimerBlock* b) noexcept {
  b->next = free_;
  free_ = b;
}

void TimerWheel::trim_pool() noexcept {
  // After a burst, give back what a quarter more than the entries left need.
  const std::uint64_t need = blocks_needed(count_);
  if (blocks_ <= 2 * need + 16) return;
  const std::uint64_t keep = need + need / 4;
  while (blocks_ > keep && free_) {
    TimerBlock* b = std::exchange(free_, free_->next);
    task_free(b, sizeof(TimerBlock));
    --blocks_;
  }
}

unsigned TimerWheel::level_for(std::uint64_t elapsed, std::uint64_t deadline) noexcept {
  // The highest 6-bit digit in which deadline differs from elapsed picks the
  // level: entries in one level-l slot share every digit above l.
  std::uint64_t masked = (elapsed ^ deadline) | (kSlots - 1);
  if (masked >= kMaxSpan) masked = kMaxSpan - 1;
  unsigned significant = 63u - static_cast<unsigned>(__builtin_clzll(masked));
  return significant / kBits;
}

std::uint64_t TimerWheel::slot_expiry(unsigned level, unsigned slot) const noexcept {
  // The tick at which the wheel reaches this slot: the level's digit set to
  // `slot`, lower digits zero, higher digits those of elapsed_ (bumped by one
  // "rotation" if the slot is behind the current digit).
  const unsigned shift = level * kBits;
  const std::uint64_t level_span = std::uint64_t{1} << (shift + kBits);
  std::uint64_t base = elapsed_ & ~(level_span - 1);
  std::uint64_t t = base + (static_cast<std::uint64_t>(slot) << shift);
  if (t + (std::uint64_t{1} << shift) <= elapsed_) t += level_span;
  return t < elapsed_ ? elapsed_ : t;
}

void TimerWheel::find_next(std::uint64_t& t, unsigned& level, unsigned& slot) const noexcept {
  t = kNever;
  for (unsigned l = 0; l < kLevels; ++l) {
    std::uint64_t occ = occupied_[l];
    if (!occ) continue;
    // Slots at or after the current digit come first, then the wrapped ones.
    unsigned cur = static_cast<unsigned>((elapsed_ >> (l * kBits)) & (kSlots - 1));
    std::uint64_t ahead = occ & (~std::uint64_t{0} << cur);
    unsigned s = static_cast<unsigned>(__builtin_ctzll(ahead ? ahead : occ));
    std::uint64_t when = slot_expiry(l, s);
    if (when < t) {
      t = when;
      level = l;
      slot = s;
    }
  }
}

std::uint64_t TimerWheel::next_expiry() const noexcept {
  std::uint64_t t;
  unsigned level, slot;
  find_next(t, level, slot);
  return t;
}

TimerBlock* TimerWheel::take_slot(unsigned level, unsigned slot) noexcept {
  TimerBlock* chain = slots_[level][slot];
  slots_[level][slot] = nullptr;
  occupied_[level] &= ~(std::uint64_t{1} << slot);
  return chain;
}

}  // namespace weft::detail
