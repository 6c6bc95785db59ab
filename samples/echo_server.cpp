// echo_server: a TCP echo server on weft, one fiber per connection; with --http
// a keep-alive HTTP/1.1 server that answers every request with "Hello, World!".
//
//   usage: echo_server [--port] PORT [--threads N] [--http | --echo]
//
// Each connection runs ordinary sequential code - read, then write what was
// read - in a fiber of its own: when the socket has nothing to give, the fiber
// parks and its worker thread runs the other connections. With --threads 1
// (the default) the runtime runs on the main thread alone
// (Config::current_thread), so the process has one thread, like an event
// loop's. Built as `http_hello`, the same program speaks HTTP unless told --echo.
//
// It listens on 127.0.0.1:PORT (0 picks a free port) and prints
// "listening on 127.0.0.1:PORT" once connections can come. SIGINT and SIGTERM
// are blocked in every thread and read from a signalfd by the main fiber: on
// the first one the server stops accepting, gives the open connections up to
// 5 s to finish, then closes the rest and exits 0. A second signal cuts the
// wait short. A connection that resets, closes early or sends garbage ends
// only its own fiber.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <weft/net.hpp>
#include <weft/weft.hpp>

#include "http_parser.hpp"

#ifndef SAMPLE_HTTP_DEFAULT
#define SAMPLE_HTTP_DEFAULT 0
#endif

namespace {

using namespace std::chrono_literals;
using weft::net::TcpListener;
using weft::net::TcpStream;

constexpr const char* kName = SAMPLE_HTTP_DEFAULT ? "http_hello" : "echo_server";
// kBufferSize is the read buffer of an HTTP connection, as in the peers we
// measure against, and so the largest request it takes.
constexpr std::size_t kBufferSize = 16 * 1024;
// kEchoBuffer is the read buffer an echo connection borrows while it has
// data. A read that fills it must be followed by one that usually finds the
// socket empty, a wasted call per message; 64 KiB, as in a plain epoll loop,
// takes a 16 KiB message whole, and the short read tells the socket is drained.
constexpr std::size_t kEchoBuffer = 64 * 1024;
// kDrainTime is how long open connections may go on after a shutdown signal.
constexpr auto kDrainTime = 5s;
// kLingerTime bounds the reading of what a client still sends after the
// server decided to close (see linger_close()).
constexpr auto kLingerTime = 1s;

struct Options {
  int port = -1;
  unsigned threads = 1;
  bool http = SAMPLE_HTTP_DEFAULT;
};

void usage() {
  std::fprintf(stderr,
               "usage: %s [--port] PORT [--threads N] [--http | --echo]\n"
               "  PORT 0 picks a free port; N worker threads (default 1);\n"
               "  --http answers every request with 200 \"Hello, World!\", --echo echoes bytes\n"
               "  (default %s)\n",
               kName, SAMPLE_HTTP_DEFAULT ? "--http" : "--echo");
}

// parse_number() reads a whole decimal argument within [lo, hi].
std::optional<long> parse_number(const std::string& s, long lo, long hi) {
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(s.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || v < lo || v > hi) return std::nullopt;
  return v;
}

// parse_options() takes the peers' options: [PORT] --port P --threads N --http,
// also as --key=value, plus --echo.
std::optional<Options> parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; i++) {
    std::string arg = argv[i];
    std::optional<std::string> inline_value;
    if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string::npos) {
      inline_value = arg.substr(eq + 1);
      arg.resize(eq);
    }
    auto value = [&]() -> std::optional<std::string> {
      if (inline_value) return inline_value;
      if (i + 1 < argc) return std::string(argv[++i]);
      return std::nullopt;
    };
    if (arg == "--port" || arg == "--threads") {
      auto v = value();
      auto n = v ? parse_number(*v, arg == "--port" ? 0 : 1, arg == "--port" ? 65535 : 1024)
                 : std::nullopt;
      if (!n) {
        std::fprintf(stderr, "%s: bad value for %s\n", kName, arg.c_str());
        return std::nullopt;
      }
      if (arg == "--port") {
        o.port = static_cast<int>(*n);
      } else {
        o.threads = static_cast<unsigned>(*n);
      }
    } else if (arg == "--http" && !inline_value) {
      o.http = true;
    } else if (arg == "--echo" && !inline_value) {
      o.http = false;
    } else if (arg == "-h" || arg == "--help") {
      usage();
      std::exit(0);
    } else if (!arg.starts_with("-") && o.port < 0) {
      auto n = parse_number(arg, 0, 65535);
      if (!n) {
        std::fprintf(stderr, "%s: bad port %s\n", kName, arg.c_str());
        return std::nullopt;
      }
      o.port = static_cast<int>(*n);
    } else {
      std::fprintf(stderr, "%s: unknown argument %s\n", kName, argv[i]);
      return std::nullopt;
    }
  }
  if (o.port < 0) {
    std::fprintf(stderr, "%s: no port given\n", kName);
    return std::nullopt;
  }
  return o;
}

// Read buffers are lent to connections only while they have data to handle,
// from a small pool per worker thread: 10,000 idle connections then hold no
// buffer memory at all. A fiber may give its buffer back on another worker
// than it took it from; that only moves the buffer between pools. The two
// calls are not inlined: a fiber may change threads between them, and the
// compiler must not reuse one thread's pool address on another.
//
// Each buffer starts on a page boundary: the kernel copies a message into it
// and out of it again, and its string copies run faster with the buffer
// aligned than at malloc's 16 bytes (about 1% of the server's CPU per
// 16 KiB message).
constexpr std::size_t kPoolKeep = 64;  // buffers a thread keeps for reuse
constexpr std::align_val_t kBufferAlign{4096};

struct AlignedDelete {
  void operator()(char* p) const noexcept { ::operator delete[](p, kBufferAlign); }
};
using EchoBuffer = std::unique_ptr<char[], AlignedDelete>;
thread_local std::vector<EchoBuffer> buffer_pool;

[[gnu::noinline]] EchoBuffer take_buffer() {
  if (buffer_pool.empty()) return EchoBuffer(static_cast<char*>(::operator new[](kEchoBuffer, kBufferAlign)));
  auto b = std::move(buffer_pool.back());
  buffer_pool.pop_back();
  return b;
}

[[gnu::noinline]] void give_buffer(EchoBuffer b) {
  if (buffer_pool.size() < kPoolKeep) buffer_pool.push_back(std::move(b));
}

// serve_echo() writes back every byte the client sends until it closes. It
// waits for data holding no buffer, and keeps one while the client sends
// more than a buffer's worth at a time.
void serve_echo(TcpStream& stream) {
  std::error_code ec;
  for (;;) {
    if (!stream.readable(ec)) return;
    auto buf = take_buffer();
    std::size_t n;
    do {
      n = stream.read_some(buf.get(), kEchoBuffer, ec);
      if (!ec && n > 0) stream.write_all(buf.get(), n, ec);
    } while (!ec && n == kEchoBuffer);
    give_buffer(std::move(buf));
    if (ec || n == 0) return;
  }
}

// linger_close() ends a connection the server gives up on while the client may
// still be sending: closing a socket with unread bytes makes the kernel send a
// reset, which can destroy the response still in flight. So send FIN first,
// then read and drop what comes until the client closes, for a bounded time.
void linger_close(TcpStream& stream) {
  std::error_code ec;
  stream.shutdown(weft::net::Shutdown::write, ec);
  if (ec) return;
  const weft::Deadline until = weft::deadline_in(kLingerTime);
  char sink[512];
  while (stream.read_some(sink, sizeof sink, ec, until) > 0 && !ec) {
  }
}

// serve_http() answers every request of a keep-alive connection, in order,
// pipelined ones included; each read's answers go out in one write.
void serve_http(TcpStream& stream) {
  auto in = std::make_unique_for_overwrite<char[]>(kBufferSize);
  auto out = std::make_unique_for_overwrite<char[]>(kBufferSize);
  std::size_t out_len = 0;
  sample::http::RequestParser parser;
  std::error_code ec;
  auto append = [&](std::string_view bytes) {
    if (out_len + bytes.size() > kBufferSize) {
      stream.write_all(out.get(), out_len, ec);
      out_len = 0;
    }
    std::memcpy(out.get() + out_len, bytes.data(), bytes.size());
    out_len += bytes.size();
  };
  for (;;) {
    const std::size_t n = stream.read_some(in.get(), kBufferSize, ec);
    if (ec || n == 0) return;
    bool close = false;
    for (std::size_t off = 0; off < n && !close && !ec;) {
      auto step = parser.feed(in.get() + off, n - off);
      off += step.consumed;
      if (step.event == sample::http::RequestParser::Event::need_more) break;
      if (step.event == sample::http::RequestParser::Event::bad) {
        append(sample::http::kBadRequestResponse);
        close = true;
      } else {
        append(sample::http::kHelloResponse);
        close = !parser.keep_alive();
      }
    }
    if (!ec && out_len > 0) stream.write_all(out.get(), out_len, ec);
    out_len = 0;
    if (ec) return;
    if (close) return linger_close(stream);
  }
}

// Server is what the accept loop and the connections share.
struct Server {
  bool http = false;
  std::atomic<std::size_t> live{0};  // connection fibers not yet finished
};

// accept_loop() accepts until its fiber is cancelled, one fiber per connection.
void accept_loop(TcpListener& listener, Server& server) {
  for (;;) {
    std::error_code ec;
    TcpStream stream = listener.accept(ec).stream;
    if (ec == std::errc::operation_canceled) return;
    if (ec) {
      // accept() already waits out a lack of descriptors and skips connections
      // aborted in the backlog; what is left (ENOMEM, ENOBUFS...) passes too.
      std::fprintf(stderr, "%s: accept: %s\n", kName, ec.message().c_str());
      weft::this_fiber::sleep_for(10ms);
      continue;
    }
    stream.set_nodelay(true, ec);
    server.live.fetch_add(1, std::memory_order_relaxed);
    try {
      weft::spawn([&server, s = std::move(stream)]() mutable {
        struct Done {
          Server& server;
          ~Done() { server.live.fetch_sub(1, std::memory_order_relaxed); }
        } done{server};
        if (server.http) {
          serve_http(s);
        } else {
          serve_echo(s);
        }
      }).detach();
    } catch (const weft::RuntimeStopped&) {
      server.live.fetch_sub(1, std::memory_order_relaxed);
      return;
    }
  }
}

// next_signal() waits for SIGINT or SIGTERM on the signalfd until the deadline;
// 0 if none came.
int next_signal(weft::Async<weft::OwnedFd>& signals, weft::Deadline until) {
  signalfd_siginfo info{};
  std::error_code ec;
  auto n = signals.read_with(
      [&](weft::OwnedFd& fd) { return ::read(fd.native_handle(), &info, sizeof info); }, ec, until);
  if (ec || n != static_cast<ssize_t>(sizeof info)) return 0;
  return static_cast<int>(info.ssi_signo);
}

// serve() is the main fiber: listen, accept in a fiber of its own, and shut
// down in order when a signal comes.
int serve(const Options& opts, const sigset_t& stop_signals) {
  int sfd = ::signalfd(-1, &stop_signals, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) throw std::system_error(errno, std::generic_category(), "signalfd");
  weft::Async<weft::OwnedFd> signals{weft::OwnedFd(sfd)};

  Server server;
  server.http = opts.http;
  in_addr loopback{};
  loopback.s_addr = htonl(INADDR_LOOPBACK);
  weft::net::ListenOptions listen_opts;
  listen_opts.backlog = 4096;  // as the peers: bursts of 1000 connects must not overflow
  TcpListener listener = TcpListener::bind(
      weft::net::SocketAddress::ipv4(loopback, static_cast<std::uint16_t>(opts.port)), listen_opts);
  std::printf("listening on 127.0.0.1:%u\n", listener.local_addr().port());
  std::fflush(stdout);

  weft::JoinHandle<void> acceptor = weft::spawn([&] { accept_loop(listener, server); });

  int sig = next_signal(signals, weft::no_deadline);
  acceptor.cancel();
  try {
    acceptor.join();
  } catch (const weft::Cancelled&) {
  }
  listener.close();  // new connections are refused from here on

  std::size_t live = server.live.load();
  std::fprintf(stderr, "%s: %s: stopped accepting; %zu connection%s open\n", kName,
               sig != 0 ? strsignal(sig) : "signalfd failed", live, live == 1 ? "" : "s");
  const weft::Deadline until = weft::deadline_in(kDrainTime);
  while (server.live.load() > 0 && weft::Clock::now() < until) {
    // Wake every 10 ms to look at the count; a second signal ends the wait.
    if (next_signal(signals, std::min(until, weft::deadline_in(10ms))) != 0) break;
  }
  live = server.live.load();
  if (live > 0) {
    std::fprintf(stderr, "%s: closing %zu connection%s\n", kName, live, live == 1 ? "" : "s");
  }
  return 0;  // weft::run cancels the connections still open and waits for them
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<Options> opts = parse_options(argc, argv);
  if (!opts) {
    usage();
    return 2;
  }
  // Block the stop signals before any thread exists, so every worker inherits
  // the mask and the signals queue for the signalfd instead.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  if (int e = pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr); e != 0) {
    std::fprintf(stderr, "%s: pthread_sigmask: %s\n", kName, std::strerror(e));
    return 1;
  }
  // A write to a client that went away must fail with EPIPE, not kill us.
  ::signal(SIGPIPE, SIG_IGN);
  // One descriptor per connection: take all the kernel allows.
  if (rlimit rl; ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
  try {
    // One thread: the kernel then skips a reference count on every socket
    // call's file, which a descriptor table shared between threads costs.
    return weft::run(weft::Config{}.worker_threads(opts->threads).current_thread(opts->threads == 1),
                     [&] { return serve(*opts, stop_signals); });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", kName, e.what());
    return 1;
  }
}
