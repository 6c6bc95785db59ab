// TimerWheel: a hierarchical timing wheel (6 levels x 64 slots, 1 ms ticks, as
// Tokio's): O(1) insert and cancel, deadlines rounded up to the next tick, and
// the next expiry in a few bit scans. Time is passed in (milliseconds since an
// epoch the owner picks), so tests drive it without sleeping.
//
// Level l holds entries due within 64^(l+1) ms of `elapsed_`; slot = the
// level's 6-bit digit of the deadline. When the wheel advances into a slot of
// a higher level, that slot's entries are re-inserted lower ("cascade"), so an
// entry moves at most 5 times. Deadlines beyond 64^6 ms (~2.2 years) go to the
// last level's last slot and are re-filed when reached.
#pragma once

#include <cstdint>

namespace weft::detail {

struct TimerEntry {
  std::uint64_t deadline = 0;  // in ticks (ms)
  TimerEntry* prev = nullptr;
  TimerEntry* next = nullptr;
  std::uint8_t level = 0;
  std::uint8_t slot = 0;
  bool linked = false;
};

class TimerWheel {
 public:
  static constexpr unsigned kLevels = 6;
  static constexpr unsigned kSlots = 64;
  static constexpr std::uint64_t kNever = ~std::uint64_t{0};

  // elapsed() is the tick the wheel has processed up to.
  std::uint64_t elapsed() const noexcept { return elapsed_; }

  // insert() files e for deadline (ticks). A deadline at or before elapsed()
  // fires at the next advance().
  void insert(TimerEntry* e, std::uint64_t deadline) noexcept;

  // remove() unlinks e if it is filed.
  void remove(TimerEntry* e) noexcept;

  // next_expiry() is the earliest tick at which advance() will fire something
  // (possibly a cascade that fires nothing), or kNever when empty.
  std::uint64_t next_expiry() const noexcept;

  // advance() moves time to `now`, calling fire(e) for every entry due at or
  // before now (each unlinked first; fire may insert entries, and remove
  // entries of other slots). ahead(e) is called for each entry about to fire
  // a few entries before fire(e): a chance to prefetch what fire(e) will
  // touch, so that a slot's misses overlap. Entries that only cascade to a
  // lower level are not shown to it.
  template <class Fire, class Ahead>
  void advance(std::uint64_t now, Fire&& fire, Ahead&& ahead) noexcept {
    while (true) {
      std::uint64_t t = next_expiry();
      if (t == kNever || t > now) break;
      process_one(t, fire, ahead);
    }
    if (now > elapsed_) elapsed_ = now;
  }
  template <class Fire>
  void advance(std::uint64_t now, Fire&& fire) noexcept {
    advance(now, fire, [](TimerEntry*) noexcept {});
  }

  bool empty() const noexcept { return count_ == 0; }
  std::uint64_t size() const noexcept { return count_; }

 private:
  // kLookAhead is how far ahead of the entry being processed ahead() runs:
  // enough for the misses of several entries to be in flight at once.
  static constexpr unsigned kLookAhead = 8;

  template <class Fire, class Ahead>
  void process_one(std::uint64_t t, Fire& fire, Ahead& ahead) noexcept {
    unsigned level = 0;
    unsigned slot = 0;
    find_next(t, level, slot);
    if (t > elapsed_) elapsed_ = t;
    TimerEntry* list = take_slot(level, slot);
    // The taken list is this pass's alone (fire() touches no entry of it),
    // so the look-ahead cursor may walk it ahead of the loop. elapsed_ stays
    // put during the pass, so "due" below is what the loop will find.
    TimerEntry* cursor = list;
    auto look = [&] {
      if (cursor->deadline <= elapsed_) ahead(cursor);
      cursor = cursor->next;
    };
    for (unsigned i = 0; i < kLookAhead && cursor; ++i) look();
    while (list) {
      TimerEntry* e = list;
      list = e->next;
      if (cursor) look();
      e->prev = e->next = nullptr;
      e->linked = false;
      --count_;
      if (e->deadline <= elapsed_) {
        fire(e);
      } else {
        insert(e, e->deadline);  // cascade to a lower level
      }
    }
  }

  static unsigned level_for(std::uint64_t elapsed, std::uint64_t deadline) noexcept;
  void find_next(std::uint64_t& t, unsigned& level, unsigned& slot) const noexcept;
  TimerEntry* take_slot(unsigned level, unsigned slot) noexcept;
  std::uint64_t slot_expiry(unsigned level, unsigned slot) const noexcept;

  std::uint64_t elapsed_ = 0;
  std::uint64_t count_ = 0;
  std::uint64_t occupied_[kLevels] = {};
  TimerEntry* slots_[kLevels][kSlots] = {};
};

}  // namespace weft::detail
