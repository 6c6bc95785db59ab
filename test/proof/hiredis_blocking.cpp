// The proof that weft_hook lets an unmodified blocking client library run in
// fibers: hiredis's blocking API (redisConnectWithTimeout, redisCommand,
// redisSetTimeout) against a real redis-server, a thousand connections at a
// time, on one worker as on several.
//
// BLPOP is the witness. The server answers it only when something is pushed,
// so a thousand fibers in BLPOP and one more that pushes can only finish if
// every waiter parks its fiber rather than its thread: on one worker without
// the hooks the first BLPOP would hold the thread until its server-side
// timeout, and the pusher would run after 1000 of them, some 80 minutes on.
// The pusher also waits for the server to report all of them blocked at once
// before it pushes, so the case cannot pass by luck of ordering.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <weft/weft.hpp>

#include "redis_server.hpp"
#include "support.hpp"

namespace {

using namespace proof;

// kFibers is the number of concurrent connections: well past what a thread
// per connection would take, well within ulimit -n and redis's maxclients.
constexpr int kFibers = 1000;

// kConnectTimeout covers a SYN retransmitted when a thousand connects
// overflow the listen backlog (the first retry comes after 1 s).
constexpr timeval kConnectTimeout{10, 0};

// kBatchLimit is what "well under serial time" means for the BLPOP batch: a
// thousand connects and a few round trips each take a second or two even on a
// loaded machine; serially the batch would take 1000 x 5 s.
constexpr auto kBatchLimit = 10s;

struct FreeReply {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, FreeReply>;

struct FreeContext {
  void operator()(redisContext* c) const { redisFree(c); }
};
using Context = std::unique_ptr<redisContext, FreeContext>;

// command() runs one command through hiredis's blocking API.
Reply command(redisContext* c, const char* format, ...) {
  va_list ap;
  va_start(ap, format);
  void* r = redisvCommand(c, format, ap);
  va_end(ap);
  return Reply(static_cast<redisReply*>(r));
}

// connect() opens a blocking hiredis connection; on failure it returns null
// and names the reason in *error.
Context connect(int port, std::string* error) {
  Context c(redisConnectWithTimeout("127.0.0.1", port, kConnectTimeout));
  if (!c) {
    *error = "redisConnectWithTimeout: out of memory";
  } else if (c->err) {
    *error = "redisConnectWithTimeout: " + std::string(c->errstr);
    c.reset();
  }
  return c;
}

// describe() names what a command returned, for failure messages.
std::string describe(redisContext* c, const redisReply* r) {
  if (!r) return "no reply (err " + std::to_string(c->err) + ": " + c->errstr + ")";
  switch (r->type) {
    case REDIS_REPLY_STRING: return "string \"" + std::string(r->str, r->len) + "\"";
    case REDIS_REPLY_STATUS: return "status " + std::string(r->str, r->len);
    case REDIS_REPLY_ERROR: return "error " + std::string(r->str, r->len);
    case REDIS_REPLY_INTEGER: return "integer " + std::to_string(r->integer);
    case REDIS_REPLY_NIL: return "nil";
    case REDIS_REPLY_ARRAY: return "array of " + std::to_string(r->elements);
  }
  return "reply of type " + std::to_string(r->type);
}

// Failures collects what went wrong in many fibers: the count and the first
// message, checked by the fiber that joins them (one line, not a thousand).
struct Failures {
  int count = 0;
  std::string first;

  void add(const std::string& what) {
    if (what.empty()) return;
    if (count++ == 0) first = what;
  }
};

// join_all() joins fibers that return an error message (empty on success).
Failures join_all(std::vector<weft::JoinHandle<std::string>>& fibers) {
  Failures f;
  for (auto& h : fibers) f.add(h.join());
  return f;
}

// blocked_clients() is the server's count of clients blocked in a command
// such as BLPOP, or -1 when INFO fails.
long blocked_clients(redisContext* c) {
  Reply info = command(c, "INFO clients");
  if (!info || info->type != REDIS_REPLY_STRING) return -1;
  const char* at = std::strstr(info->str, "blocked_clients:");
  return at ? std::strtol(at + std::strlen("blocked_clients:"), nullptr, 10) : -1;
}

// blpop_value() waits in BLPOP on its own connection for its own value.
std::string blpop_value(int port, const std::string& key, const std::string& value) {
  std::string error;
  Context c = connect(port, &error);
  if (!c) return error;
  Reply r = command(c.get(), "BLPOP %s 5", key.c_str());
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
      r->element[1]->type != REDIS_REPLY_STRING) {
    return "BLPOP " + key + ": " + describe(c.get(), r.get());
  }
  std::string got(r->element[1]->str, r->element[1]->len);
  if (got != value) return "BLPOP " + key + ": got \"" + got + "\", want \"" + value + "\"";
  return {};
}

// kSlowRoundTrip is a loopback round trip no loaded machine explains: a
// fiber woken by its reply but left unscheduled (a lost wakeup), which the
// waiters' failures alone would not point at.
constexpr auto kSlowRoundTrip = 1s;

// push_when_all_blocked() waits until the server reports every waiter
// blocked, then pushes each its value, timing each round trip.
template <class Key, class Value>
std::string push_when_all_blocked(int port, Key key, Value value) {
  std::string error;
  Context c = connect(port, &error);
  if (!c) return "pusher: " + error;
  auto t0 = Clock::now();
  long blocked = 0;
  while ((blocked = blocked_clients(c.get())) != kFibers) {
    if (blocked < 0) return "pusher: INFO clients: " + describe(c.get(), nullptr);
    if (Clock::now() - t0 > kBatchLimit) {
      error = "pusher: only " + std::to_string(blocked) + " of " + std::to_string(kFibers) +
              " clients were blocked in BLPOP at once after " + std::to_string(ms_since(t0)) +
              " ms";
      break;  // push anyway, so the waiters finish early
    }
    weft::this_fiber::sleep_for(2ms);
  }
  for (int i = 0; i < kFibers; ++i) {
    auto sent = Clock::now();
    Reply r = command(c.get(), "RPUSH %s %s", key(i).c_str(), value(i).c_str());
    if (!r || r->type != REDIS_REPLY_INTEGER) {
      return "pusher: RPUSH " + key(i) + ": " + describe(c.get(), r.get());
    }
    if (Clock::now() - sent > kSlowRoundTrip && error.empty()) {
      error = "pusher: RPUSH #" + std::to_string(i) + " took " + std::to_string(ms_since(sent)) +
              " ms on worker " + std::to_string(weft::this_fiber::worker_index());
    }
  }
  return error;
}

// set_get_values() does rounds of SET and GET of its own key, checking that
// each GET sees the value just set.
std::string set_get_values(int port, const std::string& key, int rounds) {
  std::string error;
  Context c = connect(port, &error);
  if (!c) return error;
  for (int round = 0; round < rounds; ++round) {
    std::string value = key + "/" + std::to_string(round);
    Reply set = command(c.get(), "SET %s %s", key.c_str(), value.c_str());
    if (!set || set->type != REDIS_REPLY_STATUS || std::strcmp(set->str, "OK") != 0) {
      return "SET " + key + ": " + describe(c.get(), set.get());
    }
    Reply get = command(c.get(), "GET %s", key.c_str());
    if (!get || get->type != REDIS_REPLY_STRING || std::string(get->str, get->len) != value) {
      return "GET " + key + ": " + describe(c.get(), get.get()) + ", want \"" + value + "\"";
    }
  }
  return {};
}

// TimedOut is how a BLPOP cut short by redisSetTimeout came back.
struct TimedOut {
  bool null_reply = false;  // redisCommand returned no reply
  int err = 0;              // c->err
  int saved_errno = 0;      // errno right after redisCommand
  std::string errstr;       // c->errstr
  Clock::duration took{};   // how long redisCommand took
};

// blpop_with_timeout() sends a BLPOP the server never answers (timeout 0
// waits forever, on a key nobody pushes) on a connection whose socket
// timeout is `timeout`, and reports how hiredis came back.
TimedOut blpop_with_timeout(int port, const std::string& key, timeval timeout,
                            std::string* error) {
  TimedOut out;
  Context c = connect(port, error);
  if (!c) return out;
  if (redisSetTimeout(c.get(), timeout) != REDIS_OK) {
    *error = "redisSetTimeout: " + std::string(c->errstr);
    return out;
  }
  auto t0 = Clock::now();
  Reply r = command(c.get(), "BLPOP %s 0", key.c_str());
  out.saved_errno = errno;
  out.took = Clock::now() - t0;
  out.null_reply = !r;
  out.err = c->err;
  out.errstr = c->errstr;
  return out;
}

// kSocketTimeout is the redisSetTimeout of the timeout cases.
constexpr timeval kSocketTimeout{0, 200'000};

// check_timed_out() checks a BLPOP cut short by kSocketTimeout: hiredis
// reports the read that timed out (SO_RCVTIMEO makes read fail with EAGAIN on
// a blocking socket, which hiredis's blocking mode treats as an I/O error),
// after about the timeout.
void check_timed_out(const TimedOut& t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.took).count();
  INFO("redisCommand returned after " << ms << " ms, err " << t.err << " (" << t.errstr
                                      << "), errno " << t.saved_errno);
  CHECK(t.null_reply);
  CHECK(t.err == REDIS_ERR_IO);
  CHECK(t.saved_errno == EAGAIN);
  CHECK(t.errstr == std::strerror(EAGAIN));
  CHECK(ms > 150);
  CHECK(ms < 3000);
}

}  // namespace

TEST_CASE("hiredis, outside a fiber: redisSetTimeout cuts a BLPOP short with EAGAIN") {
  // The hooks step aside outside fibers, and this is hiredis's own report of
  // a socket timeout, which the fiber cases must match.
  RedisServer server;
  std::string error;
  TimedOut t = blpop_with_timeout(server.port(), "plain:nokey", kSocketTimeout, &error);
  REQUIRE(error == "");
  check_timed_out(t);
}

TEST_CASE("hiredis: 1000 fibers wait in BLPOP at once; one more fiber serves them all") {
  RedisServer server;
  const int port = server.port();
  for (unsigned n : kWorkerCounts) {
    run_clean(n, [&] {
      auto key = [n](int i) { return "blpop:" + std::to_string(n) + ":" + std::to_string(i); };
      auto value = [n](int i) { return "value-" + std::to_string(i) + "-" + std::to_string(n); };
      auto t0 = Clock::now();
      std::vector<weft::JoinHandle<std::string>> waiters;
      waiters.reserve(kFibers);
      for (int i = 0; i < kFibers; ++i) {
        waiters.push_back(weft::spawn([=] { return blpop_value(port, key(i), value(i)); }));
      }
      auto pusher = weft::spawn([=] { return push_when_all_blocked(port, key, value); });
      Failures failed = join_all(waiters);
      std::string push_error = pusher.join();
      auto ms = ms_since(t0);
      std::printf("hiredis BLPOP batch, %u worker(s): %d connections served in %lld ms\n", n,
                  kFibers, ms);
      CHECK_MESSAGE(push_error.empty(), push_error);
      INFO("first failure: " << failed.first);
      CHECK(failed.count == 0);
      CHECK(ms < std::chrono::milliseconds(kBatchLimit).count());
    });
  }
}

TEST_CASE("hiredis: 1000 fibers do SET and GET round trips on their own keys") {
  RedisServer server;
  const int port = server.port();
  constexpr int kRounds = 5;
  for (unsigned n : kWorkerCounts) {
    run_clean(n, [&] {
      auto t0 = Clock::now();
      std::vector<weft::JoinHandle<std::string>> fibers;
      fibers.reserve(kFibers);
      for (int i = 0; i < kFibers; ++i) {
        std::string key = "rt:" + std::to_string(n) + ":" + std::to_string(i);
        fibers.push_back(weft::spawn([=] { return set_get_values(port, key, kRounds); }));
      }
      Failures failed = join_all(fibers);
      std::printf("hiredis SET/GET batch, %u worker(s): %d connections x %d rounds in %lld ms\n",
                  n, kFibers, kRounds, ms_since(t0));
      INFO("first failure: " << failed.first);
      CHECK(failed.count == 0);
    });
  }
}

TEST_CASE("hiredis: redisSetTimeout cuts a BLPOP short in a fiber; the worker runs on") {
  // On one worker, a read that held its thread for the timeout would stop
  // the ticker; parked, it lets the ticker count on. Several connections time
  // out together, so their deadlines must run concurrently too.
  RedisServer server;
  const int port = server.port();
  constexpr int kTimedFibers = 50;
  for (unsigned n : kWorkerCounts) {
    run_clean(n, [&] {
      std::atomic<bool> stop{false};
      std::atomic<long> ticks{0};
      auto ticker = weft::spawn([&] {
        while (!stop.load()) {
          weft::this_fiber::sleep_for(1ms);
          ticks.fetch_add(1);
        }
      });
      struct Outcome {
        TimedOut t;
        std::string error;
      };
      auto t0 = Clock::now();
      long ticks0 = ticks.load();
      std::vector<weft::JoinHandle<Outcome>> fibers;
      for (int i = 0; i < kTimedFibers; ++i) {
        std::string key = "nokey:" + std::to_string(n) + ":" + std::to_string(i);
        fibers.push_back(weft::spawn([=] {
          Outcome o;
          o.t = blpop_with_timeout(port, key, kSocketTimeout, &o.error);
          return o;
        }));
      }
      std::vector<Outcome> outcomes;
      for (auto& f : fibers) outcomes.push_back(f.join());
      long ms = ms_since(t0);
      long ticked = ticks.load() - ticks0;
      stop.store(true);
      ticker.join();
      std::printf("hiredis socket timeout, %u worker(s): %d x 200 ms timeouts in %ld ms, "
                  "%ld ticks of 1 ms meanwhile\n",
                  n, kTimedFibers, ms, ticked);
      for (const Outcome& o : outcomes) {
        REQUIRE(o.error == "");
        check_timed_out(o.t);
      }
      // Serially the timeouts would take 50 x 200 ms; together, about one.
      CHECK(ms < 3000);
      // 1 ms sleeps on a loaded machine may take several; 20 in 200 ms is
      // far above the none a blocked thread would allow.
      CHECK(ticked >= 20);
    });
  }
}
