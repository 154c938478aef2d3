#include "server/service.h"

#include <fmt/format.h>

#include "eddy/clock.h"

#include "change/json_encoder.h"
#include "server/auth_gate.h"
#include "server/consumer_admin.h"

namespace eddy::server {

Result<std::unique_ptr<Service>> Service::Create(const Config& config) {
  std::unique_ptr<Service> s(new Service());
  s->config_ = config;
  std::unique_ptr<watch::Gate> gate;
  if (config.auth.mode != "open") {
    EDDY_ASSIGN_OR_RETURN(gate, MakeAuthGate(config.auth));
  }
  EDDY_ASSIGN_OR_RETURN(s->engine_, Engine::Create(config.watcher));
  s->hub_ = std::make_unique<watch::Hub>(s->engine_->change_log());
  s->webhooks_ = std::make_unique<deliver::Webhooks>(config.webhooks, s->engine_->change_log(),
                                                     config.watcher.data_dir);
  s->consumers_ =
      std::make_unique<deliver::ExecConsumers>(config.consumers, config.watcher.data_dir);
  s->catalog_ = std::make_unique<watch::Catalog>(config.watcher.database_url);
  Service* self = s.get();
  s->face_ =
      std::make_unique<watch::WatchFace>(*s->hub_, *s->catalog_, config.watch, std::move(gate),
                                         [self] { return self->CurrentStatus(); });
  http::ServerOptions options;
  options.address = config.http.address;
  options.port = static_cast<uint16_t>(config.http.port);
  if (config.watermelon.active()) {  // WatermelonDB pushes are bigger than other requests
    options.limits.max_body_bytes = std::max(
        options.limits.max_body_bytes, static_cast<size_t>(config.watermelon.max_push_mb) << 20);
  }
  s->http_ = http::Server::Create(options);
  s->face_->Register(*s->http_);
  if (config.shapes.enabled) {
    EDDY_RETURN_IF_ERROR(s->CreateShapes());
  }
  if (config.watermelon.active()) {
    watermelon::WatermelonFaceOptions wo;
    wo.config = config.watermelon;
    wo.conninfo = config.watcher.database_url;
    if (config.watcher.capture_mode == "logical") wo.publication = config.watcher.publication;
    if (config.auth.mode != "open") {
      EDDY_ASSIGN_OR_RETURN(wo.verifier, MakeJwtVerifier(config.auth));
    }
    s->watermelon_ =
        std::make_unique<watermelon::WatermelonFace>(std::move(wo), s->engine_->change_log());
    s->watermelon_->Register(*s->http_);
  }
  std::shared_ptr<const auth::JwtVerifier> admin_verifier;
  if (config.auth.mode != "open") {
    EDDY_ASSIGN_OR_RETURN(admin_verifier, MakeJwtVerifier(config.auth));
  }
  s->CreateSchemaHash(admin_verifier);
  RegisterConsumerAdmin(*s->http_, *s->consumers_, std::move(admin_verifier));
  return s;
}

Status Service::CreateShapes() {
  const ShapesConfig& sc = config_.shapes;
  shapes::ShapeManagerOptions options;
  options.dir = sc.dir.empty() ? config_.watcher.data_dir + "/shapes" : sc.dir;
  options.conninfo = config_.watcher.database_url;
  if (config_.watcher.capture_mode == "logical") options.publication = config_.watcher.publication;
  options.chunk_bytes = static_cast<uint64_t>(sc.chunk_kb) << 10;
  options.workers = static_cast<int>(sc.workers);
  options.set_replica_identity_full = sc.replica_identity_full;
  options.release_after = std::chrono::seconds(sc.release_after_s);
  options.remove_after = std::chrono::seconds(sc.remove_after_s);
  options.max_shapes = static_cast<size_t>(sc.max_shapes);
  options.max_disk_bytes = static_cast<uint64_t>(sc.max_disk_mb) << 20;
  EDDY_ASSIGN_OR_RETURN(shapes_,
                        shapes::ShapeManager::Create(std::move(options), engine_->change_log()));
  shapes::ShapeFaceOptions face;
  face.long_poll_timeout = std::chrono::milliseconds(sc.long_poll_timeout_ms);
  face.sse_timeout = std::chrono::milliseconds(sc.sse_timeout_ms);
  face.max_age_s = static_cast<int>(sc.max_age_s);
  face.stale_age_s = static_cast<int>(sc.stale_age_s);
  face.secret = sc.secret;
  face.allow_delete = sc.allow_delete;
  shapes::ShapeAuthorizer authorizer;
  if (config_.auth.mode != "open") {
    EDDY_ASSIGN_OR_RETURN(authorizer, MakeShapeAuthorizer(config_.auth));
  }
  Engine* engine = engine_.get();
  shape_face_ =
      std::make_unique<shapes::ShapeFace>(*shapes_, face, std::move(authorizer),
                                          [engine] { return engine->CaptureStatus().streaming; });
  shape_face_->Register(*http_);
  return Status::Ok();
}

void Service::CreateSchemaHash(std::shared_ptr<const auth::JwtVerifier> verifier) {
  if (config_.watcher.database_url.empty()) return;
  http::Server* http = http_.get();
  schema_hash_ = std::make_unique<schema::SchemaHashMonitor>(
      config_.watcher.database_url,
      schema::SchemaHashOptions::ForWatcher(config_.watcher, config_.schema.history_schema),
      std::chrono::milliseconds(config_.schema.hash_check_ms),
      [http](const schema::SchemaDigest& digest) {
        http->SetDefaultHeader("eddy-schema-hash", digest.hash);
      });
  schema::SchemaHashMonitor* monitor = schema_hash_.get();
  // The synced tables' definitions name tables and columns: with auth on, any valid token.
  http_->Route("GET", "/v1/schema", [monitor, verifier](const http::Request& request) {
    if (verifier != nullptr) {
      std::string token = request.Query("token").value_or("");
      if (auto header = request.Header("authorization");
          header && (header->rfind("Bearer ", 0) == 0 || header->rfind("bearer ", 0) == 0)) {
        token = header->substr(7);
      }
      if (token.empty()) {
        return http::Response::Error(
            401, "unauthorized", "a bearer token is required (Authorization: Bearer ...)", "token");
      }
      auto claims = verifier->Verify(token, SystemClock().NowUnixMicros() / 1000000);
      if (!claims.ok()) {
        return http::Response::Error(401, "unauthorized", claims.status().message(), "token");
      }
    }
    std::optional<schema::SchemaDigest> digest = monitor->Current();
    if (!digest) {
      return http::Response::Error(
          503, "unavailable",
          "the schema hash is not known yet: eddy could not read the catalog (see its log)");
    }
    return http::Response::Json(200, digest->Json());
  });
}

Service::~Service() { Stop(); }

Status Service::Start() {
  EDDY_RETURN_IF_ERROR(engine_->Start());
  EDDY_RETURN_IF_ERROR(hub_->Start());
  if (shapes_) EDDY_RETURN_IF_ERROR(shapes_->Start());
  if (watermelon_) EDDY_RETURN_IF_ERROR(watermelon_->Start());
  EDDY_RETURN_IF_ERROR(webhooks_->Start());
  EDDY_RETURN_IF_ERROR(consumers_->Start(*engine_));
  if (schema_hash_) schema_hash_->Start();  // before HTTP: the first response has the header
  return http_->Start().WithContext(fmt::format("http {}:{} (change it with --http or [http])",
                                                config_.http.address, config_.http.port));
}

void Service::Stop() {
  if (stopped_) return;
  stopped_ = true;
  // The WatermelonFace answers from its own workers through the HTTP server's executors: its
  // workers are joined before the server's io_context is destroyed.
  if (watermelon_) watermelon_->Stop();
  if (http_) http_->Stop();
  if (schema_hash_) schema_hash_->Stop();
  if (consumers_) consumers_->Stop();
  if (webhooks_) webhooks_->Stop();
  if (shapes_) shapes_->Stop();
  if (hub_) hub_->Stop();
  if (engine_) engine_->Stop();
}

watch::FaceStatus Service::CurrentStatus() const {
  capture::CaptureState c = engine_->CaptureStatus();
  watch::HubStats h = hub_->Stats();
  watch::FaceStatus out;
  out.streaming = c.streaming;
  const int64_t lag =
      c.received > c.durable ? static_cast<int64_t>(c.received.value() - c.durable.value()) : 0;
  std::string error;
  change::AppendJsonString(c.last_error, &error);
  out.json = fmt::format(
      R"({{"status":"{}","capture":"{}","role":"{}","received":"{}","durable":"{}",)"
      R"("confirmed":"{}","lag_bytes":{},"transactions":{},"changes":{},"subscribers":{},)"
      R"("position":"{}","last_error":{}}})",
      c.streaming ? "ok" : "unavailable", c.streaming ? "streaming" : "not streaming",
      capture::CaptureRoleName(c.role), c.received.ToString(), c.durable.ToString(),
      c.confirmed.ToString(), lag, c.transactions, c.changes, h.subscribers,
      hub_->position().ToString(), error);
  out.metrics = fmt::format(
      "# HELP eddy_changes_captured_total Row changes written to the log.\n"
      "# TYPE eddy_changes_captured_total counter\neddy_changes_captured_total {}\n"
      "# HELP eddy_transactions_captured_total Transactions written to the log.\n"
      "# TYPE eddy_transactions_captured_total counter\neddy_transactions_captured_total {}\n"
      "# HELP eddy_capture_lag_bytes WAL between the server's position and eddy's durable one.\n"
      "# TYPE eddy_capture_lag_bytes gauge\neddy_capture_lag_bytes {}\n"
      "# HELP eddy_capture_streaming 1 when capture streams from the slot.\n"
      "# TYPE eddy_capture_streaming gauge\neddy_capture_streaming {}\n"
      "# HELP eddy_capture_reconnects_total Replication reconnects.\n"
      "# TYPE eddy_capture_reconnects_total counter\neddy_capture_reconnects_total {}\n",
      c.changes, c.transactions, lag, c.streaming ? 1 : 0, c.reconnects);
  out.metrics += engine_->MetricsText();
  out.metrics += webhooks_->MetricsText();
  out.metrics += consumers_->MetricsText();
  if (shapes_) out.metrics += shapes_->MetricsText();
  if (watermelon_) out.metrics += watermelon_->MetricsText();
  return out;
}

}  // namespace eddy::server
