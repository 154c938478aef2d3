#include "nats/jetstream_feed.h"

#include <deque>
#include <mutex>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "nats/jetstream_connection.h"
#include "nats/message_codec.h"

namespace eddy::nats {
namespace internal {

// Keeps the connection and subscription alive as long as any unsettled item needs them.
struct FeedLink {
  std::unique_ptr<JetStreamConnection> connection;
  natsSubscription* subscription = nullptr;
  ~FeedLink() {
    if (subscription != nullptr) natsSubscription_Destroy(subscription);
  }
};

struct FeedAck {
  std::shared_ptr<FeedLink> link;
  natsMsg* msg = nullptr;
  bool settled = false;
  ~FeedAck() {
    if (msg != nullptr) natsMsg_Destroy(msg);
  }
};

}  // namespace internal

FeedItem::FeedItem() = default;
FeedItem::FeedItem(FeedItem&&) noexcept = default;
FeedItem& FeedItem::operator=(FeedItem&&) noexcept = default;
FeedItem::~FeedItem() = default;

Status FeedItem::Ack() {
  if (!ack_ || ack_->settled) return FailedPrecondition("nats feed: item already settled");
  jsErrCode js_error = jsErrCode(0);
  natsStatus s = natsMsg_AckSync(ack_->msg, nullptr, &js_error);
  if (s != NATS_OK) return NatsError("ack " + change.position.ToString(), s, js_error);
  ack_->settled = true;
  return Status::Ok();
}

Status FeedItem::Nak(std::chrono::milliseconds delay) {
  if (!ack_ || ack_->settled) return FailedPrecondition("nats feed: item already settled");
  natsStatus s = delay.count() > 0 ? natsMsg_NakWithDelay(ack_->msg, delay.count(), nullptr)
                                   : natsMsg_Nak(ack_->msg, nullptr);
  if (s != NATS_OK) return NatsError("nak " + change.position.ToString(), s);
  ack_->settled = true;
  return Status::Ok();
}

struct JetStreamFeed::Impl {
  FeedOptions options;
  std::shared_ptr<internal::FeedLink> link;
  std::deque<natsMsg*> buffered;  // fetched, not yet handed out (Next's thread)
  std::atomic<bool> closed{false};
  ~Impl() {
    for (natsMsg* m : buffered) natsMsg_Destroy(m);
  }
};

Result<std::unique_ptr<JetStreamFeed>> JetStreamFeed::Open(const FeedOptions& options) {
  if (options.durable.empty()) return InvalidArgument("nats feed: durable: must not be empty");
  if (options.stream.empty()) return InvalidArgument("nats feed: stream: must not be empty");
  if (options.fetch_batch < 1 || options.max_ack_pending < 1 || options.ack_wait_ms < 1) {
    return InvalidArgument(
        "nats feed: fetch_batch, max_ack_pending and ack_wait_ms must be positive");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->link = std::make_shared<internal::FeedLink>();
  JetStreamConnection::Options connect;
  connect.url = options.url;
  connect.name = "eddy-feed-" + options.durable;
  EDDY_ASSIGN_OR_RETURN(impl->link->connection, JetStreamConnection::Connect(connect));
  EDDY_RETURN_IF_ERROR(impl->link->connection->CheckStreamExists(options.stream));
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = options.stream.c_str();
  so.Config.AckPolicy = js_AckExplicit;
  so.Config.AckWait = static_cast<int64_t>(options.ack_wait_ms) * 1'000'000;
  so.Config.MaxAckPending = options.max_ack_pending;
  so.Config.DeliverPolicy = js_DeliverAll;
  std::string filter = options.filter_subject.empty() ? std::string(">") : options.filter_subject;
  jsErrCode js_error = jsErrCode(0);
  natsStatus s = js_PullSubscribe(&impl->link->subscription, impl->link->connection->jetstream(),
                                  filter.c_str(), options.durable.c_str(), nullptr, &so, &js_error);
  if (s != NATS_OK) {
    return NatsError(fmt::format("pull consumer \"{}\" on {}", options.durable, options.stream), s,
                     js_error);
  }
  return std::unique_ptr<JetStreamFeed>(new JetStreamFeed(std::move(impl)));
}

JetStreamFeed::JetStreamFeed(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
JetStreamFeed::~JetStreamFeed() = default;

void JetStreamFeed::Close() { impl_->closed = true; }

Result<std::optional<FeedItem>> JetStreamFeed::Next(std::chrono::milliseconds timeout) {
  while (true) {
    if (impl_->closed) return Aborted("nats feed: closed");
    if (impl_->buffered.empty()) {
      natsMsgList list{};
      jsErrCode js_error = jsErrCode(0);
      // Short pulls so Close() is noticed quickly.
      int64_t wait = std::min<int64_t>(std::max<int64_t>(timeout.count(), 1), 250);
      natsStatus s = natsSubscription_Fetch(&list, impl_->link->subscription,
                                            impl_->options.fetch_batch, wait, &js_error);
      if (s == NATS_TIMEOUT) {
        timeout -= std::chrono::milliseconds(wait);
        if (timeout.count() <= 0) return std::optional<FeedItem>();
        continue;
      }
      if (s != NATS_OK) return NatsError("fetch from " + impl_->options.stream, s, js_error);
      for (int i = 0; i < list.Count; ++i) {
        impl_->buffered.push_back(list.Msgs[i]);
        list.Msgs[i] = nullptr;
      }
      natsMsgList_Destroy(&list);
      continue;
    }
    natsMsg* msg = impl_->buffered.front();
    impl_->buffered.pop_front();
    FeedItem item;
    item.ack_ = std::make_unique<internal::FeedAck>();
    item.ack_->link = impl_->link;
    item.ack_->msg = msg;
    auto header = [msg](const char* name) -> const char* {
      const char* value = nullptr;
      if (natsMsgHeader_Get(msg, name, &value) != NATS_OK) return nullptr;
      return value;
    };
    auto info = ParseTxInfo(header);
    Result<Change> change =
        info.ok()
            ? DecodeBinaryBody(std::string_view(natsMsg_GetData(msg), natsMsg_GetDataLength(msg)))
            : Result<Change>(info.status());
    if (!change.ok()) {
      // Terminated so a message that is not an eddy change does not come back forever.
      natsStatus ignored = natsMsg_Term(msg, nullptr);
      (void)ignored;
      return change.status().WithContext(
          fmt::format("nats feed: message on {} terminated", natsMsg_GetSubject(msg)));
    }
    item.change = std::move(change).value();
    item.tx_change_count = info->change_count;
    item.end_lsn = info->end_lsn;
    jsMsgMetaData* meta = nullptr;
    if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
      item.stream_sequence = meta->Sequence.Stream;
      item.delivery_count = meta->NumDelivered;
      jsMsgMetaData_Destroy(meta);
    }
    return std::optional<FeedItem>(std::move(item));
  }
}

}  // namespace eddy::nats
