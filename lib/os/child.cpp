// Child: waiting for, signalling and reaping a spawned process.
//
// wait() loops: try to reap (waitpid WNOHANG, under the state's mutex so that
// kill() never signals a pid that was reaped and maybe reused), then park
// until the pidfd is readable. Each park is capped at one second, so even a
// readiness edge lost between a failed reap and the park costs at most that;
// without pidfds the fiber polls with a growing sleep instead. A cancelled
// or timed-out wait leaves the child unreaped: the Child (or the reaper, once
// it is dropped) reaps it later.
#include <weft/process.hpp>

#include <poll.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <thread>

#include <weft/errors.hpp>
#include <weft/scope.hpp>
#include <weft/signals.hpp>
#include <weft/spawn.hpp>
#include <weft/this_fiber.hpp>

#include "child_state.hpp"
#include "os_error.hpp"
#include "pidfd.hpp"
#include "reaper.hpp"

namespace weft::process {

using namespace std::chrono_literals;

std::optional<int> ExitStatus::code() const noexcept {
  if (WIFEXITED(status_)) return WEXITSTATUS(status_);
  return std::nullopt;
}

std::optional<int> ExitStatus::signal() const noexcept {
  if (WIFSIGNALED(status_)) return WTERMSIG(status_);
  return std::nullopt;
}

bool ExitStatus::core_dumped() const noexcept { return WIFSIGNALED(status_) && WCOREDUMP(status_); }

std::string ExitStatus::to_string() const {
  if (auto c = code()) return "exit code " + std::to_string(*c);
  if (auto s = signal()) {
    std::string r = "signal " + std::to_string(*s) + " (" + signal_name(*s) + ")";
    if (core_dumped()) r += ", core dumped";
    return r;
  }
  return "wait status " + std::to_string(status_);
}

namespace detail {

std::optional<ExitStatus> ChildState::reap(std::error_code& ec) noexcept {
  std::lock_guard<std::mutex> lk(mu);
  ec.clear();
  if (status) return status;
  for (;;) {
    int st = 0;
    pid_t got = ::waitpid(pid, &st, WNOHANG);
    if (got == pid) {
      status = ExitStatus::from_raw(st);
      return status;
    }
    if (got == 0) return std::nullopt;
    int e = errno;
    if (e == EINTR) continue;
    ec = os::errno_code(e);
    return std::nullopt;
  }
}

}  // namespace detail

namespace {

// wait_exit_blocking() blocks a plain thread until pid has exited, leaving it
// to be reaped (WNOWAIT), so kill() stays safe meanwhile.
void wait_exit_blocking(pid_t pid) noexcept {
  siginfo_t info;
  while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR) {
  }
}

}  // namespace

Child::Child() noexcept = default;
Child::Child(Child&&) noexcept = default;

Child& Child::operator=(Child&& o) noexcept {
  if (this != &o) {
    Child dropped(std::move(*this));
    state_ = std::move(o.state_);
    stdin_ = std::move(o.stdin_);
    stdout_ = std::move(o.stdout_);
    stderr_ = std::move(o.stderr_);
  }
  return *this;
}

Child::~Child() {
  stdin_.close();
  stdout_.close();
  stderr_.close();
  if (!state_) return;
  std::error_code ec;
  if (state_->kill_on_drop) kill(SIGKILL, ec);
  if (state_->reap(ec) || ec) return;
  OwnedFd pidfd;
  if (state_->pidfd) pidfd = std::move(*state_->pidfd).into_inner();
  state_->pidfd.reset();
  detail::reap_later(state_->pid, std::move(pidfd));
}

pid_t Child::pid() const noexcept { return state_ ? state_->pid : 0; }

PipeWriter& Child::stdin() {
  if (!stdin_.is_open())
    throw std::logic_error("weft::process: the child's stdin is not piped (or was taken)");
  return stdin_;
}

PipeReader& Child::stdout() {
  if (!stdout_.is_open())
    throw std::logic_error("weft::process: the child's stdout is not piped (or was taken)");
  return stdout_;
}

PipeReader& Child::stderr() {
  if (!stderr_.is_open())
    throw std::logic_error("weft::process: the child's stderr is not piped (or was taken)");
  return stderr_;
}

std::optional<ExitStatus> Child::wait(std::error_code& ec, Deadline d) noexcept {
  stdin_.close();
  if (!state_) {
    ec = std::make_error_code(std::errc::no_child_process);
    return std::nullopt;
  }
  auto backoff = 1ms;
  for (;;) {
    if (auto st = state_->reap(ec); st || ec) return st;
    const Deadline limit = std::min(d, current_deadline());
    if (state_->pidfd) {
      const Deadline step = std::min(limit, deadline_in(1s));
      if (state_->pidfd->readable(ec, step)) continue;
      if (ec == std::errc::timed_out && Clock::now() < limit) continue;  // the one-second cap
      return std::nullopt;
    }
    if (!this_fiber::in_fiber() && limit == no_deadline) {
      wait_exit_blocking(state_->pid);
      continue;
    }
    const auto now = Clock::now();
    if (now >= limit) {
      ec = std::make_error_code(std::errc::timed_out);
      return std::nullopt;
    }
    try {
      this_fiber::sleep_until(std::min(limit, now + backoff));
    } catch (const Cancelled&) {
      ec = std::make_error_code(std::errc::operation_canceled);
      return std::nullopt;
    } catch (const std::system_error& e) {
      ec = e.code();
      return std::nullopt;
    }
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, 50ms);
  }
}

ExitStatus Child::wait(Deadline d) {
  std::error_code ec;
  auto st = wait(ec, d);
  if (!st) os::fail(ec, "weft::process: wait for pid " + std::to_string(pid()));
  return *st;
}

std::optional<ExitStatus> Child::try_wait(std::error_code& ec) noexcept {
  if (!state_) {
    ec = std::make_error_code(std::errc::no_child_process);
    return std::nullopt;
  }
  return state_->reap(ec);
}

std::optional<ExitStatus> Child::try_wait() {
  std::error_code ec;
  auto st = try_wait(ec);
  if (ec) os::fail(ec, "weft::process: try_wait for pid " + std::to_string(pid()));
  return st;
}

bool Child::kill(int sig, std::error_code& ec) noexcept {
  ec.clear();
  if (!state_) {
    ec = std::make_error_code(std::errc::no_child_process);
    return false;
  }
  std::lock_guard<std::mutex> lk(state_->mu);
  if (state_->status) return true;  // reaped: the pid is no longer ours
  int r = state_->pidfd ? detail::pidfd_send_signal(state_->pidfd->native_handle(), sig)
                        : ::kill(state_->pid, sig);
  if (r < 0) {
    int e = errno;
    // ESRCH: it exited and awaits reaping, which is what a kill aims at.
    if (e == ESRCH) return true;
    ec = os::errno_code(e);
    return false;
  }
  return true;
}

void Child::kill(int sig) {
  std::error_code ec;
  if (!kill(sig, ec)) os::fail(ec, "weft::process: kill pid " + std::to_string(pid()));
}

namespace {

// collect_polling() reads two pipes to their ends on a plain thread, with
// poll(2) over both so that neither can fill up while the other is read.
void collect_polling(PipeReader& a, std::string& out_a, PipeReader& b, std::string& out_b,
                     Deadline d) {
  PipeReader* pipes[2] = {&a, &b};
  std::string* outs[2] = {&out_a, &out_b};
  char buf[16384];
  while (a.is_open() || b.is_open()) {
    pollfd fds[2];
    int n = 0;
    int which[2];
    for (int i = 0; i < 2; ++i) {
      if (!pipes[i]->is_open()) continue;
      fds[n] = {pipes[i]->native_handle(), POLLIN, 0};
      which[n++] = i;
    }
    int timeout = -1;
    if (d != no_deadline) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(d - Clock::now()).count();
      if (left <= 0)
        os::fail(std::make_error_code(std::errc::timed_out), "weft::process: read output");
      timeout = static_cast<int>(std::min<long long>(left, 1'000'000'000));
    }
    int r = ::poll(fds, n, timeout);
    if (r < 0 && errno != EINTR) os::fail(os::errno_code(errno), "weft::process: poll");
    for (int k = 0; k < n && r > 0; ++k) {
      if (!fds[k].revents) continue;
      PipeReader& p = *pipes[which[k]];
      for (;;) {
        ssize_t got = ::read(p.native_handle(), buf, sizeof buf);
        if (got > 0) {
          outs[which[k]]->append(buf, static_cast<std::size_t>(got));
          continue;
        }
        if (got == 0) {
          p.close();
          break;
        }
        int e = errno;
        if (e == EINTR) continue;
        if (e == EAGAIN) break;
        os::fail(os::errno_code(e), "weft::process: read output");
      }
    }
  }
}

// Drained is what the helper fiber of collect_fibers() hands back.
struct Drained {
  std::string data;
  std::error_code ec;
};

// collect_fibers() reads b in a helper fiber of its own (which owns the pipe,
// so it may outlive this frame if we are cancelled) and a in this one.
void collect_fibers(PipeReader& a, std::string& out_a, PipeReader& b, std::string& out_b,
                    Deadline d) {
  auto helper = weft::spawn([p = std::move(b), d]() mutable noexcept {
    Drained got;
    p.read_to_end(got.data, got.ec, d);
    return got;
  });
  std::error_code ec;
  a.read_to_end(out_a, ec, d);
  if (ec) {
    helper.cancel();
    os::fail(ec, "weft::process: read output");
  }
  Drained got;
  try {
    got = helper.join();
  } catch (...) {
    helper.cancel();
    throw;
  }
  if (got.ec) os::fail(got.ec, "weft::process: read output");
  out_b = std::move(got.data);
}

}  // namespace

Output Child::wait_with_output(Deadline d) {
  stdin_.close();
  Output o;
  PipeReader out = take_stdout();
  PipeReader err = take_stderr();
  if (out.is_open() && err.is_open()) {
    if (this_fiber::in_fiber()) {
      collect_fibers(out, o.out, err, o.err, d);
    } else {
      collect_polling(out, o.out, err, o.err, d);
    }
  } else if (out.is_open()) {
    o.out = out.read_to_end(d);
  } else if (err.is_open()) {
    o.err = err.read_to_end(d);
  }
  o.status = wait(d);
  return o;
}

}  // namespace weft::process
