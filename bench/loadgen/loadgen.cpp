// weft_loadgen: a closed-loop TCP load generator written with weft, one fiber
// per connection; the counterpart of shared/peers/loadgen, with its output.
//
//   weft_loadgen --port P [--host 127.0.0.1] [--mode http|echo] [--conns C]
//                [--threads T] [--size S] [--duration s] [--warmup s]
//                [--connect-timeout s] [--server-pid PID]
//
// Every connection is a fiber that sends one message, reads the whole answer,
// checks it and sends the next: echo mode sends S bytes and expects the same S
// bytes back; http mode sends "GET / HTTP/1.1" and expects a 200 with a
// Content-Length body. Latency runs from the write of a message to the read of
// the last byte of its answer.
//
// The run has four phases. Connect: every connection is opened, at most 256
// at a time, before any sends (so connection set-up does not compete with
// traffic). Start: all send their first message; once each was answered (at
// most --connect-timeout in all for both), --warmup, then --duration
// measured. Each answer
// in the measured window goes into the histogram of the worker thread that
// read it; the histograms are merged at the end. After the window the fibers
// get 2 s to finish the exchange they are in; those still waiting then are
// stalled and cancelled.
//
// Output: one key=value line in the format of the peers' loadgen, then one line
// for people. Exit status 1 if any error was seen (connect failure, reset,
// early close, wrong bytes or status, a connection with no answer in the
// window), 2 on bad usage. Only loopback targets (127.0.0.0/8) are accepted.
#include <arpa/inet.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <weft/net.hpp>
#include <weft/weft.hpp>

#include "histogram.hpp"
#include "http_response.hpp"

namespace {

using namespace std::chrono_literals;
using loadgen::LatencyHistogram;

enum class Mode { echo, http };

struct Options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  Mode mode = Mode::echo;
  unsigned conns = 100;
  unsigned threads = 1;
  std::size_t size = 64;
  double duration = 5;
  double warmup = 1;
  double connect_timeout = 10;
  long server_pid = 0;
};

constexpr std::string_view kUsage =
    "usage: weft_loadgen --port P [--host 127.0.0.1] [--mode http|echo] [--conns C=100]\n"
    "                    [--threads T=1] [--size S=64] [--duration s=5] [--warmup s=1]\n"
    "                    [--connect-timeout s=10] [--server-pid PID]\n"
    "  echo: every connection sends S bytes and checks that the same S bytes come back\n"
    "  http: every connection sends keep-alive 'GET / HTTP/1.1', expects 200 + Content-Length\n"
    "  --server-pid adds the server's CPU use over the measured window (srv_cpu_pct)\n"
    "Only loopback targets (127.x.x.x) are accepted.\n";

const std::string kRequest = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

// kFinishTime is how long connections may take to finish their exchange once
// the measured window closed.
constexpr auto kFinishTime = 2s;
// kConnectBurst bounds the connects under way. Thousands at once overflow the
// server's listen queue and the kernel's SYN backlog (tcp_max_syn_backlog is
// 2048 here): a dropped SYN or handshake ACK is retried only after 1 s, 3 s,
// 7 s..., which shows up as stalls and seconds of latency.
constexpr std::uint64_t kConnectBurst = 256;
// kPatternSpread: echo messages start at one of this many offsets into the
// pattern, so consecutive messages (and connections) differ.
constexpr std::size_t kPatternSpread = 251;

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "weft_loadgen: %s\n%.*s", msg.c_str(), static_cast<int>(kUsage.size()),
               kUsage.data());
  std::exit(2);
}

Options parse_options(int argc, char** argv) {
  Options o;
  bool have_port = false;
  for (int i = 1; i < argc; i++) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fwrite(kUsage.data(), 1, kUsage.size(), stdout);
      std::exit(0);
    }
    std::string value;
    if (auto eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      usage_error("missing value for " + arg);
    }
    auto number = [&](double lo, double hi) {
      char* end = nullptr;
      double v = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0' || !(v >= lo && v <= hi)) {
        usage_error("bad value for " + arg + ": " + value);
      }
      return v;
    };
    auto whole = [&](double lo, double hi) {
      double v = number(lo, hi);
      if (v != std::floor(v)) usage_error("bad value for " + arg + ": " + value);
      return static_cast<long>(v);
    };
    if (arg == "--host") {
      o.host = value == "localhost" ? "127.0.0.1" : value;
    } else if (arg == "--port") {
      o.port = static_cast<std::uint16_t>(whole(1, 65535));
      have_port = true;
    } else if (arg == "--mode") {
      if (value != "echo" && value != "http") usage_error("unknown mode " + value);
      o.mode = value == "echo" ? Mode::echo : Mode::http;
    } else if (arg == "--conns") {
      o.conns = static_cast<unsigned>(whole(1, 1'000'000));
    } else if (arg == "--threads") {
      o.threads = static_cast<unsigned>(whole(1, 1024));
    } else if (arg == "--size") {
      o.size = static_cast<std::size_t>(whole(1, 64 * 1024 * 1024));
    } else if (arg == "--duration") {
      o.duration = number(0.01, 86400);
    } else if (arg == "--warmup") {
      o.warmup = number(0, 86400);
    } else if (arg == "--connect-timeout") {
      o.connect_timeout = number(0.01, 3600);
    } else if (arg == "--server-pid") {
      o.server_pid = whole(1, 1 << 30);
    } else {
      usage_error("unknown option " + arg);
    }
  }
  if (!have_port) usage_error("--port is required");
  in_addr a{};
  if (::inet_pton(AF_INET, o.host.c_str(), &a) != 1 || (ntohl(a.s_addr) >> 24) != 127) {
    usage_error("--host must be an IPv4 loopback address (127.x.x.x), got " + o.host);
  }
  return o;
}

std::uint64_t now_ns() {
  const auto t = weft::Clock::now().time_since_epoch();
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t).count());
}

template <class Rep, class Period>
weft::Clock::duration to_clock(std::chrono::duration<Rep, Period> d) {
  return std::chrono::duration_cast<weft::Clock::duration>(d);
}
weft::Clock::duration seconds(double s) { return to_clock(std::chrono::duration<double>(s)); }

// The kinds of error, in the order the summary line prints them.
enum Error { err_connect, err_reset, err_eof, err_mismatch, err_stall, err_other, kErrorKinds };
constexpr std::array<const char*, kErrorKinds> kErrorNames = {
    "err_connect", "err_reset", "err_eof", "err_mismatch", "err_stall", "err_other"};

// WorkerStats are the figures of one worker thread; only fibers running on
// that worker touch them, between two waiting calls, so they need no lock.
struct alignas(64) WorkerStats {
  LatencyHistogram hist;
  std::uint64_t ops = 0;    // answers in the measured window
  std::uint64_t bytes = 0;  // echoed payload bytes in the window
};

enum Phase : int { phase_warmup, phase_measure, phase_stop };

// Run is what the connection fibers share.
struct Run {
  Options opts;
  weft::net::SocketAddress target;
  std::vector<unsigned char> pattern;  // echo payloads are slices of it
  std::vector<std::unique_ptr<WorkerStats>> per_worker;
  std::atomic<int> phase{phase_warmup};
  weft::Semaphore connect_slots{kConnectBurst};  // bounds the connects under way
  std::atomic<unsigned> connected{0};            // connects that ended, either way
  weft::Event go;                                // raised once all connects ended
  std::atomic<unsigned> settled{0};              // connections answered once, or failed
  std::array<std::atomic<std::uint64_t>, kErrorKinds> errors{};
  std::atomic<int> reported{0};  // error messages printed so far

  // error() counts one error and prints the first few.
  void error(Error kind, unsigned conn, std::string_view what) {
    errors[kind].fetch_add(1, std::memory_order_relaxed);
    if (reported.fetch_add(1, std::memory_order_relaxed) < 5) {
      std::fprintf(stderr, "weft_loadgen: conn %u: %.*s\n", conn, static_cast<int>(what.size()),
                   what.data());
    }
  }
};

// classify() maps a socket error to its kind.
Error classify(const std::error_code& ec) {
  if (ec == std::errc::connection_reset || ec == std::errc::broken_pipe) return err_reset;
  if (ec == std::errc::operation_canceled || ec == std::errc::timed_out) return err_stall;
  return err_other;
}

// Connection is one client connection: its socket and its buffers, made once.
class Connection {
 public:
  Connection(Run& run, unsigned id) : run_(run), id_(id) {}

  // run() connects, then exchanges messages until the phase is stop.
  void run() {
    std::error_code ec;
    const weft::Deadline until = weft::deadline_in(seconds(run_.opts.connect_timeout));
    weft::net::TcpStream stream;
    if (run_.connect_slots.acquire(1, ec, until)) {
      stream = weft::net::TcpStream::connect(run_.target, ec, until);
      run_.connect_slots.release();
    }
    run_.connected.fetch_add(1, std::memory_order_relaxed);
    if (!ec) run_.go.wait(ec);  // only cancellation ends this wait early
    if (ec) {
      if (!stream) run_.error(err_connect, id_, "connect: " + ec.message());
      settle();
      return;
    }
    stream.set_nodelay(true, ec);
    in_.resize(run_.opts.mode == Mode::echo ? std::min<std::size_t>(run_.opts.size, 256 * 1024)
                                            : 64 * 1024);
    std::uint64_t sent = 0;       // messages sent
    std::uint64_t in_window = 0;  // answers read in the measured window
    bool ok = true;
    while (ok && run_.phase.load(std::memory_order_relaxed) != phase_stop) {
      const std::uint64_t t0 = now_ns();
      ok = run_.opts.mode == Mode::echo ? echo_once(stream, sent) : http_once(stream);
      if (!ok) break;
      const std::uint64_t t1 = now_ns();
      sent++;
      settle();
      if (run_.phase.load(std::memory_order_relaxed) == phase_measure) {
        // No waiting call between here and the update: the fiber cannot move
        // to another worker while it writes this worker's figures.
        WorkerStats& ws =
            *run_.per_worker[static_cast<std::size_t>(weft::this_fiber::worker_index())];
        ws.hist.record(t1 - t0);
        ws.ops++;
        if (run_.opts.mode == Mode::echo) ws.bytes += run_.opts.size;
        in_window++;
      }
    }
    settle();
    if (ok && in_window == 0) run_.error(err_stall, id_, "no answer during the measured window");
  }

 private:
  void settle() {
    if (!settled_) {
      settled_ = true;
      run_.settled.fetch_add(1, std::memory_order_relaxed);
    }
  }

  bool fail(Error kind, std::string_view what) {
    run_.error(kind, id_, what);
    return false;
  }
  bool fail(const std::error_code& ec, std::string_view op) {
    if (ec == std::errc::operation_canceled) {
      return fail(err_stall, std::string(op) + ": no answer within 2 s after the window closed");
    }
    return fail(classify(ec), std::string(op) + ": " + ec.message());
  }

  // echo_once() sends message number `n` and checks that it comes back intact.
  bool echo_once(weft::net::TcpStream& stream, std::uint64_t n) {
    const std::size_t size = run_.opts.size;
    const unsigned char* msg = run_.pattern.data() + (id_ + n * 7) % kPatternSpread;
    std::error_code ec;
    stream.write_all(msg, size, ec);
    if (ec) return fail(ec, "write");
    for (std::size_t got = 0; got < size;) {
      const std::size_t r = stream.read_some(in_.data(), in_.size(), ec);
      if (ec) return fail(ec, "read");
      if (r == 0) return fail(err_eof, "connection closed by the server");
      if (got + r > size) return fail(err_mismatch, "received more bytes than sent");
      if (std::memcmp(in_.data(), msg + got, r) != 0) {
        return fail(err_mismatch, "echoed bytes differ from the bytes sent");
      }
      got += r;
    }
    return true;
  }

  // http_once() sends one request and reads one valid response.
  bool http_once(weft::net::TcpStream& stream) {
    std::error_code ec;
    stream.write_all(kRequest.data(), kRequest.size(), ec);
    if (ec) return fail(ec, "write");
    std::size_t have = 0;
    for (;;) {
      if (have == in_.size()) return fail(err_mismatch, "response larger than 64 KiB");
      const std::size_t r = stream.read_some(in_.data() + have, in_.size() - have, ec);
      if (ec) return fail(ec, "read");
      if (r == 0) return fail(err_eof, "connection closed by the server");
      have += r;
      auto frame = loadgen::frame_response(std::string_view(in_.data(), have));
      using Kind = loadgen::ResponseFrame::Kind;
      if (frame.kind == Kind::invalid) return fail(err_mismatch, frame.error);
      if (frame.kind == Kind::complete) {
        if (frame.length == have) return true;
        return fail(err_mismatch, "bytes after the response (none was asked for)");
      }
    }
  }

  Run& run_;
  unsigned id_;
  bool settled_ = false;  // counted in run_.settled
  std::vector<char> in_;  // read buffer
};

double cpu_seconds_self() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// cpu_seconds_of() is the CPU time (user + system) of a process, -1 if unknown.
double cpu_seconds_of(long pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  FILE* f = std::fopen(path, "r");
  if (!f) return -1;
  char buf[1024];
  std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  // The command name may hold spaces and parentheses: fields follow the last ')'.
  const char* p = std::strrchr(buf, ')');
  unsigned long long utime = 0, stime = 0;
  if (!p || std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                        &stime) != 2) {
    return -1;
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// wait_until() sleeps in short steps until pred() holds or the time is up.
template <class Pred>
bool wait_until(Pred pred, weft::Deadline until) {
  while (!pred()) {
    if (weft::Clock::now() >= until) return false;
    weft::this_fiber::sleep_for(2ms);
  }
  return true;
}

struct Report {
  double seconds = 0;
  double lg_cpu = 0;
  double srv_cpu = -1;
};

// drive() is the main fiber: start the connections, run the phases, stop.
Report drive(Run& run) {
  std::vector<weft::JoinHandle<void>> fibers;
  std::vector<std::unique_ptr<Connection>> conns;
  fibers.reserve(run.opts.conns);
  auto all_finished = [&] {
    return std::all_of(fibers.begin(), fibers.end(), [](auto& f) { return f.is_finished(); });
  };
  const weft::Deadline set_up = weft::deadline_in(seconds(run.opts.connect_timeout));
  for (unsigned i = 0; i < run.opts.conns; i++) {
    conns.push_back(std::make_unique<Connection>(run, i));
    fibers.push_back(weft::spawn([c = conns.back().get()] { c->run(); }));
  }
  // Every connect ends by the set-up deadline, so this wait does too.
  wait_until([&] { return run.connected.load() >= run.opts.conns; }, weft::no_deadline);
  run.go.set();
  wait_until([&] { return run.settled.load() >= run.opts.conns; }, set_up);
  Report rep;
  if (all_finished()) {
    // Every connection failed already (nothing listens there, say): report now.
    for (auto& f : fibers) f.join();
    return rep;
  }
  weft::this_fiber::sleep_for(seconds(run.opts.warmup));

  const double cpu0 = cpu_seconds_self();
  const double srv0 = run.opts.server_pid ? cpu_seconds_of(run.opts.server_pid) : -1;
  const auto t0 = weft::Clock::now();
  run.phase.store(phase_measure);
  weft::this_fiber::sleep_for(seconds(run.opts.duration));
  run.phase.store(phase_stop);
  const auto t1 = weft::Clock::now();
  rep.lg_cpu = cpu_seconds_self() - cpu0;
  const double srv1 = run.opts.server_pid ? cpu_seconds_of(run.opts.server_pid) : -1;
  if (srv0 >= 0 && srv1 >= 0) rep.srv_cpu = srv1 - srv0;
  rep.seconds = std::chrono::duration<double>(t1 - t0).count();

  wait_until(all_finished, weft::deadline_in(kFinishTime));
  // Those still waiting for an answer are stalled: cancel them (they report it).
  for (auto& f : fibers) {
    if (!f.is_finished()) f.cancel();
  }
  for (auto& f : fibers) f.join();
  return rep;
}

std::string format_rate(double v) {
  char buf[64];
  if (v >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.2fM", v / 1e6);
  } else if (v >= 1e4) {
    std::snprintf(buf, sizeof buf, "%.0fk", v / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  }
  return buf;
}

std::string format_us(double us) {
  char buf[64];
  if (us >= 1000) {
    std::snprintf(buf, sizeof buf, "%.2f ms", us / 1000);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f us", us);
  }
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  Run run;
  run.opts = parse_options(argc, argv);
  const Options& o = run.opts;
  ::signal(SIGPIPE, SIG_IGN);
  if (rlimit rl; ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
  run.target = weft::net::SocketAddress::parse(o.host + ":" + std::to_string(o.port));
  // A fixed pseudo-random pattern (xorshift32): echo payloads are slices of it.
  run.pattern.resize(o.size + kPatternSpread);
  std::uint32_t x = 0x9e3779b9u;
  for (auto& b : run.pattern) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b = static_cast<unsigned char>(x);
  }
  for (unsigned i = 0; i < o.threads; i++)
    run.per_worker.push_back(std::make_unique<WorkerStats>());

  Report rep;
  try {
    rep = weft::run(weft::Config{}.worker_threads(o.threads), [&] { return drive(run); });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "weft_loadgen: %s\n", e.what());
    return 1;
  }

  auto total = std::make_unique<WorkerStats>();
  for (auto& w : run.per_worker) {
    total->hist.merge(w->hist);
    total->ops += w->ops;
    total->bytes += w->bytes;
  }
  if (total->ops == 0) run.errors[err_stall]++;
  std::uint64_t errors = 0;
  for (auto& e : run.errors) errors += e.load();

  const bool echo = o.mode == Mode::echo;
  // per_second() guards the division: a run that never measured has 0 s.
  auto per_second = [&](double v) { return rep.seconds > 0 ? v / rep.seconds : 0.0; };
  const double rate = per_second(static_cast<double>(total->ops));
  auto us = [&](double p) { return static_cast<double>(total->hist.percentile(p)) / 1000.0; };
  std::printf("mode=%s conns=%u threads=%u size=%zu seconds=%.2f %s=%.0f", echo ? "echo" : "http",
              o.conns, o.threads, echo ? o.size : kRequest.size(), rep.seconds,
              echo ? "msgs_per_s" : "reqs_per_s", rate);
  if (echo) std::printf(" mb_per_s=%.2f", per_second(static_cast<double>(total->bytes)) / 1e6);
  std::printf(" p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f errors=%llu", us(50),
              us(90), us(99), us(99.9), static_cast<double>(total->hist.max()) / 1000.0,
              static_cast<unsigned long long>(errors));
  for (int e = 0; e < kErrorKinds; e++) {
    std::printf(" %s=%llu", kErrorNames[e], static_cast<unsigned long long>(run.errors[e].load()));
  }
  std::printf(" lg_cpu_pct=%.0f", per_second(rep.lg_cpu) * 100);
  if (rep.srv_cpu >= 0) std::printf(" srv_cpu_pct=%.0f", per_second(rep.srv_cpu) * 100);
  std::printf("\n");

  std::printf(
      "weft_loadgen: %s, %u connection%s on %u thread%s, %.1f s: %s %s/s, latency p50 %s, "
      "p99 %s, max %s; %s\n",
      echo ? "echo" : "http", o.conns, o.conns == 1 ? "" : "s", o.threads,
      o.threads == 1 ? "" : "s", rep.seconds, format_rate(rate).c_str(),
      echo ? "messages" : "requests", format_us(us(50)).c_str(), format_us(us(99)).c_str(),
      format_us(static_cast<double>(total->hist.max()) / 1000.0).c_str(),
      errors == 0 ? "no errors" : (std::to_string(errors) + " errors").c_str());
  std::fflush(stdout);
  return errors == 0 ? 0 : 1;
}
