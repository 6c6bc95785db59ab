// ChildState: what a Child knows of its process, shared by the spawning and
// the waiting code. Internal to the library.
#pragma once

#include <sys/types.h>

#include <mutex>
#include <optional>
#include <system_error>

#include <weft/async.hpp>
#include <weft/process.hpp>

namespace weft::process::detail {

struct ChildState {
  // mu orders reaping against kill(): once the child is reaped its pid may
  // name another process, so kill() must see `status` set and do nothing.
  // Held only around non-blocking calls (waitpid WNOHANG, a signal send).
  std::mutex mu;
  pid_t pid = 0;
  // pidfd is readable once the process has exited; empty without pidfds.
  std::optional<Async<OwnedFd>> pidfd;
  std::optional<ExitStatus> status;  // set once reaped (guarded by mu)
  bool kill_on_drop = false;

  // reap() reaps the child if it has exited (waitpid WNOHANG). Empty while it
  // runs, or with ec set (ECHILD: someone else reaped it).
  std::optional<ExitStatus> reap(std::error_code& ec) noexcept;
};

}  // namespace weft::process::detail
