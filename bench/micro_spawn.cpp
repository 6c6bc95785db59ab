// Spawn and switch costs: skynet (a 10-ary tree of fibers), spawn_join (1M fibers
// spawned, then joined) and yield_pingpong (two fibers yielding in turn).
#include <array>
#include <cstdint>
#include <vector>

#include <weft/weft.hpp>

#include "micro.hpp"

namespace weft::bench {

namespace {

// skynet_node() is one node of the tree: a leaf returns its number, an inner node
// spawns div children over its range and sums what they return.
std::uint64_t skynet_node(std::uint64_t num, std::uint64_t size, std::uint64_t div) {
  if (size == 1) return num;
  const std::uint64_t sub = size / div;
  std::array<weft::JoinHandle<std::uint64_t>, 10> children;
  for (std::uint64_t i = 0; i < div; i++) {
    children[i] = weft::spawn([num, i, sub, div] { return skynet_node(num + i * sub, sub, div); });
  }
  std::uint64_t sum = 0;
  for (std::uint64_t i = 0; i < div; i++) sum += children[i].join();
  return sum;
}

}  // namespace

Result skynet(const Options& opt) {
  weft::Runtime rt(opt.config(opt.threads));
  return rt.block_on([] {
    Result r;
    r.ops = 1'111'111;  // fibers in the tree: 1 + 10 + ... + 10^6
    const auto t0 = Clock::now();
    const std::uint64_t sum = weft::spawn([] { return skynet_node(0, 1'000'000, 10); }).join();
    r.seconds = seconds_since(t0);
    if (sum != 499'999'500'000ull) fail("skynet: wrong sum");
    return r;
  });
}

Result spawn_join(const Options& opt) {
  weft::Runtime rt(opt.config(opt.threads));
  return rt.block_on([] {
    Result r;
    r.ops = 1'000'000;
    std::vector<weft::JoinHandle<void>> handles;
    handles.reserve(r.ops);
    const auto t0 = Clock::now();
    for (std::uint64_t i = 0; i < r.ops; i++) handles.push_back(weft::spawn([] {}));
    for (auto& h : handles) h.join();
    r.seconds = seconds_since(t0);
    return r;
  });
}

Result yield_pingpong(const Options& opt) {
  weft::Runtime rt(opt.config(opt.threads));
  return rt.block_on([] {
    Result r;
    r.ops = 10'000'000;  // yields in total, half by each fiber
    const std::uint64_t half = r.ops / 2;
    auto body = [half] {
      for (std::uint64_t i = 0; i < half; i++) weft::this_fiber::yield();
    };
    const auto t0 = Clock::now();
    auto a = weft::spawn(body);
    auto b = weft::spawn(body);
    a.join();
    b.join();
    r.seconds = seconds_since(t0);
    return r;
  });
}

}  // namespace weft::bench
