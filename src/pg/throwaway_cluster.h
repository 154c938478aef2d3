#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "eddy/result.h"

#include "pg/connection.h"
#include "pg/process.h"

namespace eddy::pg {

enum class StopMode {
  kFast,       // disconnect clients, checkpoint, shut down cleanly
  kImmediate,  // kill everything now: the next start runs crash recovery
};

struct ThrowawayClusterOptions {
  // Where the cluster lives (data/, sock/, server.log). Empty: a fresh mkdtemp under /tmp. An
  // existing data/ from an earlier kept cluster is reused instead of running initdb again.
  std::string base_dir;
  // 0: pick a free loopback port.
  int port = 0;
  // Extra postgresql.conf settings, name -> value (quoted for postgresql.conf by the cluster).
  std::vector<std::pair<std::string, std::string>> settings;
  // Leave the server's files behind on destruction (it is still stopped).
  bool keep = false;
};

// A private PostgreSQL cluster (15 preferred) for tests and `eddy dev`: initdb'd into its own
// directory, superuser "postgres" with trust authentication, listening on 127.0.0.1 only and on
// a unix socket inside base_dir, configured for logical replication (wal_level=logical, 20 slots
// and WAL senders). fsync=off for speed: the tests simulate server crashes (kImmediate), not OS
// crashes; synchronous_commit stays on so a commit is in the WAL when it returns.
//
// PostgreSQL refuses to run as root: when this process is root, initdb and pg_ctl run as the
// "postgres" system user and base_dir is handed to it. Every process is spawned with
// fork+exec, never through a shell of ours.
//
// The destructor stops the server (immediate) and removes base_dir unless `keep`. A process that
// dies without running it leaves the server running; its base_dir names it.
class ThrowawayCluster {
 public:
  using Options = ThrowawayClusterOptions;

  // initdb (unless reusing), configure and start; returns once the server accepts connections.
  // Errors include the tool's output and the tail of the server log.
  static Result<std::unique_ptr<ThrowawayCluster>> Start(const Options& options);

  ThrowawayCluster(const ThrowawayCluster&) = delete;
  ThrowawayCluster& operator=(const ThrowawayCluster&) = delete;
  ~ThrowawayCluster();

  // "host=127.0.0.1 port=N user=postgres dbname=<dbname>"
  std::string ConnInfo(std::string_view dbname = "postgres") const;
  // "postgresql://postgres@127.0.0.1:N/<dbname>"
  std::string Url(std::string_view dbname = "postgres") const;
  // A new connection to `dbname` as postgres.
  Result<std::unique_ptr<Connection>> Connect(std::string_view dbname = "postgres") const;

  // Stops the server and waits for it to exit. Ok if it was not running.
  Status Stop(StopMode mode);
  // Starts the stopped server (same port and settings) and waits until it accepts connections,
  // including crash recovery after a kImmediate stop.
  Status Start();
  Status Restart(StopMode mode);
  bool running() const { return running_; }

  Status CreateDatabase(std::string_view name);

  int port() const { return port_; }
  const std::string& base_dir() const { return base_dir_; }
  const std::string& data_dir() const { return data_dir_; }
  const std::string& socket_dir() const { return socket_dir_; }
  const std::string& log_path() const { return log_path_; }
  // The directory of initdb, pg_ctl and postgres that this cluster uses.
  const std::string& bindir() const { return bindir_; }

  // The bindir Start() would use: $EDDY_PG_BINDIR, /usr/lib/postgresql/15/bin, `pg_config
  // --bindir`, the newest /usr/lib/postgresql/*/bin, /usr/local/pgsql/bin; the first holding
  // initdb, pg_ctl and postgres.
  static Result<std::string> FindBindir();

 private:
  ThrowawayCluster() = default;

  Status Init(const Options& options);
  Status PrepareBaseDir(const std::string& requested);
  Status StartServer();
  Status RunTool(const std::vector<std::string>& argv, const std::string& output_path,
                 std::string_view what);
  Status WriteConfig();
  Status WriteFile(const std::string& path, std::string_view content, bool append);
  std::string Diagnostics(const std::string& tool_output_path) const;

  std::string base_dir_;
  std::string data_dir_;
  std::string socket_dir_;
  std::string log_path_;
  std::string bindir_;
  std::vector<std::string> env_;
  std::optional<RunAs> run_as_;
  std::vector<std::pair<std::string, std::string>> settings_;
  int port_ = 0;
  bool port_picked_ = false;  // chosen by us: may be re-picked if another process takes it
  bool keep_ = false;
  bool running_ = false;
  bool owns_base_dir_ = false;  // created by us: removed even if Start fails early
};

}  // namespace eddy::pg
