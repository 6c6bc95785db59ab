// weft::Barrier: a reusable meeting point for a fixed number of fibers.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <system_error>

#include <weft/deadline.hpp>
#include <weft/sync/detail.hpp>

namespace weft {

// Barrier makes `parties` participants wait for each other. Each phase ends
// when the last participant arrives; it is that phase's leader (its
// arrive_and_wait() returns true, everyone else's false), and the barrier is
// ready for the next phase at once.
//
// A participant whose wait ends before its phase does (deadline,
// cancellation) withdraws its arrival: the phase still needs `parties`
// arrivals. If the phase completed at the same moment, the wait reports
// success instead. Waiting is a cancellation point (weft::Cancelled) and
// honours deadline scopes.
class Barrier {
 public:
  // parties must be at least 1 (std::invalid_argument).
  explicit Barrier(std::size_t parties);
  Barrier(const Barrier&) = delete;
  Barrier& operator=(const Barrier&) = delete;
  // No fiber may be waiting when the Barrier is destroyed.
  ~Barrier() = default;

  // arrive_and_wait() arrives and waits for the phase to complete. Returns
  // true in the leader. Throws Cancelled, or std::system_error(timed_out)
  // when a deadline scope ends.
  bool arrive_and_wait();

  // arrive_and_wait(ec, d) is the no-throw form: ec = timed_out or
  // operation_canceled when it gave up (its arrival withdrawn).
  bool arrive_and_wait(std::error_code& ec, Deadline d = no_deadline) noexcept;

  // arrive_and_drop() leaves the barrier for good: one party fewer from this
  // phase on, which may complete the phase (without a leader). Dropping more
  // parties than there are aborts.
  void arrive_and_drop() noexcept;

  // phase() counts completed phases.
  std::uint64_t phase() const noexcept { return phase_.load(std::memory_order_acquire); }

  // parties() is the number of participants of the current phase.
  std::size_t parties() const noexcept;

 private:
  void complete_locked() noexcept;

  mutable std::atomic<std::uint32_t> lk_{0};  // spin lock word guarding all below
  std::size_t parties_;               // participants per phase
  std::size_t arrived_ = 0;           // arrivals in the current phase
  std::atomic<std::uint64_t> phase_{0};  // completed phases (written under lk_)
  detail::WaitList waiters_;          // arrived and waiting
};

}  // namespace weft
