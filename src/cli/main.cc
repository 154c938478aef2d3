// eddy's command line: argument parsing only; the work is in src/server.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include "change/change_json.h"
#include "change/json_encoder.h"
#include "outbox/triggers_report.h"
#include "server/config.h"
#include "server/consume_command.h"
#include "server/demo.h"
#include "server/engine.h"
#include "server/migrate_command.h"
#include "server/service.h"
#include "server/status_report.h"

namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }

struct TailFlags {
  std::vector<std::string> tables;
  std::string ops;
  std::string format = "json";
  std::string detail = "full";
  std::string columns;
  std::vector<std::string> key;
  std::string column;
  std::string equals;
  std::string from = "now";
  int64_t count = 0;
  int timeout_s = 0;
};

struct GlobalFlags {
  std::string config;
  std::string database;
  std::string data_dir;
  std::string slot;
  std::string publication;
  std::vector<std::string> capture_tables;
  bool recreate_slot = false;
  bool no_fsync = false;
  std::string log_level = "info";
  std::string http;  // address:port
  bool open = false;
  bool allow_adhoc = false;
  std::string nats;  // NATS url (docs/nats.md)
  bool nats_publish = false;
  bool nats_required = false;
  bool nats_edge = false;
  std::string capture_mode;  // logical, triggers, nats
};

int Fail(const eddy::Status& s) {
  fmt::print(stderr, "eddy: {}\n", s.message());
  return 2;
}

eddy::Result<eddy::server::Config> LoadConfig(const GlobalFlags& g) {
  eddy::server::Config config;
  std::string file = g.config;
  if (file.empty()) {
    if (const char* env = std::getenv("EDDY_CONFIG"); env && *env) file = env;
  }
  if (!file.empty()) EDDY_RETURN_IF_ERROR(eddy::server::ApplyConfigFile(file, &config));
  EDDY_RETURN_IF_ERROR(eddy::server::ApplyEnvironment(&config));
  eddy::WatcherOptions& w = config.watcher;
  if (!g.database.empty()) w.database_url = g.database;
  if (!g.data_dir.empty()) w.data_dir = g.data_dir;
  if (!g.slot.empty()) w.slot = g.slot;
  if (!g.publication.empty()) w.publication = g.publication;
  if (!g.capture_tables.empty()) w.tables = g.capture_tables;
  if (g.recreate_slot) w.recreate_slot = true;
  if (g.no_fsync) w.fsync = false;
  if (!g.nats.empty()) w.nats.url = g.nats;
  if (g.nats_publish) w.nats.publish = true;
  if (g.nats_required) w.nats.publish = w.nats.required = true;
  if (g.nats_edge) w.capture_mode = "nats";
  if (!g.capture_mode.empty()) w.capture_mode = g.capture_mode;
  if (!g.http.empty()) {
    size_t colon = g.http.rfind(':');
    int port = -1;
    if (colon != std::string::npos) {
      try {
        port = std::stoi(g.http.substr(colon + 1));
      } catch (...) {
        port = -1;
      }
    }
    if (colon == std::string::npos || port < 0 || port > 65535) {
      return eddy::InvalidArgument(
          fmt::format("--http: \"{}\" is not ADDRESS:PORT (e.g. 127.0.0.1:8080; port 0 picks "
                      "a free one)",
                      g.http));
    }
    config.http.address = g.http.substr(0, colon);
    config.http.port = port;
  }
  if (g.open) config.auth.mode = "open";
  if (g.allow_adhoc) config.watch.allow_adhoc = true;
  EDDY_RETURN_IF_ERROR(eddy::server::Validate(config));
  return config;
}

eddy::Result<eddy::Op> ParseOp(const std::string& s) {
  if (s == "insert") return eddy::Op::kInsert;
  if (s == "update") return eddy::Op::kUpdate;
  if (s == "delete") return eddy::Op::kDelete;
  if (s == "truncate") return eddy::Op::kTruncate;
  return eddy::InvalidArgument(
      fmt::format("--op: \"{}\" is not an operation (use insert, update, delete, truncate)", s));
}

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    std::string item =
        s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

eddy::Result<eddy::Subscription> BuildSubscription(const TailFlags& t, eddy::Watcher& watcher) {
  eddy::Subscription sub;
  if (t.tables.size() == 1) sub.table = t.tables[0];
  for (const std::string& op : Split(t.ops)) {
    EDDY_ASSIGN_OR_RETURN(eddy::Op parsed, ParseOp(op));
    sub.ops.push_back(parsed);
  }
  if (t.detail == "id") {
    sub.detail = eddy::Detail::kIdOnly;
  } else if (t.detail == "full") {
    sub.detail = eddy::Detail::kFull;
  } else if (t.detail == "columns") {
    sub.detail = eddy::Detail::kColumns;
    sub.columns = Split(t.columns);
  } else {
    return eddy::InvalidArgument(
        fmt::format("--detail: \"{}\" is not one of id, columns, full", t.detail));
  }
  sub.key = t.key;
  if (!t.column.empty()) {
    sub.column = t.column;
    sub.column_value = t.equals;
  }
  if (t.from == "now") {
    sub.after = watcher.DurablePosition();
  } else if (t.from == "start") {
    sub.after = eddy::Position{};
  } else {
    auto pos = eddy::Position::Parse(t.from);
    if (!pos) {
      return eddy::InvalidArgument(fmt::format(
          "--from: \"{}\" is not a position (use now, start, or a position such as 0/16B3748:0)",
          t.from));
    }
    sub.after = *pos;
  }
  return sub;
}

void PrintHuman(const eddy::Change& c) {
  std::string line;
  eddy::change::AppendIsoTimestamp(c.commit_time_us, &line);
  line += fmt::format(" {:<8} {} {}", eddy::OpName(c.op), c.table->QualifiedName(),
                      c.position.ToString());
  const bool keyed = c.table->HasKey();
  const std::vector<eddy::Value>& row = c.op == eddy::Op::kDelete ? c.old_row : c.new_row;
  for (size_t i = 0; i < row.size() && i < c.table->columns.size(); ++i) {
    const eddy::Column& col = c.table->columns[i];
    if (c.op == eddy::Op::kDelete && keyed && !col.is_key) continue;
    line += " " + col.name + "=";
    if (row[i].kind == eddy::Value::Kind::kUnchanged) {
      line += "(unchanged)";
    } else {
      eddy::change::AppendJsonValue(col, row[i], &line);
    }
  }
  line += "\n";
  std::fwrite(line.data(), 1, line.size(), stdout);
}

// Runs the engine and prints matching changes until a signal, --count or --timeout.
int RunTail(eddy::server::Engine& engine, const TailFlags& t) {
  auto sub = BuildSubscription(t, engine);
  if (!sub.ok()) return Fail(sub.status());
  std::atomic<int64_t> printed{0};
  std::mutex out_mutex;
  std::vector<std::string> tables = t.tables;
  eddy::WatchHandlers handlers;
  handlers.on_change = [&](const eddy::WatchEvent& e) {
    if (tables.size() > 1) {
      const std::string name = e.change.table->QualifiedName();
      bool wanted = false;
      for (const std::string& want : tables) {
        wanted |= want == name || want == e.change.table->name;
      }
      if (!wanted) return;
    }
    std::lock_guard<std::mutex> lock(out_mutex);
    if (t.format == "human") {
      PrintHuman(e.change);
    } else {
      std::fwrite(e.json.data(), 1, e.json.size(), stdout);
      std::fputc('\n', stdout);
    }
    std::fflush(stdout);
    if (t.count > 0 && ++printed >= t.count) g_stop = true;
  };
  handlers.on_error = [](const eddy::Status& s) {
    fmt::print(stderr, "eddy: subscription ended: {}\n", s.message());
    g_stop = true;
  };
  auto id = engine.Subscribe(*sub, handlers);
  if (!id.ok()) return Fail(id.status());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(t.timeout_s);
  while (!g_stop) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    eddy::Status failure = engine.CaptureFailure();
    if (!failure.ok()) {
      engine.Stop();
      return Fail(failure);
    }
    if (t.timeout_s > 0 && std::chrono::steady_clock::now() > deadline) break;
  }
  engine.Stop();
  return 0;
}

void AddTailFlags(CLI::App* cmd, TailFlags* t) {
  cmd->add_option("--table", t->tables,
                  "Only changes of this table (repeatable): songs or public.songs");
  cmd->add_option("--op", t->ops, "Only these operations: insert,update,delete,truncate");
  cmd->add_option("--format", t->format, "json (one change per line) or human")
      ->check(CLI::IsMember({"json", "human"}));
  cmd->add_option("--detail", t->detail, "id, columns or full (json format)");
  cmd->add_option("--columns", t->columns, "Columns to include with --detail columns: a,b");
  cmd->add_option("--key", t->key,
                  "Only the row with this primary key (repeat for composite keys)");
  cmd->add_option("--column", t->column, "Only rows whose COLUMN equals --equals");
  cmd->add_option("--equals", t->equals, "The value for --column (PostgreSQL text form)");
  cmd->add_option("--from", t->from, "now, start, or a position such as 0/16B3748:0");
  cmd->add_option("--count", t->count, "Exit after printing this many changes");
  cmd->add_option("--timeout", t->timeout_s, "Exit after this many seconds");
}

std::string FindSchemaDir(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (std::filesystem::is_directory("schema")) return "schema";
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  for (auto dir = exe.parent_path(); !dir.empty() && dir != dir.root_path();
       dir = dir.parent_path()) {
    if (std::filesystem::is_directory(dir / "schema") &&
        std::filesystem::exists(dir / "CMakeLists.txt")) {
      return (dir / "schema").string();
    }
  }
  return "schema";
}

}  // namespace

// A server holds a socket per client and, for shapes, a log file per live shape: the soft limit
// on open files (often 1024) would cut it off long before memory does. The hard limit is ours
// to take.
static void RaiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

int main(int argc, char** argv) {
  RaiseOpenFileLimit();
  CLI::App app{"eddy: every committed change from PostgreSQL, decoded, durable and in order"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may also follow the subcommand
  GlobalFlags g;
  app.add_option("--config", g.config, "TOML config file (also EDDY_CONFIG)");
  app.add_option("--database,-d", g.database, "Source database URL (also DATABASE_URL)");
  app.add_option("--data-dir", g.data_dir, "Where the durable log lives (default .eddy)");
  app.add_option("--slot", g.slot, "Replication slot name (default eddy)");
  app.add_option("--publication", g.publication, "Publication name (default eddy)");
  app.add_option("--capture-table", g.capture_tables,
                 "Publish only this table (repeatable; default all tables)");
  app.add_flag("--recreate-slot", g.recreate_slot,
               "Create the slot again if it is missing or lost (changes in between are lost)");
  app.add_flag("--no-fsync", g.no_fsync, "Do not fsync the log (tests and benchmarks only)");
  app.add_option("--log-level", g.log_level, "trace, debug, info, warn, error");
  app.add_option("--http", g.http, "HTTP address:port for serve and dev (default 127.0.0.1:8080)");
  app.add_flag("--open", g.open, "No authentication (local development only)");
  app.add_flag("--allow-adhoc", g.allow_adhoc, "Allow subscriptions by table without a watcher");
  app.add_option("--nats", g.nats, "NATS server URL(s), comma-separated (also EDDY_NATS_URL)");
  app.add_flag("--nats-publish", g.nats_publish, "Publish every durable change to JetStream");
  app.add_flag("--nats-required", g.nats_required,
               "Publish, and confirm to PostgreSQL only what JetStream acknowledged");
  app.add_option("--capture-mode", g.capture_mode,
                 "logical (default), triggers (docs/triggers.md) or nats (also EDDY_CAPTURE_MODE)");
  app.add_flag("--nats-edge", g.nats_edge,
               "Edge mode: read changes from the JetStream stream instead of PostgreSQL");

  TailFlags tail;
  CLI::App* tail_cmd = app.add_subcommand("tail", "Capture and print changes as they commit");
  AddTailFlags(tail_cmd, &tail);

  TailFlags dev;
  std::string schema_dir;
  CLI::App* dev_cmd =
      app.add_subcommand("dev",
                         "Start a throwaway PostgreSQL with the demo schema (unless --database or "
                         "DATABASE_URL is given), print how to connect, and tail every change");
  AddTailFlags(dev_cmd, &dev);
  dev.format = "human";
  dev_cmd->add_option("--schema-dir", schema_dir, "Migrations to load into the throwaway database");

  CLI::App* status_cmd = app.add_subcommand("status", "Publication, slot, lag, leader and log");
  eddy::server::ConsumeFlags consume;
  CLI::App* consume_cmd = app.add_subcommand(
      "consume", "Capture and hand each change to a durable consumer (retries, parking, replay)");
  consume_cmd->add_option("--name", consume.name, "Consumer name (its cursor and parked changes)")
      ->required();
  consume_cmd->add_option("--table", consume.tables, "Only changes of this table (repeatable)");
  consume_cmd->add_option("--ops", consume.ops,
                          "Only these operations: insert,update,delete,truncate");
  consume_cmd->add_option("--exec", consume.exec,
                          "Run this through /bin/sh -c per change, the JSON on stdin (non-zero "
                          "exit: retry, then park); default: print JSON lines");
  consume_cmd->add_option("--max-attempts", consume.max_attempts, "Tries before parking (5)");
  consume_cmd->add_option("--lanes", consume.lanes, "Parallel lanes, by key (4)");
  consume_cmd->add_option("--backoff-min-ms", consume.backoff_min_ms, "First retry delay (100)");
  consume_cmd->add_option("--backoff-max-ms", consume.backoff_max_ms, "Longest retry delay");
  consume_cmd->add_option("--from", consume.from, "A new consumer starts at: now or start");
  consume_cmd->add_option("--parked", consume.parked, "list, replay or discard, then exit");
  consume_cmd->add_option("--parked-id", consume.parked_id, "Parked change id (replay: or all)");
  consume_cmd->add_option("--timeout", consume.timeout_s, "Exit after this many seconds");
  eddy::server::MigrateFlags migrate;
  CLI::App* migrate_cmd = app.add_subcommand(
      "migrate", "Apply the migration files of schema/ in timestamp order (docs/schema.md)");
  migrate_cmd->fallthrough();
  migrate_cmd->add_option("--dir", migrate.dir,
                          "Migrations directory (default schema.dir: schema)");
  migrate_cmd->add_flag("--dry-run", migrate.dry_run, "List what would be applied; change nothing");
  CLI::App* migrate_status_cmd = migrate_cmd->add_subcommand(
      "status", "Applied, pending, edited and missing migrations, and the schema hash");
  CLI::App* serve_cmd = app.add_subcommand(
      "serve", "Capture and serve the watch API (SSE, WebSocket), /health, /metrics and a page");
  app.add_subcommand("version", "Print the version");
  bool triggers_cleanup = false;
  CLI::App* triggers_cmd = app.add_subcommand(
      "triggers",
      "Trigger mode: list eddy's triggers and which are stale (on tables no longer "
      "configured)");
  triggers_cmd->add_flag("--cleanup", triggers_cleanup, "Drop the stale triggers");

  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::from_str(g.log_level));
  spdlog::set_default_logger(spdlog::stderr_color_mt("eddy"));
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);

  if (app.got_subcommand("version")) {
    fmt::print("eddy 0.1.0\n");
    return 0;
  }

  std::optional<eddy::server::DevDatabase> dev_db;
  if (dev_cmd->parsed()) {
    // `eddy dev` without a database starts its own.
    const char* env = std::getenv("DATABASE_URL");
    if (g.database.empty() && !(env && *env)) {
      fmt::print(stderr, "eddy dev: starting a throwaway PostgreSQL 15 with the demo schema...\n");
      auto db = eddy::server::StartDevDatabase(FindSchemaDir(schema_dir));
      if (!db.ok()) return Fail(db.status());
      dev_db.emplace(std::move(db).value());
      g.database = dev_db->url;
      if (g.data_dir.empty()) {
        g.data_dir =
            (std::filesystem::temp_directory_path() / fmt::format("eddy-dev-{}", ::getpid()))
                .string();
      }
    }
  }

  if (dev_cmd->parsed()) {
    // Local development: no tokens, subscriptions by table.
    g.open = true;
    g.allow_adhoc = true;
  }
  auto config = LoadConfig(g);
  if (!config.ok()) return Fail(config.status());

  if (consume_cmd->parsed()) {
    auto rc = eddy::server::RunConsume(*config, consume, g_stop);
    return rc.ok() ? *rc : Fail(rc.status());
  }

  if (migrate_cmd->parsed()) {
    migrate.status = migrate_status_cmd->parsed();
    auto rc = eddy::server::RunMigrate(*config, migrate);
    return rc.ok() ? *rc : Fail(rc.status());
  }

  if (triggers_cmd->parsed()) {
    auto report = eddy::outbox::TriggersReport(config->watcher, triggers_cleanup);
    if (!report.ok()) return Fail(report.status());
    fmt::print("{}", *report);
    return 0;
  }

  if (status_cmd->parsed()) {
    auto report = eddy::server::StatusReport(config->watcher, config->schema.history_schema);
    if (!report.ok()) return Fail(report.status());
    fmt::print("{}", *report);
    return 0;
  }

  if (serve_cmd->parsed() || dev_cmd->parsed()) {
    auto service = eddy::server::Service::Create(*config);
    if (!service.ok()) return Fail(service.status());
    if (eddy::Status s = (*service)->Start(); !s.ok()) return Fail(s);
    eddy::server::Engine& engine = (*service)->engine();
    const std::string base =
        fmt::format("http://{}:{}", config->http.address, (*service)->http_port());
    if (serve_cmd->parsed()) {
      fmt::print(stderr, "eddy serving {} (watch: {}/v1/watch, page: {}/)\n", base, base, base);
      while (!g_stop) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        eddy::Status failure = engine.CaptureFailure();
        if (!failure.ok()) {
          (*service)->Stop();
          return Fail(failure);
        }
      }
      (*service)->Stop();
      return 0;
    }
    if (!engine.WaitUntilStreaming(30000)) {
      eddy::Status failure = engine.CaptureFailure();
      return Fail(failure.ok() ? eddy::Unavailable("capture did not start: " + engine.Health())
                               : failure);
    }
    fmt::print(stderr,
               "\neddy is capturing {}\n  data dir: {}\n  connect:  psql '{}'\n  try:      "
               "INSERT INTO songs (title, artist) VALUES ('hello', 'eddy');\n"
               "  page:     {}/\n"
               "  watch:    curl -N '{}/v1/watch?table=songs&op=insert,update,delete&detail=full'\n"
               "  one row:  curl -N '{}/v1/watch?table=songs&op=update,delete&key=1'\n"
               "  shape:    curl -i '{}/v1/shape?table=songs&offset=-1'   (@electric-sql/client)\n"
               "  health:   curl {}/health\n"
               "Tailing every change (Ctrl-C to stop):\n\n",
               dev_db ? "the demo database" : "your database", config->watcher.data_dir,
               config->watcher.database_url, base, base, base, base, base);
    int rc = RunTail(engine, dev);
    (*service)->Stop();
    if (dev_db) std::filesystem::remove_all(config->watcher.data_dir);
    return rc;
  }

  auto engine = eddy::server::Engine::Create(config->watcher);
  if (!engine.ok()) return Fail(engine.status());
  if (eddy::Status s = (*engine)->Start(); !s.ok()) return Fail(s);
  return RunTail(**engine, tail);
}
