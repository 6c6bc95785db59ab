// The machinery every hook shares: is the caller a weft fiber, what kind of
// descriptor is this, and how to wait for it (park the fiber, or poll(2) on a
// plain thread for a socket the hook made non-blocking behind its back).
#pragma once

#include <poll.h>

#include <cerrno>
#include <cstdint>

#include "bridge.h"
#include "fd_table.hpp"

namespace weft::hook {

// api() is the runtime's table once a weft runtime has started, else null.
const weft_hook_api* api() noexcept;

// fiber() is the calling weft fiber, or null.
inline void* fiber() noexcept {
  const weft_hook_api* a = api();
  return a ? a->current() : nullptr;
}

// get_errno()/set_errno() go through a fresh __errno_location() every time:
// glibc declares it const, and a fiber that parked may resume on another
// thread, whose errno lives elsewhere.
int get_errno() noexcept;
void set_errno(int e) noexcept;

// now_ns() is CLOCK_MONOTONIC in nanoseconds.
std::int64_t now_ns() noexcept;
// deadline_after() is now + ns, or no deadline for ns == 0.
std::int64_t deadline_after(std::int64_t ns) noexcept;

// classify() returns fd's state, working it out (and making a socket
// non-blocking) the first time a fiber uses it. 0 if fd is not open.
std::uint32_t classify(int fd) noexcept;

// fresh_fd() records a descriptor number a hooked call just created (state 0:
// classify later), dropping whatever registration the number had before.
void fresh_fd(int fd, std::uint32_t state = 0, std::int64_t rcv_ns = 0, std::int64_t snd_ns = 0) noexcept;

// forget_fd() drops fd's record and registration before it is closed.
void forget_fd(int fd) noexcept;

// drop_registration() drops fd's reactor registration only, keeping what is
// known of it: for after a close, when the number may already be reused.
void drop_registration(int fd) noexcept;

// Mode is how a call on a descriptor behaves.
enum class Mode {
  libc,        // exactly libc's call
  retry,       // a socket the hook keeps non-blocking: call, wait on EAGAIN
  poll_first,  // a pipe or tty in a fiber: wait until ready, then call
};

// Call is one hooked call's context.
struct Call {
  void* fiber = nullptr;
  int fd = -1;
  std::uint32_t state = 0;
  Mode mode = Mode::libc;
  std::int64_t deadline = WEFT_HOOK_NO_DEADLINE;  // from SO_RCVTIMEO/SO_SNDTIMEO
};

// begin() decides how a call on fd in direction dir (0 read, 1 write) goes.
Call begin(int fd, int dir) noexcept;

// wait() waits until c.fd is ready for dir, parking a fiber or polling on a
// plain thread. 0, or the errno the call should fail with: EAGAIN when the
// socket timeout expired (timeout_errno for connect), ETIMEDOUT for a weft
// deadline scope, ECANCELED, EBADF.
int wait(const Call& c, int dir, int timeout_errno = EAGAIN) noexcept;

// wait_any() parks fiber f until one of fds may be ready, or the deadline,
// through an epoll set of its own registered with the reactor (which keeps
// one waiter per descriptor and direction). 0 to look again, or an errno
// (ETIMEDOUT when the deadline passed).
int wait_any(void* f, const pollfd* fds, nfds_t n, std::int64_t deadline) noexcept;

// ready_now() polls fd once without blocking.
bool ready_now(int fd, int dir) noexcept;

}  // namespace weft::hook
