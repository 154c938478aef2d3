#include "nats/jetstream_sink.h"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "eddy/clock.h"

#include "nats/subject.h"

namespace eddy::nats {
namespace {

constexpr int64_t kCursorStoreIntervalUs = 200'000;
constexpr int64_t kBatchAckTimeoutMs = 10'000;

// A header block as the server counts it against max_payload: "NATS/1.0\r\n" + "K: V\r\n"... +
// "\r\n".
size_t HeaderBytes(const std::vector<std::pair<const char*, std::string>>& headers) {
  size_t n = 12;
  for (const auto& [name, value] : headers)
    n += std::char_traits<char>::length(name) + value.size() + 4;
  return n;
}

}  // namespace

JetStreamSink::JetStreamSink(Options options, log::ChangeLog& log)
    : options_(std::move(options)), log_(log), cursor_file_(options_.cursor_path) {}

JetStreamSink::~JetStreamSink() { Stop(); }

Status JetStreamSink::Start() {
  EDDY_RETURN_IF_ERROR(ValidateSubjectPrefix(options_.nats.subject_prefix, "nats.subject_prefix"));
  EDDY_ASSIGN_OR_RETURN(format_, ParseBodyFormat(options_.nats.body));
  if (options_.nats.url.empty()) {
    return InvalidArgument("nats.url: required to publish (e.g. nats://127.0.0.1:4222)");
  }
  if (options_.nats.stream.empty()) return InvalidArgument("nats.stream: must not be empty");
  if (options_.nats.replicas < 1 || options_.nats.replicas > 5) {
    return InvalidArgument(fmt::format("nats.replicas: {} is not 1 to 5", options_.nats.replicas));
  }
  if (options_.nats.duplicate_window_s < 1) {
    return InvalidArgument("nats.duplicate_window_s: must be at least 1 second");
  }
  EDDY_ASSIGN_OR_RETURN(std::optional<log::Cursor> cursor, cursor_file_.Load());
  if (cursor) {
    acked_ = *cursor;
    stored_ = *cursor;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    state_.acknowledged = acked_;
  }
  if (options_.gate && !acked_.end_lsn.IsZero()) {
    options_.gate->store(acked_.end_lsn.value(), std::memory_order_release);
    if (options_.on_gate_moved) options_.on_gate_moved();
  }
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void JetStreamSink::Stop() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

JetStreamSink::State JetStreamSink::GetState() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

void JetStreamSink::SetError(const Status& s, bool fatal) {
  std::lock_guard<std::mutex> lock(mu_);
  state_.last_error = s.ToString();
  state_.connected = false;
  if (fatal) state_.failed = true;
}

void JetStreamSink::Run() {
  int64_t backoff_ms = 250;
  while (!stop_) {
    Status s = RunConnected();
    if (stop_) break;
    if (s.ok()) continue;
    // The one place where the sink's failures become state: errors that retrying cannot fix stop
    // the sink loudly; the rest retry with backoff from the acknowledged cursor.
    bool fatal = s.code() == StatusCode::kInvalidArgument ||
                 s.code() == StatusCode::kFailedPrecondition || s.code() == StatusCode::kDataLoss ||
                 s.code() == StatusCode::kCorruption;
    SetError(s, fatal);
    if (fatal) {
      spdlog::error("nats sink stopped: {}", s.ToString());
      break;
    }
    spdlog::warn("nats sink: {} (retrying in {} ms)", s.ToString(), backoff_ms);
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++state_.retries;
    }
    std::unique_lock<std::mutex> lock(stop_mu_);
    stop_cv_.wait_for(lock, std::chrono::milliseconds(backoff_ms), [this] { return stop_.load(); });
    backoff_ms = std::min<int64_t>(backoff_ms * 2, 5000);
  }
  StoreCursor(true);
}

void JetStreamSink::OnPubAck(jsCtx*, natsMsg* msg, jsPubAck* ack, jsPubAckErr* error,
                             void* closure) {
  auto* self = static_cast<JetStreamSink*>(closure);
  if (ack != nullptr && error == nullptr) {
    if (ack->Duplicate) {
      self->batch_dup_.fetch_add(1, std::memory_order_acq_rel);
    } else {
      self->batch_ok_.fetch_add(1, std::memory_order_acq_rel);
    }
  } else {
    if (error != nullptr) {
      std::lock_guard<std::mutex> lock(self->mu_);
      self->state_.last_error = fmt::format(
          "publish not acknowledged: {}{}", natsStatus_GetText(error->Err),
          error->ErrText != nullptr ? fmt::format(" ({})", error->ErrText) : std::string());
    }
    self->batch_failed_.fetch_add(1, std::memory_order_acq_rel);
  }
  natsMsg_Destroy(msg);
}

Status JetStreamSink::RunConnected() {
  JetStreamConnection::Options connect;
  connect.url = options_.nats.url;
  connect.name = "eddy-sink";
  connect.max_pending = static_cast<int64_t>(kBatchMessages) * 2;
  connect.ack_handler = &JetStreamSink::OnPubAck;
  connect.ack_handler_closure = this;
  EDDY_ASSIGN_OR_RETURN(std::unique_ptr<JetStreamConnection> c,
                        JetStreamConnection::Connect(connect));
  // Whatever happens below, no PubAck may arrive after this function returns.
  struct Drain {
    JetStreamConnection& c;
    ~Drain() {
      // GetPendingList crashes in libnats 3.4.1 when nothing was ever pending: ask first.
      jsPubOptions po;
      jsPubOptions_Init(&po);
      po.MaxWait = 1;
      if (js_PublishAsyncComplete(c.jetstream(), &po) == NATS_OK) return;
      natsMsgList pending{};
      if (js_PublishAsyncGetPendingList(&pending, c.jetstream()) == NATS_OK) {
        natsMsgList_Destroy(&pending);
      }
    }
  } drain{*c};
  EDDY_RETURN_IF_ERROR(c->EnsureStream(options_.nats));
  max_payload_ = c->MaxPayload();
  {
    std::lock_guard<std::mutex> lock(mu_);
    state_.connected = true;
    state_.last_error.clear();
  }
  spdlog::info("nats sink: publishing to stream {} from {}", options_.nats.stream,
               acked_.position.ToString());

  txn_.clear();
  txn_commit_.reset();
  EDDY_ASSIGN_OR_RETURN(std::unique_ptr<log::LogReader> reader, log_.NewReader(acked_.position));
  batch_sent_ = 0;
  batch_last_commit_.reset();
  while (!stop_) {
    auto wait = batch_sent_ == 0 ? std::chrono::milliseconds(100) : std::chrono::milliseconds(0);
    EDDY_ASSIGN_OR_RETURN(std::optional<log::LogEntry> entry, reader->Next(wait));
    if (entry && entry->kind == log::LogEntry::Kind::kChange) {
      if (txn_commit_) {
        EDDY_RETURN_IF_ERROR(Publish(*c, entry->change, *txn_commit_));
      } else {
        txn_.push_back(std::move(entry->change));
        if (txn_.size() >= kMaxBufferedChanges) {
          EDDY_ASSIGN_OR_RETURN(Commit commit, ScanForCommit(txn_.back().position));
          txn_commit_ = commit;
          for (const Change& change : txn_) EDDY_RETURN_IF_ERROR(Publish(*c, change, commit));
          txn_.clear();
        }
      }
    } else if (entry) {
      for (const Change& change : txn_) EDDY_RETURN_IF_ERROR(Publish(*c, change, entry->commit));
      txn_.clear();
      txn_commit_.reset();
      batch_last_commit_ = entry->commit;
    }
    bool idle = !entry.has_value();
    if (batch_sent_ >= kBatchMessages || (idle && batch_sent_ > 0) ||
        (idle && batch_last_commit_)) {
      EDDY_RETURN_IF_ERROR(CompleteBatch(*c));
      if (batch_last_commit_) Acknowledged(*batch_last_commit_);
      batch_sent_ = 0;
      batch_last_commit_.reset();
    }
    if (idle) StoreCursor(false);
  }
  if (batch_sent_ > 0) {
    EDDY_RETURN_IF_ERROR(CompleteBatch(*c));
    if (batch_last_commit_) Acknowledged(*batch_last_commit_);
  }
  return Status::Ok();
}

Result<Commit> JetStreamSink::ScanForCommit(const Position& after) {
  EDDY_ASSIGN_OR_RETURN(std::unique_ptr<log::LogReader> scout, log_.NewReader(after));
  while (!stop_) {
    EDDY_ASSIGN_OR_RETURN(std::optional<log::LogEntry> entry,
                          scout->Next(std::chrono::milliseconds(100)));
    if (entry && entry->kind == log::LogEntry::Kind::kCommit) return entry->commit;
  }
  return Aborted("nats sink: stopped");
}

Status JetStreamSink::Publish(JetStreamConnection& c, const Change& change, const Commit& commit) {
  std::string subject = SubjectFor(options_.nats.subject_prefix, change);
  body_.clear();
  EncodeBody(change, format_, &body_);
  auto headers = HeadersFor(change, commit, format_);
  size_t size = body_.size() + HeaderBytes(headers);
  if (max_payload_ > 0 && size > static_cast<size_t>(max_payload_)) {
    return FailedPrecondition(fmt::format(
        "nats sink: change {} of {} is {} bytes, over the server's max_payload of {} bytes; "
        "raise max_payload in the nats-server configuration (up to 64 MB). Nothing after it "
        "is published",
        change.position.ToString(), change.table->QualifiedName(), size, max_payload_));
  }
  natsMsg* msg = nullptr;
  natsStatus s =
      natsMsg_Create(&msg, subject.c_str(), nullptr, body_.data(), static_cast<int>(body_.size()));
  for (const auto& [name, value] : headers) {
    if (s == NATS_OK) s = natsMsgHeader_Set(msg, name, value.c_str());
  }
  if (s != NATS_OK) {
    natsMsg_Destroy(msg);
    return NatsError("build message " + subject, s);
  }
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = kBatchAckTimeoutMs;
  s = js_PublishMsgAsync(c.jetstream(), &msg, &po);
  if (s != NATS_OK) {
    natsMsg_Destroy(msg);  // still ours when the call failed
    return NatsError("publish " + subject, s);
  }
  ++batch_sent_;
  return Status::Ok();
}

Status JetStreamSink::CompleteBatch(JetStreamConnection& c) {
  size_t sent = batch_sent_;
  batch_sent_ = 0;
  if (sent > 0) {
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = kBatchAckTimeoutMs;
    natsStatus s = js_PublishAsyncComplete(c.jetstream(), &po);
    if (s != NATS_OK) {
      batch_ok_ = batch_dup_ = batch_failed_ = 0;
      return NatsError(fmt::format("waiting for {} PubAcks", sent), s);
    }
    // The handler may still be counting the last reply.
    for (int i = 0; i < 1000 && batch_ok_ + batch_dup_ + batch_failed_ < sent; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  uint64_t ok = batch_ok_.exchange(0);
  uint64_t dup = batch_dup_.exchange(0);
  uint64_t failed = batch_failed_.exchange(0);
  {
    std::lock_guard<std::mutex> lock(mu_);
    state_.published += ok;
    state_.duplicates += dup;
  }
  if (failed > 0 || ok + dup < sent) {
    std::string why;
    {
      std::lock_guard<std::mutex> lock(mu_);
      why = state_.last_error;
    }
    return Unavailable(fmt::format("nats sink: {} of {} messages not acknowledged: {}",
                                   sent - ok - dup, sent, why));
  }
  return Status::Ok();
}

void JetStreamSink::Acknowledged(const Commit& commit) {
  acked_ = log::Cursor{Position{commit.commit_lsn, commit.change_count}, commit.end_lsn};
  {
    std::lock_guard<std::mutex> lock(mu_);
    state_.acknowledged = acked_;
  }
  if (options_.gate) {
    options_.gate->store(commit.end_lsn.value(), std::memory_order_release);
    if (options_.on_gate_moved) options_.on_gate_moved();
  }
  StoreCursor(false);
}

void JetStreamSink::StoreCursor(bool force) {
  if (acked_ == stored_) return;
  int64_t now = SystemClock().NowSteadyMicros();
  if (!force && now - stored_at_us_ < kCursorStoreIntervalUs) return;
  Status s = cursor_file_.Store(acked_);
  if (!s.ok()) {
    // Not fatal: a stale cursor only means republishing more (deduplicated) after a restart.
    spdlog::warn("nats sink: storing cursor {}: {}", cursor_file_.path(), s.ToString());
    return;
  }
  stored_ = acked_;
  stored_at_us_ = now;
}

}  // namespace eddy::nats
