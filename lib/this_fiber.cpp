// weft::this_fiber: yield and sleep as cancellation points, and introspection.
#include <weft/this_fiber.hpp>

#include <system_error>
#include <thread>


#include <weft/errors.hpp>

#include <boost/fiber/scheduler.hpp>

#include "fiber_record.hpp"
#include "timers.hpp"
#include "wait.hpp"
#include "worker.hpp"

namespace weft::this_fiber {

using detail::FiberRecord;

namespace {
// record() is the caller's record, or null outside a weft fiber. Reads fiber
// state only on worker threads (see launch()).
FiberRecord* record() noexcept { return detail::current_worker() ? detail::current_record() : nullptr; }
}  // namespace

void yield() {
  FiberRecord* rec = record();
  if (!rec) {
    std::this_thread::yield();
    return;
  }
  detail::check_cancel(rec);
  detail::current_worker()->mark_yielding(rec->ctx);
  // Straight to the scheduler: context::yield() would look the running
  // context up again through Boost's thread-local.
  rec->ctx->get_scheduler()->yield(rec->ctx);
  detail::check_cancel(rec);
}

namespace {
// sleep_impl() is sleep_until(tp); ahead: tp is known to be in the future.
void sleep_impl(std::chrono::steady_clock::time_point tp, bool ahead) {
  FiberRecord* rec = record();
  if (!rec) {
    std::this_thread::sleep_until(tp);
    return;
  }
  detail::check_cancel(rec);
  // Only the deadline (ours, or an earlier deadline scope's) or a cancel
  // wakes us. wait_until() returns at once for a deadline already past, and
  // reads the clock itself: each read is a few percent of a short sleep.
  std::size_t epoch = detail::new_epoch(rec->ctx);
  auto r = detail::wait_until(rec, epoch, tp, ahead);
  if (r == detail::WaitResult::cancelled) throw Cancelled();
  // timed_out means the earlier of tp and the scope's deadline has passed:
  // the sleep is over unless the scope's came first.
  if (r == detail::WaitResult::timed_out && tp <= rec->scope_deadline) return;
  if (std::chrono::steady_clock::now() < tp)
    throw std::system_error(std::make_error_code(std::errc::timed_out), "weft: sleep cut short by a deadline scope");
}
}  // namespace

void sleep_until(std::chrono::steady_clock::time_point tp) { sleep_impl(tp, false); }

bool in_fiber() noexcept { return record() != nullptr; }

std::string_view name() noexcept {
  FiberRecord* rec = record();
  return rec ? std::string_view(rec->task->name()) : std::string_view();
}

int worker_index() noexcept {
  detail::Worker* w = detail::current_worker();
  return w ? static_cast<int>(w->index) : -1;
}

bool cancelled() noexcept {
  FiberRecord* rec = record();
  return rec && rec->cancelled.load(std::memory_order_relaxed);
}

}  // namespace weft::this_fiber

void weft::detail::sleep_ahead(std::chrono::steady_clock::time_point tp) { this_fiber::sleep_impl(tp, true); }
