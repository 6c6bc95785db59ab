// echo_client: sends each line of its standard input to an echo server and
// prints the line that comes back.
//
//   usage: echo_client HOST:PORT        (e.g. 127.0.0.1:7000, localhost:7000, [::1]:7000)
//
// The whole client is one fiber. Reading the terminal (or a file, or a pipe)
// may block for as long as the user types, so it goes through weft::unblock(),
// which runs it on the blocking pool while the fiber parks; the socket calls
// park the fiber on their own. Each answer must arrive within 10 s. Exits 0 at
// the end of the input, 1 if the server closes early or an error occurs.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>
#include <system_error>

#include <weft/net.hpp>
#include <weft/weft.hpp>

namespace {

using namespace std::chrono_literals;

// kConnectTime bounds the connection; kReplyTime the wait for each answer.
constexpr auto kConnectTime = 10s;
constexpr auto kReplyTime = 10s;

// LineReader reads lines from a stream, keeping what follows a newline.
class LineReader {
 public:
  explicit LineReader(weft::net::TcpStream& stream) : stream_(stream) {}

  // read_line() returns the bytes up to and including the next '\n', or just
  // `want` bytes if the line sent had no newline (the last line of a file).
  std::string read_line(std::size_t want, bool newline, weft::Deadline until) {
    for (;;) {
      std::size_t end = std::string::npos;
      if (newline) {
        end = pending_.find('\n');
      } else if (pending_.size() >= want) {
        end = want - 1;
      }
      if (end != std::string::npos) {
        std::string line = pending_.substr(0, end + 1);
        pending_.erase(0, end + 1);
        return line;
      }
      char buf[4096];
      const std::size_t n = stream_.read_some(buf, sizeof buf, until);
      if (n == 0) throw std::runtime_error("the server closed the connection");
      pending_.append(buf, n);
    }
  }

 private:
  weft::net::TcpStream& stream_;
  std::string pending_;  // bytes received and not yet returned
};

int client(std::string_view target) {
  // connect() resolves a name on the blocking pool, then tries each address.
  auto stream = weft::net::TcpStream::connect(target, kConnectTime);
  stream.set_nodelay(true);
  LineReader replies(stream);
  std::string line;
  for (;;) {
    // Reading stdin blocks its thread: let the blocking pool do it.
    const bool got = weft::unblock([&] { return static_cast<bool>(std::getline(std::cin, line)); });
    if (!got) break;
    const bool newline = !std::cin.eof();  // the last line of a file may lack one
    if (newline) line.push_back('\n');
    if (line.empty()) continue;
    stream.write_all(line.data(), line.size());
    std::string reply = replies.read_line(line.size(), newline, weft::deadline_in(kReplyTime));
    if (!newline) reply.push_back('\n');
    std::fwrite(reply.data(), 1, reply.size(), stdout);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string_view host, port;
  if (argc != 2 || !weft::net::split_host_port(argv[1], host, port) || host.empty() ||
      port.empty()) {
    std::fprintf(stderr, "usage: echo_client HOST:PORT\n");
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);  // a closed server must give EPIPE, not end us
  try {
    return weft::run(weft::Config{}.worker_threads(1), [&] { return client(argv[1]); });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "echo_client: %s\n", e.what());
    return 1;
  }
}
