#pragma once

#include <string>
#include <string_view>

#include "eddy/result.h"

namespace eddy::watermelon {

// `data` as a gzip member (RFC 1952), for Content-Encoding: gzip.
Result<std::string> Gzip(std::string_view data);
// The reverse (tests and benchmarks).
Result<std::string> Gunzip(std::string_view data);

}  // namespace eddy::watermelon
