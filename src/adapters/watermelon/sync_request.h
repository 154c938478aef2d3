#pragma once

// Parsing of what WatermelonDB clients send (spec 1.1 and 2.1): the pull's query parameters, the
// `migration` parameter and the push body. Pure and fuzzed (tests/fuzz/watermelon_push_fuzzer).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "eddy/result.h"

#include "adapters/watermelon/value_mapping.h"

namespace eddy::watermelon {

// The largest lastPulledAt / timestamp eddy accepts or sends: JavaScript's safe integers.
inline constexpr int64_t kMaxTimestamp = 9007199254740991;

// lastPulledAt: null, "null", "", "0", "undefined" and a missing value all mean a first sync
// (nullopt). A fraction is truncated (the client reads it back with parseInt). kInvalidArgument
// (naming `field`) for anything else that is not a number in [0, 2^53-1].
Result<std::optional<int64_t>> ParseLastPulledAt(std::optional<std::string_view> text,
                                                 std::string_view field);

struct MigrationColumns {
  std::string table;
  std::vector<std::string> columns;
};
struct MigrationRequest {
  int64_t from = 0;
  std::vector<std::string> tables;
  std::vector<MigrationColumns> columns;
};

// The `migration` parameter: null / "null" / missing is nullopt, else
// {"from":n,"tables":[...],"columns":[{"table":..,"columns":[...]}]}.
Result<std::optional<MigrationRequest>> ParseMigration(std::optional<std::string_view> text);

struct PushRecord {
  std::string id;
  std::vector<std::pair<std::string, JsonValue>> fields;  // without id, _status and _changed
};
struct PushTable {
  std::vector<PushRecord> created;
  std::vector<PushRecord> updated;
  std::vector<std::string> deleted;
};
struct PushBody {
  std::map<std::string, PushTable> changes;  // by client table name
  std::optional<int64_t> last_pulled_at;     // from {"lastPulledAt": n} when sent
};

// The push body: the bare changes object, or {"changes": {...}, "lastPulledAt": n}. Errors are
// kInvalidArgument naming the JSON path ("changes.songs.created[3].id: must be a string").
Result<PushBody> ParsePushBody(std::string_view body);

// True when `id` is safe to sync: 1 to 255 bytes, none of ' " \ / $ and no control characters.
bool IsSafeId(std::string_view id);

}  // namespace eddy::watermelon
