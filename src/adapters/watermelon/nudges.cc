#include "adapters/watermelon/nudges.h"

#include <algorithm>

#include <fmt/format.h>

namespace eddy::watermelon {
namespace {

http::SharedBytes Event(std::string_view name, uint64_t lsn) {
  return std::make_shared<const std::string>(
      fmt::format("event: {}\ndata: {{\"timestamp\":{}}}\n\n", name, lsn));
}

}  // namespace

Nudger::Nudger(std::chrono::milliseconds debounce,
               std::vector<std::shared_ptr<const SyncTable>> tables)
    : debounce_(debounce) {
  for (auto& t : tables) {
    qualified_of_client_[t->client_table] = t->qualified;
    by_qualified_[t->qualified] = std::move(t);
  }
  thread_ = std::thread([this] { Run(); });
}

Nudger::~Nudger() {
  std::vector<std::shared_ptr<Subscriber>> left;
  {
    std::lock_guard lock(registry_->mu);
    stopping_ = true;
    left.swap(registry_->subscribers);
  }
  cv_.notify_all();
  thread_.join();
  for (auto& s : left) s->stream->Close();
}

void Nudger::Add(std::shared_ptr<http::EventStream> stream,
                 std::map<std::string, std::string> scopes, uint64_t ready_lsn, bool nudge_now) {
  auto subscriber = std::make_shared<Subscriber>();
  subscriber->stream = stream;
  for (auto& [client_table, scope] : scopes) {
    auto it = qualified_of_client_.find(client_table);
    if (it != qualified_of_client_.end()) subscriber->scopes[it->second] = std::move(scope);
  }
  subscriber->pending = nudge_now;
  stream->Send(Event("ready", ready_lsn));
  {
    std::lock_guard lock(registry_->mu);
    if (stopping_) {
      stream->Close();
      return;
    }
    registry_->subscribers.push_back(subscriber);
  }
  // Gone with its stream (client away, overflow, shutdown).
  std::weak_ptr<Subscriber> weak = subscriber;
  std::weak_ptr<Registry> weak_registry = registry_;
  stream->OnClose([weak, weak_registry](std::string_view) {
    auto gone = weak.lock();
    auto registry = weak_registry.lock();
    if (!gone || !registry) return;
    std::lock_guard lock(registry->mu);
    std::erase(registry->subscribers, gone);
  });
  if (nudge_now) cv_.notify_all();
}

bool Nudger::Affects(const Subscriber& s, const TouchedTable& t) const {
  auto table = by_qualified_.find(t.tbl);
  if (table == by_qualified_.end()) return false;
  if (table->second->scope_column.empty() || !t.scope) return true;
  auto scope = s.scopes.find(t.tbl);
  return scope == s.scopes.end() || scope->second == *t.scope;
}

void Nudger::OnApplied(uint64_t lsn, const std::set<TouchedTable>& touched) {
  bool any = false;
  {
    std::lock_guard lock(registry_->mu);
    lsn_ = std::max(lsn_, lsn);
    for (auto& s : registry_->subscribers) {
      if (s->pending) continue;
      for (const TouchedTable& t : touched) {
        if (Affects(*s, t)) {
          s->pending = true;
          any = true;
          break;
        }
      }
    }
  }
  if (any) cv_.notify_all();
}

void Nudger::Run() {
  std::unique_lock lock(registry_->mu);
  for (;;) {
    // Sleep until a subscriber has a nudge due: at once, or once its debounce period is over.
    auto due = std::chrono::steady_clock::time_point::max();
    for (auto& s : registry_->subscribers) {
      if (s->pending) due = std::min(due, s->last_sent + debounce_);
    }
    if (due == std::chrono::steady_clock::time_point::max()) {
      cv_.wait(lock);
    } else if (due > std::chrono::steady_clock::now()) {
      cv_.wait_until(lock, due);
    }
    if (stopping_) return;
    const auto now = std::chrono::steady_clock::now();
    http::SharedBytes event;  // one encoding for every subscriber nudged in this round
    for (auto& s : registry_->subscribers) {
      if (!s->pending || s->last_sent + debounce_ > now) continue;
      if (!event) event = Event("changed", lsn_);
      s->pending = false;
      s->last_sent = now;
      s->stream->Send(event);  // never blocks: queued on the connection
      ++sent_;
    }
  }
}

size_t Nudger::subscribers() const {
  std::lock_guard lock(registry_->mu);
  return registry_->subscribers.size();
}

uint64_t Nudger::nudges_sent() const {
  std::lock_guard lock(registry_->mu);
  return sent_;
}

}  // namespace eddy::watermelon
