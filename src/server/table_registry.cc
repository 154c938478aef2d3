#include "server/table_registry.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include "change/binary_codec.h"
#include "common/byte_reader.h"
#include "common/crc32c.h"

namespace eddy::server {

Result<std::unique_ptr<TableRegistry>> TableRegistry::Open(std::string path) {
  std::unique_ptr<TableRegistry> registry(new TableRegistry(path));
  std::ifstream in(path, std::ios::binary);
  if (!in) return registry;  // first start
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string data = buffer.str();
  ByteReader r(data);
  while (r.ok() && !r.AtEnd()) {
    uint32_t size = r.ReadU32();
    uint32_t crc = r.ReadU32();
    std::string_view payload = r.ReadBytes(size);
    if (!r.ok() || Crc32c(payload) != crc) {
      return Corruption(
          fmt::format("table registry {} is damaged; remove it to start schema "
                      "versions afresh",
                      path));
    }
    auto table = change::DecodeTable(payload);
    if (!table.ok()) return table.status().WithContext(path);
    registry->tables_[(*table)->relation_id.value()] = *table;
  }
  return registry;
}

std::vector<std::shared_ptr<const Table>> TableRegistry::Tables() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::shared_ptr<const Table>> out;
  for (const auto& [id, t] : tables_) out.push_back(t);
  return out;
}

Status TableRegistry::Record(const std::shared_ptr<const Table>& table) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = tables_[table->relation_id.value()];
  if (slot && slot->schema_version >= table->schema_version) return Status::Ok();
  slot = table;
  return SaveLocked();
}

Status TableRegistry::SaveLocked() const {
  std::string data;
  ByteWriter w(&data);
  std::string payload;
  for (const auto& [id, t] : tables_) {
    payload.clear();
    change::EncodeTable(*t, &payload);
    w.WriteU32(static_cast<uint32_t>(payload.size()));
    w.WriteU32(Crc32c(payload));
    w.WriteBytes(payload);
  }
  const std::string tmp = path_ + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return IoError(fmt::format("cannot write {}: {}", tmp, std::strerror(errno)));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return IoError(fmt::format("cannot write {}: {}", tmp, std::strerror(errno)));
    }
    done += static_cast<size_t>(n);
  }
  if (::fdatasync(fd) != 0) {
    ::close(fd);
    return IoError(fmt::format("cannot sync {}: {}", tmp, std::strerror(errno)));
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    return IoError(fmt::format("cannot rename {}: {}", tmp, std::strerror(errno)));
  }
  return Status::Ok();
}

}  // namespace eddy::server
