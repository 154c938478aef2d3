#pragma once

#include <string>
#include <utility>
#include <vector>

#include "eddy/result.h"

namespace eddy::deliver {

struct HttpPostResponse {
  int status = 0;
  std::string body;  // at most kMaxResponseBody bytes are kept
};

// Where an http:// URL points. kInvalidArgument (naming `field`) for anything else; https:// is
// not supported yet.
struct HttpUrl {
  std::string host;
  std::string port = "80";
  std::string target = "/";
};
Result<HttpUrl> ParseHttpUrl(const std::string& url, const std::string& field);

// One blocking HTTP/1.1 POST (Boost.Beast on a private io_context; the whole exchange, from
// resolving to reading the response, must finish within timeout_ms). kUnavailable for network
// errors and timeouts. Any thread; no shared state.
inline constexpr size_t kMaxResponseBody = 64 * 1024;
Result<HttpPostResponse> HttpPost(const HttpUrl& url,
                                  const std::vector<std::pair<std::string, std::string>>& headers,
                                  const std::string& body, int timeout_ms);

}  // namespace eddy::deliver
