// echo_weft: echo_threads ported to weft the idiomatic way, with weft::net
// sockets instead of hooked POSIX calls: one fiber per connection, no hook.
//
//   usage: echo_weft --port P [--threads N]
//
// It listens on 127.0.0.1:P (0 picks a free port) with N worker threads,
// prints "listening on 127.0.0.1:PORT", and echoes every byte of every
// connection until the client closes or resets it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <system_error>

#include <weft/net.hpp>
#include <weft/weft.hpp>

#include "options.hpp"

namespace {

using namespace std::chrono_literals;
using weft::net::TcpListener;
using weft::net::TcpStream;

// kBufferSize is a connection's read buffer, as in the servers we compare with.
constexpr std::size_t kBufferSize = 16 * 1024;

// serve() echoes one connection until EOF or an error (a reset is one); the
// socket closes when the stream goes out of scope.
void serve(TcpStream stream) {
  // On the heap: an idle connection touches no buffer pages until data comes.
  auto buf = std::make_unique_for_overwrite<char[]>(kBufferSize);
  std::error_code ec;
  for (;;) {
    std::size_t n = stream.read_some(buf.get(), kBufferSize, ec);
    if (ec || n == 0) return;
    stream.write_all(buf.get(), n, ec);  // MSG_NOSIGNAL: a gone client is EPIPE, not SIGPIPE
    if (ec) return;
  }
}

// listen_and_serve() is the main fiber: it accepts forever, a fiber per connection.
int listen_and_serve(int port) {
  in_addr loopback{};
  loopback.s_addr = htonl(INADDR_LOOPBACK);
  weft::net::ListenOptions opts;
  opts.backlog = 4096;  // bursts of 1000 connects must not overflow it
  TcpListener listener = TcpListener::bind(
      weft::net::SocketAddress::ipv4(loopback, static_cast<std::uint16_t>(port)), opts);
  std::printf("listening on 127.0.0.1:%u\n", listener.local_addr().port());
  std::fflush(stdout);
  for (;;) {
    std::error_code ec;
    TcpStream stream = listener.accept(ec).stream;  // waits out EMFILE, skips ECONNABORTED
    if (ec) {
      std::fprintf(stderr, "accept: %s\n", ec.message().c_str());
      weft::this_fiber::sleep_for(10ms);  // ENOBUFS, ENOMEM: pass
      continue;
    }
    stream.set_nodelay(true, ec);
    weft::spawn([s = std::move(stream)]() mutable { serve(std::move(s)); }).detach();
  }
}

}  // namespace

int main(int argc, char** argv) {
  auto opts = legacy::parse(argc, argv, argv[0]);
  if (!opts) return 2;
  // One descriptor per connection: take all the kernel allows.
  if (rlimit rl; getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  try {
    return weft::run(weft::Config{}.worker_threads(opts->threads),
                     [&] { return listen_and_serve(opts->port); });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
    return 1;
  }
}
