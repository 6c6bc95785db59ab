// channel_pingpong: round trips over two capacity-1 channels. weft has no channel
// type of its own yet, so this uses Boost.Fiber's buffered_channel, as the
// Boost.Fiber peer does: it parks and wakes weft fibers, on one thread or across.
//
// --threads 1: both sides are fibers of one single-worker runtime.
// --threads 2: each side runs in its own single-worker runtime, so every hop
// crosses OS threads (as the peers do with two single-thread schedulers).
#include <cstdint>

#include <boost/fiber/buffered_channel.hpp>

#include <weft/weft.hpp>

#include "micro.hpp"

namespace weft::bench {

namespace {

// Capacity 2 holds one value: buffered_channel keeps one slot free.
using Chan = boost::fibers::buffered_channel<std::uint64_t>;

// pingpong_side() is one side of n round trips: the first sends i and expects
// i + 1 back, the other answers every value with its successor.
void pingpong_side(Chan& in, Chan& out, std::uint64_t n, bool first) {
  for (std::uint64_t i = 0; i < n; i++) {
    std::uint64_t v = i;
    if (first) {
      out.push(i);
      in.pop(v);
      if (v != i + 1) fail("channel_pingpong: bad value");
    } else {
      in.pop(v);
      out.push(v + 1);
    }
  }
}

}  // namespace

Result channel_pingpong(const Options& opt) {
  const bool cross = opt.threads > 1;
  Result r;
  r.ops = cross ? 100'000 : 1'000'000;  // a cross-thread hop costs tens of us on these VMs
  const std::uint64_t n = r.ops;
  Chan ping(2), pong(2);
  if (cross) {
    weft::Runtime answer_rt(opt.config(1));
    weft::Runtime ask_rt(opt.config(1));
    auto answer = answer_rt.spawn([&] { pingpong_side(ping, pong, n, false); });
    r.seconds = ask_rt.block_on([&] {
      const auto t0 = Clock::now();
      pingpong_side(pong, ping, n, true);
      return seconds_since(t0);
    });
    answer.join();
  } else {
    weft::Runtime rt(opt.config(1));
    r.seconds = rt.block_on([&] {
      const auto t0 = Clock::now();
      auto answer = weft::spawn([&] { pingpong_side(ping, pong, n, false); });
      pingpong_side(pong, ping, n, true);
      answer.join();
      return seconds_since(t0);
    });
  }
  return r;
}

}  // namespace weft::bench
