// StreamSocket: the read and write calls of TcpStream and UnixStream. Each is
// one Async retry loop around one syscall; the *_all and *_exact forms loop
// over the single-shot ones with one deadline for the whole call. Writes use
// send()/sendmsg() with MSG_NOSIGNAL so a closed peer gives EPIPE, never
// SIGPIPE, without touching the process's signal dispositions.
#include <weft/net/stream.hpp>

#include <climits>
#include <cstring>

#include <weft/net/errors.hpp>

#include "ops.hpp"
#include "sys.hpp"

namespace weft::net {

using detail::closed;
using detail::fail;

namespace {

// kIovChunk bounds the iovecs write_all_vectored() copies to its stack per
// sendmsg(): enough for any realistic gather, small enough for a fiber stack.
constexpr std::size_t kIovChunk = 64;

std::size_t total_length(std::span<const iovec> bufs) noexcept {
  std::size_t n = 0;
  for (const iovec& b : bufs) n += b.iov_len;
  return n;
}

std::size_t as_size(ssize_t r) noexcept { return r < 0 ? 0 : static_cast<std::size_t>(r); }

}  // namespace

std::size_t StreamSocket::read_some(void* buf, std::size_t n, std::error_code& ec, Expiry e) noexcept {
  auto* io = async();
  if (!io) {
    ec = closed();
    return 0;
  }
  if (n == 0) {
    weft::detail::clear(ec);
    return 0;
  }
  auto recv_once = [&](OwnedFd& s) noexcept { return sys::recv(s.native_handle(), buf, n, 0); };
  const ssize_t r =
      drained_ ? io->read_drained_with(recv_once, ec, e.deadline()) : io->read_with(recv_once, ec, e.deadline());
  drained_ = r > 0 && static_cast<std::size_t>(r) < n;
  return as_size(r);
}

std::size_t StreamSocket::read_some(void* buf, std::size_t n, Expiry e) {
  std::error_code ec;
  std::size_t r = read_some(buf, n, ec, e);
  if (ec) fail(ec, "read");
  return r;
}

bool StreamSocket::readable(std::error_code& ec, Expiry e) noexcept {
  auto* io = async();
  if (!io) {
    ec = closed();
    return false;
  }
  ssize_t r;
  if (drained_) {
    // Empty after the last read: wait for the next edge, or for a hang-up
    // already seen (whose edge that read's wait spent).
    r = io->read_drained_with([](OwnedFd&) noexcept { return ssize_t{0}; }, ec, e.deadline());
  } else {
    // Data or the end may be there already, its edge spent: peek first.
    char c;
    r = io->read_with([&](OwnedFd& s) noexcept { return sys::recv(s.native_handle(), &c, 1, MSG_PEEK); }, ec,
                      e.deadline());
  }
  // The wait spent the edge: the next read must try recv() first.
  drained_ = false;
  return r >= 0;
}

void StreamSocket::readable(Expiry e) {
  std::error_code ec;
  if (!readable(ec, e)) fail(ec, "readable");
}

std::size_t StreamSocket::read_exact(void* buf, std::size_t n, std::error_code& ec, Expiry e) noexcept {
  auto* p = static_cast<char*>(buf);
  std::size_t done = 0;
  weft::detail::clear(ec);
  while (done < n) {
    std::size_t r = read_some(p + done, n - done, ec, e);
    if (ec) break;
    if (r == 0) {
      ec = Errc::unexpected_eof;
      break;
    }
    done += r;
  }
  return done;
}

void StreamSocket::read_exact(void* buf, std::size_t n, Expiry e) {
  std::error_code ec;
  read_exact(buf, n, ec, e);
  if (ec) fail(ec, "read_exact");
}

std::size_t StreamSocket::read_vectored(std::span<const iovec> bufs, std::error_code& ec, Expiry e) noexcept {
  auto* io = async();
  if (!io) {
    ec = closed();
    return 0;
  }
  if (total_length(bufs) == 0) {
    weft::detail::clear(ec);
    return 0;
  }
  msghdr msg{};
  msg.msg_iov = const_cast<iovec*>(bufs.data());
  msg.msg_iovlen = bufs.size() > IOV_MAX ? IOV_MAX : bufs.size();
  // Always tries first; and whatever it read, the socket may not be empty
  // now (its wait may have spent the edge of data it left), so the next
  // read_some() must try first too.
  drained_ = false;
  return as_size(
      io->read_with([&](OwnedFd& s) noexcept { return sys::recvmsg(s.native_handle(), &msg, 0); }, ec, e.deadline()));
}

std::size_t StreamSocket::read_vectored(std::span<const iovec> bufs, Expiry e) {
  std::error_code ec;
  std::size_t r = read_vectored(bufs, ec, e);
  if (ec) fail(ec, "read_vectored");
  return r;
}

std::size_t StreamSocket::write(const void* buf, std::size_t n, std::error_code& ec, Expiry e) noexcept {
  auto* io = async();
  if (!io) {
    ec = closed();
    return 0;
  }
  if (n == 0) {
    weft::detail::clear(ec);
    return 0;
  }
  return as_size(io->write_with(
      [&](OwnedFd& s) noexcept { return sys::send(s.native_handle(), buf, n, MSG_NOSIGNAL); }, ec, e.deadline()));
}

std::size_t StreamSocket::write(const void* buf, std::size_t n, Expiry e) {
  std::error_code ec;
  std::size_t r = write(buf, n, ec, e);
  if (ec) fail(ec, "write");
  return r;
}

std::size_t StreamSocket::write_all(const void* buf, std::size_t n, std::error_code& ec, Expiry e) noexcept {
  auto* p = static_cast<const char*>(buf);
  std::size_t done = 0;
  weft::detail::clear(ec);
  while (done < n) {
    std::size_t r = write(p + done, n - done, ec, e);
    if (ec) break;
    done += r;
  }
  if (n == 0 && !async()) ec = closed();
  return done;
}

void StreamSocket::write_all(const void* buf, std::size_t n, Expiry e) {
  std::error_code ec;
  write_all(buf, n, ec, e);
  if (ec) fail(ec, "write_all");
}

std::size_t StreamSocket::write_vectored(std::span<const iovec> bufs, std::error_code& ec, Expiry e) noexcept {
  auto* io = async();
  if (!io) {
    ec = closed();
    return 0;
  }
  if (total_length(bufs) == 0) {
    weft::detail::clear(ec);
    return 0;
  }
  msghdr msg{};
  msg.msg_iov = const_cast<iovec*>(bufs.data());  // sendmsg() does not write to it
  msg.msg_iovlen = bufs.size() > IOV_MAX ? IOV_MAX : bufs.size();
  return as_size(io->write_with(
      [&](OwnedFd& s) noexcept { return sys::sendmsg(s.native_handle(), &msg, MSG_NOSIGNAL); }, ec, e.deadline()));
}

std::size_t StreamSocket::write_vectored(std::span<const iovec> bufs, Expiry e) {
  std::error_code ec;
  std::size_t r = write_vectored(bufs, ec, e);
  if (ec) fail(ec, "write_vectored");
  return r;
}

std::size_t StreamSocket::write_all_vectored(std::span<const iovec> bufs, std::error_code& ec, Expiry e) noexcept {
  if (!async()) {
    ec = closed();
    return 0;
  }
  weft::detail::clear(ec);
  std::size_t done = 0;
  std::size_t i = 0, off = 0;  // the next byte to write is bufs[i] at offset off
  iovec chunk[kIovChunk];
  for (;;) {
    while (i < bufs.size() && off == bufs[i].iov_len) {
      ++i;
      off = 0;
    }
    if (i == bufs.size()) return done;
    // Copy the rest into a chunk whose first entry starts at off: bufs
    // itself stays untouched.
    std::size_t k = 0;
    for (std::size_t j = i; j < bufs.size() && k < kIovChunk; ++j) {
      if (bufs[j].iov_len == 0) continue;
      chunk[k] = bufs[j];
      if (j == i) {
        chunk[k].iov_base = static_cast<char*>(bufs[j].iov_base) + off;
        chunk[k].iov_len -= off;
      }
      ++k;
    }
    std::size_t w = write_vectored(std::span<const iovec>(chunk, k), ec, e);
    if (ec) return done;
    done += w;
    while (w > 0) {
      std::size_t take = std::min(w, bufs[i].iov_len - off);
      off += take;
      w -= take;
      if (off == bufs[i].iov_len) {
        ++i;
        off = 0;
      }
    }
  }
}

void StreamSocket::write_all_vectored(std::span<const iovec> bufs, Expiry e) {
  std::error_code ec;
  write_all_vectored(bufs, ec, e);
  if (ec) fail(ec, "write_all_vectored");
}

bool StreamSocket::shutdown(Shutdown how, std::error_code& ec) noexcept {
  if (!is_open()) {
    ec = closed();
    return false;
  }
  int h = how == Shutdown::read ? SHUT_RD : how == Shutdown::write ? SHUT_WR : SHUT_RDWR;
  if (::shutdown(native_handle(), h) != 0) {
    ec = detail::errno_code();
    return false;
  }
  weft::detail::clear(ec);
  return true;
}

void StreamSocket::shutdown(Shutdown how) {
  std::error_code ec;
  if (!shutdown(how, ec)) fail(ec, "shutdown");
}

SocketAddress StreamSocket::peer_addr(std::error_code& ec) const noexcept {
  return detail::name_of(native_handle(), true, ec);
}

SocketAddress StreamSocket::peer_addr() const {
  std::error_code ec;
  auto a = peer_addr(ec);
  if (ec) fail(ec, "peer_addr");
  return a;
}

}  // namespace weft::net
