// weft::select: wait on several channel operations at once, as Go's select.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

#include <weft/channel.hpp>
#include <weft/deadline.hpp>
#include <weft/detail/channel_select.hpp>
#include <weft/errors.hpp>

namespace weft {

namespace detail {

// NoOp is the callback of a case given none.
struct NoOp {
  void operator()() const noexcept {}
};

template <class T, class F>
class RecvCase final : public SelectCase {
 public:
  RecvCase(ChannelCore<T>* core, F f) : SelectCase(core, false), core_(core), f_(std::move(f)) {}
  RecvCase(RecvCase&& o) noexcept(std::is_nothrow_move_constructible_v<F>)
      : SelectCase(o), core_(o.core_), f_(std::move(o.f_)) {}

  Ready poll_locked(Wakeup& wake) override {
    node.value = &value_;
    return core_->try_recv_locked(value_, wake);
  }
  bool may_complete() const noexcept override { return core_->may_recv(); }
  bool spins() const noexcept override { return core_->spins(); }

  void fire(Ready how) override {
    if constexpr (std::is_invocable_v<F&, std::optional<T>>) {
      std::invoke(f_, std::move(value_));
    } else if constexpr (std::is_invocable_v<F&, T>) {
      if (how == Ready::closed) throw ChannelClosed();
      std::invoke(f_, std::move(*value_));
    } else {
      static_assert(std::is_invocable_v<F&>,
                    "weft::on_recv: the callback takes std::optional<T>, T, or nothing");
      std::invoke(f_);
    }
  }

 private:
  ChannelCore<T>* core_;
  F f_;
  std::optional<T> value_;  // the value received, empty if the channel was closed
};

template <class T, class F>
class SendCase final : public SelectCase {
 public:
  SendCase(ChannelCore<T>* core, T value, F f)
      : SelectCase(core, true), core_(core), value_(std::move(value)), f_(std::move(f)) {}
  SendCase(SendCase&& o) noexcept(std::is_nothrow_move_constructible_v<F>)
      : SelectCase(o), core_(o.core_), value_(std::move(o.value_)), f_(std::move(o.f_)) {}

  Ready poll_locked(Wakeup& wake) override {
    node.value = &value_;
    return core_->try_send_locked(value_, wake);
  }
  bool may_complete() const noexcept override { return core_->may_send(); }
  bool spins() const noexcept override { return core_->spins(); }

  void fire(Ready how) override {
    if constexpr (std::is_invocable_v<F&, bool>) {
      std::invoke(f_, how == Ready::done);
    } else {
      static_assert(std::is_invocable_v<F&>, "weft::on_send: the callback takes bool or nothing");
      if (how == Ready::closed) throw ChannelClosed();
      std::invoke(f_);
    }
  }

 private:
  ChannelCore<T>* core_;
  T value_;  // the value to send; moved into the channel only if this case fires
  F f_;
};

template <class F>
struct TimeoutCase {
  Deadline deadline;
  F f;
};

template <class F>
struct DefaultCase {
  F f;
};

template <class C>
inline constexpr bool is_timeout_case = false;
template <class F>
inline constexpr bool is_timeout_case<TimeoutCase<F>> = true;
template <class C>
inline constexpr bool is_default_case = false;
template <class F>
inline constexpr bool is_default_case<DefaultCase<F>> = true;

}  // namespace detail

// on_recv(ch, f) is a case that receives from ch. f takes
//   std::optional<T>: the value, or std::nullopt once ch is closed and drained;
//   T: the value (a closed channel makes select throw ChannelClosed);
//   nothing: fires on a value (dropped) or on close, as Go's `case <-done:`.
template <class T, class F = detail::NoOp>
detail::RecvCase<T, std::decay_t<F>> on_recv(const Channel<T>& ch, F&& f = {}) {
  return {ch.core(), std::forward<F>(f)};
}

// on_send(ch, v, f) is a case that sends v on ch; v is moved into the case and
// dropped if another case fires. f takes
//   bool: true when sent, false when ch is closed (v was not sent);
//   nothing (or no f): a closed channel makes select throw ChannelClosed.
template <class T, class F = detail::NoOp>
detail::SendCase<T, std::decay_t<F>> on_send(const Channel<T>& ch, std::type_identity_t<T> v,
                                             F&& f = {}) {
  return {ch.core(), std::move(v), std::forward<F>(f)};
}

// on_timeout(d, f) fires when the deadline d (or a duration from now) passes
// before any other case. At most one per select.
template <class F = detail::NoOp>
detail::TimeoutCase<std::decay_t<F>> on_timeout(Deadline d, F&& f = {}) {
  return {d, std::forward<F>(f)};
}
template <class Rep, class Period, class F = detail::NoOp>
detail::TimeoutCase<std::decay_t<F>> on_timeout(std::chrono::duration<Rep, Period> d, F&& f = {}) {
  return {deadline_in(d), std::forward<F>(f)};
}

// otherwise(f) fires when no other case can complete at once: select then
// never waits (Go's `default:`). At most one per select, and not with
// on_timeout.
template <class F = detail::NoOp>
detail::DefaultCase<std::decay_t<F>> otherwise(F&& f = {}) {
  return {std::forward<F>(f)};
}

// select() completes exactly one of its cases, runs that case's callback (with
// no lock held) and returns the case's position among the arguments (0-based).
// When several cases are ready it picks one at random, so none starves. It
// waits, parking the fiber (or blocking a plain thread), until a case can
// complete; with otherwise() it never waits; with on_timeout() it waits at most
// until that deadline. It throws weft::Cancelled in a cancelled fiber,
// std::system_error(std::errc::timed_out) when the caller's deadline scope
// (weft::with_deadline) ends the wait before any case, ChannelClosed as the
// cases above say, and whatever the callback throws.
//
//   switch (weft::select(weft::on_recv(jobs, [&](std::optional<Job> j) { ... }),
//                        weft::on_send(results, r),
//                        weft::on_timeout(100ms))) { ... }
template <class... Cases>
std::size_t select(Cases&&... cases) {
  constexpr std::size_t n_timeout =
      (std::size_t{0} + ... + detail::is_timeout_case<std::decay_t<Cases>>);
  constexpr std::size_t n_default =
      (std::size_t{0} + ... + detail::is_default_case<std::decay_t<Cases>>);
  static_assert(n_timeout <= 1, "weft::select: at most one on_timeout case");
  static_assert(n_default <= 1, "weft::select: at most one otherwise case");
  static_assert(n_timeout + n_default <= 1,
                "weft::select: otherwise and on_timeout exclude each other");
  constexpr std::size_t n = sizeof...(Cases) - n_timeout - n_default;

  std::array<detail::SelectCase*, n + 1> chans{};  // +1: no zero-size arrays
  std::array<std::size_t, n + 1> position{};       // the argument position of chans[i]
  std::array<detail::ChannelBase*, n + 1> locks{};
  Deadline deadline = no_deadline;
  std::size_t special = 0;  // the argument position of on_timeout/otherwise
  std::size_t k = 0, pos = 0;
  auto collect = [&](auto& c) {
    using C = std::decay_t<decltype(c)>;
    if constexpr (detail::is_timeout_case<C>) {
      deadline = c.deadline;
      special = pos;
    } else if constexpr (detail::is_default_case<C>) {
      special = pos;
    } else {
      static_assert(std::is_base_of_v<detail::SelectCase, C>,
                    "weft::select takes on_recv, on_send, on_timeout and otherwise cases");
      chans[k] = &c;
      position[k++] = pos;
    }
    ++pos;
  };
  (collect(cases), ...);

  const detail::SelectResult r =
      detail::select_run(chans.data(), n, locks.data(), n_default == 0, deadline);
  if (r.index >= 0) {
    chans[static_cast<std::size_t>(r.index)]->fire(r.how);
    return position[static_cast<std::size_t>(r.index)];
  }
  if constexpr (n_default == 1) {
    auto fire_default = [](auto& c) {
      if constexpr (detail::is_default_case<std::decay_t<decltype(c)>>) std::invoke(c.f);
    };
    (fire_default(cases), ...);
    return special;
  } else {
    if (r.status == detail::WaitStatus::cancelled) throw Cancelled();
    if constexpr (n_timeout == 1) {
      if (Clock::now() >= deadline) {
        auto fire_timeout = [](auto& c) {
          if constexpr (detail::is_timeout_case<std::decay_t<decltype(c)>>) std::invoke(c.f);
        };
        (fire_timeout(cases), ...);
        return special;
      }
    }
    throw std::system_error(std::make_error_code(std::errc::timed_out), "weft: select");
  }
}

}  // namespace weft
