#pragma once

// Live nudges (GET /v1/watermelon/changes, server-sent events): "something you sync changed,
// pull now", so that apps call synchronize() when there is something to pull instead of polling.
// A nudge carries no data, only the watermark a pull would now return; each subscriber gets at
// most one per debounce period, and one event's bytes are shared by every subscriber it goes to.
//
// Scopes: a change to a scoped table nudges the subscribers of the scopes it touched: the one the
// row is in now, and the one it left (moved out, or deleted). A TRUNCATE nudges every subscriber.
//
// Threads: OnApplied on the follower thread, Add from request threads, one sender thread.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "adapters/watermelon/meta_follower.h"
#include "adapters/watermelon/sync_table.h"
#include "http/server.h"

namespace eddy::watermelon {

class Nudger {
 public:
  Nudger(std::chrono::milliseconds debounce, std::vector<std::shared_ptr<const SyncTable>> tables);
  ~Nudger();  // closes every stream
  Nudger(const Nudger&) = delete;
  Nudger& operator=(const Nudger&) = delete;

  // A new subscriber. `scopes`: its scope per client table (from its token; empty with auth
  // off). `ready_lsn` is sent at once as the "ready" event; `nudge_now` queues a first nudge (it
  // pulled before the last change).
  void Add(std::shared_ptr<http::EventStream> stream, std::map<std::string, std::string> scopes,
           uint64_t ready_lsn, bool nudge_now);
  // The follower applied a commit that changed `touched`.
  void OnApplied(uint64_t lsn, const std::set<TouchedTable>& touched);
  size_t subscribers() const;
  uint64_t nudges_sent() const;

 private:
  struct Subscriber {
    std::shared_ptr<http::EventStream> stream;
    std::map<std::string, std::string> scopes;  // qualified table -> scope
    bool pending = false;
    std::chrono::steady_clock::time_point last_sent{};
  };
  // Shared with the streams' OnClose callbacks, which may run after the Nudger is gone.
  struct Registry {
    std::mutex mu;
    std::vector<std::shared_ptr<Subscriber>> subscribers;  // guarded by mu
  };
  bool Affects(const Subscriber& s, const TouchedTable& t) const;
  void Run();

  const std::chrono::milliseconds debounce_;
  std::map<std::string, std::shared_ptr<const SyncTable>> by_qualified_;
  std::map<std::string, std::string> qualified_of_client_;  // client table -> qualified
  const std::shared_ptr<Registry> registry_ = std::make_shared<Registry>();
  std::condition_variable cv_;
  uint64_t lsn_ = 0;       // guarded by registry_->mu: the newest applied
  uint64_t sent_ = 0;      // guarded by registry_->mu
  bool stopping_ = false;  // guarded by registry_->mu
  std::thread thread_;
};

}  // namespace eddy::watermelon
