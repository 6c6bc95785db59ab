// pidfd system calls, called directly: the C library wrappers came later
// (glibc 2.36) than the calls (Linux 5.3). Internal to the library.
#pragma once

#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

namespace weft::process::detail {

// pidfd_open() is a close-on-exec descriptor that becomes readable when the
// process pid exits, or -1 with errno set (ENOSYS before Linux 5.3).
inline int pidfd_open(pid_t pid) noexcept {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

// pidfd_send_signal() signals the process behind pidfd: 0, or -1 with errno.
inline int pidfd_send_signal(int pidfd, int sig) noexcept {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

}  // namespace weft::process::detail
