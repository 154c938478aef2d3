#pragma once

#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

#include "eddy/result.h"

namespace eddy::pg {

// Which user a child process runs as (root dropping privileges, because PostgreSQL refuses to run
// as root).
struct RunAs {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups
};

struct ProcessOptions {
  std::optional<RunAs> run_as;
  // Where stdout and stderr go, appended. Empty: /dev/null (unless `capture` is set).
  std::string output_path;
  // When set, stdout and stderr are collected here instead.
  std::string* capture = nullptr;
  std::string working_dir;  // empty: inherit
  // The complete environment ("NAME=value"). nullopt: inherit this process's environment.
  std::optional<std::vector<std::string>> env;
};

// Runs argv[0] (an absolute path; no shell, no PATH search) with `argv` and waits for it.
// Returns its exit code, or 128 + the signal number if a signal killed it. The Status is an error
// only when the process could not be started at all.
Result<int> RunProcess(const std::vector<std::string>& argv, const ProcessOptions& options);

// The environment for PostgreSQL's tools: this process's environment without PG* variables
// (PGDATA, PGPORT, PGHOST... would silently redirect them) and with LC_ALL=C, so their messages
// are in English and the cluster's locale does not depend on the caller's.
std::vector<std::string> CleanPostgresEnvironment();

}  // namespace eddy::pg
