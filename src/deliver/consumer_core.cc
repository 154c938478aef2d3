#include "deliver/consumer_core.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <functional>
#include <regex>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace eddy::deliver {

Status ConsumerCore::Validate(const ConsumerOptions& o) {
  static const std::regex kName("^[A-Za-z0-9_-]{1,64}$");
  if (!std::regex_match(o.name, kName)) {
    return InvalidArgument(fmt::format(
        "consumer.name: \"{}\" is not a consumer name (letters, digits, '_' and '-', at most 64)",
        o.name));
  }
  if (o.data_dir.empty()) return InvalidArgument("consumer.data_dir: required (the data_dir)");
  if (o.lanes < 1 || o.lanes > 256) return InvalidArgument("consumer.lanes: must be 1 to 256");
  if (o.max_attempts < 1) return InvalidArgument("consumer.max_attempts: must be at least 1");
  if (o.backoff_min_ms < 0 || o.backoff_max_ms < o.backoff_min_ms) {
    return InvalidArgument(
        "consumer.backoff_min_ms/backoff_max_ms: need 0 <= backoff_min_ms <= backoff_max_ms");
  }
  if (o.max_in_flight < 1) return InvalidArgument("consumer.max_in_flight: must be at least 1");
  return Status::Ok();
}

std::string ConsumerCore::DirOf(const ConsumerOptions& options) {
  return options.data_dir + "/consumers/" + options.name;
}

Result<std::unique_ptr<ConsumerCore>> ConsumerCore::Open(const ConsumerOptions& options,
                                                         ConsumerHandlers handlers,
                                                         std::unique_ptr<ChangeFeed> feed) {
  EDDY_RETURN_IF_ERROR(Validate(options));
  std::unique_ptr<ConsumerCore> core(new ConsumerCore());
  core->options_ = options;
  core->handlers_ = std::move(handlers);
  core->feed_ = std::move(feed);
  const std::string dir = DirOf(options);
  EDDY_RETURN_IF_ERROR(log::CreateDirs(dir));
  auto lock = log::DirLock::Acquire(dir + "/LOCK");
  if (!lock.ok()) {
    return FailedPrecondition(
        fmt::format("consumer {}: {} is in use by another process (stop it first): {}",
                    options.name, dir, lock.status().message()));
  }
  core->lock_ = std::move(lock).value();
  core->cursor_file_ = std::make_unique<log::CursorFile>(dir + "/cursor");
  EDDY_ASSIGN_OR_RETURN(core->parked_, ParkedStore::Open(dir + "/parked"));
  core->parked_count_.store(core->parked_->size());
  return core;
}

ConsumerCore::~ConsumerCore() { Stop(); }

Status ConsumerCore::Start() {
  if (!feed_) return FailedPrecondition("consumer: no feed to start");
  if (started_) return FailedPrecondition("consumer: already started");
  EDDY_ASSIGN_OR_RETURN(std::optional<log::Cursor> stored, cursor_file_->Load());
  std::optional<Position> after;
  if (stored) {
    after = stored->position;
  } else if (options_.from_start) {
    after = Position{};
  }
  EDDY_ASSIGN_OR_RETURN(Position start, feed_->Start(after));
  log::Cursor initial = stored ? *stored : log::Cursor{start, Lsn()};
  if (!stored) {
    // Remember where a new consumer began, so a restart does not skip what came in between.
    EDDY_RETURN_IF_ERROR(cursor_file_->Store(initial));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    cursor_ = initial;
  }
  stored_cursor_ = initial;
  started_ = true;
  for (int i = 0; i < options_.lanes; ++i) lanes_.push_back(std::make_unique<Lane>());
  for (auto& lane : lanes_) {
    Lane* raw = lane.get();
    lane->thread = std::thread([this, raw] { LaneLoop(raw); });
  }
  dispatcher_ = std::thread([this] { DispatchLoop(); });
  return Status::Ok();
}

void ConsumerCore::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  stop_requested_.store(true);
  if (feed_) feed_->Cancel();
  window_cv_.notify_all();
  for (auto& lane : lanes_) lane->cv.notify_all();
  if (dispatcher_.joinable()) dispatcher_.join();
  for (auto& lane : lanes_) {
    if (lane->thread.joinable()) lane->thread.join();
  }
  if (started_) {
    Status s = StoreCursorIfMoved();
    if (!s.ok()) spdlog::error("consumer {}: storing the cursor: {}", options_.name, s.ToString());
  }
}

Status ConsumerCore::StoreCursorIfMoved() {
  log::Cursor now;
  {
    std::lock_guard<std::mutex> lock(mu_);
    now = cursor_;
  }
  if (now == stored_cursor_) return Status::Ok();
  EDDY_RETURN_IF_ERROR(cursor_file_->Store(now));
  stored_cursor_ = now;
  return Status::Ok();
}

void ConsumerCore::DispatchLoop() {
  auto last_store = std::chrono::steady_clock::now();
  auto maybe_store = [&] {
    auto now = std::chrono::steady_clock::now();
    if (now - last_store < std::chrono::milliseconds(kCursorIntervalMs)) return;
    last_store = now;
    Status s = StoreCursorIfMoved();
    if (!s.ok()) {
      spdlog::error("consumer {}: storing the cursor: {}", options_.name, s.ToString());
      std::lock_guard<std::mutex> lock(mu_);
      health_ = s;
    }
  };
  // Waits until `ready` holds (under mu_) or stopping; false when stopping.
  auto wait_until = [&](const std::function<bool()>& ready) {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_ && !ready()) {
      dispatcher_waiting_ = true;
      window_cv_.wait_for(lock, std::chrono::milliseconds(kCursorIntervalMs));
      dispatcher_waiting_ = false;
      if (stopping_ || ready()) break;
      lock.unlock();
      maybe_store();
      lock.lock();
    }
    return !stopping_;
  };
  const size_t max_in_flight = static_cast<size_t>(options_.max_in_flight);
  std::vector<FeedEntry> batch;
  std::optional<FeedEntry> held;  // a truncate that ended the previous burst
  while (true) {
    maybe_store();
    if (!wait_until([&] { return unfinished_changes_ < max_in_flight; })) return;
    batch.clear();
    if (held) {
      batch.push_back(std::move(*held));
      held.reset();
    } else {
      Result<std::optional<FeedEntry>> next =
          feed_->Next(std::chrono::milliseconds(kCursorIntervalMs));
      if (!next.ok()) {
        std::lock_guard<std::mutex> lock(mu_);
        if (!stopping_) {
          spdlog::error("consumer {}: feed ended: {}", options_.name, next.status().ToString());
          health_ = next.status();
        }
        return;
      }
      if (!next->has_value()) continue;
      batch.push_back(std::move(**next));
    }
    auto is_truncate = [](const FeedEntry& e) {
      return e.kind == FeedEntry::Kind::kChange && e.change.op == Op::kTruncate;
    };
    if (is_truncate(batch.front())) {
      // A truncate affects every key of its table: it waits for everything before it and runs
      // alone.
      if (!wait_until([&] { return unfinished_changes_ == 0; })) return;
      DispatchBatch(batch);
      if (!wait_until([&] { return unfinished_changes_ == 0; })) return;
      continue;
    }
    while (batch.size() < kDispatchBurst) {
      std::optional<FeedEntry> more = feed_->TryNext();
      if (!more) break;
      if (is_truncate(*more)) {
        held = std::move(more);
        break;
      }
      batch.push_back(std::move(*more));
    }
    DispatchBatch(batch);
  }
}

void ConsumerCore::DispatchBatch(std::vector<FeedEntry>& batch) {
  std::vector<Lane*> wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (FeedEntry& entry : batch) {
      const uint64_t seq = window_base_ + window_.size();
      if (entry.kind == FeedEntry::Kind::kCommit) {
        window_.push_back(Slot{entry.position(), true, entry.commit.end_lsn, false});
        FinishLocked(seq);
        continue;
      }
      Lane* lane = lanes_[std::hash<std::string>()(KeyOf(entry.change)) % lanes_.size()].get();
      window_.push_back(Slot{entry.position(), false, Lsn(), false});
      ++unfinished_changes_;
      lane->queue.push_back(Item{seq, std::move(entry)});
      if (lane->idle) {
        lane->idle = false;
        wake.push_back(lane);
      }
    }
  }
  for (Lane* lane : wake) lane->cv.notify_one();
}

void ConsumerCore::FinishAcknowledged(std::vector<Item>& items) {
  if (items.empty()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const Item& item : items) FinishLocked(item.seq);
    acknowledged_ += items.size();
  }
  if (feed_) {
    for (const Item& item : items) feed_->Acknowledge(item.entry);
  }
  items.clear();
}

void ConsumerCore::FinishLocked(uint64_t seq) {
  Slot& slot = window_[seq - window_base_];
  if (!slot.is_commit) --unfinished_changes_;
  slot.done = true;
  while (!window_.empty() && window_.front().done) {
    cursor_.position = window_.front().position;
    if (window_.front().is_commit) cursor_.end_lsn = window_.front().end_lsn;
    window_.pop_front();
    ++window_base_;
  }
  if (dispatcher_waiting_) window_cv_.notify_all();
}

void ConsumerCore::LaneLoop(Lane* lane) {
  std::deque<Item> burst;
  std::vector<Item> acknowledged;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      while (!stopping_ && lane->queue.empty()) {
        lane->idle = true;
        lane->cv.wait(lock);
      }
      lane->idle = false;
      if (stopping_) return;
      burst.swap(lane->queue);
    }
    while (!burst.empty()) {
      Item item = std::move(burst.front());
      burst.pop_front();
      if (Process(lane, item, &acknowledged)) acknowledged.push_back(std::move(item));
      // Finish in groups: one lock per group, and the cursor still moves during a long burst.
      if (acknowledged.size() >= kFinishGroup) FinishAcknowledged(acknowledged);
      if (stop_requested_.load(std::memory_order_relaxed) && !burst.empty()) {
        break;  // the rest is delivered again after a restart
      }
    }
    FinishAcknowledged(acknowledged);
    burst.clear();
  }
}

Status ConsumerCore::CallHandler(const Change& c) {
  try {
    if (handlers_.on_change) return handlers_.on_change(c);
    switch (c.op) {
      case Op::kInsert:
        return handlers_.on_insert ? handlers_.on_insert(Row(&c, &c.new_row)) : Status::Ok();
      case Op::kUpdate:
        return handlers_.on_update ? handlers_.on_update(Row(&c, &c.new_row), Row(&c, &c.old_row))
                                   : Status::Ok();
      case Op::kDelete:
        return handlers_.on_delete ? handlers_.on_delete(Row(&c, &c.old_row)) : Status::Ok();
      case Op::kTruncate:
        return handlers_.on_truncate ? handlers_.on_truncate(c) : Status::Ok();
    }
    return Status::Ok();
  } catch (const std::exception& e) {
    return Internal(fmt::format("handler threw: {}", e.what()));
  } catch (...) {
    return Internal("handler threw a non-standard exception");
  }
}

bool ConsumerCore::Process(Lane* lane, Item& item, std::vector<Item>* acknowledged) {
  const Change& change = item.entry.change;
  const std::string key = KeyOf(change);
  // Behind a parked change of the same key: park too, keeping the key's order.
  if (parked_count_.load(std::memory_order_acquire) > 0) {
    std::lock_guard<std::mutex> lock(mu_);
    if (const ParkedChange* first = parked_->OldestOf(key)) {
      Result<uint64_t> id =
          parked_->Park(change, fmt::format("behind parked change #{}", first->id), 0);
      if (!id.ok()) {
        health_ = id.status();
        spdlog::error("consumer {}: parking: {}", options_.name, id.status().ToString());
        return false;  // unfinished: delivered again after a restart
      }
      parked_count_.store(parked_->size(), std::memory_order_release);
      FinishLocked(item.seq);
      if (feed_) feed_->Acknowledge(item.entry);
      return false;
    }
  }
  Status last;
  int attempt = 0;
  while (attempt < options_.max_attempts) {
    ++attempt;
    last = CallHandler(change);
    if (last.ok()) return true;
    // Earlier acknowledged changes of this lane should not wait out the backoff unfinished.
    FinishAcknowledged(*acknowledged);
    std::unique_lock<std::mutex> lock(mu_);
    ++failures_;
    if (attempt >= options_.max_attempts) break;
    int64_t delay = options_.backoff_min_ms;
    for (int i = 1; i < attempt && delay < options_.backoff_max_ms; ++i) delay *= 2;
    delay = std::min<int64_t>(delay, options_.backoff_max_ms);
    lane->cv.wait_for(lock, std::chrono::milliseconds(delay), [&] { return stopping_; });
    if (stopping_) return false;  // unfinished: delivered again after a restart
  }
  spdlog::warn("consumer {}: parking {} {} at {} after {} attempts: {}", options_.name,
               OpName(change.op), change.table ? change.table->QualifiedName() : "?",
               change.position.ToString(), attempt, last.ToString());
  std::lock_guard<std::mutex> lock(mu_);
  Result<uint64_t> id = parked_->Park(change, last.ToString(), attempt);
  if (!id.ok()) {
    health_ = id.status();
    spdlog::error("consumer {}: parking: {}", options_.name, id.status().ToString());
    return false;
  }
  parked_count_.store(parked_->size(), std::memory_order_release);
  FinishLocked(item.seq);
  if (feed_) feed_->Acknowledge(item.entry);
  return false;
}

Result<std::vector<ParkedChange>> ConsumerCore::ListParked() {
  std::lock_guard<std::mutex> lock(mu_);
  return parked_->List();
}

Status ConsumerCore::ReplayKey(const std::string& key, uint64_t through_id) {
  while (true) {
    ParkedChange oldest;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const ParkedChange* p = parked_->OldestOf(key);
      if (p == nullptr || p->id > through_id) return Status::Ok();
      oldest = *p;
    }
    Status s = CallHandler(oldest.change);
    std::lock_guard<std::mutex> lock(mu_);
    if (!s.ok()) {
      ++failures_;
      EDDY_RETURN_IF_ERROR(parked_->Update(oldest.id, s.ToString(), oldest.attempts + 1));
      return s.WithContext(fmt::format("replay of parked change #{}", oldest.id));
    }
    ++acknowledged_;
    EDDY_RETURN_IF_ERROR(parked_->Remove(oldest.id));
    parked_count_.store(parked_->size(), std::memory_order_release);
  }
}

Status ConsumerCore::Replay(uint64_t id) {
  std::lock_guard<std::mutex> replay_lock(replay_mu_);
  std::string key;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const ParkedChange* p = parked_->Find(id);
    if (p == nullptr) {
      return NotFound(fmt::format("parked change {} does not exist (see ListParked)", id));
    }
    key = KeyOf(p->change);
  }
  return ReplayKey(key, id);
}

Status ConsumerCore::ReplayAll() {
  std::lock_guard<std::mutex> replay_lock(replay_mu_);
  std::vector<std::string> keys;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const ParkedChange& p : parked_->List()) {
      std::string key = KeyOf(p.change);
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(std::move(key));
    }
  }
  Status first_error;
  for (const std::string& key : keys) {
    Status s = ReplayKey(key, UINT64_MAX);
    if (!s.ok() && first_error.ok()) first_error = s;
  }
  return first_error;
}

Status ConsumerCore::Discard(uint64_t id) {
  std::lock_guard<std::mutex> replay_lock(replay_mu_);
  std::lock_guard<std::mutex> lock(mu_);
  EDDY_RETURN_IF_ERROR(parked_->Remove(id));
  parked_count_.store(parked_->size(), std::memory_order_release);
  return Status::Ok();
}

ConsumerStats ConsumerCore::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  ConsumerStats s;
  s.acknowledged = acknowledged_;
  s.failures = failures_;
  s.parked = parked_->size();
  s.in_flight = unfinished_changes_;
  s.cursor = cursor_.position;
  return s;
}

Status ConsumerCore::Health() const {
  std::lock_guard<std::mutex> lock(mu_);
  return health_;
}

}  // namespace eddy::deliver
