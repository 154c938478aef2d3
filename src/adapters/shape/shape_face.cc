#include "adapters/shape/shape_face.h"

#include <atomic>
#include <random>
#include <set>

#include <spdlog/spdlog.h>

#include "common/json_string.h"
#include "http/message.h"

namespace eddy::shapes {
namespace {

using shape::Offset;

constexpr std::string_view kExposeHeaders =
    "electric-cursor,electric-handle,electric-has-data,electric-offset,electric-schema,"
    "electric-up-to-date,electric-internal-known-error,retry-after,"
    "eddy-schema-hash";  // the server's default header (docs/schema.md)
constexpr std::string_view kMustRefetchBody = "[{\"headers\":{\"control\":\"must-refetch\"}}]";
// Electric's cursor epoch: 2024-10-09T00:00:00Z.
constexpr int64_t kCursorEpochSeconds = 1728432000;

std::string UpToDate(uint64_t lsn) {
  return "{\"headers\":{\"control\":\"up-to-date\",\"global_last_seen_lsn\":\"" +
         std::to_string(lsn) + "\"}}";
}

http::Response JsonResponse(int status, std::string body) {
  http::Response response;
  response.status = status;
  response.body = std::move(body);
  response.content_type = "application/json; charset=utf-8";
  return response;
}

http::Response MessageResponse(int status, std::string_view message) {
  std::string body = "{\"message\":";
  AppendJsonString(message, &body);
  body.push_back('}');
  return JsonResponse(status, std::move(body));
}

// PostgreSQL could not be reached (Electric's body and retry-after).
http::Response DatabaseUnreachable() {
  http::Response response = JsonResponse(
      503, "{\"code\":\"database_unreachable\",\"error\":\"Database is unreachable\"}");
  response.headers.emplace_back("retry-after", "10");
  return response;
}

int64_t MonotonicMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::vector<std::string_view> SplitJsonItems(std::string_view items) {
  std::vector<std::string_view> out;
  int depth = 0;
  bool in_string = false;
  size_t start = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    const char c = items[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      --depth;
    } else if (c == ',' && depth == 0) {
      out.push_back(items.substr(start, i - start));
      start = i + 1;
    }
  }
  if (start < items.size()) out.push_back(items.substr(start));
  return out;
}

std::optional<ShapeDefinition> BuildDefinition(const ShapeRequest& request,
                                               std::shared_ptr<const TableInfo> table,
                                               const ShapeGrant& grant, FieldErrors* errors) {
  ShapeDefinition def;
  def.table = table;
  def.replica_full = request.replica_full;
  def.changes_only = request.changes_only;
  if (request.columns) {
    def.explicit_columns = true;
    std::vector<std::string> missing;
    std::set<int> selected;
    for (const std::string& name : *request.columns) {
      const int index = table->ColumnIndex(name);
      if (index < 0) {
        missing.push_back(name);
      } else {
        selected.insert(index);
      }
    }
    if (!missing.empty()) {
      std::string list;
      for (const auto& m : missing) list.append((list.empty() ? "" : ", ") + m);
      errors->Add("columns", "The following columns are not found on the table: " + list);
      return std::nullopt;
    }
    std::string missing_key;
    for (int k : table->primary_key) {
      if (!selected.contains(k)) {
        missing_key.append((missing_key.empty() ? "" : ", ") + table->columns[k].name);
      }
    }
    if (!missing_key.empty()) {
      errors->Add("columns", "The list of columns must include all primary key columns, missing: " +
                                 missing_key);
      return std::nullopt;
    }
    def.selected.assign(selected.begin(), selected.end());
  } else {
    for (size_t i = 0; i < table->columns.size(); ++i) def.selected.push_back(static_cast<int>(i));
  }
  const auto columns = table->WhereColumns();
  if (request.where && !request.where->empty()) {
    auto filter = where::Compile(*request.where, request.params, columns);
    if (!filter.ok()) {
      errors->Add("where", filter.status().message());
      return std::nullopt;
    }
    def.where = request.where;
    def.params = request.params;
    def.filter = *filter;
  }
  if (grant.row_column) {
    if (table->ColumnIndex(*grant.row_column) < 0) {
      errors->Add("table",
                  "the row rule's column " + *grant.row_column + " is not a column of the table");
      return std::nullopt;
    }
    auto rule = where::Compile(pg::Connection::QuoteIdent(*grant.row_column) + " = $1",
                               {{"1", grant.row_value}}, columns);
    if (!rule.ok()) {
      errors->Add("table", "the row rule cannot be applied: " + rule.status().message());
      return std::nullopt;
    }
    def.row_rule_column = grant.row_column;
    def.row_rule_value = grant.row_value;
    def.row_rule = *rule;
  }
  return def;
}

// Whether `req` (with `grant`) names exactly the shape `def` was built from.
static bool SameParameters(const ShapeRequest& req, const ShapeGrant& grant,
                           const ShapeDefinition& def) {
  if (!req.table || req.table->schema != def.table->name.schema ||
      req.table->name != def.table->name.name) {
    return false;
  }
  const bool has_where = req.where && !req.where->empty();
  if (has_where != def.where.has_value() || (has_where && *req.where != *def.where)) return false;
  if (has_where && req.params != def.params) return false;
  if (req.replica_full != def.replica_full || req.changes_only != def.changes_only) return false;
  if (grant.row_column != def.row_rule_column ||
      (grant.row_column && grant.row_value != def.row_rule_value)) {
    return false;
  }
  if (req.columns.has_value() != def.explicit_columns) return false;
  if (req.columns) {
    std::set<std::string> asked(req.columns->begin(), req.columns->end());
    if (asked.size() != def.selected.size()) return false;
    for (int index : def.selected) {
      if (!asked.contains(def.table->columns[index].name)) return false;
    }
  }
  return true;
}

// One request in flight.
struct ShapeFace::Context {
  http::Request request;
  std::shared_ptr<http::Exchange> exchange;
  ShapeRequest shape_request;
  std::optional<ShapeDefinition> definition;
  std::atomic<bool> answered{false};
};

ShapeFace::ShapeFace(ShapeManager& manager, ShapeFaceOptions options, ShapeAuthorizer authorizer,
                     std::function<bool()> streaming)
    : manager_(manager),
      options_(std::move(options)),
      authorizer_(std::move(authorizer)),
      streaming_(std::move(streaming)) {}

void ShapeFace::Register(http::Server& server) {
  auto shape = [this](const http::Request& request, std::shared_ptr<http::Exchange> exchange) {
    HandleShape(request, std::move(exchange));
  };
  server.RouteAsync("GET", "/v1/shape", shape);
  server.RouteAsync("POST", "/v1/shape", shape);
  server.RouteAsync("DELETE", "/v1/shape",
                    [this](const http::Request& request, std::shared_ptr<http::Exchange> exchange) {
                      HandleDelete(request, std::move(exchange));
                    });
  server.Route("OPTIONS", "/v1/shape", [](const http::Request& request) {
    http::Response response;
    response.status = 204;
    response.content_type.clear();
    response.headers.emplace_back("access-control-allow-origin",
                                  request.Header("origin").value_or("*"));
    response.headers.emplace_back("access-control-allow-methods",
                                  "GET, POST, HEAD, DELETE, OPTIONS");
    response.headers.emplace_back("access-control-max-age", "86400");
    std::string allowed;
    if (auto requested = request.Header("access-control-request-headers")) {
      for (std::string_view part : SplitJsonItems(*requested)) {
        std::string name = http::ToLower(std::string(part));
        name.erase(0, name.find_first_not_of(' '));
        name.erase(name.find_last_not_of(' ') + 1);
        if (name == "if-none-match" || name == "traceparent") {
          allowed.append((allowed.empty() ? "" : ", ") + name);
        }
      }
    }
    if (!allowed.empty()) response.headers.emplace_back("access-control-allow-headers", allowed);
    response.headers.emplace_back("access-control-expose-headers", std::string(kExposeHeaders));
    return response;
  });
  server.Route("GET", "/v1/health", [this](const http::Request&) {
    const bool active = streaming_ ? streaming_() : true;
    http::Response response = JsonResponse(
        active ? 200 : 202, active ? "{\"status\":\"active\"}" : "{\"status\":\"starting\"}");
    response.headers.emplace_back("cache-control", "no-cache, no-store, must-revalidate");
    response.headers.emplace_back("access-control-allow-origin", "*");
    return response;
  });
}

std::string ShapeFace::NextCursor(const std::optional<std::string>& cursor) const {
  const int64_t seconds = options_.long_poll_timeout.count() / 1000;
  if (seconds < 1) return "0";
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const int64_t t = now - kCursorEpochSeconds;
  const int64_t next = (t + seconds - 1) / seconds * seconds;
  int64_t given = 0;
  if (cursor) {
    try {
      given = std::stoll(*cursor);
    } catch (...) {
      given = 0;
    }
  }
  if (next > given) return std::to_string(next);
  static thread_local std::mt19937 random{std::random_device{}()};
  return std::to_string(given + std::uniform_int_distribution<int64_t>(1, 3600)(random));
}

void ShapeFace::Respond(Context& context, http::Response response, const Shape* shape) {
  if (context.answered.exchange(true)) return;
  const http::Request& request = context.request;
  const ShapeRequest& req = context.shape_request;
  auto& h = response.headers;
  h.emplace_back("electric-server", "eddy");
  h.emplace_back("access-control-allow-origin", request.Header("origin").value_or("*"));
  h.emplace_back("access-control-expose-headers", std::string(kExposeHeaders));
  h.emplace_back("access-control-allow-methods", "GET, POST, HEAD, DELETE, OPTIONS");
  const int status = response.status;
  const bool subset = req.subset.has_value();
  // Cache-Control, first matching rule (the protocol notes, 2.3).
  std::string cache;
  if (request.method != "GET" && request.method != "HEAD") {
    cache = "no-cache";
  } else if (subset) {
    cache = "no-cache";
  } else if (status == 409) {
    cache = shape != nullptr ? "public, max-age=60, must-revalidate"
                             : "public, max-age=1, must-revalidate";
  } else if (status >= 400) {
    cache = "no-store";
    h.emplace_back("surrogate-control", "no-store");
  } else if (req.offset.kind == Offset::Kind::kBeforeAll) {
    cache = "public, max-age=604800, s-maxage=3600, stale-while-revalidate=2629746";
  } else if (req.live && req.live_sse) {
    cache = "public, max-age=" + std::to_string(options_.sse_timeout.count() / 1000 - 1);
  } else if (req.live) {
    cache = "public, max-age=5, stale-while-revalidate=5";
  } else {
    cache = "public, max-age=" + std::to_string(options_.max_age_s) +
            ", stale-while-revalidate=" + std::to_string(options_.stale_age_s);
  }
  if (options_.send_cache_headers) h.emplace_back("cache-control", cache);
  // ETag / 304 for shape responses.
  if (status == 200 && !subset) {
    std::string etag;
    for (auto& [name, value] : h) {
      if (name == "etag") etag = value;
    }
    if (!etag.empty()) {
      if (auto match = request.Header("if-none-match")) {
        const std::string bare = etag.substr(1, etag.size() - 2);
        for (std::string_view part : SplitJsonItems(*match)) {
          std::string candidate(part);
          candidate.erase(0, candidate.find_first_not_of(' '));
          candidate.erase(candidate.find_last_not_of(' ') + 1);
          if (candidate.size() >= 2 && candidate.front() == '"') {
            candidate = candidate.substr(1, candidate.size() - 2);
          }
          if (candidate == bare) {
            response.status = 304;
            response.body.clear();
            break;
          }
        }
      }
    }
  }
  context.exchange->Respond(std::move(response));
}

void ShapeFace::HandleShape(const http::Request& request,
                            std::shared_ptr<http::Exchange> exchange) {
  auto context = std::make_shared<Context>();
  context->request = request;
  context->exchange = exchange;
  ParsedShapeRequest parsed = ParseShapeRequest(request, false);
  context->shape_request = parsed.request;
  if (parsed.body_error) return Respond(*context, std::move(*parsed.body_error), nullptr);
  if (!options_.secret.empty() && parsed.request.secret != options_.secret) {
    return Respond(*context, MessageResponse(401, "Unauthorized - Invalid API secret"), nullptr);
  }
  if (!parsed.errors.empty()) {
    return Respond(*context, JsonResponse(400, parsed.errors.ToJson()), nullptr);
  }
  manager_.LookupTable(*parsed.request.table,
                       [this, context](Result<std::shared_ptr<const TableInfo>> table) {
                         if (!table.ok()) {
                           if (table.status().code() == StatusCode::kNotFound ||
                               table.status().code() == StatusCode::kFailedPrecondition) {
                             FieldErrors errors;
                             errors.Add("table", table.status().message());
                             return Respond(*context, JsonResponse(400, errors.ToJson()), nullptr);
                           }
                           return Respond(*context, DatabaseUnreachable(), nullptr);
                         }
                         Continue(context, *table);
                       });
}

void ShapeFace::Continue(std::shared_ptr<Context> context, std::shared_ptr<const TableInfo> table) {
  const ShapeRequest& req = context->shape_request;
  ShapeGrant grant;
  if (authorizer_) {
    grant = authorizer_(context->request, table->name);
    if (!grant.allowed) {
      return Respond(*context, MessageResponse(grant.status, grant.message), nullptr);
    }
  }
  // A request for a shape it already has (every catch-up and live request) reuses that shape's
  // compiled definition when the parameters are the ones it was made from: no WHERE compile.
  std::shared_ptr<Shape> known;
  if (req.handle) known = manager_.Find(*req.handle);
  if (known && SameParameters(req, grant, known->definition()) &&
      known->definition().table == table) {
    context->definition = known->definition();
  } else {
    FieldErrors errors;
    context->definition = BuildDefinition(req, table, grant, &errors);
    if (!context->definition) {
      return Respond(*context, JsonResponse(400, errors.ToJson()), nullptr);
    }
  }
  const ShapeDefinition& def = *context->definition;

  if (req.offset.kind == Offset::Kind::kBeforeAll || req.offset.kind == Offset::Kind::kNow) {
    manager_.GetOrCreate(def, [this, context](Result<std::shared_ptr<Shape>> shape) {
      if (!shape.ok()) {
        http::Response response = MessageResponse(503, "Failed to create shape, please retry");
        response.headers.emplace_back("retry-after", "1");
        return Respond(*context, std::move(response), nullptr);
      }
      Serve(context, *shape);
    });
    return;
  }
  std::shared_ptr<Shape> shape = manager_.Find(*req.handle);
  if (!shape || shape->identity() != def.Identity() || shape->state() == Shape::State::kGone) {
    return MustRefetch(context);
  }
  if (shape->state() == Shape::State::kSnapshotting) {
    manager_.GetOrCreate(def, [this, context](Result<std::shared_ptr<Shape>> ready) {
      if (!ready.ok()) return MustRefetch(context);
      Serve(context, *ready);
    });
    return;
  }
  Serve(context, shape);
}

void ShapeFace::MustRefetch(std::shared_ptr<Context> context) {
  std::shared_ptr<Shape> current;
  if (context->definition) current = manager_.GetOrCreate(*context->definition, nullptr);
  http::Response response = JsonResponse(409, std::string(kMustRefetchBody));
  if (current) response.headers.emplace_back("electric-handle", current->handle());
  Respond(*context, std::move(response), current.get());
}

void ShapeFace::Serve(std::shared_ptr<Context> context, std::shared_ptr<Shape> shape) {
  const ShapeRequest& req = context->shape_request;
  const bool live = req.live;
  if (req.subset) {
    // The client moves its stream to this offset. Every change after it must be in the snapshot
    // (the client drops those) or still to come, so it is taken before the query runs: the
    // request's own offset, or the shape's end for -1 / now. An offset read after the query
    // would skip changes committed after the snapshot.
    const Offset resume = req.offset.kind == Offset::Kind::kAt ? req.offset : shape->last_offset();
    manager_.RunSubset(
        shape, *req.subset,
        [this, context, shape, resume](Result<std::string> body, FieldErrors errors) {
          if (!body.ok()) {
            if (!errors.empty()) {
              return Respond(*context, JsonResponse(400, errors.ToJson()), nullptr);
            }
            return Respond(*context, DatabaseUnreachable(), nullptr);
          }
          http::Response response = JsonResponse(200, std::move(*body));
          response.headers.emplace_back("electric-handle", shape->handle());
          response.headers.emplace_back("electric-offset", resume.ToString());
          response.headers.emplace_back("electric-schema", shape->schema_json());
          response.headers.emplace_back("electric-snapshot", "true");
          Respond(*context, std::move(response), shape.get());
        });
    return;
  }

  auto answer = [&](std::string body, Offset end, bool up_to_date, bool has_data) {
    http::Response response = JsonResponse(200, std::move(body));
    auto& h = response.headers;
    h.emplace_back("electric-handle", shape->handle());
    h.emplace_back("electric-offset", end.ToString());
    if (!live) h.emplace_back("electric-schema", shape->schema_json());
    if (live) h.emplace_back("electric-cursor", NextCursor(req.cursor));
    if (up_to_date) h.emplace_back("electric-up-to-date", "");
    h.emplace_back("electric-has-data", has_data ? "true" : "false");
    std::string etag = "\"" + shape->handle() + ":" + req.offset.ToString() + ":" + end.ToString();
    if (!has_data) etag.append(":" + std::to_string(MonotonicMicros()));
    etag.push_back('"');
    h.emplace_back("etag", etag);
    Respond(*context, std::move(response), shape.get());
  };

  if (req.offset.kind == Offset::Kind::kNow) {
    return answer("[" + UpToDate(manager_.last_seen_lsn()) + "]", shape->last_offset(), true,
                  false);
  }
  const Offset last = shape->last_offset();
  // Past the shape's end but not past what eddy has seen: an SSE client resumes at
  // "<global_last_seen_lsn>_0", which may lie beyond the shape's last message. That is "nothing
  // new", not an error.
  if (req.offset.kind == Offset::Kind::kAt && req.offset > last && !live &&
      req.offset.tx > manager_.last_seen_lsn()) {
    FieldErrors errors;
    errors.Add("offset", "out of bounds for this shape");
    return Respond(*context, JsonResponse(400, errors.ToJson()), nullptr);
  }
  auto read = shape->Read(req.offset);
  if (!read.ok()) {
    return Respond(*context,
                   MessageResponse(500, "Unable to retrieve shape log: " + read.status().message()),
                   nullptr);
  }
  if (read->count > 0) {
    const bool initial = req.offset.kind == Offset::Kind::kBeforeAll;
    const bool up_to_date = read->at_head && !initial;
    std::string body = "[" + read->items;
    if (up_to_date) {
      body.push_back(',');
      body.append(UpToDate(std::max(manager_.last_seen_lsn(), read->end.tx)));
    }
    body.push_back(']');
    if (live && req.live_sse) return ServeSse(context, shape);
    return answer(std::move(body), read->end, up_to_date, true);
  }
  if (!live) {
    return answer("[" + UpToDate(manager_.last_seen_lsn()) + "]", req.offset, true, false);
  }
  if (req.live_sse) return ServeSse(context, shape);
  ServeLongPoll(context, shape);
}

void ShapeFace::ServeLongPoll(std::shared_ptr<Context> context, std::shared_ptr<Shape> shape) {
  struct Poll {
    std::atomic<bool> done{false};
    std::atomic<uint64_t> timer{0};
  };
  auto poll = std::make_shared<Poll>();
  const Offset after = context->shape_request.offset;
  auto on_data = [this, context, shape, poll] {
    if (poll->done.exchange(true)) return;
    if (uint64_t timer = poll->timer.load()) manager_.Cancel(timer);
    if (shape->state() == Shape::State::kGone) return MustRefetch(context);
    Serve(context, shape);
  };
  if (!shape->WaitAfter(after, on_data)) return on_data();
  poll->timer.store(manager_.After(options_.long_poll_timeout, [this, context, shape, poll] {
    if (poll->done.exchange(true)) return;
    const ShapeRequest& req = context->shape_request;
    http::Response response = JsonResponse(200, "[" + UpToDate(manager_.last_seen_lsn()) + "]");
    auto& h = response.headers;
    h.emplace_back("electric-handle", shape->handle());
    h.emplace_back("electric-offset", req.offset.ToString());
    h.emplace_back("electric-cursor", NextCursor(req.cursor));
    h.emplace_back("electric-up-to-date", "");
    h.emplace_back("electric-has-data", "false");
    h.emplace_back("etag", "\"" + shape->handle() + ":" + req.offset.ToString() + ":" +
                               req.offset.ToString() + ":" + std::to_string(MonotonicMicros()) +
                               "\"");
    Respond(*context, std::move(response), shape.get());
  }));
  // The waiter may have fired before the timer was stored: it could not cancel it then.
  if (poll->done.load()) manager_.Cancel(poll->timer.load());
}

void ShapeFace::ServeSse(std::shared_ptr<Context> context, std::shared_ptr<Shape> shape) {
  if (context->answered.exchange(true)) return;
  const ShapeRequest& req = context->shape_request;
  std::vector<std::pair<std::string, std::string>> headers = {
      {"electric-server", "eddy"},
      {"electric-handle", shape->handle()},
      {"electric-offset", req.offset.ToString()},
      {"electric-cursor", NextCursor(req.cursor)},
      {"access-control-allow-origin", context->request.Header("origin").value_or("*")},
      {"access-control-expose-headers", std::string(kExposeHeaders)},
      {"cache-control",
       "public, max-age=" + std::to_string(options_.sse_timeout.count() / 1000 - 1)},
      {"etag", "\"" + shape->handle() + ":" + req.offset.ToString() + ":sse\""},
  };
  std::shared_ptr<http::EventStream> stream = context->exchange->StartStream(std::move(headers));
  struct Pump {
    std::mutex mu;
    Offset sent;
    uint64_t listener = 0;
    uint64_t timer = 0;
  };
  auto pump = std::make_shared<Pump>();
  pump->sent = req.offset;
  ShapeManager* manager = &manager_;
  std::shared_ptr<SseFrames> shared = FramesOf(shape.get());
  auto drain = [manager, shape, stream, pump, shared] {
    std::lock_guard lock(pump->mu);
    if (stream->closed()) return;
    if (shape->state() == Shape::State::kGone) {
      stream->Close();
      return;
    }
    bool any = false;
    for (;;) {
      // Another client at this offset may have framed the range already: same bytes for both.
      std::optional<SseFrames::Range> range = shared->Find(pump->sent);
      if (!range) {
        auto read = shape->Read(pump->sent);
        if (!read.ok() || read->count == 0) break;
        std::string frames;
        for (std::string_view item : SplitJsonItems(read->items)) {
          frames.append("data: ");
          frames.append(item);
          frames.append("\n\n");
        }
        range = SseFrames::Range{std::make_shared<const std::string>(std::move(frames)), read->end,
                                 read->at_head};
        shared->Put(pump->sent, *range);
      }
      pump->sent = range->end;
      any = true;
      if (!stream->Send(range->frames)) return;
      // A range framed at the head may not be at the head now (this client may have started
      // after the append that extended it): ask the shape, not the cache.
      if (range->at_head && !(shape->last_offset() > range->end)) break;
    }
    if (any) {
      const uint64_t lsn = std::max(manager->last_seen_lsn(), pump->sent.tx);
      stream->Send(
          shared->UpToDate(lsn, [](uint64_t n) { return "data: " + UpToDate(n) + "\n\n"; }));
    }
  };
  pump->listener = shape->Listen(drain);
  pump->timer = manager_.After(options_.sse_timeout, [stream] { stream->Close(); });
  stream->OnClose([manager, shape, pump](std::string_view) {
    shape->Unlisten(pump->listener);
    manager->Cancel(pump->timer);
  });
  drain();
}

std::shared_ptr<SseFrames> ShapeFace::FramesOf(const Shape* shape) {
  std::lock_guard lock(frames_mu_);
  auto it = frames_.find(shape);
  if (it != frames_.end()) {
    if (auto frames = it->second.lock()) return frames;
  }
  if (frames_.size() >= 1024 && frames_.size() >= 2 * frames_live_) {
    std::erase_if(frames_, [](const auto& entry) { return entry.second.expired(); });
    frames_live_ = frames_.size();
  }
  auto frames = std::make_shared<SseFrames>();
  frames_[shape] = frames;
  ++frames_live_;
  return frames;
}

std::optional<SseFrames::Range> SseFrames::Find(const shape::Offset& from) const {
  std::lock_guard lock(mu_);
  for (auto it = recent_.rbegin(); it != recent_.rend(); ++it) {
    if (it->first == from) {
      ++shared_;
      return it->second;
    }
  }
  return std::nullopt;
}

void SseFrames::Put(const shape::Offset& from, Range range) {
  std::lock_guard lock(mu_);
  for (const auto& [offset, kept] : recent_) {
    if (offset == from) return;  // framed by another client meanwhile
  }
  recent_.emplace_back(from, std::move(range));
  if (recent_.size() > kKeep) recent_.pop_front();
}

std::shared_ptr<const std::string> SseFrames::UpToDate(
    uint64_t lsn, const std::function<std::string(uint64_t)>& make) {
  std::lock_guard lock(mu_);
  if (!up_to_date_ || up_to_date_lsn_ != lsn) {
    up_to_date_ = std::make_shared<const std::string>(make(lsn));
    up_to_date_lsn_ = lsn;
  }
  return up_to_date_;
}

uint64_t SseFrames::shared() const {
  std::lock_guard lock(mu_);
  return shared_;
}

void ShapeFace::HandleDelete(const http::Request& request,
                             std::shared_ptr<http::Exchange> exchange) {
  auto context = std::make_shared<Context>();
  context->request = request;
  context->exchange = exchange;
  if (!options_.allow_delete) {
    return Respond(*context, MessageResponse(405, "DELETE not allowed"), nullptr);
  }
  ParsedShapeRequest parsed = ParseShapeRequest(request, true);
  context->shape_request = parsed.request;
  if (!options_.secret.empty() && parsed.request.secret != options_.secret) {
    return Respond(*context, MessageResponse(401, "Unauthorized - Invalid API secret"), nullptr);
  }
  if (!parsed.errors.empty()) {
    return Respond(*context, JsonResponse(400, parsed.errors.ToJson()), nullptr);
  }
  auto accepted = [this, context] {
    http::Response response;
    response.status = 202;
    response.content_type.clear();
    Respond(*context, std::move(response), nullptr);
  };
  if (!parsed.request.table) {
    if (!parsed.request.handle) {
      FieldErrors errors;
      errors.Add("handle", "can't be blank when table is not given");
      return Respond(*context, JsonResponse(400, errors.ToJson()), nullptr);
    }
    if (!manager_.Delete(*parsed.request.handle).ok()) {
      return Respond(*context, MessageResponse(404, "No existing shape found"), nullptr);
    }
    return accepted();
  }
  manager_.LookupTable(*parsed.request.table, [this, context, accepted](
                                                  Result<std::shared_ptr<const TableInfo>> table) {
    if (!table.ok()) {
      return Respond(*context, MessageResponse(404, "No existing shape found"), nullptr);
    }
    FieldErrors errors;
    auto def = BuildDefinition(context->shape_request, *table, ShapeGrant{}, &errors);
    if (!def) return Respond(*context, JsonResponse(400, errors.ToJson()), nullptr);
    auto shape = manager_.FindByIdentity(def->Identity());
    if (!shape) {
      return Respond(*context, MessageResponse(404, "No existing shape found"), nullptr);
    }
    if (context->shape_request.handle && *context->shape_request.handle != shape->handle()) {
      return Respond(
          *context,
          MessageResponse(400,
                          "The specified shape definition and handle do not match. Please "
                          "ensure the shape definition is correct or omit the shape handle "
                          "from the request to obtain a new one."),
          nullptr);
    }
    (void)manager_.Delete(shape->handle());
    accepted();
  });
}

}  // namespace eddy::shapes
