// epoll backend of Poller: one edge-triggered set, an eventfd to interrupt a
// blocked wait. epoll_pwait2 gives nanosecond timeouts where the kernel has it
// (Linux >= 5.11); plain epoll_wait rounds up to whole milliseconds.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <system_error>

#include "poller.hpp"

namespace weft::detail {

namespace {
constexpr std::uint64_t kInterruptToken = ~std::uint64_t{0};
}

Poller::Poller() {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) throw std::system_error(errno, std::generic_category(), "weft: epoll_create1");
  eventfd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (eventfd_ < 0) {
    int e = errno;
    close(epfd_);
    throw std::system_error(e, std::generic_category(), "weft: eventfd");
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET;
  ev.data.u64 = kInterruptToken;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, eventfd_, &ev) != 0) {
    int e = errno;
    close(eventfd_);
    close(epfd_);
    throw std::system_error(e, std::generic_category(), "weft: epoll_ctl(eventfd)");
  }
}

Poller::~Poller() {
  close(eventfd_);
  close(epfd_);
}

int Poller::add(int fd, std::uint64_t token) noexcept {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = token;
  return epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : errno;
}

void Poller::remove(int fd) noexcept {
  epoll_event ev{};
  epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, &ev);
}

int Poller::wait(PollEvent* out, int max, std::chrono::nanoseconds timeout) noexcept {
  constexpr int kBatch = 256;
  epoll_event evs[kBatch];
  if (max > kBatch) max = kBatch;
  int n;
  if (timeout.count() <= 0) {
    n = epoll_wait(epfd_, evs, max, timeout.count() == 0 ? 0 : -1);
  } else {
#ifdef SYS_epoll_pwait2
    static bool have_pwait2 = true;
    if (have_pwait2) {
      timespec ts{static_cast<time_t>(timeout.count() / 1'000'000'000),
                  static_cast<long>(timeout.count() % 1'000'000'000)};
      n = static_cast<int>(syscall(SYS_epoll_pwait2, epfd_, evs, max, &ts, nullptr, 0));
      if (n < 0 && errno == ENOSYS) have_pwait2 = false;
      else goto done;
    }
#endif
    {
      auto ms = (timeout.count() + 999'999) / 1'000'000;
      n = epoll_wait(epfd_, evs, max, ms > 1'000'000'000 ? 1'000'000'000 : static_cast<int>(ms));
    }
  }
#ifdef SYS_epoll_pwait2
done:
#endif
  if (n < 0) return 0;  // EINTR: a spurious wakeup
  int k = 0;
  for (int i = 0; i < n; ++i) {
    if (evs[i].data.u64 == kInterruptToken) {
      std::uint64_t v;
      ssize_t r = read(eventfd_, &v, sizeof v);  // reset the counter
      (void)r;
      continue;
    }
    std::uint32_t e = evs[i].events, ready = 0;
    if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) ready |= kReadable;
    if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) ready |= kWritable;
    if (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) ready |= kClosed;
    out[k++] = PollEvent{evs[i].data.u64, ready};
  }
  return k;
}

void Poller::interrupt() noexcept {
  std::uint64_t one = 1;
  ssize_t r = write(eventfd_, &one, sizeof one);
  (void)r;
}

}  // namespace weft::detail
