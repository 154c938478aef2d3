// eddy::Consumer::Open: a ConsumerCore fed by a Watcher's local log.
#include "eddy/consumer.h"

#include "deliver/consumer_core.h"
#include "deliver/watcher_feed.h"

namespace eddy {

Result<std::unique_ptr<Consumer>> Consumer::Open(Watcher& watcher, const ConsumerOptions& options,
                                                 ConsumerHandlers handlers) {
  auto feed = std::make_unique<deliver::WatcherFeed>(watcher, options.tables, options.ops);
  EDDY_ASSIGN_OR_RETURN(std::unique_ptr<deliver::ConsumerCore> core,
                        deliver::ConsumerCore::Open(options, std::move(handlers), std::move(feed)));
  EDDY_RETURN_IF_ERROR(core->Start());
  return std::unique_ptr<Consumer>(std::move(core));
}

}  // namespace eddy
