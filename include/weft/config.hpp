// weft::Config: the settings of one Runtime, a plain value with documented defaults.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace weft {

// StackGuard says whether fiber stacks get a guard page below them.
enum class StackGuard {
  // automatic guards stacks only where the kernel offers guard regions that cost
  // no memory mapping (MADV_GUARD_INSTALL, Linux >= 6.13); otherwise no guard.
  automatic,
  // always guards every stack, falling back to mprotect where MADV_GUARD_INSTALL
  // is missing; mprotect costs two mappings per stack, so vm.max_map_count (65530
  // by default) then caps live fibers near 32,000.
  always,
  // never places a guard page: an overflow silently corrupts a neighbour stack.
  never,
};

// Config holds the settings of a Runtime. Each setter returns *this, so a whole
// configuration reads as one expression:
//   weft::Runtime rt{weft::Config{}.worker_threads(4).stack_size(64 * 1024)};
class Config {
 public:
  // worker_threads() is the number of scheduler threads. Default 0: one per core
  // (std::thread::hardware_concurrency()).
  unsigned worker_threads() const noexcept { return worker_threads_; }
  Config& worker_threads(unsigned n) noexcept { worker_threads_ = n; return *this; }

  // stack_size() is the default usable stack of a fiber, in bytes. Default 128 KiB.
  // Stacks are reserved, not committed: a fiber costs the pages it touches.
  // Rounded up to whole pages; at least 16 KiB.
  std::size_t stack_size() const noexcept { return stack_size_; }
  Config& stack_size(std::size_t bytes) noexcept { stack_size_ = bytes; return *this; }

  // stack_guard() chooses guard pages. Default StackGuard::automatic.
  StackGuard stack_guard() const noexcept { return stack_guard_; }
  Config& stack_guard(StackGuard g) noexcept { stack_guard_ = g; return *this; }

  // thread_name_prefix() names worker threads "<prefix><index>" (cut to 15
  // characters by the kernel). Default "weft-w". Blocking-pool threads are
  // named "<prefix>b", the reactor thread "<prefix>r", the stack preparer
  // "<prefix>s".
  const std::string& thread_name_prefix() const noexcept { return thread_name_prefix_; }
  Config& thread_name_prefix(std::string p) { thread_name_prefix_ = std::move(p); return *this; }

  // current_thread() runs the runtime on the thread that calls block_on() (or
  // run()), as Tokio's current-thread runtime does: its one worker is that
  // thread, which also polls the reactor whenever it has nothing to run, and
  // the runtime starts no thread of its own. Default false.
  //   - Fibers run only while that thread is inside block_on(), or inside a
  //     join() or shutdown() it calls; in between they wait, sockets and
  //     timers included. Other threads may spawn fibers into it.
  //   - The first block_on() binds the runtime to its thread until shutdown.
  //     block_on() and shutdown() on another thread throw std::logic_error
  //     (so a runtime destroyed there terminates the process), and a thread
  //     drives one current-thread runtime at a time.
  //   - worker_threads() must be 0 or 1. There is no stall warning, no spare
  //     worker and no stack preparer; pin_workers() and the worker thread
  //     names do not apply. The blocking pool works as usual.
  //   - Why: a process of one thread is cheaper in the kernel. Every socket
  //     call takes a reference on its file while other threads share the
  //     descriptor table, and skips that with one thread (about 2% of the
  //     server CPU of a small echo message), and nothing crosses threads.
  bool current_thread() const noexcept { return current_thread_; }
  Config& current_thread(bool on) noexcept { current_thread_ = on; return *this; }

  // pin_workers() pins worker i to core i modulo the cores the process may use
  // (those of the thread that builds the runtime). The runtime's helper
  // threads (blocking pool, stack preparer) then run on the cores no worker
  // took, or on all of them when the workers took every one: they start on
  // demand from workers, whose one core they would otherwise inherit. A
  // thread a fiber starts itself does inherit its worker's core. Default false.
  bool pin_workers() const noexcept { return pin_workers_; }
  Config& pin_workers(bool on) noexcept { pin_workers_ = on; return *this; }

  // max_blocking_threads() bounds the blocking pool behind weft::unblock().
  // Default 64; jobs beyond it queue.
  unsigned max_blocking_threads() const noexcept { return max_blocking_threads_; }
  Config& max_blocking_threads(unsigned n) noexcept { max_blocking_threads_ = n; return *this; }

  // blocking_keep_alive() is how long an idle blocking thread waits for a job
  // before it exits. Default 10 s.
  std::chrono::milliseconds blocking_keep_alive() const noexcept { return blocking_keep_alive_; }
  Config& blocking_keep_alive(std::chrono::milliseconds d) noexcept { blocking_keep_alive_ = d; return *this; }

  // idle_spin() is how long an idle worker keeps looking for work before it
  // parks its thread, while another worker runs. Default 50 us: waking a
  // parked thread costs 25-35 us on virtual machines, so a short spin saves
  // that when workers hand each other fibers, and an idle runtime still uses
  // no CPU. Unless set, a lone worker (one configured, and no spare started)
  // does not spin: it parks in its reactor at once, where a socket, a
  // deadline or a fiber from another thread wakes it, as an event loop
  // sleeps in epoll_wait; a spin there would burn the CPU such a loop leaves
  // idle (5% of a core with 50 echo connections). Set explicitly, it applies
  // whatever the number of workers.
  std::chrono::microseconds idle_spin() const noexcept { return idle_spin_; }
  Config& idle_spin(std::chrono::microseconds d) noexcept {
    idle_spin_ = d;
    idle_spin_set_ = true;
    return *this;
  }
  // idle_spin_set() is true once idle_spin(d) was called.
  bool idle_spin_set() const noexcept { return idle_spin_set_; }

  // stall_threshold() is how long a worker may run one fiber without a pause
  // (a blocking call, a long loop) before the log warns about it, naming the
  // fiber. A worker whose thread merely waits for a CPU that long (a busy
  // machine) is not reported: the thread must have computed for half that
  // time, or be blocked in the kernel. Fibers queued behind a stuck worker are
  // taken over by other workers after about a millisecond, whatever this
  // setting. Default 100 ms.
  std::chrono::milliseconds stall_threshold() const noexcept { return stall_threshold_; }
  Config& stall_threshold(std::chrono::milliseconds d) noexcept { stall_threshold_ = d; return *this; }

  // max_spare_workers() bounds the extra worker threads a runtime starts when
  // every worker is stuck in one fiber (a blocking call the hook does not
  // cover, a long loop) for 10 ms while fibers wait to run behind it: a spare
  // takes those over, as Go's sysmon hands a blocked thread's work to a new
  // one. A spare, once started, stays until shutdown (parked when idle).
  // Fibers parked on a stuck worker (sleeping, waiting for I/O) resume when it
  // moves again. 0 disables spares. Default 4.
  unsigned max_spare_workers() const noexcept { return max_spare_workers_; }
  Config& max_spare_workers(unsigned n) noexcept { max_spare_workers_ = n; return *this; }

  // shutdown_grace() is how long shutdown waits for cancelled fibers to unwind
  // before it logs the names of those still alive, and then again each period
  // (it keeps waiting: a running fiber's stack cannot be taken from it).
  // Default 5 s.
  std::chrono::milliseconds shutdown_grace() const noexcept { return shutdown_grace_; }
  Config& shutdown_grace(std::chrono::milliseconds d) noexcept { shutdown_grace_ = d; return *this; }

 private:
  unsigned worker_threads_ = 0;
  std::size_t stack_size_ = 128 * 1024;
  StackGuard stack_guard_ = StackGuard::automatic;
  std::string thread_name_prefix_ = "weft-w";
  bool pin_workers_ = false;
  unsigned max_blocking_threads_ = 64;
  std::chrono::milliseconds blocking_keep_alive_{10'000};
  std::chrono::microseconds idle_spin_{50};
  bool idle_spin_set_ = false;
  std::chrono::milliseconds shutdown_grace_{5'000};
  std::chrono::milliseconds stall_threshold_{100};
  unsigned max_spare_workers_ = 4;
  bool current_thread_ = false;
};

}  // namespace weft
