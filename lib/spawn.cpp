// Spawning a fiber: take a pooled stack, put the fiber's record at its top,
// build the Boost.Fiber context below it, and either run the new fiber at once
// (spawned from a fiber of the same runtime: the spawner waits in the LIFO
// slot) or queue it for the workers (spawned from anywhere else).
#include <cstdint>
#include <stdexcept>
#include <utility>

#include <boost/fiber/context.hpp>
#include <boost/fiber/policy.hpp>

#include <weft/errors.hpp>
#include <weft/spawn.hpp>

#include "build_fiber.hpp"
#include "fiber_record.hpp"
#include "log.hpp"
#include "runtime_core.hpp"
#include "task_finish.hpp"
#include "wait.hpp"
#include "worker.hpp"

namespace weft::detail {

namespace {

// Space kept above the record, cycling by spawn: the hot top of each stack
// then falls in different cache sets instead of all at the same page offset.
constexpr std::size_t kColorStep = 64;
constexpr std::size_t kColors = 8;

// PooledStack is the Boost stack allocator of one fiber: the stack is chosen
// before the context is built, and goes back to the pool when Boost frees it
// (on the worker that released the finished fiber).
struct PooledStack {
  boost::context::stack_context sctx;
  StackPool* pool;
  Stack stack;

  boost::context::stack_context allocate() noexcept { return sctx; }
  void deallocate(boost::context::stack_context&) noexcept {
    Worker* w = current_worker();
    pool->release(stack, w && &w->rt->stacks == pool ? &w->stacks : nullptr);
  }
};

void fiber_main(FiberRecord* rec) noexcept {
  for (;;) {
    // Built ahead (Worker::build_ahead) and retired before any task.
    if (rec->retire) return;
    TaskBase* task = rec->task;
    task->run();
    // Leave the live list first: past run() no waiting call remains, and a
    // joiner that returns then sees this fiber gone from RuntimeStats.
    rec->live_list->remove(rec);
    RuntimeCore* rt = rec->rt;
    finish_task(task);
    task->release_fiber();
    rt->fiber_exited();
    // Wait, warm, for the next spawn on this worker or, shared, another (or end).
    if (!current_worker()->park_spare(rec)) return;
  }
}

// go_live() makes rec, about to run task, reachable by cancel_task() and by
// shutdown (through list, in the slot claimed for it).
void go_live(RuntimeCore* rt, FiberRecord* rec, TaskBase* task, LiveList& list, std::uint32_t slot) noexcept {
  task->fiber_.store(rec, std::memory_order_release);
  list.fill(slot, rec);
  // Shutdown sets its state before it walks the live lists: either it saw this
  // fiber, or we see the state now. Such a fiber still runs, cancelled at once.
  if (!rt->accepting()) rec->cancelled.store(true, std::memory_order_relaxed);
}

// run_now() switches from the spawning fiber self to its child ctx, attached
// to worker w. The spawner waits in the LIFO slot and resumes when the child
// parks or ends; if the child runs long, an idle worker takes the spawner from
// the slot (Worker::steal_lifo, once it has waited there for kStealAge), so
// that its later spawns are not held back while a core has nothing to do.
void run_now(Worker* w, Ctx* self, Ctx* ctx) noexcept {
  w->note_spawn();
  w->set_running(ctx);
  ctx->resume(self);
}

}  // namespace

FiberRecord* current_record() noexcept {
  Worker* w = current_worker();
  return w && w->running() ? record_of(w->running()) : nullptr;
}

FiberRecord* build_fiber(RuntimeCore* rt, TaskBase* task, Worker* pinned, std::size_t stack_size, Worker* on) {
  StackCache* cache = on ? &on->stacks : nullptr;
  Stack st = rt->stacks.acquire(stack_size, cache);
  const std::size_t pad = on ? (on->next_color() % kColors) * kColorStep : 0;
  std::size_t rec_space = (sizeof(FiberRecord) + 63) & ~std::size_t{63};
  char* rec_mem = st.hi - pad - rec_space;
  auto* rec = new (rec_mem)
      FiberRecord(rt, task, pinned, st, stack_size ? stack_size : rt->stacks.default_usable());
  PooledStack salloc;
  salloc.sctx.sp = rec_mem;
  salloc.sctx.size = static_cast<std::size_t>(rec_mem - st.lo);
  salloc.pool = &rt->stacks;
  salloc.stack = st;
  try {
    auto body = [rec] { fiber_main(rec); };
    // Boost rounds the context's place down to 256 bytes below the record;
    // both stay within the stack's top kStackTop bytes
    // (Worker::prefetch_queued() relies on the two bounds).
    static_assert(sizeof(boost::fibers::worker_context<decltype(body)>) + 255 < kRecordReach);
    static_assert(kColors * kColorStep + (sizeof(FiberRecord) + 63) + kRecordReach <= kStackTop);
    auto ptr = boost::fibers::make_worker_context_with_properties(boost::fibers::launch::post, rec, salloc,
                                                                  std::move(body));
    rec->ctx = ptr.get();
    // The context keeps one reference to itself until it has finished.
    ptr.reset();
  } catch (...) {
    rec->~FiberRecord();
    rt->stacks.release(st, cache);
    throw;
  }
  return rec;
}

void launch(RuntimeCore* rt, TaskBase* task, const SpawnParams& params) {
  // Only look at fiber state on a worker thread: Ctx::active() on a plain
  // thread would build a Boost scheduler there.
  Worker* w = current_worker();
  FiberRecord* cur = w && w->running() ? record_of(w->running()) : nullptr;
  if (!rt) {
    if (!cur) throw std::logic_error("weft::spawn() called outside a fiber; use Runtime::spawn()");
    rt = cur->rt;
  }
  const bool here = cur && w->rt == rt;  // spawned by a fiber of this runtime
  if (params.local && !here)
    throw std::logic_error("weft::spawn_local() must be called from a fiber of the runtime");
  if (!rt->accepting()) throw RuntimeStopped();
  if (params.name && !params.name->empty()) task->set_name(params.name->data(), params.name->size());
  LiveList& list = here ? w->live : rt->outside_live;
  const std::uint32_t slot = list.claim();

  if (here && params.stack_size == 0) {
    if (FiberRecord* spare = w->take_spare_for_spawn()) {
      spare->begin_task(task, params.local ? w : nullptr);
      go_live(rt, spare, task, list, slot);
      run_now(w, cur->ctx, spare->ctx);
      return;
    }
  }

  // None to reuse, here or passed on: idle workers build the next ones
  // ahead (Worker::build_ahead), a parked one woken for it.
  if (here && params.stack_size == 0 && rt->spares.want()) rt->notify_idle();
  FiberRecord* rec;
  try {
    rec = build_fiber(rt, task, params.local ? w : nullptr, params.stack_size, here ? w : nullptr);
  } catch (...) {
    list.unclaim(slot);
    throw;
  }
  Ctx* ctx = rec->ctx;
  go_live(rt, rec, task, list, slot);
  if (here) {
    cur->ctx->attach(ctx);
    run_now(w, cur->ctx, ctx);
  } else {
    rt->inject(ctx);
  }
}

}  // namespace weft::detail
