#pragma once

#include <optional>
#include <string>
#include <vector>

#include "eddy/change.h"
#include "eddy/result.h"

namespace eddy::watch {

// A configured watcher, EctoWatch-style: a table, its operations and what to send.
struct WatcherDef {
  std::string schema = "public";
  std::string table;
  std::vector<Op> ops;
  std::string label;  // optional
  std::vector<std::string> trigger_columns;
  std::vector<std::string> extra_columns;

  // The names this watcher answers to: its label, or "<schema>.<table>.<op>" for each op.
  std::vector<std::string> Names() const;
};

struct WatchConfig {
  bool allow_adhoc = false;  // subscriptions by table/op that name no watcher
  std::vector<WatcherDef> watchers;
};

// Checks the watchers against each other: two on one table and op need distinct labels; labels
// are unique. Errors name the watcher (by index and table) and say the fix.
Status ValidateWatchers(const WatchConfig& config);

// "insert" -> Op; errors name `field`.
Result<Op> ParseOp(std::string_view text, std::string_view field);
// "songs" or "media.songs" -> (schema, table).
Result<std::pair<std::string, std::string>> ParseTableName(std::string_view text,
                                                           std::string_view field);

}  // namespace eddy::watch
