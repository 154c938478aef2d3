#include "log/cursor_file.h"

#include <filesystem>

#include <fmt/format.h>

#include "log/file.h"

namespace eddy::log {

// The file holds one line: "<position> <end lsn>\n", e.g. "0/16B3748:3 0/16B3790".
Result<std::optional<Cursor>> CursorFile::Load() const {
  Result<std::unique_ptr<File>> file = File::OpenForRead(path_);
  if (!file.ok()) {
    if (file.status().code() == StatusCode::kNotFound) return std::optional<Cursor>();
    return file.status();
  }
  char buf[128];
  EDDY_ASSIGN_OR_RETURN(size_t n, (*file)->ReadAt(0, buf, sizeof(buf)));
  std::string_view text(buf, n);
  size_t space = text.find(' ');
  size_t newline = text.find('\n');
  if (space == std::string_view::npos || newline == std::string_view::npos || newline < space) {
    return Corruption(fmt::format("cursor file {}: expected \"<position> <end lsn>\"", path_));
  }
  std::optional<Position> position = Position::Parse(text.substr(0, space));
  std::optional<Lsn> end = Lsn::Parse(text.substr(space + 1, newline - space - 1));
  if (!position || !end) {
    return Corruption(
        fmt::format("cursor file {}: cannot parse \"{}\"", path_, text.substr(0, newline)));
  }
  return std::optional<Cursor>(Cursor{*position, *end});
}

Status CursorFile::Store(const Cursor& cursor) const {
  std::string dir = std::filesystem::path(path_).parent_path().string();
  if (!dir.empty()) EDDY_RETURN_IF_ERROR(CreateDirs(dir));
  std::string tmp = path_ + ".tmp";
  EDDY_RETURN_IF_ERROR(RemoveFile(tmp));
  EDDY_ASSIGN_OR_RETURN(std::unique_ptr<File> file, File::CreateNew(tmp));
  std::string line = fmt::format("{} {}\n", cursor.position.ToString(), cursor.end_lsn.ToString());
  EDDY_RETURN_IF_ERROR(file->WriteAt(0, line));
  EDDY_RETURN_IF_ERROR(file->DataSync());
  file.reset();
  std::error_code ec;
  std::filesystem::rename(tmp, path_, ec);
  if (ec) return IoError(fmt::format("rename {} to {}: {}", tmp, path_, ec.message()));
  if (!dir.empty()) EDDY_RETURN_IF_ERROR(SyncDir(dir));
  return Status::Ok();
}

}  // namespace eddy::log
