#pragma once

// The Shape API face: Electric's HTTP Shape API (GET|HEAD|POST|DELETE|OPTIONS /v1/shape and
// GET /v1/health) over the ShapeManager, so that @electric-sql/client syncs from eddy unchanged.
// See docs/shapes.md and ../shared/protocols/electric-shape-api.md.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "adapters/shape/shape_manager.h"
#include "http/server.h"

namespace eddy::shapes {

struct ShapeFaceOptions {
  std::chrono::milliseconds long_poll_timeout{20'000};
  std::chrono::milliseconds sse_timeout{60'000};
  int max_age_s = 60;     // Cache-Control of catch-up responses
  int stale_age_s = 300;  // stale-while-revalidate of catch-up responses
  std::string secret;     // when set, every /v1/shape request needs ?secret=<it>
  bool allow_delete = false;
  bool send_cache_headers = true;
};

// Decides who may read which shape: nullopt to allow (possibly forcing a row rule), or the
// refusal. The default allows everything.
struct ShapeGrant {
  bool allowed = true;
  int status = 200;  // 401 or 403 when refused
  std::string message;
  std::optional<std::string> row_column;  // forced `row_column = row_value`
  std::string row_value;
};
using ShapeAuthorizer =
    std::function<ShapeGrant(const http::Request& request, const RelationName& table)>;

class ShapeFace {
 public:
  ShapeFace(ShapeManager& manager, ShapeFaceOptions options, ShapeAuthorizer authorizer,
            std::function<bool()> streaming);
  void Register(http::Server& server);

 private:
  struct Context;
  void HandleShape(const http::Request& request, std::shared_ptr<http::Exchange> exchange);
  void HandleDelete(const http::Request& request, std::shared_ptr<http::Exchange> exchange);
  void Continue(std::shared_ptr<Context> context, std::shared_ptr<const TableInfo> table);
  void Serve(std::shared_ptr<Context> context, std::shared_ptr<Shape> shape);
  void ServeLongPoll(std::shared_ptr<Context> context, std::shared_ptr<Shape> shape);
  void ServeSse(std::shared_ptr<Context> context, std::shared_ptr<Shape> shape);
  void Respond(Context& context, http::Response response, const Shape* shape);
  void MustRefetch(std::shared_ptr<Context> context);
  std::string NextCursor(const std::optional<std::string>& cursor) const;

  ShapeManager& manager_;
  const ShapeFaceOptions options_;
  const ShapeAuthorizer authorizer_;
  const std::function<bool()> streaming_;
};

// Builds a definition from a parsed request and its table, or fills `errors`.
std::optional<ShapeDefinition> BuildDefinition(const ShapeRequest& request,
                                               std::shared_ptr<const TableInfo> table,
                                               const ShapeGrant& grant, FieldErrors* errors);

// Splits "a,b,c" where each item is one JSON object into the objects.
std::vector<std::string_view> SplitJsonItems(std::string_view items);

}  // namespace eddy::shapes
