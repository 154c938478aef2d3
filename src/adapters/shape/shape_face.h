#pragma once

// The Shape API face: Electric's HTTP Shape API (GET|HEAD|POST|DELETE|OPTIONS /v1/shape and
// GET /v1/health) over the ShapeManager, so that @electric-sql/client syncs from eddy unchanged.
// See docs/shapes.md and ../shared/protocols/electric-shape-api.md.

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

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

// The SSE framing ("data: <message>\n\n") of one shape's log ranges, shared by the shape's SSE
// clients: clients that read from the same offset get the same bytes, framed once, instead of a
// copy each (the clients of a live shape all wait at its end). Thread-safe.
class SseFrames {
 public:
  struct Range {
    std::shared_ptr<const std::string> frames;
    shape::Offset end;
    bool at_head = false;
  };
  std::optional<Range> Find(const shape::Offset& from) const;
  void Put(const shape::Offset& from, Range range);
  // The up-to-date frame for `lsn`, made once per lsn by `make`.
  std::shared_ptr<const std::string> UpToDate(uint64_t lsn,
                                              const std::function<std::string(uint64_t)>& make);
  uint64_t shared() const;  // ranges served from the cache

 private:
  static constexpr size_t kKeep = 8;  // recent ranges; live clients all read the newest
  mutable std::mutex mu_;
  std::deque<std::pair<shape::Offset, Range>> recent_;  // newest last
  uint64_t up_to_date_lsn_ = 0;
  std::shared_ptr<const std::string> up_to_date_;
  mutable uint64_t shared_ = 0;
};

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
  // The shared SSE framing of `shape`, made on first use, kept while its SSE clients hold it.
  std::shared_ptr<SseFrames> FramesOf(const Shape* shape);

  ShapeManager& manager_;
  const ShapeFaceOptions options_;
  const ShapeAuthorizer authorizer_;
  const std::function<bool()> streaming_;
  std::mutex frames_mu_;
  std::unordered_map<const Shape*, std::weak_ptr<SseFrames>> frames_;  // guarded by frames_mu_
  size_t frames_live_ = 0;  // guarded by frames_mu_: entries after the last sweep of expired ones
};

// Builds a definition from a parsed request and its table, or fills `errors`.
std::optional<ShapeDefinition> BuildDefinition(const ShapeRequest& request,
                                               std::shared_ptr<const TableInfo> table,
                                               const ShapeGrant& grant, FieldErrors* errors);

// Splits "a,b,c" where each item is one JSON object into the objects.
std::vector<std::string_view> SplitJsonItems(std::string_view items);

}  // namespace eddy::shapes
