// weft::detail::Ring<T>: a channel's buffer. No API promise.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>
#include <utility>

namespace weft::detail {

// Ring is a circular buffer of T in storage it allocates itself: a bounded
// channel allocates all its slots once, up front, so sending and receiving
// never allocate; an unbounded one starts empty and doubles when full. Not
// thread-safe: the channel's lock guards it. T's move constructor must not
// throw (the channel moves values under its lock). size_hint() alone may be
// read without the lock, by a sender or receiver spinning before it parks.
template <class T>
class Ring {
 public:
  explicit Ring(std::size_t slots) : slots_(slots) {
    if (slots_) buf_ = std::allocator<T>().allocate(slots_);
  }
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  ~Ring() {
    while (size()) pop();
    if (buf_) std::allocator<T>().deallocate(buf_, slots_);
  }

  std::size_t size() const noexcept { return size_.load(std::memory_order_relaxed); }
  bool empty() const noexcept { return size() == 0; }
  bool full() const noexcept { return size() == slots_; }
  // size_hint() is size() for readers that do not hold the lock: a recent
  // value, good for deciding whether taking the lock is worth it.
  std::size_t size_hint() const noexcept { return size_.load(std::memory_order_relaxed); }

  // push() appends v; the caller makes sure the ring is not full (grow()).
  void push(T&& v) noexcept {
    const std::size_t n = size();
    std::size_t tail = head_ + n;
    if (tail >= slots_) tail -= slots_;
    std::construct_at(buf_ + tail, std::move(v));
    size_.store(n + 1, std::memory_order_relaxed);
  }

  // pop_into() moves the oldest value into out. Not on an empty ring.
  void pop_into(std::optional<T>& out) noexcept {
    out.emplace(std::move(buf_[head_]));
    pop();
  }

  // grow() doubles the slots (at least 16), keeping the order. Throws
  // std::bad_alloc, leaving the ring as it was.
  void grow() {
    std::size_t slots = slots_ ? slots_ * 2 : 16;
    T* buf = std::allocator<T>().allocate(slots);
    for (std::size_t i = 0, n = size(); i < n; ++i) {
      std::size_t at = head_ + i;
      if (at >= slots_) at -= slots_;
      std::construct_at(buf + i, std::move(buf_[at]));
      std::destroy_at(buf_ + at);
    }
    if (buf_) std::allocator<T>().deallocate(buf_, slots_);
    buf_ = buf;
    slots_ = slots;
    head_ = 0;
  }

 private:
  void pop() noexcept {
    std::destroy_at(buf_ + head_);
    if (++head_ == slots_) head_ = 0;
    size_.store(size() - 1, std::memory_order_relaxed);
  }

  T* buf_ = nullptr;  // slots_ slots; those in [head_, head_ + size_) modulo slots_ hold values
  std::size_t slots_ = 0;  // allocated slots
  std::size_t head_ = 0;   // index of the oldest value
  // Values held. Written under the channel's lock only (a plain load and
  // store, no read-modify-write), atomic so size_hint() may read it outside.
  std::atomic<std::size_t> size_{0};
};

}  // namespace weft::detail
