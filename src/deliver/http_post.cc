// The only translation unit of src/deliver that includes Asio/Beast (their out-of-line parts are
// compiled once in eddy_http's boost_impl.cc; Asio's ssl parts in asio_ssl_impl.cc).
#include "deliver/http_post.h"

#include <chrono>
#include <exception>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

namespace eddy::deliver {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

class TlsTrust {
 public:
  ssl::context context{ssl::context::tls_client};
};

namespace {

// After the response: how long the TLS close_notify exchange may take (a server that never
// answers it must not turn a delivered batch into a timeout).
constexpr auto kTlsShutdownGrace = std::chrono::milliseconds(250);

bool IsIpAddress(const std::string& host) {
  beast::error_code ec;
  net::ip::make_address(host, ec);
  return !ec;
}

// Host header: the port only when it is not the scheme's default; IPv6 in brackets.
std::string HostHeader(const HttpUrl& url) {
  std::string host = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  if (url.port != (url.tls ? "443" : "80")) host += ":" + url.port;
  return host;
}

template <class Stream>
net::awaitable<void> WriteAndRead(Stream& stream, const HttpUrl& url,
                                  const std::vector<std::pair<std::string, std::string>>& headers,
                                  const std::string& body, HttpPostResponse* out) {
  bhttp::request<bhttp::string_body> request{bhttp::verb::post, url.target, 11};
  request.set(bhttp::field::host, HostHeader(url));
  request.set(bhttp::field::user_agent, "eddy-webhook");
  request.set(bhttp::field::content_type, "application/json");
  for (const auto& [name, value] : headers) request.set(name, value);
  request.body() = body;
  request.prepare_payload();
  co_await bhttp::async_write(stream, request, net::use_awaitable);
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(kMaxResponseBody);
  co_await bhttp::async_read(stream, buffer, parser, net::use_awaitable);
  out->status = static_cast<int>(parser.get().result_int());
  out->body = std::move(parser.get().body());
}

net::awaitable<void> Exchange(const HttpUrl& url, TlsTrust* tls,
                              const std::vector<std::pair<std::string, std::string>>& headers,
                              const std::string& body, std::chrono::milliseconds timeout,
                              HttpPostResponse* out) {
  auto executor = co_await net::this_coro::executor;
  net::ip::tcp::resolver resolver(executor);
  auto endpoints = co_await resolver.async_resolve(url.host, url.port, net::use_awaitable);
  if (!url.tls) {
    beast::tcp_stream stream(executor);
    stream.expires_after(timeout);
    co_await stream.async_connect(endpoints, net::use_awaitable);
    co_await WriteAndRead(stream, url, headers, body, out);
    beast::error_code ignored;
    stream.socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
    co_return;
  }
  beast::ssl_stream<beast::tcp_stream> stream(executor, tls->context);
  // SNI names DNS hosts only (RFC 6066 §3: not IP literals).
  if (!IsIpAddress(url.host) &&
      !SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str())) {
    throw beast::system_error(
        beast::error_code(static_cast<int>(::ERR_get_error()), net::error::get_ssl_category()),
        "setting the TLS server name");
  }
  // The chain is checked against the trust store (verify_peer on the context); this checks that
  // the leaf names the host we asked for.
  stream.set_verify_callback(ssl::host_name_verification(url.host));
  beast::get_lowest_layer(stream).expires_after(timeout);
  co_await beast::get_lowest_layer(stream).async_connect(endpoints, net::use_awaitable);
  co_await stream.async_handshake(ssl::stream_base::client, net::use_awaitable);
  co_await WriteAndRead(stream, url, headers, body, out);
  // The response is in: a failed or slow close_notify does not matter any more.
  beast::get_lowest_layer(stream).expires_after(kTlsShutdownGrace);
  beast::error_code ignored;
  co_await stream.async_shutdown(net::redirect_error(net::use_awaitable, ignored));
}

}  // namespace

std::string HttpUrl::ToString() const {
  const std::string shown_host = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return fmt::format("{}://{}:{}{}", tls ? "https" : "http", shown_host, port, target);
}

Result<HttpUrl> ParseHttpUrl(const std::string& url, const std::string& field) {
  HttpUrl out;
  std::string rest;
  if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("https://", 0) == 0) {
    rest = url.substr(8);
    out.tls = true;
    out.port = "443";
  } else {
    return InvalidArgument(fmt::format(
        "{}: \"{}\" is not an http:// or https:// URL (e.g. https://hooks.example.com/eddy)", field,
        url));
  }
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) out.target = rest.substr(slash);
  if (authority.empty()) return InvalidArgument(fmt::format("{}: \"{}\" has no host", field, url));
  if (authority.find('@') != std::string::npos) {
    return InvalidArgument(fmt::format(
        "{}: \"{}\": user:password@ in the URL is not supported (the secret signs requests)", field,
        url));
  }
  std::string port;
  if (authority.front() == '[') {  // [IPv6]:port
    size_t close = authority.find(']');
    if (close == std::string::npos) {
      return InvalidArgument(fmt::format("{}: \"{}\" has an unclosed [", field, url));
    }
    out.host = authority.substr(1, close - 1);
    std::string after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return InvalidArgument(fmt::format("{}: \"{}\" has a bad port", field, url));
      }
      port = after.substr(1);
      if (port.empty())
        return InvalidArgument(fmt::format("{}: \"{}\" has a bad port", field, url));
    }
  } else if (size_t colon = authority.rfind(':'); colon != std::string::npos) {
    out.host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (port.empty()) return InvalidArgument(fmt::format("{}: \"{}\" has a bad port", field, url));
  } else {
    out.host = authority;
  }
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(port) > 65535) {
      return InvalidArgument(fmt::format("{}: \"{}\" has a bad port", field, url));
    }
    out.port = port;
  }
  if (out.host.empty()) return InvalidArgument(fmt::format("{}: \"{}\" has no host", field, url));
  return out;
}

Result<std::shared_ptr<TlsTrust>> LoadTlsTrust(const std::string& ca_file,
                                               const std::string& field) {
  auto trust = std::make_shared<TlsTrust>();
  ssl::context& context = trust->context;
  if (::SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_2_VERSION) != 1) {
    return Internal("TLS: cannot require TLS 1.2");
  }
  beast::error_code ec;
  context.set_verify_mode(ssl::verify_peer, ec);
  if (ca_file.empty()) {
    context.set_default_verify_paths(ec);
    if (ec) return Internal(fmt::format("TLS: loading the system's CA store: {}", ec.message()));
  } else {
    context.load_verify_file(ca_file, ec);
    if (ec) {
      return InvalidArgument(fmt::format(
          "{}: cannot load CA certificates from \"{}\": {} (give a PEM file of the CA that "
          "signed the endpoint's certificate)",
          field, ca_file, ec.message()));
    }
  }
  return trust;
}

Result<HttpPostResponse> HttpPost(const HttpUrl& url, TlsTrust* tls,
                                  const std::vector<std::pair<std::string, std::string>>& headers,
                                  const std::string& body, int timeout_ms) {
  if (url.tls && tls == nullptr) {
    return FailedPrecondition(fmt::format("POST {}: https needs a TlsTrust", url.ToString()));
  }
  // Declared before the io_context: a timed-out exchange is destroyed with it and must not
  // outlive what it points to.
  HttpPostResponse response;
  std::exception_ptr failure;
  bool done = false;
  net::io_context io;
  const auto timeout = std::chrono::milliseconds(timeout_ms);
  net::co_spawn(io, Exchange(url, tls, headers, body, timeout, &response),
                [&](std::exception_ptr e) {
                  failure = e;
                  done = true;
                });
  io.run_for(timeout + kTlsShutdownGrace);
  if (!done && response.status == 0) {
    return Unavailable(fmt::format("POST {}: timed out after {} ms", url.ToString(), timeout_ms));
  }
  if (failure && response.status == 0) {
    try {
      std::rethrow_exception(failure);
    } catch (const boost::system::system_error& e) {
      if (e.code() == beast::error::timeout) {
        return Unavailable(
            fmt::format("POST {}: timed out after {} ms", url.ToString(), timeout_ms));
      }
      // The code's message, not what(): that carries Beast's source location.
      return Unavailable(fmt::format("POST {}: {}", url.ToString(), e.code().message()));
    } catch (const std::exception& e) {
      return Unavailable(fmt::format("POST {}: {}", url.ToString(), e.what()));
    }
  }
  return response;
}

}  // namespace eddy::deliver
