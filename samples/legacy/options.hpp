// The command line of the legacy echo servers, the same as the other servers':
//   NAME --port P --threads N     (also --port=P, --threads=N)
// P = 0 lets the kernel pick a free port; N is the number of worker threads
// (the thread-per-connection server accepts it and ignores it).
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

namespace legacy {

struct Options {
  int port = -1;
  unsigned threads = 1;
};

// number() reads a whole decimal argument within [lo, hi].
inline std::optional<long> number(const std::string& s, long lo, long hi) {
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || errno != 0 || *end != '\0' || v < lo || v > hi) return std::nullopt;
  return v;
}

// parse() returns the options, or prints a usage line and returns nullopt.
inline std::optional<Options> parse(int argc, char** argv, const char* name) {
  Options o;
  for (int i = 1; i < argc; i++) {
    std::string arg = argv[i];
    std::string value;
    if (auto eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    }
    std::optional<long> n;
    if (arg == "--port" && (n = number(value, 0, 65535))) {
      o.port = static_cast<int>(*n);
    } else if (arg == "--threads" && (n = number(value, 1, 1024))) {
      o.threads = static_cast<unsigned>(*n);
    } else {
      o.port = -1;
      break;
    }
  }
  if (o.port < 0) {
    std::fprintf(stderr, "usage: %s --port P [--threads N]   (P = 0 picks a free port)\n", name);
    return std::nullopt;
  }
  return o;
}

}  // namespace legacy
