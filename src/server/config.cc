#include "server/config.h"

#include <algorithm>
#include <cstdlib>
#include <regex>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "common/toml_read.h"

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
  return ReadTomlValue(t.at_path(std::string(section) + "." + key).node(), section, key, out);
}

Result<std::vector<std::string>> ReadStrings(const toml::table& t, const char* key,
                                             const std::string& where) {
  return ReadTomlStrings(t.get(key), where, key);
}

// [[webhooks]]: name, url, secret, batch_max, timeout_ms, backoff_min_ms, backoff_max_ms, tables,
// ca_file.
Status ReadWebhooks(const toml::table& t, std::vector<deliver::WebhookOptions>* out) {
  const toml::node* node = t.get("webhooks");
  if (node == nullptr) return Status::Ok();
  const toml::array* hooks = node->as_array();
  if (hooks == nullptr)
    return InvalidArgument("webhooks: must be an array of tables ([[webhooks]])");
  static const std::vector<std::string> kKeys = {"name",           "url",        "secret",
                                                 "batch_max",      "timeout_ms", "backoff_min_ms",
                                                 "backoff_max_ms", "tables",     "ca_file"};
  for (size_t i = 0; i < hooks->size(); ++i) {
    const std::string where = fmt::format("webhooks[{}]", i);
    const toml::table* h = (*hooks)[i].as_table();
    if (h == nullptr) return InvalidArgument(where + ": must be a table ([[webhooks]])");
    for (const auto& [key, value] : *h) {
      if (std::find(kKeys.begin(), kKeys.end(), std::string(key.str())) == kKeys.end()) {
        return InvalidArgument(fmt::format("{}: unknown key {} (known: {})", where, key.str(),
                                           fmt::join(kKeys, ", ")));
      }
    }
    deliver::WebhookOptions w;
    auto text = [&](const char* key, std::string* v) -> Status {
      if (const toml::node* n = h->get(key)) {
        auto s = n->value<std::string>();
        if (!s) return InvalidArgument(fmt::format("{}.{}: must be a string", where, key));
        *v = *s;
      }
      return Status::Ok();
    };
    auto number = [&](const char* key, int* v) -> Status {
      if (const toml::node* n = h->get(key)) {
        auto x = n->value<int64_t>();
        if (!x || *x < 0 || *x > 86'400'000) {
          return InvalidArgument(fmt::format("{}.{}: must be a non-negative integer", where, key));
        }
        *v = static_cast<int>(*x);
      }
      return Status::Ok();
    };
    EDDY_RETURN_IF_ERROR(text("name", &w.name));
    EDDY_RETURN_IF_ERROR(text("url", &w.url));
    EDDY_RETURN_IF_ERROR(text("secret", &w.secret));
    EDDY_RETURN_IF_ERROR(text("ca_file", &w.ca_file));
    EDDY_RETURN_IF_ERROR(number("batch_max", &w.batch_max));
    EDDY_RETURN_IF_ERROR(number("timeout_ms", &w.timeout_ms));
    EDDY_RETURN_IF_ERROR(number("backoff_min_ms", &w.backoff_min_ms));
    EDDY_RETURN_IF_ERROR(number("backoff_max_ms", &w.backoff_max_ms));
    EDDY_ASSIGN_OR_RETURN(w.tables, ReadStrings(*h, "tables", where));
    EDDY_RETURN_IF_ERROR(deliver::ValidateWebhook(w, where));
    for (const deliver::WebhookOptions& other : *out) {
      if (other.name == w.name) {
        return InvalidArgument(fmt::format("{}.name: \"{}\" is used twice", where, w.name));
      }
    }
    out->push_back(std::move(w));
  }
  return Status::Ok();
}

// [[consumers]]: name, exec, tables, ops, lanes, max_attempts, backoff_min_ms, backoff_max_ms,
// max_in_flight, from ("now" or "start").
Status ReadConsumers(const toml::table& t, std::vector<deliver::ExecConsumerOptions>* out) {
  const toml::node* node = t.get("consumers");
  if (node == nullptr) return Status::Ok();
  const toml::array* entries = node->as_array();
  if (entries == nullptr) {
    return InvalidArgument("consumers: must be an array of tables ([[consumers]])");
  }
  static const std::vector<std::string> kKeys = {
      "name",         "exec",           "tables",         "ops",           "lanes",
      "max_attempts", "backoff_min_ms", "backoff_max_ms", "max_in_flight", "from"};
  for (size_t i = 0; i < entries->size(); ++i) {
    const std::string where = fmt::format("consumers[{}]", i);
    const toml::table* c = (*entries)[i].as_table();
    if (c == nullptr) return InvalidArgument(where + ": must be a table ([[consumers]])");
    for (const auto& [key, value] : *c) {
      if (std::find(kKeys.begin(), kKeys.end(), std::string(key.str())) == kKeys.end()) {
        return InvalidArgument(fmt::format("{}: unknown key {} (known: {})", where, key.str(),
                                           fmt::join(kKeys, ", ")));
      }
    }
    deliver::ExecConsumerOptions e;
    ConsumerOptions& o = e.consumer;
    auto text = [&](const char* key, std::string* v) -> Status {
      if (const toml::node* n = c->get(key)) {
        auto s = n->value<std::string>();
        if (!s) return InvalidArgument(fmt::format("{}.{}: must be a string", where, key));
        *v = *s;
      }
      return Status::Ok();
    };
    auto number = [&](const char* key, int* v) -> Status {
      if (const toml::node* n = c->get(key)) {
        auto x = n->value<int64_t>();
        if (!x || *x < 0 || *x > 86'400'000) {
          return InvalidArgument(fmt::format("{}.{}: must be a non-negative integer", where, key));
        }
        *v = static_cast<int>(*x);
      }
      return Status::Ok();
    };
    std::string from = "now";
    EDDY_RETURN_IF_ERROR(text("name", &o.name));
    EDDY_RETURN_IF_ERROR(text("exec", &e.exec));
    EDDY_RETURN_IF_ERROR(text("from", &from));
    EDDY_RETURN_IF_ERROR(number("lanes", &o.lanes));
    EDDY_RETURN_IF_ERROR(number("max_attempts", &o.max_attempts));
    EDDY_RETURN_IF_ERROR(number("backoff_min_ms", &o.backoff_min_ms));
    EDDY_RETURN_IF_ERROR(number("backoff_max_ms", &o.backoff_max_ms));
    EDDY_RETURN_IF_ERROR(number("max_in_flight", &o.max_in_flight));
    EDDY_ASSIGN_OR_RETURN(o.tables, ReadStrings(*c, "tables", where));
    EDDY_ASSIGN_OR_RETURN(std::vector<std::string> ops, ReadStrings(*c, "ops", where));
    for (const std::string& op : ops) {
      EDDY_ASSIGN_OR_RETURN(Op parsed, watch::ParseOp(op, where + ".ops"));
      o.ops.push_back(parsed);
    }
    if (from != "now" && from != "start") {
      return InvalidArgument(fmt::format(
          "{}.from: \"{}\" is not now or start (where a consumer without a cursor begins)", where,
          from));
    }
    o.from_start = from == "start";
    EDDY_RETURN_IF_ERROR(deliver::ValidateExecConsumer(e, where));
    for (const deliver::ExecConsumerOptions& other : *out) {
      if (other.consumer.name == o.name) {
        return InvalidArgument(fmt::format("{}.name: \"{}\" is used twice", where, o.name));
      }
    }
    out->push_back(std::move(e));
  }
  return Status::Ok();
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
      {"capture", {"mode", "slot", "publication", "tables", "recreate_slot"}},
      {"log", {"data_dir", "segment_mb", "retention_mb", "retention_hours", "fsync"}},
      {"http", {"address", "port"}},
      {"watch", {"allow_adhoc", "watchers"}},
      {"auth", {"mode", "hs256_secret", "rs256_public_key_file", "rules"}},
      {"nats",
       {"url", "stream", "subject_prefix", "replicas", "duplicate_window_s", "publish", "required",
        "durable", "body"}},
      {"webhooks", {}},   // an array of tables, checked by ReadWebhooks
      {"consumers", {}},  // an array of tables, checked by ReadConsumers
      {"triggers", {"schema", "channel", "poll_ms", "install"}},
      {"schema", {"dir", "history_schema", "hash_check_ms"}},
      {"watermelon", watermelon::WatermelonConfigKeys()},
      {"shapes",
       {"enabled", "dir", "chunk_kb", "long_poll_timeout_ms", "sse_timeout_ms", "max_age_s",
        "stale_age_s", "secret", "allow_delete", "replica_identity_full", "workers",
        "release_after_s", "remove_after_s", "max_shapes", "max_disk_mb"}},
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
  EDDY_RETURN_IF_ERROR(ReadKey(t, "capture", "mode", &w.capture_mode));
  EDDY_RETURN_IF_ERROR(ReadKey(t, "capture", "slot", &w.slot));
  EDDY_RETURN_IF_ERROR(ReadKey(t, "capture", "publication", &w.publication));
  EDDY_RETURN_IF_ERROR(ReadKey(t, "capture", "recreate_slot", &w.recreate_slot));
  // [triggers] (capture.mode = "triggers", docs/triggers.md)
  EDDY_RETURN_IF_ERROR(ReadKey(t, "triggers", "schema", &w.triggers.schema));
  EDDY_RETURN_IF_ERROR(ReadKey(t, "triggers", "channel", &w.triggers.channel));
  EDDY_RETURN_IF_ERROR(ReadKey(t, "triggers", "install", &w.triggers.install));
  {
    int64_t poll_ms = w.triggers.poll_ms;
    EDDY_RETURN_IF_ERROR(ReadKey(t, "triggers", "poll_ms", &poll_ms));
    if (poll_ms < 10 || poll_ms > 60000) {
      return InvalidArgument("triggers.poll_ms: must be 10 to 60000 milliseconds");
    }
    w.triggers.poll_ms = static_cast<int>(poll_ms);
  }
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
  {
    NatsOptions& n = w.nats;
    int64_t replicas = n.replicas;
    int64_t window = n.duplicate_window_s;
    EDDY_RETURN_IF_ERROR(ReadKey(t, "nats", "url", &n.url));
    EDDY_RETURN_IF_ERROR(ReadKey(t, "nats", "stream", &n.stream));
    EDDY_RETURN_IF_ERROR(ReadKey(t, "nats", "subject_prefix", &n.subject_prefix));
    EDDY_RETURN_IF_ERROR(ReadKey(t, "nats", "replicas", &replicas));
    EDDY_RETURN_IF_ERROR(ReadKey(t, "nats", "duplicate_window_s", &window));
    EDDY_RETURN_IF_ERROR(ReadKey(t, "nats", "publish", &n.publish));
    EDDY_RETURN_IF_ERROR(ReadKey(t, "nats", "required", &n.required));
    EDDY_RETURN_IF_ERROR(ReadKey(t, "nats", "durable", &n.durable));
    EDDY_RETURN_IF_ERROR(ReadKey(t, "nats", "body", &n.body));
    if (replicas < 1 || replicas > 5) return InvalidArgument("nats.replicas: must be 1 to 5");
    if (window < 1 || window > 86400) {
      return InvalidArgument("nats.duplicate_window_s: must be 1 to 86400 seconds");
    }
    n.replicas = static_cast<int>(replicas);
    n.duplicate_window_s = static_cast<int>(window);
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
  // [http]
  EDDY_RETURN_IF_ERROR(ReadKey(t, "http", "address", &config->http.address));
  int64_t port = config->http.port;
  EDDY_RETURN_IF_ERROR(ReadKey(t, "http", "port", &port));
  if (port < 0 || port > 65535) return InvalidArgument("http.port: must be 0 to 65535");
  config->http.port = static_cast<int>(port);
  // [watch]
  EDDY_RETURN_IF_ERROR(ReadKey(t, "watch", "allow_adhoc", &config->watch.allow_adhoc));
  if (const toml::array* watchers = t.at_path("watch.watchers").as_array()) {
    for (size_t i = 0; i < watchers->size(); ++i) {
      const toml::table* w = (*watchers)[i].as_table();
      const std::string where = fmt::format("watch.watchers[{}]", i);
      if (w == nullptr) return InvalidArgument(where + ": must be a table ([[watch.watchers]])");
      watch::WatcherDef def;
      auto table = (*w)["table"].value<std::string>();
      if (!table) return InvalidArgument(where + ".table: required, e.g. \"public.songs\"");
      auto name = watch::ParseTableName(*table, where + ".table");
      if (!name.ok()) return name.status();
      def.schema = name->first;
      def.table = name->second;
      EDDY_ASSIGN_OR_RETURN(std::vector<std::string> ops, ReadStrings(*w, "ops", where));
      for (const std::string& op : ops) {
        EDDY_ASSIGN_OR_RETURN(Op parsed, watch::ParseOp(op, where + ".ops"));
        def.ops.push_back(parsed);
      }
      def.label = (*w)["label"].value_or(std::string());
      EDDY_ASSIGN_OR_RETURN(def.trigger_columns, ReadStrings(*w, "trigger_columns", where));
      EDDY_ASSIGN_OR_RETURN(def.extra_columns, ReadStrings(*w, "extra_columns", where));
      for (const auto& [key, value] : *w) {
        static const std::vector<std::string> kKeys = {"table", "ops", "label", "trigger_columns",
                                                       "extra_columns"};
        if (std::find(kKeys.begin(), kKeys.end(), std::string(key.str())) == kKeys.end()) {
          return InvalidArgument(fmt::format("{}: unknown key {} (known: {})", where, key.str(),
                                             fmt::join(kKeys, ", ")));
        }
      }
      config->watch.watchers.push_back(std::move(def));
    }
  }
  EDDY_RETURN_IF_ERROR(watch::ValidateWatchers(config->watch));
  // [schema] (docs/schema.md)
  EDDY_RETURN_IF_ERROR(ReadKey(t, "schema", "dir", &config->schema.dir));
  EDDY_RETURN_IF_ERROR(ReadKey(t, "schema", "history_schema", &config->schema.history_schema));
  EDDY_RETURN_IF_ERROR(ReadKey(t, "schema", "hash_check_ms", &config->schema.hash_check_ms));
  // [shapes]
  {
    ShapesConfig& sc = config->shapes;
    EDDY_RETURN_IF_ERROR(ReadKey(t, "shapes", "enabled", &sc.enabled));
    EDDY_RETURN_IF_ERROR(ReadKey(t, "shapes", "dir", &sc.dir));
    EDDY_RETURN_IF_ERROR(ReadKey(t, "shapes", "chunk_kb", &sc.chunk_kb));
    EDDY_RETURN_IF_ERROR(ReadKey(t, "shapes", "long_poll_timeout_ms", &sc.long_poll_timeout_ms));
    EDDY_RETURN_IF_ERROR(ReadKey(t, "shapes", "sse_timeout_ms", &sc.sse_timeout_ms));
    EDDY_RETURN_IF_ERROR(ReadKey(t, "shapes", "max_age_s", &sc.max_age_s));
    EDDY_RETURN_IF_ERROR(ReadKey(t, "shapes", "stale_age_s", &sc.stale_age_s));
    EDDY_RETURN_IF_ERROR(ReadKey(t, "shapes", "secret", &sc.secret));
    EDDY_RETURN_IF_ERROR(ReadKey(t, "shapes", "allow_delete", &sc.allow_delete));
    EDDY_RETURN_IF_ERROR(ReadKey(t, "shapes", "replica_identity_full", &sc.replica_identity_full));
    EDDY_RETURN_IF_ERROR(ReadKey(t, "shapes", "workers", &sc.workers));
    EDDY_RETURN_IF_ERROR(ReadKey(t, "shapes", "release_after_s", &sc.release_after_s));
    EDDY_RETURN_IF_ERROR(ReadKey(t, "shapes", "remove_after_s", &sc.remove_after_s));
    EDDY_RETURN_IF_ERROR(ReadKey(t, "shapes", "max_shapes", &sc.max_shapes));
    EDDY_RETURN_IF_ERROR(ReadKey(t, "shapes", "max_disk_mb", &sc.max_disk_mb));
    if (sc.chunk_kb < 1) return InvalidArgument("shapes.chunk_kb: must be at least 1");
    if (sc.long_poll_timeout_ms < 100 || sc.long_poll_timeout_ms > 40'000) {
      return InvalidArgument(
          "shapes.long_poll_timeout_ms: must be 100 to 40000 (clients give up after 45 s)");
    }
    if (sc.sse_timeout_ms < 2'000)
      return InvalidArgument("shapes.sse_timeout_ms: must be 2000 or more");
    if (sc.max_age_s < 0 || sc.stale_age_s < 0) {
      return InvalidArgument("shapes.max_age_s / shapes.stale_age_s: must be 0 or more");
    }
    if (sc.workers < 1 || sc.workers > 64)
      return InvalidArgument("shapes.workers: must be 1 to 64");
    if (sc.release_after_s < 1) return InvalidArgument("shapes.release_after_s: must be 1 or more");
    if (sc.remove_after_s < 0)
      return InvalidArgument("shapes.remove_after_s: must be 0 (never) or more");
    if (sc.max_shapes < 0 || sc.max_disk_mb < 0) {
      return InvalidArgument(
          "shapes.max_shapes / shapes.max_disk_mb: must be 0 (no limit) or more");
    }
  }
  // [auth]
  EDDY_RETURN_IF_ERROR(ReadKey(t, "auth", "mode", &config->auth.mode));
  EDDY_RETURN_IF_ERROR(ReadKey(t, "auth", "hs256_secret", &config->auth.hs256_secret));
  EDDY_RETURN_IF_ERROR(
      ReadKey(t, "auth", "rs256_public_key_file", &config->auth.rs256_public_key_file));
  if (const toml::array* rules = t.at_path("auth.rules").as_array()) {
    for (size_t i = 0; i < rules->size(); ++i) {
      const toml::table* r = (*rules)[i].as_table();
      const std::string where = fmt::format("auth.rules[{}]", i);
      if (r == nullptr) return InvalidArgument(where + ": must be a table ([[auth.rules]])");
      AuthRuleConfig rule;
      auto table = (*r)["table"].value<std::string>();
      if (!table) return InvalidArgument(where + ".table: required (a table or \"*\")");
      rule.table = *table;
      EDDY_ASSIGN_OR_RETURN(rule.roles, ReadStrings(*r, "roles", where));
      EDDY_ASSIGN_OR_RETURN(rule.ops, ReadStrings(*r, "ops", where));
      rule.row_claim = (*r)["row_claim"].value_or(std::string());
      rule.row_column = (*r)["row_column"].value_or(std::string());
      if (rule.row_claim.empty() != rule.row_column.empty()) {
        return InvalidArgument(where + ": row_claim and row_column go together");
      }
      config->auth.rules.push_back(std::move(rule));
    }
  }
  EDDY_RETURN_IF_ERROR(ReadWebhooks(t, &config->webhooks));
  EDDY_RETURN_IF_ERROR(ReadConsumers(t, &config->consumers));
  EDDY_RETURN_IF_ERROR(watermelon::ReadWatermelonConfig(t, &config->watermelon));
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
  if (const char* v = get("EDDY_CAPTURE_MODE"); v && *v) w.capture_mode = v;
  if (const char* v = get("EDDY_TRIGGERS_SCHEMA"); v && *v) w.triggers.schema = v;
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
  if (const char* v = get("EDDY_NATS_URL"); v && *v) w.nats.url = v;
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
  if (w.nats.publish && w.nats.url.empty()) {
    return InvalidArgument("nats.url: required with nats.publish (or set EDDY_NATS_URL, --nats)");
  }
  if (w.nats.required && !w.nats.publish) {
    return InvalidArgument("nats.required: needs nats.publish = true (--nats-publish)");
  }
  if (w.nats.body != "binary" && w.nats.body != "json") {
    return InvalidArgument(fmt::format(
        "nats.body: \"{}\" is not binary or json (edge mode needs binary)", w.nats.body));
  }
  if (w.capture_mode != "logical" && w.capture_mode != "triggers" && w.capture_mode != "nats") {
    return InvalidArgument(fmt::format(
        "capture.mode: \"{}\" is not a mode (use logical, triggers or nats)", w.capture_mode));
  }
  if (w.triggers.schema.empty() || w.triggers.schema.size() > 63) {
    return InvalidArgument("triggers.schema: must be 1 to 63 bytes");
  }
  if (w.triggers.channel.empty() || w.triggers.channel.size() > 63) {
    return InvalidArgument("triggers.channel: must be 1 to 63 bytes");
  }
  if (config.schema.history_schema.empty() || config.schema.history_schema.size() > 63) {
    return InvalidArgument("schema.history_schema: must be 1 to 63 bytes");
  }
  if (config.schema.hash_check_ms < 100 || config.schema.hash_check_ms > 3'600'000) {
    return InvalidArgument("schema.hash_check_ms: must be 100 to 3600000 milliseconds");
  }
  if (w.capture_mode == "nats" && w.nats.url.empty()) {
    return InvalidArgument(
        "nats.url: required with capture.mode = \"nats\" (or EDDY_NATS_URL, --nats)");
  }
  const AuthConfig& a = config.auth;
  if (a.mode != "jwt" && a.mode != "open") {
    return InvalidArgument(fmt::format("auth.mode: \"{}\" is not jwt or open", a.mode));
  }
  if (a.mode == "jwt" && !a.hs256_secret.empty() && !a.rs256_public_key_file.empty()) {
    return InvalidArgument("auth: set hs256_secret or rs256_public_key_file, not both");
  }
  return Status::Ok();
}

}  // namespace eddy::server
