// echo_threads: a blocking TCP echo server with one thread per connection,
// written with plain POSIX calls: the kind of legacy server a port starts from.
//
//   usage: echo_threads --port P [--threads N]
//
// It listens on 127.0.0.1:P (0 picks a free port), prints
// "listening on 127.0.0.1:PORT", and echoes every byte of every connection
// until the client closes or resets it. N is accepted and ignored.
//
// Compiled again with -DLEGACY_ON_WEFT and linked with libweft_hook.so, this
// same source is echo_hooked: a fiber per connection instead of a thread, the
// accept loop inside weft::run() on N workers. The blocking calls stay as they
// are: the hook makes each one park its fiber instead of blocking the worker.
// The three LEGACY_ON_WEFT blocks are the whole port (see PORTING.md).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <exception>
#include <thread>

#include "options.hpp"

#ifdef LEGACY_ON_WEFT
#include <weft/weft.hpp>
#endif

namespace {

// kBufferSize is a connection's read buffer, as in the servers we compare with.
constexpr size_t kBufferSize = 16 * 1024;

// write_all() writes n bytes, looping over short writes.
bool write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= size_t(w);
  }
  return true;
}

// serve() echoes one connection until EOF or an error (a reset is one), then
// closes it.
void serve(int fd) {
  char buf[kBufferSize];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || !write_all(fd, buf, size_t(n))) break;
  }
  close(fd);
}

// accept_loop() serves each new connection on a thread of its own, until
// accept() fails in a way waiting cannot cure.
int accept_loop(int listen_fd) {
  for (;;) {
    int fd = accept(listen_fd, nullptr, nullptr);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        usleep(1000);  // out of descriptors or memory: give open connections time to end
        continue;
      }
      perror("accept");
      return 1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    try {
#ifdef LEGACY_ON_WEFT
      weft::spawn([fd] { serve(fd); }).detach();
#else
      std::thread([fd] { serve(fd); }).detach();
#endif
    } catch (const std::exception& e) {  // no thread to be had: drop this connection
      fprintf(stderr, "cannot serve a connection: %s\n", e.what());
      close(fd);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  auto opts = legacy::parse(argc, argv, argv[0]);
  if (!opts) return 2;
  // A write to a client that went away fails with EPIPE instead of killing us.
  signal(SIGPIPE, SIG_IGN);
  // One descriptor per connection: take all the kernel allows.
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  // std::thread takes no stack size, so set the default for new threads:
  // 256 KiB instead of 8 MiB, which lets 10,000 connections fit.
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  pthread_setattr_default_np(&attr);
  pthread_attr_destroy(&attr);

  int listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(opts->port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  // A long backlog: bursts of 1000 connects must not overflow it.
  if (listen_fd < 0 || bind(listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listen_fd, 4096) != 0 ||
      getsockname(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    perror("listen");
    return 1;
  }
  printf("listening on 127.0.0.1:%u\n", ntohs(addr.sin_port));
  fflush(stdout);

#ifdef LEGACY_ON_WEFT
  return weft::run(weft::Config{}.worker_threads(opts->threads),
                   [&] { return accept_loop(listen_fd); });
#else
  return accept_loop(listen_fd);
#endif
}
