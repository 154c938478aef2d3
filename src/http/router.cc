#include "http/router.h"

#include <algorithm>

namespace eddy::http {

std::string RouteEntry::Allow() const {
  std::vector<std::string> methods;
  for (const auto& [method, handler] : handlers) methods.push_back(method);
  for (const auto& [method, handler] : async_handlers) {
    if (!handlers.contains(method)) methods.push_back(method);
  }
  const bool plain_get = handlers.contains("GET") || async_handlers.contains("GET");
  const bool has_get = plain_get || sse || websocket;
  if (has_get) {
    if (!plain_get) methods.push_back("GET");
    if (!handlers.contains("HEAD") && !async_handlers.contains("HEAD") && plain_get) {
      methods.push_back("HEAD");
    }
  }
  std::sort(methods.begin(), methods.end());
  std::string allow;
  for (const auto& method : methods) {
    if (!allow.empty()) allow.append(", ");
    allow.append(method);
  }
  return allow;
}

RouteEntry& Router::Entry(const std::string& path) {
  auto [it, inserted] = routes_.try_emplace(path);
  if (inserted) {
    it->second.path = path;
    it->second.index = routes_.size() - 1;
  }
  return it->second;
}

const RouteEntry* Router::Match(std::string_view path) const {
  if (auto it = routes_.find(path); it != routes_.end()) return &it->second;
  // Subtree routes, longest prefix first: "/a/b/c" tries "/a/b/", "/a/", "/".
  size_t end = path.size();
  while (end > 0) {
    const size_t slash = path.rfind('/', end - 1);
    if (slash == std::string_view::npos) break;
    if (auto it = routes_.find(path.substr(0, slash + 1)); it != routes_.end()) {
      return &it->second;
    }
    end = slash;
  }
  return nullptr;
}

std::vector<std::string> Router::Paths() const {
  std::vector<std::string> paths(routes_.size());
  for (const auto& [path, entry] : routes_) paths[entry.index] = path;
  return paths;
}

}  // namespace eddy::http
