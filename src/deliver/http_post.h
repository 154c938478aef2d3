#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "eddy/result.h"

namespace eddy::deliver {

struct HttpPostResponse {
  int status = 0;
  std::string body;  // at most kMaxResponseBody bytes are kept
};

// Where an http:// or https:// URL points. kInvalidArgument (naming `field`) for anything else.
struct HttpUrl {
  bool tls = false;  // https://
  std::string host;  // a DNS name or an IP address (IPv6 without the brackets)
  std::string port = "80";
  std::string target = "/";
  // "https://host:port/target", for messages.
  std::string ToString() const;
};
Result<HttpUrl> ParseHttpUrl(const std::string& url, const std::string& field);

// Whom https:// requests trust, loaded once (per webhook) and shared by its requests: the
// system's default CA store, or only the PEM CA certificates in `ca_file` (like curl --cacert).
// The server's certificate must chain to one of them and name the URL's host (DNS name or IP
// address in subjectAltName); TLS 1.2 or newer. Defined in http_post.cc so that Asio's ssl
// headers stay there. Thread-safe once loaded.
class TlsTrust;
// kInvalidArgument naming `field` when `ca_file` cannot be read or holds no certificate.
Result<std::shared_ptr<TlsTrust>> LoadTlsTrust(const std::string& ca_file,
                                               const std::string& field);

// One blocking HTTP/1.1 POST (Boost.Beast on a private io_context; the whole exchange, from
// resolving to reading the response, must finish within timeout_ms). https:// URLs need `tls`
// (nullptr: kFailedPrecondition). kUnavailable for network errors, TLS failures (untrusted
// certificate, wrong host name) and timeouts. Any thread; no shared state besides `tls`.
inline constexpr size_t kMaxResponseBody = 64 * 1024;
Result<HttpPostResponse> HttpPost(const HttpUrl& url, TlsTrust* tls,
                                  const std::vector<std::pair<std::string, std::string>>& headers,
                                  const std::string& body, int timeout_ms);

}  // namespace eddy::deliver
