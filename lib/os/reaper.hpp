// The reaper: reaps children whose Child was destroyed before they exited.
// Internal to the library.
#pragma once

#include <sys/types.h>

#include <weft/async.hpp>

namespace weft::process::detail {

// reap_later() hands pid (with its pidfd, or an empty OwnedFd without one)
// to the process-wide reaper thread, which starts if it is not running, reaps
// the child when it exits, and ends once it has no child left. Never throws:
// if no thread can be started the child is left to be reaped at the next
// hand-over (and logged).
void reap_later(pid_t pid, OwnedFd pidfd) noexcept;

}  // namespace weft::process::detail
