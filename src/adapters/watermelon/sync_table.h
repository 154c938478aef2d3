#pragma once

// A configured table resolved against the catalog: its id column, the columns the client sees
// (with client names and value kinds) and the SQL that reads and writes them.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "eddy/result.h"

#include "adapters/watermelon/value_mapping.h"
#include "adapters/watermelon/watermelon_config.h"
#include "pg/connection.h"

namespace eddy::watermelon {

struct SyncColumn {
  std::string name;         // server column
  std::string client_name;  // what the client calls it
  std::string sql_type;     // format_type(), e.g. "timestamp with time zone"
  ValueKind kind = ValueKind::kString;
  bool server_owned = false;
  int64_t added_in = 0;  // client schema version that added it (0: always there)
};

struct SyncTable {
  std::string schema;
  std::string name;
  std::string qualified;  // "public.songs" as the change log names it
  std::string quoted;     // "\"public\".\"songs\""
  std::string client_table;
  std::string id_column;
  std::string id_sql_type;
  std::vector<SyncColumn> columns;  // exposed columns, the id not among them
  std::string scope_column;         // "" when unscoped
  std::string scope_sql_type;       // its format_type()
  std::string scope_claim;
  int64_t table_added_in = 0;

  // Index in `columns` of the client column `client_name`, or -1.
  int ClientColumnIndex(std::string_view client_name) const;
};

// Reads the catalog for every configured table. Errors name the config key and the fix
// ("watermelon.tables[0].columns: public.songs has no column \"titel\"").
Result<std::vector<std::shared_ptr<const SyncTable>>> ResolveTables(pg::Connection& connection,
                                                                    const WatermelonConfig& config);

}  // namespace eddy::watermelon
