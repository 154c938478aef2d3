#include "schema/migration_file.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <openssl/evp.h>

namespace eddy::schema {
namespace {

constexpr std::string_view kSuffix = ".sql";
constexpr size_t kMaxVersionDigits = 18;  // any 18-digit number fits a bigint

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

Status BadName(std::string_view file_name, std::string_view why) {
  return InvalidArgument(
      fmt::format("migration file \"{}\": {}; expected {}", file_name, why, kMigrationFilePattern));
}

}  // namespace

Result<MigrationFileName> ParseMigrationFileName(std::string_view file_name) {
  if (file_name.size() <= kSuffix.size() ||
      file_name.substr(file_name.size() - kSuffix.size()) != kSuffix) {
    return BadName(file_name, "the name does not end in .sql");
  }
  const std::string_view stem = file_name.substr(0, file_name.size() - kSuffix.size());
  size_t digits = 0;
  while (digits < stem.size() && stem[digits] >= '0' && stem[digits] <= '9') ++digits;
  if (digits == 0) return BadName(file_name, "the name does not start with a version number");
  if (digits > kMaxVersionDigits) {
    return BadName(file_name,
                   fmt::format("the version has more than {} digits", kMaxVersionDigits));
  }
  if (digits == stem.size() || stem[digits] != '_') {
    return BadName(file_name, "the version is not followed by '_' and a name");
  }
  const std::string_view name = stem.substr(digits + 1);
  if (name.empty()) return BadName(file_name, "the name after the version is empty");
  if (!std::all_of(name.begin(), name.end(), IsNameChar)) {
    return BadName(file_name, "the name has characters other than letters, digits, _ and -");
  }
  MigrationFileName out;
  for (size_t i = 0; i < digits; ++i) out.version = out.version * 10 + (stem[i] - '0');
  out.name = std::string(name);
  return out;
}

Result<std::vector<MigrationFile>> LoadMigrationDir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return NotFound(fmt::format(
        "migrations directory \"{}\" does not exist or is not a directory (pass --dir, or set "
        "schema.dir)",
        dir));
  }
  std::vector<MigrationFile> files;
  std::map<int64_t, std::string> seen;  // version -> file name
  fs::directory_iterator it(dir, ec);
  if (ec) return IoError(fmt::format("migrations directory \"{}\": {}", dir, ec.message()));
  for (const fs::directory_entry& entry : it) {
    const std::string file_name = entry.path().filename().string();
    if (entry.path().extension() != kSuffix || file_name.front() == '.') continue;
    if (!entry.is_regular_file(ec)) continue;
    EDDY_ASSIGN_OR_RETURN(MigrationFileName parsed, ParseMigrationFileName(file_name));
    auto [other, inserted] = seen.emplace(parsed.version, file_name);
    if (!inserted) {
      const auto [first, second] = std::minmax(other->second, file_name);
      return InvalidArgument(fmt::format(
          "migration files \"{}\" and \"{}\" in {} have the same version {}: give one of them "
          "another timestamp",
          first, second, dir, parsed.version));
    }
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    if (!in.good() && !in.eof()) {
      return IoError(fmt::format("migration file {}: could not be read", entry.path().string()));
    }
    MigrationFile file;
    file.version = parsed.version;
    file.name = std::move(parsed.name);
    file.file_name = file_name;
    file.path = entry.path().string();
    file.sql = bytes.str();
    file.checksum = Sha256Hex(file.sql);
    files.push_back(std::move(file));
  }
  std::sort(files.begin(), files.end(),
            [](const MigrationFile& a, const MigrationFile& b) { return a.version < b.version; });
  return files;
}

std::string Sha256Hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr);
  std::string hex;
  hex.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

int LineOfPosition(std::string_view text, int position) {
  if (position <= 0) return 0;
  int line = 1;
  int character = 0;
  for (const char c : text) {
    // A UTF-8 continuation byte (10xxxxxx) does not start a character.
    if ((static_cast<unsigned char>(c) & 0xC0) == 0x80) continue;
    if (++character >= position) break;
    if (c == '\n') ++line;
  }
  return line;
}

}  // namespace eddy::schema
