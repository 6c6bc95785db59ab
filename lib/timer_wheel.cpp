// See timer_wheel.hpp.
#include "timer_wheel.hpp"

namespace weft::detail {

namespace {
constexpr unsigned kBits = 6;
constexpr std::uint64_t kMaxSpan = std::uint64_t{1} << (kBits * TimerWheel::kLevels);  // 64^6 ticks
}  // namespace

unsigned TimerWheel::level_for(std::uint64_t elapsed, std::uint64_t deadline) noexcept {
  // The highest 6-bit digit in which deadline differs from elapsed picks the
  // level: entries in one level-l slot share every digit above l.
  std::uint64_t masked = (elapsed ^ deadline) | (kSlots - 1);
  if (masked >= kMaxSpan) masked = kMaxSpan - 1;
  unsigned significant = 63u - static_cast<unsigned>(__builtin_clzll(masked));
  return significant / kBits;
}

void TimerWheel::insert(TimerEntry* e, std::uint64_t deadline) noexcept {
  e->deadline = deadline;
  std::uint64_t d = deadline < elapsed_ ? elapsed_ : deadline;
  if (d - elapsed_ >= kMaxSpan) d = elapsed_ + kMaxSpan - 1;  // re-filed when reached
  unsigned level = level_for(elapsed_, d);
  unsigned slot = static_cast<unsigned>((d >> (level * kBits)) & (kSlots - 1));
  e->level = static_cast<std::uint8_t>(level);
  e->slot = static_cast<std::uint8_t>(slot);
  e->prev = nullptr;
  e->next = slots_[level][slot];
  if (e->next) e->next->prev = e;
  slots_[level][slot] = e;
  e->linked = true;
  occupied_[level] |= std::uint64_t{1} << slot;
  ++count_;
}

void TimerWheel::remove(TimerEntry* e) noexcept {
  if (!e->linked) return;
  if (e->prev) {
    e->prev->next = e->next;
  } else {
    slots_[e->level][e->slot] = e->next;
    if (!e->next) occupied_[e->level] &= ~(std::uint64_t{1} << e->slot);
  }
  if (e->next) e->next->prev = e->prev;
  e->prev = e->next = nullptr;
  e->linked = false;
  --count_;
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

TimerEntry* TimerWheel::take_slot(unsigned level, unsigned slot) noexcept {
  TimerEntry* list = slots_[level][slot];
  slots_[level][slot] = nullptr;
  occupied_[level] &= ~(std::uint64_t{1} << slot);
  return list;
}

}  // namespace weft::detail
