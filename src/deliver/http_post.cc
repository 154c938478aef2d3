// The only translation unit of src/deliver that includes Asio/Beast (their out-of-line parts are
// compiled once in eddy_http's boost_impl.cc).
#include "deliver/http_post.h"

#include <chrono>
#include <exception>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>

namespace eddy::deliver {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

net::awaitable<void> Exchange(const HttpUrl& url,
                              const std::vector<std::pair<std::string, std::string>>& headers,
                              const std::string& body, std::chrono::milliseconds timeout,
                              HttpPostResponse* out) {
  auto executor = co_await net::this_coro::executor;
  net::ip::tcp::resolver resolver(executor);
  auto endpoints = co_await resolver.async_resolve(url.host, url.port, net::use_awaitable);
  beast::tcp_stream stream(executor);
  stream.expires_after(timeout);
  co_await stream.async_connect(endpoints, net::use_awaitable);
  bhttp::request<bhttp::string_body> request{bhttp::verb::post, url.target, 11};
  request.set(bhttp::field::host, url.host);
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
  beast::error_code ignored;
  stream.socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
}

}  // namespace

Result<HttpUrl> ParseHttpUrl(const std::string& url, const std::string& field) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind("https://", 0) == 0) {
    return InvalidArgument(fmt::format(
        "{}: \"{}\": https is not supported yet (use http://, e.g. behind a local TLS proxy)",
        field, url));
  }
  if (url.rfind(kScheme, 0) != 0) {
    return InvalidArgument(fmt::format(
        "{}: \"{}\" is not an http:// URL (e.g. http://127.0.0.1:9000/hook)", field, url));
  }
  std::string rest = url.substr(kScheme.size());
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  HttpUrl out;
  if (slash != std::string::npos) out.target = rest.substr(slash);
  if (authority.empty()) return InvalidArgument(fmt::format("{}: \"{}\" has no host", field, url));
  size_t colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']') == std::string::npos) {
    out.host = authority.substr(0, colon);
    out.port = authority.substr(colon + 1);
    if (out.port.empty() || out.port.size() > 5 ||
        out.port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(out.port) > 65535) {
      return InvalidArgument(fmt::format("{}: \"{}\" has a bad port", field, url));
    }
  } else {
    out.host = authority;
  }
  if (out.host.empty()) return InvalidArgument(fmt::format("{}: \"{}\" has no host", field, url));
  return out;
}

Result<HttpPostResponse> HttpPost(const HttpUrl& url,
                                  const std::vector<std::pair<std::string, std::string>>& headers,
                                  const std::string& body, int timeout_ms) {
  // Declared before the io_context: a timed-out exchange is destroyed with it and must not
  // outlive what it points to.
  HttpPostResponse response;
  std::exception_ptr failure;
  bool done = false;
  net::io_context io;
  const auto timeout = std::chrono::milliseconds(timeout_ms);
  net::co_spawn(io, Exchange(url, headers, body, timeout, &response), [&](std::exception_ptr e) {
    failure = e;
    done = true;
  });
  io.run_for(timeout);
  if (!done) {
    return Unavailable(fmt::format("POST http://{}:{}{}: timed out after {} ms", url.host, url.port,
                                   url.target, timeout_ms));
  }
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      return Unavailable(
          fmt::format("POST http://{}:{}{}: {}", url.host, url.port, url.target, e.what()));
    }
  }
  return response;
}

}  // namespace eddy::deliver
