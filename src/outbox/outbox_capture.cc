#include "outbox/outbox_capture.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <set>
#include <unordered_map>

#include <fmt/format.h>
#include <libpq-fe.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "capture/leader_lock.h"
#include "capture/reconnect_backoff.h"
#include "capture/relation_cache.h"
#include "capture/type_resolver.h"
#include "outbox/change_builder.h"
#include "outbox/outbox_sql.h"
#include "outbox/trigger_installer.h"
#include "pg/connection.h"
#include "pgoutput/messages.h"

namespace eddy::outbox {

namespace {
int64_t ParseI64(std::string_view s) {
  int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// The first wait for transactions that were in progress when the doorbell was armed; it doubles
// while none of them finishes, up to triggers.poll_ms.
constexpr int kFirstSettleWaitMs = 2;

bool Retryable(const Status& s) {
  return s.code() != StatusCode::kDataLoss && s.code() != StatusCode::kFailedPrecondition &&
         s.code() != StatusCode::kInvalidArgument && s.code() != StatusCode::kCorruption &&
         s.code() != StatusCode::kIoError;
}

// A PostgreSQL array literal of simple tokens (numbers, ctids): "{1,2,3}".
std::string ArrayLiteral(const std::vector<std::string>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    // ctids look like (0,1): quote every element.
    out += '"';
    out += items[i];
    out += '"';
  }
  out += '}';
  return out;
}
}  // namespace

// What lives as long as Run() (kept across reconnects).
struct OutboxCapture::Session {
  explicit Session(const OutboxOptions& options)
      : lock(options.conninfo, "triggers:" + options.triggers.schema),
        types(nullptr),
        relations(types) {}
  capture::LeaderLock lock;
  capture::CatalogTypeResolver types;
  capture::RelationCache relations;
};

OutboxCapture::OutboxCapture(OutboxOptions options, capture::ChangeSink& sink,
                             std::optional<Commit> last_commit, Clock& clock)
    : options_(std::move(options)),
      sink_(sink),
      clock_(clock),
      last_commit_(last_commit),
      journal_(options_.journal_path, options_.fsync) {
  // Synthetic commit LSNs continue after the log's last commit: commit_lsn, end_lsn =
  // commit_lsn + 1, and the next transaction's commit_lsn is that end_lsn.
  next_lsn_ = last_commit ? std::max(last_commit->end_lsn, Lsn(last_commit->commit_lsn.value() + 1))
                          : Lsn(1);
  durable_end_ = last_commit ? last_commit->end_lsn.value() : 0;
  state_.durable = Lsn(durable_end_.load());
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

OutboxCapture::~OutboxCapture() {
  Stop();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void OutboxCapture::SeedTables(const std::vector<std::shared_ptr<const Table>>& tables) {
  seed_tables_ = tables;
}

void OutboxCapture::Wake() {
  if (wake_fd_ < 0) return;
  uint64_t one = 1;
  ssize_t n = ::write(wake_fd_, &one, sizeof(one));
  (void)n;  // EAGAIN: already signalled
}

void OutboxCapture::Stop() {
  stop_ = true;
  Wake();
}

void OutboxCapture::NotifyDurable(Lsn end_lsn) {
  uint64_t prev = durable_end_.load();
  while (end_lsn.value() > prev && !durable_end_.compare_exchange_weak(prev, end_lsn.value())) {
  }
  Wake();
}

capture::CaptureState OutboxCapture::State() const {
  std::lock_guard<std::mutex> lock(mutex_);
  capture::CaptureState s = state_;
  s.durable = Lsn(durable_end_.load());
  return s;
}

bool OutboxCapture::Sleep(int ms) {
  pollfd fd{wake_fd_, POLLIN, 0};
  const int64_t deadline = clock_.NowSteadyMicros() + int64_t{ms} * 1000;
  while (!stop_) {
    const int64_t left_ms = (deadline - clock_.NowSteadyMicros()) / 1000;
    if (left_ms <= 0) break;
    if (::poll(&fd, 1, static_cast<int>(left_ms)) > 0) {
      uint64_t v;
      ssize_t n = ::read(wake_fd_, &v, sizeof(v));
      (void)n;
    }
  }
  return !stop_;
}

Status OutboxCapture::Run() {
  if (wake_fd_ < 0) return Internal("outbox capture: eventfd failed");
  Session session(options_);
  for (const auto& t : seed_tables_) session.relations.Seed(t);
  if (options_.on_table_version) session.relations.SetVersionListener(options_.on_table_version);
  capture::ReconnectBackoff backoff(options_.reconnect_min_ms, options_.reconnect_max_ms);
  Status final_status = Status::Ok();
  while (!stop_) {
    auto held = session.lock.TryAcquire();
    if (!held.ok() || !*held) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        state_.role = capture::CaptureRole::kStandby;
        if (!held.ok()) state_.last_error = held.status().ToString();
      }
      Sleep(held.ok() ? options_.leader_poll_ms : backoff.delay_ms());
      if (!held.ok()) backoff.Waited();
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (state_.role != capture::CaptureRole::kLeader) {
        spdlog::info("capture: leader for outbox {}", OutboxTable(options_.triggers.schema));
      }
      state_.role = capture::CaptureRole::kLeader;
    }
    const int64_t started = clock_.NowSteadyMicros();
    Status s = RunSession(session);
    session.types.SetConnection(nullptr);
    Status discard = sink_.DiscardUncommitted();
    if (!discard.ok() && s.ok()) s = discard;
    if (stop_) break;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      state_.streaming = false;
      state_.last_error = s.ToString();
    }
    if (!Retryable(s)) {
      spdlog::error("capture stopped: {}", s.ToString());
      final_status = s;
      break;
    }
    backoff.SessionEnded(clock_.NowSteadyMicros() - started);
    spdlog::warn("capture: {} (reconnecting in {} ms)", s.ToString(), backoff.delay_ms());
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++state_.reconnects;
    }
    Sleep(backoff.delay_ms());
    backoff.Waited();
  }
  session.lock.Release();
  std::lock_guard<std::mutex> lock(mutex_);
  state_.role = final_status.ok() ? capture::CaptureRole::kStopped : capture::CaptureRole::kFailed;
  state_.streaming = false;
  return final_status;
}

Status OutboxCapture::RunSession(Session& session) {
  EDDY_ASSIGN_OR_RETURN(std::unique_ptr<pg::Connection> sql,
                        pg::Connection::Connect(options_.conninfo));
  const TriggerOptions& t = options_.triggers;
  TriggerInstaller installer(*sql, t, options_.tables);
  if (t.install) {
    EDDY_RETURN_IF_ERROR(installer.Install().status());
  } else {
    EDDY_ASSIGN_OR_RETURN(bool exists, installer.OutboxExists());
    if (!exists) {
      return FailedPrecondition(fmt::format(
          "triggers.install is off but the outbox {} does not exist: run eddy once with "
          "triggers.install = true (or --capture-mode triggers), or create it as docs/triggers.md "
          "shows",
          OutboxTable(t.schema)));
    }
  }
  session.types.SetConnection(sql.get());
  EDDY_RETURN_IF_ERROR(
      sql->Exec(fmt::format("LISTEN {}", pg::Connection::QuoteIdent(t.channel))).status());

  if (!recovered_) {
    // After a crash the journal names transactions that may be both in the log and still in the
    // outbox: those the log holds (commit LSN at or before its last durable commit) are deleted,
    // the others are read again.
    EDDY_ASSIGN_OR_RETURN(std::vector<BatchJournal::Entry> entries, journal_.Load());
    const Lsn durable_commit = last_commit_ ? last_commit_->commit_lsn : Lsn();
    for (BatchJournal::Entry& e : entries) {
      if (!last_commit_ || e.commit_lsn > durable_commit) continue;
      pending_.push_back(Pending{e.commit_lsn, std::move(e.xid), {}, {}});
    }
    if (!pending_.empty()) {
      spdlog::info("capture: {} outbox transaction(s) already in the log are deleted",
                   pending_.size());
    }
    recovered_ = true;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    state_.streaming = true;
    state_.last_error.clear();
  }
  spdlog::info("capture: streaming outbox {} (trigger mode, channel {})", OutboxTable(t.schema),
               t.channel);

  // Arming and the list of transactions then in progress, in one round trip: the second
  // statement's snapshot is taken after setval() returned.
  const std::string arm_sql = ArmDoorbellSql(t.schema) + ";\n" + InProgressXidsSql();
  bool armed = false;
  int64_t armed_at_us = 0;
  // Transactions in progress just after the last arm that have not finished since: each may have
  // read the doorbell before the arm (so it will not ring) and commit after a read's snapshot.
  // While there are any eddy waits briefly, not poll_ms (docs/triggers.md, The doorbell).
  std::vector<std::string> unsettled;
  int settle_wait_ms = kFirstSettleWaitMs;
  int64_t last_lock_check_us = clock_.NowSteadyMicros();
  int64_t last_rescan_us = clock_.NowSteadyMicros();
  while (!stop_) {
    EDDY_RETURN_IF_ERROR(DeleteDurable(*sql));
    if (!armed) {
      // Armed before the read: a transaction that reads the doorbell after this rings, or
      // another one that read it after this does (or rolled back: then the poll bounds the wait).
      EDDY_ASSIGN_OR_RETURN(pg::QueryResult in_progress, sql->Exec(arm_sql));
      std::vector<std::string> was = std::move(unsettled);
      unsettled.clear();
      bool new_ones = false;
      for (int r = 0; r < in_progress.rows(); ++r) {
        unsettled.emplace_back(in_progress.Get(r, 0));
        new_ones = new_ones || std::find(was.begin(), was.end(), unsettled.back()) == was.end();
      }
      // Only the same long transactions as before: keep their backed-off wait.
      if (new_ones) settle_wait_ms = kFirstSettleWaitMs;
      armed = true;
      armed_at_us = clock_.NowSteadyMicros();
    }
    EDDY_ASSIGN_OR_RETURN(int appended, ReadAndAppend(session, *sql));
    // A NOTIFY during the read means a writer took the doorbell: it is no longer armed, and no
    // later writer would ring it. Arm again and read instead of waiting for the poll.
    if (DrainNotifies(*sql)) armed = false;
    const int64_t now = clock_.NowSteadyMicros();
    if (now - last_lock_check_us > 2'000'000) {
      last_lock_check_us = now;
      if (!session.lock.StillHeld()) return Unavailable("lost the leader lock connection");
    }
    if (t.install && options_.tables.empty() &&
        now - last_rescan_us > int64_t{options_.rescan_ms} * 1000) {
      last_rescan_us = now;
      EDDY_RETURN_IF_ERROR(installer.InstallMissing().status());
    }
    if (appended > 0 || !armed) continue;  // more may have committed meanwhile
    const int wait_ms = unsettled.empty() ? t.poll_ms : std::min(settle_wait_ms, t.poll_ms);
    EDDY_ASSIGN_OR_RETURN(bool rang, WaitForDoorbell(*sql, wait_ms));
    const int64_t after_wait = clock_.NowSteadyMicros();
    // Rung: arm again. Armed for poll_ms without a ring: arm again too (a ringer may have rolled
    // back). A Wake() (durable progress, stop) leaves the doorbell armed.
    if (rang || after_wait - armed_at_us >= int64_t{t.poll_ms} * 1000) {
      armed = false;
      continue;
    }
    if (!unsettled.empty()) {
      const size_t before = unsettled.size();
      EDDY_ASSIGN_OR_RETURN(unsettled, StillInProgress(*sql, unsettled));
      // None finished during a whole wait: a longer transaction; ask less often.
      if (unsettled.size() == before && after_wait - now >= int64_t{wait_ms} * 1000) {
        settle_wait_ms = std::min(settle_wait_ms * 2, t.poll_ms);
      }
      // Read again: the rows of those that finished are visible now.
    }
  }
  return Status::Ok();
}

bool OutboxCapture::DrainNotifies(pg::Connection& connection) {
  bool any = false;
  PGconn* conn = connection.raw();
  PQconsumeInput(conn);
  while (PGnotify* n = PQnotifies(conn)) {
    any = true;
    PQfreemem(n);
  }
  return any;
}

Result<std::vector<std::string>> OutboxCapture::StillInProgress(
    pg::Connection& connection, const std::vector<std::string>& xids) {
  EDDY_ASSIGN_OR_RETURN(pg::QueryResult rows,
                        connection.ExecParams(StillInProgressSql(), {ArrayLiteral(xids)}));
  std::vector<std::string> out;
  out.reserve(static_cast<size_t>(rows.rows()));
  for (int r = 0; r < rows.rows(); ++r) out.emplace_back(rows.Get(r, 0));
  return out;
}

Result<bool> OutboxCapture::WaitForDoorbell(pg::Connection& connection, int ms) {
  PGconn* conn = connection.raw();
  if (DrainNotifies(connection)) return true;
  pollfd fds[2] = {{PQsocket(conn), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  const int ready = ::poll(fds, 2, ms);
  if (ready < 0) return false;  // EINTR: the loop comes round again
  if (fds[1].revents & POLLIN) {
    uint64_t v;
    ssize_t n = ::read(wake_fd_, &v, sizeof(v));
    (void)n;
  }
  if (fds[0].revents & (POLLIN | POLLERR | POLLHUP)) {
    if (PQconsumeInput(conn) == 0 || PQstatus(conn) != CONNECTION_OK) {
      return Unavailable(fmt::format("outbox connection lost: {}", PQerrorMessage(conn)));
    }
    return DrainNotifies(connection);
  }
  return false;
}

Status OutboxCapture::DeleteDurable(pg::Connection& connection) {
  const Lsn durable(durable_end_.load());
  std::vector<std::string> ctids, ids, xids;
  size_t done = 0;
  for (const Pending& p : pending_) {
    // end_lsn = commit_lsn + 1
    if (Lsn(p.commit_lsn.value() + 1) > durable) break;
    ++done;
    if (p.ctids.empty()) {
      xids.push_back(p.xid);
    } else {
      ctids.insert(ctids.end(), p.ctids.begin(), p.ctids.end());
      ids.insert(ids.end(), p.ids.begin(), p.ids.end());
    }
  }
  if (done == 0) return Status::Ok();
  const std::string table = OutboxTable(options_.triggers.schema);
  if (!ctids.empty()) {
    // A TID scan; the id check guards against a row moved by VACUUM FULL since the read.
    EDDY_RETURN_IF_ERROR(
        connection
            .ExecParams(fmt::format("DELETE FROM {} WHERE ctid = ANY ($1::tid[]) AND "
                                    "id = ANY ($2::int8[])",
                                    table),
                        {ArrayLiteral(ctids), ArrayLiteral(ids)})
            .status());
  }
  if (!xids.empty()) {
    EDDY_RETURN_IF_ERROR(
        connection
            .ExecParams(fmt::format("DELETE FROM {} WHERE xid = ANY ($1::xid8[])", table),
                        {ArrayLiteral(xids)})
            .status());
  }
  const Lsn confirmed(pending_[done - 1].commit_lsn.value() + 1);
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<long>(done));
  std::lock_guard<std::mutex> lock(mutex_);
  state_.confirmed = std::max(state_.confirmed, confirmed);
  return Status::Ok();
}

Result<int> OutboxCapture::ReadAndAppend(Session& session, pg::Connection& connection) {
  const std::string table = OutboxTable(options_.triggers.schema);
  std::vector<std::string> skip;
  skip.reserve(pending_.size());
  for (const Pending& p : pending_) skip.push_back(p.xid);
  // Whole transactions only (one statement sees one snapshot), ordered by their highest outbox
  // id: a transaction that changed a row after another committed wrote that change with a higher
  // id than any of the other's, so conflicting transactions keep their commit order.
  EDDY_ASSIGN_OR_RETURN(
      pg::QueryResult rows,
      connection.ExecParams(
          fmt::format(
              "WITH t AS (SELECT xid, max(id) AS last_id FROM {0} "
              "WHERE xid <> ALL ($1::xid8[]) GROUP BY xid ORDER BY last_id LIMIT $2) "
              "SELECT o.xid::text, o.id::text, o.ctid::text, o.rel::int8, o.op, "
              "(extract(epoch FROM o.at) * 1000000)::int8, o.old_row, o.new_row, o.settings "
              "FROM {0} o JOIN t ON t.xid = o.xid ORDER BY t.last_id, o.id",
              table),
          {ArrayLiteral(skip), std::to_string(options_.max_transactions_per_read)}));
  if (rows.rows() == 0) return 0;

  // Describe every table in the batch now, so a schema change shows as a new table version.
  std::set<std::string> rel_set;
  for (int r = 0; r < rows.rows(); ++r) rel_set.emplace(rows.Get(r, 3));
  std::vector<std::string> rels(rel_set.begin(), rel_set.end());
  EDDY_ASSIGN_OR_RETURN(
      pg::QueryResult desc,
      connection.ExecParams(
          "SELECT c.oid::int8, n.nspname, c.relname, c.relreplident, a.attname, "
          "a.atttypid::int8, a.atttypmod, a.attgenerated <> '', "
          "COALESCE(a.attnum = ANY (k.indkey::int2[]), false), "
          // The type whose output settings matter: an array's element type.
          "COALESCE(e.oid, t.oid)::int8, COALESCE(e.typtype, t.typtype) "
          "FROM pg_catalog.pg_class c "
          "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
          "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT "
          "a.attisdropped "
          "JOIN pg_catalog.pg_type t ON t.oid = a.atttypid "
          "LEFT JOIN pg_catalog.pg_type e ON e.oid = t.typelem AND t.typcategory = 'A' "
          "LEFT JOIN LATERAL (SELECT i.indkey FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid "
          "AND CASE WHEN c.relreplident = 'i' THEN i.indisreplident ELSE i.indisprimary END "
          "LIMIT 1) k ON true "
          "WHERE c.oid = ANY ($1::oid[]) ORDER BY c.oid, a.attnum",
          {ArrayLiteral(rels)}));
  std::unordered_map<int64_t, TableShape> shapes;
  // Per table: the settings some column's text depends on (SettingsTypePrintsUnder).
  std::unordered_map<int64_t, uint32_t> settings_used;
  {
    std::map<int64_t, std::pair<pgoutput::Relation, std::vector<bool>>> described;
    for (int r = 0; r < desc.rows(); ++r) {
      const int64_t oid = ParseI64(desc.Get(r, 0));
      auto& [relation, generated] = described[oid];
      relation.id = RelationId(static_cast<uint32_t>(oid));
      relation.schema = std::string(desc.Get(r, 1));
      relation.name = std::string(desc.Get(r, 2));
      relation.replica_identity = desc.Get(r, 3).empty() ? 'd' : desc.Get(r, 3)[0];
      const std::string_view typtype = desc.Get(r, 10);
      settings_used[oid] |= SettingsTypePrintsUnder(static_cast<uint32_t>(ParseI64(desc.Get(r, 9))),
                                                    typtype.empty() ? 'b' : typtype[0]);
      const bool is_generated = desc.Get(r, 7) == "t";
      generated.push_back(is_generated);
      if (is_generated) continue;  // pgoutput leaves generated columns out
      pgoutput::RelationColumn column;
      column.name = std::string(desc.Get(r, 4));
      column.type_oid = static_cast<uint32_t>(ParseI64(desc.Get(r, 5)));
      column.type_modifier = static_cast<int32_t>(ParseI64(desc.Get(r, 6)));
      // pgoutput flags the replica identity's columns: all under FULL (RelationCache then looks
      // the primary key up), the key's or index's otherwise, none under NOTHING.
      const char ident = relation.replica_identity;
      const bool flagged = ident == 'f' || (ident != 'n' && desc.Get(r, 8) == "t");
      column.flags = flagged ? 1 : 0;
      relation.columns.push_back(std::move(column));
    }
    for (auto& [oid, d] : described) {
      shapes[oid] = TableShape{session.relations.Apply(d.first), std::move(d.second)};
    }
  }

  // Rows printed under writer settings that change the text of one of their table's columns
  // are printed again under eddy's settings, in one statement for the batch.
  std::vector<std::string> reprint_ctids;
  for (int r = 0; r < rows.rows(); ++r) {
    auto used = settings_used.find(ParseI64(rows.Get(r, 3)));
    if (used != settings_used.end() &&
        (used->second & SettingsThatDiffer(rows.GetOptional(r, 8)))) {
      reprint_ctids.emplace_back(rows.Get(r, 2));
    }
  }
  pg::QueryResult reprinted(nullptr);
  std::unordered_map<std::string_view, int> reprinted_row;  // ctid -> row of `reprinted`
  if (!reprint_ctids.empty()) {
    const std::string fn = ReprintFunction(options_.triggers.schema);
    EDDY_ASSIGN_OR_RETURN(
        reprinted,
        connection.ExecParams(fmt::format("SELECT o.ctid::text, {1}(o.old_row, o.rel, o.settings), "
                                          "{1}(o.new_row, o.rel, o.settings) FROM {0} o "
                                          "WHERE o.ctid = ANY ($1::tid[])",
                                          table, fn),
                              {ArrayLiteral(reprint_ctids)}));
    for (int r = 0; r < reprinted.rows(); ++r) reprinted_row.emplace(reprinted.Get(r, 0), r);
  }
  // The row's text under eddy's settings: reprinted, or as written when reprinting failed (the
  // table changed since; logged once).
  auto row_text = [&](int r, int column) -> std::optional<std::string_view> {
    std::optional<std::string_view> written = rows.GetOptional(r, column);
    if (!written || reprinted_row.empty()) return written;
    auto at = reprinted_row.find(rows.Get(r, 2));
    if (at == reprinted_row.end()) return written;
    std::optional<std::string_view> text = reprinted.GetOptional(at->second, column == 6 ? 1 : 2);
    if (text) return text;
    if (!warned_reprint_) {
      warned_reprint_ = true;
      spdlog::warn(
          "capture: outbox row {} could not be printed again under eddy's settings (DateStyle, "
          "IntervalStyle, TimeZone, extra_float_digits, bytea_output): kept as the writer "
          "printed it ({})",
          rows.Get(r, 1), rows.Get(r, 8));
    }
    return written;
  };

  // Group rows into transactions; journal them before the first append.
  struct Txn {
    int first_row;
    int end_row;
    std::string xid;
  };
  std::vector<Txn> txns;
  for (int r = 0; r < rows.rows(); ++r) {
    if (txns.empty() || txns.back().xid != rows.Get(r, 0)) {
      txns.push_back(Txn{r, r, std::string(rows.Get(r, 0))});
    }
    txns.back().end_row = r + 1;
  }
  std::vector<BatchJournal::Entry> journal;
  journal.reserve(pending_.size() + txns.size());
  for (const Pending& p : pending_) journal.push_back({p.commit_lsn, p.xid});
  for (size_t i = 0; i < txns.size(); ++i) {
    journal.push_back({Lsn(next_lsn_.value() + i), txns[i].xid});
  }
  EDDY_RETURN_IF_ERROR(journal_.Store(journal));

  uint64_t changes = 0;
  for (const Txn& txn : txns) {
    const Lsn commit_lsn = next_lsn_;
    const uint64_t xid8 = static_cast<uint64_t>(ParseI64(txn.xid));
    const Xid xid(static_cast<uint32_t>(xid8 & 0xFFFFFFFFu));
    int64_t commit_time_us = 0;
    for (int r = txn.first_row; r < txn.end_row; ++r) {
      commit_time_us = std::max(commit_time_us, ParseI64(rows.Get(r, 5)));
    }
    Pending pending{commit_lsn, txn.xid, {}, {}};
    uint32_t index = 0;
    for (int r = txn.first_row; r < txn.end_row; ++r) {
      pending.ids.emplace_back(rows.Get(r, 1));
      pending.ctids.emplace_back(rows.Get(r, 2));
      auto shape = shapes.find(ParseI64(rows.Get(r, 3)));
      if (shape == shapes.end()) {
        spdlog::warn("capture: outbox row {} names table OID {}, which no longer exists: skipped",
                     rows.Get(r, 1), rows.Get(r, 3));
        continue;
      }
      const std::string_view op = rows.Get(r, 4);
      Change change;
      bool width_mismatch = false;
      Status s = BuildChange(shape->second, op.empty() ? '?' : op[0], row_text(r, 6),
                             row_text(r, 7), &change, &width_mismatch);
      if (!s.ok()) {
        return s.WithContext(fmt::format("outbox row {} of table {}", rows.Get(r, 1),
                                         shape->second.table->QualifiedName()));
      }
      if (width_mismatch && !warned_width_) {
        warned_width_ = true;
        spdlog::warn(
            "capture: outbox rows of {} were written before its columns changed: their values "
            "were matched to the current columns by position (see docs/triggers.md)",
            shape->second.table->QualifiedName());
      }
      change.position = Position{commit_lsn, index++};
      change.xid = xid;
      change.commit_time_us = commit_time_us;
      EDDY_RETURN_IF_ERROR(sink_.Append(change));
      ++changes;
    }
    EDDY_RETURN_IF_ERROR(sink_.AppendCommit(
        Commit{xid, commit_lsn, Lsn(commit_lsn.value() + 1), commit_time_us, index}));
    next_lsn_ = Lsn(commit_lsn.value() + 1);
    pending_.push_back(std::move(pending));
  }
  std::lock_guard<std::mutex> lock(mutex_);
  state_.received = next_lsn_;
  state_.transactions += txns.size();
  state_.changes += changes;
  return static_cast<int>(txns.size());
}

}  // namespace eddy::outbox
