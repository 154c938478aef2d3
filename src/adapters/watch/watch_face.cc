#include "adapters/watch/watch_face.h"

#include <algorithm>
#include <map>
#include <mutex>

#include <fmt/format.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include "change/json_encoder.h"

namespace eddy::watch {
namespace {

RequestError BadRequest(std::string field, std::string message) {
  return RequestError{400, "bad_request", std::move(field), std::move(message)};
}

http::Response ErrorResponse(const RequestError& e) {
  return http::Response::Error(e.status, e.code, e.message, e.field);
}

std::vector<std::string> SplitComma(const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (const std::string& v : values) {
    size_t start = 0;
    while (start <= v.size()) {
      size_t comma = v.find(',', start);
      std::string item =
          v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!item.empty()) out.push_back(item);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return out;
}

std::string JsonString(std::string_view s) {
  std::string out;
  change::AppendJsonString(s, &out);
  return out;
}

std::string ErrorJson(const RequestError& e) {
  std::string out = "{\"code\":" + JsonString(e.code);
  if (!e.field.empty()) out += ",\"field\":" + JsonString(e.field);
  out += ",\"message\":" + JsonString(e.message) + "}";
  return out;
}

// Delivers to one SSE response.
class SseSubscriber final : public Subscriber {
 public:
  SseSubscriber(std::shared_ptr<http::EventStream> stream,
                std::unique_ptr<match::SubscriptionFilter> filter,
                std::function<bool(const Change&)> row_filter)
      : stream_(std::move(stream)),
        filter_(std::move(filter)),
        row_filter_(std::move(row_filter)) {}
  match::SubscriptionFilter& filter() override { return *filter_; }
  bool Allowed(const Change& change) override { return !row_filter_ || row_filter_(change); }
  void OnReady(const Position& position) override {
    stream_->Send(std::make_shared<std::string>(
        fmt::format("event: ready\ndata: {{\"position\":\"{}\"}}\n\n", position.ToString())));
  }
  bool OnChange(const RenderedChange& change) override { return stream_->Send(change.sse); }
  bool OnCommit(const RenderedCommit& commit) override { return stream_->Send(commit.sse); }
  void OnError(const Status& status) override {
    stream_->Close(fmt::format("event: error\ndata: {}\n\n",
                               ErrorJson(RequestError{410, "gone", "from", status.message()})));
  }

 private:
  std::shared_ptr<http::EventStream> stream_;
  std::unique_ptr<match::SubscriptionFilter> filter_;
  std::function<bool(const Change&)> row_filter_;
};

// Delivers one subscription of a WebSocket, wrapping the shared change bytes in an envelope
// that names the client's subscription id.
class WsSubscriber final : public Subscriber {
 public:
  WsSubscriber(std::shared_ptr<http::WebSocket> socket, std::string id,
               std::unique_ptr<match::SubscriptionFilter> filter,
               std::function<bool(const Change&)> row_filter)
      : socket_(std::move(socket)),
        id_json_(JsonString(id)),
        filter_(std::move(filter)),
        row_filter_(std::move(row_filter)) {}
  match::SubscriptionFilter& filter() override { return *filter_; }
  bool Allowed(const Change& change) override { return !row_filter_ || row_filter_(change); }
  void OnReady(const Position& position) override {
    Send(fmt::format(R"({{"type":"subscribed","id":{},"position":"{}"}})", id_json_,
                     position.ToString()));
  }
  bool OnChange(const RenderedChange& change) override {
    std::string m;
    m.reserve(change.json->size() + id_json_.size() + 32);
    m.append(R"({"type":"change","id":)").append(id_json_).append(R"(,"change":)");
    m.append(*change.json).append("}");
    return Send(std::move(m));
  }
  bool OnCommit(const RenderedCommit& commit) override {
    return Send(std::string(R"({"type":"commit","id":)") + id_json_ + R"(,"commit":)" +
                *commit.json + "}");
  }
  void OnError(const Status& status) override {
    Send(fmt::format(R"({{"type":"error","id":{},"error":{}}})", id_json_,
                     ErrorJson(RequestError{410, "gone", "from", status.message()})));
  }
  void Cancel() { cancelled_ = true; }

 private:
  bool Send(std::string text) {
    if (cancelled_) return false;
    return socket_->Send(std::make_shared<const std::string>(std::move(text)));
  }
  std::shared_ptr<http::WebSocket> socket_;
  std::string id_json_;
  std::unique_ptr<match::SubscriptionFilter> filter_;
  std::function<bool(const Change&)> row_filter_;
  std::atomic<bool> cancelled_{false};
};

// One WebSocket connection: its subscriptions by client id.
class WsSession : public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(WatchFace* face, Hub& hub, Catalog& catalog, const WatchConfig& config, Gate* gate,
            std::shared_ptr<http::WebSocket> socket, std::string header_token)
      : hub_(hub),
        catalog_(catalog),
        config_(config),
        gate_(gate),
        socket_(std::move(socket)),
        header_token_(std::move(header_token)) {
    (void)face;
  }

  void OnMessage(std::string_view text) {
    simdjson::dom::element doc;
    if (parser_.parse(text.data(), text.size()).get(doc) || !doc.is_object()) {
      SendError("", BadRequest("frame", "not a JSON object"));
      return;
    }
    std::string_view type;
    if (doc["type"].get(type)) {
      SendError("", BadRequest("type", "missing \"type\" (subscribe, unsubscribe or ping)"));
      return;
    }
    std::string id;
    if (std::string_view v; !doc["id"].get(v)) id = std::string(v);
    if (type == "ping") {
      std::string ref = "null";
      if (simdjson::dom::element r; !doc["ref"].get(r)) ref = simdjson::minify(r);
      Send(fmt::format(R"({{"type":"pong","ref":{}}})", ref));
      return;
    }
    if (type == "unsubscribe") {
      std::shared_ptr<WsSubscriber> sub;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = subs_.find(id);
        if (it != subs_.end()) {
          sub = it->second;
          subs_.erase(it);
        }
      }
      if (!sub) {
        SendError(id, BadRequest("id", fmt::format("no subscription \"{}\" on this socket", id)));
        return;
      }
      sub->Cancel();
      hub_.Remove(sub.get());
      Send(fmt::format(R"({{"type":"unsubscribed","id":{}}})", JsonString(id)));
      return;
    }
    if (type != "subscribe") {
      SendError(id, BadRequest("type", fmt::format("unknown type \"{}\"", type)));
      return;
    }
    if (id.empty()) {
      SendError("", BadRequest("id", "a subscribe needs a string \"id\" chosen by the client"));
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (subs_.count(id) != 0) {
        SendError(id, BadRequest("id", fmt::format("subscription \"{}\" already exists", id)));
        return;
      }
    }
    ParamReader params = [&doc](std::string_view name) -> std::vector<std::string> {
      simdjson::dom::element v;
      if (doc[name].get(v)) return {};
      std::vector<std::string> out;
      auto add = [&out](simdjson::dom::element e) {
        std::string_view s;
        if (!e.get(s)) {
          out.emplace_back(s);
        } else if (e.is_number() || e.is_bool()) {
          out.push_back(simdjson::minify(e));
        }
      };
      if (v.is_array()) {
        for (simdjson::dom::element e : v.get_array()) add(e);
      } else {
        add(v);
      }
      return out;
    };
    auto parsed = ParseRequest(params, config_, catalog_);
    if (auto* err = std::get_if<RequestError>(&parsed)) {
      SendError(id, *err);
      return;
    }
    ParsedRequest& req = std::get<ParsedRequest>(parsed);
    std::string token = header_token_;
    if (auto t = params("token"); !t.empty()) token = t[0];
    std::function<bool(const Change&)> row_filter;
    if (gate_ != nullptr) {
      if (auto denied = gate_->Check(token, req.subscription, &row_filter)) {
        SendError(id, *denied);
        return;
      }
    }
    auto filter = match::SubscriptionFilter::Compile(req.subscription);
    if (!filter.ok()) {
      SendError(id, BadRequest("subscription", filter.status().message()));
      return;
    }
    auto sub = std::make_shared<WsSubscriber>(socket_, id, std::move(filter).value(),
                                              std::move(row_filter));
    {
      std::lock_guard<std::mutex> lock(mutex_);
      subs_[id] = sub;
    }
    Status s = hub_.Add(sub, req.after);
    if (!s.ok()) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        subs_.erase(id);
      }
      SendError(id, RequestError{410, "gone", "from", s.message()});
    }
  }

  void OnClose() {
    std::map<std::string, std::shared_ptr<WsSubscriber>> subs;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      subs.swap(subs_);
    }
    for (auto& [id, sub] : subs) {
      sub->Cancel();
      hub_.Remove(sub.get());
    }
  }

 private:
  void Send(std::string text) {
    socket_->Send(std::make_shared<const std::string>(std::move(text)));
  }
  void SendError(const std::string& id, const RequestError& e) {
    Send(fmt::format(R"({{"type":"error","id":{},"error":{}}})",
                     id.empty() ? "null" : JsonString(id), ErrorJson(e)));
  }

  Hub& hub_;
  Catalog& catalog_;
  const WatchConfig& config_;
  Gate* gate_;
  std::shared_ptr<http::WebSocket> socket_;
  std::string header_token_;
  simdjson::dom::parser parser_;  // used on the socket's strand only
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<WsSubscriber>> subs_;  // guarded by mutex_
};

std::string BearerToken(const http::Request& request) {
  auto auth = request.Header("authorization");
  if (auth && auth->size() > 7 &&
      (auth->rfind("Bearer ", 0) == 0 || auth->rfind("bearer ", 0) == 0)) {
    return auth->substr(7);
  }
  return "";
}

}  // namespace

std::variant<ParsedRequest, RequestError> ParseRequest(const ParamReader& params,
                                                       const WatchConfig& config,
                                                       Catalog& catalog) {
  ParsedRequest out;
  Subscription& sub = out.subscription;
  const WatcherDef* watcher = nullptr;
  std::vector<std::string> watcher_names = params("watcher");
  std::vector<std::string> tables = params("table");
  if (!watcher_names.empty()) {
    const std::string& name = watcher_names[0];
    for (const WatcherDef& w : config.watchers) {
      for (const std::string& n : w.Names()) {
        if (n != name) continue;
        watcher = &w;
        if (w.label.empty()) {
          // "<schema>.<table>.<op>": that one operation.
          auto op = ParseOp(name.substr(name.rfind('.') + 1), "watcher");
          sub.ops = {*op};
        } else {
          sub.ops = w.ops;
        }
      }
    }
    if (watcher == nullptr) {
      return BadRequest("watcher", fmt::format("no watcher named \"{}\"", name));
    }
    sub.table = watcher->schema + "." + watcher->table;
    sub.trigger_columns = watcher->trigger_columns;
  } else if (!tables.empty()) {
    if (!config.allow_adhoc) {
      return BadRequest("watcher",
                        "name a configured watcher: ad-hoc subscriptions by table are turned off "
                        "(watch.allow_adhoc)");
    }
    if (tables[0] == "*") {
      sub.table = "*";
    } else {
      auto name = ParseTableName(tables[0], "table");
      if (!name.ok()) return BadRequest("table", name.status().message());
      sub.table = name->first + "." + name->second;
    }
    for (const std::string& op : SplitComma(params("op"))) {
      auto parsed = ParseOp(op, "op");
      if (!parsed.ok()) return BadRequest("op", parsed.status().message());
      sub.ops.push_back(*parsed);
    }
  } else {
    return BadRequest("watcher", "name a watcher (watcher=...) or a table (table=...)");
  }

  std::optional<TableShape> shape;
  if (sub.table != "*") {
    auto name = ParseTableName(sub.table, "table");
    auto described = catalog.Describe(name->first, name->second);
    if (!described.ok()) {
      if (described.status().code() == StatusCode::kNotFound) {
        return BadRequest("table", described.status().message());
      }
      return RequestError{503, "unavailable", "", described.status().message()};
    }
    shape = *described;
  }
  auto has_column = [&](const std::string& c) {
    return !shape ||
           std::find(shape->columns.begin(), shape->columns.end(), c) != shape->columns.end();
  };

  sub.key = params("key");
  if (!sub.key.empty()) {
    if (!shape) return BadRequest("key", "a key filter needs one table");
    if (std::find(sub.ops.begin(), sub.ops.end(), Op::kInsert) != sub.ops.end()) {
      return BadRequest("key",
                        "a primary-key subscription cannot watch inserts: an insert creates a "
                        "key nobody could have subscribed to; watch update and delete");
    }
    if (shape->key_columns.empty()) {
      return BadRequest("key", fmt::format("table {} has no primary key", sub.table));
    }
    if (sub.key.size() != shape->key_columns.size()) {
      return BadRequest("key", fmt::format("table {} has a key of {} column(s) ({}); got {}",
                                           sub.table, shape->key_columns.size(),
                                           fmt::join(shape->key_columns, ", "), sub.key.size()));
    }
  }
  std::vector<std::string> column = params("column");
  if (!column.empty()) {
    if (watcher != nullptr) {
      const auto& extra = watcher->extra_columns;
      if (std::find(extra.begin(), extra.end(), column[0]) == extra.end()) {
        return BadRequest("column", fmt::format("\"{}\" is not one of the watcher's "
                                                "extra_columns ({})",
                                                column[0], fmt::join(extra, ", ")));
      }
    } else if (!shape || !has_column(column[0])) {
      return BadRequest("column",
                        fmt::format("table {} has no column \"{}\"", sub.table, column[0]));
    }
    sub.column = column[0];
    std::vector<std::string> value = params("value");
    if (!value.empty()) sub.column_value = value[0];
  }
  std::vector<std::string> detail = params("detail");
  const std::string d = detail.empty() ? "id" : detail[0];
  if (d == "id") {
    sub.detail = Detail::kIdOnly;
  } else if (d == "full") {
    sub.detail = Detail::kFull;
  } else if (d == "columns") {
    sub.detail = Detail::kColumns;
    sub.columns = watcher != nullptr ? watcher->extra_columns : SplitComma(params("columns"));
    if (sub.columns.empty()) {
      return BadRequest(watcher != nullptr ? "detail" : "columns",
                        watcher != nullptr ? "the watcher has no extra_columns"
                                           : "detail=columns needs columns=a,b");
    }
    for (const std::string& c : sub.columns) {
      if (!has_column(c)) {
        return BadRequest("columns", fmt::format("table {} has no column \"{}\"", sub.table, c));
      }
    }
  } else {
    return BadRequest("detail", fmt::format("\"{}\" is not one of id, columns, full", d));
  }
  std::vector<std::string> from = params("from");
  if (!from.empty() && !from[0].empty()) {
    auto pos = Position::Parse(from[0]);
    if (!pos) {
      return BadRequest("from",
                        fmt::format("\"{}\" is not a position such as 0/16B3748:2", from[0]));
    }
    out.after = *pos;
  }
  return out;
}

WatchFace::WatchFace(Hub& hub, Catalog& catalog, WatchConfig config, std::unique_ptr<Gate> gate,
                     std::function<FaceStatus()> status)
    : hub_(hub),
      catalog_(catalog),
      config_(std::move(config)),
      gate_(std::move(gate)),
      status_(std::move(status)) {}

WatchFace::~WatchFace() = default;

void WatchFace::Register(http::Server& server) {
  server.RouteSse("/v1/watch", [this](const http::Request& r, std::shared_ptr<http::EventStream> s,
                                      std::vector<std::pair<std::string, std::string>>* h) {
    return HandleSse(r, std::move(s), h);
  });
  server.RouteWebSocket("/v1/ws",
                        [this](const http::Request& r, std::shared_ptr<http::WebSocket> s) {
                          return HandleWebSocket(r, std::move(s));
                        });
  server.Route("GET", "/health", [this](const http::Request& r) { return HandleHealth(r); });
  server.Route("GET", "/metrics",
               [this, &server](const http::Request& r) { return HandleMetrics(r, server); });
  // "/" is registered as a subtree by the router: anything but the page itself is a 404.
  server.Route("GET", "/", [](const http::Request& r) {
    if (r.path != "/" && r.path != "/index.html") {
      return http::Response::Error(404, "not_found", "no such path: " + r.path);
    }
    return http::Response::Text(200, kWatchPage, "text/html; charset=utf-8");
  });
}

http::Accept WatchFace::HandleSse(const http::Request& request,
                                  std::shared_ptr<http::EventStream> stream,
                                  std::vector<std::pair<std::string, std::string>>* headers) {
  ParamReader params = [&request](std::string_view name) { return request.QueryAll(name); };
  auto parsed = ParseRequest(params, config_, catalog_);
  if (auto* err = std::get_if<RequestError>(&parsed)) return ErrorResponse(*err);
  ParsedRequest& req = std::get<ParsedRequest>(parsed);
  if (!req.after) {
    if (auto last = request.Header("last-event-id"); last && !last->empty()) {
      auto pos = Position::Parse(*last);
      if (!pos) {
        return ErrorResponse(
            BadRequest("Last-Event-ID", fmt::format("\"{}\" is not a position", *last)));
      }
      req.after = *pos;
    }
  }
  std::function<bool(const Change&)> row_filter;
  if (gate_) {
    std::string token = BearerToken(request);
    if (auto t = request.Query("token")) token = *t;
    if (auto denied = gate_->Check(token, req.subscription, &row_filter)) {
      return ErrorResponse(*denied);
    }
  }
  auto filter = match::SubscriptionFilter::Compile(req.subscription);
  if (!filter.ok()) return ErrorResponse(BadRequest("subscription", filter.status().message()));
  headers->emplace_back("Access-Control-Allow-Origin", "*");
  auto sub = std::make_shared<SseSubscriber>(stream, std::move(filter).value(), row_filter);
  Hub* hub = &hub_;
  std::weak_ptr<SseSubscriber> weak = sub;
  stream->OnClose([hub, weak](std::string_view reason) {
    if (auto s = weak.lock()) {
      hub->Remove(s.get());
      if (reason == "send queue overflow")
        spdlog::info("watch: SSE subscriber dropped: {}", reason);
    }
  });
  Status s = hub_.Add(sub, req.after);
  if (!s.ok()) return ErrorResponse(RequestError{410, "gone", "from", s.message()});
  return std::nullopt;
}

http::Accept WatchFace::HandleWebSocket(const http::Request& request,
                                        std::shared_ptr<http::WebSocket> socket) {
  std::string token = BearerToken(request);
  if (auto t = request.Query("token")) token = *t;
  auto session =
      std::make_shared<WsSession>(this, hub_, catalog_, config_, gate_.get(), socket, token);
  socket->OnMessage([session](std::string_view text) { session->OnMessage(text); });
  socket->OnClose([session](std::string_view) { session->OnClose(); });
  return std::nullopt;
}

http::Response WatchFace::HandleHealth(const http::Request&) {
  FaceStatus s = status_();
  return http::Response::Json(s.streaming ? 200 : 503, s.json);
}

http::Response WatchFace::HandleMetrics(const http::Request&, http::Server& server) {
  FaceStatus s = status_();
  http::ServerStats st = server.Stats();
  HubStats hub = hub_.Stats();
  std::string out = s.metrics;
  auto metric = [&out](const char* name, const char* type, const char* help, double v) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, v);
  };
  metric("eddy_subscribers", "gauge", "Live watch subscriptions.",
         static_cast<double>(hub.subscribers));
  metric("eddy_watch_deliveries_total", "counter", "Changes queued to subscribers.",
         static_cast<double>(hub.deliveries));
  metric("eddy_watch_renders_total", "counter", "JSON renderings (once per change and projection).",
         static_cast<double>(hub.renders));
  metric("eddy_queue_overflows_total", "counter", "Subscribers dropped for a full send queue.",
         static_cast<double>(st.queue_overflows));
  metric("eddy_http_bytes_sent_total", "counter", "Bytes written to clients.",
         static_cast<double>(st.bytes_sent));
  metric("eddy_http_connections", "gauge", "Open HTTP connections.",
         static_cast<double>(st.connections_open));
  metric("eddy_sse_streams", "gauge", "Open SSE streams.", static_cast<double>(st.streams_open));
  metric("eddy_websockets", "gauge", "Open WebSockets.", static_cast<double>(st.websockets_open));
  out +=
      "# HELP eddy_http_requests_total Requests by route.\n# TYPE eddy_http_requests_total "
      "counter\n";
  for (const auto& r : st.routes) {
    out += fmt::format("eddy_http_requests_total{{route=\"{}\"}} {}\n", r.route, r.requests);
  }
  out +=
      "# HELP eddy_http_request_duration_seconds Latency of plain requests.\n"
      "# TYPE eddy_http_request_duration_seconds histogram\n";
  for (const auto& r : st.routes) {
    uint64_t cumulative = 0;
    for (size_t i = 0; i < r.latency_buckets.size() && i < std::size(http::kLatencyBucketsMs);
         ++i) {
      cumulative += r.latency_buckets[i];
      out += fmt::format("eddy_http_request_duration_seconds_bucket{{route=\"{}\",le=\"{}\"}} {}\n",
                         r.route, http::kLatencyBucketsMs[i] / 1000.0, cumulative);
    }
    out += fmt::format("eddy_http_request_duration_seconds_bucket{{route=\"{}\",le=\"+Inf\"}} {}\n",
                       r.route, r.requests);
    out += fmt::format("eddy_http_request_duration_seconds_sum{{route=\"{}\"}} {}\n", r.route,
                       r.seconds_total);
    out += fmt::format("eddy_http_request_duration_seconds_count{{route=\"{}\"}} {}\n", r.route,
                       r.requests);
  }
  return http::Response::Text(200, out, "text/plain; version=0.0.4");
}

}  // namespace eddy::watch
