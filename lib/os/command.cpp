// Command::spawn(): argv, environment, PATH lookup, pipes and posix_spawn().
//
// posix_spawn() in glibc clones with CLONE_VM|CLONE_VFORK and runs only its
// own async-signal-safe code before the exec, so it is safe in a process with
// many threads (fork() would copy one thread holding whatever locks the
// others had). Its result carries the exec's error, so "no such program"
// comes back from the call itself.
//
// The program is looked up here rather than with posix_spawnp(), so that a
// PATH set on the Command applies (as it will in the child) and so that the
// error for a missing program is ENOENT even when some PATH entry holds an
// unrelated non-executable file of that name (then EACCES, as execvp says).
//
// Every descriptor is made close-on-exec as it is opened (pipe2, O_CLOEXEC),
// never by a later fcntl, so a spawn racing in another thread cannot inherit
// it. The child's ends reach fds 0-2 by dup2 in the file actions, which clears
// close-on-exec on the copy; they are first moved to fds >= 3 so that no dup2
// is a no-op that would leave the flag set.
#include <weft/process.hpp>

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <weft/errors.hpp>

#include "child_state.hpp"
#include "os_error.hpp"
#include "pidfd.hpp"

extern char** environ;

namespace weft::process {

namespace detail {
namespace {
std::atomic<bool> pidfd_enabled{true};
}
void use_pidfd(bool on) noexcept { pidfd_enabled.store(on, std::memory_order_relaxed); }
}  // namespace detail

namespace {

// Spawn attributes and file actions, destroyed on every path out.
struct SpawnAttr {
  posix_spawnattr_t attr;
  SpawnAttr() { posix_spawnattr_init(&attr); }
  ~SpawnAttr() { posix_spawnattr_destroy(&attr); }
};
struct FileActions {
  posix_spawn_file_actions_t fa;
  FileActions() { posix_spawn_file_actions_init(&fa); }
  ~FileActions() { posix_spawn_file_actions_destroy(&fa); }
};

// A pipe: the parent keeps one end, the child gets the other.
struct PipeEnds {
  OwnedFd parent;
  OwnedFd child;
};

// above_stdio() moves fd to a number >= 3 (close-on-exec), closing the old one.
int above_stdio(int fd) noexcept {
  if (fd > 2) return fd;
  int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  int e = errno;
  ::close(fd);
  errno = e;
  return moved;
}

// make_pipe() opens a pipe; child_reads says which end the child gets.
int make_pipe(bool child_reads, PipeEnds& ends) noexcept {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return errno;
  int child = child_reads ? fds[0] : fds[1];
  int parent = child_reads ? fds[1] : fds[0];
  ends.parent.reset(parent);
  child = above_stdio(child);
  if (child < 0) return errno;
  ends.child.reset(child);
  return 0;
}

// search_path() finds program in the colon-separated dirs; 0 with `found`
// set, or ENOENT / EACCES (a match that cannot be executed).
int search_path(const std::string& program, const std::string& dirs, std::string& found) {
  int err = ENOENT;
  std::size_t start = 0;
  for (;;) {
    std::size_t colon = dirs.find(':', start);
    std::string_view dir = std::string_view(dirs).substr(
        start, colon == std::string::npos ? std::string::npos : colon - start);
    if (dir.empty()) dir = ".";  // an empty entry means the current directory
    std::string candidate;
    candidate.reserve(dir.size() + 1 + program.size());
    candidate.append(dir).append(1, '/').append(program);
    struct stat st;
    if (::stat(candidate.c_str(), &st) == 0) {
      if (S_ISREG(st.st_mode) && ::access(candidate.c_str(), X_OK) == 0) {
        found = std::move(candidate);
        return 0;
      }
      err = EACCES;
    }
    if (colon == std::string::npos) return err;
    start = colon + 1;
  }
}

// dup_or_null() connects the child's fd `target` as `how` says.
int connect_stdio(posix_spawn_file_actions_t* fa, int target, Stdio how,
                  const PipeEnds& ends) noexcept {
  switch (how) {
    case Stdio::inherit:
      return 0;
    case Stdio::piped:
      return posix_spawn_file_actions_adddup2(fa, ends.child.native_handle(), target);
    case Stdio::null:
      return posix_spawn_file_actions_addopen(fa, target, "/dev/null",
                                              target == 0 ? O_RDONLY : O_WRONLY, 0);
  }
  return EINVAL;
}

std::error_code code(int e) noexcept { return {e, std::generic_category()}; }

[[noreturn]] void spawn_failed(std::error_code ec, const std::string& program,
                               const std::optional<std::filesystem::path>& cwd) {
  std::string what = "weft::process: cannot spawn '" + program + "'";
  if (cwd) what += " in directory '" + cwd->string() + "'";
  throw std::system_error(ec, what);
}

}  // namespace

Command::Command(std::string program) : program_(std::move(program)) {}

Command& Command::arg(std::string a) {
  args_.push_back(std::move(a));
  return *this;
}

Command& Command::args(std::initializer_list<std::string_view> as) {
  for (auto a : as) args_.emplace_back(a);
  return *this;
}

Command& Command::args(const std::vector<std::string>& as) {
  args_.insert(args_.end(), as.begin(), as.end());
  return *this;
}

Command& Command::env(std::string key, std::string value) {
  env_[std::move(key)] = std::move(value);
  return *this;
}

Command& Command::env_remove(std::string key) {
  env_[std::move(key)] = std::nullopt;
  return *this;
}

Command& Command::env_clear() {
  env_clear_ = true;
  env_.clear();
  return *this;
}

Command& Command::current_dir(std::filesystem::path dir) {
  cwd_ = std::move(dir);
  return *this;
}

Command& Command::stdin(Stdio s) {
  stdin_ = s;
  return *this;
}

Command& Command::stdout(Stdio s) {
  stdout_ = s;
  return *this;
}

Command& Command::stderr(Stdio s) {
  stderr_ = s;
  return *this;
}

Command& Command::process_group(pid_t pgid) {
  pgroup_ = pgid;
  return *this;
}

Command& Command::kill_on_drop(bool on) {
  kill_on_drop_ = on;
  return *this;
}

Child Command::spawn(std::error_code& ec) const {
  try {
    return spawn_with(stdin_.value_or(Stdio::inherit), stdout_.value_or(Stdio::inherit),
                      stderr_.value_or(Stdio::inherit), ec);
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return Child();
  }
}

Child Command::spawn() const {
  std::error_code ec;
  Child c = spawn_with(stdin_.value_or(Stdio::inherit), stdout_.value_or(Stdio::inherit),
                       stderr_.value_or(Stdio::inherit), ec);
  if (ec) spawn_failed(ec, program_, cwd_);
  return c;
}

Child Command::spawn_with(Stdio in, Stdio out, Stdio err, std::error_code& ec) const {
  ec.clear();
  // The environment: the parent's unless cleared, with the Command's changes.
  std::vector<std::string> env_store;
  std::optional<std::string> path_var;
  const bool custom_env = env_clear_ || !env_.empty();
  if (custom_env) {
    if (!env_clear_) {
      for (char** e = environ; e && *e; ++e) {
        std::string_view kv(*e);
        auto eq = kv.find('=');
        std::string key(kv.substr(0, eq));
        if (env_.count(key)) continue;  // set or removed below
        env_store.emplace_back(kv);
        if (key == "PATH" && eq != std::string_view::npos)
          path_var = std::string(kv.substr(eq + 1));
      }
    }
    for (const auto& [key, value] : env_) {
      if (!value) continue;
      env_store.push_back(key + "=" + *value);
      if (key == "PATH") path_var = *value;
    }
  } else if (const char* p = std::getenv("PATH")) {
    path_var = p;
  }
  std::vector<char*> envp;
  for (auto& kv : env_store) envp.push_back(kv.data());
  envp.push_back(nullptr);

  // The program's path.
  std::string path;
  if (program_.find('/') != std::string::npos) {
    path = program_;
  } else if (program_.empty()) {
    ec = code(ENOENT);
    return Child();
  } else {
    // confstr(_CS_PATH) is what execvp falls back to without PATH.
    int e = search_path(program_, path_var.value_or("/bin:/usr/bin"), path);
    if (e != 0) {
      ec = code(e);
      return Child();
    }
    if (cwd_ && path[0] != '/') {
      // Found relative to our directory; the child will be in another.
      std::error_code abs_ec;
      auto abs = std::filesystem::absolute(path, abs_ec);
      if (abs_ec) {
        ec = abs_ec;
        return Child();
      }
      path = abs.string();
    }
  }

  std::vector<char*> argv;
  std::string argv0 = program_;
  argv.push_back(argv0.data());
  std::vector<std::string> args = args_;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  PipeEnds pipes[3];
  const Stdio how[3] = {in, out, err};
  FileActions fa;
  SpawnAttr attr;
  for (int i = 0; i < 3; ++i) {
    if (how[i] == Stdio::piped) {
      if (int e = make_pipe(i == 0, pipes[i])) {
        ec = code(e);
        return Child();
      }
    }
  }
  for (int i = 0; i < 3; ++i) {
    if (int e = connect_stdio(&fa.fa, i, how[i], pipes[i])) {
      ec = code(e);
      return Child();
    }
  }
  if (cwd_) {
    if (int e = posix_spawn_file_actions_addchdir_np(&fa.fa, cwd_->c_str())) {
      ec = code(e);
      return Child();
    }
  }
  // The child starts with no signal blocked (whatever this thread blocks for
  // Signals) and SIGPIPE at its default action even if the parent ignores it.
  sigset_t none, pipe_only;
  sigemptyset(&none);
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  posix_spawnattr_setsigmask(&attr.attr, &none);
  posix_spawnattr_setsigdefault(&attr.attr, &pipe_only);
  if (pgroup_) {
    flags |= POSIX_SPAWN_SETPGROUP;
    posix_spawnattr_setpgroup(&attr.attr, *pgroup_);
  }
  posix_spawnattr_setflags(&attr.attr, flags);

  // Allocated first: once the process exists, nothing may fail before a
  // Child owns it.
  auto state = std::make_unique<detail::ChildState>();
  pid_t pid = 0;
  int e = ::posix_spawn(&pid, path.c_str(), &fa.fa, &attr.attr, argv.data(),
                        custom_env ? envp.data() : environ);
  if (e != 0) {
    ec = code(e);
    return Child();
  }
  // The child has its copies now.
  for (auto& p : pipes) p.child.reset();

  Child child;
  child.state_ = std::move(state);
  child.state_->pid = pid;
  child.state_->kill_on_drop = kill_on_drop_;
  // From here on the Child owns the process: on any failure its destructor
  // reaps it (or hands it to the reaper).
  if (detail::pidfd_enabled.load(std::memory_order_relaxed)) {
    int fd = detail::pidfd_open(pid);
    if (fd >= 0) {
      try {
        child.state_->pidfd.emplace(OwnedFd(fd));
      } catch (const std::system_error&) {
        // Cannot register it (the reactor is full): wait by polling.
      }
    }
  }
  try {
    if (pipes[0].parent) child.stdin_ = PipeWriter(std::move(pipes[0].parent));
    if (pipes[1].parent) child.stdout_ = PipeReader(std::move(pipes[1].parent));
    if (pipes[2].parent) child.stderr_ = PipeReader(std::move(pipes[2].parent));
  } catch (const std::system_error& x) {
    // The caller gets an error and never sees this process: do not leave it
    // running (the Child's destructor kills it, then reaps it).
    ec = x.code();
    child.state_->kill_on_drop = true;
    return Child();
  }
  return child;
}

Output Command::output(Deadline d) const {
  std::error_code ec;
  Child c = spawn_with(stdin_.value_or(Stdio::null), stdout_.value_or(Stdio::piped),
                       stderr_.value_or(Stdio::piped), ec);
  if (ec) spawn_failed(ec, program_, cwd_);
  try {
    return c.wait_with_output(d);
  } catch (...) {
    // Given up on (deadline, cancellation, read error): nobody else can
    // reach this child, so do not leave it running.
    c.kill(SIGKILL, ec);
    throw;
  }
}

ExitStatus Command::status(Deadline d) const {
  Child c = spawn();
  try {
    return c.wait(d);
  } catch (...) {
    std::error_code ec;
    c.kill(SIGKILL, ec);
    throw;
  }
}

}  // namespace weft::process
