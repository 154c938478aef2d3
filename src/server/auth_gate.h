#pragma once

#include <memory>

#include "adapters/watch/watch_face.h"
#include "server/config.h"

namespace eddy::server {

// The watch face's Gate from [auth]: JWT verification (HS256 or RS256) and per-table rules with
// an optional row rule, checked once per subscription and per delivered change.
Result<std::unique_ptr<watch::Gate>> MakeAuthGate(const AuthConfig& config);

}  // namespace eddy::server
