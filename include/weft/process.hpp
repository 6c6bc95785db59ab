// weft::process: start child processes and talk to them through pipes; every
// wait (reading a pipe, waiting for the exit) parks only the calling fiber.
//
//   auto out = weft::process::Command("sh").args({"-c", "echo hi; exit 3"}).output();
//   // out.out == "hi\n", out.status.code() == 3
//
// Children start through posix_spawn() (clone with CLONE_VM|CLONE_VFORK in
// glibc): nothing of the parent runs in the child between the clone and the
// exec, so spawning from a multithreaded runtime is safe. Every descriptor
// weft opens is close-on-exec, so a child gets only its three standard
// streams (and whatever the program itself left without FD_CLOEXEC). The
// child starts with an empty signal mask and SIGPIPE at its default action,
// whatever the parent blocked or ignored; handlers the parent installed are
// reset to the default by exec.
//
// Waiting for the exit uses a pidfd (Linux >= 5.3) that the reactor watches
// (poll(2) on a plain thread). Without pidfds, a fiber polls waitpid(WNOHANG)
// with a backoff from 1 ms to 50 ms, which keeps the wait cancellable and
// bounded by deadlines (a blocking waitpid on the blocking pool could be
// neither), and a plain thread without a deadline blocks in waitid(WNOWAIT).
// Children are waited for by pid, never with waitpid(-1), so other code's
// children are left alone.
//
// Reaping: a Child destroyed before its process was reaped (wait() or
// try_wait() saw the exit) reaps it at once if it has already exited, and
// otherwise hands it to the reaper: one process-wide thread that runs while
// it has children to reap, waits on their pidfds (or polls), reaps each as it
// exits, and then ends. So no zombie is left behind and no runtime thread is
// tied up. With kill_on_drop(true) the Child sends SIGKILL first.
//
// SIGCHLD is left alone; if the program sets it to SIG_IGN the kernel reaps
// children itself and wait() fails with ECHILD.
#pragma once

#include <sys/types.h>

#include <csignal>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <weft/async.hpp>
#include <weft/deadline.hpp>

namespace weft::process {

// Stdio says what a child's standard stream is connected to.
enum class Stdio {
  inherit,  // the parent's own stream
  piped,    // a pipe whose other end the Child holds (stdin()/stdout()/stderr())
  null,     // /dev/null
};

// ExitStatus is how a child ended: an exit code or a terminating signal.
class ExitStatus {
 public:
  ExitStatus() noexcept = default;
  // from_raw() takes a waitpid() status word.
  static ExitStatus from_raw(int status) noexcept { return ExitStatus(status); }

  // code() is the exit code when the child exited, empty when a signal ended it.
  std::optional<int> code() const noexcept;
  // signal() is the signal that ended the child, empty when it exited.
  std::optional<int> signal() const noexcept;
  // core_dumped() is true when the signal also left a core dump.
  bool core_dumped() const noexcept;
  // success() is true for exit code 0.
  bool success() const noexcept { return code() == 0; }
  // raw() is the waitpid() status word.
  int raw() const noexcept { return status_; }
  // to_string() is "exit code 3" or "signal 9 (SIGKILL)".
  std::string to_string() const;

  friend bool operator==(const ExitStatus& a, const ExitStatus& b) noexcept {
    return a.status_ == b.status_;
  }

 private:
  explicit ExitStatus(int status) noexcept : status_(status) {}
  int status_ = 0;
};

// Output is what Command::output() and Child::wait_with_output() collect.
struct Output {
  ExitStatus status;
  std::string out;  // everything the child wrote to its stdout
  std::string err;  // everything the child wrote to its stderr
};

// PipeReader is the parent's end of a child's stdout or stderr. Calls that
// wait take a deadline (and honour the fiber's deadline scope); the throwing
// forms throw std::system_error (timed_out, ...) and weft::Cancelled in a
// cancelled fiber; the no-throw forms set ec (operation_canceled, ...).
// One fiber at a time may read from a pipe.
class PipeReader {
 public:
  PipeReader() noexcept = default;
  explicit PipeReader(OwnedFd fd);
  PipeReader(PipeReader&&) noexcept = default;
  PipeReader& operator=(PipeReader&&) noexcept = default;

  // read_some() reads up to n bytes once some are there; 0 means the child
  // closed its end (end of stream), unless n is 0.
  std::size_t read_some(void* buf, std::size_t n, Deadline d = no_deadline);
  std::size_t read_some(void* buf, std::size_t n, std::error_code& ec,
                        Deadline d = no_deadline) noexcept;

  // read_to_end() reads until end of stream. The no-throw form appends to
  // out what it read (also before an error) and returns how many bytes.
  std::string read_to_end(Deadline d = no_deadline);
  std::size_t read_to_end(std::string& out, std::error_code& ec, Deadline d = no_deadline) noexcept;

  // close() closes the parent's end; a later call fails with EBADF.
  void close() noexcept { io_.reset(); }
  bool is_open() const noexcept { return io_.has_value(); }
  int native_handle() const noexcept { return io_ ? io_->native_handle() : -1; }

 private:
  std::optional<Async<OwnedFd>> io_;
};

// PipeWriter is the parent's end of a child's stdin. Writes never raise
// SIGPIPE: writing after the child closed its stdin (or exited) fails with
// EPIPE. Close it (or let wait() do so) to give the child end of stream.
class PipeWriter {
 public:
  PipeWriter() noexcept = default;
  explicit PipeWriter(OwnedFd fd);
  PipeWriter(PipeWriter&&) noexcept = default;
  PipeWriter& operator=(PipeWriter&&) noexcept = default;

  // write_some() writes some of the n bytes (at least one) once the pipe has
  // room, and returns how many.
  std::size_t write_some(const void* buf, std::size_t n, Deadline d = no_deadline);
  std::size_t write_some(const void* buf, std::size_t n, std::error_code& ec,
                         Deadline d = no_deadline) noexcept;

  // write_all() writes all n bytes. The no-throw form returns the bytes it
  // wrote before an error.
  void write_all(const void* buf, std::size_t n, Deadline d = no_deadline);
  void write_all(std::string_view s, Deadline d = no_deadline) { write_all(s.data(), s.size(), d); }
  std::size_t write_all(const void* buf, std::size_t n, std::error_code& ec,
                        Deadline d = no_deadline) noexcept;

  void close() noexcept { io_.reset(); }
  bool is_open() const noexcept { return io_.has_value(); }
  int native_handle() const noexcept { return io_ ? io_->native_handle() : -1; }

 private:
  std::optional<Async<OwnedFd>> io_;
};

namespace detail {
struct ChildState;
}

// Child is a running (or finished, not yet dropped) child process. Movable,
// not copyable. Must not outlive the runtime of the fiber that spawned it
// while its pipes are open (they are registered with that runtime's reactor).
class Child {
 public:
  Child() noexcept;
  Child(Child&&) noexcept;
  Child& operator=(Child&&) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  // ~Child() reaps the process or hands it to the reaper (see above), after
  // SIGKILL if the Command asked for kill_on_drop.
  ~Child();

  // pid() is the child's process id (0 for an empty Child). Once the child
  // is reaped the number may belong to another process.
  pid_t pid() const noexcept;

  // stdin()/stdout()/stderr() are the parent's ends of the piped streams.
  // Throws std::logic_error for a stream that was not Stdio::piped.
  PipeWriter& stdin();
  PipeReader& stdout();
  PipeReader& stderr();
  // take_*() move a pipe out (to hand it to another fiber); an empty pipe
  // when the stream was not piped or was taken already.
  PipeWriter take_stdin() noexcept { return std::move(stdin_); }
  PipeReader take_stdout() noexcept { return std::move(stdout_); }
  PipeReader take_stderr() noexcept { return std::move(stderr_); }

  // wait() closes the child's stdin pipe (so a child reading it sees end of
  // stream instead of waiting for ever), then waits for the child to end and
  // reaps it; later calls return the same status. Throws std::system_error
  // (timed_out: the child keeps running and may be waited for again) and
  // weft::Cancelled in a cancelled fiber; the no-throw form returns empty and
  // sets ec.
  ExitStatus wait(Deadline d = no_deadline);
  std::optional<ExitStatus> wait(std::error_code& ec, Deadline d = no_deadline) noexcept;

  // try_wait() reaps the child if it has ended, without waiting.
  std::optional<ExitStatus> try_wait();
  std::optional<ExitStatus> try_wait(std::error_code& ec) noexcept;

  // kill() sends sig (SIGKILL by default) through the pidfd, which cannot hit
  // another process that reused the pid. A no-op once the child is reaped.
  void kill(int sig = SIGKILL);
  bool kill(int sig, std::error_code& ec) noexcept;

  // wait_with_output() closes stdin, reads the piped stdout and stderr to
  // their ends at the same time (a child filling one pipe while the parent
  // reads the other cannot deadlock), then waits. Streams that are not piped
  // come back empty.
  Output wait_with_output(Deadline d = no_deadline);

 private:
  friend class Command;

  std::unique_ptr<detail::ChildState> state_;
  PipeWriter stdin_;
  PipeReader stdout_;
  PipeReader stderr_;
};

// Command describes a process to start: program, arguments, environment,
// working directory and standard streams. Setters return *this.
class Command {
 public:
  // program is a path, or a name looked up in the PATH of the child's
  // environment (the parent's when the Command does not set PATH).
  explicit Command(std::string program);

  Command& arg(std::string a);
  Command& args(std::initializer_list<std::string_view> as);
  Command& args(const std::vector<std::string>& as);

  // env() sets a variable for the child; env_remove() takes one away;
  // env_clear() starts from an empty environment instead of the parent's.
  // Without any of them the child inherits the parent's environment.
  Command& env(std::string key, std::string value);
  Command& env_remove(std::string key);
  Command& env_clear();

  // current_dir() is the child's working directory (default: the parent's).
  // A relative program path containing '/' is looked up from there.
  Command& current_dir(std::filesystem::path dir);

  // stdin()/stdout()/stderr() connect the standard streams. Default:
  // Stdio::inherit for spawn() and status(); output() pipes stdout and stderr
  // and gives stdin /dev/null unless set here.
  Command& stdin(Stdio s);
  Command& stdout(Stdio s);
  Command& stderr(Stdio s);

  // process_group() puts the child in process group pgid (0: a new group
  // led by the child), so that a Ctrl-C meant for the parent's group does not
  // reach it.
  Command& process_group(pid_t pgid);

  // kill_on_drop() makes a Child that is destroyed without being reaped send
  // SIGKILL to its process first. Default false.
  Command& kill_on_drop(bool on);

  // spawn() starts the process; it returns once the child has called exec
  // (posix_spawn waits that long, typically well under a millisecond, on the
  // calling thread). Errors (no such program, not executable,
  // bad working directory, out of descriptors) throw std::system_error whose
  // message names the program; the no-throw form returns an empty Child.
  Child spawn() const;
  Child spawn(std::error_code& ec) const;

  // output() spawns, collects stdout and stderr and waits (see
  // Child::wait_with_output()). If it gives up (the deadline passes, the
  // fiber is cancelled, a read fails) it sends the child SIGKILL, since
  // nothing else can reach it, and the reaper collects it.
  Output output(Deadline d = no_deadline) const;

  // status() spawns with the streams as configured and waits; it gives up as
  // output() does.
  ExitStatus status(Deadline d = no_deadline) const;

  const std::string& program() const noexcept { return program_; }
  const std::vector<std::string>& arguments() const noexcept { return args_; }

 private:
  Child spawn_with(Stdio in, Stdio out, Stdio err, std::error_code& ec) const;

  std::string program_;
  std::vector<std::string> args_;  // after argv[0]
  // env_ holds the variables set (a value) or removed (empty optional).
  std::map<std::string, std::optional<std::string>> env_;
  bool env_clear_ = false;
  std::optional<std::filesystem::path> cwd_;
  std::optional<Stdio> stdin_, stdout_, stderr_;
  std::optional<pid_t> pgroup_;
  bool kill_on_drop_ = false;
};

namespace detail {
// use_pidfd() turns pidfds off (false) or back on, to exercise the polling
// path in tests. Affects children spawned afterwards.
void use_pidfd(bool on) noexcept;
}  // namespace detail

}  // namespace weft::process
