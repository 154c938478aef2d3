#include "adapters/watch/hub.h"

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "change/change_json.h"

namespace eddy::watch {
namespace {

std::string TableKey(const std::string& schema, const std::string& table) {
  return schema + "." + table;
}

// Key values joined by a separator no text value contains unescaped in practice.
std::string JoinKey(const std::vector<std::string>& parts) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out.push_back('\x1f');
    out += parts[i];
  }
  return out;
}

std::string ChangeKey(const Change& change) {
  std::string out;
  bool first = true;
  for (const Value* v : change.KeyValues()) {
    if (!first) out.push_back('\x1f');
    first = false;
    out += v->text;
  }
  return out;
}

SharedBytes SseFrame(std::string_view id, std::string_view event, std::string_view data) {
  auto s = std::make_shared<std::string>();
  s->reserve(data.size() + id.size() + event.size() + 24);
  s->append("id: ").append(id).append("\nevent: ").append(event).append("\ndata: ");
  s->append(data).append("\n\n");
  return s;
}

}  // namespace

Hub::~Hub() { Stop(); }

Status Hub::Start() {
  std::optional<Commit> last = log_.LastDurableCommit();
  Position start = last ? Position{last->commit_lsn, last->change_count} : Position{};
  EDDY_ASSIGN_OR_RETURN(reader_, log_.NewReader(start));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    dispatched_ = start;
  }
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void Hub::Stop() {
  if (stop_.exchange(true)) return;
  if (thread_.joinable()) thread_.join();
  std::unique_lock<std::mutex> lock(mutex_);
  catch_ups_done_.wait(lock, [this] { return catch_ups_running_ == 0; });
  by_table_.clear();
  in_tx_.clear();
  touched_.clear();
}

Position Hub::position() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return dispatched_;
}

HubStats Hub::Stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void Hub::AddLiveLocked(std::shared_ptr<Subscriber> s, bool in_tx) {
  match::SubscriptionFilter& f = s->filter();
  const std::string table = f.all_tables() ? "" : TableKey(f.schema(), f.table());
  Bucket& bucket = by_table_[table];
  if (in_tx) touched_.push_back(s);
  in_tx_[s.get()] = in_tx;
  if (!f.spec().key.empty()) {
    bucket.by_key[JoinKey(f.spec().key)].push_back(std::move(s));
  } else {
    bucket.others.push_back(std::move(s));
  }
  ++stats_.subscribers;
}

void Hub::RemoveLocked(const Subscriber* s) {
  if (in_tx_.erase(s) == 0) return;
  --stats_.subscribers;
  auto drop = [s](std::vector<std::shared_ptr<Subscriber>>& list) {
    for (size_t i = 0; i < list.size(); ++i) {
      if (list[i].get() == s) {
        list[i] = std::move(list.back());
        list.pop_back();
        return true;
      }
    }
    return false;
  };
  for (auto& [table, bucket] : by_table_) {
    if (drop(bucket.others)) return;
    for (auto& [key, list] : bucket.by_key) {
      if (drop(list)) {
        if (list.empty()) bucket.by_key.erase(key);
        return;
      }
    }
  }
}

void Hub::Remove(const Subscriber* subscriber) {
  std::lock_guard<std::mutex> lock(mutex_);
  RemoveLocked(subscriber);
}

Status Hub::Add(std::shared_ptr<Subscriber> subscriber, std::optional<Position> after) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (stop_) return Aborted("the hub is stopped");
  if (!after || *after >= dispatched_) {
    subscriber->OnReady(dispatched_);
    AddLiveLocked(std::move(subscriber), false);
    return Status::Ok();
  }
  lock.unlock();
  EDDY_ASSIGN_OR_RETURN(std::unique_ptr<log::LogReader> reader, log_.NewReader(*after));
  subscriber->OnReady(*after);
  std::shared_ptr<log::LogReader> shared_reader(std::move(reader));
  lock.lock();
  ++catch_ups_running_;
  std::thread([this, subscriber, shared_reader] {
    CatchUp(subscriber, *shared_reader);
    std::lock_guard<std::mutex> done(mutex_);
    if (--catch_ups_running_ == 0) catch_ups_done_.notify_all();
  }).detach();
  return Status::Ok();
}

void Hub::CatchUp(std::shared_ptr<Subscriber> s, log::LogReader& reader) {
  bool in_tx = false;
  Position delivered;
  bool any = false;
  while (!stop_) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (any && delivered >= dispatched_) {
        AddLiveLocked(s, in_tx);
        return;
      }
    }
    auto e = reader.Next(std::chrono::milliseconds(10));
    if (!e.ok()) {
      s->OnError(e.status());
      return;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (!e->has_value()) {
      // Nothing durable beyond what was read: the reader stands where the hub stands.
      AddLiveLocked(s, in_tx);
      return;
    }
    const log::LogEntry& entry = **e;
    if (entry.position() > dispatched_) {
      // The hub has not handed this entry out yet: it will, now that `s` is live.
      AddLiveLocked(s, in_tx);
      return;
    }
    DeliverDirect(*s, entry, &in_tx);
    delivered = entry.position();
    any = true;
  }
}

void Hub::DeliverDirect(Subscriber& s, const log::LogEntry& entry, bool* in_tx) {
  if (entry.kind == log::LogEntry::Kind::kChange) {
    const Change& c = entry.change;
    if (!s.filter().Matches(c) || !s.Allowed(c)) return;
    auto json = std::make_shared<std::string>();
    change::AppendChangeJson(c, s.filter().ProjectionFor(c), json.get());
    *in_tx = true;
    s.OnChange(RenderedChange{c, json, SseFrame(c.position.ToString(), "change", *json)});
  } else if (*in_tx) {
    *in_tx = false;
    const Commit& commit = entry.commit;
    auto json = std::make_shared<std::string>(fmt::format(R"({{"lsn":"{}","xid":{},"changes":{}}})",
                                                          commit.commit_lsn.ToString(),
                                                          commit.xid.value(), commit.change_count));
    s.OnCommit(
        RenderedCommit{commit, json, SseFrame(entry.position().ToString(), "commit", *json)});
  }
}

void Hub::Run() {
  while (!stop_) {
    auto entry = reader_->Next(std::chrono::milliseconds(100));
    if (!entry.ok()) {
      if (!stop_) spdlog::error("watch hub: {}", entry.status().ToString());
      return;
    }
    if (!entry->has_value()) continue;
    std::lock_guard<std::mutex> lock(mutex_);
    Dispatch(**entry);
  }
}

void Hub::Dispatch(const log::LogEntry& entry) {
  dispatched_ = entry.position();
  if (entry.kind == log::LogEntry::Kind::kCommit) {
    if (touched_.empty()) return;
    const Commit& c = entry.commit;
    auto json = std::make_shared<std::string>(fmt::format(R"({{"lsn":"{}","xid":{},"changes":{}}})",
                                                          c.commit_lsn.ToString(), c.xid.value(),
                                                          c.change_count));
    auto sse = SseFrame(entry.position().ToString(), "commit", *json);
    std::vector<std::shared_ptr<Subscriber>> touched;
    touched.swap(touched_);
    for (auto& s : touched) {
      auto it = in_tx_.find(s.get());
      if (it == in_tx_.end() || !it->second) continue;  // removed meanwhile
      it->second = false;
      if (!s->OnCommit(RenderedCommit{c, json, sse})) RemoveLocked(s.get());
    }
    return;
  }
  const Change& c = entry.change;
  ++stats_.changes_dispatched;
  // Rendered once per projection for this change, shared by every subscriber that has it.
  std::vector<std::pair<const std::string*, RenderedChange>> rendered;
  std::vector<const Subscriber*> gone;
  auto deliver = [&](std::vector<std::shared_ptr<Subscriber>>& list) {
    for (auto& sp : list) {
      Subscriber& s = *sp;
      if (!s.filter().Matches(c) || !s.Allowed(c)) continue;
      const std::string& key = s.filter().projection_key();
      const RenderedChange* bytes = nullptr;
      for (auto& r : rendered) {
        if (*r.first == key) bytes = &r.second;
      }
      if (bytes == nullptr) {
        auto json = std::make_shared<std::string>();
        change::AppendChangeJson(c, s.filter().ProjectionFor(c), json.get());
        ++stats_.renders;
        rendered.push_back(
            {&key, RenderedChange{c, json, SseFrame(c.position.ToString(), "change", *json)}});
        bytes = &rendered.back().second;
      }
      bool& in_tx = in_tx_[&s];
      if (!in_tx) {
        in_tx = true;
        touched_.push_back(sp);
      }
      ++stats_.deliveries;
      if (!s.OnChange(*bytes)) gone.push_back(&s);
    }
  };
  auto visit = [&](const std::string& table) {
    auto it = by_table_.find(table);
    if (it == by_table_.end()) return;
    deliver(it->second.others);
    if (!it->second.by_key.empty()) {
      auto k = it->second.by_key.find(ChangeKey(c));
      if (k != it->second.by_key.end()) deliver(k->second);
    }
  };
  visit(TableKey(c.table->schema, c.table->name));
  visit("");
  for (const Subscriber* g : gone) RemoveLocked(g);
}

}  // namespace eddy::watch
