// What the weft::sync primitives share out of line: error reporting and the
// wait mask (see sync_internal.hpp).
#include <cstdio>
#include <cstdlib>
#include <system_error>

#include <weft/errors.hpp>
#include <weft/scope.hpp>

#include "../fiber_record.hpp"
#include "../log.hpp"
#include "../runtime_core.hpp"
#include "../worker.hpp"
#include "sync_internal.hpp"

namespace weft::detail {

void throw_wait_error(std::error_code ec, const char* what) {
  if (ec == std::errc::operation_canceled) throw Cancelled();
  throw std::system_error(ec, what);
}

bool spin_may_pay() noexcept {
  Worker* w = current_worker();
  if (!w) return true;
  if (!w->rt->may_steal()) return false;
  return !w->has_ready_fibers();
}

void misuse(const char* what) noexcept {
  logger().critical("{}", what);
  std::fprintf(stderr, "%s\n", what);
  std::abort();
}

WaitMask::WaitMask() noexcept
    : rec_(current_worker() ? current_record() : nullptr), cancelled_(false) {
  // enter_deadline(no_deadline) changes nothing and reports the scope in
  // force; leave_deadline(no_deadline) then lifts it until we restore it.
  scope_ = enter_deadline(no_deadline);
  leave_deadline(no_deadline);
  // Only the fiber itself clears its flag; cancel() from another thread only
  // sets it (and wakes a parked wait, which then reports it: see absorb()).
  if (rec_) cancelled_ = rec_->cancelled.exchange(false, std::memory_order_seq_cst);
}

WaitMask::~WaitMask() {
  if (rec_ && cancelled_) rec_->cancelled.store(true, std::memory_order_seq_cst);
  leave_deadline(scope_);
}

void WaitMask::absorb() noexcept {
  if (rec_) cancelled_ |= rec_->cancelled.exchange(false, std::memory_order_seq_cst);
}

}  // namespace weft::detail
