#pragma once

#include <memory>

#include "adapters/shape/shape_face.h"
#include "adapters/shape/shape_manager.h"
#include "adapters/watch/catalog.h"
#include "adapters/watch/hub.h"
#include "adapters/watch/watch_face.h"
#include "adapters/watermelon/watermelon_face.h"
#include "deliver/exec_consumers.h"
#include "deliver/webhooks.h"
#include "http/server.h"
#include "schema/schema_hash_monitor.h"
#include "server/config.h"
#include "server/engine.h"

namespace eddy::auth {
class JwtVerifier;
}

namespace eddy::server {

// `eddy serve`: the capture core plus the network faces. Owns, in order of start: the Engine
// (log + capture), the watch Hub reading the log, the webhooks and [[consumers]] (log
// followers), the catalog, the HTTP server with the watch face on it. Stop() runs in reverse and
// drains HTTP streams first.
class Service {
 public:
  static Result<std::unique_ptr<Service>> Create(const Config& config);
  ~Service();

  Status Start();
  void Stop();
  uint16_t http_port() const { return http_->port(); }
  Engine& engine() { return *engine_; }
  deliver::Webhooks& webhooks() { return *webhooks_; }
  deliver::ExecConsumers& consumers() { return *consumers_; }
  watch::Hub& hub() { return *hub_; }
  shapes::ShapeManager* shapes() { return shapes_.get(); }
  watermelon::WatermelonFace* watermelon() { return watermelon_.get(); }

 private:
  Service() = default;
  watch::FaceStatus CurrentStatus() const;
  Status CreateShapes();  // after http_ exists
  // The schema hash monitor and GET /v1/schema; after http_ exists.
  void CreateSchemaHash(std::shared_ptr<const auth::JwtVerifier> verifier);

  Config config_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<watch::Hub> hub_;
  std::unique_ptr<deliver::Webhooks> webhooks_;        // log followers, started after the hub
  std::unique_ptr<deliver::ExecConsumers> consumers_;  // [[consumers]], after the webhooks
  std::unique_ptr<watch::Catalog> catalog_;
  std::unique_ptr<watch::WatchFace> face_;
  std::unique_ptr<shapes::ShapeManager> shapes_;  // [shapes]: a log follower, like the hub
  std::unique_ptr<shapes::ShapeFace> shape_face_;
  // [watermelon]: a log follower and the sync endpoints; stopped after http_ (its routes).
  std::unique_ptr<watermelon::WatermelonFace> watermelon_;
  std::unique_ptr<http::Server> http_;
  // Keeps the eddy-schema-hash header of every response current (docs/schema.md); null without
  // a database (edge mode without source.database_url).
  std::unique_ptr<schema::SchemaHashMonitor> schema_hash_;
  bool stopped_ = false;
};

}  // namespace eddy::server
