#pragma once

#include <functional>
#include <memory>
#include <string>

#include "adapters/watch/catalog.h"
#include "adapters/watch/hub.h"
#include "adapters/watch/watch_config.h"
#include "http/server.h"

namespace eddy::watch {

// A failed subscription request: the HTTP status, a code, the parameter at fault and why.
struct RequestError {
  int status = 400;
  std::string code = "bad_request";
  std::string field;
  std::string message;
};

// A subscription request, parsed and checked against the configuration and the catalog.
struct ParsedRequest {
  Subscription subscription;
  std::optional<Position> after;
};

// Reads a parameter's values by name: the query string for SSE, a JSON object for WebSocket.
using ParamReader = std::function<std::vector<std::string>(std::string_view name)>;

// Parses and checks one subscription (docs/watch-http.md). Pure but for the catalog lookup.
std::variant<ParsedRequest, RequestError> ParseRequest(const ParamReader& params,
                                                       const WatchConfig& config, Catalog& catalog);

// Decides whether a request may subscribe, and filters what it may see per change. The default
// (open mode) allows everything. Set by the server from [auth].
class Gate {
 public:
  virtual ~Gate() = default;
  // The token from the Authorization header or the `token` parameter (empty when absent).
  // Returns nullopt to allow, with `row_filter` set when a row rule applies.
  virtual std::optional<RequestError> Check(const std::string& token,
                                            const Subscription& subscription,
                                            std::function<bool(const Change&)>* row_filter) = 0;
};

// What the operational endpoints report.
struct FaceStatus {
  bool streaming = false;
  std::string json;     // the body of /health
  std::string metrics;  // Prometheus text of the capture (added to the server's own)
};

// The watch face: registers /v1/watch (SSE), /v1/ws (WebSocket), /health, /metrics and / on an
// http::Server and connects subscriptions to the Hub.
class WatchFace {
 public:
  WatchFace(Hub& hub, Catalog& catalog, WatchConfig config, std::unique_ptr<Gate> gate,
            std::function<FaceStatus()> status);
  ~WatchFace();
  void Register(http::Server& server);

 private:
  http::Accept HandleSse(const http::Request& request, std::shared_ptr<http::EventStream> stream,
                         std::vector<std::pair<std::string, std::string>>* headers);
  http::Accept HandleWebSocket(const http::Request& request,
                               std::shared_ptr<http::WebSocket> socket);
  http::Response HandleHealth(const http::Request& request);
  http::Response HandleMetrics(const http::Request& request, http::Server& server);

  Hub& hub_;
  Catalog& catalog_;
  WatchConfig config_;
  std::unique_ptr<Gate> gate_;
  std::function<FaceStatus()> status_;
};

// The page served at "/" (src/adapters/watch/page/index.html, embedded at build time).
extern const char* const kWatchPage;

}  // namespace eddy::watch
