#include "server/consumer_admin.h"

#include <charconv>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "eddy/clock.h"

#include "change/json_encoder.h"

namespace eddy::server {
namespace {

constexpr std::string_view kPrefix = "/v1/consumers/";

std::string Quoted(std::string_view text) {
  std::string out;
  change::AppendJsonString(std::string(text), &out);
  return out;
}

// nullopt when the request may go on; the refusal otherwise.
std::optional<http::Response> CheckAdmin(const http::Request& request,
                                         const auth::JwtVerifier* verifier) {
  if (verifier == nullptr) return std::nullopt;  // auth mode "open"
  std::string token;
  if (auto header = request.Header("authorization");
      header && (header->rfind("Bearer ", 0) == 0 || header->rfind("bearer ", 0) == 0)) {
    token = header->substr(7);
  }
  if (token.empty()) {
    return http::Response::Error(
        401, "unauthorized",
        fmt::format("a bearer token with role \"{}\" is required (Authorization: Bearer ...)",
                    kAdminRole),
        "token");
  }
  auto claims = verifier->Verify(token, SystemClock().NowUnixMicros() / 1000000);
  if (!claims.ok()) {
    return http::Response::Error(401, "unauthorized", claims.status().message(), "token");
  }
  if (claims->role != kAdminRole) {
    return http::Response::Error(
        403, "forbidden",
        fmt::format("role \"{}\" may not manage consumers: the token's role must be \"{}\"",
                    claims->role, kAdminRole),
        "role");
  }
  return std::nullopt;
}

http::Response FromStatus(const Status& status, std::string_view field) {
  switch (status.code()) {
    case StatusCode::kNotFound:
      return http::Response::Error(404, "not_found", status.message(), field);
    case StatusCode::kInvalidArgument:
      return http::Response::Error(400, "bad_request", status.message(), field);
    default:
      return http::Response::Error(500, "internal", status.message());
  }
}

std::string ParkedJson(const ParkedChange& p) {
  std::string key = "[";
  bool first = true;
  for (const Value* v : p.change.KeyValues()) {
    if (!first) key += ",";
    first = false;
    if (v == nullptr || v->kind != Value::Kind::kText) {
      key += "null";
    } else {
      change::AppendJsonString(v->text, &key);
    }
  }
  key += "]";
  const std::string table = p.change.table ? p.change.table->QualifiedName() : "";
  return fmt::format(
      R"({{"id":{},"table":{},"op":"{}","key":{},"position":"{}","attempts":{},"error":{}}})", p.id,
      Quoted(table), OpName(p.change.op), key, p.change.position.ToString(), p.attempts,
      Quoted(p.error));
}

http::Response ListConsumers(deliver::ExecConsumers& consumers) {
  std::string body = R"({"consumers":[)";
  bool first = true;
  for (const auto& [name, consumer] : consumers.Started()) {
    ConsumerStats st = consumer->Stats();
    Status health = consumer->Health();
    if (!first) body += ",";
    first = false;
    body += fmt::format(R"({{"name":{},"acknowledged":{},"failures":{},"parked":{},"in_flight":{},)"
                        R"("cursor":"{}","up":{},"error":{}}})",
                        Quoted(name), st.acknowledged, st.failures, st.parked, st.in_flight,
                        st.cursor.ToString(), health.ok() ? "true" : "false",
                        health.ok() ? "null" : Quoted(health.message()));
  }
  body += "]}";
  return http::Response::Json(200, std::move(body));
}

std::optional<uint64_t> ParseId(std::string_view text) {
  uint64_t id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return id;
}

http::Response MethodNotAllowed(const http::Request& request, std::string_view allowed) {
  http::Response r = http::Response::Error(
      405, "method_not_allowed",
      fmt::format("{} is not allowed on {} (use {})", request.method, request.path, allowed));
  r.headers.emplace_back("Allow", std::string(allowed));
  return r;
}

http::Response HandleConsumer(const http::Request& request, deliver::ExecConsumers& consumers) {
  std::vector<std::string_view> parts;
  std::string_view rest = std::string_view(request.path).substr(kPrefix.size());
  while (!rest.empty()) {
    size_t slash = rest.find('/');
    parts.push_back(rest.substr(0, slash));
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  }
  const bool shape_parked = parts.size() == 2 && parts[1] == "parked";
  const bool shape_replay_all = parts.size() == 3 && parts[1] == "parked" && parts[2] == "replay";
  const bool shape_one =
      parts.size() == 4 && parts[1] == "parked" && (parts[3] == "replay" || parts[3] == "discard");
  if (!shape_parked && !shape_replay_all && !shape_one) {
    return http::Response::Error(
        404, "not_found",
        fmt::format("no route {} (see GET /v1/consumers/<name>/parked and POST "
                    "/v1/consumers/<name>/parked/[<id>/]replay|discard)",
                    request.path));
  }
  const bool want_get = shape_parked;
  if ((request.method == "GET" || request.method == "HEAD") != want_get) {
    return MethodNotAllowed(request, want_get ? "GET" : "POST");
  }
  Consumer* consumer = consumers.Find(parts[0]);
  if (consumer == nullptr) {
    return http::Response::Error(
        404, "not_found",
        fmt::format("no consumer named \"{}\" (GET /v1/consumers lists them)", parts[0]), "name");
  }
  if (shape_parked) {
    Result<std::vector<ParkedChange>> parked = consumer->ListParked();
    if (!parked.ok()) return FromStatus(parked.status(), "name");
    std::string body = "[";
    for (size_t i = 0; i < parked->size(); ++i) {
      if (i > 0) body += ",";
      body += ParkedJson((*parked)[i]);
    }
    body += "]";
    return http::Response::Json(200, std::move(body));
  }
  auto result = [&](const Status& s, std::string_view action, std::string_view field) {
    if (s.code() == StatusCode::kNotFound || s.code() == StatusCode::kInvalidArgument) {
      return FromStatus(s, field);
    }
    // A replay whose handler failed again is a normal outcome: the change stays parked.
    return http::Response::Json(
        200, fmt::format(R"({{"consumer":{},"action":"{}","ok":{},"error":{},"parked":{}}})",
                         Quoted(parts[0]), action, s.ok() ? "true" : "false",
                         s.ok() ? "null" : Quoted(s.message()), consumer->Stats().parked));
  };
  if (shape_replay_all) return result(consumer->ReplayAll(), "replay", "name");
  std::optional<uint64_t> id = ParseId(parts[2]);
  if (!id) {
    return http::Response::Error(
        404, "not_found",
        fmt::format("\"{}\" is not a parked change id (GET /v1/consumers/{}/parked lists them)",
                    parts[2], parts[0]),
        "id");
  }
  if (parts[3] == "replay") return result(consumer->Replay(*id), "replay", "id");
  return result(consumer->Discard(*id), "discard", "id");
}

}  // namespace

void RegisterConsumerAdmin(http::Server& server, deliver::ExecConsumers& consumers,
                           std::shared_ptr<const auth::JwtVerifier> verifier) {
  auto guarded = [&consumers, verifier](auto handler) {
    return [&consumers, verifier, handler](const http::Request& request) {
      if (auto denied = CheckAdmin(request, verifier.get())) return *denied;
      return handler(request, consumers);
    };
  };
  auto list =
      guarded([](const http::Request&, deliver::ExecConsumers& c) { return ListConsumers(c); });
  auto one = guarded(HandleConsumer);
  server.Route("GET", "/v1/consumers", list);
  server.Route("GET", std::string(kPrefix), one);
  server.Route("POST", std::string(kPrefix), one);
}

}  // namespace eddy::server
