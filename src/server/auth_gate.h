#pragma once

#include <memory>

#include "adapters/shape/shape_face.h"
#include "adapters/watch/watch_face.h"
#include "auth/jwt.h"
#include "server/config.h"

namespace eddy::server {

// The watch face's Gate from [auth]: JWT verification (HS256 or RS256) and per-table rules with
// an optional row rule, checked once per subscription and per delivered change.
Result<std::unique_ptr<watch::Gate>> MakeAuthGate(const AuthConfig& config);

// The Shape API's authorizer from [auth]: the same token and table rules as the watch face; a
// row rule becomes a WHERE the shape cannot escape (`row_column = <claim>`, ANDed).
Result<shapes::ShapeAuthorizer> MakeShapeAuthorizer(const AuthConfig& config);

// The verifier of [auth]'s key (hs256_secret or rs256_public_key_file); kInvalidArgument naming
// the keys when neither is set.
Result<std::unique_ptr<auth::JwtVerifier>> MakeJwtVerifier(const AuthConfig& config);

}  // namespace eddy::server
