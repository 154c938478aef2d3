#pragma once

// Beast-free helpers shared by the server and its tests: JSON string escaping, percent-decoding
// and splitting of request targets.

#include <map>
#include <string>
#include <string_view>

#include "common/json_string.h"

namespace eddy::http {

// JSON string literals come from common/json_string.h.
using ::eddy::AppendJsonString;

// Decodes %XX escapes; with `plus_is_space`, '+' becomes ' ' (query strings). A '%' not followed
// by two hex digits is kept literally.
std::string PercentDecode(std::string_view text, bool plus_is_space);

// Parses "a=1&b=x%20y&flag" into {a:1, b:"x y", flag:""}. Empty pieces are skipped.
std::multimap<std::string, std::string> ParseQuery(std::string_view query);

// Splits a request target into its percent-decoded path and its raw query (after '?').
struct SplitTargetResult {
  std::string path;
  std::string_view query;
};
SplitTargetResult SplitTarget(std::string_view target);

std::string ToLower(std::string_view text);

}  // namespace eddy::http
