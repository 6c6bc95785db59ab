// weft::oneshot<T>(): one value from one producer to one consumer.
#pragma once

#include <memory>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <weft/channel.hpp>
#include <weft/deadline.hpp>
#include <weft/detail/channel_core.hpp>

namespace weft {

template <class T>
class OneshotSender;
template <class T>
class OneshotReceiver;

// oneshot<T>() makes a connected pair; each end is move-only, may travel to
// another fiber or thread, and closes its side when dropped:
//   auto [tx, rx] = weft::oneshot<int>();
//   weft::spawn([tx = std::move(tx)]() mutable { tx.send(42); });
//   int v = rx.recv(weft::deadline_in(1s));
template <class T>
std::pair<OneshotSender<T>, OneshotReceiver<T>> oneshot() {
  auto core = std::make_shared<detail::ChannelCore<T>>(1);
  return {OneshotSender<T>(core), OneshotReceiver<T>(std::move(core))};
}

// OneshotSender<T> sends the one value. Dropping it unsent makes the
// receiver's recv() fail with ChannelErrc::sender_dropped.
template <class T>
class OneshotSender {
 public:
  OneshotSender() noexcept = default;
  OneshotSender(OneshotSender&&) noexcept = default;
  OneshotSender& operator=(OneshotSender&& o) noexcept {
    if (this != &o) {
      release();
      core_ = std::move(o.core_);
    }
    return *this;
  }
  ~OneshotSender() { release(); }

  // send() hands v over; it never waits. False if the receiver is gone, and
  // then v is untouched. A sender sends once: a second send() (or a send()
  // on an empty sender) throws std::logic_error.
  bool send(T&& v) {
    if (!core_) throw std::logic_error("weft: oneshot sender used twice (or moved from)");
    const bool sent = core_->try_send(v) == detail::Ready::done;
    release();
    return sent;
  }
  bool send(const T& v) requires std::copy_constructible<T> {
    T copy(v);
    return send(std::move(copy));
  }

  // is_closed() is true once the receiver is gone (or this sender has sent).
  bool is_closed() const noexcept { return !core_ || core_->is_closed(); }

 private:
  friend std::pair<OneshotSender, OneshotReceiver<T>> oneshot<T>();
  explicit OneshotSender(std::shared_ptr<detail::ChannelCore<T>> core) noexcept
      : core_(std::move(core)) {}
  // release() closes the channel after the value (if any), so the receiver
  // learns that nothing more will come.
  void release() noexcept {
    if (core_) {
      core_->close();
      core_.reset();
    }
  }

  std::shared_ptr<detail::ChannelCore<T>> core_;  // null once sent, or moved from
};

// OneshotReceiver<T> receives the one value. Dropping it makes a later send()
// return false.
template <class T>
class OneshotReceiver {
 public:
  OneshotReceiver() noexcept = default;
  OneshotReceiver(OneshotReceiver&&) noexcept = default;
  OneshotReceiver& operator=(OneshotReceiver&& o) noexcept {
    if (this != &o) {
      release();
      core_ = std::move(o.core_);
    }
    return *this;
  }
  ~OneshotReceiver() { release(); }

  // recv() waits for the value until d. Throws ChannelClosed with
  // ChannelErrc::sender_dropped when the sender went away without sending,
  // std::system_error(std::errc::timed_out), or weft::Cancelled; after a
  // timeout or a cancellation it may be called again. Once the value is
  // taken, further calls throw std::logic_error.
  T recv(Deadline d = no_deadline) {
    std::error_code ec;
    std::optional<T> v = recv(ec, d);
    if (!v) {
      if (ec == std::errc::operation_canceled) throw Cancelled();
      if (ec == ChannelErrc::sender_dropped) throw ChannelClosed(ec);
      throw std::system_error(ec, "weft: oneshot recv");
    }
    return std::move(*v);
  }
  // recv(ec, d) is the no-throw form: the value, or std::nullopt with ec set to
  // ChannelErrc::sender_dropped, std::errc::timed_out or
  // std::errc::operation_canceled.
  std::optional<T> recv(std::error_code& ec, Deadline d = no_deadline) {
    std::optional<T> out;
    ec = detail::status_error(core()->recv(out, d));
    finish(out, ec);
    return out;
  }

  // try_recv() takes the value if it is there; otherwise std::nullopt, with ec
  // (in the second form) ChannelErrc::empty or ChannelErrc::sender_dropped.
  std::optional<T> try_recv() {
    std::error_code ec;
    return try_recv(ec);
  }
  std::optional<T> try_recv(std::error_code& ec) {
    std::optional<T> out;
    detail::Ready r = core()->try_recv(out);
    ec = r == detail::Ready::done     ? std::error_code()
         : r == detail::Ready::closed ? make_error_code(ChannelErrc::closed)
                                      : make_error_code(ChannelErrc::empty);
    finish(out, ec);
    return out;
  }

  // is_ready() is true when recv() would not wait.
  bool is_ready() const noexcept { return core_ && (core_->size() > 0 || core_->is_closed()); }

 private:
  friend std::pair<OneshotSender<T>, OneshotReceiver> oneshot<T>();
  explicit OneshotReceiver(std::shared_ptr<detail::ChannelCore<T>> core) noexcept
      : core_(std::move(core)) {}

  detail::ChannelCore<T>* core() const {
    if (!core_)
      throw std::logic_error(
          "weft: oneshot receiver used after its value was taken (or moved from)");
    return core_.get();
  }
  // finish() drops the channel once the value is taken, and names the cause
  // of a closed channel: only the sender closes it without a value.
  void finish(const std::optional<T>& out, std::error_code& ec) noexcept {
    if (out) {
      release();
    } else if (ec == ChannelErrc::closed) {
      ec = make_error_code(ChannelErrc::sender_dropped);
    }
  }
  void release() noexcept {
    if (core_) {
      core_->close();
      core_.reset();
    }
  }

  std::shared_ptr<detail::ChannelCore<T>> core_;  // null once the value is taken, or moved from
};

}  // namespace weft
