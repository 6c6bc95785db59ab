// weft::net::StreamSocket: reading and writing a connected byte stream, the
// API that TcpStream and UnixStream share.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <span>
#include <system_error>

#include <weft/net/socket.hpp>

namespace weft::net {

// StreamSocket holds the calls of a connected stream. Each call that can wait
// comes in two forms: the first throws std::system_error, the second takes a
// std::error_code& and throws nothing. Both take an Expiry (a Deadline or a
// timeout; none by default): when it passes first, the call fails with
// std::errc::timed_out; a cancelled fiber gets std::errc::operation_canceled
// (the throwing forms throw weft::Cancelled).
// The fast path is one syscall and no allocation; only EAGAIN parks the fiber.
// Writes never raise SIGPIPE: a write to a closed peer fails with EPIPE (or
// ECONNRESET). Zero-length reads and writes return 0 at once.
class StreamSocket : public Socket {
 public:
  // read_some() reads up to n bytes once data is there; 0 means the peer
  // closed its side (end of stream), unless n is 0.
  std::size_t read_some(void* buf, std::size_t n, Expiry e = {});
  std::size_t read_some(void* buf, std::size_t n, std::error_code& ec, Expiry e = {}) noexcept;

  // readable() waits until a read would not wait: data or the end of the
  // stream is there. It reads nothing, so a server can wait for a request
  // without holding a buffer for it (an idle connection then costs its
  // fiber's stack, not a buffer too). After a read_some() that got less than
  // it asked for it costs no syscall; otherwise it peeks first. It may
  // rarely return early, and the next read then waits.
  void readable(Expiry e = {});
  bool readable(std::error_code& ec, Expiry e = {}) noexcept;

  // read_exact() reads exactly n bytes, or fails with Errc::unexpected_eof if
  // the stream ends first. The no-throw form returns the bytes it did read.
  void read_exact(void* buf, std::size_t n, Expiry e = {});
  std::size_t read_exact(void* buf, std::size_t n, std::error_code& ec, Expiry e = {}) noexcept;

  // read_vectored() is read_some() scattering into several buffers.
  std::size_t read_vectored(std::span<const iovec> bufs, Expiry e = {});
  std::size_t read_vectored(std::span<const iovec> bufs, std::error_code& ec, Expiry e = {}) noexcept;

  // write() writes some of the n bytes (at least one) once there is room, and
  // returns how many: one partial write.
  std::size_t write(const void* buf, std::size_t n, Expiry e = {});
  std::size_t write(const void* buf, std::size_t n, std::error_code& ec, Expiry e = {}) noexcept;

  // write_all() writes all n bytes. The no-throw form returns the bytes it
  // did write before an error.
  void write_all(const void* buf, std::size_t n, Expiry e = {});
  std::size_t write_all(const void* buf, std::size_t n, std::error_code& ec, Expiry e = {}) noexcept;

  // write_vectored() gathers several buffers into one partial write (sendmsg;
  // at most IOV_MAX buffers are looked at).
  std::size_t write_vectored(std::span<const iovec> bufs, Expiry e = {});
  std::size_t write_vectored(std::span<const iovec> bufs, std::error_code& ec, Expiry e = {}) noexcept;

  // write_all_vectored() writes every byte of every buffer, in order, without
  // modifying bufs. The no-throw form returns the bytes it did write.
  void write_all_vectored(std::span<const iovec> bufs, Expiry e = {});
  std::size_t write_all_vectored(std::span<const iovec> bufs, std::error_code& ec, Expiry e = {}) noexcept;

  // shutdown() closes one or both directions: after Shutdown::write the peer
  // reads end of stream and may still write back. It wakes a fiber parked in
  // a read or write on this socket (that call then sees end of stream or EPIPE).
  void shutdown(Shutdown how);
  bool shutdown(Shutdown how, std::error_code& ec) noexcept;

  // peer_addr() is the address of the other end (getpeername).
  SocketAddress peer_addr() const;
  SocketAddress peer_addr(std::error_code& ec) const noexcept;

 protected:
  StreamSocket() noexcept = default;
  explicit StreamSocket(OwnedFd fd) : Socket(std::move(fd)) {}

 private:
  // drained_: the last read_some() got less than it asked for, so the socket
  // is empty and the next one waits before calling recv() (one syscall less
  // per message in request-response traffic). Reads of one stream do not
  // run concurrently, so a plain flag does. A program that reads the
  // descriptor itself (native_handle()) must not then call read_some().
  bool drained_ = false;
};

}  // namespace weft::net
