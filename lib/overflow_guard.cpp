// When a fiber runs past the end of its stack it touches the guard page below
// it and the kernel raises SIGSEGV on that thread. The handler runs on the
// worker's alternate stack (the fiber's own is exhausted), asks Boost which
// context is running, and if the fault address lies in or just below that
// fiber's guard page it prints the fiber's name and stack size, then lets the
// default action end the process. Anything else is passed on unchanged.
#include "overflow_guard.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <mutex>

#include "fiber_record.hpp"
#include "worker.hpp"

namespace weft::detail {

namespace {
struct sigaction g_previous;
constexpr std::size_t kPage = 4096;

void write_all(const char* s, std::size_t n) noexcept {
  while (n > 0) {
    ssize_t w = ::write(STDERR_FILENO, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<std::size_t>(w);
  }
}

void pass_on(int sig, siginfo_t* info, void* uctx) noexcept {
  if (g_previous.sa_flags & SA_SIGINFO) {
    if (g_previous.sa_sigaction) {
      g_previous.sa_sigaction(sig, info, uctx);
      return;
    }
  } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    g_previous.sa_handler(sig);
    return;
  }
  // Default action: restore it and return; the faulting instruction runs again
  // and the kernel ends the process with SIGSEGV (core dump included).
  signal(sig, SIG_DFL);
}

void on_segv(int sig, siginfo_t* info, void* uctx) noexcept {
  // Only worker threads run fibers; elsewhere, asking Boost would allocate.
  if (current_worker()) {
    FiberRecord* rec = current_record();
    auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
    if (rec && rec->stack.guarded) {
      auto lo = reinterpret_cast<std::uintptr_t>(rec->stack.lo);
      // A big frame may skip past the guard page: accept a few pages below.
      if (addr < lo && addr + 16 * kPage >= lo) {
        char msg[512];
        const char* name = rec->task ? rec->task->name() : "";
        int n = std::snprintf(msg, sizeof msg,
                              "weft: fiber '%s' overflowed its stack of %zu bytes (fault at %p, guard page "
                              "below %p); raise SpawnOptions::stack_size or Config::stack_size\n",
                              *name ? name : "(unnamed)", rec->stack_size, info->si_addr,
                              static_cast<void*>(rec->stack.lo));
        if (n > 0) write_all(msg, static_cast<std::size_t>(n) < sizeof msg ? static_cast<std::size_t>(n) : sizeof msg - 1);
        signal(sig, SIG_DFL);
        return;
      }
    }
  }
  pass_on(sig, info, uctx);
}
}  // namespace

void install_overflow_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &g_previous);
  });
}

AltStack::AltStack() noexcept {
  stack_t current;
  // Keep a stack the thread already has (a sanitizer may have set one).
  if (sigaltstack(nullptr, &current) == 0 && !(current.ss_flags & SS_DISABLE)) return;
  size_t size = 64 * 1024;
  void* mem = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return;
  stack_t ss{};
  ss.ss_sp = mem;
  ss.ss_size = size;
  if (sigaltstack(&ss, nullptr) != 0) {
    munmap(mem, size);
    return;
  }
  mem_ = mem;
  size_ = size;
}

AltStack::~AltStack() {
  if (!mem_) return;
  stack_t ss{};
  ss.ss_flags = SS_DISABLE;
  sigaltstack(&ss, nullptr);
  munmap(mem_, size_);
}

}  // namespace weft::detail
