// resolve(): getaddrinfo() on the blocking pool. The job copies host and
// service into its own strings (getaddrinfo wants NUL-terminated text) and
// hands back plain SocketAddress values, so nothing of the fiber's is used
// after the fiber resumes. With a deadline the job owns all it uses and
// frees itself: a caller that gives up leaves the lookup to finish alone,
// since a running getaddrinfo() cannot be interrupted.
#include <weft/net/resolve.hpp>

#include <netdb.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <optional>
#include <string>

#include <weft/errors.hpp>
#include <weft/net/errors.hpp>
#include <weft/oneshot.hpp>
#include <weft/scope.hpp>
#include <weft/unblock.hpp>

#include "../blocking_pool.hpp"

namespace weft::net {

namespace {

struct Lookup {
  std::vector<SocketAddress> addrs;
  int gai = 0;     // getaddrinfo()'s result
  int errno_ = 0;  // errno when gai is EAI_SYSTEM
};

Lookup lookup(const std::string& host, const std::string& service) noexcept {
  Lookup r;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  // One socket type, or getaddrinfo() lists every address once per type.
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = host.empty() ? AI_PASSIVE : 0;
  addrinfo* res = nullptr;
  r.gai = getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &res);
  if (r.gai == EAI_SYSTEM) r.errno_ = errno;
  if (r.gai != 0) return r;
  try {
    for (addrinfo* ai = res; ai; ai = ai->ai_next) {
      if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
      auto a = SocketAddress::from_native(ai->ai_addr, ai->ai_addrlen);
      if (std::find(r.addrs.begin(), r.addrs.end(), a) == r.addrs.end()) r.addrs.push_back(a);
    }
  } catch (...) {
    r.gai = EAI_MEMORY;
  }
  freeaddrinfo(res);
  if (r.gai == 0 && r.addrs.empty()) r.gai = EAI_NONAME;
  return r;
}

// OwnedLookup is a lookup that a caller with a deadline waits for: it owns
// its text and the sending end of the caller's oneshot, and frees itself.
struct OwnedLookup : detail::BlockingJob {
  std::string host, service;
  Lookup result;
  OneshotSender<Lookup> reply;
};

// lookup_until() runs the lookup on the blocking pool (or a thread of its own
// outside a fiber) and waits for it until d. The lookup goes on after a
// timeout or a cancellation, and its result is dropped.
std::optional<Lookup> lookup_until(std::string host, std::string service, Deadline d,
                                   std::error_code& ec) {
  auto [tx, rx] = oneshot<Lookup>();
  auto job = std::make_unique<OwnedLookup>();
  job->host = std::move(host);
  job->service = std::move(service);
  job->reply = std::move(tx);
  job->fn = [](void* p) noexcept {
    auto* j = static_cast<OwnedLookup*>(p);
    j->result = lookup(j->host, j->service);
  };
  job->arg = job.get();
  job->done = [](detail::BlockingJob* b) noexcept {
    std::unique_ptr<OwnedLookup> j(static_cast<OwnedLookup*>(b));
    j->reply.send(std::move(j->result));  // false if the caller gave up: dropped
  };
  try {
    detail::submit_owned(job.get());
  } catch (const std::system_error& e) {
    ec = e.code();
    return std::nullopt;
  }
  job.release();  // now its own
  return rx.recv(ec, d);
}

}  // namespace

std::vector<SocketAddress> resolve(std::string_view host, std::string_view service,
                                   std::error_code& ec, Expiry e) {
  // getaddrinfo() takes any number as a port and keeps its low 16 bits.
  if (!service.empty() && service.find_first_not_of("0123456789") == std::string_view::npos &&
      (service.size() > 5 || std::stoul(std::string(service)) > 65535)) {
    ec.assign(EAI_SERVICE, resolve_category());
    return {};
  }
  std::string h(host), s(service);
  Lookup r;
  if (const Deadline d = std::min(e.deadline(), current_deadline()); d != no_deadline) {
    if (Clock::now() >= d) {
      ec = std::make_error_code(std::errc::timed_out);
      return {};
    }
    std::optional<Lookup> got = lookup_until(std::move(h), std::move(s), d, ec);
    if (!got) return {};  // timed_out, operation_canceled, or no thread to run it
    r = std::move(*got);
  } else {
    try {
      r = weft::unblock([&] { return lookup(h, s); });
    } catch (const Cancelled&) {
      // The no-throw form reports cancellation as the waiting calls of Async do.
      ec = std::make_error_code(std::errc::operation_canceled);
      return {};
    }
  }
  if (r.gai == EAI_SYSTEM) {
    ec.assign(r.errno_ ? r.errno_ : EIO, std::generic_category());
  } else if (r.gai != 0) {
    ec.assign(r.gai, resolve_category());
  } else {
    ec.clear();
  }
  return std::move(r.addrs);
}

std::vector<SocketAddress> resolve(std::string_view host, std::string_view service, Expiry e) {
  std::error_code ec;
  auto addrs = resolve(host, service, ec, e);
  if (ec == std::errc::operation_canceled) throw Cancelled();
  if (ec)
    throw std::system_error(ec, "weft::net: cannot resolve \"" + std::string(host) + "\" service \"" +
                                    std::string(service) + "\"");
  return addrs;
}

bool split_host_port(std::string_view text, std::string_view& host, std::string_view& port) noexcept {
  std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return false;
  host = text.substr(0, colon);
  port = text.substr(colon + 1);
  if (!host.empty() && host.front() == '[') {
    if (host.back() != ']') return false;
    host = host.substr(1, host.size() - 2);
  } else if (host.find_first_of("[]") != std::string_view::npos) {
    return false;
  }
  return true;
}

}  // namespace weft::net
