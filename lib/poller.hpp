// Poller: the operating system's readiness interface behind the reactor. Linux
// uses epoll (poller_epoll.cpp, chosen in lib/meson.build); another backend
// implements this same class in its own file.
#pragma once

#include <chrono>
#include <cstdint>

namespace weft::detail {

// Readiness bits reported by wait().
// kClosed: the peer hung up or the descriptor has an error (sticky: no
// later edge will say so again).
enum : std::uint32_t { kReadable = 1, kWritable = 2, kClosed = 4 };

struct PollEvent {
  std::uint64_t token;  // what add() was given
  std::uint32_t ready;  // kReadable | kWritable
};

class Poller {
 public:
  Poller();  // throws std::system_error
  ~Poller();
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  // add() watches fd for readability and writability, edge-triggered.
  // Returns 0 or an errno value (EPERM for regular files).
  int add(int fd, std::uint64_t token) noexcept;
  // remove() stops watching fd (it may be closed already: that is fine).
  void remove(int fd) noexcept;

  // wait() fills out with up to max events, blocking up to timeout (zero: do
  // not block; negative: no limit). Returns the count; an interrupt() counts as
  // a wakeup with no events.
  int wait(PollEvent* out, int max, std::chrono::nanoseconds timeout) noexcept;

  // interrupt() makes a blocked (or the next) wait() return. Any thread.
  void interrupt() noexcept;

 private:
  int epfd_ = -1;
  int eventfd_ = -1;
};

}  // namespace weft::detail
