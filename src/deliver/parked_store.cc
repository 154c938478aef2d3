#include "deliver/parked_store.h"

#include <filesystem>

#include <fmt/format.h>

#include "change/binary_codec.h"
#include "common/byte_reader.h"
#include "common/crc32c.h"
#include "log/file.h"

namespace eddy::deliver {
namespace {

constexpr std::string_view kMagic = "EDDYPRK1";
constexpr std::string_view kSuffix = ".park";
constexpr uint32_t kMaxField = 1u << 30;

}  // namespace

std::string KeyOf(const Change& change) {
  std::string key = change.table ? change.table->QualifiedName() : std::string();
  for (const Value* v : change.KeyValues()) {
    // A length prefix per value keeps ("a,b") and ("a", "b") apart; NULL has its own marker.
    key.push_back('\x1f');
    if (v->kind == Value::Kind::kText) {
      key += std::to_string(v->text.size());
      key.push_back(':');
      key += v->text;
    } else {
      key.push_back(v->kind == Value::Kind::kNull ? 'N' : 'U');
    }
  }
  return key;
}

std::string ParkedStore::Encode(const ParkedChange& parked) {
  std::string body;
  ByteWriter w(&body);
  w.WriteU64(parked.id);
  w.WriteU32(static_cast<uint32_t>(parked.attempts));
  w.WriteU32(static_cast<uint32_t>(parked.error.size()));
  w.WriteBytes(parked.error);
  std::string table;
  if (parked.change.table) change::EncodeTable(*parked.change.table, &table);
  w.WriteU32(static_cast<uint32_t>(table.size()));
  w.WriteBytes(table);
  std::string encoded;
  change::EncodeChange(parked.change, &encoded);
  w.WriteU32(static_cast<uint32_t>(encoded.size()));
  w.WriteBytes(encoded);
  std::string out(kMagic);
  ByteWriter header(&out);
  header.WriteU32(Crc32c(body));
  out += body;
  return out;
}

Result<ParkedChange> ParkedStore::Decode(std::string_view bytes) {
  if (bytes.size() < kMagic.size() + 4 || bytes.substr(0, kMagic.size()) != kMagic) {
    return Corruption("parked change: bad magic (not an eddy parked-change file)");
  }
  ByteReader header(bytes.substr(kMagic.size(), 4));
  const uint32_t crc = header.ReadU32();
  std::string_view body = bytes.substr(kMagic.size() + 4);
  if (Crc32c(body) != crc) return Corruption("parked change: checksum mismatch");
  ByteReader r(body);
  ParkedChange out;
  out.id = r.ReadU64();
  out.attempts = static_cast<int>(r.ReadU32());
  uint32_t n = r.ReadU32();
  if (!r.ok() || n > kMaxField || n > r.remaining()) {
    return Corruption("parked change: truncated error text");
  }
  out.error = std::string(r.ReadBytes(n));
  n = r.ReadU32();
  if (!r.ok() || n > r.remaining()) return Corruption("parked change: truncated table");
  std::string_view table_bytes = r.ReadBytes(n);
  EDDY_ASSIGN_OR_RETURN(std::shared_ptr<const Table> table, change::DecodeTable(table_bytes));
  n = r.ReadU32();
  if (!r.ok() || n > r.remaining()) return Corruption("parked change: truncated change");
  std::string_view change_bytes = r.ReadBytes(n);
  if (!r.AtEnd()) return Corruption("parked change: trailing bytes");
  auto lookup = [&table](RelationId id, uint32_t version) -> std::shared_ptr<const Table> {
    if (id == table->relation_id && version == table->schema_version) return table;
    return nullptr;
  };
  EDDY_ASSIGN_OR_RETURN(out.change, change::DecodeChange(change_bytes, lookup));
  return out;
}

Result<std::unique_ptr<ParkedStore>> ParkedStore::Open(const std::string& dir) {
  EDDY_RETURN_IF_ERROR(log::CreateDirs(dir));
  std::unique_ptr<ParkedStore> store(new ParkedStore(dir));
  EDDY_ASSIGN_OR_RETURN(std::vector<std::string> names, log::ListDir(dir));
  for (const std::string& name : names) {
    if (name.size() <= kSuffix.size() ||
        name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0) {
      continue;  // temporaries of an interrupted write
    }
    const std::string path = dir + "/" + name;
    EDDY_ASSIGN_OR_RETURN(std::unique_ptr<log::File> file, log::File::OpenForRead(path));
    EDDY_ASSIGN_OR_RETURN(uint64_t size, file->Size());
    std::string bytes(size, '\0');
    EDDY_ASSIGN_OR_RETURN(size_t got, file->ReadAt(0, bytes.data(), bytes.size()));
    bytes.resize(got);
    Result<ParkedChange> parked = Decode(bytes);
    if (!parked.ok()) return parked.status().WithContext(path);
    const uint64_t id = parked->id;
    store->next_id_ = std::max(store->next_id_, id + 1);
    ++store->keys_[KeyOf(parked->change)];
    store->parked_.emplace(id, std::move(parked).value());
  }
  return store;
}

std::string ParkedStore::PathOf(uint64_t id) const {
  return fmt::format("{}/{:016x}{}", dir_, id, kSuffix);
}

Status ParkedStore::Write(const ParkedChange& parked) {
  const std::string path = PathOf(parked.id);
  const std::string tmp = path + ".tmp";
  EDDY_RETURN_IF_ERROR(log::RemoveFile(tmp));
  {
    EDDY_ASSIGN_OR_RETURN(std::unique_ptr<log::File> file, log::File::CreateNew(tmp));
    EDDY_RETURN_IF_ERROR(file->WriteAt(0, Encode(parked)));
    EDDY_RETURN_IF_ERROR(file->DataSync());
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return IoError(fmt::format("rename {} to {}: {}", tmp, path, ec.message()));
  return log::SyncDir(dir_);
}

Result<uint64_t> ParkedStore::Park(const Change& change, const std::string& error, int attempts) {
  ParkedChange parked;
  parked.id = next_id_;
  parked.change = change;
  parked.error = error;
  parked.attempts = attempts;
  EDDY_RETURN_IF_ERROR(Write(parked));
  ++next_id_;
  ++keys_[KeyOf(change)];
  parked_.emplace(parked.id, std::move(parked));
  return next_id_ - 1;
}

Status ParkedStore::Update(uint64_t id, const std::string& error, int attempts) {
  auto it = parked_.find(id);
  if (it == parked_.end()) return NotFound(fmt::format("parked change {} does not exist", id));
  ParkedChange copy = it->second;
  copy.error = error;
  copy.attempts = attempts;
  EDDY_RETURN_IF_ERROR(Write(copy));
  it->second = std::move(copy);
  return Status::Ok();
}

Status ParkedStore::Remove(uint64_t id) {
  auto it = parked_.find(id);
  if (it == parked_.end()) return NotFound(fmt::format("parked change {} does not exist", id));
  EDDY_RETURN_IF_ERROR(log::RemoveFile(PathOf(id)));
  EDDY_RETURN_IF_ERROR(log::SyncDir(dir_));
  const std::string key = KeyOf(it->second.change);
  if (--keys_[key] <= 0) keys_.erase(key);
  parked_.erase(it);
  return Status::Ok();
}

const ParkedChange* ParkedStore::Find(uint64_t id) const {
  auto it = parked_.find(id);
  return it == parked_.end() ? nullptr : &it->second;
}

std::vector<ParkedChange> ParkedStore::List() const {
  std::vector<ParkedChange> out;
  out.reserve(parked_.size());
  for (const auto& [id, p] : parked_) out.push_back(p);
  return out;
}

const ParkedChange* ParkedStore::OldestOf(const std::string& key) const {
  if (!HasKey(key)) return nullptr;
  for (const auto& [id, p] : parked_) {
    if (KeyOf(p.change) == key) return &p;
  }
  return nullptr;
}

}  // namespace eddy::deliver
