#pragma once

// The route table of a Server. Beast-free so that matching can be tested on its own.
// Thread-safety: filled before Server::Start(), read-only (and so shareable) afterwards.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "http/server.h"

namespace eddy::http {

// Everything registered for one path.
struct RouteEntry {
  std::string path;                                    // as registered
  std::map<std::string, HttpHandler> handlers;         // by method ("GET", "POST", ...)
  std::map<std::string, AsyncHandler> async_handlers;  // by method, answered later
  SseHandler sse;                                      // GET, when set
  WebSocketHandler websocket;                          // GET + Upgrade, when set
  size_t index = 0;                                    // registration order, indexes the stats

  // The methods answered, for the Allow header of a 405: "GET, HEAD, POST".
  std::string Allow() const;
};

class Router {
 public:
  // The entry for `path`, created on first use.
  RouteEntry& Entry(const std::string& path);

  // The exact entry for `path`, else the longest registered prefix that ends in '/'; nullptr
  // when nothing matches.
  const RouteEntry* Match(std::string_view path) const;

  size_t size() const { return routes_.size(); }
  // Registered paths in registration order.
  std::vector<std::string> Paths() const;

 private:
  std::map<std::string, RouteEntry, std::less<>> routes_;
};

}  // namespace eddy::http
