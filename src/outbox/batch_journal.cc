#include "outbox/batch_journal.h"

#include <charconv>
#include <filesystem>
#include <optional>

#include <fmt/format.h>

#include "common/crc32c.h"
#include "log/file.h"

namespace eddy::outbox {

namespace {
// Slot layout: "eddy-outbox-journal <sequence> <count> <crc32c of the body>\n" then the body, one
// "<commit lsn> <xid>\n" per entry.
struct Slot {
  uint64_t sequence = 0;
  std::vector<BatchJournal::Entry> entries;
};

bool ParseU64(std::string_view s, uint64_t* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

// nullopt: missing, torn or not ours.
std::optional<Slot> ReadSlot(const std::string& path) {
  auto file = log::File::OpenForRead(path);
  if (!file.ok()) return std::nullopt;
  auto size = (*file)->Size();
  if (!size.ok() || *size > (64u << 20)) return std::nullopt;
  std::string data(*size, '\0');
  auto n = (*file)->ReadAt(0, data.data(), data.size());
  if (!n.ok()) return std::nullopt;
  data.resize(*n);
  const size_t nl = data.find('\n');
  if (nl == std::string::npos) return std::nullopt;
  std::string_view header(data.data(), nl);
  constexpr std::string_view kMagic = "eddy-outbox-journal ";
  if (header.substr(0, kMagic.size()) != kMagic) return std::nullopt;
  header.remove_prefix(kMagic.size());
  uint64_t fields[3];
  for (int i = 0; i < 3; ++i) {
    const size_t sp = header.find(' ');
    std::string_view f = header.substr(0, sp);
    if (!ParseU64(f, &fields[i])) return std::nullopt;
    header = sp == std::string_view::npos ? std::string_view() : header.substr(sp + 1);
  }
  std::string_view body(data.data() + nl + 1, data.size() - nl - 1);
  // The slot is overwritten in place: a longer old body may follow; the count bounds it.
  Slot slot;
  slot.sequence = fields[0];
  size_t pos = 0;
  for (uint64_t i = 0; i < fields[1]; ++i) {
    const size_t end = body.find('\n', pos);
    if (end == std::string_view::npos) return std::nullopt;
    std::string_view line = body.substr(pos, end - pos);
    const size_t sp = line.find(' ');
    if (sp == std::string_view::npos) return std::nullopt;
    std::optional<Lsn> lsn = Lsn::Parse(line.substr(0, sp));
    uint64_t xid = 0;
    if (!lsn || !ParseU64(line.substr(sp + 1), &xid)) return std::nullopt;
    slot.entries.push_back(BatchJournal::Entry{*lsn, std::string(line.substr(sp + 1))});
    pos = end + 1;
  }
  if (Crc32c(body.substr(0, pos)) != fields[2]) return std::nullopt;
  return slot;
}
}  // namespace

Result<std::vector<BatchJournal::Entry>> BatchJournal::Load() {
  std::optional<Slot> a = ReadSlot(path_ + ".a");
  std::optional<Slot> b = ReadSlot(path_ + ".b");
  const bool a_exists = std::filesystem::exists(path_ + ".a");
  const bool b_exists = std::filesystem::exists(path_ + ".b");
  if (!a && !b) {
    if (a_exists && b_exists) {
      return Corruption(fmt::format(
          "outbox journal {}.a and {}.b are both damaged: delete them to start over (changes "
          "written just before the crash may then be delivered twice)",
          path_, path_));
    }
    return std::vector<Entry>{};
  }
  const Slot& newest = !b || (a && a->sequence > b->sequence) ? *a : *b;
  sequence_ = newest.sequence;
  return newest.entries;
}

Status BatchJournal::Store(const std::vector<Entry>& entries) {
  const uint64_t sequence = sequence_ + 1;
  std::string body;
  for (const Entry& e : entries) {
    body += fmt::format("{} {}\n", e.commit_lsn.ToString(), e.xid);
  }
  std::string data =
      fmt::format("eddy-outbox-journal {} {} {}\n", sequence, entries.size(), Crc32c(body)) + body;
  // Odd sequence numbers go to .a, even to .b: the slot written is always the older one.
  const std::string path = path_ + (sequence % 2 == 1 ? ".a" : ".b");
  Result<std::unique_ptr<log::File>> file = IoError("unopened");
  if (std::filesystem::exists(path)) {
    file = log::File::OpenForWrite(path);
  } else {
    const std::string dir = std::filesystem::path(path).parent_path().string();
    if (!dir.empty()) EDDY_RETURN_IF_ERROR(log::CreateDirs(dir));
    file = log::File::CreateNew(path);
    if (file.ok() && fsync_ && !dir.empty()) EDDY_RETURN_IF_ERROR(log::SyncDir(dir));
  }
  if (!file.ok()) return file.status();
  EDDY_RETURN_IF_ERROR((*file)->WriteAt(0, data));
  if (fsync_) EDDY_RETURN_IF_ERROR((*file)->DataSync());
  sequence_ = sequence;
  return Status::Ok();
}

}  // namespace eddy::outbox
