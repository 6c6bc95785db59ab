// weft::fs free functions. Each one is a job for the blocking pool that does
// the system calls and records errno in an error_code right after the call
// that failed (on the pool thread, where nothing migrates); the fiber parks
// meanwhile. The throwing forms wrap the no-throw ones.
#include <weft/fs.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "fs_ops.hpp"

namespace weft::fs {

namespace detail {

void fail(const char* what, const path& p, std::error_code ec) {
  if (ec == std::errc::operation_canceled) throw Cancelled();
  throw std::filesystem::filesystem_error(std::string("weft::fs: ") + what, p, ec);
}

void fail(const char* what, const path& p, const path& p2, std::error_code ec) {
  if (ec == std::errc::operation_canceled) throw Cancelled();
  throw std::filesystem::filesystem_error(std::string("weft::fs: ") + what, p, p2, ec);
}

namespace {
file_type type_of_mode(mode_t m) noexcept {
  switch (m & S_IFMT) {
    case S_IFREG:
      return file_type::regular;
    case S_IFDIR:
      return file_type::directory;
    case S_IFLNK:
      return file_type::symlink;
    case S_IFBLK:
      return file_type::block;
    case S_IFCHR:
      return file_type::character;
    case S_IFIFO:
      return file_type::fifo;
    case S_IFSOCK:
      return file_type::socket;
    default:
      return file_type::unknown;
  }
}

std::chrono::system_clock::time_point to_time(const timespec& ts) noexcept {
  auto d = std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(d));
}
}  // namespace

Metadata to_metadata(const struct stat& st) noexcept {
  Metadata m;
  m.type = type_of_mode(st.st_mode);
  m.size = static_cast<std::uint64_t>(st.st_size);
  m.mode = st.st_mode & 07777;
  m.uid = st.st_uid;
  m.gid = st.st_gid;
  m.links = static_cast<std::uint64_t>(st.st_nlink);
  m.modified = to_time(st.st_mtim);
  m.accessed = to_time(st.st_atim);
  return m;
}

}  // namespace detail

namespace {

using detail::errno_code;
using detail::fail;
using detail::offload;

// read_all() reads the file at p to its end into a Buffer (std::string or
// std::vector<std::byte>). Runs on the pool.
template <class Buffer>
Buffer read_all(const path& p, std::error_code& ec) {
  Buffer out;
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    ec = errno_code(errno);
    return out;
  }
  struct stat st;
  // The size is a hint only: /proc files say 0, and files may grow.
  std::size_t want =
      ::fstat(fd, &st) == 0 && st.st_size > 0 ? static_cast<std::size_t>(st.st_size) + 1 : 4096;
  std::size_t used = 0;
  try {
    for (;;) {
      if (out.size() - used < 1) out.resize(used + std::max<std::size_t>(want, out.size()));
      ssize_t n = ::read(fd, out.data() + used, out.size() - used);
      if (n > 0) {
        used += static_cast<std::size_t>(n);
        continue;
      }
      if (n == 0) break;
      if (errno == EINTR) continue;
      ec = errno_code(errno);
      break;
    }
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
  ::close(fd);
  out.resize(ec ? 0 : used);
  return out;
}

// write_all_to() creates or truncates p and writes n bytes. Runs on the pool.
bool write_all_to(const path& p, const char* data, std::size_t n, std::error_code& ec) noexcept {
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) {
    ec = errno_code(errno);
    return false;
  }
  std::size_t done = 0;
  while (done < n) {
    ssize_t w = ::write(fd, data + done, n - done);
    if (w >= 0) {
      done += static_cast<std::size_t>(w);
      continue;
    }
    if (errno == EINTR) continue;
    ec = errno_code(errno);
    ::close(fd);
    return false;
  }
  // close() may report a deferred write error (NFS, quota).
  if (::close(fd) != 0 && errno != EINTR) {
    ec = errno_code(errno);
    return false;
  }
  return true;
}

file_type type_of_dirent(int dfd, const dirent* e) noexcept {
  switch (e->d_type) {
    case DT_REG:
      return file_type::regular;
    case DT_DIR:
      return file_type::directory;
    case DT_LNK:
      return file_type::symlink;
    case DT_BLK:
      return file_type::block;
    case DT_CHR:
      return file_type::character;
    case DT_FIFO:
      return file_type::fifo;
    case DT_SOCK:
      return file_type::socket;
    default:
      break;
  }
  // Some file systems do not fill d_type: ask the inode.
  struct stat st;
  if (::fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) return file_type::unknown;
  return detail::to_metadata(st).type;
}

bool make_dir_all(const path& p, mode_t mode, std::error_code& ec) {
  if (::mkdir(p.c_str(), mode) == 0) return true;
  int e = errno;
  if (e == ENOENT && p.has_relative_path() && !p.parent_path().empty() && p.parent_path() != p) {
    if (!make_dir_all(p.parent_path(), mode, ec)) return false;
    if (::mkdir(p.c_str(), mode) == 0) return true;
    e = errno;
  }
  if (e == EEXIST) {
    struct stat st;
    // Made meanwhile by someone else, or there before: fine if a directory.
    if (::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return true;
  }
  ec = errno_code(e);
  return false;
}

Metadata stat_path(const path& p, bool follow, std::error_code& ec) noexcept {
  struct stat st;
  int r = follow ? ::stat(p.c_str(), &st) : ::lstat(p.c_str(), &st);
  if (r != 0) {
    ec = errno_code(errno);
    return Metadata{};
  }
  return detail::to_metadata(st);
}

}  // namespace

std::string read_to_string(const path& p, std::error_code& ec) noexcept {
  return offload(ec, [&] { return read_all<std::string>(p, ec); });
}

std::string read_to_string(const path& p) {
  std::error_code ec;
  std::string s = weft::fs::read_to_string(p, ec);
  if (ec) fail("read_to_string", p, ec);
  return s;
}

std::vector<std::byte> read_bytes(const path& p, std::error_code& ec) noexcept {
  return offload(ec, [&] { return read_all<std::vector<std::byte>>(p, ec); });
}

std::vector<std::byte> read_bytes(const path& p) {
  std::error_code ec;
  auto v = weft::fs::read_bytes(p, ec);
  if (ec) fail("read_bytes", p, ec);
  return v;
}

bool write(const path& p, std::string_view data, std::error_code& ec) noexcept {
  return offload(ec, [&] { return write_all_to(p, data.data(), data.size(), ec); });
}

void write(const path& p, std::string_view data) {
  std::error_code ec;
  if (!weft::fs::write(p, data, ec)) fail("write", p, ec);
}

bool write(const path& p, std::span<const std::byte> data, std::error_code& ec) noexcept {
  return weft::fs::write(
      p, std::string_view(reinterpret_cast<const char*>(data.data()), data.size()), ec);
}

void write(const path& p, std::span<const std::byte> data) {
  weft::fs::write(p, std::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
}

std::vector<DirEntry> read_dir(const path& p, std::error_code& ec) noexcept {
  return offload(ec, [&] {
    std::vector<DirEntry> out;
    int fd = ::open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      ec = errno_code(errno);
      return out;
    }
    DIR* dir = ::fdopendir(fd);
    if (!dir) {
      ec = errno_code(errno);
      ::close(fd);
      return out;
    }
    try {
      for (;;) {
        errno = 0;
        dirent* e = ::readdir(dir);
        if (!e) {
          if (errno != 0) ec = errno_code(errno);
          break;
        }
        if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
        out.push_back(DirEntry{e->d_name, type_of_dirent(fd, e), p / e->d_name});
      }
    } catch (const std::bad_alloc&) {
      ec = std::make_error_code(std::errc::not_enough_memory);
    }
    ::closedir(dir);
    if (ec) out.clear();
    return out;
  });
}

std::vector<DirEntry> read_dir(const path& p) {
  std::error_code ec;
  auto v = weft::fs::read_dir(p, ec);
  if (ec) fail("read_dir", p, ec);
  return v;
}

bool create_dir(const path& p, std::error_code& ec, mode_t mode) noexcept {
  return offload(ec, [&] {
    if (::mkdir(p.c_str(), mode) == 0) return true;
    ec = errno_code(errno);
    return false;
  });
}

void create_dir(const path& p, mode_t mode) {
  std::error_code ec;
  if (!weft::fs::create_dir(p, ec, mode)) fail("create_dir", p, ec);
}

bool create_dir_all(const path& p, std::error_code& ec, mode_t mode) noexcept {
  return offload(ec, [&] {
    // A trailing separator ("a/b/") would leave an empty last component.
    path q = p.has_filename() ? p : p.parent_path();
    return make_dir_all(q, mode, ec);
  });
}

void create_dir_all(const path& p, mode_t mode) {
  std::error_code ec;
  if (!weft::fs::create_dir_all(p, ec, mode)) fail("create_dir_all", p, ec);
}

bool remove(const path& p, std::error_code& ec) noexcept {
  return offload(ec, [&] {
    if (::unlink(p.c_str()) == 0) return true;
    int e = errno;
    // unlink() of a directory is EISDIR on Linux (EPERM by POSIX).
    if (e == EISDIR || e == EPERM) {
      if (::rmdir(p.c_str()) == 0) return true;
      if (errno != ENOTDIR) e = errno;
    }
    ec = errno_code(e);
    return false;
  });
}

void remove(const path& p) {
  std::error_code ec;
  if (!weft::fs::remove(p, ec)) fail("remove", p, ec);
}

std::uint64_t remove_all(const path& p, std::error_code& ec) noexcept {
  return offload(ec, [&]() -> std::uint64_t {
    auto n = std::filesystem::remove_all(p, ec);
    return ec || n == static_cast<std::uintmax_t>(-1) ? 0 : static_cast<std::uint64_t>(n);
  });
}

std::uint64_t remove_all(const path& p) {
  std::error_code ec;
  auto n = weft::fs::remove_all(p, ec);
  if (ec) fail("remove_all", p, ec);
  return n;
}

bool rename(const path& from, const path& to, std::error_code& ec) noexcept {
  return offload(ec, [&] {
    if (::rename(from.c_str(), to.c_str()) == 0) return true;
    ec = errno_code(errno);
    return false;
  });
}

void rename(const path& from, const path& to) {
  std::error_code ec;
  if (!weft::fs::rename(from, to, ec)) fail("rename", from, to, ec);
}

bool exists(const path& p, std::error_code& ec) noexcept {
  return offload(ec, [&] {
    struct stat st;
    if (::stat(p.c_str(), &st) == 0) return true;
    int e = errno;
    if (e != ENOENT && e != ENOTDIR) ec = errno_code(e);
    return false;
  });
}

bool exists(const path& p) {
  std::error_code ec;
  bool r = weft::fs::exists(p, ec);
  if (ec) fail("exists", p, ec);
  return r;
}

Metadata metadata(const path& p, std::error_code& ec) noexcept {
  return offload(ec, [&] { return stat_path(p, true, ec); });
}

Metadata metadata(const path& p) {
  std::error_code ec;
  Metadata m = weft::fs::metadata(p, ec);
  if (ec) fail("metadata", p, ec);
  return m;
}

Metadata symlink_metadata(const path& p, std::error_code& ec) noexcept {
  return offload(ec, [&] { return stat_path(p, false, ec); });
}

Metadata symlink_metadata(const path& p) {
  std::error_code ec;
  Metadata m = weft::fs::symlink_metadata(p, ec);
  if (ec) fail("symlink_metadata", p, ec);
  return m;
}

}  // namespace weft::fs
