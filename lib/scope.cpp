// Deadline scopes live in the fiber's record (they move with the fiber between
// workers); on a plain thread, in a thread_local.
#include <weft/scope.hpp>

#include <algorithm>

#include "fiber_record.hpp"
#include "worker.hpp"

namespace weft {

namespace {
thread_local Deadline tls_thread_deadline = no_deadline;

detail::FiberRecord* record() noexcept { return detail::current_worker() ? detail::current_record() : nullptr; }
}  // namespace

Deadline current_deadline() noexcept {
  if (auto* rec = record()) return rec->scope_deadline;
  return tls_thread_deadline;
}

namespace detail {

Deadline enter_deadline(Deadline tp) noexcept {
  if (auto* rec = record()) return std::exchange(rec->scope_deadline, std::min(rec->scope_deadline, tp));
  return std::exchange(tls_thread_deadline, std::min(tls_thread_deadline, tp));
}

void leave_deadline(Deadline previous) noexcept {
  if (auto* rec = record()) {
    rec->scope_deadline = previous;
  } else {
    tls_thread_deadline = previous;
  }
}

}  // namespace detail
}  // namespace weft
