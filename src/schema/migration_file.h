#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/result.h"

namespace eddy::schema {

// The parts of a migration file name `<version>_<name>.sql`: `1732300000_media_library.sql` is
// version 1732300000, name "media_library". The version is 1 to 18 decimal digits (it is stored
// as a bigint); the name is letters, digits, '_' and '-'.
struct MigrationFileName {
  int64_t version = 0;
  std::string name;
};

// The pattern ParseMigrationFileName accepts, for error messages.
inline constexpr std::string_view kMigrationFilePattern =
    "<digits>_<name>.sql (e.g. 1732300000_media_library.sql; name: letters, digits, _ and -)";

// Parses a file name (no directory part). kInvalidArgument names the file and the pattern.
Result<MigrationFileName> ParseMigrationFileName(std::string_view file_name);

// One migration: its name parts, where it came from, its text and the SHA-256 of its bytes.
struct MigrationFile {
  int64_t version = 0;
  std::string name;
  std::string file_name;  // "1732300000_media_library.sql"
  std::string path;       // as found in the directory
  std::string sql;
  std::string checksum;  // lower-case hex SHA-256 of the file's bytes
};

// Reads every `*.sql` file directly in `dir` (other files and sub-directories are ignored) and
// returns them in version order. Errors:
//   kNotFound: `dir` is not a directory
//   kInvalidArgument: a .sql file whose name does not match kMigrationFilePattern, or two files
//                     with the same version (both are named)
//   kIoError: a file could not be read
Result<std::vector<MigrationFile>> LoadMigrationDir(const std::string& dir);

// Lower-case hex SHA-256 of `bytes`.
std::string Sha256Hex(std::string_view bytes);

// The 1-based line of the 1-based character `position` in `text` (UTF-8: a character is a code
// point, as PostgreSQL counts them). Positions past the end give the last line; 0 gives 0.
int LineOfPosition(std::string_view text, int position);

}  // namespace eddy::schema
