#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "eddy/change.h"
#include "eddy/result.h"

namespace eddy::nats {

// The body and headers of one published change (docs/nats.md).
//
// Binary body (the default, Content-Type application/vnd.eddy.change.v1): one version byte (1),
// the length of the table description as a 4-byte little-endian integer, the table description
// (change::EncodeTable) and the change (change::EncodeChange). It rebuilds the exact Change: the
// table's columns, kinds, keys and schema version, and NULL apart from unchanged TOAST. Edge
// mode needs it. JSON body (nats.body = "json", Content-Type application/json): eddy's full
// change JSON (src/change/change_json.h) for readers that are not eddy.

enum class BodyFormat : uint8_t { kBinary, kJson };

inline constexpr char kBinaryContentType[] = "application/vnd.eddy.change.v1";
inline constexpr char kJsonContentType[] = "application/json";
inline constexpr uint8_t kBodyVersion = 1;

inline constexpr char kHeaderMsgId[] = "Nats-Msg-Id";  // the change's position
inline constexpr char kHeaderContentType[] = "Content-Type";
inline constexpr char kHeaderPosition[] = "Eddy-Position";             // "0/16B3748:3"
inline constexpr char kHeaderCommitLsn[] = "Eddy-Commit-Lsn";          // "0/16B3748"
inline constexpr char kHeaderEndLsn[] = "Eddy-End-Lsn";                // the transaction's end LSN
inline constexpr char kHeaderXid[] = "Eddy-Xid";                       // "770"
inline constexpr char kHeaderTxCount[] = "Eddy-Tx-Count";              // changes in the transaction
inline constexpr char kHeaderCommitTime[] = "Eddy-Commit-Time";        // ISO 8601, microseconds
inline constexpr char kHeaderSchemaVersion[] = "Eddy-Schema-Version";  // the table's version

// kInvalidArgument naming nats.body unless `text` is "binary" or "json".
Result<BodyFormat> ParseBodyFormat(std::string_view text);

void EncodeBody(const Change& change, BodyFormat format, std::string* out);
// Rebuilds a change from a binary body. The bytes come from the network: any malformation is
// kCorruption with a message saying what is wrong (fuzzed: tests/fuzz/nats_body_fuzzer.cc).
Result<Change> DecodeBinaryBody(std::string_view body);

// What a message says about its transaction.
struct TxInfo {
  uint32_t change_count = 0;
  Lsn end_lsn;
};

// The headers of a change of a transaction ending at `commit`, in publishing order.
std::vector<std::pair<const char*, std::string>> HeadersFor(const Change& change,
                                                            const Commit& commit,
                                                            BodyFormat format);

// Reads Eddy-Tx-Count and Eddy-End-Lsn through `get` (returns nullptr for a missing header);
// kCorruption when either is missing or malformed.
Result<TxInfo> ParseTxInfo(const std::function<const char*(const char* name)>& get);

}  // namespace eddy::nats
