// legacy_check: drives one legacy echo server end to end, for `meson test`.
//
//   usage: legacy_check SERVER [--threads N] [--conns C] [--size BYTES]
//                       [--max-threads K] [--min-threads K] [--preload LIB]
//
// It starts `SERVER --port 0 --threads N` (with LD_PRELOAD=LIB in the server's
// environment alone, if given), reads the port from its "listening on" line,
// and then, with plain POSIX calls so that it shares nothing with what it tests:
//   1. opens C connections at once and, on all of them together, echoes a short
//      message and then BYTES more (every connection its own bytes);
//   2. with all C connections open and idle, reads the server's thread count
//      from /proc and holds it to [min-threads, max-threads]: with fibers
//      parked on hooked calls, one worker serves them all;
//   3. resets half of them in the middle of an echo and half-closes the
//      others, which the server must close in turn;
//   4. echoes again on C new connections, closes them, and waits for the
//      server's descriptor count to fall back to where it started.
// Every wait is bounded; the server must be alive at the end.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

pid_t g_server = -1;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "legacy_check: FAIL: %s\n", what.c_str());
  if (g_server > 0) {
    kill(g_server, SIGKILL);
    waitpid(g_server, nullptr, 0);
  }
  std::exit(1);
}

std::string errno_text(const char* call) { return std::string(call) + ": " + std::strerror(errno); }

// ms_left() is the poll() timeout that ends at the deadline.
int ms_left(Clock::time_point deadline) {
  auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

struct Options {
  std::string server;
  std::string threads = "1";
  std::string preload;
  int conns = 50;
  std::size_t size = 64 * 1024;
  long max_threads = -1;
  long min_threads = -1;
};

Options parse(int argc, char** argv) {
  if (argc < 2) fail("usage: legacy_check SERVER [--threads N] [--conns C] [--size BYTES] ...");
  Options o;
  o.server = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string key = argv[i], value = argv[i + 1];
    if (key == "--threads")
      o.threads = value;
    else if (key == "--preload")
      o.preload = value;
    else if (key == "--conns")
      o.conns = std::stoi(value);
    else if (key == "--size")
      o.size = std::stoul(value);
    else if (key == "--max-threads")
      o.max_threads = std::stol(value);
    else if (key == "--min-threads")
      o.min_threads = std::stol(value);
    else
      fail("unknown option " + key);
  }
  if (argc % 2 != 0) fail("an option lacks its value");
  return o;
}

// start_server() runs the server on a free port and returns that port.
int start_server(const Options& o) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) fail(errno_text("pipe2"));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    if (std::strncmp(*e, "LD_PRELOAD=", 11) != 0) env_strings.emplace_back(*e);
  }
  if (!o.preload.empty()) env_strings.push_back("LD_PRELOAD=" + o.preload);
  std::vector<char*> env;
  for (auto& s : env_strings) env.push_back(s.data());
  env.push_back(nullptr);
  std::string port_arg = "--port", zero = "0", threads_arg = "--threads", threads = o.threads;
  std::string path = o.server;
  char* args[] = {path.data(),        port_arg.data(), zero.data(),
                  threads_arg.data(), threads.data(),  nullptr};
  if (int e = posix_spawn(&g_server, path.c_str(), &actions, nullptr, args, env.data()); e != 0) {
    errno = e;
    fail(errno_text(("posix_spawn " + path).c_str()));
  }
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);

  // Read the "listening on" line, within 10 s.
  std::string text;
  auto deadline = Clock::now() + 10s;
  while (text.find('\n') == std::string::npos) {
    pollfd p{out[0], POLLIN, 0};
    if (poll(&p, 1, ms_left(deadline)) <= 0)
      fail(o.server + ": no 'listening on' line within 10 s");
    char buf[256];
    ssize_t n = read(out[0], buf, sizeof buf);
    if (n <= 0) fail(o.server + ": exited before listening");
    text.append(buf, static_cast<std::size_t>(n));
  }
  close(out[0]);  // nothing else comes on stdout; a write would get EPIPE, not hang
  unsigned port = 0;
  char tail = 0;
  if (std::sscanf(text.c_str(), "listening on 127.0.0.1:%u%c", &port, &tail) != 2 || tail != '\n' ||
      port == 0 || port > 65535) {
    fail(o.server + ": unexpected first line: " + text);
  }
  return static_cast<int>(port);
}

// Conn is one client connection and the echo it waits for.
struct Conn {
  int fd = -1;
  std::string out;  // bytes to send
  std::size_t sent = 0;
  std::string in;  // bytes received so far
};

// connect_all() opens n non-blocking connections to the server.
std::vector<Conn> connect_all(int port, int n) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::vector<Conn> conns(static_cast<std::size_t>(n));
  for (auto& c : conns) {
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) fail(errno_text("socket"));
    if (connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 &&
        errno != EINPROGRESS) {
      fail(errno_text("connect"));
    }
  }
  // A connect in progress ends when the socket turns writable.
  auto deadline = Clock::now() + 10s;
  for (auto& c : conns) {
    pollfd p{c.fd, POLLOUT, 0};
    if (poll(&p, 1, ms_left(deadline)) <= 0) fail("connect: not done within 10 s");
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) fail(std::string("connect: ") + std::strerror(err));
  }
  return conns;
}

// fill() gives every connection `size` bytes of its own for this round, so
// that bytes crossing connections or going astray cannot compare equal.
void fill(std::vector<Conn>& conns, std::size_t size, unsigned round) {
  for (std::size_t i = 0; i < conns.size(); i++) {
    auto& c = conns[i];
    c.out = "conn " + std::to_string(i) + " round " + std::to_string(round) + "\n";
    std::uint32_t x = static_cast<std::uint32_t>(i * 2654435761u + round * 40503u + 1);
    while (c.out.size() < size) {
      x = x * 1664525u + 1013904223u;
      c.out.push_back(static_cast<char>(x >> 24));
    }
    c.out.resize(std::max<std::size_t>(size, 1));
    c.sent = 0;
    c.in.clear();
  }
}

// echo_all() sends every connection's bytes and reads them back, all
// connections at once, within the time given.
void echo_all(std::vector<Conn>& conns, const char* what, std::chrono::seconds limit) {
  auto deadline = Clock::now() + limit;
  std::size_t done = 0;
  std::vector<pollfd> fds;
  std::vector<Conn*> owners;
  char buf[64 * 1024];
  while (done < conns.size()) {
    fds.clear();
    owners.clear();
    for (auto& c : conns) {
      if (c.in.size() == c.out.size()) continue;
      short ev = POLLIN;
      if (c.sent < c.out.size()) ev |= POLLOUT;
      fds.push_back({c.fd, ev, 0});
      owners.push_back(&c);
    }
    int r = poll(fds.data(), fds.size(), ms_left(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail(errno_text("poll"));
    if (r == 0) {
      fail(std::string(what) + ": " + std::to_string(conns.size() - done) + " of " +
           std::to_string(conns.size()) + " connections not echoed within " +
           std::to_string(limit.count()) + " s");
    }
    for (std::size_t k = 0; k < fds.size(); k++) {
      Conn& c = *owners[k];
      if (fds[k].revents & POLLOUT) {
        ssize_t n = send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
        if (n > 0)
          c.sent += static_cast<std::size_t>(n);
        else if (errno != EAGAIN)
          fail(std::string(what) + ": " + errno_text("send"));
      }
      if (fds[k].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = recv(c.fd, buf, sizeof buf, 0);
        if (n == 0) fail(std::string(what) + ": the server closed a connection before echoing");
        if (n < 0 && errno != EAGAIN) fail(std::string(what) + ": " + errno_text("recv"));
        if (n > 0) {
          c.in.append(buf, static_cast<std::size_t>(n));
          if (c.in.size() > c.out.size() || c.out.compare(0, c.in.size(), c.in) != 0) {
            fail(std::string(what) + ": echoed bytes differ from the bytes sent");
          }
          if (c.in.size() == c.out.size()) done++;
        }
      }
    }
  }
}

// server_threads() is the server's thread count, from /proc.
long server_threads() {
  std::ifstream status("/proc/" + std::to_string(g_server) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::stol(line.substr(8));
  }
  fail("no Threads: line in /proc/PID/status");
}

// server_fds() is the number of descriptors the server holds open, from /proc.
long server_fds() {
  std::error_code ec;
  long n = 0;
  for (auto it =
           std::filesystem::directory_iterator("/proc/" + std::to_string(g_server) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    n++;
  }
  if (ec) fail("cannot list /proc/PID/fd: " + ec.message());
  return n;
}

// reset() closes with SO_LINGER 0, so the server sees RST, not FIN.
void reset(int fd) {
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
}

// wait_for_eof() half-closes every connection and waits for the server to
// close its side.
void wait_for_eof(std::vector<Conn*> conns, const char* what) {
  auto deadline = Clock::now() + 10s;
  for (Conn* c : conns) shutdown(c->fd, SHUT_WR);
  for (Conn* c : conns) {
    for (;;) {
      pollfd p{c->fd, POLLIN, 0};
      if (poll(&p, 1, ms_left(deadline)) <= 0)
        fail(std::string(what) + ": the server did not close within 10 s");
      char buf[4096];
      ssize_t n = recv(c->fd, buf, sizeof buf, 0);
      if (n == 0) break;
      if (n < 0 && errno != EAGAIN) fail(std::string(what) + ": " + errno_text("recv"));
    }
    close(c->fd);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  std::string name = o.server.substr(o.server.rfind('/') + 1) + " --threads " + o.threads;
  if (!o.preload.empty()) name += " (LD_PRELOAD)";
  int port = start_server(o);
  const long fds_at_start = server_fds();

  // 1. C connections at once: a short echo, then a long one.
  std::vector<Conn> conns = connect_all(port, o.conns);
  fill(conns, 32, 1);
  echo_all(conns, "first echo", 30s);
  fill(conns, o.size, 2);
  echo_all(conns, "long echo", 60s);

  // 2. Every connection is open and its server side waits in read().
  long threads = server_threads();
  std::printf("%s: %d connections open, server threads: %ld\n", name.c_str(), o.conns, threads);
  if (o.max_threads >= 0 && threads > o.max_threads) {
    fail("server has " + std::to_string(threads) + " threads for " + std::to_string(o.conns) +
         " idle connections; at most " + std::to_string(o.max_threads) + " expected");
  }
  if (o.min_threads >= 0 && threads < o.min_threads) {
    fail("server has " + std::to_string(threads) + " threads; at least " +
         std::to_string(o.min_threads) + " expected");
  }

  // 3. Reset the even connections mid-echo (the server's write meets the reset);
  // half-close the odd ones, which the server must close in turn.
  std::vector<Conn*> odd;
  for (std::size_t i = 0; i < conns.size(); i++) {
    if (i % 2 == 0) {
      (void)!send(conns[i].fd, conns[i].out.data(),
                  std::min<std::size_t>(conns[i].out.size(), 16384), MSG_NOSIGNAL);
      reset(conns[i].fd);
    } else {
      odd.push_back(&conns[i]);
    }
  }
  wait_for_eof(odd, "half-close");

  // 4. The server still serves all of them, and lets every descriptor go.
  conns = connect_all(port, o.conns);
  fill(conns, 1000, 3);
  echo_all(conns, "echo after resets", 30s);
  std::vector<Conn*> all;
  for (auto& c : conns) all.push_back(&c);
  wait_for_eof(all, "final close");
  // The server's FIN came from its close(), so the count should be down
  // already; look again for a while in case a close completes later. The
  // slack covers descriptors a runtime opens lazily (a spare worker's, the hook's).
  constexpr long kSlack = 16;
  auto deadline = Clock::now() + 10s;
  long fds = server_fds();
  while (fds > fds_at_start + kSlack && Clock::now() < deadline) {
    poll(nullptr, 0, 10);
    fds = server_fds();
  }
  if (fds > fds_at_start + kSlack) {
    fail("server holds " + std::to_string(fds) + " descriptors after every connection closed, " +
         std::to_string(fds_at_start) + " at start");
  }

  if (waitpid(g_server, nullptr, WNOHANG) != 0) fail("the server died");
  kill(g_server, SIGTERM);
  auto stop_by = Clock::now() + 5s;
  while (waitpid(g_server, nullptr, WNOHANG) == 0) {
    if (Clock::now() > stop_by) {
      kill(g_server, SIGKILL);
      waitpid(g_server, nullptr, 0);
      break;
    }
    poll(nullptr, 0, 10);
  }
  std::printf("ok   %s\n", name.c_str());
  return 0;
}
