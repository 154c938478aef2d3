// libFuzzer target for WHERE clauses (and subset ORDER BY): the first line of the input is the
// clause, each further line one column's value as PostgreSQL text ("\N" is NULL). Whatever the
// bytes: a Filter or a Status, never a crash; evaluation never throws; and the normalised SQL of
// a clause compiles again to the same SQL (sql() is the shape's identity).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "where/where.h"

namespace {

const std::vector<eddy::where::ColumnType>& Columns() {
  static const std::vector<eddy::where::ColumnType> columns = {
      {"id", "int4", "", false},        {"name", "text", "", false},
      {"big", "int8", "", false},       {"score", "float8", "", false},
      {"price", "numeric", "", false},  {"active", "bool", "", false},
      {"uid", "uuid", "", false},       {"born", "date", "", false},
      {"at", "timestamptz", "", false}, {"ts", "timestamp", "", false},
      {"dur", "interval", "", false},   {"data", "jsonb", "", false},
      {"tags", "_text", "text", false}, {"nums", "_int4", "int4", false},
      {"mood", "mood", "", true},       {"CamelCase", "text", "", false},
      {"j", "json", "", false},         {"t", "time", "", false},
      {"r", "float4", "", false},       {"small", "int2", "", false},
  };
  return columns;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t newline = input.find('\n');
  std::string_view clause = input.substr(0, newline);
  std::vector<std::optional<std::string_view>> row(Columns().size());
  if (newline != std::string_view::npos) {
    std::string_view rest = input.substr(newline + 1);
    for (auto& value : row) {
      size_t end = rest.find('\n');
      std::string_view line = rest.substr(0, end);
      if (line != "\\N") value = line;
      if (end == std::string_view::npos) break;
      rest = rest.substr(end + 1);
    }
  }
  static const std::map<std::string, std::string> params = {{"1", "1"}, {"2", "x"}};
  auto filter = eddy::where::Compile(clause, params, Columns());
  if (filter.ok()) {
    (void)(*filter)->Matches(row);
    (void)(*filter)->Matches({});  // a short row reads as NULLs
    if (const auto& terms = (*filter)->index_terms()) {
      for (const auto& term : *terms) (void)eddy::where::IndexValue(term.path, row);
    }
    auto again = eddy::where::Compile((*filter)->sql(), {}, Columns());
    if (!again.ok() || (*again)->sql() != (*filter)->sql()) {
      std::fprintf(stderr, "sql() does not compile to itself:\n%s\n%s\n", (*filter)->sql().c_str(),
                   again.ok() ? (*again)->sql().c_str() : again.status().message().c_str());
      std::abort();
    }
  }
  (void)eddy::where::CompileOrderBy(clause, Columns());
  return 0;
}
