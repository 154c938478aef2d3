#include "server/auth_gate.h"

#include <fmt/format.h>

#include "eddy/clock.h"

#include "auth/jwt.h"
#include "auth/policy.h"

namespace eddy::server {
namespace {

class AuthGate final : public watch::Gate {
 public:
  AuthGate(std::unique_ptr<auth::JwtVerifier> verifier, auth::Policy policy)
      : verifier_(std::move(verifier)), policy_(std::move(policy)) {}

  std::optional<watch::RequestError> Check(
      const std::string& token, const Subscription& subscription,
      std::function<bool(const Change&)>* row_filter) override {
    if (token.empty()) {
      return watch::RequestError{401, "unauthorized", "token",
                                 "a bearer token is required (Authorization: Bearer ..., or "
                                 "token=... for EventSource)"};
    }
    auto claims = verifier_->Verify(token, SystemClock().NowUnixMicros() / 1000000);
    if (!claims.ok()) {
      return watch::RequestError{401, "unauthorized", "token", claims.status().message()};
    }
    std::string schema = "*";
    std::string table = "*";
    if (!subscription.table.empty() && subscription.table != "*") {
      size_t dot = subscription.table.find('.');
      schema = dot == std::string::npos ? "public" : subscription.table.substr(0, dot);
      table = dot == std::string::npos ? subscription.table : subscription.table.substr(dot + 1);
    }
    std::vector<std::string> ops;
    for (Op op : subscription.ops) ops.emplace_back(OpName(op));
    if (ops.empty()) ops = {"insert", "update", "delete", "truncate"};
    auto grant = policy_.CheckSubscribe(*claims, schema, table, ops);
    if (!grant.ok()) {
      return watch::RequestError{400, "bad_request", "token", grant.status().message()};
    }
    if (!grant->allowed) return watch::RequestError{403, "forbidden", "table", grant->reason};
    if (!grant->row_column.empty()) {
      auth::Grant g = *grant;
      // Enforced on every delivered change, in process: no database query.
      *row_filter = [g](const Change& change) { return auth::Policy::RowAllowed(g, change); };
    }
    return std::nullopt;
  }

 private:
  std::unique_ptr<auth::JwtVerifier> verifier_;
  auth::Policy policy_;
};

}  // namespace

Result<std::unique_ptr<auth::JwtVerifier>> MakeJwtVerifier(const AuthConfig& config) {
  std::unique_ptr<auth::JwtVerifier> verifier;
  if (!config.hs256_secret.empty()) {
    EDDY_ASSIGN_OR_RETURN(verifier, auth::JwtVerifier::Hs256(config.hs256_secret));
  } else if (!config.rs256_public_key_file.empty()) {
    auto v = auth::JwtVerifier::Rs256FromPemFile(config.rs256_public_key_file);
    if (!v.ok()) return v.status().WithContext("auth.rs256_public_key_file");
    verifier = std::move(v).value();
  } else {
    return InvalidArgument(
        "auth: no key to verify tokens: set auth.hs256_secret or auth.rs256_public_key_file, or "
        "auth.mode = \"open\" (or --open) for local development");
  }
  return verifier;
}

Result<shapes::ShapeAuthorizer> MakeShapeAuthorizer(const AuthConfig& config) {
  EDDY_ASSIGN_OR_RETURN(std::unique_ptr<auth::JwtVerifier> verifier, MakeJwtVerifier(config));
  std::vector<auth::TableRule> rules;
  for (const AuthRuleConfig& r : config.rules) {
    rules.push_back(auth::TableRule{r.table, r.roles, r.ops, r.row_claim, r.row_column});
  }
  Status valid = auth::Policy::Validate(rules);
  if (!valid.ok()) return valid.WithContext("auth.rules");
  std::shared_ptr<auth::JwtVerifier> shared_verifier = std::move(verifier);
  auto policy = std::make_shared<auth::Policy>(rules);
  return shapes::ShapeAuthorizer([shared_verifier, policy](const http::Request& request,
                                                           const shapes::RelationName& table) {
    shapes::ShapeGrant grant;
    std::string token;
    if (auto header = request.Header("authorization")) {
      if (header->starts_with("Bearer ")) token = header->substr(7);
    }
    if (token.empty()) token = request.Query("token").value_or("");
    if (token.empty()) {
      grant.allowed = false;
      grant.status = 401;
      grant.message = "a bearer token is required (Authorization: Bearer ...)";
      return grant;
    }
    auto claims = shared_verifier->Verify(token, SystemClock().NowUnixMicros() / 1000000);
    if (!claims.ok()) {
      grant.allowed = false;
      grant.status = 401;
      grant.message = claims.status().message();
      return grant;
    }
    auto decided =
        policy->CheckSubscribe(*claims, table.schema, table.name, {"insert", "update", "delete"});
    if (!decided.ok() || !decided->allowed) {
      grant.allowed = false;
      grant.status = 403;
      grant.message = decided.ok() ? decided->reason : decided.status().message();
      return grant;
    }
    if (!decided->row_column.empty()) {
      grant.row_column = decided->row_column;
      grant.row_value = decided->row_value;
    }
    return grant;
  });
}

Result<std::unique_ptr<watch::Gate>> MakeAuthGate(const AuthConfig& config) {
  EDDY_ASSIGN_OR_RETURN(std::unique_ptr<auth::JwtVerifier> verifier, MakeJwtVerifier(config));
  std::vector<auth::TableRule> rules;
  for (const AuthRuleConfig& r : config.rules) {
    rules.push_back(auth::TableRule{r.table, r.roles, r.ops, r.row_claim, r.row_column});
  }
  Status valid = auth::Policy::Validate(rules);
  if (!valid.ok()) return valid.WithContext("auth.rules");
  return std::unique_ptr<watch::Gate>(new AuthGate(std::move(verifier), auth::Policy(rules)));
}

}  // namespace eddy::server
