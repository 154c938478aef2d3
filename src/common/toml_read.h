#pragma once

// Typed reads of config values from a parsed TOML document, with errors that name the key
// (`section.key: has the wrong type (expected an integer)`). Shared by the config readers of the
// server and of the faces. Header-only: its users link toml++ themselves.

#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "eddy/result.h"

namespace eddy {

// Sets `*out` from `node` (null: the key is absent, `*out` keeps its default).
template <class T>
Status ReadTomlValue(const toml::node* node, std::string_view where, std::string_view key, T* out) {
  if (node == nullptr) return Status::Ok();
  if (auto v = node->value<T>()) {
    *out = *v;
    return Status::Ok();
  }
  return InvalidArgument(fmt::format("{}.{}: has the wrong type (expected {})", where, key,
                                     std::is_same_v<T, std::string> ? "a string"
                                     : std::is_same_v<T, bool>      ? "true or false"
                                                                    : "an integer"));
}

// A list of strings from `node` (null: absent, an empty list).
inline Result<std::vector<std::string>> ReadTomlStrings(const toml::node* node,
                                                        std::string_view where,
                                                        std::string_view key) {
  std::vector<std::string> out;
  if (node == nullptr) return out;
  const toml::array* a = node->as_array();
  if (a == nullptr) {
    return InvalidArgument(fmt::format("{}.{}: must be a list of strings", where, key));
  }
  for (const toml::node& e : *a) {
    auto v = e.value<std::string>();
    if (!v) return InvalidArgument(fmt::format("{}.{}: must be a list of strings", where, key));
    out.push_back(*v);
  }
  return out;
}

}  // namespace eddy
