#include "server/config.h"

#include <cstdlib>
#include <regex>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

namespace eddy::server {
namespace {

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

Result<bool> ParseBool(const std::string& name, const std::string& value) {
  if (value == "1" || value == "true" || value == "yes" || value == "on") return true;
  if (value == "0" || value == "false" || value == "no" || value == "off") return false;
  return InvalidArgument(
      fmt::format("{}: \"{}\" is not a boolean (use true or false)", name, value));
}

template <class T>
Status ReadKey(const toml::table& t, const char* section, const char* key, T* out) {
  const toml::node* n = t.at_path(std::string(section) + "." + key).node();
  if (n == nullptr) return Status::Ok();
  if (auto v = n->value<T>()) {
    *out = *v;
    return Status::Ok();
  }
  return InvalidArgument(fmt::format("{}.{}: has the wrong type (expected {})", section, key,
                                     std::is_same_v<T, std::string> ? "a string"
                                     : std::is_same_v<T, bool>      ? "true or false"
                                                                    : "an integer"));
}

}  // namespace

Status ApplyConfigFile(const std::string& path, Config* config) {
  toml::table t;
  try {
    t = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return InvalidArgument(fmt::format("config file {} line {} column {}: {}", path,
                                       e.source().begin.line, e.source().begin.column,
                                       e.description()));
  }
  static const std::map<std::string, std::vector<std::string>> kKnown = {
      {"source", {"database_url"}},
      {"capture", {"slot", "publication", "tables", "recreate_slot"}},
      {"log", {"data_dir", "segment_mb", "retention_mb", "retention_hours", "fsync"}},
  };
  for (const auto& [section, node] : t) {
    auto known = kKnown.find(std::string(section.str()));
    if (known == kKnown.end()) {
      return InvalidArgument(
          fmt::format("config file {}: unknown section [{}] (known: source, "
                      "capture, log)",
                      path, section.str()));
    }
    if (const toml::table* st = node.as_table()) {
      for (const auto& [key, value] : *st) {
        const auto& keys = known->second;
        if (std::find(keys.begin(), keys.end(), std::string(key.str())) == keys.end()) {
          return InvalidArgument(fmt::format("config file {}: unknown key {}.{} (known: {})", path,
                                             section.str(), key.str(), fmt::join(keys, ", ")));
        }
      }
    }
  }
  WatcherOptions& w = config->watcher;
  EDDY_RETURN_IF_ERROR(ReadKey(t, "source", "database_url", &w.database_url));
  EDDY_RETURN_IF_ERROR(ReadKey(t, "capture", "slot", &w.slot));
  EDDY_RETURN_IF_ERROR(ReadKey(t, "capture", "publication", &w.publication));
  EDDY_RETURN_IF_ERROR(ReadKey(t, "capture", "recreate_slot", &w.recreate_slot));
  if (const toml::array* tables = t.at_path("capture.tables").as_array()) {
    w.tables.clear();
    for (const toml::node& n : *tables) {
      auto s = n.value<std::string>();
      if (!s)
        return InvalidArgument(
            "capture.tables: every entry must be a string such as \"public.songs\"");
      w.tables.push_back(*s);
    }
  } else if (t.at_path("capture.tables").node() != nullptr) {
    return InvalidArgument("capture.tables: must be an array of table names");
  }
  EDDY_RETURN_IF_ERROR(ReadKey(t, "log", "data_dir", &w.data_dir));
  int64_t segment_mb = static_cast<int64_t>(w.segment_bytes >> 20);
  int64_t retention_mb = static_cast<int64_t>(w.retention_bytes >> 20);
  int64_t retention_hours = w.retention_age_seconds / 3600;
  EDDY_RETURN_IF_ERROR(ReadKey(t, "log", "segment_mb", &segment_mb));
  EDDY_RETURN_IF_ERROR(ReadKey(t, "log", "retention_mb", &retention_mb));
  EDDY_RETURN_IF_ERROR(ReadKey(t, "log", "retention_hours", &retention_hours));
  EDDY_RETURN_IF_ERROR(ReadKey(t, "log", "fsync", &w.fsync));
  if (segment_mb < 1 || segment_mb > 4096) {
    return InvalidArgument("log.segment_mb: must be between 1 and 4096");
  }
  if (retention_mb < 0) return InvalidArgument("log.retention_mb: must be 0 (keep all) or more");
  if (retention_hours < 0)
    return InvalidArgument("log.retention_hours: must be 0 (keep all) or more");
  w.segment_bytes = static_cast<uint64_t>(segment_mb) << 20;
  w.retention_bytes = static_cast<uint64_t>(retention_mb) << 20;
  w.retention_age_seconds = retention_hours * 3600;
  config->config_file = path;
  return Status::Ok();
}

Status ApplyEnvironment(Config* config, const char* (*getenv_fn)(const char*)) {
  auto get = [getenv_fn](const char* name) -> const char* {
    return getenv_fn ? getenv_fn(name) : std::getenv(name);
  };
  WatcherOptions& w = config->watcher;
  if (const char* v = get("DATABASE_URL"); v && *v) w.database_url = v;
  if (const char* v = get("EDDY_DATA_DIR"); v && *v) w.data_dir = v;
  if (const char* v = get("EDDY_SLOT"); v && *v) w.slot = v;
  if (const char* v = get("EDDY_PUBLICATION"); v && *v) w.publication = v;
  if (const char* v = get("EDDY_TABLES"); v && *v) w.tables = SplitList(v);
  if (const char* v = get("EDDY_RECREATE_SLOT"); v && *v) {
    EDDY_ASSIGN_OR_RETURN(w.recreate_slot, ParseBool("EDDY_RECREATE_SLOT", v));
  }
  if (const char* v = get("EDDY_SEGMENT_MB"); v && *v) {
    char* end = nullptr;
    long mb = std::strtol(v, &end, 10);
    if (*end != '\0' || mb < 1 || mb > 4096) {
      return InvalidArgument(
          fmt::format("EDDY_SEGMENT_MB: \"{}\" is not a size in MiB between 1 and 4096", v));
    }
    w.segment_bytes = static_cast<uint64_t>(mb) << 20;
  }
  if (const char* v = get("EDDY_FSYNC"); v && *v) {
    EDDY_ASSIGN_OR_RETURN(w.fsync, ParseBool("EDDY_FSYNC", v));
  }
  return Status::Ok();
}

Status Validate(const Config& config) {
  const WatcherOptions& w = config.watcher;
  // Slot names: PostgreSQL allows lower-case letters, digits and underscores, up to 63 bytes.
  static const std::regex kSlot("^[a-z0-9_]{1,63}$");
  if (!std::regex_match(w.slot, kSlot)) {
    return InvalidArgument(
        fmt::format("capture.slot: \"{}\" is not a valid slot name (lower-case letters, digits and "
                    "underscores, at most 63)",
                    w.slot));
  }
  if (w.publication.empty() || w.publication.size() > 63) {
    return InvalidArgument("capture.publication: must be 1 to 63 bytes");
  }
  for (const std::string& t : w.tables) {
    if (t.empty() || t.front() == '.' || t.back() == '.' ||
        std::count(t.begin(), t.end(), '.') > 1) {
      return InvalidArgument(
          fmt::format("capture.tables: \"{}\" is not a table name (use table or schema.table)", t));
    }
  }
  if (w.data_dir.empty()) return InvalidArgument("log.data_dir: must not be empty");
  return Status::Ok();
}

}  // namespace eddy::server
