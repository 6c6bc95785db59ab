// weft::Channel<T>: a multi-producer multi-consumer channel between fibers
// (and plain threads), bounded, rendezvous or unbounded, that can be closed.
#pragma once

#include <concepts>
#include <cstddef>
#include <iterator>
#include <memory>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

#include <weft/deadline.hpp>
#include <weft/detail/channel_core.hpp>
#include <weft/errors.hpp>

namespace weft {

// ChannelErrc are the channel conditions that the no-throw forms report in a
// std::error_code (category weft::channel_category()). The waits report the
// usual std::errc::timed_out (a deadline passed, the call's own or its
// deadline scope's) and std::errc::operation_canceled (the fiber was
// cancelled) beside them.
enum class ChannelErrc {
  closed = 1,      // the channel is closed (for a receive: closed and drained)
  full,            // try_send: no receiver waiting and no free slot
  empty,           // try_recv: no value ready (and not closed)
  sender_dropped,  // oneshot: the sender went away without sending
};

// channel_category() is the std::error_category of ChannelErrc ("weft.channel").
const std::error_category& channel_category() noexcept;

inline std::error_code make_error_code(ChannelErrc e) noexcept {
  return {static_cast<int>(e), channel_category()};
}

}  // namespace weft

template <>
struct std::is_error_code_enum<weft::ChannelErrc> : std::true_type {};

namespace weft {

// ChannelClosed is thrown by a throwing send on a closed channel (and by a
// oneshot receive whose sender went away: code ChannelErrc::sender_dropped).
// A std::system_error, so one catch handler sees it and timeouts alike.
class ChannelClosed : public std::system_error {
 public:
  explicit ChannelClosed(std::error_code ec = make_error_code(ChannelErrc::closed))
      : std::system_error(ec) {}
};

// Unbounded is the tag of a channel whose buffer grows as needed:
// Channel<T>(weft::unbounded), or Channel<T>::unbounded().
struct Unbounded {
  explicit constexpr Unbounded() = default;
};
inline constexpr Unbounded unbounded{};

namespace detail {
// status_error() is the error code of a blocking operation's outcome.
inline std::error_code status_error(Status s) noexcept {
  switch (s) {
    case Status::done:
      return {};
    case Status::closed:
      return make_error_code(ChannelErrc::closed);
    case Status::timed_out:
      return std::make_error_code(std::errc::timed_out);
    case Status::cancelled:
      break;
  }
  return std::make_error_code(std::errc::operation_canceled);
}
// throw_status() throws what a throwing form throws for s (not done):
// ChannelClosed, std::system_error(timed_out) or weft::Cancelled.
[[noreturn]] void throw_status(Status s, const char* what);
}  // namespace detail

// Channel<T> carries values of T from any number of senders to any number of
// receivers, each value to exactly one receiver, in the order they were sent
// (per sender; across senders, in the order they got the channel's lock).
//
// A Channel is a handle: copies share one channel (reference-counted shared
// state, as a Go channel value), so give each fiber or thread its own copy,
// captured by value. Every member is const and thread-safe. A moved-from
// handle is empty: only assign to it or destroy it. Dropping the last handle
// destroys the values still buffered; it does not close anything, since no one
// else can be waiting then.
//
// Capacity: n > 0 buffers up to n values (the slots are allocated once, at
// construction: sends and receives never allocate); 0 is a rendezvous (a send
// completes only when a receiver takes the value); unbounded never makes a
// sender wait (the buffer doubles when full).
//
// Closing: close() makes every later send fail and wakes parked senders, who
// fail too and keep their values; receivers still get every buffered value,
// then learn the channel is closed (recv() returns std::nullopt).
//
// Errors: throwing forms throw ChannelClosed (a send on a closed channel),
// std::system_error(std::errc::timed_out) when the deadline passes — the
// call's own deadline or the caller's deadline scope (weft::with_deadline) —
// and weft::Cancelled in a cancelled fiber. The no-throw forms take a
// std::error_code& and set ChannelErrc::closed, std::errc::timed_out or
// std::errc::operation_canceled instead (they still throw std::bad_alloc if an
// unbounded buffer cannot grow). A value that was not delivered is never moved
// from: a failed or timed-out send leaves it with the caller, and a value is
// handed only to a receiver that is still waiting for it, so none is lost or
// delivered twice. An operation that can complete at once does so even if its
// deadline has passed or the fiber is cancelled.
//
// Waiting parks only the calling fiber; on a plain thread it blocks the thread.
// Parked senders, and parked receivers, are served first come, first served.
// Before parking, a sender or receiver of a buffered channel whose other side
// last ran on another thread spins for a couple of microseconds: when both
// sides stream, that is cheaper than a park and a cross-thread wake.
// T's move constructor and destructor must not throw.
template <class T>
class Channel {
  using Core = detail::ChannelCore<T>;

 public:
  using value_type = T;
  // kUnbounded is the capacity() of an unbounded channel.
  static constexpr std::size_t kUnbounded = Core::kUnbounded;

  // Channel(n) makes a channel that buffers n values (0: rendezvous).
  explicit Channel(std::size_t capacity) : core_(std::make_shared<Core>(capacity)) {}
  // Channel(weft::unbounded) makes a channel whose buffer grows as needed.
  explicit Channel(Unbounded) : core_(std::make_shared<Core>(kUnbounded)) {}
  // unbounded() is Channel(weft::unbounded).
  static Channel unbounded() { return Channel(weft::unbounded); }

  // capacity() is the buffer size given at construction (kUnbounded).
  std::size_t capacity() const noexcept { return core_->capacity(); }
  // size() is the number of values buffered right now.
  std::size_t size() const noexcept { return core_->size(); }
  // is_closed() is true once close() was called.
  bool is_closed() const noexcept { return core_->is_closed(); }

  // close() closes the channel (see above); false if it was closed already.
  bool close() const noexcept { return core_->close(); }

  // send() delivers v, waiting for room (or, capacity 0, for a receiver) until
  // d. Throws ChannelClosed, std::system_error(timed_out) or Cancelled; v is
  // moved from only when the send succeeds.
  void send(T&& v, Deadline d = no_deadline) const {
    if (detail::Status s = core_->send(v, d); s != detail::Status::done)
      detail::throw_status(s, "weft: channel send");
  }
  void send(const T& v, Deadline d = no_deadline) const requires std::copy_constructible<T> {
    T copy(v);
    send(std::move(copy), d);
  }
  // send(v, ec, d) is the no-throw form: true when delivered; otherwise false,
  // ec says why, and v is untouched.
  bool send(T&& v, std::error_code& ec, Deadline d = no_deadline) const {
    ec = detail::status_error(core_->send(v, d));
    return !ec;
  }
  bool send(const T& v, std::error_code& ec,
            Deadline d = no_deadline) const requires std::copy_constructible<T> {
    T copy(v);
    return send(std::move(copy), ec, d);
  }

  // try_send() delivers v only if that needs no wait; false otherwise, with ec
  // (in the second form) ChannelErrc::full or ChannelErrc::closed, and v
  // untouched.
  bool try_send(T&& v) const { return core_->try_send(v) == detail::Ready::done; }
  bool try_send(T&& v, std::error_code& ec) const {
    detail::Ready r = core_->try_send(v);
    ec = r == detail::Ready::done     ? std::error_code()
         : r == detail::Ready::closed ? make_error_code(ChannelErrc::closed)
                                      : make_error_code(ChannelErrc::full);
    return !ec;
  }
  bool try_send(const T& v) const requires std::copy_constructible<T> {
    T copy(v);
    return try_send(std::move(copy));
  }
  bool try_send(const T& v, std::error_code& ec) const requires std::copy_constructible<T> {
    T copy(v);
    return try_send(std::move(copy), ec);
  }

  // recv() takes the next value, waiting until d; std::nullopt once the
  // channel is closed and drained. Throws std::system_error(timed_out) or
  // Cancelled.
  std::optional<T> recv(Deadline d = no_deadline) const {
    std::optional<T> out;
    detail::Status s = core_->recv(out, d);
    if (s == detail::Status::timed_out || s == detail::Status::cancelled)
      detail::throw_status(s, "weft: channel recv");
    return out;
  }
  // recv(ec, d) is the no-throw form: the value, or std::nullopt with ec set to
  // ChannelErrc::closed, std::errc::timed_out or std::errc::operation_canceled.
  std::optional<T> recv(std::error_code& ec, Deadline d = no_deadline) const noexcept {
    std::optional<T> out;
    ec = detail::status_error(core_->recv(out, d));
    return out;
  }

  // try_recv() takes a value only if one is ready; otherwise std::nullopt, with
  // ec (in the second form) ChannelErrc::empty or ChannelErrc::closed.
  std::optional<T> try_recv() const noexcept {
    std::optional<T> out;
    core_->try_recv(out);
    return out;
  }
  std::optional<T> try_recv(std::error_code& ec) const noexcept {
    std::optional<T> out;
    detail::Ready r = core_->try_recv(out);
    ec = r == detail::Ready::done     ? std::error_code()
         : r == detail::Ready::closed ? make_error_code(ChannelErrc::closed)
                                      : make_error_code(ChannelErrc::empty);
    return out;
  }

  // iterator reads the channel with recv() until it is closed and drained:
  //   for (auto& v : ch) use(std::move(v));
  // (bind by reference to move a move-only value out). Each step may throw
  // what recv() throws.
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    using reference = T&;

    iterator() = default;
    T& operator*() const { return *cur_; }
    T* operator->() const { return &*cur_; }
    iterator& operator++() {
      cur_ = ch_->recv();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept {
      return !it.cur_;
    }

   private:
    friend class Channel;
    explicit iterator(const Channel* ch) : ch_(ch) { ++*this; }
    const Channel* ch_ = nullptr;
    mutable std::optional<T> cur_;  // the value the iterator is on; empty at the end
  };
  // begin() receives the first value (so it waits).
  iterator begin() const { return iterator(this); }
  std::default_sentinel_t end() const noexcept { return {}; }

  // Two handles compare equal when they share one channel.
  friend bool operator==(const Channel& a, const Channel& b) noexcept { return a.core_ == b.core_; }

  // core() is the shared state, for select and oneshot. No API promise.
  Core* core() const noexcept { return core_.get(); }

 private:
  std::shared_ptr<Core> core_;
};

}  // namespace weft
