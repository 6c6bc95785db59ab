// TimerWheel: a hierarchical timing wheel (6 levels x 64 slots, 1 ms ticks, as
// Tokio's): O(1) insert and cancel, deadlines rounded up to the next tick, and
// the next expiry in a few bit scans. Time is passed in (milliseconds since an
// epoch the owner picks), so tests drive it without sleeping.
//
// Level l holds entries due within 64^(l+1) ms of `elapsed_`; slot = the
// level's 6-bit digit of the deadline. When the wheel advances into a slot of
// a higher level, that slot's entries are re-filed lower ("cascade"), so an
// entry moves at most 5 times. Deadlines beyond 64^6 ms (~2.2 years) go to the
// last level's last slot and are re-filed when reached.
//
// A slot is a chain of blocks of (deadline, entry) pairs, not a list threaded
// through the entries: a busy slot holds a thousand sleepers whose entries are
// cold, and walking a list through them is one cache miss after another, each
// waiting for the last (10% of a worker's time in a burst of 100,000 sleeps).
// In blocks the addresses are known ahead, so the misses overlap, and a
// cascade reads deadlines from the block. An entry records its block and
// place there, so cancel is O(1): the slot's last pair fills the hole.
//
// Blocks come from a pool that insert() keeps large enough for any state the
// entries filed can reach (blocks_needed()), so that advance(), which re-files
// entries, never allocates and cannot fail.
#pragma once

#include <cstdint>

namespace weft::detail {

struct TimerBlock;

struct TimerEntry {
  TimerBlock* block = nullptr;  // where it is filed; null when it is not
  std::uint32_t index = 0;      // its place in block
  std::uint8_t level = 0;
  std::uint8_t slot = 0;
  bool filed() const noexcept { return block != nullptr; }
};

struct TimerBlock {
  // 15 pairs and the header make 256 bytes: the task heap's largest class.
  static constexpr std::uint32_t kCap = 15;
  struct Pair {
    std::uint64_t deadline;  // in ticks (ms)
    TimerEntry* entry;
  };
  TimerBlock* next;  // the slot's older blocks, all full; or the next free one
  std::uint32_t count;
  Pair pairs[kCap];
};

class TimerWheel {
 public:
  static constexpr unsigned kLevels = 6;
  static constexpr unsigned kSlots = 64;
  static constexpr std::uint64_t kNever = ~std::uint64_t{0};

  TimerWheel() = default;
  ~TimerWheel();
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  // elapsed() is the tick the wheel has processed up to.
  std::uint64_t elapsed() const noexcept { return elapsed_; }

  // insert() files e, not filed, for deadline (ticks). A deadline at or
  // before elapsed() fires at the next advance(). Throws std::bad_alloc when
  // the pool cannot grow (e is then not filed).
  void insert(TimerEntry* e, std::uint64_t deadline);

  // remove() unfiles e if it is filed.
  void remove(TimerEntry* e) noexcept;

  // next_expiry() is the earliest tick at which advance() will fire something
  // (possibly a cascade that fires nothing), or kNever when empty.
  std::uint64_t next_expiry() const noexcept;

  // advance() moves time to `now`, calling fire(e) for every entry due at or
  // before now (each unfiled first; fire may insert entries, and remove
  // entries of other slots). ahead(e) is called for each entry about to fire
  // a few entries before fire(e): a chance to prefetch what fire(e) will
  // touch, so that a slot's misses overlap. Entries that only cascade to a
  // lower level are not shown to it.
  template <class Fire, class Ahead>
  void advance(std::uint64_t now, Fire&& fire, Ahead&& ahead) noexcept {
    while (true) {
      std::uint64_t t;
      unsigned level = 0;
      unsigned slot = 0;
      find_next(t, level, slot);
      if (t == kNever || t > now) break;
      process_one(t, level, slot, fire, ahead);
    }
    if (now > elapsed_) elapsed_ = now;
    trim_pool();
  }
  template <class Fire>
  void advance(std::uint64_t now, Fire&& fire) noexcept {
    advance(now, fire, [](TimerEntry*) noexcept {});
  }

  bool empty() const noexcept { return count_ == 0; }
  std::uint64_t size() const noexcept { return count_; }
  // pool_blocks() counts the blocks held, filed or free (for tests).
  std::uint64_t pool_blocks() const noexcept { return blocks_; }

 private:
  // kLookAhead is how far ahead of the pair being processed ahead() runs, and
  // twice that the entry itself is fetched: enough for the misses of several
  // entries to be in flight at once.
  static constexpr unsigned kLookAhead = 8;

  // Cursor walks a taken chain ahead of the loop that processes it.
  struct Cursor {
    TimerBlock* b;
    std::uint32_t i;
    void step() noexcept {
      if (++i == b->count) {
        b = b->next;
        i = 0;
      }
    }
  };

  // process_one() fires or cascades the entries of one slot, due at tick t
  // (find_next()).
  template <class Fire, class Ahead>
  void process_one(std::uint64_t t, unsigned level, unsigned slot, Fire& fire, Ahead& ahead) noexcept {
    if (t > elapsed_) elapsed_ = t;
    TimerBlock* chain = take_slot(level, slot);
    // The taken chain is this pass's alone (fire() touches no entry of it),
    // so cursors may walk it ahead of the loop. elapsed_ stays put during the
    // pass, so "due" below is what the loop will find.
    Cursor fetch{chain, 0};
    Cursor look{chain, 0};
    auto fetch_one = [&] {
      __builtin_prefetch(fetch.b->pairs[fetch.i].entry, 1);
      fetch.step();
    };
    auto look_one = [&] {
      const TimerBlock::Pair& p = look.b->pairs[look.i];
      if (p.deadline <= elapsed_) ahead(p.entry);
      look.step();
    };
    for (unsigned i = 0; i < 2 * kLookAhead && fetch.b; ++i) fetch_one();
    for (unsigned i = 0; i < kLookAhead && look.b; ++i) look_one();
    while (chain) {
      TimerBlock* b = chain;
      if (b->next) __builtin_prefetch(b->next);
      for (std::uint32_t i = 0; i < b->count; ++i) {
        if (fetch.b) fetch_one();
        if (look.b) look_one();
        const TimerBlock::Pair p = b->pairs[i];
        p.entry->block = nullptr;
        --count_;
        if (p.deadline <= elapsed_) {
          fire(p.entry);
        } else {
          file(p.entry, p.deadline);  // cascade to a lower level
        }
      }
      chain = b->next;
      free_block(b);
    }
  }

  static unsigned level_for(std::uint64_t elapsed, std::uint64_t deadline) noexcept;
  // file() puts e in its slot; the pool has a block for it (blocks_needed()).
  void file(TimerEntry* e, std::uint64_t deadline) noexcept;
  void find_next(std::uint64_t& t, unsigned& level, unsigned& slot) const noexcept;
  TimerBlock* take_slot(unsigned level, unsigned slot) noexcept;
  std::uint64_t slot_expiry(unsigned level, unsigned slot) const noexcept;
  static std::uint64_t blocks_needed(std::uint64_t entries) noexcept;
  void free_block(TimerBlock* b) noexcept;
  void trim_pool() noexcept;

  std::uint64_t elapsed_ = 0;
  std::uint64_t count_ = 0;
  std::uint64_t occupied_[kLevels] = {};
  TimerBlock* slots_[kLevels][kSlots] = {};  // each slot's newest block, the only one not full
  TimerBlock* free_ = nullptr;
  std::uint64_t blocks_ = 0;  // filed and free
};

}  // namespace weft::detail
