#include "nats/message_codec.h"

#include <charconv>

#include <fmt/format.h>

#include "change/binary_codec.h"
#include "change/change_json.h"

namespace eddy::nats {

Result<BodyFormat> ParseBodyFormat(std::string_view text) {
  if (text == "binary" || text.empty()) return BodyFormat::kBinary;
  if (text == "json") return BodyFormat::kJson;
  return InvalidArgument(fmt::format(
      "nats.body: \"{}\" is not a body format (use \"binary\", which edge mode needs, or "
      "\"json\")",
      text));
}

void EncodeBody(const Change& change, BodyFormat format, std::string* out) {
  if (format == BodyFormat::kJson) {
    change::JsonProjection projection;
    projection.rows = change::JsonProjection::Rows::kFull;
    change::AppendChangeJson(change, projection, out);
    return;
  }
  out->push_back(static_cast<char>(kBodyVersion));
  size_t length_at = out->size();
  out->append(4, '\0');
  change::EncodeTable(*change.table, out);
  auto table_bytes = static_cast<uint32_t>(out->size() - length_at - 4);
  for (int i = 0; i < 4; ++i) {
    (*out)[length_at + i] = static_cast<char>((table_bytes >> (8 * i)) & 0xFF);
  }
  change::EncodeChange(change, out);
}

Result<Change> DecodeBinaryBody(std::string_view body) {
  if (body.empty()) return Corruption("nats body: empty");
  if (static_cast<uint8_t>(body[0]) != kBodyVersion) {
    return Corruption(fmt::format(
        "nats body: version {} is not {} (not an eddy binary change, or a newer eddy wrote it)",
        static_cast<uint8_t>(body[0]), kBodyVersion));
  }
  if (body.size() < 5) return Corruption("nats body: shorter than its header");
  uint32_t table_bytes = 0;
  for (int i = 0; i < 4; ++i) {
    table_bytes |= static_cast<uint32_t>(static_cast<uint8_t>(body[1 + i])) << (8 * i);
  }
  if (table_bytes > body.size() - 5) {
    return Corruption(fmt::format("nats body: table length {} past the end of {} bytes",
                                  table_bytes, body.size()));
  }
  auto table = change::DecodeTable(body.substr(5, table_bytes));
  if (!table.ok()) return table.status().WithContext("nats body: table");
  std::shared_ptr<const Table> described = *table;
  auto decoded = change::DecodeChange(
      body.substr(5 + table_bytes),
      [&described](RelationId id, uint32_t version) -> std::shared_ptr<const Table> {
        if (id == described->relation_id && version == described->schema_version) {
          return described;
        }
        return nullptr;
      });
  if (!decoded.ok()) return decoded.status().WithContext("nats body: change");
  return std::move(decoded).value();
}

std::vector<std::pair<const char*, std::string>> HeadersFor(const Change& change,
                                                            const Commit& commit,
                                                            BodyFormat format) {
  std::string position = change.position.ToString();
  std::string commit_time;
  change::AppendIsoTimestamp(change.commit_time_us, &commit_time);
  std::vector<std::pair<const char*, std::string>> headers;
  headers.reserve(9);
  headers.emplace_back(kHeaderMsgId, position);
  headers.emplace_back(kHeaderContentType,
                       format == BodyFormat::kBinary ? kBinaryContentType : kJsonContentType);
  headers.emplace_back(kHeaderPosition, std::move(position));
  headers.emplace_back(kHeaderCommitLsn, change.position.commit_lsn.ToString());
  headers.emplace_back(kHeaderEndLsn, commit.end_lsn.ToString());
  headers.emplace_back(kHeaderXid, std::to_string(change.xid.value()));
  headers.emplace_back(kHeaderTxCount, std::to_string(commit.change_count));
  headers.emplace_back(kHeaderCommitTime, std::move(commit_time));
  headers.emplace_back(kHeaderSchemaVersion, std::to_string(change.table->schema_version));
  return headers;
}

Result<TxInfo> ParseTxInfo(const std::function<const char*(const char* name)>& get) {
  TxInfo info;
  const char* count = get(kHeaderTxCount);
  const char* end = get(kHeaderEndLsn);
  if (count == nullptr || end == nullptr) {
    return Corruption(fmt::format("nats message: missing {} or {} header (not published by eddy)",
                                  kHeaderTxCount, kHeaderEndLsn));
  }
  std::string_view count_text(count);
  auto [ptr, ec] =
      std::from_chars(count_text.data(), count_text.data() + count_text.size(), info.change_count);
  if (ec != std::errc() || ptr != count_text.data() + count_text.size() || info.change_count == 0) {
    return Corruption(
        fmt::format("nats message: {} \"{}\" is not a positive count", kHeaderTxCount, count_text));
  }
  std::optional<Lsn> lsn = Lsn::Parse(end);
  if (!lsn) {
    return Corruption(fmt::format("nats message: {} \"{}\" is not an LSN", kHeaderEndLsn, end));
  }
  info.end_lsn = *lsn;
  return info;
}

}  // namespace eddy::nats
