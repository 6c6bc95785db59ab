// Hooked name lookups: getaddrinfo and gethostbyname called from fibers
// run on the blocking pool (the worker thread never sits in the resolver)
// and return what libc returns. Only names /etc/hosts or the numeric parser
// answer, so the tests need no network.
#include <netdb.h>

#include <cstring>
#include <vector>

#include "support.hpp"

using namespace hook_test;

namespace {

// lookup_v4() resolves host:service to its first IPv4 address, or returns
// the getaddrinfo error.
int lookup_v4(const char* host, const char* service, int flags, sockaddr_in* out) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = flags;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(host, service, &hints, &res);
  if (rc != 0) return rc;
  if (!res || res->ai_family != AF_INET || res->ai_addrlen != sizeof(sockaddr_in)) {
    ::freeaddrinfo(res);
    return EAI_FAIL;
  }
  std::memcpy(out, res->ai_addr, sizeof *out);
  ::freeaddrinfo(res);
  return 0;
}

}  // namespace

TEST_CASE("getaddrinfo(\"localhost\") from a fiber runs on the blocking pool") {
  for_each_workers([](const Env& env) {
    // A fresh runtime has started no blocking thread yet; the lookup must.
    CHECK(env.rt.stats().blocking_threads == 0);
    sockaddr_in sa{};
    CHECK(lookup_v4("localhost", "8080", 0, &sa) == 0);
    CHECK(sa.sin_addr.s_addr == htonl(INADDR_LOOPBACK));
    CHECK(sa.sin_port == htons(8080));
    CHECK(env.rt.stats().blocking_threads >= 1);
  });
}

TEST_CASE("many fibers resolve at once and connect to what they found") {
  for_each_workers([](const Env&) {
    Fd l = tcp_listener();
    const std::string port = std::to_string(ntohs(local_addr(l.get()).sin_port));
    std::atomic<int> ok{0};
    std::vector<weft::JoinHandle<void>> fibers;
    for (int i = 0; i < 32; ++i) {
      fibers.push_back(weft::spawn([&] {
        sockaddr_in sa{};
        if (lookup_v4("localhost", port.c_str(), 0, &sa) != 0) return;
        Fd c = tcp_socket();
        if (connect_to(c.get(), sa) == 0) ok.fetch_add(1);
      }));
    }
    for (auto& f : fibers) f.join();
    CHECK(ok.load() == 32);
  });
}

TEST_CASE("getaddrinfo errors come back as libc's codes") {
  for_each_workers([](const Env&) {
    sockaddr_in sa{};
    CHECK(lookup_v4("127.0.0.1", "80", AI_NUMERICHOST, &sa) == 0);
    CHECK(sa.sin_addr.s_addr == htonl(INADDR_LOOPBACK));
    // A name where only a number is allowed: no lookup, EAI_NONAME.
    CHECK(lookup_v4("localhost", "80", AI_NUMERICHOST, &sa) == EAI_NONAME);
    // An unknown service name.
    CHECK(lookup_v4("127.0.0.1", "no-such-service-here", AI_NUMERICHOST, &sa) == EAI_SERVICE);
  });
}

TEST_CASE("gethostbyname(\"localhost\") from a fiber") {
  for_each_workers([](const Env& env) {
    CHECK(env.rt.stats().blocking_threads == 0);
    hostent* h = ::gethostbyname("localhost");
    REQUIRE(h != nullptr);
    CHECK(h->h_addrtype == AF_INET);
    CHECK(h->h_length == 4);
    REQUIRE(h->h_addr_list[0] != nullptr);
    in_addr a{};
    std::memcpy(&a, h->h_addr_list[0], sizeof a);
    CHECK(a.s_addr == htonl(INADDR_LOOPBACK));
    CHECK(env.rt.stats().blocking_threads >= 1);
  });
}
