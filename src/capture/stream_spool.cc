#include "capture/stream_spool.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <unordered_map>

#include <fmt/format.h>

#include "change/binary_codec.h"
#include "common/byte_reader.h"

namespace eddy::capture {
namespace {

constexpr uint8_t kTableRecord = 1;
constexpr uint8_t kChangeRecord = 2;
constexpr size_t kFileBuffer = 1 << 20;

uint64_t TableKey(RelationId id, uint32_t version) {
  return (static_cast<uint64_t>(id.value()) << 32) | version;
}

}  // namespace

Result<std::unique_ptr<StreamSpool>> StreamSpool::Open(const std::string& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  std::filesystem::create_directories(dir, ec);
  if (ec) return IoError(fmt::format("cannot create spool directory {}: {}", dir, ec.message()));
  return std::unique_ptr<StreamSpool>(new StreamSpool(dir));
}

StreamSpool::~StreamSpool() { DropAll(); }

std::string StreamSpool::PathFor(Xid xid) const {
  return fmt::format("{}/{}.spool", dir_, xid.value());
}

Status StreamSpool::Begin(Xid xid, bool first_segment) {
  auto it = files_.find(xid.value());
  if (it != files_.end() && !first_segment) return Status::Ok();
  if (it != files_.end()) Drop(xid);
  File file;
  file.path = PathFor(xid);
  file.handle = std::fopen(file.path.c_str(), "w+b");
  if (file.handle == nullptr) {
    return IoError(fmt::format("cannot create spool file {}: {}", file.path, std::strerror(errno)));
  }
  std::setvbuf(file.handle, nullptr, _IOFBF, kFileBuffer);
  files_.emplace(xid.value(), std::move(file));
  return Status::Ok();
}

Status StreamSpool::WriteRecord(File& file, uint8_t type, uint32_t subxid,
                                const std::string& payload) {
  std::string header;
  ByteWriter w(&header);
  w.WriteU32(static_cast<uint32_t>(payload.size()));
  w.WriteU8(type);
  w.WriteU32(subxid);
  if (std::fwrite(header.data(), 1, header.size(), file.handle) != header.size() ||
      std::fwrite(payload.data(), 1, payload.size(), file.handle) != payload.size()) {
    return IoError(fmt::format("cannot write spool file {}: {}", file.path, std::strerror(errno)));
  }
  file.bytes += header.size() + payload.size();
  bytes_ += header.size() + payload.size();
  return Status::Ok();
}

Status StreamSpool::Append(Xid xid, Xid subxid, const Change& change) {
  auto it = files_.find(xid.value());
  if (it == files_.end()) {
    // A change outside Stream Start means the stream is broken.
    return Corruption(
        fmt::format("streamed change for transaction {} outside a stream", xid.value()));
  }
  File& file = it->second;
  auto key = std::make_pair(change.table->relation_id.value(), change.table->schema_version);
  if (file.tables_written.insert(key).second) {
    scratch_.clear();
    change::EncodeTable(*change.table, &scratch_);
    EDDY_RETURN_IF_ERROR(WriteRecord(file, kTableRecord, subxid.value(), scratch_));
  }
  scratch_.clear();
  change::EncodeChange(change, &scratch_);
  return WriteRecord(file, kChangeRecord, subxid.value(), scratch_);
}

void StreamSpool::AbortSubtransaction(Xid xid, Xid subxid) {
  auto it = files_.find(xid.value());
  if (it != files_.end()) it->second.aborted_subxids.insert(subxid.value());
}

void StreamSpool::Drop(Xid xid) {
  auto it = files_.find(xid.value());
  if (it == files_.end()) return;
  std::fclose(it->second.handle);
  std::remove(it->second.path.c_str());
  bytes_ -= it->second.bytes;
  files_.erase(it);
}

void StreamSpool::DropAll() {
  while (!files_.empty()) Drop(Xid(files_.begin()->first));
}

Status StreamSpool::Release(Xid xid, const std::function<Status(Change&)>& emit) {
  auto it = files_.find(xid.value());
  if (it == files_.end()) return Status::Ok();  // a streamed transaction with no changes for us
  File& file = it->second;
  if (std::fflush(file.handle) != 0 || std::fseek(file.handle, 0, SEEK_SET) != 0) {
    Status s = IoError(fmt::format("cannot rewind spool file {}", file.path));
    Drop(xid);
    return s;
  }
  std::unordered_map<uint64_t, std::shared_ptr<const Table>> tables;
  auto lookup = [&tables](RelationId id, uint32_t version) -> std::shared_ptr<const Table> {
    auto t = tables.find(TableKey(id, version));
    return t == tables.end() ? nullptr : t->second;
  };
  Status status;
  std::string header(9, '\0');
  std::string payload;
  while (status.ok()) {
    size_t n = std::fread(header.data(), 1, header.size(), file.handle);
    if (n == 0) break;
    if (n != header.size()) {
      status = Corruption(fmt::format("spool file {} ends inside a record", file.path));
      break;
    }
    ByteReader r(header);
    uint32_t size = r.ReadU32();
    uint8_t type = r.ReadU8();
    uint32_t subxid = r.ReadU32();
    payload.resize(size);
    if (std::fread(payload.data(), 1, size, file.handle) != size) {
      status = Corruption(fmt::format("spool file {} ends inside a record", file.path));
      break;
    }
    if (type == kTableRecord) {
      auto table = change::DecodeTable(payload);
      if (!table.ok()) {
        status = table.status();
        break;
      }
      tables[TableKey((*table)->relation_id, (*table)->schema_version)] = *table;
      continue;
    }
    if (file.aborted_subxids.count(subxid) != 0) continue;
    auto change = change::DecodeChange(payload, lookup);
    if (!change.ok()) {
      status = change.status();
      break;
    }
    status = emit(*change);
  }
  Drop(xid);
  return status;
}

}  // namespace eddy::capture
