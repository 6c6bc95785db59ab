// Signals: a signalfd per object, plus a process-wide registry that counts the
// objects watching each signal, so that the disposition and mask installed for
// the first one are undone when the last one goes away.
//
// A signalfd reads a signal only while it is pending, and a signal stays
// pending only while every thread blocks it. Threads started after the mask
// was set inherit it; threads already running do not. For those the registry
// installs forward(): it runs on a thread that does not block the signal,
// adds the signal to the mask that thread resumes with (uc_sigmask, restored
// by sigreturn), and sends the signal to the process again. While the handler
// runs the signal is blocked in its thread, so the new instance goes to
// another unblocked thread (which does the same) or, once none is left,
// stays pending for the signalfd. Each thread forwards at most once.
//
// The disposition matters even with every thread blocking: a signal whose
// action is SIG_IGN may be discarded when sent. forward() is never "ignore".
#include <weft/signals.hpp>

#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <stdexcept>

#include <weft/errors.hpp>

#include "signal_mask.hpp"

namespace weft {

namespace {

// Slot is the registry's state of one signal number.
struct Slot {
  int watchers = 0;              // live Signals objects watching it
  struct sigaction previous {};  // its disposition before the first of them
  bool was_blocked = false;      // blocked in the first watcher's thread before it came
};

// Registry is process-wide and never destroyed: a Signals object with static
// storage, or one in a thread still running at exit, may outlive any static.
struct Registry {
  Registry() {
    sigemptyset(&pinned);
    sigemptyset(&watched);
  }
  std::mutex mu;
  Slot slots[NSIG];  // guarded by mu
  sigset_t pinned;   // blocked for good by block_signals() (guarded by mu)
  sigset_t watched;  // signals with watchers > 0 (guarded by mu)
};

Registry& registry() {
  static Registry* r = new Registry;
  return *r;
}

void forward(int sig, siginfo_t*, void* context) {
  int saved = errno;
  auto* uc = static_cast<ucontext_t*>(context);
  sigaddset(&uc->uc_sigmask, sig);
  ::kill(::getpid(), sig);
  errno = saved;
}

// check_signal() throws std::invalid_argument for a number that Signals
// cannot wait for.
void check_signal(int sig) {
  switch (sig) {
    case SIGKILL:
    case SIGSTOP:
      throw std::invalid_argument("weft: " + signal_name(sig) + " cannot be caught or blocked");
    case SIGSEGV:
    case SIGBUS:
    case SIGFPE:
    case SIGILL:
    case SIGTRAP:
    case SIGSYS:
      throw std::invalid_argument(
          "weft: " + signal_name(sig) +
          " reports a fault of the thread that raised it; it cannot be waited for");
    default:
      break;
  }
  sigset_t probe;
  sigemptyset(&probe);
  // sigaddset() refuses numbers out of range and those the C library keeps
  // for itself (thread cancellation, setxid).
  if (sig <= 0 || sig >= NSIG || sigaddset(&probe, sig) != 0)
    throw std::invalid_argument("weft: signal " + std::to_string(sig) + " cannot be waited for");
}

std::vector<int> normalise(std::span<const int> sigs) {
  std::vector<int> v(sigs.begin(), sigs.end());
  for (int s : v) check_signal(s);
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  if (v.empty()) throw std::invalid_argument("weft: Signals needs at least one signal");
  return v;
}

sigset_t set_of(const std::vector<int>& sigs) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : sigs) sigaddset(&set, s);
  return set;
}

// watch() registers one more watcher of sigs: the first watcher of a signal
// records its disposition and whether the calling thread blocked it, then
// installs forward(). Finally the calling thread blocks them all.
void watch(const std::vector<int>& sigs) {
  Registry& r = registry();
  sigset_t set = set_of(sigs);
  std::lock_guard<std::mutex> lk(r.mu);
  sigset_t current;
  pthread_sigmask(SIG_BLOCK, nullptr, &current);
  std::size_t done = 0;
  for (; done < sigs.size(); ++done) {
    int s = sigs[done];
    Slot& slot = r.slots[s];
    if (slot.watchers++ > 0) continue;
    struct sigaction fwd {};
    fwd.sa_sigaction = forward;
    fwd.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&fwd.sa_mask);
    if (sigaction(s, &fwd, &slot.previous) != 0) {
      int e = errno;
      --slot.watchers;
      // Undo the signals registered so far.
      for (std::size_t i = 0; i < done; ++i) {
        Slot& back = r.slots[sigs[i]];
        if (--back.watchers == 0) {
          sigaction(sigs[i], &back.previous, nullptr);
          sigdelset(&r.watched, sigs[i]);
        }
      }
      throw std::system_error(e, std::generic_category(),
                              "weft: cannot install a handler for " + signal_name(s));
    }
    slot.was_blocked = sigismember(&current, s) == 1;
    sigaddset(&r.watched, s);
  }
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

// unwatch() drops one watcher of sigs; see signals.hpp for what the last one
// undoes. Pending instances are discarded before the old disposition returns,
// so a signal nobody read cannot fire SIG_DFL (and end the process) later.
void unwatch(const std::vector<int>& sigs) noexcept {
  Registry& r = registry();
  std::lock_guard<std::mutex> lk(r.mu);
  sigset_t unblock;
  sigemptyset(&unblock);
  for (int s : sigs) {
    Slot& slot = r.slots[s];
    if (--slot.watchers > 0) continue;
    sigdelset(&r.watched, s);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, s);
    // Block it here for the drain (sigtimedwait takes only blocked signals
    // reliably); the mask is settled below.
    sigset_t before;
    pthread_sigmask(SIG_BLOCK, &one, &before);
    timespec zero{0, 0};
    while (sigtimedwait(&one, nullptr, &zero) > 0 || errno == EINTR) {
    }
    sigaction(s, &slot.previous, nullptr);
    // Unblock what the watchers blocked; keep what was blocked before them
    // (in the first watcher's thread, or for good), unless this thread had
    // it unblocked until the drain above.
    bool keep = (slot.was_blocked || sigismember(&r.pinned, s)) && sigismember(&before, s);
    if (!keep) sigaddset(&unblock, s);
  }
  pthread_sigmask(SIG_UNBLOCK, &unblock, nullptr);
}

}  // namespace

void block_signals(std::initializer_list<int> sigs) {
  block_signals(std::span<const int>(sigs.begin(), sigs.size()));
}

void block_signals(std::span<const int> sigs) {
  std::vector<int> v = normalise(sigs);
  sigset_t set = set_of(v);
  Registry& r = registry();
  std::lock_guard<std::mutex> lk(r.mu);
  for (int s : v) sigaddset(&r.pinned, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

std::string signal_name(int sig) {
  if (sig >= SIGRTMIN && sig <= SIGRTMAX) {
    if (sig == SIGRTMIN) return "SIGRTMIN";
    if (sig == SIGRTMAX) return "SIGRTMAX";
    return "SIGRTMIN+" + std::to_string(sig - SIGRTMIN);
  }
  if (const char* abbrev = sigabbrev_np(sig)) return std::string("SIG") + abbrev;
  return "signal " + std::to_string(sig);
}

Signals::Signals(std::initializer_list<int> sigs)
    : Signals(std::span<const int>(sigs.begin(), sigs.size())) {}

Signals::Signals(std::span<const int> sigs) : sigs_(normalise(sigs)) {
  watch(sigs_);
  sigset_t set = set_of(sigs_);
  int fd = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    unwatch(sigs_);
    throw std::system_error(e, std::generic_category(), "weft: signalfd");
  }
  try {
    fd_.emplace(OwnedFd(fd));
  } catch (...) {
    unwatch(sigs_);
    throw;
  }
}

Signals::Signals(Signals&& o) noexcept : sigs_(std::move(o.sigs_)), fd_(std::move(o.fd_)) {
  o.sigs_.clear();
  o.fd_.reset();
}

Signals& Signals::operator=(Signals&& o) noexcept {
  if (this != &o) {
    release();
    sigs_ = std::move(o.sigs_);
    fd_ = std::move(o.fd_);
    o.sigs_.clear();
    o.fd_.reset();
  }
  return *this;
}

Signals::~Signals() { release(); }

void Signals::release() noexcept {
  if (!fd_) return;
  fd_.reset();  // unregisters from the reactor, then closes
  unwatch(sigs_);
  sigs_.clear();
}

int Signals::wait(std::error_code& ec, Deadline d) noexcept {
  if (!fd_) {
    ec = std::make_error_code(std::errc::bad_file_descriptor);
    return 0;
  }
  signalfd_siginfo info;
  auto n = fd_->read_with([&](OwnedFd& f) { return ::read(f.native_handle(), &info, sizeof info); },
                          ec, d);
  if (n < 0) return 0;
  if (n != static_cast<decltype(n)>(sizeof info)) {
    ec = std::make_error_code(std::errc::io_error);
    return 0;
  }
  return static_cast<int>(info.ssi_signo);
}

int Signals::wait(Deadline d) {
  std::error_code ec;
  int s = wait(ec, d);
  if (ec == std::errc::operation_canceled) throw Cancelled();
  if (ec) throw std::system_error(ec, "weft: Signals::wait");
  return s;
}

std::optional<int> Signals::try_wait() {
  if (!fd_)
    throw std::system_error(std::make_error_code(std::errc::bad_file_descriptor),
                            "weft: Signals::try_wait");
  signalfd_siginfo info;
  for (;;) {
    ssize_t n = ::read(fd_->native_handle(), &info, sizeof info);
    if (n == static_cast<ssize_t>(sizeof info)) return static_cast<int>(info.ssi_signo);
    int e = n < 0 ? errno : EIO;
    if (e == EINTR) continue;
    if (e == EAGAIN) return std::nullopt;
    throw std::system_error(e, std::generic_category(), "weft: Signals::try_wait");
  }
}

}  // namespace weft

namespace weft::detail {

void block_watched_signals() noexcept {
  Registry& r = registry();
  sigset_t set;
  {
    std::lock_guard<std::mutex> lk(r.mu);
    set = r.watched;
    sigorset(&set, &set, &r.pinned);
  }
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void block_all_signals() noexcept {
  sigset_t set;
  sigfillset(&set);
  for (int s : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS}) sigdelset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

}  // namespace weft::detail
