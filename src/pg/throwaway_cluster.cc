#include "pg/throwaway_cluster.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

namespace eddy::pg {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPreferredBindir = "/usr/lib/postgresql/15/bin";
constexpr int kPgCtlTimeoutSeconds = 120;
constexpr int kPortAttempts = 5;
constexpr size_t kLogTailLines = 30;
// sockaddr_un.sun_path holds 108 bytes including the NUL.
constexpr size_t kMaxSocketPath = 107;

std::string Errno(int error) { return std::strerror(error); }

bool HasServerTools(const std::string& dir) {
  for (const char* tool : {"initdb", "pg_ctl", "postgres"}) {
    if (access((dir + "/" + tool).c_str(), X_OK) != 0) return false;
  }
  return true;
}

std::optional<std::string> FindInPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + program;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

std::string Trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t start = 0;
  while (start < s.size() && std::isspace(static_cast<unsigned char>(s[start]))) ++start;
  return s.substr(start);
}

// The last `lines` lines of a file, or "" when it cannot be read.
std::string Tail(const std::string& path, size_t lines) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!content.empty() && content.back() == '\n') content.pop_back();
  size_t pos = content.size();
  for (size_t n = 0; n < lines && pos != std::string::npos && pos > 0; ++n) {
    pos = content.rfind('\n', pos - 1);
  }
  return pos == std::string::npos ? content : content.substr(pos + 1);
}

// Ports handed out by this process and not yet known to be bound by their server: two clusters
// started at the same time must not get the same free port.
std::mutex& PortMutex() {
  static std::mutex mutex;
  return mutex;
}
std::set<int>& PortsInUse() {
  static std::set<int> ports;
  return ports;
}

Result<int> PickFreePort() {
  std::lock_guard<std::mutex> lock(PortMutex());
  for (int attempt = 0; attempt < 20; ++attempt) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return IoError("cannot create a socket to find a free port: " + Errno(errno));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t length = sizeof(addr);
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) != 0) {
      const int error = errno;
      close(fd);
      return IoError("cannot find a free loopback port: " + Errno(error));
    }
    close(fd);
    const int port = ntohs(addr.sin_port);
    if (PortsInUse().insert(port).second) return port;
  }
  return Internal("cannot find a free loopback port not already used by this process");
}

void ReleasePort(int port) {
  std::lock_guard<std::mutex> lock(PortMutex());
  PortsInUse().erase(port);
}

// A value for postgresql.conf: single-quoted, where backslash escapes apply.
std::string ConfQuote(std::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out.push_back(c == '\'' ? '\'' : '\\');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

bool IsSettingName(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
  });
}

// A conninfo value, quoted only when needed so that ordinary names read naturally.
std::string ConnInfoValue(std::string_view value) {
  const bool plain = !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
    return c != '\'' && c != '\\' && !std::isspace(static_cast<unsigned char>(c));
  });
  if (plain) return std::string(value);
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

std::string PercentEncode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xF]);
    }
  }
  return out;
}

Result<RunAs> PostgresUser() {
  std::vector<char> buffer(16384);
  passwd pw{};
  passwd* found = nullptr;
  const int error = getpwnam_r("postgres", &pw, buffer.data(), buffer.size(), &found);
  if (error != 0 || found == nullptr) {
    return FailedPrecondition(
        "running as root, and PostgreSQL refuses to run as root, but there is no \"postgres\" "
        "user to run it as; create one (useradd --system --user-group postgres) or run as an "
        "unprivileged user");
  }
  RunAs as;
  as.uid = pw.pw_uid;
  as.gid = pw.pw_gid;
  int count = 32;
  as.groups.resize(static_cast<size_t>(count));
  if (getgrouplist(pw.pw_name, pw.pw_gid, as.groups.data(), &count) < 0) {
    as.groups.resize(static_cast<size_t>(count));
    if (getgrouplist(pw.pw_name, pw.pw_gid, as.groups.data(), &count) < 0) count = 0;
  }
  as.groups.resize(static_cast<size_t>(std::max(count, 0)));
  if (as.groups.empty()) as.groups.push_back(as.gid);
  return as;
}

// Whether `user` can traverse every ancestor of `dir` (root can; postgres may not).
Status CheckTraversable(const std::string& dir, const RunAs& user) {
  for (fs::path p = fs::path(dir).parent_path(); !p.empty(); p = p.parent_path()) {
    struct stat st {};
    if (stat(p.c_str(), &st) != 0)
      return IoError("cannot stat " + p.string() + ": " + Errno(errno));
    const bool ok = (st.st_mode & S_IXOTH) != 0 ||
                    (st.st_uid == user.uid && (st.st_mode & S_IXUSR)) ||
                    (st.st_gid == user.gid && (st.st_mode & S_IXGRP));
    if (!ok) {
      return FailedPrecondition("the postgres user cannot reach " + dir + " because " + p.string() +
                                " is not searchable by it (PostgreSQL runs as postgres when eddy "
                                "runs as root); chmod o+x " +
                                p.string() + " or choose a base_dir under /tmp");
    }
    if (p == p.root_path()) break;
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> ThrowawayCluster::FindBindir() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("EDDY_PG_BINDIR"); env != nullptr && *env != '\0') {
    if (!HasServerTools(env)) {
      return FailedPrecondition(std::string("EDDY_PG_BINDIR=") + env +
                                " does not contain initdb, pg_ctl and postgres");
    }
    return std::string(env);
  }
  candidates.emplace_back(kPreferredBindir);
  // Debian's /usr/bin/pg_config belongs to libpq-dev and may name a bindir without the server.
  if (std::optional<std::string> pg_config = FindInPath("pg_config")) {
    std::string output;
    ProcessOptions options;
    options.capture = &output;
    Result<int> exit_code = RunProcess({*pg_config, "--bindir"}, options);
    if (exit_code.ok() && *exit_code == 0) candidates.push_back(Trim(output));
  }
  std::vector<std::pair<int, std::string>> versions;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const std::string name = entry.path().filename().string();
    versions.emplace_back(std::atoi(name.c_str()), entry.path().string() + "/bin");
  }
  std::sort(versions.rbegin(), versions.rend());  // newest first
  for (const auto& [version, dir] : versions) candidates.push_back(dir);
  candidates.emplace_back("/usr/local/pgsql/bin");
  for (const std::string& dir : candidates) {
    if (HasServerTools(dir)) return dir;
  }
  return FailedPrecondition(
      "cannot find PostgreSQL's server programs (initdb, pg_ctl, postgres) in " +
      std::string(kPreferredBindir) +
      ", pg_config --bindir or /usr/lib/postgresql/*/bin; install postgresql-15 "
      "(apt-get install postgresql-15) or set EDDY_PG_BINDIR");
}

Result<std::unique_ptr<ThrowawayCluster>> ThrowawayCluster::Start(const Options& options) {
  std::unique_ptr<ThrowawayCluster> cluster(new ThrowawayCluster());
  // On failure the destructor stops whatever started and removes the directory (unless keep).
  EDDY_RETURN_IF_ERROR(cluster->Init(options));
  return cluster;
}

Status ThrowawayCluster::Init(const Options& options) {
  keep_ = options.keep;
  settings_ = options.settings;
  for (const auto& [name, value] : settings_) {
    if (!IsSettingName(name)) {
      return InvalidArgument("invalid postgresql.conf setting name \"" + name + "\"");
    }
  }
  EDDY_ASSIGN_OR_RETURN(bindir_, FindBindir());
  if (geteuid() == 0) {
    EDDY_ASSIGN_OR_RETURN(RunAs as, PostgresUser());
    run_as_ = std::move(as);
  }
  env_ = CleanPostgresEnvironment();
  EDDY_RETURN_IF_ERROR(PrepareBaseDir(options.base_dir));

  if (options.port < 0 || options.port > 65535) {
    return InvalidArgument("port " + std::to_string(options.port) + " is not in 0..65535");
  }
  if (options.port != 0) {
    port_ = options.port;
  } else {
    EDDY_ASSIGN_OR_RETURN(port_, PickFreePort());
    port_picked_ = true;
  }

  if (!fs::exists(data_dir_ + "/PG_VERSION")) {
    EDDY_RETURN_IF_ERROR(RunTool({bindir_ + "/initdb", "-D", data_dir_, "-U", "postgres", "-A",
                                  "trust", "-E", "UTF8", "--locale=C", "--no-sync"},
                                 base_dir_ + "/initdb.log", "initialize the cluster (initdb)"));
    // Our settings live in eddy.conf, rewritten on each start; postgresql.conf includes it last.
    EDDY_RETURN_IF_ERROR(WriteFile(data_dir_ + "/postgresql.conf",
                                   "\n# Added by eddy's ThrowawayCluster.\ninclude 'eddy.conf'\n",
                                   /*append=*/true));
  }
  EDDY_RETURN_IF_ERROR(WriteFile(data_dir_ + "/pg_hba.conf",
                                 "# Written by eddy's ThrowawayCluster: a private test cluster.\n"
                                 "local all         all              trust\n"
                                 "local replication all              trust\n"
                                 "host  all         all 127.0.0.1/32 trust\n"
                                 "host  replication all 127.0.0.1/32 trust\n",
                                 /*append=*/false));
  return StartServer();
}

Status ThrowawayCluster::PrepareBaseDir(const std::string& requested) {
  std::error_code ec;
  if (requested.empty()) {
    std::string pattern = (fs::temp_directory_path(ec) / "eddy-pg-XXXXXX").string();
    if (ec) pattern = "/tmp/eddy-pg-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      return IoError("cannot create a directory like " + pattern + ": " + Errno(errno));
    }
    base_dir_ = pattern;
    owns_base_dir_ = true;
  } else {
    base_dir_ = fs::absolute(requested, ec).lexically_normal().string();
    if (ec) return InvalidArgument("invalid base_dir \"" + requested + "\": " + ec.message());
    while (base_dir_.size() > 1 && base_dir_.back() == '/') base_dir_.pop_back();
    fs::create_directories(base_dir_, ec);
    if (ec) return IoError("cannot create " + base_dir_ + ": " + ec.message());
    owns_base_dir_ = true;
  }
  // pg_ctl pastes the data directory into a shell command line between double quotes.
  if (base_dir_.find_first_of("\"$`\\\n") != std::string::npos) {
    return InvalidArgument("base_dir \"" + base_dir_ +
                           "\" contains a character pg_ctl cannot quote (\" $ ` \\ newline)");
  }
  data_dir_ = base_dir_ + "/data";
  socket_dir_ = base_dir_ + "/sock";
  log_path_ = base_dir_ + "/server.log";
  if (socket_dir_.size() + std::strlen("/.s.PGSQL.65535") > kMaxSocketPath) {
    return InvalidArgument("base_dir " + base_dir_ +
                           " is too long for a unix socket path (at most ~90 characters)");
  }
  fs::create_directories(socket_dir_, ec);
  if (ec) return IoError("cannot create " + socket_dir_ + ": " + ec.message());
  for (const std::string& dir : {base_dir_, socket_dir_}) {
    if (chmod(dir.c_str(), 0700) != 0) return IoError("cannot chmod " + dir + ": " + Errno(errno));
    if (run_as_.has_value() && chown(dir.c_str(), run_as_->uid, run_as_->gid) != 0) {
      return IoError("cannot give " + dir + " to the postgres user: " + Errno(errno));
    }
  }
  if (run_as_.has_value()) EDDY_RETURN_IF_ERROR(CheckTraversable(base_dir_, *run_as_));
  return Status::Ok();
}

Status ThrowawayCluster::WriteFile(const std::string& path, std::string_view content, bool append) {
  const int fd =
      open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0600);
  if (fd < 0) return IoError("cannot open " + path + ": " + Errno(errno));
  const ssize_t written = write(fd, content.data(), content.size());
  const int write_error = errno;
  if (run_as_.has_value() && fchown(fd, run_as_->uid, run_as_->gid) != 0) {
    const int error = errno;
    close(fd);
    return IoError("cannot give " + path + " to the postgres user: " + Errno(error));
  }
  close(fd);
  if (written != static_cast<ssize_t>(content.size())) {
    return IoError("cannot write " + path + ": " + Errno(write_error));
  }
  return Status::Ok();
}

Status ThrowawayCluster::WriteConfig() {
  std::string conf =
      "# Written by eddy's ThrowawayCluster on every start; edits are lost.\n"
      "port = " +
      std::to_string(port_) + "\n" +
      "listen_addresses = '127.0.0.1'\n"
      "unix_socket_directories = " +
      ConfQuote(socket_dir_) + "\n" +
      "wal_level = logical\n"
      "max_replication_slots = 20\n"
      "max_wal_senders = 20\n"
      // No fsync: tests simulate server crashes, not OS crashes, and fsync dominates run time.
      "fsync = off\n"
      // Kept on: a commit must be in the WAL (if not on disk) when it returns.
      "synchronous_commit = on\n"
      "shared_buffers = 32MB\n"
      "logging_collector = off\n"
      "log_line_prefix = '%m [%p] '\n";
  for (const auto& [name, value] : settings_) conf += name + " = " + ConfQuote(value) + "\n";
  return WriteFile(data_dir_ + "/eddy.conf", conf, /*append=*/false);
}

Status ThrowawayCluster::StartServer() {
  for (int attempt = 1;; ++attempt) {
    EDDY_RETURN_IF_ERROR(WriteConfig());
    const std::string pg_ctl_log = base_dir_ + "/pg_ctl.log";
    const size_t log_size_before =
        fs::exists(log_path_) ? static_cast<size_t>(fs::file_size(log_path_)) : 0;
    Status status = RunTool({bindir_ + "/pg_ctl", "-D", data_dir_, "-l", log_path_, "-w", "-t",
                             std::to_string(kPgCtlTimeoutSeconds), "-s", "start"},
                            pg_ctl_log, "start PostgreSQL");
    if (status.ok()) {
      running_ = true;
      return status;
    }
    // Another process may have taken the port we picked between our probe and the bind.
    std::ifstream log(log_path_);
    std::string content((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
    const bool port_taken =
        content.find("Address already in use", std::min(log_size_before, content.size())) !=
        std::string::npos;
    if (!port_picked_ || !port_taken || attempt >= kPortAttempts) return status;
    const int old_port = port_;
    EDDY_ASSIGN_OR_RETURN(port_, PickFreePort());
    ReleasePort(old_port);
  }
}

Status ThrowawayCluster::RunTool(const std::vector<std::string>& argv,
                                 const std::string& output_path, std::string_view what) {
  ProcessOptions options;
  options.run_as = run_as_;
  options.output_path = output_path;
  options.working_dir = base_dir_;  // postgres may not be able to enter the caller's directory
  options.env = env_;
  EDDY_ASSIGN_OR_RETURN(const int exit_code, RunProcess(argv, options));
  if (exit_code == 0) return Status::Ok();
  std::string command;
  for (const std::string& arg : argv) command += (command.empty() ? "" : " ") + arg;
  return Internal("cannot " + std::string(what) + ": `" + command + "` exited with status " +
                  std::to_string(exit_code) + Diagnostics(output_path));
}

std::string ThrowawayCluster::Diagnostics(const std::string& tool_output_path) const {
  std::string out;
  const std::string tool = Tail(tool_output_path, kLogTailLines);
  if (!tool.empty()) out += "\n--- " + tool_output_path + " (last lines) ---\n" + tool;
  const std::string server = Tail(log_path_, kLogTailLines);
  if (!server.empty()) out += "\n--- " + log_path_ + " (last lines) ---\n" + server;
  return out;
}

ThrowawayCluster::~ThrowawayCluster() {
  if (running_) {
    // Best effort: a destructor cannot report, and immediate never waits for clients.
    (void)Stop(StopMode::kImmediate);
  }
  if (port_picked_) ReleasePort(port_);
  if (!keep_ && owns_base_dir_ && !base_dir_.empty()) {
    std::error_code ec;
    fs::remove_all(base_dir_, ec);
  }
}

std::string ThrowawayCluster::ConnInfo(std::string_view dbname) const {
  return "host=127.0.0.1 port=" + std::to_string(port_) +
         " user=postgres dbname=" + ConnInfoValue(dbname);
}

std::string ThrowawayCluster::Url(std::string_view dbname) const {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + PercentEncode(dbname);
}

Result<std::unique_ptr<Connection>> ThrowawayCluster::Connect(std::string_view dbname) const {
  return Connection::Connect(ConnInfo(dbname));
}

Status ThrowawayCluster::Stop(StopMode mode) {
  if (!running_) return Status::Ok();
  Status status = RunTool(
      {bindir_ + "/pg_ctl", "-D", data_dir_, "-m", mode == StopMode::kFast ? "fast" : "immediate",
       "-w", "-t", std::to_string(kPgCtlTimeoutSeconds), "-s", "stop"},
      base_dir_ + "/pg_ctl.log", "stop PostgreSQL");
  // Without a pid file no server is running (it may have died on its own): that is stopped.
  if (status.ok() || !fs::exists(data_dir_ + "/postmaster.pid")) {
    running_ = false;
    return Status::Ok();
  }
  return status;
}

Status ThrowawayCluster::Start() {
  if (running_) return Status::Ok();
  return StartServer();
}

Status ThrowawayCluster::Restart(StopMode mode) {
  EDDY_RETURN_IF_ERROR(Stop(mode));
  return Start();
}

Status ThrowawayCluster::CreateDatabase(std::string_view name) {
  EDDY_ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn, Connect("postgres"));
  Result<QueryResult> result = conn->Exec("CREATE DATABASE " + Connection::QuoteIdent(name));
  if (!result.ok()) return result.status().WithContext("CREATE DATABASE " + std::string(name));
  return Status::Ok();
}

}  // namespace eddy::pg
