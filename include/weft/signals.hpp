// weft::Signals: wait for POSIX signals (SIGINT, SIGTERM, SIGHUP, ...) from a
// fiber, as for any other event: the wait parks only the calling fiber.
//
// Signals reads a signalfd, and a signalfd only sees signals that every thread
// blocks (an unblocked thread would take the signal first and run its
// disposition). So:
//
//   - Best: block the signals in main() before starting any runtime or thread,
//     with weft::block_signals({SIGINT, SIGTERM}) or by making the Signals
//     object there. Threads inherit the mask of the thread that starts them,
//     so every worker, reactor and blocking-pool thread then blocks them too.
//   - A Signals made later (in a fiber, with a runtime running) blocks its
//     signals in the calling thread and installs a forwarding handler: a
//     thread that still has the signal unblocked (one started earlier) runs
//     the handler once, which blocks the signal in that thread and sends it
//     again to the process, where the signalfd reads it. So nothing is lost,
//     but each such thread then keeps the signal blocked, and the signal
//     becomes readable only once that thread has run the handler (a moment
//     after kill() returned, instead of at once).
//
// A signal sent to one thread that blocks it (pthread_kill(), tgkill(), or
// raise() in a thread that blocks it) stays pending for that thread alone and
// only a read on that thread sees it: send signals to the process
// (kill(getpid(), sig)), as the terminal and service managers do.
//
// When the last Signals object watching a signal goes away, the signal's
// previous disposition comes back, instances of it still pending are
// discarded (nobody listens any more), and the destroying thread unblocks it
// again unless it was blocked before the first Signals for it was made (or
// block_signals() blocked it, which lasts for good). Other threads that
// blocked it keep it blocked: a mask belongs to its thread and cannot be
// changed from outside. A signal sent to the process still reaches a thread
// that does not block it.
//
// Several Signals objects may watch the same signal, but each delivery is read
// by one of them: whichever reads first. Keep one per signal set.
//
// SIGKILL and SIGSTOP cannot be caught, and the fault signals (SIGSEGV,
// SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS) must not be blocked: asking for them
// throws std::invalid_argument, as do numbers the C library reserves.
//
// fork(): a child made by fork() inherits the signal mask and the forwarding
// handler but not the epoll set; use weft::process::Command, which starts
// children with an empty mask and default dispositions.
#pragma once

#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include <weft/async.hpp>
#include <weft/deadline.hpp>

namespace weft {

// block_signals() blocks sigs in the calling thread for the rest of its life
// and marks them blocked for good: no Signals object unblocks them. Call it at
// the top of main(), before starting runtimes or threads, so that every thread
// inherits the mask. Throws std::invalid_argument for a signal that cannot be
// waited for (see above).
void block_signals(std::initializer_list<int> sigs);
void block_signals(std::span<const int> sigs);

// signal_name() is "SIGINT" for SIGINT, "SIGRTMIN+3" for a real-time signal,
// "signal N" for a number it does not know.
std::string signal_name(int sig);

// Signals receives the signals it was made for. wait() parks the calling
// fiber (or blocks a plain thread) until one arrives and returns its number.
// Not copyable; movable. One fiber at a time may wait on a Signals. Like any
// Async, its signalfd is registered with the runtime of the fiber that makes
// it (or first waits on it), and it must not outlive that runtime: make it in
// a fiber, and call block_signals() in main() for the threads.
class Signals {
 public:
  // Signals() blocks sigs in the calling thread, installs the forwarding
  // handler (see above) and opens the signalfd. Throws std::invalid_argument
  // for a signal that cannot be waited for, std::system_error if the signalfd
  // cannot be made.
  explicit Signals(std::initializer_list<int> sigs);
  explicit Signals(std::span<const int> sigs);
  Signals(Signals&& o) noexcept;
  Signals& operator=(Signals&& o) noexcept;
  Signals(const Signals&) = delete;
  Signals& operator=(const Signals&) = delete;
  // ~Signals() closes the signalfd and, for each signal no other Signals
  // watches, restores the previous disposition and mask (see above).
  ~Signals();

  // wait() returns the number of the next signal, waiting for it until the
  // deadline (and the fiber's deadline scope). The throwing form throws
  // std::system_error (std::errc::timed_out when the deadline passes) and
  // weft::Cancelled in a cancelled fiber; the no-throw form returns 0 and
  // sets ec (timed_out, operation_canceled, ...).
  int wait(Deadline d = no_deadline);
  int wait(std::error_code& ec, Deadline d = no_deadline) noexcept;

  // try_wait() is a signal that has already arrived, without waiting.
  std::optional<int> try_wait();

  // signals() are the signals this object watches (empty once moved from).
  const std::vector<int>& signals() const noexcept { return sigs_; }

  // native_handle() is the signalfd (-1 once moved from).
  int native_handle() const noexcept { return fd_ ? fd_->native_handle() : -1; }

 private:
  void release() noexcept;

  std::vector<int> sigs_;             // the watched signals, each once, sorted
  std::optional<Async<OwnedFd>> fd_;  // the signalfd
};

}  // namespace weft
