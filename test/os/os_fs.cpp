// weft::fs: whole-file round trips, errors that carry their paths, directory
// listings and trees, File offsets, positions and sizes, calls off the worker
// (other fibers run meanwhile), cancellation, and no leaked descriptor.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <string>
#include <thread>

#include <weft/fs.hpp>

#include "support.hpp"

using namespace os_test;
namespace wfs = weft::fs;

namespace {

// fs_error() runs f, which must throw filesystem_error, and returns it.
template <class F>
std::filesystem::filesystem_error fs_error(F&& f) {
  try {
    f();
  } catch (const std::filesystem::filesystem_error& e) {
    return e;
  }
  FAIL("no filesystem_error was thrown");
  return std::filesystem::filesystem_error("", std::error_code());
}

std::string as_string(const std::vector<std::byte>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size());
}

}  // namespace

TEST_CASE("whole files: write, read back, overwrite") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "round trip");
  ScratchDir dir;
  const int fds_before = fd_count();
  {
    weft::Runtime rt(config(workers));
    rt.block_on([&] {
      auto p = dir.path() / "a.txt";
      wfs::write(p, "hello, world\n");
      CHECK(wfs::read_to_string(p) == "hello, world\n");
      wfs::write(p, "short");  // truncates
      CHECK(wfs::read_to_string(p) == "short");

      std::string big(3 << 20, '\0');
      for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + i / 4096);
      auto q = dir.path() / "big.bin";
      wfs::write(q, std::span<const std::byte>(reinterpret_cast<const std::byte*>(big.data()),
                                               big.size()));
      auto bytes = wfs::read_bytes(q);
      CHECK(bytes.size() == big.size());
      CHECK(as_string(bytes) == big);
      CHECK(wfs::metadata(q).size == big.size());
      CHECK(wfs::metadata(q).is_file());

      wfs::write(dir.path() / "empty", "");
      CHECK(wfs::read_to_string(dir.path() / "empty").empty());

      // /proc files report size 0 and still read fully.
      std::string status = wfs::read_to_string("/proc/self/status");
      CHECK(status.find("Pid:") != std::string::npos);
    });
  }
  CHECK(fd_count() == fds_before);
}

TEST_CASE("errors carry the path") {
  Watchdog dog(30s, "fs errors");
  ScratchDir dir;
  weft::Runtime rt(config(2));
  rt.block_on([&] {
    auto missing = dir.path() / "no" / "such.txt";
    auto e = fs_error([&] { wfs::read_to_string(missing); });
    CHECK(e.code() == std::errc::no_such_file_or_directory);
    CHECK(e.path1() == missing);
    CHECK(std::string(e.what()).find(missing.string()) != std::string::npos);
    CHECK(std::string(e.what()).find("read_to_string") != std::string::npos);

    std::error_code ec;
    CHECK(wfs::read_to_string(missing, ec).empty());
    CHECK(ec == std::errc::no_such_file_or_directory);
    CHECK_FALSE(wfs::write(missing, "x", ec));
    CHECK(ec == std::errc::no_such_file_or_directory);

    CHECK(fs_error([&] { wfs::write(missing, "x"); }).path1() == missing);
    CHECK(fs_error([&] { wfs::read_bytes(missing); }).path1() == missing);
    CHECK(fs_error([&] { wfs::read_dir(missing); }).path1() == missing);
    CHECK(fs_error([&] { wfs::metadata(missing); }).path1() == missing);
    CHECK(fs_error([&] { wfs::remove(missing); }).path1() == missing);
    CHECK(fs_error([&] { wfs::File::open(missing); }).path1() == missing);

    auto from = dir.path() / "from";
    auto to = dir.path() / "no" / "to";
    auto r = fs_error([&] { wfs::rename(from, to); });
    CHECK(r.path1() == from);
    CHECK(r.path2() == to);

    wfs::write(dir.path() / "file", "x");
    auto notdir = fs_error([&] { wfs::read_dir(dir.path() / "file"); });
    CHECK(notdir.code() == std::errc::not_a_directory);
    auto exists = fs_error([&] { wfs::create_dir(dir.path() / "file"); });
    CHECK(exists.code() == std::errc::file_exists);
    CHECK(fs_error([&] { wfs::create_dir_all(dir.path() / "file" / "sub"); }).code() ==
          std::errc::not_a_directory);

    // exists(): "no" is not an error.
    CHECK_FALSE(wfs::exists(missing));
    CHECK_FALSE(wfs::exists(dir.path() / "file" / "below"));
    CHECK(wfs::exists(dir.path() / "file"));
  });
}

TEST_CASE("directories: create, list, rename, remove") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "directories");
  ScratchDir dir;
  weft::Runtime rt(config(workers));
  rt.block_on([&] {
    auto root = dir.path() / "tree";
    wfs::create_dir_all(root / "a" / "b" / "c");
    wfs::create_dir_all(root / "a" / "b" / "c");  // already there: fine
    wfs::create_dir_all(root / "x/");             // trailing separator
    wfs::create_dir(root / "d");
    wfs::write(root / "f.txt", "f");
    REQUIRE(::symlink("f.txt", (root / "link").c_str()) == 0);
    REQUIRE(::mkfifo((root / "pipe").c_str(), 0600) == 0);

    auto entries = wfs::read_dir(root);
    std::map<std::string, wfs::file_type> seen;
    for (const auto& e : entries) {
      seen[e.name] = e.type;
      CHECK(e.path == root / e.name);
    }
    CHECK(seen == std::map<std::string, wfs::file_type>{
                      {"a", wfs::file_type::directory},
                      {"d", wfs::file_type::directory},
                      {"x", wfs::file_type::directory},
                      {"f.txt", wfs::file_type::regular},
                      {"link", wfs::file_type::symlink},
                      {"pipe", wfs::file_type::fifo},
                  });
    CHECK(wfs::read_dir(root / "d").empty());

    CHECK(wfs::metadata(root / "link").is_file());
    CHECK(wfs::symlink_metadata(root / "link").is_symlink());
    CHECK(wfs::metadata(root / "a").is_dir());

    wfs::rename(root / "f.txt", root / "d" / "g.txt");
    CHECK_FALSE(wfs::exists(root / "f.txt"));
    CHECK(wfs::read_to_string(root / "d" / "g.txt") == "f");

    wfs::remove(root / "d" / "g.txt");
    wfs::remove(root / "d");  // now empty
    CHECK_FALSE(wfs::exists(root / "d"));
    auto full = fs_error([&] { wfs::remove(root / "a"); });
    CHECK(full.code() == std::errc::directory_not_empty);

    CHECK(wfs::remove_all(root) == 7);  // tree, a, a/b, a/b/c, x, link, pipe
    CHECK_FALSE(wfs::exists(root));
    CHECK(wfs::remove_all(root) == 0);
  });
}

TEST_CASE("File: offsets, position, size, sync, close") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "File");
  ScratchDir dir;
  const int fds_before = fd_count();
  {
    weft::Runtime rt(config(workers));
    rt.block_on([&] {
      auto p = dir.path() / "data";
      auto f = wfs::File::open(p, O_RDWR | O_CREAT | O_EXCL, 0600);
      CHECK(f.is_open());
      CHECK(f.path() == p);
      CHECK((wfs::metadata(p).mode & 0777) == 0600);
      CHECK(f.size() == 0);

      f.write_at("world", 5, 6);
      f.write_at("hello ", 6, 0);
      CHECK(f.size() == 11);
      char buf[32] = {};
      CHECK(f.read_at(buf, 5, 6) == 5);
      CHECK(std::string(buf, 5) == "world");
      CHECK(f.read_at(buf, sizeof buf, 0) == 11);  // short only at the end
      CHECK(std::string(buf, 11) == "hello world");
      CHECK(f.read_at(buf, sizeof buf, 100) == 0);

      // The position is untouched by read_at/write_at.
      CHECK(f.seek(0, SEEK_CUR) == 0);
      CHECK(f.read(buf, 5) == 5);
      CHECK(std::string(buf, 5) == "hello");
      CHECK(f.seek(0, SEEK_CUR) == 5);
      CHECK(f.seek(0, SEEK_END) == 11);
      f.write_all("!\n", 2);
      CHECK(f.read(buf, sizeof buf) == 0);  // at the end
      f.sync();
      f.sync_data();
      CHECK(wfs::read_to_string(p) == "hello world!\n");

      // Concurrent positional writes from several fibers.
      std::vector<weft::JoinHandle<void>> writers;
      for (int i = 0; i < 8; ++i) {
        writers.push_back(weft::spawn([&f, i] {
          std::string block(4096, static_cast<char>('a' + i));
          f.write_at(block.data(), block.size(), static_cast<std::uint64_t>(i) * 4096);
        }));
      }
      for (auto& w : writers) w.join();
      CHECK(f.size() == 8 * 4096);
      std::string all(8 * 4096, '\0');
      CHECK(f.read_at(all.data(), all.size(), 0) == all.size());
      for (int i = 0; i < 8; ++i) CHECK(all[static_cast<std::size_t>(i) * 4096 + 100] == 'a' + i);

      f.set_size(3);
      CHECK(f.size() == 3);
      f.close();
      CHECK_FALSE(f.is_open());
      f.close();  // a no-op
      std::error_code ec;
      CHECK(f.read(buf, 1, ec) == 0);
      CHECK(ec == std::errc::bad_file_descriptor);
      CHECK_THROWS_AS(f.write_all("x", 1), std::filesystem::filesystem_error);

      auto exclusive = fs_error([&] { wfs::File::open(p, O_RDWR | O_CREAT | O_EXCL); });
      CHECK(exclusive.code() == std::errc::file_exists);

      auto c = wfs::File::create(dir.path() / "created");
      c.write_all("abc", 3);
      auto moved = std::move(c);
      CHECK_FALSE(c.is_open());
      moved.close();
      CHECK(wfs::read_to_string(dir.path() / "created") == "abc");

      // Opened with O_CLOEXEC whatever the flags said.
      auto r = wfs::File::open(dir.path() / "created");
      CHECK((fcntl(r.native_handle(), F_GETFD) & FD_CLOEXEC) != 0);
    });
  }
  CHECK(fd_count() == fds_before);
}

TEST_CASE("file calls leave the worker free for other fibers") {
  Watchdog dog(30s, "off the worker");
  ScratchDir dir;
  weft::Runtime rt(config(1));
  rt.block_on([&] {
    // A FIFO with no writer blocks open(O_RDONLY): if the call ran on the
    // only worker, the fiber that opens the writing end could never run.
    auto fifo = dir.path() / "fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    auto reader = weft::spawn([&] { return wfs::read_to_string(fifo); });
    auto writer = weft::spawn([&] { wfs::write(fifo, "through the fifo"); });
    writer.join();
    CHECK(reader.join() == "through the fifo");
    CHECK(weft::this_fiber::worker_index() == 0);
  });
}

TEST_CASE("a cancelled fiber's file call throws Cancelled") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "fs cancel");
  ScratchDir dir;
  weft::Runtime rt(config(workers));
  rt.block_on([&] {
    // Cancelled while its job runs on the pool: the job (an open() of a FIFO,
    // which blocks until a writer comes) ends first, then Cancelled. (If the
    // cancel lands before the call, the job never starts: Cancelled too.)
    auto fifo = dir.path() / "fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    auto h = weft::spawn([&] { return wfs::read_to_string(fifo); });
    h.cancel();
    // Let a started job finish: open the writing end once a reader is there.
    for (auto t_end = Clock::now() + 10s; !h.is_finished() && Clock::now() < t_end;) {
      int w = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
      if (w >= 0) {
        CHECK(::write(w, "x", 1) == 1);
        ::close(w);
        break;
      }
      weft::this_fiber::yield();
    }
    CHECK_THROWS_AS(h.join(), weft::Cancelled);

    // Cancelled before the call: the no-throw form says operation_canceled
    // and the job does not run (the file is not created).
    auto p = dir.path() / "never";
    auto quiet = weft::spawn([&] {
      try {
        weft::this_fiber::sleep_for(20s);  // parks until the cancel
      } catch (const weft::Cancelled&) {
      }
      std::error_code ec;
      wfs::write(p, "x", ec);
      return ec;
    });
    quiet.cancel();
    CHECK(quiet.join() == std::errc::operation_canceled);
    CHECK_FALSE(wfs::exists(p));
  });
}

TEST_CASE("fs on a plain thread runs inline") {
  ScratchDir dir;
  auto p = dir.path() / "plain";
  wfs::write(p, "plain");
  CHECK(wfs::read_to_string(p) == "plain");
  auto entries = wfs::read_dir(dir.path());
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].name == "plain");
  CHECK(entries[0].type == wfs::file_type::regular);
}
