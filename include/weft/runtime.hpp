// weft::Runtime and weft::run(): the scheduler threads that fibers run on.
#pragma once

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <utility>

#include <weft/config.hpp>
#include <weft/spawn.hpp>
#include <weft/this_fiber.hpp>

namespace weft {

// RuntimeStats is a snapshot of a runtime's counters, for tests and monitoring.
struct RuntimeStats {
  std::size_t live_fibers = 0;       // spawned and not yet finished
  std::size_t spare_fibers = 0;      // between tasks (finished, or built ahead), kept for later spawns
  std::size_t stacks_in_use = 0;     // stacks held by live fibers
  std::size_t stacks_reserved = 0;   // stacks carved from memory, in use or pooled
  std::size_t stack_mappings = 0;    // mmap regions holding those stacks
  std::size_t stacks_prepared = 0;   // top pages committed ahead of spawns (preparer or idle workers), across restarts
  unsigned workers_running = 0;      // worker threads alive
  unsigned blocking_threads = 0;     // blocking-pool threads alive
  std::size_t steals = 0;            // fibers moved by work stealing
  std::size_t parks = 0;             // times a worker parked its thread
  std::size_t registered_fds = 0;    // descriptors registered with the reactor
  std::size_t pending_timers = 0;    // deadlines armed in the timer wheels (not those withdrawn)
  std::size_t stalls = 0;            // times a worker ran one fiber past Config::stall_threshold
};

// Runtime owns worker threads that run fibers, a blocking pool for unblock(),
// and pools of fiber stacks. It starts on first use (block_on, spawn) or on
// start(), and stops on shutdown() or destruction; it can be started again after
// a shutdown. Several runtimes may live in one process.
//
// Shutdown cancels the fibers still alive: their current or next waiting call
// throws weft::Cancelled, which unwinds their stacks; shutdown returns once all
// have finished and the threads have exited.
class Runtime {
 public:
  using Config = weft::Config;

  explicit Runtime(Config config = Config{});
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // start() starts the worker threads; a no-op when running.
  void start();

  // shutdown() cancels live fibers, waits for them to unwind, and stops the
  // threads. A no-op when stopped; while another thread shuts the runtime
  // down, it waits until that is done. Must not be called from one of its fibers.
  void shutdown();

  // running() is true between start() and shutdown().
  bool running() const noexcept;

  // block_on() runs f in a fiber of this runtime (starting it if needed) and
  // blocks the calling thread until f returns; returns f's value or rethrows its
  // exception. Must not be called from inside a fiber (std::logic_error). A
  // current-thread runtime (Config::current_thread) runs all its fibers on the
  // calling thread meanwhile, and binds to that thread at the first call.
  template <class F>
  detail::FiberResult<F> block_on(F&& f) {
    // Blocking a worker thread inside a fiber would stall every fiber behind
    // it (or deadlock its own runtime): spawn and join instead.
    if (this_fiber::in_fiber()) throw std::logic_error("weft: block_on() called from inside a fiber; use spawn() and join()");
    if (config().current_thread()) bind_caller();
    return spawn(std::forward<F>(f)).join();
  }

  // spawn() starts f in a new fiber of this runtime, from any thread.
  template <class F>
  JoinHandle<detail::FiberResult<F>> spawn(F&& f) {
    start();
    return detail::spawn_in(core_.get(), detail::SpawnParams{}, std::forward<F>(f));
  }

  template <class F>
  JoinHandle<detail::FiberResult<F>> spawn(const SpawnOptions& opts, F&& f) {
    start();
    return detail::spawn_in(core_.get(),
                            detail::SpawnParams{&opts.name, opts.stack_size, false},
                            std::forward<F>(f));
  }

  // config() is the configuration this runtime was made with.
  const Config& config() const noexcept;

  // worker_threads() is the number of workers this runtime runs (resolved from
  // Config: 0 became the number of cores).
  unsigned worker_threads() const noexcept;

  // stats() reads the runtime's counters.
  RuntimeStats stats() const noexcept;

 private:
  // bind_caller() starts a current-thread runtime bound to the calling thread.
  void bind_caller();

  std::unique_ptr<detail::RuntimeCore> core_;
};

// run() starts a runtime, runs f in a fiber, shuts the runtime down and returns
// f's value or rethrows its exception: weft's main(). Fibers that f leaves
// running are cancelled when it returns (see Runtime::shutdown()).
template <class F>
detail::FiberResult<F> run(Config config, F&& f) {
  Runtime rt(std::move(config));
  return rt.block_on(std::forward<F>(f));
}

template <class F>
detail::FiberResult<F> run(F&& f) {
  return run(Config{}, std::forward<F>(f));
}

}  // namespace weft
