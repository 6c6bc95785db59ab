// http_parser_test: RequestParser on well-formed, pipelined, split and broken
// requests. Every case is fed whole and in pieces of 1, 2, 3 and 7 bytes, so a
// request split anywhere between two reads parses the same.
#include <algorithm>
#include <cstdio>
#include <string>

#include "http_parser.hpp"

namespace {

using sample::http::RequestParser;

// events() feeds `in` in chunks of `chunk` bytes and spells what the parser
// saw: 'K' a request that keeps the connection, 'C' one that closes it, 'B' a
// bad request (the end), and a final '.' for a request left unfinished.
std::string events(const std::string& in, std::size_t chunk) {
  RequestParser parser;
  std::string seen;
  for (std::size_t off = 0; off < in.size(); off += chunk) {
    const char* p = in.data() + off;
    std::size_t n = std::min(chunk, in.size() - off);
    while (n > 0) {
      const RequestParser::Result r = parser.feed(p, n);
      p += r.consumed;
      n -= r.consumed;
      if (r.event == RequestParser::Event::request) {
        seen += parser.keep_alive() ? 'K' : 'C';
      } else if (r.event == RequestParser::Event::bad) {
        return seen + 'B';
      } else if (n != 0) {
        return seen + '?';  // need_more must consume everything it was given
      }
    }
  }
  return parser.in_request() ? seen + '.' : seen;
}

int failures = 0;

void expect(const char* name, const std::string& in, const std::string& want) {
  for (std::size_t chunk :
       {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{7}, in.size()}) {
    const std::string got = events(in, std::max<std::size_t>(chunk, 1));
    if (got != want) {
      std::printf("FAIL %s (pieces of %zu): got \"%s\", want \"%s\"\n", name, chunk, got.c_str(),
                  want.c_str());
      failures++;
    }
  }
}

}  // namespace

int main() {
  const std::string get = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  expect("one request", get, "K");
  expect("three pipelined", get + get + get, "KKK");
  expect("one and a piece", get + "GET / HT", "K.");
  expect("no headers", "GET / HTTP/1.1\r\n\r\n", "K");
  expect("empty line first", "\r\n" + get, "K");
  expect("HTTP/1.0 closes", "GET / HTTP/1.0\r\n\r\n", "C");
  expect("Connection: close", "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", "C");
  expect("close in a list", "GET / HTTP/1.1\r\nconnection: Upgrade, Close \r\n\r\n", "C");
  expect("keep-alive", "GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", "K");
  expect("body skipped", "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello" + get, "KK");
  expect("Content-Length with spaces", "POST / HTTP/1.1\r\nContent-Length:  5 \r\n\r\nhello", "K");
  expect("long header name", "GET / HTTP/1.1\r\nX-A-Rather-Long-Header-Name: 1\r\n\r\n", "K");
  expect("8000-byte header", "GET / HTTP/1.1\r\nX: " + std::string(8000, 'a') + "\r\n\r\n", "K");

  expect("not HTTP", "hello world\n", "B");
  expect("TLS hello", std::string("\x16\x03\x01\x00\xa5", 5), "B");
  expect("HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", "B");
  expect("no version", "GET /\r\n\r\n", "B");
  expect("bare LF", "GET / HTTP/1.1\nHost: x\n\n", "B");
  expect("space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", "B");
  expect("folded header", "GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", "B");
  expect("control byte in a value", "GET / HTTP/1.1\r\nA: b\x01\r\n\r\n", "B");
  expect("method too long", "ABCDEFGHIJKLMNOPQ / HTTP/1.1\r\n\r\n", "B");
  expect("Transfer-Encoding", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", "B");
  expect("two Content-Lengths",
         "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", "B");
  expect("Content-Length 1x", "POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\nx", "B");
  expect("empty Content-Length", "POST / HTTP/1.1\r\nContent-Length: \r\n\r\n", "B");
  expect("Content-Length 1 2", "POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", "B");
  expect("huge Content-Length", "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
         "B");
  expect("head over 8 KiB", "GET / HTTP/1.1\r\nX: " + std::string(9000, 'a'), "B");
  expect("bad after good", get + "xx yy\r\n\r\n", "KB");

  if (failures == 0) std::printf("http_parser_test: all cases pass\n");
  return failures == 0 ? 0 : 1;
}
