#include "adapters/watermelon/watermelon_face.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "adapters/watermelon/gzip.h"
#include "adapters/watermelon/nudges.h"
#include "adapters/watermelon/streamed_body.h"
#include "common/json_string.h"

namespace eddy::watermelon {
namespace {

constexpr size_t kMaxClientIdBytes = 128;
constexpr size_t kMaxQueuedJobs = 1000;

bool IsSafeClientId(std::string_view id) {
  if (id.empty() || id.size() > kMaxClientIdBytes) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == ':';
    if (!ok) return false;
  }
  return true;
}

// X-Client-Id into `*out` ("" when absent); a 400 answer when it is not a safe id.
std::optional<SyncAnswer> ReadClientId(const http::Request& request, std::string* out) {
  auto id = request.Header("x-client-id");
  if (!id) return std::nullopt;
  if (!IsSafeClientId(*id)) {
    return SyncAnswer::Error(400, "bad_request",
                             "X-Client-Id: 1 to 128 letters, digits, '-', '_', '.', ':'",
                             "X-Client-Id");
  }
  *out = *id;
  return std::nullopt;
}

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// The body of one pull. Small bodies are kept and answered whole (with Content-Length, gzipped
// when large enough); a body that grows past watermelon.stream_after_kb starts a chunked
// response and every later piece is sent (gzipped on the fly when the client accepts it) as it
// is rendered, through a StreamedBody, so the pull needs bounded memory and never waits on the
// client.
class WatermelonFace::PullResponder final : public JsonSink {
 public:
  PullResponder(const WatermelonFace& face, const http::Request& request,
                std::shared_ptr<http::Exchange> exchange)
      : face_(face), request_(request), exchange_(std::move(exchange)) {
    const std::string accept = request.Header("accept-encoding").value_or("");
    gzip_ = accept.find("gzip") != std::string::npos;
  }

  Status Append(std::string_view json) override {
    if (!body_) {
      pending_.append(json);
      if (pending_.size() <= static_cast<size_t>(face_.options_.config.stream_after_kb) << 10) {
        return Status::Ok();
      }
      EDDY_RETURN_IF_ERROR(StartStreaming());
      const std::string first = std::exchange(pending_, {});
      return Send(first);
    }
    return Send(json);
  }

  // After RunPull: the answer, or the end (or the failure) of a streamed body.
  void Finish(SyncAnswer answer) {
    if (!body_) {
      if (answer.status == 200) answer.body = std::move(pending_);
      face_.Respond(request_, *exchange_, std::move(answer));
      return;
    }
    if (answer.status != 200) {
      body_->Abort("the pull failed midway: " + answer.body);
      return;
    }
    if (encoder_) {
      std::string tail;
      if (!encoder_->Finish(&tail).ok() || !body_->Write(tail).ok()) {
        body_->Abort("gzip failed");
        return;
      }
    }
    body_->Finish();
  }

  bool streamed() const { return body_ != nullptr; }
  bool spooled() const { return body_ && body_->spooled(); }

 private:
  Status StartStreaming() {
    std::vector<std::pair<std::string, std::string>> headers = face_.ResponseHeaders();
    if (gzip_) {
      EDDY_ASSIGN_OR_RETURN(encoder_, GzipEncoder::Create());
      headers.emplace_back("Content-Encoding", "gzip");
    }
    auto stream = exchange_->StartBody("application/json", std::move(headers));
    StreamedBodyOptions options;
    options.spool_dir = face_.options_.config.spool_dir;
    options.max_spool_bytes = static_cast<uint64_t>(face_.options_.config.max_spool_mb) << 20;
    body_ = std::make_shared<StreamedBody>(std::move(stream), *face_.feeder_, options);
    return Status::Ok();
  }

  Status Send(std::string_view json) {
    if (!encoder_) return body_->Write(json);
    zipped_.clear();
    EDDY_RETURN_IF_ERROR(encoder_->Add(json, &zipped_));
    return body_->Write(zipped_);
  }

  const WatermelonFace& face_;
  const http::Request& request_;
  const std::shared_ptr<http::Exchange> exchange_;
  bool gzip_ = false;
  std::string pending_;  // the body so far, while it is small
  std::unique_ptr<GzipEncoder> encoder_;
  std::string zipped_;
  std::shared_ptr<StreamedBody> body_;  // once streaming
};

WatermelonFace::WatermelonFace(WatermelonFaceOptions options, log::ChangeLog& log)
    : options_(std::move(options)), log_(log) {}

WatermelonFace::~WatermelonFace() { Stop(); }

void WatermelonFace::Register(http::Server& server) {
  server.RouteAsync("GET", "/v1/watermelon/pull",
                    [this](const http::Request& r, std::shared_ptr<http::Exchange> e) {
                      HandlePull(r, std::move(e));
                    });
  server.RouteAsync("POST", "/v1/watermelon/push",
                    [this](const http::Request& r, std::shared_ptr<http::Exchange> e) {
                      HandlePush(r, std::move(e));
                    });
  auto preflight = [](const http::Request&) {
    http::Response r;
    r.status = 204;
    r.headers = {{"Access-Control-Allow-Origin", "*"},
                 {"Access-Control-Allow-Methods", "GET, POST, OPTIONS"},
                 {"Access-Control-Allow-Headers", "Authorization, Content-Type, X-Client-Id"},
                 {"Access-Control-Max-Age", "86400"}};
    r.content_type = "text/plain";
    return r;
  };
  server.RouteSse("/v1/watermelon/changes",
                  [this](const http::Request& r, std::shared_ptr<http::EventStream> s,
                         std::vector<std::pair<std::string, std::string>>* headers) {
                    return HandleChanges(r, std::move(s), headers);
                  });
  server.Route("OPTIONS", "/v1/watermelon/pull", preflight);
  server.Route("OPTIONS", "/v1/watermelon/push", preflight);
}

Status WatermelonFace::Start() {
  EDDY_ASSIGN_OR_RETURN(std::unique_ptr<pg::Connection> c,
                        pg::Connection::Connect(options_.conninfo));
  EDDY_ASSIGN_OR_RETURN(tables_, ResolveTables(*c, options_.config));
  MetaFollowerOptions fo;
  fo.conninfo = options_.conninfo;
  fo.schema = options_.config.schema;
  fo.publication = options_.publication;
  fo.tombstone_retention_hours = options_.config.tombstone_retention_hours;
  nudger_ = std::make_unique<Nudger>(std::chrono::milliseconds(options_.config.nudge_debounce_ms),
                                     tables_);
  fo.on_applied = [nudger = nudger_.get()](uint64_t lsn, const std::set<TouchedTable>& touched) {
    nudger->OnApplied(lsn, touched);
  };
  follower_ = std::make_unique<MetaFollower>(std::move(fo), log_, tables_);
  if (!feeder_) feeder_ = std::make_unique<BodyFeeder>();
  EDDY_RETURN_IF_ERROR(follower_->Start());
  {
    std::lock_guard lock(jobs_mu_);
    stopping_ = false;
  }
  for (int64_t i = 0; i < options_.config.workers; ++i) {
    workers_.emplace_back([this] { RunWorker(); });
  }
  ready_.store(true);
  return Status::Ok();
}

void WatermelonFace::Stop() {
  ready_.store(false);
  {
    std::lock_guard lock(jobs_mu_);
    stopping_ = true;
  }
  jobs_cv_.notify_all();
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
  feeder_.reset();  // aborts bodies a client is still reading
  if (follower_) follower_->Stop();
  nudger_.reset();  // after the follower, which calls it; closes the nudge streams
}

void WatermelonFace::Post(Job job) {
  std::lock_guard lock(jobs_mu_);
  jobs_.push_back(std::move(job));
  jobs_cv_.notify_one();
}

void WatermelonFace::RunWorker() {
  std::unique_ptr<pg::Connection> connection;
  while (true) {
    Job job;
    {
      std::unique_lock lock(jobs_mu_);
      jobs_cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping, nothing left
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    if (!connection || !connection->IsOk()) {
      auto c = pg::Connection::Connect(options_.conninfo);
      if (c.ok()) {
        connection = std::move(c).value();
      } else {
        connection.reset();
      }
    }
    try {
      job(connection.get());
    } catch (const std::exception& e) {
      spdlog::error("watermelon: a request failed: {}", e.what());
    }
  }
}

std::optional<SyncAnswer> WatermelonFace::Authorize(
    const http::Request& request, std::map<std::string, std::string>* scopes) const {
  if (!options_.verifier) return std::nullopt;
  std::string token;
  if (auto header = request.Header("authorization")) {
    if (header->starts_with("Bearer ")) token = header->substr(7);
  } else if (auto query = request.Query("token")) {
    token = *query;  // EventSource (live nudges) cannot send headers; as in the watch API
  }
  if (token.empty()) {
    return SyncAnswer::Error(401, "unauthorized",
                             "a bearer token is required (Authorization: Bearer <JWT>)",
                             "Authorization");
  }
  auto claims = options_.verifier->Verify(token, NowSeconds());
  if (!claims.ok()) {
    return SyncAnswer::Error(401, "unauthorized", claims.status().message(), "Authorization");
  }
  for (const auto& t : tables_) {
    if (t->scope_column.empty()) continue;
    std::string value;
    if (t->scope_claim == "sub") {
      value = claims->sub;
    } else if (auto it = claims->values.find(t->scope_claim); it != claims->values.end()) {
      value = it->second;
    }
    if (value.empty()) {
      return SyncAnswer::Error(
          403, "forbidden",
          fmt::format("the token has no \"{}\" claim, which table {} needs (scope_claim)",
                      t->scope_claim, t->client_table),
          "Authorization");
    }
    (*scopes)[t->client_table] = value;
  }
  return std::nullopt;
}

std::vector<std::pair<std::string, std::string>> WatermelonFace::ResponseHeaders() const {
  return {{"Cache-Control", "no-store"},
          {"Access-Control-Allow-Origin", "*"},
          {"Vary", "Accept-Encoding"}};
}

http::Response WatermelonFace::ToResponse(const http::Request& request, SyncAnswer answer) const {
  if (answer.status >= 400) counters_.errors.fetch_add(1);
  http::Response r;
  r.status = answer.status;
  r.content_type = "application/json";
  r.headers = ResponseHeaders();
  if (answer.retry_after) r.headers.emplace_back("Retry-After", "1");
  const std::string accept = request.Header("accept-encoding").value_or("");
  if (accept.find("gzip") != std::string::npos && answer.body.size() > 1024) {
    auto zipped = Gzip(answer.body);
    if (zipped.ok()) {
      r.headers.emplace_back("Content-Encoding", "gzip");
      r.body = std::move(zipped).value();
      return r;
    }
  }
  r.body = std::move(answer.body);
  return r;
}

void WatermelonFace::Respond(const http::Request& request, http::Exchange& exchange,
                             SyncAnswer answer) const {
  exchange.Respond(ToResponse(request, std::move(answer)));
}

http::Accept WatermelonFace::HandleChanges(
    const http::Request& request, std::shared_ptr<http::EventStream> stream,
    std::vector<std::pair<std::string, std::string>>* extra_headers) {
  if (!ready_.load() || !nudger_) {
    return ToResponse(
        request, SyncAnswer::Error(503, "starting", "the WatermelonDB face is starting; retry"));
  }
  std::optional<int64_t> last;
  const bool has_last = request.Query("last_pulled_at").has_value();
  if (has_last) {
    auto parsed = ParseLastPulledAt(request.Query("last_pulled_at"), "last_pulled_at");
    if (!parsed.ok()) {
      return ToResponse(request, SyncAnswer::Error(400, "bad_request", parsed.status().message(),
                                                   "last_pulled_at"));
    }
    last = *parsed;
  }
  std::map<std::string, std::string> scopes;
  if (auto refused = Authorize(request, &scopes)) return ToResponse(request, std::move(*refused));
  extra_headers->emplace_back("Access-Control-Allow-Origin", "*");
  // A client that pulled before the last change (or never) is told at once.
  const uint64_t last_change = follower_->last_change_lsn();
  const bool nudge_now =
      has_last && (!last || (last_change > 0 && static_cast<uint64_t>(*last) < last_change));
  nudger_->Add(std::move(stream), std::move(scopes), follower_->applied_lsn(), nudge_now);
  return std::nullopt;
}

Status WatermelonFace::WaitForStream(std::chrono::milliseconds timeout) {
  std::unique_ptr<pg::Connection> c;
  {
    std::lock_guard lock(fence_mu_);
    if (!fence_pool_.empty()) {
      c = std::move(fence_pool_.back());
      fence_pool_.pop_back();
    }
  }
  if (!c || !c->IsOk()) {
    EDDY_ASSIGN_OR_RETURN(c, pg::Connection::Connect(options_.conninfo, 5));
  }
  // The WAL position is read inside the fence transaction, so the fence commits after it: once
  // the follower has applied the fence, it has applied every commit before that position.
  auto r = c->Exec(fmt::format(
      "UPDATE {}.fence SET n = n + 1 WHERE singleton = 1 RETURNING pg_current_wal_insert_lsn()",
      pg::Connection::QuoteIdent(options_.config.schema)));
  if (!r.ok()) return r.status();
  std::optional<Lsn> lsn = Lsn::Parse(r->Get(0, 0));
  {
    std::lock_guard lock(fence_mu_);
    fence_pool_.push_back(std::move(c));
  }
  if (!lsn) return Internal("could not read pg_current_wal_insert_lsn()");
  if (!follower_->WaitApplied(lsn->value(), timeout)) {
    counters_.barrier_timeouts.fetch_add(1);
    return Unavailable(fmt::format("not past {} after {} ms", lsn->ToString(), timeout.count()));
  }
  return Status::Ok();
}

void WatermelonFace::HandlePull(const http::Request& request,
                                std::shared_ptr<http::Exchange> exchange) {
  if (!ready_.load()) {
    Respond(request, *exchange,
            SyncAnswer::Error(503, "starting", "the WatermelonDB face is starting; retry"));
    return;
  }
  PullRequest pull;
  auto last = ParseLastPulledAt(request.Query("last_pulled_at"), "last_pulled_at");
  if (!last.ok()) {
    Respond(request, *exchange,
            SyncAnswer::Error(400, "bad_request", last.status().message(), "last_pulled_at"));
    return;
  }
  pull.last_pulled_at = *last;
  if (auto v = request.Query("schema_version"); v && !v->empty() && *v != "null") {
    char* end = nullptr;
    const long long n = std::strtoll(v->c_str(), &end, 10);
    if (end != v->c_str() + v->size() || n < 0) {
      Respond(request, *exchange,
              SyncAnswer::Error(400, "bad_request",
                                "schema_version: must be the client's schema version (an integer)",
                                "schema_version"));
      return;
    }
    pull.schema_version = n;
  }
  if (pull.last_pulled_at) {  // a migration on a first sync means nothing (spec 1.1)
    auto migration = ParseMigration(request.Query("migration"));
    if (!migration.ok()) {
      Respond(request, *exchange,
              SyncAnswer::Error(400, "bad_request", migration.status().message(), "migration"));
      return;
    }
    pull.migration = std::move(migration).value();
  }
  if (auto p = request.Query("page_size"); p && !p->empty()) {
    char* end = nullptr;
    const long long n = std::strtoll(p->c_str(), &end, 10);
    if (end != p->c_str() + p->size() || n < 1 || n > 10'000'000) {
      Respond(
          request, *exchange,
          SyncAnswer::Error(400, "bad_request", "page_size: must be 1 to 10000000", "page_size"));
      return;
    }
    pull.page_size = n;
  }
  if (auto refused = ReadClientId(request, &pull.client_id)) {
    Respond(request, *exchange, std::move(*refused));
    return;
  }
  if (auto refused = Authorize(request, &pull.scopes)) {
    Respond(request, *exchange, std::move(*refused));
    return;
  }
  {
    std::lock_guard lock(jobs_mu_);
    if (jobs_.size() >= kMaxQueuedJobs) {
      Respond(request, *exchange, SyncAnswer::Error(503, "busy", "too many syncs queued; retry"));
      return;
    }
  }
  http::Request copy = request;
  copy.body.clear();
  Post([this, copy = std::move(copy), pull = std::move(pull), exchange](pg::Connection* c) {
    if (exchange->client_gone()) return;
    if (c == nullptr) {
      Respond(copy, *exchange,
              SyncAnswer::Error(503, "unavailable", "PostgreSQL is unreachable; retry"));
      return;
    }
    // Read your writes: let the follower catch up with what is committed now (bounded; on
    // timeout the pull is still correct, only older).
    if (options_.config.pull_wait_ms > 0) {
      Status waited = WaitForStream(std::chrono::milliseconds(options_.config.pull_wait_ms));
      if (!waited.ok()) spdlog::debug("watermelon pull: {}", waited.ToString());
    }
    PullStats stats;
    PullResponder responder(*this, copy, exchange);
    SyncAnswer answer = RunPull(*c, options_.config.schema, tables_, pull, responder, &stats);
    responder.Finish(std::move(answer));
    counters_.pulls.fetch_add(1);
    counters_.records_pulled.fetch_add(stats.records);
    if (stats.replacement) counters_.replacements.fetch_add(1);
    if (responder.streamed()) counters_.streamed_pulls.fetch_add(1);
    if (responder.spooled()) counters_.spooled_pulls.fetch_add(1);
  });
}

void WatermelonFace::HandlePush(const http::Request& request,
                                std::shared_ptr<http::Exchange> exchange) {
  if (!ready_.load()) {
    Respond(request, *exchange,
            SyncAnswer::Error(503, "starting", "the WatermelonDB face is starting; retry"));
    return;
  }
  const size_t max_bytes = static_cast<size_t>(options_.config.max_push_mb) << 20;
  if (request.body.size() > max_bytes) {
    Respond(request, *exchange,
            SyncAnswer::Error(413, "too_large",
                              fmt::format("the push body is over {} MiB (watermelon.max_push_mb): "
                                          "sync more often or raise the limit",
                                          options_.config.max_push_mb)));
    return;
  }
  PushRequest push;
  auto body = ParsePushBody(request.body);
  if (!body.ok()) {
    Respond(request, *exchange,
            SyncAnswer::Error(400, "bad_request", body.status().message(), "body"));
    return;
  }
  push.body = std::move(body).value();
  auto last = ParseLastPulledAt(request.Query("last_pulled_at"), "last_pulled_at");
  if (!last.ok()) {
    Respond(request, *exchange,
            SyncAnswer::Error(400, "bad_request", last.status().message(), "last_pulled_at"));
    return;
  }
  push.last_pulled_at = *last ? *last : push.body.last_pulled_at;
  if (auto refused = ReadClientId(request, &push.client_id)) {
    Respond(request, *exchange, std::move(*refused));
    return;
  }
  if (auto refused = Authorize(request, &push.scopes)) {
    Respond(request, *exchange, std::move(*refused));
    return;
  }
  http::Request copy = request;
  copy.body.clear();
  auto shared = std::make_shared<PushRequest>(std::move(push));
  Post([this, copy = std::move(copy), shared, exchange](pg::Connection* c) {
    if (c == nullptr) {
      Respond(copy, *exchange,
              SyncAnswer::Error(503, "unavailable", "PostgreSQL is unreachable; retry"));
      return;
    }
    PushStats stats;
    const auto timeout = std::chrono::milliseconds(options_.config.barrier_timeout_ms);
    Barrier barrier = [this, timeout] { return WaitForStream(timeout); };
    SyncAnswer answer = RunPush(*c, options_.config.schema, tables_, *shared, barrier, &stats);
    counters_.pushes.fetch_add(1);
    counters_.records_pushed.fetch_add(stats.applied);
    counters_.rejected.fetch_add(stats.rejected);
    if (stats.conflict) counters_.conflicts.fetch_add(1);
    Respond(copy, *exchange, std::move(answer));
  });
}

std::string WatermelonFace::MetricsText() const {
  const uint64_t applied = follower_ ? follower_->applied_lsn() : 0;
  return fmt::format(
      "# HELP eddy_watermelon_pulls_total WatermelonDB pulls answered.\n"
      "# TYPE eddy_watermelon_pulls_total counter\neddy_watermelon_pulls_total {}\n"
      "# HELP eddy_watermelon_pushes_total WatermelonDB pushes answered.\n"
      "# TYPE eddy_watermelon_pushes_total counter\neddy_watermelon_pushes_total {}\n"
      "# HELP eddy_watermelon_records_pulled_total Records sent by pulls.\n"
      "# TYPE eddy_watermelon_records_pulled_total counter\neddy_watermelon_records_pulled_total "
      "{}\n"
      "# HELP eddy_watermelon_records_pushed_total Records written by pushes.\n"
      "# TYPE eddy_watermelon_records_pushed_total counter\neddy_watermelon_records_pushed_total "
      "{}\n"
      "# HELP eddy_watermelon_conflicts_total Pushes refused with 409.\n"
      "# TYPE eddy_watermelon_conflicts_total counter\neddy_watermelon_conflicts_total {}\n"
      "# HELP eddy_watermelon_rejected_total Records rejected (experimentalRejectedIds).\n"
      "# TYPE eddy_watermelon_rejected_total counter\neddy_watermelon_rejected_total {}\n"
      "# HELP eddy_watermelon_replacement_syncs_total Pulls answered with a replacement sync.\n"
      "# TYPE eddy_watermelon_replacement_syncs_total counter\n"
      "eddy_watermelon_replacement_syncs_total {}\n"
      "# HELP eddy_watermelon_barrier_timeouts_total Waits for the change stream that timed out.\n"
      "# TYPE eddy_watermelon_barrier_timeouts_total counter\n"
      "eddy_watermelon_barrier_timeouts_total {}\n"
      "# HELP eddy_watermelon_streamed_pulls_total Pulls whose body was streamed (chunked).\n"
      "# TYPE eddy_watermelon_streamed_pulls_total counter\n"
      "eddy_watermelon_streamed_pulls_total {}\n"
      "# HELP eddy_watermelon_spooled_pulls_total Streamed pulls that outran their client and "
      "waited in the spool.\n"
      "# TYPE eddy_watermelon_spooled_pulls_total counter\n"
      "eddy_watermelon_spooled_pulls_total {}\n"
      "# HELP eddy_watermelon_spool_bytes Bytes of streamed pulls waiting in the spool for slow "
      "clients.\n"
      "# TYPE eddy_watermelon_spool_bytes gauge\neddy_watermelon_spool_bytes {}\n"
      "# HELP eddy_watermelon_spool_full_waits_total Pulls that waited for their client because "
      "the spool was full (watermelon.max_spool_mb).\n"
      "# TYPE eddy_watermelon_spool_full_waits_total counter\n"
      "eddy_watermelon_spool_full_waits_total {}\n"
      "# HELP eddy_watermelon_nudge_subscribers Open /v1/watermelon/changes streams.\n"
      "# TYPE eddy_watermelon_nudge_subscribers gauge\neddy_watermelon_nudge_subscribers {}\n"
      "# HELP eddy_watermelon_nudges_total Nudges sent.\n"
      "# TYPE eddy_watermelon_nudges_total counter\neddy_watermelon_nudges_total {}\n"
      "# HELP eddy_watermelon_applied_lsn Commit LSN the sync metadata has reached.\n"
      "# TYPE eddy_watermelon_applied_lsn gauge\neddy_watermelon_applied_lsn {}\n",
      counters_.pulls.load(), counters_.pushes.load(), counters_.records_pulled.load(),
      counters_.records_pushed.load(), counters_.conflicts.load(), counters_.rejected.load(),
      counters_.replacements.load(), counters_.barrier_timeouts.load(),
      counters_.streamed_pulls.load(), counters_.spooled_pulls.load(),
      feeder_ ? feeder_->spooled_bytes() : 0, feeder_ ? feeder_->spool_waits() : 0,
      nudger_ ? nudger_->subscribers() : 0, nudger_ ? nudger_->nudges_sent() : 0, applied);
}

}  // namespace eddy::watermelon
