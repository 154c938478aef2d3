#include "adapters/shape/shape_manager.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <fcntl.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "common/json_string.h"
#include "pg/connection.h"

namespace eddy::shapes {
namespace {

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

constexpr auto kCheckpointInterval = std::chrono::seconds(1);
constexpr auto kHousekeepingInterval = std::chrono::seconds(5);
constexpr size_t kSnapshotBatch = 2000;

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Electric's handle form: "<hash>-<unix microseconds>", never reused.
std::string NewHandle(const std::string& identity) {
  static std::atomic<int64_t> last{0};
  int64_t now = NowMicros();
  int64_t prev = last.load();
  while (true) {
    const int64_t next = std::max(now, prev + 1);
    if (last.compare_exchange_weak(prev, next)) {
      now = next;
      break;
    }
  }
  return std::to_string(std::hash<std::string>{}(identity) % 100000000) + "-" + std::to_string(now);
}

std::string SnapshotEndJson(const SnapshotVisibility& v) {
  return "{\"headers\":{\"control\":\"snapshot-end\",\"xmin\":\"" + std::to_string(v.xmin) +
         "\",\"xmax\":\"" + std::to_string(v.xmax) + "\",\"xip_list\":" + v.XipJson() + "}}";
}

// Row values as a shape's filter reads them: unchanged TOAST values come from the old row.
void NewRowValues(const Change& change, std::vector<std::optional<std::string_view>>* out) {
  out->assign(change.new_row.size(), std::nullopt);
  for (size_t i = 0; i < change.new_row.size(); ++i) {
    const Value& v = change.new_row[i];
    if (v.kind == Value::Kind::kText) {
      (*out)[i] = v.text;
    } else if (v.kind == Value::Kind::kUnchanged && change.old_kind == OldRow::kFull &&
               i < change.old_row.size() && change.old_row[i].kind == Value::Kind::kText) {
      (*out)[i] = change.old_row[i].text;
    }
  }
}

void OldRowValues(const Change& change, std::vector<std::optional<std::string_view>>* out) {
  out->assign(change.old_row.size(), std::nullopt);
  for (size_t i = 0; i < change.old_row.size(); ++i) {
    if (change.old_row[i].kind == Value::Kind::kText) (*out)[i] = change.old_row[i].text;
  }
}

bool SameColumns(const Table& table, const TableInfo& info) {
  if (table.columns.size() != info.columns.size()) return false;
  for (size_t i = 0; i < info.columns.size(); ++i) {
    if (table.columns[i].name != info.columns[i].name ||
        table.columns[i].type_name != info.columns[i].type_name) {
      return false;
    }
  }
  return true;
}

Status WriteFileAtomically(const std::string& path, const std::string& contents) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << contents;
    out.flush();
    if (!out) return IoError("shapes: could not write " + tmp);
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return IoError("shapes: could not rename " + tmp + ": " + ec.message());
  return Status::Ok();
}

thread_local std::unique_ptr<pg::Connection> t_connection;

Result<pg::Connection*> WorkerConnection(const std::string& conninfo) {
  if (t_connection && !t_connection->IsOk()) t_connection.reset();
  if (!t_connection) {
    EDDY_ASSIGN_OR_RETURN(t_connection, pg::Connection::Connect(conninfo));
    EDDY_RETURN_IF_ERROR(t_connection->Exec(kValueSettingsSql).status());
  }
  return t_connection.get();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// ShapeDefinition

std::string ShapeDefinition::WhereSql() const {
  std::string sql;
  if (filter) sql = "(" + filter->sql() + ")";
  if (row_rule) {
    if (!sql.empty()) sql.append(" AND ");
    sql.append("(" + row_rule->sql() + ")");
  }
  return sql;
}

std::string ShapeDefinition::Identity() const {
  std::string id =
      std::to_string(table->oid) + "|" + QuotedTableName(table->name) + "|" + WhereSql() + "|";
  for (int index : selected)
    id.append(pg::Connection::QuoteIdent(table->columns[index].name) + ",");
  id.append(explicit_columns ? "|explicit" : "|all");
  id.append(replica_full ? "|full" : "|default");
  id.append(changes_only ? "|changes_only" : "|log");
  return id;
}

bool ShapeDefinition::Matches(where::RowValues row) const {
  if (filter && !filter->Matches(row)) return false;
  if (row_rule && !row_rule->Matches(row)) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Shape

Shape::State Shape::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

Status Shape::failure() const {
  std::lock_guard lock(mu_);
  return failure_;
}

Result<shape::ReadResult> Shape::Read(shape::Offset after) {
  Touch();
  return log_->Read(after);
}

shape::Offset Shape::last_offset() const {
  std::lock_guard lock(mu_);
  return last_offset_;
}

bool Shape::WaitAfter(shape::Offset after, std::function<void()> callback) {
  std::lock_guard lock(mu_);
  if (state_ == State::kGone) return false;
  if (state_ == State::kLive && last_offset_ > after) return false;
  waiters_.push_back(std::move(callback));
  return true;
}

uint64_t Shape::Listen(std::function<void()> callback) {
  std::lock_guard lock(mu_);
  const uint64_t id = next_listener_++;
  listeners_.emplace(id, std::move(callback));
  return id;
}

void Shape::Unlisten(uint64_t id) {
  std::lock_guard lock(mu_);
  listeners_.erase(id);
}

void Shape::Touch() { last_used_s_.store(NowSeconds(), std::memory_order_relaxed); }

void Shape::Notify() {
  std::vector<std::function<void()>> waiters;
  std::vector<std::function<void()>> listeners;
  {
    std::lock_guard lock(mu_);
    waiters.swap(waiters_);
    for (auto& [id, callback] : listeners_) listeners.push_back(callback);
  }
  for (auto& waiter : waiters) waiter();
  for (auto& listener : listeners) listener();
}

// ---------------------------------------------------------------------------------------------
// ShapeManager

struct ShapeManager::TableShapes {
  std::vector<Shape*> all;
  std::vector<Shape*> scan;  // no index terms: evaluated for every change
  std::map<where::IndexPath, std::unordered_map<std::string, std::vector<Shape*>>> index;
  size_t count = 0;
  // The table version (relation id, schema version) every shape in `all` but those in
  // `unchecked` was compared with, so that a change costs no per-shape schema check.
  uint64_t checked_relation = 0;
  uint32_t checked_version = 0;
  std::vector<Shape*> unchecked;
};

struct ShapeManager::PendingChange {
  Shape* shape = nullptr;
  size_t change = 0;  // into txn_changes_
  bool old_in = false;
  bool new_in = false;
};

namespace {
const std::optional<std::vector<where::IndexTerm>>* IndexTermsOf(const ShapeDefinition& d) {
  static const std::optional<std::vector<where::IndexTerm>> kNone;
  if (d.row_rule && d.row_rule->index_terms()) return &d.row_rule->index_terms();
  if (d.filter) return &d.filter->index_terms();
  return &kNone;
}
}  // namespace

ShapeManager::ShapeManager(ShapeManagerOptions options, log::ChangeLog& log)
    : options_(std::move(options)), log_(log) {}

Result<std::unique_ptr<ShapeManager>> ShapeManager::Create(ShapeManagerOptions options,
                                                           log::ChangeLog& log) {
  if (options.dir.empty()) return InvalidArgument("shapes.dir: must not be empty");
  std::error_code ec;
  fs::create_directories(options.dir, ec);
  if (ec) {
    return IoError("shapes.dir: could not create " + options.dir + ": " + ec.message() +
                   " (set shapes.dir to a writable directory)");
  }
  if (options.workers < 1) options.workers = 1;
  return std::unique_ptr<ShapeManager>(new ShapeManager(std::move(options), log));
}

ShapeManager::~ShapeManager() { Stop(); }

Status ShapeManager::Start() {
  EDDY_RETURN_IF_ERROR(LoadShapes());
  Position start;
  {
    std::lock_guard lock(mu_);
    bool any = false;
    for (auto& [handle, shape] : by_handle_) {
      if (!any || shape->position_ < start) start = shape->position_;
      any = true;
    }
    if (!any) {
      if (auto last = log_.LastDurableCommit()) {
        start = Position{last->commit_lsn, last->change_count};
      }
    }
    position_ = start;
    last_seen_lsn_.store(start.commit_lsn.value());
    last_housekeeping_ = SteadyClock::now();
  }
  auto reader = log_.NewReader(start);
  if (!reader.ok()) {
    spdlog::warn("shapes: the change log no longer holds position {} ({}): every shape starts over",
                 start.ToString(), reader.status().ToString());
    {
      std::lock_guard lock(mu_);
      auto shapes = by_handle_;
      for (auto& [handle, shape] : shapes) RotateLocked(shape, "the change log lost its position");
      Position newest;
      if (auto last = log_.LastDurableCommit()) newest = {last->commit_lsn, last->change_count};
      position_ = newest;
      EDDY_ASSIGN_OR_RETURN(reader_, log_.NewReader(newest));
    }
    RunDeferred();
  } else {
    reader_ = std::move(*reader);
  }
  for (int i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { RunWorker(); });
  timer_thread_ = std::thread([this] { RunTimers(); });
  for (int i = 0; i < std::max(1, options_.notifiers); ++i) {
    notifiers_.emplace_back([this] { RunNotifier(); });
  }
  router_ = std::thread([this] { RunRouter(); });
  checkpoint_thread_ = std::thread([this] { RunCheckpoints(); });
  return Status::Ok();
}

void ShapeManager::Stop() {
  if (stopping_.exchange(true)) return;
  if (reader_) reader_->Cancel();
  if (router_.joinable()) router_.join();
  { std::lock_guard lock(notify_mu_); }  // a notifier between its check and its wait sees it
  notify_cv_.notify_all();
  for (auto& notifier : notifiers_) notifier.join();
  notifiers_.clear();
  jobs_cv_.notify_all();
  for (auto& worker : workers_) worker.join();
  workers_.clear();
  timers_cv_.notify_all();
  if (timer_thread_.joinable()) timer_thread_.join();
  checkpoint_cv_.notify_all();
  if (checkpoint_thread_.joinable()) checkpoint_thread_.join();
  Checkpoint();
  std::vector<std::shared_ptr<Shape>> shapes;
  {
    std::lock_guard lock(mu_);
    for (auto& [handle, shape] : by_handle_) shapes.push_back(shape);
  }
  RunDeferred();
  // Wake every waiter so that held requests answer now.
  for (auto& shape : shapes) shape->Notify();
}

void ShapeManager::QueueNotify(std::shared_ptr<Shape> shape) {
  {
    std::lock_guard lock(notify_mu_);
    if (shape->notify_pending_) return;  // queued, or running with a rerun already asked for
    shape->notify_pending_ = true;
    if (shape->notify_running_) return;  // its notifier runs it again when done
    notify_queue_.push_back(std::move(shape));
  }
  notify_cv_.notify_one();
}

void ShapeManager::RunNotifier() {
  std::unique_lock lock(notify_mu_);
  for (;;) {
    notify_cv_.wait(lock, [&] { return stopping_.load() || !notify_queue_.empty(); });
    if (stopping_.load()) return;  // Stop wakes every waiter itself
    std::shared_ptr<Shape> shape = std::move(notify_queue_.front());
    notify_queue_.pop_front();
    shape->notify_pending_ = false;
    shape->notify_running_ = true;
    lock.unlock();
    try {
      shape->Notify();
    } catch (const std::exception& e) {
      spdlog::error("shapes: notifying {} failed: {}", shape->handle_, e.what());
    }
    lock.lock();
    shape->notify_running_ = false;
    if (shape->notify_pending_) notify_queue_.push_back(std::move(shape));
  }
}

void ShapeManager::Post(std::function<void()> job) {
  {
    std::lock_guard lock(jobs_mu_);
    jobs_.push_back(std::move(job));
  }
  jobs_cv_.notify_one();
}

void ShapeManager::RunWorker() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(jobs_mu_);
      jobs_cv_.wait(lock, [&] { return stopping_.load() || !jobs_.empty(); });
      if (stopping_.load() && jobs_.empty()) break;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    try {
      job();
    } catch (const std::exception& e) {
      spdlog::error("shapes: a job failed: {}", e.what());
    }
  }
  t_connection.reset();
}

uint64_t ShapeManager::After(std::chrono::milliseconds delay, std::function<void()> callback) {
  std::lock_guard lock(timers_mu_);
  const uint64_t id = next_timer_id_++;
  const auto when = SteadyClock::now() + delay;
  // The timer thread sleeps until the earliest deadline: wake it only for an earlier one.
  const bool earliest = timers_.empty() || when < timers_.begin()->first;
  timer_index_[id] = timers_.emplace(when, std::make_pair(id, std::move(callback)));
  if (earliest) timers_cv_.notify_one();
  return id;
}

void ShapeManager::Cancel(uint64_t timer_id) {
  std::lock_guard lock(timers_mu_);
  auto it = timer_index_.find(timer_id);
  if (it == timer_index_.end()) return;
  timers_.erase(it->second);
  timer_index_.erase(it);
}

void ShapeManager::RunTimers() {
  std::unique_lock lock(timers_mu_);
  while (!stopping_.load()) {
    if (timers_.empty()) {
      timers_cv_.wait_for(lock, std::chrono::milliseconds(500));
      continue;
    }
    auto first = timers_.begin();
    if (first->first > SteadyClock::now()) {
      const auto when = first->first;  // a copy: Cancel may erase the entry while we wait
      timers_cv_.wait_until(lock, when);
      continue;
    }
    auto callback = std::move(first->second.second);
    timer_index_.erase(first->second.first);
    timers_.erase(first);
    lock.unlock();
    callback();
    lock.lock();
  }
  // Fire what is left so that nobody waits for a stopped manager.
  auto left = std::move(timers_);
  timer_index_.clear();
  lock.unlock();
  for (auto& [when, entry] : left) entry.second();
}

// ---- tables ----

Result<std::shared_ptr<const TableInfo>> ShapeManager::LoadTableNow(const RelationName& name) {
  EDDY_ASSIGN_OR_RETURN(pg::Connection * connection, WorkerConnection(options_.conninfo));
  auto info = LoadTableInfo(*connection, name);
  if (!info.ok()) {
    if (info.status().code() == StatusCode::kUnavailable) t_connection.reset();
    return info.status();
  }
  if (!options_.publication.empty()) {
    auto published = connection->ExecParams(
        "SELECT 1 FROM pg_catalog.pg_publication_tables WHERE pubname = $1 AND schemaname = $2 "
        "AND tablename = $3",
        {options_.publication, name.schema, name.name});
    if (!published.ok()) return published.status();
    if (published->rows() == 0) {
      return FailedPrecondition("Table " + QuotedTableName(name) +
                                " is not in eddy's publication " +
                                pg::Connection::QuoteIdent(options_.publication) +
                                ", so its changes cannot be streamed: run ALTER PUBLICATION " +
                                pg::Connection::QuoteIdent(options_.publication) + " ADD TABLE " +
                                QuotedTableName(name) + ";");
    }
  }
  auto shared = std::make_shared<const TableInfo>(std::move(*info));
  std::lock_guard lock(tables_mu_);
  tables_[{name.schema, name.name}] = shared;
  return std::shared_ptr<const TableInfo>(shared);
}

void ShapeManager::LookupTable(const RelationName& name,
                               std::function<void(Result<std::shared_ptr<const TableInfo>>)> done) {
  std::shared_ptr<const TableInfo> cached;
  {
    std::lock_guard lock(tables_mu_);
    if (auto it = tables_.find({name.schema, name.name}); it != tables_.end()) cached = it->second;
  }
  // `done` runs with no lock held: it goes on into the manager (Find, GetOrCreate take mu_),
  // while the router holds mu_ when it forgets a table (found by ThreadSanitizer).
  if (cached) return done(std::move(cached));
  Post([this, name, done = std::move(done)] { done(LoadTableNow(name)); });
}

void ShapeManager::ForgetTable(const RelationName& name) {
  std::lock_guard lock(tables_mu_);
  tables_.erase({name.schema, name.name});
}

// ---- shapes ----

std::shared_ptr<Shape> ShapeManager::Find(const std::string& handle) {
  std::lock_guard lock(mu_);
  auto it = by_handle_.find(handle);
  return it == by_handle_.end() ? nullptr : it->second;
}

std::shared_ptr<Shape> ShapeManager::FindByIdentity(const std::string& identity) {
  std::lock_guard lock(mu_);
  auto it = by_identity_.find(identity);
  return it == by_identity_.end() ? nullptr : it->second;
}

std::shared_ptr<Shape> ShapeManager::GetOrCreate(
    const ShapeDefinition& definition, std::function<void(Result<std::shared_ptr<Shape>>)> done) {
  std::shared_ptr<Shape> shape;
  const std::string identity = definition.Identity();
  {
    std::unique_lock lock(mu_);
    if (auto it = by_identity_.find(identity); it != by_identity_.end()) {
      shape = it->second;
      std::unique_lock shape_lock(shape->mu_);
      if (shape->state_ == Shape::State::kSnapshotting) {
        if (done) shape->on_ready_.push_back(std::move(done));
        return shape;
      }
      shape_lock.unlock();
      lock.unlock();
      shape->Touch();
      if (done) done(shape);
      return shape;
    }
    shape = std::make_shared<Shape>();
    shape->identity_ = identity;
    shape->handle_ = NewHandle(identity);
    shape->definition_ = definition;
    shape->dir_ = options_.dir + "/" + shape->handle_;
    const TableInfo& table = *definition.table;
    shape->layout_.schema = table.name.schema;
    shape->layout_.table = table.name.name;
    for (const auto& c : table.columns) shape->layout_.column_names.push_back(c.name);
    shape->layout_.selected = definition.selected;
    if (!table.primary_key.empty()) {
      shape->layout_.key = table.primary_key;
    } else {
      std::vector<int> all(table.columns.size());
      for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
      std::sort(all.begin(), all.end(),
                [&](int a, int b) { return table.columns[a].name < table.columns[b].name; });
      shape->layout_.key = all;
    }
    shape->layout_.replica_full = definition.replica_full;
    shape->schema_json_ = SchemaHeaderJson(table, definition.selected);
    shape->position_ = position_;
    shape->Touch();
    if (done) shape->on_ready_.push_back(std::move(done));
    by_identity_[identity] = shape;
    by_handle_[shape->handle_] = shape;
    AddToIndexLocked(shape);
    stats_.snapshots++;
  }
  Post([this, shape] { Snapshot(shape); });
  return shape;
}

void ShapeManager::AddToIndexLocked(const std::shared_ptr<Shape>& shape) {
  const TableInfo& table = *shape->definition_.table;
  auto& slot = by_table_[{table.name.schema, table.name.name}];
  if (!slot) slot = std::make_unique<TableShapes>();
  slot->count++;
  slot->all.push_back(shape.get());
  slot->unchecked.push_back(shape.get());
  const auto& terms = *IndexTermsOf(shape->definition_);
  if (!terms) {
    slot->scan.push_back(shape.get());
    return;
  }
  for (const auto& term : *terms) slot->index[term.path][term.value].push_back(shape.get());
}

void ShapeManager::RemoveFromIndexLocked(const Shape* shape) {
  const TableInfo& table = *shape->definition_.table;
  auto it = by_table_.find({table.name.schema, table.name.name});
  if (it == by_table_.end()) return;
  TableShapes& slot = *it->second;
  std::erase(slot.all, shape);
  std::erase(slot.unchecked, shape);
  std::erase(slot.scan, shape);
  for (auto path = slot.index.begin(); path != slot.index.end();) {
    for (auto value = path->second.begin(); value != path->second.end();) {
      std::erase(value->second, shape);
      value = value->second.empty() ? path->second.erase(value) : std::next(value);
    }
    path = path->second.empty() ? slot.index.erase(path) : std::next(path);
  }
  if (--slot.count == 0) by_table_.erase(it);
}

void ShapeManager::RotateLocked(const std::shared_ptr<Shape>& shape, std::string_view why) {
  std::vector<std::function<void(Result<std::shared_ptr<Shape>>)>> on_ready;
  {
    std::lock_guard lock(shape->mu_);
    if (shape->state_ == Shape::State::kGone) return;
    shape->state_ = Shape::State::kGone;
    shape->failure_ = Aborted(std::string(why));
    on_ready.swap(shape->on_ready_);
  }
  spdlog::info("shapes: {} ends: {}", shape->handle_, why);
  RemoveFromIndexLocked(shape.get());
  by_handle_.erase(shape->handle_);
  if (auto it = by_identity_.find(shape->identity_);
      it != by_identity_.end() && it->second == shape) {
    by_identity_.erase(it);
  }
  std::erase_if(pending_, [&](const PendingChange& p) { return p.shape == shape.get(); });
  stats_.rotations++;
  if (shape->log_) (void)shape->log_->Remove();
  std::error_code ec;
  fs::remove_all(shape->dir_, ec);
  DeferLocked([shape, on_ready = std::move(on_ready)]() mutable {
    shape->Notify();
    for (auto& callback : on_ready) callback(shape->failure());
  });
}

void ShapeManager::RunDeferred() {
  for (;;) {
    std::vector<std::function<void()>> jobs;
    {
      std::lock_guard lock(mu_);
      jobs.swap(deferred_);
    }
    if (jobs.empty()) return;
    for (auto& job : jobs) job();
  }
}

Status ShapeManager::Delete(const std::string& handle) {
  {
    std::lock_guard lock(mu_);
    auto it = by_handle_.find(handle);
    if (it == by_handle_.end()) return NotFound("No existing shape found");
    auto shape = it->second;
    RotateLocked(shape, "deleted through the API");
  }
  RunDeferred();
  return Status::Ok();
}

// ---- snapshots ----

void ShapeManager::Snapshot(std::shared_ptr<Shape> shape) {
  auto fail = [&](const Status& status) {
    spdlog::warn("shapes: snapshot of {} failed: {}", shape->handle_, status.ToString());
    {
      std::lock_guard lock(mu_);
      RotateLocked(shape, "snapshot failed: " + status.message());
    }
    RunDeferred();
  };
  if (stopping_.load()) return fail(Aborted("eddy is stopping"));
  std::error_code ec;
  fs::create_directories(shape->dir_, ec);
  if (ec) return fail(IoError("could not create " + shape->dir_ + ": " + ec.message()));
  auto log = shape::ShapeLog::Open({shape->dir_ + "/log", options_.chunk_bytes});
  if (!log.ok()) return fail(log.status());
  shape->log_ = std::move(*log);

  auto connection = WorkerConnection(options_.conninfo);
  if (!connection.ok()) return fail(connection.status());
  const ShapeDefinition& def = shape->definition_;
  const TableInfo& table = *def.table;
  bool identity_full = table.replica_identity == 'f';
  if (!identity_full) {
    std::lock_guard lock(tables_mu_);
    identity_full = identity_full_.contains(table.oid);
  }
  if (options_.set_replica_identity_full && !identity_full) {
    auto altered =
        (*connection)
            ->Exec("ALTER TABLE " + QuotedTableName(table.name) + " REPLICA IDENTITY FULL");
    if (altered.ok()) {
      std::lock_guard lock(tables_mu_);
      identity_full_.insert(table.oid);
    } else {
      spdlog::warn(
          "shapes: could not set REPLICA IDENTITY FULL on {} ({}): updates that move rows out of "
          "shapes filtered on other columns than the key may be missed",
          QuotedTableName(table.name), altered.status().message());
    }
  }
  SnapshotQuery query;
  query.table = &table;
  std::set<int> columns(def.selected.begin(), def.selected.end());
  for (int k : shape->layout_.key) columns.insert(k);
  query.columns.assign(columns.begin(), columns.end());
  query.where_sql = def.WhereSql();
  if (def.changes_only) query.tail_sql = " LIMIT 0";

  std::vector<shape::LogMessage> batch;
  uint64_t row_number = 0;
  auto flush = [&]() -> Status {
    if (batch.empty()) return Status::Ok();
    Status status = shape->log_->Append(batch);
    batch.clear();
    return status;
  };
  auto visibility = RunSnapshot(**connection, query, [&](shape::RowText row) -> Status {
    shape::LogMessage message;
    message.offset = shape::Offset::At(0, row_number++);
    shape::AppendSnapshotInsert(shape->layout_, row, std::nullopt, &message.json);
    batch.push_back(std::move(message));
    if (batch.size() >= kSnapshotBatch) return flush();
    return Status::Ok();
  });
  if (!visibility.ok()) {
    if (visibility.status().code() == StatusCode::kUnavailable) t_connection.reset();
    return fail(visibility.status());
  }
  batch.push_back({shape::Offset::SnapshotEnd(), SnapshotEndJson(*visibility)});
  if (Status status = flush(); !status.ok()) return fail(status);

  std::vector<std::function<void(Result<std::shared_ptr<Shape>>)>> on_ready;
  {
    std::unique_lock lock(mu_);
    if (shape->state() == Shape::State::kGone) return;
    shape->visibility_ = *visibility;
    for (auto& buffered : shape->buffered_) {
      if (buffered.lsn < visibility->wal_lsn && visibility->Visible(buffered.xid)) continue;
      if (Status status = shape->log_->Append(buffered.messages); !status.ok()) {
        RotateLocked(shape, "could not append: " + status.message());
        lock.unlock();
        RunDeferred();
        return;
      }
    }
    shape->buffered_.clear();
    shape->buffered_.shrink_to_fit();
    shape->dirty_ = true;
    std::lock_guard shape_lock(shape->mu_);
    shape->state_ = Shape::State::kLive;
    shape->last_offset_ = shape->log_->last_offset();
    on_ready.swap(shape->on_ready_);
    stats_.snapshot_rows += row_number;
  }
  spdlog::info("shapes: {} ready ({} rows of {})", shape->handle_, row_number,
               QuotedTableName(table.name));
  for (auto& callback : on_ready) callback(shape);
  shape->Notify();
}

void ShapeManager::RunSubset(std::shared_ptr<Shape> shape, const SubsetRequest& subset,
                             std::function<void(Result<std::string>, FieldErrors)> done) {
  Post([this, shape, subset, done = std::move(done)] {
    FieldErrors errors;
    const ShapeDefinition& def = shape->definition_;
    const TableInfo& table = *def.table;
    const auto columns = table.WhereColumns();
    std::string where_sql = def.WhereSql();
    if (subset.where && !subset.where->empty()) {
      auto compiled = where::Compile(*subset.where, subset.params, columns);
      if (!compiled.ok()) {
        errors.subset["where"].push_back(compiled.status().message());
        return done(InvalidArgument("subset"), errors);
      }
      if (!where_sql.empty()) where_sql.append(" AND ");
      where_sql.append("(" + (*compiled)->sql() + ")");
    }
    std::string tail;
    if (subset.order_by) {
      auto order = where::CompileOrderBy(*subset.order_by, columns);
      if (!order.ok()) {
        errors.subset["order_by"].push_back(order.status().message());
        return done(InvalidArgument("subset"), errors);
      }
      tail = " ORDER BY " + *order;
    }
    if (subset.limit) tail.append(" LIMIT " + std::to_string(*subset.limit));
    if (subset.offset) tail.append(" OFFSET " + std::to_string(*subset.offset));

    auto connection = WorkerConnection(options_.conninfo);
    if (!connection.ok()) return done(connection.status(), errors);
    SnapshotQuery query;
    query.table = &table;
    std::set<int> cols(def.selected.begin(), def.selected.end());
    for (int k : shape->layout_.key) cols.insert(k);
    query.columns.assign(cols.begin(), cols.end());
    query.where_sql = where_sql;
    query.tail_sql = tail;
    static thread_local std::mt19937 random{std::random_device{}()};
    const int64_t mark = std::uniform_int_distribution<int64_t>(0, (1LL << 31) - 1)(random);
    std::string data;
    auto visibility = RunSnapshot(**connection, query, [&](shape::RowText row) -> Status {
      if (!data.empty()) data.push_back(',');
      shape::AppendSnapshotInsert(shape->layout_, row, mark, &data);
      return Status::Ok();
    });
    if (!visibility.ok()) {
      if (visibility.status().code() == StatusCode::kUnavailable) {
        t_connection.reset();
        return done(visibility.status(), errors);
      }
      errors.subset["where"].push_back(visibility.status().message());
      return done(InvalidArgument("subset"), errors);
    }
    std::string body = "{\"metadata\":{\"xmin\":\"" + std::to_string(visibility->xmin) +
                       "\",\"xmax\":\"" + std::to_string(visibility->xmax) +
                       "\",\"xip_list\":" + visibility->XipJson() +
                       ",\"snapshot_mark\":" + std::to_string(mark) + ",\"database_lsn\":\"" +
                       std::to_string(visibility->wal_lsn) + "\"},\"data\":[" + data + "]}";
    done(std::move(body), errors);
  });
}

// ---- the router ----

void ShapeManager::RunRouter() {
  while (!stopping_.load()) {
    RunDeferred();
    auto next = reader_->Next(std::chrono::milliseconds(200));
    std::lock_guard lock(mu_);
    if (!next.ok()) {
      if (stopping_.load() || next.status().code() == StatusCode::kAborted) break;
      spdlog::error("shapes: reading the change log failed: {}; every shape starts over",
                    next.status().ToString());
      auto shapes = by_handle_;
      for (auto& [handle, shape] : shapes) RotateLocked(shape, "the change log failed");
      Position newest;
      if (auto last = log_.LastDurableCommit()) newest = {last->commit_lsn, last->change_count};
      auto reader = log_.NewReader(newest);
      if (!reader.ok()) break;
      reader_ = std::move(*reader);
      position_ = newest;
      txn_changes_.clear();
      pending_.clear();
      continue;
    }
    if (*next) {
      log::LogEntry& entry = **next;
      if (entry.kind == log::LogEntry::Kind::kChange) {
        RouteChangeLocked(entry);
      } else {
        FinishTransactionLocked(entry.commit);
      }
    }
    if (txn_changes_.empty() && SteadyClock::now() - last_housekeeping_ >= kHousekeepingInterval) {
      HousekeepLocked();
    }
  }
  RunDeferred();
}

void ShapeManager::RouteChangeLocked(const log::LogEntry& entry) {
  const Change& change = entry.change;
  if (!change.table) return;
  auto it = by_table_.find({change.table->schema, change.table->name});
  if (it == by_table_.end()) return;
  TableShapes& slot = *it->second;

  // Every shape of the table, as owners (RotateLocked edits the index being walked).
  auto shapes_of = [&](const std::vector<Shape*>& raw) {
    std::vector<std::shared_ptr<Shape>> shapes;
    for (Shape* shape : raw) {
      if (auto owner = by_handle_.find(shape->handle_); owner != by_handle_.end()) {
        shapes.push_back(owner->second);
      }
    }
    return shapes;
  };
  const RelationName table_name{change.table->schema, change.table->name};
  if (change.op == Op::kTruncate) {
    ForgetTable(table_name);
    for (auto& shape : shapes_of(slot.all)) RotateLocked(shape, "the table was truncated");
    return;
  }
  // Schema changes end shapes: checked once per table version, and once for each new shape.
  const bool new_version = slot.checked_relation != change.table->relation_id.value() ||
                           slot.checked_version != change.table->schema_version;
  if (new_version || !slot.unchecked.empty()) {
    auto to_check = shapes_of(new_version ? slot.all : slot.unchecked);
    slot.checked_relation = change.table->relation_id.value();
    slot.checked_version = change.table->schema_version;
    slot.unchecked.clear();
    bool changed = false;
    for (auto& shape : to_check) {
      if (!SameColumns(*change.table, *shape->definition_.table)) {
        RotateLocked(shape, "the table's columns changed");
        changed = true;
      }
    }
    if (changed) {
      ForgetTable(table_name);
      it = by_table_.find({change.table->schema, change.table->name});
      if (it == by_table_.end()) return;
    }
  }
  TableShapes& live_slot = *it->second;

  std::vector<std::optional<std::string_view>> new_values;
  std::vector<std::optional<std::string_view>> old_values;
  const bool has_new = change.op != Op::kDelete;
  const bool old_full = change.old_kind == OldRow::kFull;
  if (has_new) NewRowValues(change, &new_values);
  if (change.old_kind != OldRow::kNone) OldRowValues(change, &old_values);

  std::vector<Shape*> candidates(live_slot.scan.begin(), live_slot.scan.end());
  for (auto& entry : live_slot.index) {
    // Named, not structured bindings: lambdas capture those only from C++20 compilers newer
    // than clang 14 (the TSan preset).
    const where::IndexPath& path = entry.first;
    auto& values = entry.second;
    auto lookup = [&](const std::vector<std::optional<std::string_view>>& row) {
      if (row.empty()) return;
      if (auto value = where::IndexValue(path, row)) {
        if (auto hit = values.find(*value); hit != values.end()) {
          candidates.insert(candidates.end(), hit->second.begin(), hit->second.end());
        }
      }
    };
    if (has_new) lookup(new_values);
    if (old_full || (change.old_kind == OldRow::kKey)) lookup(old_values);
    if (change.op == Op::kDelete && !old_full) {
      // Without the old row, a delete may leave any shape filtered on other columns.
      for (auto& [value, shapes] : values) {
        candidates.insert(candidates.end(), shapes.begin(), shapes.end());
      }
    }
  }
  if (candidates.empty()) return;
  std::sort(candidates.begin(), candidates.end());
  candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());

  bool used = false;
  const size_t change_index = txn_changes_.size();
  for (Shape* shape : candidates) {
    const ShapeDefinition& def = shape->definition_;
    const bool new_in = has_new && def.Matches(new_values);
    bool old_in = false;
    if (change.op == Op::kUpdate) {
      old_in = old_full ? def.Matches(old_values) : new_in;
    } else if (change.op == Op::kDelete) {
      old_in = old_full ? def.Matches(old_values) : true;
    }
    if (!new_in && !old_in) continue;
    pending_.push_back({shape, change_index, old_in, new_in});
    used = true;
  }
  if (used) txn_changes_.push_back(change);
}

void ShapeManager::FinishTransactionLocked(const Commit& commit) {
  position_ = Position{commit.commit_lsn, commit.change_count};
  last_seen_lsn_.store(commit.commit_lsn.value());
  if (pending_.empty()) {
    txn_changes_.clear();
    return;
  }
  // Group by shape, keeping each shape's changes in order.
  std::stable_sort(
      pending_.begin(), pending_.end(),
      [](const PendingChange& a, const PendingChange& b) { return a.shape < b.shape; });
  std::vector<std::shared_ptr<Shape>> notify;
  std::vector<shape::LogMessage> messages;
  for (size_t i = 0; i < pending_.size();) {
    Shape* shape = pending_[i].shape;
    size_t end = i;
    while (end < pending_.size() && pending_[end].shape == shape) ++end;
    messages.clear();
    for (size_t j = i; j < end; ++j) {
      const Change& change = txn_changes_[pending_[j].change];
      shape::LiveChange live;
      live.change = &change;
      live.old_in_shape = pending_[j].old_in;
      live.new_in_shape = pending_[j].new_in;
      live.lsn = commit.commit_lsn.value();
      live.xid = commit.xid.value();
      live.op_position = uint64_t{change.position.index} * 2;
      live.last = false;  // set below on whichever message is last for this shape
      shape::RenderLive(shape->layout_, live, &messages);
    }
    i = end;
    if (messages.empty()) continue;
    // Every message ends with "}}" (headers, then the message): "last" goes inside headers.
    std::string& final_json = messages.back().json;
    final_json.insert(final_json.size() - 2, ",\"last\":true");
    auto owner = by_handle_.find(shape->handle_);
    if (owner == by_handle_.end()) continue;
    std::shared_ptr<Shape> shared = owner->second;
    if (shape->state() == Shape::State::kSnapshotting) {
      shape->buffered_.push_back({commit.xid.value(), commit.commit_lsn.value(), messages});
      continue;
    }
    const SnapshotVisibility& v = shape->visibility_;
    if (commit.commit_lsn.value() < v.wal_lsn && v.Visible(commit.xid.value())) continue;
    if (shape->released_) shape->released_ = false;
    if (Status status = shape->log_->Append(messages); !status.ok()) {
      RotateLocked(shared, "could not append: " + status.message());
      continue;
    }
    {
      std::lock_guard shape_lock(shape->mu_);
      shape->last_offset_ = messages.back().offset;
    }
    shape->dirty_ = true;
    stats_.changes_routed++;
    stats_.messages_appended += messages.size();
    notify.push_back(std::move(shared));
  }
  pending_.clear();
  txn_changes_.clear();
  for (auto& shape : notify) QueueNotify(std::move(shape));
}

// ---- persistence ----

namespace {

std::string MetaJson(const Shape& shape, const ShapeDefinition& def, const SnapshotVisibility& v,
                     const Position& position, uint64_t valid_bytes) {
  std::string j = "{\"handle\":";
  AppendJsonString(shape.handle(), &j);
  j.append(",\"schema\":");
  AppendJsonString(def.table->name.schema, &j);
  j.append(",\"table\":");
  AppendJsonString(def.table->name.name, &j);
  j.append(",\"oid\":" + std::to_string(def.table->oid));
  j.append(",\"replica_identity\":\"" + std::string(1, def.table->replica_identity) + "\"");
  j.append(",\"where\":");
  if (def.where) {
    AppendJsonString(*def.where, &j);
  } else {
    j.append("null");
  }
  j.append(",\"params\":{");
  bool first = true;
  for (const auto& [k, val] : def.params) {
    if (!first) j.push_back(',');
    first = false;
    AppendJsonString(k, &j);
    j.push_back(':');
    AppendJsonString(val, &j);
  }
  j.append("},\"row_rule_column\":");
  if (def.row_rule_column) {
    AppendJsonString(*def.row_rule_column, &j);
  } else {
    j.append("null");
  }
  j.append(",\"row_rule_value\":");
  AppendJsonString(def.row_rule_value, &j);
  j.append(",\"selected\":[");
  for (size_t i = 0; i < def.selected.size(); ++i) {
    if (i > 0) j.push_back(',');
    j.append(std::to_string(def.selected[i]));
  }
  j.append("],\"explicit_columns\":");
  j.append(def.explicit_columns ? "true" : "false");
  j.append(",\"replica_full\":");
  j.append(def.replica_full ? "true" : "false");
  j.append(",\"changes_only\":");
  j.append(def.changes_only ? "true" : "false");
  j.append(",\"columns\":[");
  for (size_t i = 0; i < def.table->columns.size(); ++i) {
    const ColumnInfo& c = def.table->columns[i];
    if (i > 0) j.push_back(',');
    j.append("{\"name\":");
    AppendJsonString(c.name, &j);
    j.append(",\"type\":");
    AppendJsonString(c.type_name, &j);
    j.append(",\"element\":");
    AppendJsonString(c.element_type_name, &j);
    j.append(",\"enum\":" + std::string(c.is_enum ? "true" : "false"));
    j.append(",\"dims\":" + std::to_string(c.dims));
    j.append(",\"typmod\":" + std::to_string(c.type_modifier));
    j.append(",\"not_null\":" + std::string(c.not_null ? "true" : "false"));
    j.append(",\"pk\":" + std::to_string(c.pk_index) + "}");
  }
  j.append("],\"xmin\":" + std::to_string(v.xmin) + ",\"xmax\":" + std::to_string(v.xmax) +
           ",\"xip\":[");
  for (size_t i = 0; i < v.xip.size(); ++i) {
    if (i > 0) j.push_back(',');
    j.append(std::to_string(v.xip[i]));
  }
  j.append("],\"wal_lsn\":" + std::to_string(v.wal_lsn) + ",\"position\":");
  AppendJsonString(position.ToString(), &j);
  j.append(",\"valid_bytes\":" + std::to_string(valid_bytes) + "}");
  return j;
}

}  // namespace

void ShapeManager::Checkpoint() {
  struct Entry {
    std::string handle;
    Position position;
    uint64_t bytes = 0;
  };
  struct Meta {
    std::string path;
    std::string json;
  };
  std::vector<Entry> entries;
  std::vector<Meta> metas;
  std::vector<std::shared_ptr<Shape>> written;
  Position global;
  {
    std::lock_guard lock(mu_);
    bool any_dirty = false;
    for (auto& [handle, shape] : by_handle_) any_dirty |= shape->dirty_;
    if (!any_dirty && position_ == checkpointed_) return;
    global = position_;
    entries.reserve(by_handle_.size());
    for (auto& [handle, shape] : by_handle_) {
      if (shape->state() != Shape::State::kLive) continue;
      if (shape->dirty_) {
        shape->position_ = position_;
        shape->checkpoint_bytes_ = shape->log_->size_bytes();
        shape->dirty_ = false;
        written.push_back(shape);
      }
      if (!shape->meta_written_) {
        metas.push_back(
            {shape->dir_ + "/meta.json", MetaJson(*shape, shape->definition_, shape->visibility_,
                                                  shape->position_, shape->checkpoint_bytes_)});
        shape->meta_written_ = true;
      }
      entries.push_back({handle, shape->position_, shape->checkpoint_bytes_});
    }
  }
  // Outside the lock, so the router goes on: the definitions, then ONE syncfs for every shape
  // log and meta file (not an fdatasync per shape), then the manifest that points into them.
  Status status;
  for (const Meta& meta : metas) {
    if (status.ok()) status = WriteFileAtomically(meta.path, meta.json);
  }
  if (status.ok()) {
    const int dir_fd = ::open(options_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0 || ::syncfs(dir_fd) != 0) {
      status = IoError("shapes: syncfs of " + options_.dir + " failed: " + std::strerror(errno));
    }
    if (dir_fd >= 0) ::close(dir_fd);
  }
  if (status.ok()) {
    std::string json = "{\"position\":";
    AppendJsonString(global.ToString(), &json);
    json.append(",\"shapes\":{");
    for (size_t i = 0; i < entries.size(); ++i) {
      if (i > 0) json.push_back(',');
      AppendJsonString(entries[i].handle, &json);
      json.append(":[");
      AppendJsonString(entries[i].position.ToString(), &json);
      json.append("," + std::to_string(entries[i].bytes) + "]");
    }
    json.append("}}");
    status = WriteFileAtomically(options_.dir + "/manifest.json", json);
  }
  std::lock_guard lock(mu_);
  if (!status.ok()) {
    spdlog::warn("shapes: checkpoint failed, retried in a second: {}", status.ToString());
    for (auto& shape : written) shape->dirty_ = true;
    for (auto& [handle, shape] : by_handle_) {
      if (!shape->dirty_ && shape->state() == Shape::State::kLive) shape->dirty_ = true;
    }
    return;
  }
  checkpointed_ = global;
}

void ShapeManager::RunCheckpoints() {
  std::unique_lock lock(checkpoint_mu_);
  while (!stopping_.load()) {
    checkpoint_cv_.wait_for(lock, kCheckpointInterval);
    if (stopping_.load()) break;
    lock.unlock();
    Checkpoint();
    lock.lock();
  }
}

void ShapeManager::HousekeepLocked() {
  last_housekeeping_ = SteadyClock::now();
  const int64_t now = NowSeconds();
  std::vector<std::shared_ptr<Shape>> live;
  for (auto& [handle, shape] : by_handle_) {
    if (shape->state() == Shape::State::kLive) live.push_back(shape);
  }
  uint64_t disk = 0;
  for (auto& shape : live) {
    const int64_t idle = now - shape->last_used_s_.load();
    if (options_.remove_after.count() > 0 && idle > options_.remove_after.count()) {
      RotateLocked(shape, "unread for longer than shapes.remove_after_s");
      stats_.evictions++;
      continue;
    }
    if (!shape->dirty_ && !shape->released_ && idle > options_.release_after.count()) {
      shape->log_->Release();
      shape->released_ = true;
    }
    disk += shape->log_->size_bytes();
  }
  // Budgets: the least recently read shapes go first.
  std::sort(live.begin(), live.end(), [](const auto& a, const auto& b) {
    return a->last_used_s_.load() < b->last_used_s_.load();
  });
  size_t count = by_handle_.size();
  for (auto& shape : live) {
    const bool over_count = options_.max_shapes > 0 && count > options_.max_shapes;
    const bool over_disk = options_.max_disk_bytes > 0 && disk > options_.max_disk_bytes;
    if (!over_count && !over_disk) break;
    if (shape->state() == Shape::State::kGone) continue;
    disk -= std::min(disk, shape->log_->size_bytes());
    RotateLocked(shape, "evicted by the shapes budget (shapes.max_shapes / shapes.max_disk_mb)");
    stats_.evictions++;
    --count;
  }
}

Status ShapeManager::LoadShapes() {
  std::error_code ec;
  std::lock_guard lock(mu_);
  // The manifest (see Checkpoint): every shape's log is complete up to its global position, and
  // per shape the position and bytes of its last checkpoint.
  Position checkpoint;
  std::map<std::string, std::pair<Position, uint64_t>> manifest;
  {
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    std::string_view text;
    if (!parser.load(options_.dir + "/manifest.json").get(root) && !root["position"].get(text)) {
      if (auto position = Position::Parse(text)) checkpoint = *position;
      simdjson::dom::object shapes;
      if (!root["shapes"].get(shapes)) {
        for (auto field : shapes) {
          simdjson::dom::array entry;
          std::string_view pos;
          uint64_t bytes = 0;
          if (field.value.get(entry) || entry.at(0).get(pos) || entry.at(1).get(bytes)) continue;
          if (auto parsed = Position::Parse(pos)) {
            manifest[std::string(field.key)] = {*parsed, bytes};
          }
        }
      }
    }
  }
  for (const auto& dirent : fs::directory_iterator(options_.dir, ec)) {
    if (!dirent.is_directory()) continue;
    const std::string dir = dirent.path().string();
    if (dirent.path().filename().string().ends_with(".tmp")) continue;
    const std::string meta_path = dir + "/meta.json";
    simdjson::dom::parser parser;
    simdjson::dom::element meta;
    if (!fs::exists(meta_path) || parser.load(meta_path).get(meta)) {
      // Never completed its snapshot: nothing to resume.
      fs::remove_all(dir, ec);
      continue;
    }
    auto shape = std::make_shared<Shape>();
    auto table = std::make_shared<TableInfo>();
    ShapeDefinition def;
    try {
      shape->handle_ = std::string(std::string_view(meta["handle"]));
      table->name.schema = std::string(std::string_view(meta["schema"]));
      table->name.name = std::string(std::string_view(meta["table"]));
      table->oid = static_cast<uint32_t>(int64_t(meta["oid"]));
      table->replica_identity = std::string_view(meta["replica_identity"])[0];
      for (auto c : meta["columns"].get_array()) {
        ColumnInfo column;
        column.name = std::string(std::string_view(c["name"]));
        column.type_name = std::string(std::string_view(c["type"]));
        column.element_type_name = std::string(std::string_view(c["element"]));
        column.is_enum = bool(c["enum"]);
        column.dims = static_cast<int>(int64_t(c["dims"]));
        column.type_modifier = static_cast<int32_t>(int64_t(c["typmod"]));
        column.not_null = bool(c["not_null"]);
        column.pk_index = static_cast<int>(int64_t(c["pk"]));
        table->columns.push_back(std::move(column));
      }
      std::vector<std::pair<int, int>> key;
      for (size_t i = 0; i < table->columns.size(); ++i) {
        if (table->columns[i].pk_index >= 0) {
          key.emplace_back(table->columns[i].pk_index, static_cast<int>(i));
        }
      }
      std::sort(key.begin(), key.end());
      for (auto& [pos, index] : key) table->primary_key.push_back(index);
      def.table = table;
      if (!meta["where"].is_null()) def.where = std::string(std::string_view(meta["where"]));
      for (auto field : meta["params"].get_object()) {
        def.params[std::string(field.key)] = std::string(std::string_view(field.value));
      }
      if (!meta["row_rule_column"].is_null()) {
        def.row_rule_column = std::string(std::string_view(meta["row_rule_column"]));
        def.row_rule_value = std::string(std::string_view(meta["row_rule_value"]));
      }
      for (auto s : meta["selected"].get_array()) def.selected.push_back(int(int64_t(s)));
      def.explicit_columns = bool(meta["explicit_columns"]);
      def.replica_full = bool(meta["replica_full"]);
      def.changes_only = bool(meta["changes_only"]);
      shape->visibility_.xmin = uint64_t(meta["xmin"]);
      shape->visibility_.xmax = uint64_t(meta["xmax"]);
      for (auto x : meta["xip"].get_array()) shape->visibility_.xip.push_back(uint64_t(x));
      shape->visibility_.wal_lsn = uint64_t(meta["wal_lsn"]);
      auto position = Position::Parse(std::string_view(meta["position"]));
      if (!position) throw std::runtime_error("bad position");
      uint64_t valid_bytes = uint64_t(meta["valid_bytes"]);
      if (auto entry = manifest.find(shape->handle_); entry != manifest.end()) {
        position = entry->second.first;
        valid_bytes = entry->second.second;
      }
      shape->position_ = std::max(*position, checkpoint);
      shape->checkpoint_bytes_ = valid_bytes;
      shape->meta_written_ = true;
      const auto columns = table->WhereColumns();
      if (def.where) {
        auto filter = where::Compile(*def.where, def.params, columns);
        if (!filter.ok()) throw std::runtime_error(filter.status().message());
        def.filter = *filter;
      }
      if (def.row_rule_column) {
        auto rule = where::Compile(pg::Connection::QuoteIdent(*def.row_rule_column) + " = $1",
                                   {{"1", def.row_rule_value}}, columns);
        if (!rule.ok()) throw std::runtime_error(rule.status().message());
        def.row_rule = *rule;
      }
      auto log = shape::ShapeLog::Open({dir + "/log", options_.chunk_bytes, valid_bytes});
      if (!log.ok()) throw std::runtime_error(log.status().ToString());
      shape->log_ = std::move(*log);
    } catch (const std::exception& e) {
      spdlog::warn("shapes: {} could not be loaded ({}): removed; its clients start over", dir,
                   e.what());
      fs::remove_all(dir, ec);
      continue;
    }
    shape->definition_ = def;
    shape->identity_ = def.Identity();
    shape->dir_ = dir;
    shape->layout_.schema = table->name.schema;
    shape->layout_.table = table->name.name;
    for (const auto& c : table->columns) shape->layout_.column_names.push_back(c.name);
    shape->layout_.selected = def.selected;
    if (!table->primary_key.empty()) {
      shape->layout_.key = table->primary_key;
    } else {
      std::vector<int> all(table->columns.size());
      for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
      std::sort(all.begin(), all.end(),
                [&](int a, int b) { return table->columns[a].name < table->columns[b].name; });
      shape->layout_.key = all;
    }
    shape->layout_.replica_full = def.replica_full;
    shape->schema_json_ = SchemaHeaderJson(*table, def.selected);
    shape->state_ = Shape::State::kLive;
    shape->last_offset_ = shape->log_->last_offset();
    shape->Touch();
    by_handle_[shape->handle_] = shape;
    by_identity_[shape->identity_] = shape;
    AddToIndexLocked(shape);
  }
  if (!by_handle_.empty()) spdlog::info("shapes: {} shapes resumed", by_handle_.size());
  return Status::Ok();
}

// ---- metrics ----

ManagerStats ShapeManager::Stats() const {
  std::lock_guard lock(mu_);
  ManagerStats stats = stats_;
  stats.shapes = by_handle_.size();
  for (auto& [handle, shape] : by_handle_) {
    if (shape->released_) stats.shapes_released++;
    if (shape->log_) stats.disk_bytes += shape->log_->size_bytes();
    std::lock_guard shape_lock(shape->mu_);
    stats.waiters += shape->waiters_.size() + shape->listeners_.size();
  }
  return stats;
}

std::string ShapeManager::MetricsText() const {
  const ManagerStats s = Stats();
  std::string text;
  auto gauge = [&](const char* name, const char* help, uint64_t value, const char* type) {
    text.append(std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type +
                "\n" + name + " " + std::to_string(value) + "\n");
  };
  gauge("eddy_shapes", "Shapes held (live or snapshotting).", s.shapes, "gauge");
  gauge("eddy_shapes_released", "Shapes whose files are closed while idle.", s.shapes_released,
        "gauge");
  gauge("eddy_shapes_disk_bytes", "Bytes of every shape log.", s.disk_bytes, "gauge");
  gauge("eddy_shapes_waiting_requests", "Live requests waiting for a shape.", s.waiters, "gauge");
  gauge("eddy_shapes_changes_routed_total", "Changes appended to at least one shape.",
        s.changes_routed, "counter");
  gauge("eddy_shapes_messages_total", "Messages appended to shape logs.", s.messages_appended,
        "counter");
  gauge("eddy_shapes_rotations_total", "Shapes ended (truncate, schema change, delete, budget).",
        s.rotations, "counter");
  gauge("eddy_shapes_evictions_total", "Shapes removed by age or by the budget.", s.evictions,
        "counter");
  gauge("eddy_shapes_snapshots_total", "Snapshots started.", s.snapshots, "counter");
  gauge("eddy_shapes_snapshot_rows_total", "Rows written by snapshots.", s.snapshot_rows,
        "counter");
  return text;
}

}  // namespace eddy::shapes
