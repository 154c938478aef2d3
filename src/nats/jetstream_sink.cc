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
  if (cursor) stored_ = *cursor;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cursor) acked_ = *cursor;
    state_.acknowledged = acked_;
  }
  if (cursor && !cursor->end_lsn.IsZero()) MoveGate(*cursor);
  if (options_.metrics != nullptr) RegisterMetrics(*options_.metrics);
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

void JetStreamSink::RegisterMetrics(MetricsRegistry& metrics) {
  auto state_value = [this](double (*pick)(const State&)) {
    return [this, pick]() -> std::vector<std::pair<MetricLabels, double>> {
      return {{{}, pick(GetState())}};
    };
  };
  metrics.AddCallback("eddy_nats_published_total",
                      "Changes JetStream acknowledged as new messages (PubAck).", "counter",
                      state_value([](const State& s) { return static_cast<double>(s.published); }));
  metrics.AddCallback(
      "eddy_nats_duplicates_total",
      "Changes published again after a failure or restart that JetStream dropped by Nats-Msg-Id.",
      "counter", state_value([](const State& s) { return static_cast<double>(s.duplicates); }));
  metrics.AddCallback(
      "eddy_nats_publish_errors_total",
      "Publishing failures (negative or missing PubAck, failed publish, lost connection); each "
      "restarts publishing from the cursor.",
      "counter", state_value([](const State& s) {
        return static_cast<double>(s.retries + (s.failed ? 1 : 0));
      }));
  metrics.AddCallback("eddy_nats_in_flight_messages",
                      "Changes published whose PubAck has not arrived yet.", "gauge",
                      state_value([](const State& s) { return static_cast<double>(s.in_flight); }));
  metrics.AddCallback(
      "eddy_nats_connected", "1 while the sink is connected and publishing.", "gauge",
      state_value([](const State& s) { return s.connected && !s.failed ? 1.0 : 0.0; }));
  metrics.AddCallback(
      "eddy_nats_acked_end_lsn",
      "End LSN of the newest transaction JetStream acknowledged whole (the sink's cursor).",
      "gauge", state_value([](const State& s) {
        return static_cast<double>(s.acknowledged.end_lsn.value());
      }));
  metrics.AddCallback(
      "eddy_nats_backlog_bytes",
      "WAL bytes between the log's newest durable commit and the sink's cursor (0: caught up).",
      "gauge", [this]() -> std::vector<std::pair<MetricLabels, double>> {
        std::optional<Commit> durable = log_.LastDurableCommit();
        const uint64_t acked = GetState().acknowledged.end_lsn.value();
        const uint64_t end = durable ? durable->end_lsn.value() : 0;
        return {{{}, end > acked ? static_cast<double>(end - acked) : 0.0}};
      });
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
  self->handlers_running_.fetch_add(1, std::memory_order_acq_rel);
  self->HandlePubAck(msg, ack, error);
  natsMsg_Destroy(msg);
  self->handlers_running_.fetch_sub(1, std::memory_order_acq_rel);
}

void JetStreamSink::HandlePubAck(natsMsg* msg, jsPubAck* ack, jsPubAckErr* error) {
  const char* id = nullptr;
  std::optional<Position> position;
  if (msg != nullptr && natsMsgHeader_Get(msg, kHeaderMsgId, &id) == NATS_OK && id != nullptr) {
    position = Position::Parse(id);
  }
  std::optional<log::Cursor> moved;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!accepting_acks_) return;  // a connection being torn down
    if (ack == nullptr || error != nullptr || !position) {
      ack_failed_ = true;
      state_.last_error = fmt::format(
          "publish of {} not acknowledged: {}{}", id != nullptr ? id : "a change",
          error != nullptr ? natsStatus_GetText(error->Err) : "no PubAck",
          error != nullptr && error->ErrText != nullptr ? fmt::format(" ({})", error->ErrText)
                                                        : std::string());
    } else {
      auto it =
          std::lower_bound(in_flight_.begin(), in_flight_.end(), *position,
                           [](const InFlight& f, const Position& p) { return f.position < p; });
      if (it != in_flight_.end() && it->position == *position && !it->is_commit && !it->acked) {
        it->acked = true;
        --in_flight_messages_;
        if (ack->Duplicate) {
          ++state_.duplicates;
        } else {
          ++state_.published;
        }
        moved = PopAcknowledgedLocked();
      }
    }
  }
  window_cv_.notify_all();
  if (moved) MoveGate(*moved);
}

std::optional<log::Cursor> JetStreamSink::PopAcknowledgedLocked() {
  std::optional<log::Cursor> moved;
  while (!in_flight_.empty() && in_flight_.front().acked) {
    const InFlight& f = in_flight_.front();
    if (f.is_commit) moved = log::Cursor{f.position, f.end_lsn};
    in_flight_.pop_front();
  }
  if (moved) {
    acked_ = *moved;
    state_.acknowledged = *moved;
  }
  state_.in_flight = in_flight_messages_;
  return moved;
}

void JetStreamSink::MoveGate(const log::Cursor& acknowledged) {
  if (!options_.gate) return;
  const uint64_t end = acknowledged.end_lsn.value();
  uint64_t prev = options_.gate->load(std::memory_order_acquire);
  while (end > prev && !options_.gate->compare_exchange_weak(prev, end)) {
  }
  if (options_.on_gate_moved) options_.on_gate_moved();
}

Status JetStreamSink::RunConnected() {
  JetStreamConnection::Options connect;
  connect.url = options_.nats.url;
  connect.name = "eddy-sink";
  // The sink's own window bounds what is in flight; libnats must never stall before it.
  connect.max_pending = static_cast<int64_t>(kMaxInFlight) + 1024;
  connect.ack_handler = &JetStreamSink::OnPubAck;
  connect.ack_handler_closure = this;
  EDDY_ASSIGN_OR_RETURN(std::unique_ptr<JetStreamConnection> c,
                        JetStreamConnection::Connect(connect));
  {
    std::lock_guard<std::mutex> lock(mu_);
    in_flight_.clear();
    in_flight_messages_ = 0;
    state_.in_flight = 0;
    ack_failed_ = false;
    accepting_acks_ = true;
  }
  // Whatever happens below, no PubAck may count after this function returns: wait for the ones
  // in flight (when stopping normally), forget the rest, and let running handlers finish.
  struct Drain {
    JetStreamSink& sink;
    JetStreamConnection& c;
    ~Drain() {
      jsPubOptions po;
      jsPubOptions_Init(&po);
      // Stopping: let what is in flight be acknowledged; failing: it is republished anyway.
      po.MaxWait = sink.stop_ ? kAckTimeoutMs : 1;
      // GetPendingList crashes in libnats 3.4.1 when nothing was ever pending: ask first.
      if (js_PublishAsyncComplete(c.jetstream(), &po) == NATS_OK) {
        // The handler of the last PubAck may still be on its way.
        for (int i = 0; i < 1000; ++i) {
          {
            std::lock_guard<std::mutex> lock(sink.mu_);
            if (sink.in_flight_messages_ == 0 || sink.ack_failed_) break;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
      } else {
        natsMsgList pending{};
        if (js_PublishAsyncGetPendingList(&pending, c.jetstream()) == NATS_OK) {
          natsMsgList_Destroy(&pending);
        }
      }
      {
        std::lock_guard<std::mutex> lock(sink.mu_);
        sink.accepting_acks_ = false;
        sink.in_flight_.clear();
        sink.in_flight_messages_ = 0;
        sink.state_.in_flight = 0;
      }
      while (sink.handlers_running_.load(std::memory_order_acquire) > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
  } drain{*this, *c};
  EDDY_RETURN_IF_ERROR(c->EnsureStream(options_.nats));
  max_payload_ = c->MaxPayload();
  log::Cursor from;
  {
    std::lock_guard<std::mutex> lock(mu_);
    state_.connected = true;
    state_.last_error.clear();
    from = acked_;
  }
  spdlog::info("nats sink: publishing to stream {} from {}", options_.nats.stream,
               from.position.ToString());

  txn_.clear();
  txn_commit_.reset();
  EDDY_ASSIGN_OR_RETURN(std::unique_ptr<log::LogReader> reader, log_.NewReader(from.position));
  bool busy = false;  // the last read returned an entry: read on without waiting
  while (!stop_) {
    EDDY_RETURN_IF_ERROR(WaitForWindow());
    auto wait = busy ? std::chrono::milliseconds(0) : std::chrono::milliseconds(100);
    EDDY_ASSIGN_OR_RETURN(std::optional<log::LogEntry> entry, reader->Next(wait));
    busy = entry.has_value();
    if (entry && entry->kind == log::LogEntry::Kind::kChange) {
      if (txn_commit_) {
        EDDY_RETURN_IF_ERROR(Publish(*c, entry->change, *txn_commit_));
      } else {
        txn_.push_back(std::move(entry->change));
        if (txn_.size() >= kMaxBufferedChanges) {
          EDDY_ASSIGN_OR_RETURN(Commit commit, ScanForCommit(txn_.back().position));
          txn_commit_ = commit;
          for (const Change& change : txn_) {
            EDDY_RETURN_IF_ERROR(WaitForWindow());
            EDDY_RETURN_IF_ERROR(Publish(*c, change, commit));
          }
          txn_.clear();
        }
      }
    } else if (entry) {
      for (const Change& change : txn_) {
        EDDY_RETURN_IF_ERROR(WaitForWindow());
        EDDY_RETURN_IF_ERROR(Publish(*c, change, entry->commit));
      }
      txn_.clear();
      txn_commit_.reset();
      PublishedCommit(entry->commit);
      StoreCursor(false);
    } else {
      EDDY_RETURN_IF_ERROR(CheckAcks());
      StoreCursor(false);
    }
  }
  return Status::Ok();
}

Status JetStreamSink::CheckAcks() {
  std::lock_guard<std::mutex> lock(mu_);
  if (ack_failed_) return Unavailable(fmt::format("nats sink: {}", state_.last_error));
  for (const InFlight& f : in_flight_) {
    if (f.is_commit || f.acked) continue;
    // The oldest change still waiting.
    if (SystemClock().NowSteadyMicros() - f.sent_at_us > kAckTimeoutMs * 1000) {
      return Unavailable(fmt::format("nats sink: no PubAck for change {} within {} ms",
                                     f.position.ToString(), kAckTimeoutMs));
    }
    break;
  }
  return Status::Ok();
}

Status JetStreamSink::WaitForWindow() {
  while (true) {
    EDDY_RETURN_IF_ERROR(CheckAcks());
    std::unique_lock<std::mutex> lock(mu_);
    if (in_flight_messages_ < kMaxInFlight) return Status::Ok();
    if (stop_) return Aborted("nats sink: stopped");
    // Wakes on a PubAck or a failure; the timeout lets CheckAcks look at the clock.
    window_cv_.wait_for(lock, std::chrono::milliseconds(50), [this] {
      return in_flight_messages_ < kMaxInFlight || ack_failed_ || stop_;
    });
  }
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
  {
    // Before the publish: its PubAck may come back before js_PublishMsgAsync returns.
    std::lock_guard<std::mutex> lock(mu_);
    in_flight_.push_back(
        InFlight{change.position, false, false, Lsn(), SystemClock().NowSteadyMicros()});
    ++in_flight_messages_;
    state_.in_flight = in_flight_messages_;
  }
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = kAckTimeoutMs;
  s = js_PublishMsgAsync(c.jetstream(), &msg, &po);
  if (s != NATS_OK) {
    natsMsg_Destroy(msg);  // still ours when the call failed
    return NatsError("publish " + subject, s);
  }
  return Status::Ok();
}

void JetStreamSink::PublishedCommit(const Commit& commit) {
  std::optional<log::Cursor> moved;
  {
    std::lock_guard<std::mutex> lock(mu_);
    in_flight_.push_back(
        InFlight{Position{commit.commit_lsn, commit.change_count}, true, true, commit.end_lsn, 0});
    moved = PopAcknowledgedLocked();
  }
  if (moved) MoveGate(*moved);
}

void JetStreamSink::StoreCursor(bool force) {
  log::Cursor acked;
  {
    std::lock_guard<std::mutex> lock(mu_);
    acked = acked_;
  }
  if (acked == stored_) return;
  int64_t now = SystemClock().NowSteadyMicros();
  if (!force && now - stored_at_us_ < kCursorStoreIntervalUs) return;
  Status s = cursor_file_.Store(acked);
  if (!s.ok()) {
    // Not fatal: a stale cursor only means republishing more (deduplicated) after a restart.
    spdlog::warn("nats sink: storing cursor {}: {}", cursor_file_.path(), s.ToString());
    return;
  }
  stored_ = acked;
  stored_at_us_ = now;
}

}  // namespace eddy::nats
