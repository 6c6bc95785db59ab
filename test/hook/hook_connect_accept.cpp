// Hooked accept, accept4 and connect on blocking sockets: accept parks until
// a client comes and returns a socket that is itself blocking to the program;
// connect returns 0 once connected, or -1 with libc's errno.
#include <netinet/tcp.h>

#include <cstring>
#include <vector>

#include "support.hpp"

using namespace hook_test;

TEST_CASE("accept parks until a client connects and names the client") {
  for_each_workers([](const Env& env) {
    Fd l = tcp_listener();
    Fd c = tcp_socket();
    Sidekick side([&] { CHECK(connect_to(c.get(), local_addr(l.get())) == 0); });
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    Fd s(side.call([&] { return ::accept(l.get(), reinterpret_cast<sockaddr*>(&peer), &len); }));
    side.finish(env.workers);
    REQUIRE(s);
    CHECK(len == sizeof peer);
    CHECK(same_addr(peer, local_addr(c.get())));
    // The accepted socket is blocking to the program, and works.
    CHECK_FALSE(shows_nonblocking(s.get()));
    CHECK(::write(c.get(), "x", 1) == 1);
    char ch = 0;
    CHECK(::read(s.get(), &ch, 1) == 1);
    CHECK(ch == 'x');
  });
}

TEST_CASE("accept4 passes its flags on to the new socket") {
  for_each_workers([](const Env& env) {
    Fd l = tcp_listener();
    Fd c = tcp_socket();
    Sidekick side([&] { CHECK(connect_to(c.get(), local_addr(l.get())) == 0); });
    Fd s(side.call([&] { return ::accept4(l.get(), nullptr, nullptr, SOCK_CLOEXEC); }));
    side.finish(env.workers);
    REQUIRE(s);
    CHECK((::fcntl(s.get(), F_GETFD) & FD_CLOEXEC) != 0);
    CHECK_FALSE(shows_nonblocking(s.get()));

    // SOCK_NONBLOCK: the program asked for a non-blocking socket.
    Fd c2 = tcp_socket();
    CHECK(connect_to(c2.get(), local_addr(l.get())) == 0);
    Fd s2(::accept4(l.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    REQUIRE(s2);
    CHECK(shows_nonblocking(s2.get()));
    char ch;
    errno = 0;
    CHECK(::read(s2.get(), &ch, 1) == -1);
    CHECK(last_errno() == EAGAIN);
  });
}

TEST_CASE("connect to a listener returns 0 and the socket is connected") {
  for_each_workers([](const Env&) {
    Fd l = tcp_listener();
    Fd c = tcp_socket();
    CHECK(connect_to(c.get(), local_addr(l.get())) == 0);
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    CHECK(::getpeername(c.get(), reinterpret_cast<sockaddr*>(&peer), &len) == 0);
    CHECK(same_addr(peer, local_addr(l.get())));
    CHECK_FALSE(shows_nonblocking(c.get()));
    int err = -1;
    socklen_t elen = sizeof err;
    CHECK(::getsockopt(c.get(), SOL_SOCKET, SO_ERROR, &err, &elen) == 0);
    CHECK(err == 0);
    // A second connect on a connected socket: EISCONN, as libc says.
    errno = 0;
    CHECK(connect_to(c.get(), local_addr(l.get())) == -1);
    CHECK(last_errno() == EISCONN);
  });
}

TEST_CASE("connect to a closed port fails with ECONNREFUSED") {
  for_each_workers([](const Env&) {
    const sockaddr_in nobody = closed_port();
    for (int i = 0; i < 3; ++i) {
      Fd c = tcp_socket();
      errno = 0;
      CHECK(connect_to(c.get(), nobody) == -1);
      CHECK(last_errno() == ECONNREFUSED);
    }
  });
}

TEST_CASE("connect that has to wait for the accept queue parks the fiber") {
  // A listener with a full accept queue drops new SYNs, so the next connect
  // waits for a retransmission (about a second): long enough for a sidekick
  // to make room by accepting.
  for_each_workers([](const Env& env) {
    Fd l = tcp_listener(0);
    // Backlog 0 holds one connection on Linux: this one fills the queue.
    Fd queued = tcp_socket();
    CHECK(connect_to(queued.get(), local_addr(l.get())) == 0);
    Fd c = tcp_socket();
    Sidekick side([&] {
      for (int i = 0; i < 2; ++i) {
        Fd s(::accept(l.get(), nullptr, nullptr));
        CHECK(s);
      }
    });
    auto t0 = Clock::now();
    int rc = side.call([&] { return connect_to(c.get(), local_addr(l.get())); });
    CHECK(rc == 0);
    CHECK(ms_since(t0) < 10'000);
    side.finish(env.workers);
  });
}

namespace {
constexpr int kClients = 50;
}  // namespace

TEST_CASE("one fiber accepts and echoes many clients, each on its own fiber") {
  for_each_workers([](const Env&) {
    Fd l = tcp_listener();
    const sockaddr_in addr = local_addr(l.get());
    auto server = weft::spawn([&] {
      std::vector<weft::JoinHandle<void>> conns;
      for (int i = 0; i < kClients; ++i) {
        int s = ::accept(l.get(), nullptr, nullptr);
        REQUIRE(s >= 0);
        conns.push_back(weft::spawn([s] {
          Fd conn(s);
          char buf[64];
          ssize_t n;
          while ((n = ::read(conn.get(), buf, sizeof buf)) > 0) CHECK(::write(conn.get(), buf, n) == n);
          CHECK(n == 0);
        }));
      }
      for (auto& c : conns) c.join();
    });
    std::atomic<int> echoed{0};
    std::vector<weft::JoinHandle<void>> clients;
    for (int i = 0; i < kClients; ++i) {
      clients.push_back(weft::spawn([&, i] {
        Fd c = tcp_socket();
        REQUIRE(connect_to(c.get(), addr) == 0);
        std::string msg = "client " + std::to_string(i);
        CHECK(::write(c.get(), msg.data(), msg.size()) == static_cast<ssize_t>(msg.size()));
        std::string back(msg.size(), '\0');
        CHECK(::recv(c.get(), back.data(), back.size(), MSG_WAITALL) == static_cast<ssize_t>(msg.size()));
        if (back == msg) echoed.fetch_add(1);
        CHECK(::shutdown(c.get(), SHUT_WR) == 0);
        char end;
        CHECK(::read(c.get(), &end, 1) == 0);
      }));
    }
    for (auto& c : clients) c.join();
    server.join();
    CHECK(echoed.load() == kClients);
  });
}
