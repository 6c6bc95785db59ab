// http_parser.hpp: an incremental HTTP/1.x request parser for the samples, just
// enough to frame keep-alive and pipelined requests without copying them.
//
// It reads a request byte by byte as it arrives, in any split over reads, and
// keeps only a few bytes of state: the request itself is never buffered, so a
// connection needs no memory beyond its read buffer. It checks the request line
// (METHOD SP target SP HTTP/1.x CRLF) and the header syntax, bounds the size of
// the head, and skips a Content-Length body. Anything else - another protocol, a
// bare LF, a head over the limit, Transfer-Encoding (no chunked bodies here) -
// is a bad request, after which the connection is not worth reading further.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sample::http {

// The fixed answer of the hello-world server (the peers answer the same bytes).
inline constexpr std::string_view kHelloResponse =
    "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!";

// The answer to a request the parser rejects; the connection closes after it.
inline constexpr std::string_view kBadRequestResponse =
    "HTTP/1.1 400 Bad Request\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n"
    "Connection: close\r\n\r\nBad Request";

// RequestParser frames the requests of one connection.
class RequestParser {
 public:
  // kMaxHead bounds the request line plus headers: 8 KiB, as nginx's default
  // large_client_header_buffers line and Node's old header limit.
  static constexpr std::size_t kMaxHead = 8 * 1024;
  // kMaxBody bounds a Content-Length body; it is skipped, never stored.
  static constexpr std::uint64_t kMaxBody = std::uint64_t{1} << 30;

  enum class Event {
    need_more,  // every byte given was consumed; the request is not complete
    request,    // one request ended; consumed says where the next one starts
    bad,        // the bytes are not a valid request; stop reading
  };

  struct Result {
    Event event;
    std::size_t consumed;  // bytes of the input that belong to this step
  };

  // feed() consumes bytes up to the end of the current request (or all of
  // them). Call it again with the rest after Event::request; after Event::bad
  // the parser stays bad.
  Result feed(const char* data, std::size_t n) noexcept {
    std::size_t i = 0;
    while (i < n) {
      if (state_ == State::body) {
        const std::uint64_t take = body_left_ < n - i ? body_left_ : n - i;
        i += static_cast<std::size_t>(take);
        body_left_ -= take;
        if (body_left_ == 0) return finish(i);
        continue;
      }
      if (state_ == State::bad) return {Event::bad, i};
      if (++head_len_ > kMaxHead) return fail(i);
      const auto c = static_cast<unsigned char>(data[i++]);
      if (!step(c)) return fail(i);
      if (state_ == State::done) {
        if (content_length_ == 0) return finish(i);
        body_left_ = content_length_;
        state_ = State::body;
      }
    }
    return {Event::need_more, i};
  }

  // keep_alive() says whether the connection may carry another request after
  // the one that just ended: HTTP/1.1 unless "Connection: close"; HTTP/1.0
  // never (the fixed response does not announce keep-alive).
  bool keep_alive() const noexcept { return keep_alive_; }

  // in_request() is true while part of a request has been read.
  bool in_request() const noexcept { return state_ != State::method || head_len_ != 0; }

 private:
  enum class State : std::uint8_t {
    method,
    target,
    version,
    request_line_lf,
    header_start,
    header_name,
    header_value,
    header_lf,
    head_lf,
    done,
    body,
    bad,
  };
  // Which header's value is being read; the others are only syntax-checked.
  enum class Field : std::uint8_t { other, content_length, transfer_encoding, connection };

  static constexpr std::size_t kMaxMethod = 16;
  static constexpr std::size_t kNameCap = 20;   // longest name we look for is 17
  static constexpr std::size_t kValueCap = 64;  // a Connection token list we read

  // tchar is RFC 9110's token character.
  static bool tchar(unsigned char c) noexcept {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
  }
  static unsigned char lower(unsigned char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<unsigned char>(c + ('a' - 'A')) : c;
  }

  // field_of() says which field a lowercased header name is; a name longer
  // than kNameCap comes as "" (none of those we look for).
  static Field field_of(std::string_view name) noexcept {
    if (name == "content-length") return Field::content_length;
    if (name == "transfer-encoding") return Field::transfer_encoding;
    if (name == "connection") return Field::connection;
    return Field::other;
  }

  // trim() drops the optional whitespace around a list element.
  static std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  }

  // step() advances the head by one byte; false on a syntax error.
  bool step(unsigned char c) noexcept {
    switch (state_) {
      case State::method:
        // Empty lines before a request are ignored (RFC 9112 2.2).
        if (len_ == 0 && (c == '\r' || c == '\n')) return true;
        if (c == ' ' && len_ > 0) return next(State::target);
        ++len_;
        return tchar(c) && len_ <= kMaxMethod;
      case State::target:
        if (c == ' ' && len_ > 0) return next(State::version);
        ++len_;
        return c > 0x20 && c < 0x7f;
      case State::version: {
        // "HTTP/1.x", then CR. Only HTTP/1 is spoken here.
        static constexpr std::string_view kPrefix = "HTTP/1.";
        if (len_ < kPrefix.size()) return c == static_cast<unsigned char>(kPrefix[len_++]);
        if (len_ == kPrefix.size()) {
          if (c < '0' || c > '9') return false;
          keep_alive_ = c != '0';  // 1.0 closes; 1.1 and later keep alive by default
          ++len_;
          return true;
        }
        return c == '\r' && next(State::request_line_lf);
      }
      case State::request_line_lf:
      case State::header_lf:
        return c == '\n' && next(State::header_start);
      case State::header_start:
        if (c == '\r') return next(State::head_lf);
        if (!tchar(c)) return false;  // also rejects obsolete line folding
        state_ = State::header_name;
        len_ = 0;
        [[fallthrough]];
      case State::header_name:
        if (c == ':') return begin_field();
        if (!tchar(c)) return false;  // no space before the colon (RFC 9112 5.1)
        if (len_ < kNameCap) name_[len_] = static_cast<char>(lower(c));
        ++len_;
        return true;
      case State::header_value:
        if (c == '\r') return end_field() && next(State::header_lf);
        if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
        return value_byte(c);
      case State::head_lf:
        if (c != '\n') return false;
        state_ = State::done;
        return true;
      default:
        return false;
    }
  }

  // next() moves to state s, at the start of a new element.
  bool next(State s) noexcept {
    state_ = s;
    len_ = 0;
    return true;
  }

  // begin_field() is called at the colon of a header line.
  bool begin_field() noexcept {
    field_ = field_of(std::string_view(name_, len_ <= kNameCap ? len_ : 0));
    if (field_ == Field::content_length && seen_length_) return false;  // a second one
    if (field_ == Field::transfer_encoding) return false;               // no chunked bodies
    if (field_ == Field::content_length) seen_length_ = true;
    number_ = 0;
    digits_ = 0;
    after_digits_ = false;
    return next(State::header_value);
  }

  // value_byte() takes one byte of a header value.
  bool value_byte(unsigned char c) noexcept {
    switch (field_) {
      case Field::content_length:
        // OWS digits OWS, bounded.
        if (c == ' ' || c == '\t') {
          if (digits_ > 0) after_digits_ = true;
          return true;
        }
        if (c < '0' || c > '9' || after_digits_) return false;
        number_ = number_ * 10 + (c - '0');
        ++digits_;
        return number_ <= kMaxBody;
      case Field::connection:
        if (len_ < kValueCap) value_[len_] = static_cast<char>(lower(c));
        ++len_;
        return true;
      default:
        return true;
    }
  }

  // end_field() takes in the value of a header whose line just ended.
  bool end_field() noexcept {
    if (field_ == Field::content_length) {
      if (digits_ == 0) return false;
      content_length_ = number_;
    } else if (field_ == Field::connection && len_ <= kValueCap) {
      // A comma-separated token list; "close" ends the connection after this
      // request ("keep-alive" changes nothing: see keep_alive()).
      std::string_view list(value_, len_);
      while (!list.empty()) {
        std::size_t comma = list.find(',');
        if (trim(list.substr(0, comma)) == "close") keep_alive_ = false;
        list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
      }
    }
    field_ = Field::other;
    return true;
  }

  Result finish(std::size_t consumed) noexcept {
    state_ = State::method;
    len_ = 0;
    head_len_ = 0;
    content_length_ = 0;
    seen_length_ = false;
    return {Event::request, consumed};
  }

  Result fail(std::size_t consumed) noexcept {
    state_ = State::bad;
    return {Event::bad, consumed};
  }

  State state_ = State::method;
  Field field_ = Field::other;
  bool keep_alive_ = true;            // of the request being read (then of the last one)
  bool seen_length_ = false;          // this request had a Content-Length already
  bool after_digits_ = false;         // Content-Length: whitespace followed the digits
  std::size_t len_ = 0;               // bytes of the current element (method, name, ...)
  std::size_t head_len_ = 0;          // bytes of the current head so far
  std::size_t digits_ = 0;            // Content-Length digits seen
  std::uint64_t number_ = 0;          // Content-Length value being read
  std::uint64_t content_length_ = 0;  // of the current request
  std::uint64_t body_left_ = 0;       // body bytes still to skip
  char name_[kNameCap] = {};          // lowercased start of the header name
  char value_[kValueCap] = {};        // lowercased start of a Connection value
};

}  // namespace sample::http
