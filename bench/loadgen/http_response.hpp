// http_response.hpp: how weft_loadgen frames and checks an HTTP/1.x response.
//
// A response is complete once its head (ending in CRLF CRLF) and as many body
// bytes as its Content-Length have arrived. It is valid if its status is 200
// and it has a Content-Length; anything else is an error for the load generator
// (it sends only GET /, which every server under test answers that way).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace loadgen {

struct ResponseFrame {
  enum class Kind {
    incomplete,  // more bytes are needed
    complete,    // a valid response of `length` bytes starts the buffer
    invalid,     // not a 200 with a Content-Length: `error` says why
  };
  Kind kind = Kind::incomplete;
  std::size_t length = 0;
  const char* error = "";
};

// kMaxResponseHead bounds a response head; a longer one is invalid.
inline constexpr std::size_t kMaxResponseHead = 16 * 1024;

namespace detail {
inline bool equals_lower(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (std::size_t i = 0; i < a.size(); i++) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}
}  // namespace detail

// frame_response() looks at the bytes received so far, `buf`, which start with
// a response.
inline ResponseFrame frame_response(std::string_view buf) {
  const std::size_t head_end = buf.find("\r\n\r\n");
  if (head_end == std::string_view::npos) {
    if (buf.size() <= kMaxResponseHead) return {};
    return {ResponseFrame::Kind::invalid, 0, "response head too long"};
  }
  const std::string_view head = buf.substr(0, head_end + 2);  // every line ends in CRLF
  // Status line: "HTTP/1.x 200 ..."
  if (head.size() < 12 || head.substr(0, 7) != "HTTP/1." || head[8] != ' ') {
    return {ResponseFrame::Kind::invalid, 0, "not an HTTP/1.x response"};
  }
  if (head.substr(9, 3) != "200") return {ResponseFrame::Kind::invalid, 0, "status is not 200"};
  std::size_t line = head.find("\r\n") + 2;
  std::int64_t content_length = -1;
  while (line < head.size()) {
    const std::size_t eol = head.find("\r\n", line);
    const std::string_view field = head.substr(line, eol - line);
    line = eol + 2;
    const std::size_t colon = field.find(':');
    if (colon == std::string_view::npos ||
        !detail::equals_lower(field.substr(0, colon), "content-length")) {
      continue;
    }
    std::string_view v = field.substr(colon + 1);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    std::int64_t n = 0;
    if (v.empty() || v.size() > 15) return {ResponseFrame::Kind::invalid, 0, "bad Content-Length"};
    for (char c : v) {
      if (c < '0' || c > '9') return {ResponseFrame::Kind::invalid, 0, "bad Content-Length"};
      n = n * 10 + (c - '0');
    }
    if (content_length >= 0 && content_length != n) {
      return {ResponseFrame::Kind::invalid, 0, "conflicting Content-Length"};
    }
    content_length = n;
  }
  if (content_length < 0) return {ResponseFrame::Kind::invalid, 0, "no Content-Length"};
  const std::size_t total = head_end + 4 + static_cast<std::size_t>(content_length);
  if (buf.size() < total) return {};
  return {ResponseFrame::Kind::complete, total, ""};
}

}  // namespace loadgen
