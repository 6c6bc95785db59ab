// weft::fs: files and directories from fibers. Regular files are always
// "ready" to epoll, so their calls cannot park on the reactor; instead every
// call here runs on the runtime's blocking pool through weft::unblock() while
// the calling fiber parks (on a plain thread it runs inline). Each call is one
// hop to the pool and back (tens of microseconds): prefer a few large reads
// and writes over many small ones.
//
// Errors: the throwing forms throw std::filesystem::filesystem_error (a
// std::system_error) carrying the path or paths involved, e.g.
// "weft::fs: read_to_string: No such file or directory [/etc/nope]"; the
// no-throw forms set a std::error_code. A cancelled fiber gets weft::Cancelled
// (no-throw forms: std::errc::operation_canceled) before the call starts; a
// call already on the pool runs to its end first. Descriptors are opened
// close-on-exec.
#pragma once

#include <fcntl.h>
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace weft::fs {

using path = std::filesystem::path;
using file_type = std::filesystem::file_type;

// Metadata is what stat(2) says of a file.
struct Metadata {
  file_type type = file_type::none;
  std::uint64_t size = 0;  // bytes (for a symlink from symlink_metadata(), its target's length)
  mode_t mode = 0;         // permission bits (07777)
  uid_t uid = 0;
  gid_t gid = 0;
  std::uint64_t links = 0;                         // hard links
  std::chrono::system_clock::time_point modified;  // st_mtim
  std::chrono::system_clock::time_point accessed;  // st_atim

  bool is_file() const noexcept { return type == file_type::regular; }
  bool is_dir() const noexcept { return type == file_type::directory; }
  bool is_symlink() const noexcept { return type == file_type::symlink; }
};

// DirEntry is one entry of a directory listing.
struct DirEntry {
  std::string name;                     // the file name, without the directory
  file_type type = file_type::unknown;  // what the entry is (a symlink is a symlink)
  fs::path path;                        // the directory's path joined with name
};

// Whole files. read_to_string() and read_bytes() read a file to its end
// (files whose size stat reports wrongly, as in /proc, work too).
std::string read_to_string(const path& p);
std::string read_to_string(const path& p, std::error_code& ec) noexcept;
std::vector<std::byte> read_bytes(const path& p);
std::vector<std::byte> read_bytes(const path& p, std::error_code& ec) noexcept;
// write() creates the file (mode 0666 less the umask) or truncates it, and
// writes data.
void write(const path& p, std::string_view data);
bool write(const path& p, std::string_view data, std::error_code& ec) noexcept;
void write(const path& p, std::span<const std::byte> data);
bool write(const path& p, std::span<const std::byte> data, std::error_code& ec) noexcept;

// read_dir() lists a directory, without "." and "..", in no particular order.
std::vector<DirEntry> read_dir(const path& p);
std::vector<DirEntry> read_dir(const path& p, std::error_code& ec) noexcept;

// create_dir() makes one directory (EEXIST if something is there already);
// create_dir_all() makes it and any missing parents, and is content when it
// exists already as a directory.
void create_dir(const path& p, mode_t mode = 0777);
bool create_dir(const path& p, std::error_code& ec, mode_t mode = 0777) noexcept;
void create_dir_all(const path& p, mode_t mode = 0777);
bool create_dir_all(const path& p, std::error_code& ec, mode_t mode = 0777) noexcept;

// remove() removes a file, a symlink or an empty directory, and fails with
// ENOENT when nothing is there. remove_all() removes a tree (not following
// symlinks) and returns how many entries went: 0 when nothing was there.
void remove(const path& p);
bool remove(const path& p, std::error_code& ec) noexcept;
std::uint64_t remove_all(const path& p);
std::uint64_t remove_all(const path& p, std::error_code& ec) noexcept;

// rename() moves from to to, replacing a file there (rename(2)).
void rename(const path& from, const path& to);
bool rename(const path& from, const path& to, std::error_code& ec) noexcept;

// exists() is whether something is at p (following symlinks); ENOENT and
// ENOTDIR mean no, other failures (EACCES, ...) are errors.
bool exists(const path& p);
bool exists(const path& p, std::error_code& ec) noexcept;

// metadata() follows symlinks; symlink_metadata() describes the link itself.
Metadata metadata(const path& p);
Metadata metadata(const path& p, std::error_code& ec) noexcept;
Metadata symlink_metadata(const path& p);
Metadata symlink_metadata(const path& p, std::error_code& ec) noexcept;

// File is an open file. Reads and writes at the file position (read(),
// write()) or at an offset (read_at(), write_at(): pread/pwrite, which leave
// the position alone and may run in several fibers at once). Movable; the
// destructor closes the descriptor (ignoring errors: call close() to see
// them).
class File {
 public:
  File() noexcept = default;
  File(File&& o) noexcept;
  File& operator=(File&& o) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File();

  // open() opens p with open(2) flags (O_CLOEXEC is always added) and, when
  // flags create the file, mode (less the umask).
  static File open(const fs::path& p, int flags = O_RDONLY, mode_t mode = 0666);
  static File open(const fs::path& p, std::error_code& ec, int flags = O_RDONLY,
                   mode_t mode = 0666) noexcept;
  // create() is open(p, O_WRONLY | O_CREAT | O_TRUNC, mode).
  static File create(const fs::path& p, mode_t mode = 0666);

  // read() reads up to n bytes at the file position and advances it; 0 at
  // the end of the file. write() writes up to n bytes (at the end with
  // O_APPEND) and returns how many; write_all() writes all of them.
  std::size_t read(void* buf, std::size_t n);
  std::size_t read(void* buf, std::size_t n, std::error_code& ec) noexcept;
  std::size_t write(const void* buf, std::size_t n);
  std::size_t write(const void* buf, std::size_t n, std::error_code& ec) noexcept;
  void write_all(const void* buf, std::size_t n);
  std::size_t write_all(const void* buf, std::size_t n, std::error_code& ec) noexcept;

  // read_at() reads up to n bytes at offset (fewer only at the end of the
  // file); write_at() writes all n bytes at offset. Neither moves the file
  // position.
  std::size_t read_at(void* buf, std::size_t n, std::uint64_t offset);
  std::size_t read_at(void* buf, std::size_t n, std::uint64_t offset, std::error_code& ec) noexcept;
  void write_at(const void* buf, std::size_t n, std::uint64_t offset);
  std::size_t write_at(const void* buf, std::size_t n, std::uint64_t offset,
                       std::error_code& ec) noexcept;

  // seek() sets the file position (lseek whence: SEEK_SET, SEEK_CUR,
  // SEEK_END) and returns it.
  std::uint64_t seek(std::int64_t offset, int whence = SEEK_SET);
  std::uint64_t seek(std::int64_t offset, int whence, std::error_code& ec) noexcept;

  // size() is the file's length; set_size() truncates or extends it.
  std::uint64_t size();
  std::uint64_t size(std::error_code& ec) noexcept;
  void set_size(std::uint64_t n);
  bool set_size(std::uint64_t n, std::error_code& ec) noexcept;
  Metadata metadata();
  Metadata metadata(std::error_code& ec) noexcept;

  // sync() flushes data and metadata to the device (fsync); sync_data()
  // only what reading the data back needs (fdatasync).
  void sync();
  bool sync(std::error_code& ec) noexcept;
  void sync_data();
  bool sync_data(std::error_code& ec) noexcept;

  // close() closes the file and reports the error close(2) may return (for
  // instance a delayed write error on NFS). A no-op on a closed File.
  void close();
  bool close(std::error_code& ec) noexcept;

  bool is_open() const noexcept { return fd_ >= 0; }
  int native_handle() const noexcept { return fd_; }
  // path() is the path the file was opened with.
  const fs::path& path() const noexcept { return path_; }

 private:
  File(int fd, fs::path p) noexcept : fd_(fd), path_(std::move(p)) {}

  int fd_ = -1;
  fs::path path_;
};

}  // namespace weft::fs
