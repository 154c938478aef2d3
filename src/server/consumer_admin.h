#pragma once

#include <memory>

#include "auth/jwt.h"
#include "deliver/exec_consumers.h"
#include "http/server.h"

namespace eddy::server {

// The role claim a token needs for the admin routes when [auth] mode is "jwt".
inline constexpr const char* kAdminRole = "admin";

// Registers the [[consumers]] admin routes (docs/consumers.md):
//   GET  /v1/consumers                                  every consumer with its counters
//   GET  /v1/consumers/<name>/parked                    its parked changes, oldest first
//   POST /v1/consumers/<name>/parked/replay             replay every parked change
//   POST /v1/consumers/<name>/parked/<id>/replay        replay one (and its key's older ones)
//   POST /v1/consumers/<name>/parked/<id>/discard       drop one
// With `verifier` null ([auth] mode "open") anyone may call them; otherwise the request needs
// "Authorization: Bearer <jwt>" whose "role" claim is kAdminRole (401 without a valid token, 403
// for another role): these routes change what is delivered, so table rules do not apply.
void RegisterConsumerAdmin(http::Server& server, deliver::ExecConsumers& consumers,
                           std::shared_ptr<const auth::JwtVerifier> verifier);

}  // namespace eddy::server
