// weft::process: output() and exit statuses, pipes read while the child is
// killed, stdin piping, environment and working directory, spawn errors,
// reaping (no zombie, whatever happens to the Child), no leaked descriptor,
// cancellation of a fiber waiting on a child, and the pidfd-less fallback.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <string>

#include <weft/process.hpp>
#include <weft/signals.hpp>

#include "support.hpp"

using namespace os_test;
using weft::process::Command;
using weft::process::Stdio;

namespace {

// Fallback runs the rest of a case with pidfds off when `on` is set.
struct Fallback {
  explicit Fallback(bool on) : on_(on) { weft::process::detail::use_pidfd(!on); }
  ~Fallback() { weft::process::detail::use_pidfd(true); }
  bool on_;
};

#define PIDFD_SUBCASES(var)                   \
  bool var = false;                           \
  SUBCASE("pidfd") { var = false; }           \
  SUBCASE("polling fallback") { var = true; } \
  CAPTURE(var);                               \
  Fallback fallback_guard_(var)

void write_file(const std::filesystem::path& p, const std::string& s, mode_t mode) {
  {
    std::ofstream out(p);
    out << s;
  }
  chmod(p.c_str(), mode);
}

}  // namespace

TEST_CASE("output() collects stdout, stderr and the exit code") {
  WEFT_WORKER_SUBCASES(workers);
  PIDFD_SUBCASES(polling);
  Watchdog dog(60s, "output");
  weft::Runtime rt(config(workers));
  auto out = rt.block_on([] {
    return Command("sh")
        .args({"-c", "echo out; echo err >&2; exit 3"})
        .output(weft::deadline_in(20s));
  });
  CHECK(out.out == "out\n");
  CHECK(out.err == "err\n");
  CHECK(out.status.code() == 3);
  CHECK_FALSE(out.status.signal().has_value());
  CHECK_FALSE(out.status.success());
  CHECK(out.status.to_string() == "exit code 3");
  CHECK(no_children());
}

TEST_CASE("output() on a plain thread, and a child that fills both pipes") {
  Watchdog dog(60s, "plain output");
  // Each stream is several pipe buffers long: reading one to its end before
  // the other would deadlock.
  const char* script =
      "head -c 1000000 /dev/zero | tr '\\0' e >&2; head -c 700000 /dev/zero | tr '\\0' o; exit 0";
  auto check = [](const weft::process::Output& o) {
    CHECK(o.status.success());
    CHECK(o.err.size() == 1000000);
    CHECK(o.out.size() == 700000);
    CHECK(o.err.find_first_not_of('e') == std::string::npos);
    CHECK(o.out.find_first_not_of('o') == std::string::npos);
  };
  SUBCASE("plain thread") {
    check(Command("sh").args({"-c", script}).output(weft::deadline_in(30s)));
  }
  SUBCASE("fiber") {
    weft::Runtime rt(config(2));
    check(rt.block_on([&] {
      return Command("sh").args({"-c", script}).output(weft::deadline_in(30s));
    }));
  }
  CHECK(no_children());
}

TEST_CASE("a child killed while its pipes are read: the reader sees EOF, wait() the signal") {
  WEFT_WORKER_SUBCASES(workers);
  PIDFD_SUBCASES(polling);
  Watchdog dog(60s, "killed child");
  weft::Runtime rt(config(workers));
  rt.block_on([] {
    // exec: the sleep itself holds the pipes, so its death closes them.
    auto child = Command("sh")
                     .args({"-c", "echo ready >&2; exec sleep 30"})
                     .stdout(Stdio::piped)
                     .stderr(Stdio::piped)
                     .spawn();
    CHECK(child.pid() > 0);
    auto reader = weft::spawn(
        [out = child.take_stdout()]() mutable { return out.read_to_end(weft::deadline_in(20s)); });
    // Once "ready" arrives the child runs and the reader is (or soon is) parked.
    char buf[16];
    std::size_t n = child.stderr().read_some(buf, sizeof buf, weft::deadline_in(20s));
    CHECK(std::string(buf, n) == "ready\n");
    CHECK_FALSE(child.try_wait().has_value());
    child.kill();
    CHECK(reader.join() == "");  // end of stream, no error
    auto st = child.wait(weft::deadline_in(20s));
    CHECK(st.signal() == SIGKILL);
    CHECK_FALSE(st.code().has_value());
    CHECK(st.to_string() == "signal 9 (SIGKILL)");
    // Later calls give the same status; kill() of a reaped child is a no-op.
    CHECK(child.wait() == st);
    CHECK(child.try_wait() == st);
    child.kill();
    CHECK(child.stderr().read_to_end(weft::deadline_in(20s)) == "");
  });
  CHECK(no_children());
}

TEST_CASE("stdin piping: cat echoes what the parent writes") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "cat");
  weft::Runtime rt(config(workers));
  rt.block_on([] {
    auto child = Command("cat").stdin(Stdio::piped).stdout(Stdio::piped).spawn();
    std::string data;
    for (int i = 0; data.size() < 300000; ++i) data += "line " + std::to_string(i) + "\n";
    // Write in one fiber, read in another: each side fills a pipe buffer.
    auto writer = weft::spawn([in = child.take_stdin(), &data]() mutable {
      in.write_all(data, weft::deadline_in(20s));
      in.close();  // end of stream for cat
    });
    std::string echoed = child.stdout().read_to_end(weft::deadline_in(20s));
    writer.join();
    CHECK(echoed.size() == data.size());
    CHECK(echoed == data);
    CHECK(child.wait(weft::deadline_in(20s)).success());
  });
  CHECK(no_children());
}

TEST_CASE("writing to a child that is gone fails with EPIPE instead of killing us") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "EPIPE");
  weft::Runtime rt(config(workers));
  rt.block_on([] {
    auto child = Command("true").stdin(Stdio::piped).spawn();
    auto in = child.take_stdin();
    CHECK(child.wait(weft::deadline_in(20s)).success());
    std::string big(1 << 20, 'x');
    std::error_code ec;
    in.write_all(big.data(), big.size(), ec, weft::deadline_in(20s));
    CHECK(ec == std::errc::broken_pipe);
    CHECK_THROWS_AS(in.write_all("more", weft::deadline_in(20s)), std::system_error);
    // No SIGPIPE was left pending either.
    sigset_t pending;
    sigpending(&pending);
    CHECK_FALSE(sigismember(&pending, SIGPIPE));
  });
}

TEST_CASE("environment and working directory") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "env and cwd");
  ScratchDir dir;
  ::setenv("WEFT_TEST_KEEP", "kept", 1);
  ::setenv("WEFT_TEST_DROP", "dropped", 1);
  weft::Runtime rt(config(workers));
  rt.block_on([&] {
    auto o =
        Command("sh")
            .args(
                {"-c", "echo \"$WEFT_TEST_KEEP|${WEFT_TEST_DROP-unset}|$WEFT_TEST_NEW|$(pwd -P)\""})
            .env("WEFT_TEST_NEW", "new value")
            .env_remove("WEFT_TEST_DROP")
            .current_dir(dir.path())
            .output(weft::deadline_in(20s));
    CHECK(o.status.success());
    CHECK(o.out ==
          "kept|unset|new value|" + std::filesystem::canonical(dir.path()).string() + "\n");

    // A cleared environment holds only what the Command sets; without PATH
    // the program is looked up in /bin:/usr/bin.
    auto e = Command("env").env_clear().env("ONLY", "1").output(weft::deadline_in(20s));
    CHECK(e.status.success());
    CHECK(e.out == "ONLY=1\n");

    // PATH set on the Command is the one searched.
    write_file(dir.path() / "weft-hello", "#!/bin/sh\necho hello from $0\n", 0755);
    auto h = Command("weft-hello").env("PATH", dir.path().string()).output(weft::deadline_in(20s));
    CHECK(h.status.success());
    CHECK(h.out == "hello from " + (dir.path() / "weft-hello").string() + "\n");

    // Entries are tried in order; an empty one is the current directory.
    auto later = Command("weft-hello")
                     .env("PATH", "/nonexistent-weft-dir:" + dir.path().string())
                     .output(weft::deadline_in(20s));
    CHECK(later.out == "hello from " + (dir.path() / "weft-hello").string() + "\n");
    const auto cwd = std::filesystem::current_path();
    std::filesystem::current_path(dir.path());
    auto here =
        Command("weft-hello").env("PATH", "/nonexistent-weft-dir:").output(weft::deadline_in(20s));
    std::filesystem::current_path(cwd);
    CHECK(here.status.success());
    CHECK(here.out == "hello from ./weft-hello\n");

    // The child starts with no signal blocked, even though this thread blocks
    // one for a Signals object.
    weft::Signals sigs{SIGRTMIN + 9};
    auto m =
        Command("sh").args({"-c", "grep SigBlk /proc/self/status"}).output(weft::deadline_in(20s));
    CHECK(m.out == "SigBlk:\t0000000000000000\n");
  });
  CHECK(no_children());
}

TEST_CASE("spawn errors name the program") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "spawn errors");
  ScratchDir dir;
  auto spawn_error = [](const Command& c) -> std::system_error {
    try {
      c.spawn();
    } catch (const std::system_error& e) {
      return e;
    }
    FAIL("spawn did not fail");
    return std::system_error(std::error_code());
  };
  weft::Runtime rt(config(workers));
  rt.block_on([&] {
    auto missing = spawn_error(Command("weft-no-such-program"));
    CHECK(missing.code() == std::errc::no_such_file_or_directory);
    CHECK(std::string(missing.what()).find("weft-no-such-program") != std::string::npos);

    auto missing_path = spawn_error(Command("/nonexistent/dir/prog"));
    CHECK(missing_path.code() == std::errc::no_such_file_or_directory);
    CHECK(std::string(missing_path.what()).find("/nonexistent/dir/prog") != std::string::npos);

    write_file(dir.path() / "not-executable", "#!/bin/sh\n", 0644);
    auto denied = spawn_error(Command((dir.path() / "not-executable").string()));
    CHECK(denied.code() == std::errc::permission_denied);
    CHECK(std::string(denied.what()).find("not-executable") != std::string::npos);
    auto denied_in_path = spawn_error(Command("not-executable").env("PATH", dir.path().string()));
    CHECK(denied_in_path.code() == std::errc::permission_denied);

    auto bad_dir = spawn_error(Command("true").current_dir(dir.path() / "missing"));
    CHECK(bad_dir.code() == std::errc::no_such_file_or_directory);
    CHECK(std::string(bad_dir.what()).find("missing") != std::string::npos);

    std::error_code ec;
    auto none = Command("weft-no-such-program").spawn(ec);
    CHECK(ec == std::errc::no_such_file_or_directory);
    CHECK(none.pid() == 0);
  });
  CHECK(no_children());
}

TEST_CASE("a Child dropped without wait is reaped, by the reaper if it still runs") {
  WEFT_WORKER_SUBCASES(workers);
  PIDFD_SUBCASES(polling);
  Watchdog dog(60s, "reaper");
  const int fds_before = fd_count();
  {
    weft::Runtime rt(config(workers));
    rt.block_on([] {
      // Still running when dropped: the reaper takes it.
      { auto c = Command("sleep").arg("0.2").spawn(); }
      // Exited already when dropped: reaped on the spot.
      {
        auto c = Command("true").stdout(Stdio::piped).spawn();
        c.stdout().read_to_end(weft::deadline_in(20s));
      }
      // kill_on_drop: would run 30 s, but is killed and reaped at once.
      { auto c = Command("sleep").arg("30").kill_on_drop(true).spawn(); }
      // Pipes still open when dropped.
      {
        auto c =
            Command("cat").stdin(Stdio::piped).stdout(Stdio::piped).stderr(Stdio::piped).spawn();
      }
    });
  }
  CHECK(wait_until(no_children, 20s));
  // No pipe, pidfd or reaper descriptor left behind.
  CHECK(wait_until([&] { return fd_count() == fds_before; }, 10s));
  CHECK(fd_count() == fds_before);
}

TEST_CASE("no descriptor leaks across many spawns") {
  Watchdog dog(120s, "fd leaks");
  const int fds_before = fd_count();
  {
    weft::Runtime rt(config(2));
    rt.block_on([] {
      for (int i = 0; i < 50; ++i) {
        auto o =
            Command("sh").args({"-c", "echo $0", std::to_string(i)}).output(weft::deadline_in(20s));
        REQUIRE(o.out == std::to_string(i) + "\n");
      }
      // The child gets its three standard streams and nothing weft opened:
      // 0, 1, 2, the directory ls reads, and whatever this process inherited
      // without close-on-exec from the one that started it.
      int inherited = 0;
      for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
        int fd = std::stoi(e.path().filename().string());
        int flags = fcntl(fd, F_GETFD);
        if (fd > 2 && flags >= 0 && !(flags & FD_CLOEXEC)) ++inherited;
      }
      auto o = Command("sh")
                   .args({"-c", "ls /proc/self/fd | wc -l"})
                   .stdin(Stdio::null)
                   .output(weft::deadline_in(20s));
      CHECK(std::stoi(o.out) == 4 + inherited);
    });
  }
  CHECK(wait_until([&] { return fd_count() == fds_before; }, 10s));
  CHECK(no_children());
}

TEST_CASE("cancelling a fiber that waits on a child: Cancelled, and the child is still reaped") {
  WEFT_WORKER_SUBCASES(workers);
  PIDFD_SUBCASES(polling);
  Watchdog dog(60s, "cancel wait");
  weft::Runtime rt(config(workers));
  rt.block_on([] {
    std::atomic<pid_t> pid{0};
    auto waiter = weft::spawn([&] {
      // cat runs until its stdin closes, which happens only as this frame
      // unwinds (in goes first, then child hands the process to the reaper),
      // so the cancel always finds it running.
      auto child = Command("cat").stdin(Stdio::piped).spawn();
      auto in = child.take_stdin();
      pid = child.pid();
      return child.wait(weft::deadline_in(20s));
    });
    waiter.cancel();
    CHECK_THROWS_AS(waiter.join(), weft::Cancelled);
    CHECK(pid.load() > 0);

    // output() gives up on cancellation, and kills the child it hides.
    auto collector =
        weft::spawn([] { return Command("sleep").arg("30").output(weft::deadline_in(20s)); });
    collector.cancel();
    CHECK_THROWS_AS(collector.join(), weft::Cancelled);
  });
  CHECK(wait_until(no_children, 20s));
}

TEST_CASE("wait deadlines, try_wait, and statuses from signals") {
  WEFT_WORKER_SUBCASES(workers);
  PIDFD_SUBCASES(polling);
  Watchdog dog(60s, "wait deadline");
  weft::Runtime rt(config(workers));
  rt.block_on([] {
    auto child = Command("sleep").arg("30").spawn();
    auto t0 = Clock::now();
    try {
      child.wait(weft::deadline_in(50ms));
      FAIL("wait did not time out");
    } catch (const std::system_error& e) {
      CHECK(e.code() == std::errc::timed_out);
    }
    CHECK(ms_since(t0) >= 50);
    std::error_code ec;
    CHECK_FALSE(child.wait(ec, weft::deadline_in(10ms)).has_value());
    CHECK(ec == std::errc::timed_out);
    CHECK_FALSE(child.try_wait().has_value());
    bool scoped_out = false;
    try {
      weft::with_timeout(20ms, [&] { return child.wait(); });
    } catch (const std::system_error& e) {
      scoped_out = e.code() == std::errc::timed_out;
    }
    CHECK(scoped_out);
    child.kill(SIGTERM);
    auto st = child.wait(weft::deadline_in(20s));
    CHECK(st.signal() == SIGTERM);

    auto self_killed = Command("sh").args({"-c", "kill -USR1 $$"}).status(weft::deadline_in(20s));
    CHECK(self_killed.signal() == SIGUSR1);
    CHECK(Command("true").status(weft::deadline_in(20s)).success());
    CHECK(Command("false").status(weft::deadline_in(20s)).code() == 1);
  });
  CHECK(no_children());
}

TEST_CASE("wait on a plain thread") {
  PIDFD_SUBCASES(polling);
  Watchdog dog(30s, "plain wait");
  auto child = Command("sh").args({"-c", "exit 7"}).spawn();
  CHECK(child.wait().code() == 7);
  auto sleeper = Command("sleep").arg("30").spawn();
  std::error_code ec;
  CHECK_FALSE(sleeper.wait(ec, weft::deadline_in(20ms)).has_value());
  CHECK(ec == std::errc::timed_out);
  sleeper.kill();
  CHECK(sleeper.wait(weft::deadline_in(20s)).signal() == SIGKILL);
  CHECK(no_children());
}

TEST_CASE("process_group(0) makes the child lead a group of its own") {
  Watchdog dog(30s, "process group");
  weft::Runtime rt(config(2));
  rt.block_on([] {
    // Field 5 of /proc/<pid>/stat is the process group; exec keeps the pid.
    auto child = Command("sh")
                     .args({"-c", "exec cut -d' ' -f5 /proc/self/stat"})
                     .process_group(0)
                     .stdout(Stdio::piped)
                     .spawn();
    auto out = child.stdout().read_to_end(weft::deadline_in(20s));
    CHECK(child.wait(weft::deadline_in(20s)).success());
    CHECK(out == std::to_string(child.pid()) + "\n");
    CHECK(child.pid() != ::getpgrp());
  });
}

TEST_CASE("misuse of Child fails loudly") {
  weft::process::Child empty;
  CHECK(empty.pid() == 0);
  CHECK_THROWS_AS(empty.stdin(), std::logic_error);
  CHECK_THROWS_AS(empty.stdout(), std::logic_error);
  std::error_code ec;
  CHECK_FALSE(empty.wait(ec).has_value());
  CHECK(ec == std::errc::no_child_process);
  auto c = Command("true").spawn();
  CHECK_THROWS_AS(c.stderr(), std::logic_error);  // not piped
  CHECK(c.wait(weft::deadline_in(20s)).success());
}
