#include "adapters/watermelon/watermelon_config.h"

#include <algorithm>
#include <filesystem>
#include <regex>
#include <set>

#include <fmt/format.h>

#include "common/toml_read.h"

namespace eddy::watermelon {
namespace {

const std::vector<std::string> kTableKeys = {
    "table",        "client_table", "id_column",   "columns",  "rename",
    "server_owned", "scope_column", "scope_claim", "added_in", "table_added_in"};

bool IsIdentifier(const std::string& name) {
  static const std::regex re("^[a-zA-Z_][a-zA-Z0-9_]*$");
  return std::regex_match(name, re);
}

bool IsClientName(const std::string& name) {
  // WatermelonDB's rule for table and column names, minus its reserved names.
  static const std::regex re("^[a-zA-Z_]\\w*$");
  static const std::set<std::string> kReserved = {
      "id",          "_status",   "_changed",  "local_storage", "$loki",   "rowid",         "oid",
      "constructor", "__proto__", "prototype", "toString",      "valueOf", "hasOwnProperty"};
  return std::regex_match(name, re) && !name.starts_with("__") && kReserved.count(name) == 0;
}

template <class T>
Status Read(const toml::table& t, const std::string& where, const char* key, T* out) {
  return ReadTomlValue(t.get(key), where, key, out);
}

Result<std::vector<std::string>> ReadList(const toml::table& t, const std::string& where,
                                          const char* key) {
  return ReadTomlStrings(t.get(key), where, key);
}

Status ReadTable(const toml::table& t, const std::string& where, WatermelonTableConfig* out) {
  for (const auto& [key, value] : t) {
    if (std::find(kTableKeys.begin(), kTableKeys.end(), std::string(key.str())) ==
        kTableKeys.end()) {
      return InvalidArgument(fmt::format("{}: unknown key {} (known: {})", where, key.str(),
                                         fmt::join(kTableKeys, ", ")));
    }
  }
  std::string qualified;
  EDDY_RETURN_IF_ERROR(Read(t, where, "table", &qualified));
  if (qualified.empty()) {
    return InvalidArgument(where + ".table: required, e.g. table = \"public.songs\"");
  }
  size_t dot = qualified.find('.');
  if (dot == std::string::npos) {
    out->table = qualified;
  } else {
    out->schema = qualified.substr(0, dot);
    out->table = qualified.substr(dot + 1);
  }
  EDDY_RETURN_IF_ERROR(Read(t, where, "client_table", &out->client_table));
  EDDY_RETURN_IF_ERROR(Read(t, where, "id_column", &out->id_column));
  EDDY_ASSIGN_OR_RETURN(out->columns, ReadList(t, where, "columns"));
  EDDY_ASSIGN_OR_RETURN(out->server_owned, ReadList(t, where, "server_owned"));
  EDDY_RETURN_IF_ERROR(Read(t, where, "scope_column", &out->scope_column));
  EDDY_RETURN_IF_ERROR(Read(t, where, "scope_claim", &out->scope_claim));
  EDDY_RETURN_IF_ERROR(Read(t, where, "table_added_in", &out->table_added_in));
  if (const toml::node* n = t.get("rename")) {
    const toml::table* r = n->as_table();
    if (r == nullptr) {
      return InvalidArgument(where +
                             ".rename: must be a table, e.g. rename = { date_added = "
                             "\"created_at\" }");
    }
    for (const auto& [key, value] : *r) {
      auto v = value.value<std::string>();
      if (!v)
        return InvalidArgument(fmt::format("{}.rename.{}: must be a string", where, key.str()));
      out->rename[std::string(key.str())] = *v;
    }
  }
  if (const toml::node* n = t.get("added_in")) {
    const toml::table* r = n->as_table();
    if (r == nullptr) {
      return InvalidArgument(where + ".added_in: must be a table, e.g. added_in = { artist = 2 }");
    }
    for (const auto& [key, value] : *r) {
      auto v = value.value<int64_t>();
      if (!v || *v < 1) {
        return InvalidArgument(fmt::format(
            "{}.added_in.{}: must be a client schema version (1 or more)", where, key.str()));
      }
      out->added_in[std::string(key.str())] = *v;
    }
  }
  return Status::Ok();
}

}  // namespace

const std::vector<std::string>& WatermelonConfigKeys() {
  static const std::vector<std::string> keys = {
      "enabled",      "schema",  "tombstone_retention_hours", "max_push_mb", "barrier_timeout_ms",
      "pull_wait_ms", "workers", "stream_after_kb",           "spool_dir",   "tables"};
  return keys;
}

Status ReadWatermelonConfig(const toml::table& root, WatermelonConfig* config) {
  const toml::node* node = root.get("watermelon");
  if (node == nullptr) return Status::Ok();
  const toml::table* t = node->as_table();
  if (t == nullptr) return InvalidArgument("watermelon: must be a table ([watermelon])");
  const std::string where = "watermelon";
  EDDY_RETURN_IF_ERROR(Read(*t, where, "enabled", &config->enabled));
  EDDY_RETURN_IF_ERROR(Read(*t, where, "schema", &config->schema));
  EDDY_RETURN_IF_ERROR(
      Read(*t, where, "tombstone_retention_hours", &config->tombstone_retention_hours));
  EDDY_RETURN_IF_ERROR(Read(*t, where, "max_push_mb", &config->max_push_mb));
  EDDY_RETURN_IF_ERROR(Read(*t, where, "barrier_timeout_ms", &config->barrier_timeout_ms));
  EDDY_RETURN_IF_ERROR(Read(*t, where, "pull_wait_ms", &config->pull_wait_ms));
  EDDY_RETURN_IF_ERROR(Read(*t, where, "workers", &config->workers));
  EDDY_RETURN_IF_ERROR(Read(*t, where, "stream_after_kb", &config->stream_after_kb));
  EDDY_RETURN_IF_ERROR(Read(*t, where, "spool_dir", &config->spool_dir));
  EDDY_RETURN_IF_ERROR(Read(*t, where, "max_spool_mb", &config->max_spool_mb));
  EDDY_RETURN_IF_ERROR(Read(*t, where, "nudge_debounce_ms", &config->nudge_debounce_ms));
  if (const toml::node* tables = t->get("tables")) {
    const toml::array* a = tables->as_array();
    if (a == nullptr) {
      return InvalidArgument(
          "watermelon.tables: must be an array of tables ([[watermelon.tables]])");
    }
    for (size_t i = 0; i < a->size(); ++i) {
      const std::string w = fmt::format("watermelon.tables[{}]", i);
      const toml::table* entry = (*a)[i].as_table();
      if (entry == nullptr) return InvalidArgument(w + ": must be a table ([[watermelon.tables]])");
      WatermelonTableConfig table;
      EDDY_RETURN_IF_ERROR(ReadTable(*entry, w, &table));
      config->tables.push_back(std::move(table));
    }
  }
  return ValidateWatermelonConfig(*config);
}

Status ValidateWatermelonConfig(const WatermelonConfig& config) {
  if (!IsIdentifier(config.schema)) {
    return InvalidArgument(fmt::format(
        "watermelon.schema: \"{}\" is not a plain identifier (letters, digits, underscores)",
        config.schema));
  }
  if (config.tombstone_retention_hours < 1) {
    return InvalidArgument("watermelon.tombstone_retention_hours: must be 1 or more");
  }
  if (config.max_push_mb < 1 || config.max_push_mb > 1024) {
    return InvalidArgument("watermelon.max_push_mb: must be 1 to 1024");
  }
  if (config.barrier_timeout_ms < 100 || config.barrier_timeout_ms > 120'000) {
    return InvalidArgument("watermelon.barrier_timeout_ms: must be 100 to 120000");
  }
  if (config.pull_wait_ms < 0 || config.pull_wait_ms > 60'000) {
    return InvalidArgument("watermelon.pull_wait_ms: must be 0 to 60000");
  }
  if (config.workers < 1 || config.workers > 64) {
    return InvalidArgument("watermelon.workers: must be 1 to 64");
  }
  if (config.stream_after_kb < 1 || config.stream_after_kb > 1024 * 1024) {
    return InvalidArgument("watermelon.stream_after_kb: must be 1 to 1048576 (KiB)");
  }
  if (config.nudge_debounce_ms < 0 || config.nudge_debounce_ms > 60'000) {
    return InvalidArgument("watermelon.nudge_debounce_ms: must be 0 to 60000");
  }
  if (config.max_spool_mb < 1 || config.max_spool_mb > 1024 * 1024) {
    return InvalidArgument("watermelon.max_spool_mb: must be 1 to 1048576 (MiB)");
  }
  if (!config.spool_dir.empty() && !std::filesystem::is_directory(config.spool_dir)) {
    return InvalidArgument(fmt::format(
        "watermelon.spool_dir: \"{}\" is not a directory; create it or leave the key out (the "
        "system's temporary directory)",
        config.spool_dir));
  }
  std::set<std::string> client_tables;
  std::set<std::string> server_tables;
  for (size_t i = 0; i < config.tables.size(); ++i) {
    const WatermelonTableConfig& t = config.tables[i];
    const std::string w = fmt::format("watermelon.tables[{}]", i);
    if (t.table.empty()) return InvalidArgument(w + ".table: required, e.g. \"public.songs\"");
    const std::string client = t.client_table.empty() ? t.table : t.client_table;
    if (!IsClientName(client)) {
      return InvalidArgument(fmt::format(
          "{}.client_table: \"{}\" is not a valid WatermelonDB table name (letters, digits, "
          "underscores; set client_table)",
          w, client));
    }
    if (!client_tables.insert(client).second) {
      return InvalidArgument(
          fmt::format("{}.client_table: \"{}\" is used by two tables", w, client));
    }
    if (!server_tables.insert(t.schema + "." + t.table).second) {
      return InvalidArgument(
          fmt::format("{}.table: \"{}.{}\" is configured twice", w, t.schema, t.table));
    }
    if (t.schema == config.schema) {
      return InvalidArgument(
          fmt::format("{}.table: schema \"{}\" is eddy's own metadata schema (watermelon.schema)",
                      w, t.schema));
    }
    for (const auto& [server, client_name] : t.rename) {
      if (!IsClientName(client_name)) {
        return InvalidArgument(
            fmt::format("{}.rename.{}: \"{}\" is not a valid WatermelonDB column name", w, server,
                        client_name));
      }
    }
    if (!t.scope_column.empty() && t.scope_claim.empty()) {
      return InvalidArgument(w + ".scope_claim: required with scope_column (e.g. \"sub\")");
    }
  }
  return Status::Ok();
}

}  // namespace eddy::watermelon
