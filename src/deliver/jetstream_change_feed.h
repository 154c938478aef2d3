#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "eddy/consumer.h"

#include "deliver/change_feed.h"
#include "nats/jetstream_feed.h"

namespace eddy::deliver {

// A ChangeFeed over a JetStream durable pull consumer (nats::JetStreamFeed): the changes another
// eddy published with its NATS sink. Each item is acknowledged to JetStream once the consumer
// finished it (handled or parked), so the durable consumer on the server is the real resume
// point; the consumer's own cursor file only records progress. Changes of tables or operations
// the consumer does not want are acknowledged at once and skipped.
//
// Threading: Start/Next on the dispatch thread; Acknowledge from lane threads; Cancel from any.
// mu_ guards the unsettled items.
class JetStreamChangeFeed final : public ChangeFeed {
 public:
  JetStreamChangeFeed(nats::FeedOptions options, std::vector<std::string> tables,
                      std::vector<Op> ops);
  ~JetStreamChangeFeed() override;

  Result<Position> Start(std::optional<Position> after) override;
  Result<std::optional<FeedEntry>> Next(std::chrono::milliseconds wait) override;
  void Acknowledge(const FeedEntry& entry) override;
  void Cancel() override;

 private:
  bool Wanted(const Change& change) const;

  const nats::FeedOptions options_;
  const std::vector<std::string> tables_;
  const std::vector<Op> ops_;
  std::unique_ptr<nats::JetStreamFeed> feed_;
  std::mutex mu_;
  std::map<uint64_t, nats::FeedItem> unsettled_;  // by stream sequence; guarded by mu_
  bool cancelled_ = false;                        // guarded by mu_
};

// A Consumer (docs/consumers.md) reading a JetStream stream instead of a local Watcher.
Result<std::unique_ptr<Consumer>> OpenJetStreamConsumer(const nats::FeedOptions& feed,
                                                        const ConsumerOptions& options,
                                                        ConsumerHandlers handlers);

}  // namespace eddy::deliver
