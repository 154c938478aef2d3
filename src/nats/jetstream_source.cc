#include "nats/jetstream_source.h"

#include <chrono>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "eddy/clock.h"

#include "capture/reconnect_backoff.h"
#include "nats/message_codec.h"
#include "nats/subject.h"

namespace eddy::nats {
namespace {

bool SameTable(const Table& a, const Table& b) {
  return a.relation_id == b.relation_id && a.schema_version == b.schema_version &&
         a.schema == b.schema && a.name == b.name && a.replica_identity == b.replica_identity &&
         a.columns == b.columns;
}

}  // namespace

JetStreamSource::JetStreamSource(
    const NatsOptions& options, capture::ChangeSink& sink, std::optional<Commit> last,
    std::function<void(const std::shared_ptr<const Table>&)> on_table_version,
    MetricsRegistry* metrics)
    : options_(options),
      sink_(sink),
      on_table_version_(std::move(on_table_version)),
      received_((metrics != nullptr ? *metrics : own_metrics_)
                    .NewCounter("eddy_nats_received_total",
                                "Messages an edge fetched from the stream (redeliveries too).")),
      skipped_((metrics != nullptr ? *metrics : own_metrics_)
                   .NewCounter("eddy_nats_edge_skipped_total",
                               "Messages an edge skipped as duplicates of what its log holds.")),
      deferred_((metrics != nullptr ? *metrics : own_metrics_)
                    .NewCounter("eddy_nats_edge_deferred_total",
                                "Messages an edge received out of order and asked back later.")),
      malformed_((metrics != nullptr ? *metrics : own_metrics_)
                     .NewCounter("eddy_nats_edge_malformed_total",
                                 "Messages an edge terminated because eddy did not publish them.")),
      acked_end_lsn_((metrics != nullptr ? *metrics : own_metrics_)
                         .NewGauge("eddy_nats_edge_acked_end_lsn",
                                   "End LSN of the newest transaction an edge acknowledged to "
                                   "JetStream (its log made it durable).")) {
  if (last) {
    last_commit_lsn_ = last->commit_lsn;
    durable_end_ = last->end_lsn.value();
    state_.durable = last->end_lsn;
  }
}

JetStreamSource::~JetStreamSource() { Stop(); }

void JetStreamSource::SeedTables(const std::vector<std::shared_ptr<const Table>>& tables) {
  for (const auto& t : tables) {
    tables_[{t->relation_id.value(), t->schema_version}] = t;
  }
}

void JetStreamSource::Stop() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
}

void JetStreamSource::NotifyDurable(Lsn end_lsn) {
  uint64_t prev = durable_end_.load();
  while (end_lsn.value() > prev && !durable_end_.compare_exchange_weak(prev, end_lsn.value())) {
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (end_lsn > state_.durable) state_.durable = end_lsn;
}

capture::CaptureState JetStreamSource::State() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

void JetStreamSource::SetState(const std::function<void(capture::CaptureState&)>& update) const {
  std::lock_guard<std::mutex> lock(mu_);
  update(state_);
}

Status JetStreamSource::Run() {
  if (Status s = ValidateSubjectPrefix(options_.subject_prefix, "nats.subject_prefix"); !s.ok()) {
    SetState([&](capture::CaptureState& st) {
      st.role = capture::CaptureRole::kFailed;
      st.last_error = s.ToString();
    });
    return s;
  }
  capture::ReconnectBackoff backoff(250, 5000);
  while (!stop_) {
    const auto started = std::chrono::steady_clock::now();
    Status s = RunConnected();
    backoff.SessionEnded(std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::steady_clock::now() - started)
                             .count());
    if (stop_) break;
    // The one place where the edge source's failures become state.
    Status discard = sink_.DiscardUncommitted();
    open_lsn_.reset();
    pending_.clear();  // unacknowledged: the server redelivers them after AckWait
    bool fatal = s.code() == StatusCode::kInvalidArgument ||
                 s.code() == StatusCode::kFailedPrecondition || s.code() == StatusCode::kDataLoss ||
                 !discard.ok();
    if (!discard.ok()) s = discard;
    SetState([&](capture::CaptureState& st) {
      st.streaming = false;
      st.last_error = s.ToString();
      if (fatal) st.role = capture::CaptureRole::kFailed;
      ++st.reconnects;
    });
    if (fatal) {
      spdlog::error("nats edge source stopped: {}", s.ToString());
      return s;
    }
    spdlog::warn("nats edge source: {} (retrying in {} ms)", s.ToString(), backoff.delay_ms());
    std::unique_lock<std::mutex> lock(stop_mu_);
    stop_cv_.wait_for(lock, std::chrono::milliseconds(backoff.delay_ms()),
                      [this] { return stop_.load(); });
    backoff.Waited();
  }
  SetState([](capture::CaptureState& st) {
    st.role = capture::CaptureRole::kStopped;
    st.streaming = false;
  });
  return Status::Ok();
}

Status JetStreamSource::RunConnected() {
  JetStreamConnection::Options connect;
  connect.url = options_.url;
  connect.name = "eddy-edge-" + options_.durable;
  EDDY_ASSIGN_OR_RETURN(std::unique_ptr<JetStreamConnection> c,
                        JetStreamConnection::Connect(connect));
  if (Status s = c->CheckStreamExists(options_.stream); !s.ok()) {
    if (s.code() == StatusCode::kNotFound) return Unavailable(s.message());  // not yet created
    return s;
  }
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = options_.stream.c_str();
  so.Config.AckPolicy = js_AckExplicit;
  so.Config.AckWait = kAckWaitMs * 1'000'000;
  so.Config.MaxAckPending = -1;  // a transaction of any size is held until durable
  so.Config.DeliverPolicy = js_DeliverAll;
  std::string filter = options_.subject_prefix + ".>";
  natsSubscription* sub = nullptr;
  jsErrCode js_error = jsErrCode(0);
  natsStatus ns = js_PullSubscribe(&sub, c->jetstream(), filter.c_str(), options_.durable.c_str(),
                                   nullptr, &so, &js_error);
  if (ns != NATS_OK) {
    return NatsError(fmt::format("pull consumer \"{}\" on {}", options_.durable, options_.stream),
                     ns, js_error);
  }
  std::unique_ptr<natsSubscription, void (*)(natsSubscription*)> sub_holder(
      sub, natsSubscription_Destroy);
  // Where the consumer is: messages after this sequence it never delivered.
  jsConsumerInfo* consumer = nullptr;
  ns = js_GetConsumerInfo(&consumer, c->jetstream(), options_.stream.c_str(),
                          options_.durable.c_str(), nullptr, &js_error);
  if (ns != NATS_OK) {
    return NatsError(fmt::format("consumer info of \"{}\"", options_.durable), ns, js_error);
  }
  last_delivered_seq_ = consumer->Delivered.Stream;
  jsConsumerInfo_Destroy(consumer);
  first_seq_at_us_ = 0;
  SetState([](capture::CaptureState& st) {
    st.role = capture::CaptureRole::kLeader;
    st.streaming = true;
    st.last_error.clear();
  });
  spdlog::info("nats edge source: reading stream {} as durable consumer {}", options_.stream,
               options_.durable);
  while (!stop_) {
    natsMsgList list{};
    ns = natsSubscription_Fetch(&list, sub, kFetchBatch, 200, &js_error);
    if (ns == NATS_TIMEOUT) {
      AckDurable(*c);
      continue;
    }
    if (ns != NATS_OK) return NatsError("fetch from " + options_.stream, ns, js_error);
    Status s;
    for (int i = 0; i < list.Count; ++i) {
      if (s.ok()) s = Handle(*c, list.Msgs[i]);
    }
    natsMsgList_Destroy(&list);
    EDDY_RETURN_IF_ERROR(s);
    AckDurable(*c);
  }
  return Status::Ok();
}

Status JetStreamSource::Handle(JetStreamConnection& c, natsMsg* msg) {
  auto header = [msg](const char* name) -> const char* {
    const char* value = nullptr;
    if (natsMsgHeader_Get(msg, name, &value) != NATS_OK) return nullptr;
    return value;
  };
  const char* reply = natsMsg_GetReply(msg);
  const char* content_type = header(kHeaderContentType);
  if (content_type != nullptr && std::string_view(content_type) == kJsonContentType) {
    return FailedPrecondition(
        "nats edge: the stream holds JSON bodies; edge mode needs the publishing eddy to use "
        "nats.body = \"binary\"");
  }
  auto info = ParseTxInfo(header);
  Result<Change> change =
      info.ok()
          ? DecodeBinaryBody(std::string_view(natsMsg_GetData(msg), natsMsg_GetDataLength(msg)))
          : Result<Change>(info.status());
  received_.Increment();
  uint64_t stream_seq = 0;
  uint64_t delivered = 1;
  jsMsgMetaData* meta = nullptr;
  if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
    stream_seq = meta->Sequence.Stream;
    delivered = meta->NumDelivered;
    jsMsgMetaData_Destroy(meta);
  }
  // A log that holds nothing yet may start anywhere; one that does must not skip a message.
  const bool fresh = last_commit_lsn_.IsZero() && !open_lsn_;
  if (delivered == 1 && stream_seq > last_delivered_seq_ + 1 && last_delivered_seq_ > 0 && !fresh) {
    // Never delivered: filtered out (a stream over more than eddy's subjects) or removed.
    EDDY_ASSIGN_OR_RETURN(uint64_t first, FirstSequence(c));
    if (first > last_delivered_seq_ + 1) {
      return GapError(fmt::format("stream sequences {} to {}", last_delivered_seq_ + 1, first - 1),
                      first);
    }
  }
  if (delivered == 1) last_delivered_seq_ = std::max(last_delivered_seq_, stream_seq);
  if (!change.ok()) {
    malformed_.Increment();
    // Not something an eddy published: terminate it so it is not redelivered forever.
    spdlog::warn("nats edge: skipping message on {}: {}", natsMsg_GetSubject(msg),
                 change.status().ToString());
    natsStatus ignored = natsMsg_Term(msg, nullptr);
    (void)ignored;
    return Status::Ok();
  }
  const Position pos = change->position;
  SetState([&](capture::CaptureState& st) {
    if (pos.commit_lsn > st.received) st.received = pos.commit_lsn;
  });
  const bool duplicate = pos.commit_lsn <= last_commit_lsn_ ||
                         (open_lsn_ && pos.commit_lsn == *open_lsn_ && pos.index < next_index_);
  if (duplicate) {
    skipped_.Increment();
    if (reply != nullptr) pending_.push_back({info->end_lsn, reply});
    return Status::Ok();
  }
  const bool next =
      open_lsn_ ? (pos.commit_lsn == *open_lsn_ && pos.index == next_index_) : pos.index == 0;
  const uint32_t expected = open_lsn_ ? next_index_ : 0;
  if (!next && (!open_lsn_ || *open_lsn_ == pos.commit_lsn) && pos.index > expected &&
      pos.index < info->change_count && stream_seq > 0) {
    // Its transaction's earlier changes are either still coming (a publisher's retry put them
    // later in the stream, or they await redelivery) or were published just before it: if those
    // stream sequences are gone, so are they.
    const uint64_t missing = pos.index - expected;
    const uint64_t before = stream_seq > missing ? stream_seq - missing : 0;
    EDDY_ASSIGN_OR_RETURN(uint64_t first, FirstSequence(c));
    if (before < first) {
      if (fresh) {
        spdlog::warn(
            "nats edge: the stream starts inside transaction {} (its first {} change(s) were "
            "removed by the stream's limits); this new edge starts after it",
            pos.commit_lsn.ToString(), pos.index);
        last_commit_lsn_ = pos.commit_lsn;  // its other messages are skipped as duplicates
        skipped_.Increment();
        if (reply != nullptr) pending_.push_back({info->end_lsn, reply});
        return Status::Ok();
      }
      return GapError(fmt::format("change {}:{} (stream sequence {} or before)",
                                  pos.commit_lsn.ToString(), expected, before),
                      first);
    }
  }
  if (!next || pos.index >= info->change_count) {
    deferred_.Increment();
    // Out of order (a publisher's retry reordered the stream): ask for it again later.
    natsStatus ignored = natsMsg_NakWithDelay(msg, 1000, nullptr);
    (void)ignored;
    return Status::Ok();
  }
  change->table = Intern(change->table);
  EDDY_RETURN_IF_ERROR(sink_.Append(*change));
  open_lsn_ = pos.commit_lsn;
  next_index_ = pos.index + 1;
  if (reply != nullptr) pending_.push_back({info->end_lsn, reply});
  if (next_index_ == info->change_count) {
    Commit commit;
    commit.xid = change->xid;
    commit.commit_lsn = pos.commit_lsn;
    commit.end_lsn = info->end_lsn;
    commit.commit_time_us = change->commit_time_us;
    commit.change_count = info->change_count;
    EDDY_RETURN_IF_ERROR(sink_.AppendCommit(commit));
    last_commit_lsn_ = pos.commit_lsn;
    open_lsn_.reset();
    next_index_ = 0;
    SetState([&](capture::CaptureState& st) {
      ++st.transactions;
      st.changes += commit.change_count;
    });
  }
  return Status::Ok();
}

Result<uint64_t> JetStreamSource::FirstSequence(JetStreamConnection& c) {
  const int64_t now = SystemClock().NowSteadyMicros();
  if (first_seq_at_us_ != 0 && now - first_seq_at_us_ < 1'000'000) return first_seq_;
  jsStreamInfo* info = nullptr;
  jsErrCode js_error = jsErrCode(0);
  natsStatus s =
      js_GetStreamInfo(&info, c.jetstream(), options_.stream.c_str(), nullptr, &js_error);
  if (s != NATS_OK) return NatsError("stream info of " + options_.stream, s, js_error);
  first_seq_ = info->State.FirstSeq;
  jsStreamInfo_Destroy(info);
  first_seq_at_us_ = now;
  return first_seq_;
}

Status JetStreamSource::GapError(const std::string& what, uint64_t first_sequence) const {
  return DataLoss(fmt::format(
      "nats edge: stream \"{}\" no longer holds {} (its first sequence is {}): the stream's "
      "limits (max_age, max_bytes, max_msgs) removed messages this edge had not read, and its log "
      "cannot be rebuilt from what is left. Raise the stream's limits so edges keep up, then "
      "rebuild this edge: stop it, remove its data_dir and its durable consumer (nats consumer rm "
      "{} {}), and start it again; it starts at the first transaction the stream holds whole",
      options_.stream, what, first_sequence, options_.stream, options_.durable));
}

void JetStreamSource::AckDurable(JetStreamConnection& c) {
  const Lsn durable{durable_end_.load(std::memory_order_acquire)};
  static constexpr char kAck[] = "+ACK";
  bool moved = false;
  while (!pending_.empty() && pending_.front().end_lsn <= durable) {
    natsStatus s = natsConnection_Publish(c.connection(), pending_.front().reply.c_str(), kAck,
                                          sizeof(kAck) - 1);
    if (s != NATS_OK) break;  // disconnected: unacknowledged messages come back
    acked_end_ = std::max(acked_end_, pending_.front().end_lsn);
    pending_.pop_front();
    moved = true;
  }
  if (moved) {
    SetState([&](capture::CaptureState& st) { st.confirmed = acked_end_; });
    acked_end_lsn_.Set(static_cast<double>(acked_end_.value()));
  }
}

std::shared_ptr<const Table> JetStreamSource::Intern(std::shared_ptr<const Table> table) {
  auto key = std::make_pair(table->relation_id.value(), table->schema_version);
  auto it = tables_.find(key);
  if (it != tables_.end() && SameTable(*it->second, *table)) return it->second;
  tables_[key] = table;
  if (on_table_version_) on_table_version_(table);
  return table;
}

}  // namespace eddy::nats
