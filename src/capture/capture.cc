#include "capture/capture.h"

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "capture/change_assembler.h"
#include "capture/leader_lock.h"
#include "capture/reconnect_backoff.h"
#include "capture/relation_cache.h"
#include "capture/replication_stream.h"
#include "capture/stream_spool.h"
#include "capture/type_resolver.h"
#include "pg/connection.h"
#include "pgoutput/decoder.h"

namespace eddy::capture {

const char* CaptureRoleName(CaptureRole role) {
  switch (role) {
    case CaptureRole::kStarting:
      return "starting";
    case CaptureRole::kStandby:
      return "standby";
    case CaptureRole::kLeader:
      return "leader";
    case CaptureRole::kStopped:
      return "stopped";
    case CaptureRole::kFailed:
      return "failed";
  }
  return "unknown";
}

// State that lives as long as the process captures (kept across reconnects).
struct Capture::Session {
  explicit Session(const CaptureOptions& options)
      : lock(options.conninfo, options.slot), types(nullptr), relations(types) {}
  LeaderLock lock;
  CatalogTypeResolver types;
  RelationCache relations;
  std::unique_ptr<StreamSpool> spool;
  std::unique_ptr<ChangeAssembler> assembler;
};

Capture::Capture(CaptureOptions options, ChangeSink& sink, Lsn skip_through, Lsn resume_from,
                 Clock& clock)
    : options_(std::move(options)),
      sink_(sink),
      clock_(clock),
      skip_through_(skip_through),
      resume_from_(resume_from) {
  durable_end_ = resume_from.value();
  state_.durable = resume_from;
}

Capture::~Capture() { Stop(); }

void Capture::SeedTables(const std::vector<std::shared_ptr<const Table>>& tables) {
  seed_tables_ = tables;
}

void Capture::Stop() {
  stop_ = true;
  std::lock_guard<std::mutex> lock(mutex_);
  wake_.notify_all();
}

void Capture::NotifyDurable(Lsn end_lsn) {
  uint64_t prev = durable_end_.load();
  while (end_lsn.value() > prev && !durable_end_.compare_exchange_weak(prev, end_lsn.value())) {
  }
}

CaptureState Capture::State() const {
  std::lock_guard<std::mutex> lock(mutex_);
  CaptureState s = state_;
  s.durable = Lsn(durable_end_.load());
  return s;
}

bool Capture::WaitFor(int ms) {
  std::unique_lock<std::mutex> lock(mutex_);
  wake_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stop_.load(); });
  return !stop_;
}

void Capture::SetError(const Status& status) {
  std::lock_guard<std::mutex> lock(mutex_);
  state_.last_error = status.ToString();
  state_.streaming = false;
}

namespace {
bool Retryable(const Status& s) {
  return s.code() != StatusCode::kDataLoss && s.code() != StatusCode::kFailedPrecondition &&
         s.code() != StatusCode::kInvalidArgument;
}
}  // namespace

Status Capture::Run() {
  Session session(options_);
  auto spool = StreamSpool::Open(options_.spool_dir);
  if (!spool.ok()) return spool.status();
  session.spool = std::move(spool).value();
  for (const auto& t : seed_tables_) session.relations.Seed(t);
  if (options_.on_table_version) session.relations.SetVersionListener(options_.on_table_version);
  session.assembler = std::make_unique<ChangeAssembler>(session.relations, sink_, *session.spool,
                                                        session.types, skip_through_);
  session_ = &session;
  ReconnectBackoff backoff(options_.reconnect_min_ms, options_.reconnect_max_ms);
  Status final_status = Status::Ok();
  while (!stop_) {
    // Leadership first: a standby waits here without touching the slot.
    auto held = session.lock.TryAcquire();
    if (!held.ok() || !*held) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        state_.role = CaptureRole::kStandby;
        if (!held.ok()) state_.last_error = held.status().ToString();
      }
      WaitFor(held.ok() ? options_.leader_poll_ms : backoff.delay_ms());
      if (!held.ok()) backoff.Waited();
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (state_.role != CaptureRole::kLeader)
        spdlog::info("capture: leader for slot {}", options_.slot);
      state_.role = CaptureRole::kLeader;
    }
    int64_t started = clock_.NowSteadyMicros();
    Status s = RunSession();
    Status reset = session.assembler->Reset();
    if (!reset.ok()) s = reset;
    if (stop_) break;
    SetError(s);
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
    WaitFor(backoff.delay_ms());
    backoff.Waited();
  }
  session_ = nullptr;
  std::lock_guard<std::mutex> lock(mutex_);
  state_.role = final_status.ok() ? CaptureRole::kStopped : CaptureRole::kFailed;
  state_.streaming = false;
  return final_status;
}

Status Capture::RunSession() {
  Session& session = *session_;
  EDDY_ASSIGN_OR_RETURN(std::unique_ptr<pg::Connection> sql,
                        pg::Connection::Connect(options_.conninfo));
  SlotManager slots(*sql);
  EDDY_RETURN_IF_ERROR(slots.CheckServer());
  EDDY_RETURN_IF_ERROR(slots.EnsurePublication(options_.publication, options_.tables));
  EDDY_ASSIGN_OR_RETURN(SlotHealth health, slots.Health(options_.slot));
  // Once eddy has streamed from the slot (in this process or, per its log, before), a missing
  // slot means changes were lost.
  const bool have_history = !resume_from_.IsZero() || streamed_before_;
  if (health.exists && (!health.this_database || health.plugin != "pgoutput")) {
    return FailedPrecondition(fmt::format(
        "replication slot \"{}\" belongs to database \"{}\" with plugin {}, not to this "
        "database with pgoutput: choose another slot name with --slot",
        options_.slot, health.database, health.plugin));
  }
  if (health.exists && health.wal_status == "lost") {
    if (!options_.recreate_slot) {
      return DataLoss(fmt::format(
          "replication slot \"{}\" was invalidated (wal_status = lost): PostgreSQL removed WAL "
          "eddy had not read, so changes are missing. Restart eddy with --recreate-slot to "
          "continue from now (and resync consumers); raise max_slot_wal_keep_size to avoid it",
          options_.slot));
    }
    EDDY_RETURN_IF_ERROR(slots.DropSlot(options_.slot));
    health.exists = false;
  }
  if (!health.exists) {
    if (have_history && !options_.recreate_slot) {
      return DataLoss(fmt::format(
          "replication slot \"{}\" does not exist, but eddy's log holds changes up to {}: the "
          "slot was dropped, so changes since then are lost. Restart eddy with --recreate-slot "
          "to continue from now (and resync consumers), or check --slot names the right slot",
          options_.slot, Lsn(durable_end_.load()).ToString()));
    }
    spdlog::info("capture: creating replication slot {}", options_.slot);
    EDDY_RETURN_IF_ERROR(slots.CreateSlot(options_.slot));
  }
  session.types.SetConnection(sql.get());

  EDDY_ASSIGN_OR_RETURN(std::unique_ptr<ReplicationStream> stream,
                        ReplicationStream::Connect(options_.conninfo));
  Lsn start = Lsn(durable_end_.load());
  EDDY_ASSIGN_OR_RETURN(SystemIdentity identity, stream->IdentifySystem());
  if (timeline_ != 0 && identity.timeline != timeline_) {
    // A new timeline means a failover or a restore: on PostgreSQL < 17 the slot does not follow a
    // failover, so the slot check above has already failed if changes were lost.
    spdlog::warn("capture: the server moved from timeline {} to {} (failover or restore?)",
                 timeline_, identity.timeline);
  }
  timeline_ = identity.timeline;
  EDDY_RETURN_IF_ERROR(stream->Start(options_.slot, options_.publication, start));
  streamed_before_ = true;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    state_.streaming = true;
    state_.last_error.clear();
  }
  spdlog::info("capture: streaming slot {} from {}", options_.slot, start.ToString());

  pgoutput::Decoder decoder;
  Lsn received;
  Lsn keepalive_end;
  Lsn confirmed;
  int64_t last_status_us = 0;
  int64_t last_lock_check_us = clock_.NowSteadyMicros();
  // Silent-stall watchdog (pitfall 15): a healthy walsender sends data or answers a status
  // update that asks for a reply; a connection that stays silent is dropped and made again.
  int64_t last_frame_us = clock_.NowSteadyMicros();
  bool asked_for_reply = false;
  ChangeAssembler& assembler = *session.assembler;
  while (!stop_) {
    EDDY_ASSIGN_OR_RETURN(StreamFrame frame, stream->Next(100));
    bool reply_now = false;
    if (frame.kind != StreamFrame::Kind::kNone) {
      last_frame_us = clock_.NowSteadyMicros();
      asked_for_reply = false;
    }
    if (frame.kind == StreamFrame::Kind::kXLogData) {
      received = std::max(received, frame.wal_end);
      EDDY_ASSIGN_OR_RETURN(pgoutput::Message message, decoder.Decode(frame.payload));
      EDDY_RETURN_IF_ERROR(assembler.Handle(message));
    } else if (frame.kind == StreamFrame::Kind::kKeepalive) {
      received = std::max(received, frame.wal_end);
      keepalive_end = std::max(keepalive_end, frame.wal_end);
      reply_now = frame.reply_requested;
    }
    // What may be confirmed: the end of the last durable transaction; when nothing is open or
    // waiting for the disk, also the server's position from a keepalive, so an idle or filtered
    // database still lets the slot advance (pitfall 2).
    Lsn durable(durable_end_.load());
    Lsn confirm = durable;
    if (!assembler.InTransaction() && session.spool->open_transactions() == 0 &&
        assembler.last_commit_end() <= durable && keepalive_end > confirm) {
      confirm = keepalive_end;
    }
    int64_t now = clock_.NowSteadyMicros();
    // Confirmations are batched (at most one per 50 ms) so a stream of small transactions
    // does not cost a status message each.
    const bool advanced = confirm > confirmed && now - last_status_us >= 50'000;
    if (reply_now || advanced ||
        now - last_status_us >= int64_t{options_.status_interval_ms} * 1000) {
      EDDY_RETURN_IF_ERROR(stream->SendStatus(received, confirm, false));
      confirmed = confirm;
      last_status_us = now;
      const AssemblerStats& st = assembler.stats();
      std::lock_guard<std::mutex> lock(mutex_);
      state_.received = received;
      state_.confirmed = confirmed;
      state_.transactions = st.transactions;
      state_.changes = st.changes;
      state_.streamed_transactions = st.streamed_transactions;
    }
    const int64_t silent_us = now - last_frame_us;
    if (silent_us > int64_t{options_.stall_timeout_ms} * 1000) {
      return Unavailable(
          fmt::format("the walsender sent nothing for {} ms, not even a keepalive: reconnecting",
                      silent_us / 1000));
    }
    if (!asked_for_reply && silent_us > int64_t{options_.stall_timeout_ms} * 1000 / 3) {
      EDDY_RETURN_IF_ERROR(stream->SendStatus(received, confirmed, /*reply_requested=*/true));
      asked_for_reply = true;
    }
    if (now - last_lock_check_us > 2'000'000) {
      last_lock_check_us = now;
      if (!session.lock.StillHeld()) return Unavailable("lost the leader lock connection");
    }
  }
  return Status::Ok();
}

}  // namespace eddy::capture
