#include "outbox/triggers_report.h"

#include <fmt/format.h>

#include "outbox/trigger_installer.h"
#include "pg/connection.h"

namespace eddy::outbox {

Result<std::string> TriggersReport(const WatcherOptions& options, bool cleanup) {
  if (options.database_url.empty()) {
    return InvalidArgument("database_url: required (--database or DATABASE_URL)");
  }
  EDDY_ASSIGN_OR_RETURN(std::unique_ptr<pg::Connection> connection,
                        pg::Connection::Connect(options.database_url));
  TriggerInstaller installer(*connection, options.triggers, options.tables);
  EDDY_ASSIGN_OR_RETURN(std::vector<InstalledTrigger> triggers, installer.ListTriggers());
  std::string out;
  int stale = 0;
  for (const InstalledTrigger& t : triggers) {
    if (t.stale) ++stale;
    out += fmt::format("{:<7} {}.{} {}\n", t.stale ? "stale" : "active", t.schema, t.table, t.name);
  }
  if (triggers.empty()) {
    out += fmt::format("no eddy triggers (functions in schema \"{}\")\n", options.triggers.schema);
  }
  if (cleanup) {
    EDDY_ASSIGN_OR_RETURN(int dropped, installer.DropStale());
    out += fmt::format("dropped {} stale trigger(s)\n", dropped);
  } else if (stale > 0) {
    out += fmt::format("{} stale trigger(s): remove them with `eddy triggers --cleanup`\n", stale);
  }
  return out;
}

}  // namespace eddy::outbox
