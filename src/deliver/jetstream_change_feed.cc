#include "deliver/jetstream_change_feed.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "deliver/consumer_core.h"
#include "deliver/table_filter.h"

namespace eddy::deliver {

JetStreamChangeFeed::JetStreamChangeFeed(nats::FeedOptions options, std::vector<std::string> tables,
                                         std::vector<Op> ops)
    : options_(std::move(options)), tables_(std::move(tables)), ops_(std::move(ops)) {}

JetStreamChangeFeed::~JetStreamChangeFeed() { Cancel(); }

bool JetStreamChangeFeed::Wanted(const Change& change) const {
  if (!ops_.empty() && std::find(ops_.begin(), ops_.end(), change.op) == ops_.end()) return false;
  return !change.table || TableWanted(tables_, *change.table);
}

Result<Position> JetStreamChangeFeed::Start(std::optional<Position> after) {
  // The durable consumer on the server knows where this consumer is; `after` is not needed.
  EDDY_ASSIGN_OR_RETURN(feed_, nats::JetStreamFeed::Open(options_));
  return after.value_or(Position{});
}

Result<std::optional<FeedEntry>> JetStreamChangeFeed::Next(std::chrono::milliseconds wait) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cancelled_) return Aborted("consumer feed cancelled");
  }
  Result<std::optional<nats::FeedItem>> item = feed_->Next(wait);
  if (!item.ok()) {
    // The feed reconnects on its own: a lost connection is a pause, not the end.
    if (item.status().code() == StatusCode::kUnavailable) return std::optional<FeedEntry>();
    return item.status();
  }
  if (!item->has_value()) return std::optional<FeedEntry>();
  nats::FeedItem& it = **item;
  if (!Wanted(it.change)) {
    Status s = it.Ack();
    if (!s.ok()) spdlog::warn("jetstream feed: ack: {}", s.ToString());
    return std::optional<FeedEntry>();
  }
  FeedEntry entry;
  entry.kind = FeedEntry::Kind::kChange;
  entry.change = it.change;
  entry.token = it.stream_sequence;
  std::lock_guard<std::mutex> lock(mu_);
  unsettled_.insert_or_assign(entry.token, std::move(it));
  return std::optional<FeedEntry>(std::move(entry));
}

void JetStreamChangeFeed::Acknowledge(const FeedEntry& entry) {
  std::optional<nats::FeedItem> item;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto found = unsettled_.find(entry.token);
    if (found == unsettled_.end()) return;
    item.emplace(std::move(found->second));
    unsettled_.erase(found);
  }
  // Unacknowledged (e.g. the connection dropped) means redelivered later: at least once.
  Status s = item->Ack();
  if (!s.ok()) spdlog::warn("jetstream feed: ack of sequence {}: {}", entry.token, s.ToString());
}

void JetStreamChangeFeed::Cancel() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cancelled_) return;
    cancelled_ = true;
  }
  if (feed_) feed_->Close();
}

Result<std::unique_ptr<Consumer>> OpenJetStreamConsumer(const nats::FeedOptions& feed,
                                                        const ConsumerOptions& options,
                                                        ConsumerHandlers handlers) {
  auto source = std::make_unique<JetStreamChangeFeed>(feed, options.tables, options.ops);
  EDDY_ASSIGN_OR_RETURN(std::unique_ptr<ConsumerCore> core,
                        ConsumerCore::Open(options, std::move(handlers), std::move(source)));
  EDDY_RETURN_IF_ERROR(core->Start());
  return std::unique_ptr<Consumer>(std::move(core));
}

}  // namespace eddy::deliver
