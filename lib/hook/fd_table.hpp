// FdTable: what the hook knows of each descriptor — its kind, whether the
// program asked for non-blocking mode, its socket timeouts and its reactor
// registration. Two levels of lazily allocated chunks cover every possible
// descriptor number (no fixed limit); untouched chunks cost no memory.
#pragma once

#include <atomic>
#include <cstdint>

#include "bridge.h"

namespace weft::hook {

// Bits of FdRec::state.
enum : std::uint32_t {
  kKnown = 1u << 0,         // classified; the other bits mean something
  kSocket = 1u << 1,        // a socket: the hook keeps it O_NONBLOCK
  kPipe = 1u << 2,          // a pipe or FIFO: waited on, flags left alone
  kTty = 1u << 3,           // a terminal: as a pipe
  kOther = 1u << 4,         // anything else: libc's behaviour, always
  kStream = 1u << 5,        // SOCK_STREAM: blocking writes send everything
  kUserNonblock = 1u << 6,  // the program asked for O_NONBLOCK
  kWeNonblock = 1u << 7,    // O_NONBLOCK is on because the hook set it
};

struct FdRec {
  std::atomic<std::uint32_t> state;
  std::atomic_flag lock;                // guards reg and classification
  std::atomic<std::int64_t> rcv_ns;     // SO_RCVTIMEO, 0 = none
  std::atomic<std::int64_t> snd_ns;     // SO_SNDTIMEO, 0 = none
  weft_hook_reg reg;                    // guarded by lock

  void acquire() noexcept {
    while (lock.test_and_set(std::memory_order_acquire)) __builtin_ia32_pause();
  }
  void release() noexcept { lock.clear(std::memory_order_release); }

  // take_reg() empties reg and returns what it held. Lock held.
  weft_hook_reg take_reg() noexcept {
    weft_hook_reg r = reg;
    reg = weft_hook_reg{};
    return r;
  }
  // clear() forgets all that is known of the descriptor, and returns its
  // registration for the caller to drop. Lock held.
  weft_hook_reg clear() noexcept {
    state.store(0, std::memory_order_release);
    rcv_ns.store(0, std::memory_order_relaxed);
    snd_ns.store(0, std::memory_order_relaxed);
    return take_reg();
  }
};

// find() returns fd's record if its chunk exists, else null; get() creates
// the chunk. Both return null for negative or impossible numbers.
FdRec* find(int fd) noexcept;
FdRec* get(int fd) noexcept;

// state_of() is fd's state bits, 0 if unknown.
inline std::uint32_t state_of(int fd) noexcept {
  FdRec* r = find(fd);
  return r ? r->state.load(std::memory_order_acquire) : 0;
}

// reset() forgets what was known of fd (a new descriptor took the number) and
// returns the registration it had, for the caller to drop.
weft_hook_reg reset(int fd) noexcept;

// set_known() records a descriptor the hook made itself.
void set_known(int fd, std::uint32_t state, std::int64_t rcv_ns = 0, std::int64_t snd_ns = 0) noexcept;

}  // namespace weft::hook
