#pragma once

// The WatermelonDB face: GET /v1/watermelon/pull and POST /v1/watermelon/push (docs/watermelon.md,
// ../shared/protocols/watermelondb-sync.md). Requests are answered through http::Exchange from a
// small worker pool with its own PostgreSQL connections, so no io thread waits on PostgreSQL.
//
// Lifecycle: Create, Register on the server, Start (resolves the tables, prepares eddy's schema,
// starts the follower and the workers), Stop. Requests before Start get 503.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "eddy/result.h"

#include "adapters/watermelon/meta_follower.h"
#include "adapters/watermelon/pull.h"
#include "adapters/watermelon/push.h"
#include "adapters/watermelon/watermelon_config.h"
#include "auth/jwt.h"
#include "http/server.h"
#include "log/change_log.h"

namespace eddy::watermelon {

struct WatermelonFaceOptions {
  WatermelonConfig config;
  std::string conninfo;
  std::string publication;  // logical capture's publication ("" otherwise)
  std::shared_ptr<const auth::JwtVerifier> verifier;  // null: no auth (open mode)
};

struct FaceCounters {
  std::atomic<uint64_t> pulls{0};
  std::atomic<uint64_t> pushes{0};
  std::atomic<uint64_t> records_pulled{0};
  std::atomic<uint64_t> records_pushed{0};
  std::atomic<uint64_t> conflicts{0};
  std::atomic<uint64_t> rejected{0};
  std::atomic<uint64_t> replacements{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> barrier_timeouts{0};
  std::atomic<uint64_t> streamed_pulls{0};
  std::atomic<uint64_t> spooled_pulls{0};
};

class BodyFeeder;
class Nudger;

class WatermelonFace {
 public:
  WatermelonFace(WatermelonFaceOptions options, log::ChangeLog& log);
  ~WatermelonFace();

  void Register(http::Server& server);
  Status Start();
  void Stop();
  std::string MetricsText() const;
  MetaFollower* follower() { return follower_.get(); }

 private:
  using Job = std::function<void(pg::Connection*)>;  // null: PostgreSQL is unreachable
  void Post(Job job);
  void RunWorker();
  void HandlePull(const http::Request& request, std::shared_ptr<http::Exchange> exchange);
  void HandlePush(const http::Request& request, std::shared_ptr<http::Exchange> exchange);
  // Claims -> scope per client table; an error answer when the token is missing or wrong.
  std::optional<SyncAnswer> Authorize(const http::Request& request,
                                      std::map<std::string, std::string>* scopes) const;
  void Respond(const http::Request& request, http::Exchange& exchange, SyncAnswer answer) const;
  http::Response ToResponse(const http::Request& request, SyncAnswer answer) const;
  // GET /v1/watermelon/changes: live nudges (server-sent events).
  http::Accept HandleChanges(const http::Request& request,
                             std::shared_ptr<http::EventStream> stream,
                             std::vector<std::pair<std::string, std::string>>* extra_headers);
  // The headers of every sync answer (CORS, no caching).
  std::vector<std::pair<std::string, std::string>> ResponseHeaders() const;
  class PullResponder;
  // Commits a fence transaction and waits until the follower has passed the WAL position read
  // inside it; kUnavailable after `timeout`.
  Status WaitForStream(std::chrono::milliseconds timeout);

  WatermelonFaceOptions options_;
  log::ChangeLog& log_;
  std::vector<std::shared_ptr<const SyncTable>> tables_;  // set by Start
  std::unique_ptr<MetaFollower> follower_;
  std::unique_ptr<BodyFeeder> feeder_;  // sends spooled pull bodies
  std::unique_ptr<Nudger> nudger_;      // live nudges; created by Start
  std::atomic<bool> ready_{false};
  mutable FaceCounters counters_;

  std::mutex jobs_mu_;
  std::condition_variable jobs_cv_;
  std::deque<Job> jobs_;
  bool stopping_ = false;  // guarded by jobs_mu_
  std::vector<std::thread> workers_;

  std::mutex fence_mu_;
  std::vector<std::unique_ptr<pg::Connection>> fence_pool_;  // guarded by fence_mu_
};

}  // namespace eddy::watermelon
