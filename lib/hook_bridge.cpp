// The table of fiber operations that libweft_hook calls (see lib/hook/bridge.h).
#include "hook_bridge.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <mutex>
#include <vector>

#include <weft/errors.hpp>
#include <weft/unblock.hpp>

#include "fiber_record.hpp"
#include "hook/bridge.h"
#include "reactor.hpp"
#include "runtime_core.hpp"
#include "wait.hpp"
#include "worker.hpp"

namespace weft::detail {

namespace {
using Clock = std::chrono::steady_clock;

std::mutex registry_mu;
std::vector<RuntimeCore*> registry;  // live runtimes (guarded by registry_mu)

Clock::time_point to_time(int64_t ns) noexcept {
  return ns == WEFT_HOOK_NO_DEADLINE ? Clock::time_point::max() : Clock::time_point(std::chrono::nanoseconds(ns));
}

FiberRecord* rec_of(void* fiber) noexcept { return static_cast<FiberRecord*>(fiber); }

void* api_current() noexcept { return current_worker() ? current_record() : nullptr; }

int api_prepare(void* fiber, int fd, weft_hook_reg* reg) noexcept {
  FiberRecord* rec = rec_of(fiber);
  if (reg->core == rec->rt && reg->serial == rec->rt->serial) return 0;
  // No exception here: this runs under the hook's lock on fd's record, and
  // throwing may call into the C library (sanitizers' type checks even open
  // a pipe), which would come back to the hook and that same lock.
  std::uint32_t gen = 0;
  int err = 0;
  IoSource* s = rec->rt->reactor.try_add(fd, gen, err);
  if (!s) return err ? err : EIO;
  *reg = weft_hook_reg{rec->rt, s, rec->rt->serial, gen};
  return 0;
}

int api_wait(void* fiber, const weft_hook_reg* reg, int dir, int64_t deadline_ns) noexcept {
  FiberRecord* rec = rec_of(fiber);
  if (rec->cancelled.load(std::memory_order_relaxed)) return ECANCELED;
  if (reg->core != rec->rt || reg->serial != rec->rt->serial) return EBADF;
  const auto deadline = to_time(deadline_ns);
  if (std::min(deadline, rec->scope_deadline) <= Clock::now()) return ETIMEDOUT;
  std::error_code ec;
  if (rec->rt->reactor.wait(static_cast<IoSource*>(reg->source), reg->gen, dir, deadline, rec, current_worker(), ec))
    return 0;
  return ec.value();
}

void api_forget(const weft_hook_reg* reg) noexcept {
  if (!reg->core) return;
  std::lock_guard<std::mutex> lk(registry_mu);
  auto* rt = static_cast<RuntimeCore*>(reg->core);
  if (std::find(registry.begin(), registry.end(), rt) == registry.end() || rt->serial != reg->serial) return;
  rt->reactor.remove(static_cast<IoSource*>(reg->source), reg->gen);
}

int api_sleep_until(void* fiber, int64_t deadline_ns) noexcept {
  FiberRecord* rec = rec_of(fiber);
  if (rec->cancelled.load(std::memory_order_relaxed)) return ECANCELED;
  const auto tp = to_time(deadline_ns);
  if (tp <= Clock::now()) return 0;
  const std::size_t epoch = new_epoch(rec->ctx);
  if (wait_until(rec, epoch, tp) == WaitResult::cancelled) return ECANCELED;
  return Clock::now() < tp ? ETIMEDOUT : 0;
}

int api_run_blocking(void*, void (*fn)(void*), void* arg) noexcept {
  try {
    unblock([&] { fn(arg); });
    return 0;
  } catch (const Cancelled&) {
    return ECANCELED;
  } catch (...) {
    return EIO;  // fn is a C function: it does not throw; the pool might
  }
}

int api_cancelled(void* fiber) noexcept { return rec_of(fiber)->cancelled.load(std::memory_order_relaxed) ? 1 : 0; }

const weft_hook_api table = {
    WEFT_HOOK_API_VERSION, sizeof(weft_hook_api), api_current, api_prepare, api_wait, api_forget,
    api_sleep_until,       api_run_blocking,      api_cancelled,
};
}  // namespace

void bridge_runtime_created(RuntimeCore* rt) noexcept {
  std::lock_guard<std::mutex> lk(registry_mu);
  registry.push_back(rt);
}

void bridge_runtime_destroyed(RuntimeCore* rt) noexcept {
  std::lock_guard<std::mutex> lk(registry_mu);
  registry.erase(std::remove(registry.begin(), registry.end(), rt), registry.end());
}

void bridge_attach() noexcept {
  static std::once_flag once;
  std::call_once(once, [] {
    using Attach = void (*)(const weft_hook_api*);
    if (auto f = reinterpret_cast<Attach>(dlsym(RTLD_DEFAULT, "weft_hook_attach"))) f(&table);
  });
}

}  // namespace weft::detail
