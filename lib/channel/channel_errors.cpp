// The "weft.channel" error category and the exceptions of the throwing forms.
#include <string>
#include <system_error>

#include <weft/channel.hpp>
#include <weft/errors.hpp>

namespace weft {

namespace {

class ChannelCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "weft.channel"; }
  std::string message(int ev) const override {
    switch (static_cast<ChannelErrc>(ev)) {
      case ChannelErrc::closed:
        return "channel closed";
      case ChannelErrc::full:
        return "channel full";
      case ChannelErrc::empty:
        return "channel empty";
      case ChannelErrc::sender_dropped:
        return "oneshot sender dropped without sending a value";
    }
    return "unknown channel error";
  }
  // A closed channel reads as a broken pipe to code that only knows errc.
  bool equivalent(int ev, const std::error_condition& cond) const noexcept override {
    if (static_cast<ChannelErrc>(ev) == ChannelErrc::closed ||
        static_cast<ChannelErrc>(ev) == ChannelErrc::sender_dropped)
      return cond == std::errc::broken_pipe;
    return default_error_condition(ev) == cond;
  }
};

}  // namespace

const std::error_category& channel_category() noexcept {
  static const ChannelCategory category;
  return category;
}

namespace detail {

void throw_status(Status s, const char* what) {
  switch (s) {
    case Status::closed:
      throw ChannelClosed();
    case Status::timed_out:
      throw std::system_error(std::make_error_code(std::errc::timed_out), what);
    case Status::cancelled:
      throw Cancelled();
    case Status::done:
      break;
  }
  throw std::logic_error("weft: throw_status() on a completed operation");
}

}  // namespace detail
}  // namespace weft
