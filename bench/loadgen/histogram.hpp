// histogram.hpp: the latency histogram of weft_loadgen.
//
// Log-linear buckets in the style of HdrHistogram: values below 256 ns have a
// bucket each; above, every power of two is cut into 128 equal buckets, so a
// recorded value is known to within 1/256 (0.4%) of itself. The buckets are one
// fixed array (58 KiB): recording is an index computation and an increment,
// with no allocation, and histograms merge by adding arrays.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace loadgen {

class LatencyHistogram {
 public:
  // kSubBits: 2^7 = 128 buckets per power of two.
  static constexpr int kSubBits = 7;
  static constexpr std::uint64_t kSub = std::uint64_t{1} << kSubBits;
  // Exact buckets for [0, 2 * kSub), then 64 - kSubBits - 1 octaves of kSub each.
  static constexpr std::size_t kBuckets = 2 * kSub + (64 - kSubBits - 1) * kSub;

  // record() adds one value (nanoseconds).
  void record(std::uint64_t ns) noexcept {
    counts_[index(ns)]++;
    count_++;
    max_ = std::max(max_, ns);
  }

  // merge() adds the values of another histogram.
  void merge(const LatencyHistogram& o) noexcept {
    for (std::size_t i = 0; i < kBuckets; i++) counts_[i] += o.counts_[i];
    count_ += o.count_;
    max_ = std::max(max_, o.max_);
  }

  std::uint64_t count() const noexcept { return count_; }
  std::uint64_t max() const noexcept { return max_; }

  // percentile() is the value at or below which p percent of the recorded
  // values lie (0 when empty): the middle of its bucket, never above max().
  std::uint64_t percentile(double p) const noexcept {
    if (count_ == 0) return 0;
    const auto rank = std::max<std::uint64_t>(
        1, static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_))));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; i++) {
      seen += counts_[i];
      if (seen >= rank) return std::min(middle(i), max_);
    }
    return max_;
  }

  // index() is the bucket of a value.
  static std::size_t index(std::uint64_t v) noexcept {
    if (v < 2 * kSub) return static_cast<std::size_t>(v);
    // v has its top bit at position top >= kSubBits + 1; keep kSubBits + 1 bits.
    const int top = 63 - std::countl_zero(v);
    const int shift = top - kSubBits;
    return static_cast<std::size_t>(2 * kSub + std::uint64_t(shift - 1) * kSub +
                                    ((v >> shift) - kSub));
  }

  // lowest() is the smallest value that falls in bucket i.
  static std::uint64_t lowest(std::size_t i) noexcept {
    if (i < 2 * kSub) return i;
    const int shift = static_cast<int>((i - 2 * kSub) / kSub) + 1;
    return (kSub + (i - 2 * kSub) % kSub) << shift;
  }

  // middle() is the value that stands for bucket i.
  static std::uint64_t middle(std::size_t i) noexcept {
    if (i < 2 * kSub) return i;
    const int shift = static_cast<int>((i - 2 * kSub) / kSub) + 1;
    return lowest(i) + ((std::uint64_t{1} << shift) >> 1);
  }

 private:
  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace loadgen
