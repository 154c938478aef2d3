// WHERE clauses against a real PostgreSQL 15: for each clause, the rows PostgreSQL selects with
// the compiled sql() must be exactly the rows Filter::Matches accepts on the same table's text.

#include "where/where.h"

#include <set>

#include <fmt/format.h>

#include "harness.h"

namespace eddy::testing {
namespace {

const char* kSchema = R"sql(
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE t (
  id int4 PRIMARY KEY, name text, big int8, score float8, price numeric, active bool, uid uuid,
  born date, at timestamptz, ts timestamp, dur interval, data jsonb, tags text[], nums int4[],
  mood mood, "CamelCase" text, j json, code varchar(20), small int2, r float4, t time);
INSERT INTO t VALUES
  (1, 'alpha', 1, 1.5, 1.50, true, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2024-05-01',
   '2024-05-01 10:00:00+00', '2024-05-01 10:00:00', '1 day', '{"k": "v", "n": 1, "arr": [1, 2]}',
   '{a,b}', '{1,2,3}', 'happy', 'X', '{"a": 1}', 'c1', 1, 0.1, '10:00'),
  (2, 'Beta', 9000000000, -2.25, 100, false, 'b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', '2023-12-31',
   '2024-05-01 12:00:00+02', '2024-01-31 00:00:00', '24 hours', '{"k": "w", "n": 1.0, "o": {"p": true}}',
   '{"b c",NULL}', '{}', 'sad', 'y', '{"a": "1"}', 'c2', -1, 1.5, '23:59:59.5'),
  (3, 'gamma%', NULL, 'NaN', -0.5, NULL, NULL, '0044-03-15 BC', 'infinity', NULL, '1 mon',
   '{"k": null, "arr": [{"x": 1}]}', '{}', '{4,NULL}', 'ok', 'Z', '[1, 2]', NULL, 32767, NULL,
   NULL),
  (4, NULL, -1, 1e300, 12345678.125, true, NULL, NULL, '2024-04-30 23:00:00-02', NULL,
   'PT2H', '[1, "k"]', NULL, NULL, NULL, NULL, NULL, 'c4', NULL, 3.25, '00:00'),
  (5, 'a''quote', 0, 0, 0, false, 'c0eebc99-9c0b-4ef8-bb6d-6bb9bd380a13', '2024-02-29',
   '2024-02-29 00:00:00.123456+00', '2024-02-29 00:00:00', '-1 day', '"k"', '{"a,b","NULL"}',
   '{1,2}', 'happy', 'x', 'null', 'c5', 0, 0, '12:00'),
  (6, 'ÉCOLE', 7, 7, 7, NULL, NULL, '2024-05-02', '2024-05-02 00:00:00+00',
   '2024-05-02 00:00:00', 'P1Y2M', '{"k": "v", "n": 10}', '{Z}', '{7}', 'ok', NULL,
   '{"a": 1, "a": 2}', 'c6', 7, 7, '07:00');
)sql";

std::vector<where::ColumnType> Columns() {
  return {
      {"id", "int4", "", false},        {"name", "text", "", false},
      {"big", "int8", "", false},       {"score", "float8", "", false},
      {"price", "numeric", "", false},  {"active", "bool", "", false},
      {"uid", "uuid", "", false},       {"born", "date", "", false},
      {"at", "timestamptz", "", false}, {"ts", "timestamp", "", false},
      {"dur", "interval", "", false},   {"data", "jsonb", "", false},
      {"tags", "_text", "text", false}, {"nums", "_int4", "int4", false},
      {"mood", "mood", "", true},       {"CamelCase", "text", "", false},
      {"j", "json", "", false},         {"code", "varchar", "", false},
      {"small", "int2", "", false},     {"r", "float4", "", false},
      {"t", "time", "", false},
  };
}

const std::vector<std::string> kClauses = {
    "id = 1",
    "id = '007' OR id = 2",
    "name = 'alpha'",
    "name < 'b'",
    "name ILIKE 'B%'",
    "name LIKE '%\\%'",
    "name NOT LIKE 'a%'",
    "lower(name) = 'beta'",
    "upper(name) LIKE 'É%'",
    "big > 1",
    "big IN (0, -1, 9000000000)",
    "id NOT IN (1, 2)",
    "score > 1",
    "score = 'NaN'",
    "price >= 1.5",
    "price BETWEEN -1 AND 100",
    "active",
    "active IS NOT TRUE",
    "active IS DISTINCT FROM true",
    "uid = 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'",
    "born < '2024-01-01'",
    "born < at",
    "at > '2024-05-01 10:00:00+00'",
    "at = '2024-05-01T12:00:00+02:00'",
    "ts + '1 month' > '2024-02-28'",
    "dur = '1 day'",
    "dur <> 'PT2H'",
    "data->>'k' = 'v'",
    "data->'n' = '1'",
    "data @> '{\"n\": 1}'",
    "data ? 'o'",
    "data ? 'k'",
    "tags @> '{a}'",
    "tags && ARRAY['Z', 'b c']",
    "2 = ANY(nums)",
    "0 < ALL(nums)",
    "nums <@ '{1,2,3,4}'",
    "mood = 'happy'",
    "mood::text > 'ok'",
    "mood IN ('sad', 'ok')",
    "\"CamelCase\" BETWEEN SYMMETRIC 'Z' AND 'X'",
    "j->>'a' = '1'",
    "code || '!' = 'c1!'",
    "small + 1 > 1",
    "r = 0.1",
    "r = '0.1'",
    "t > '12:00'",
    "coalesce(name, 'none') = 'none'",
    "greatest(id, small) > 6",
    "concat(name, id) = 'alpha1'",
    "id % 2 = 0 AND NOT (name IS NULL)",
    "score / 2 < 1",
    "(id = 1 OR big = 7) AND active IS NOT FALSE",
    "id = $1 OR name = $2",
};

TEST(WhereIntegrationTest, SqlSelectsTheRowsMatchesAccepts) {
  std::string conninfo = NewDatabase();
  Sql(conninfo, kSchema);
  auto conn = pg::Connection::Connect(conninfo);
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  auto set = (*conn)->Exec(
      "SET DateStyle=ISO; SET TimeZone=UTC; SET extra_float_digits=3; "
      "SET IntervalStyle=iso_8601");
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  auto columns = Columns();
  std::string select_list;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (i > 0) select_list += ", ";
    select_list += "\"" + columns[i].name + "\"";
  }
  auto rows = (*conn)->Exec("SELECT " + select_list + " FROM t ORDER BY id");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  std::vector<std::vector<std::optional<std::string>>> table;
  for (int r = 0; r < rows->rows(); ++r) {
    std::vector<std::optional<std::string>> row;
    for (int c = 0; c < static_cast<int>(columns.size()); ++c) {
      auto v = rows->GetOptional(r, c);
      row.push_back(v ? std::optional<std::string>(std::string(*v)) : std::nullopt);
    }
    table.push_back(std::move(row));
  }
  ASSERT_EQ(table.size(), 6u);

  std::map<std::string, std::string> params = {{"1", "5"}, {"2", "Beta"}};
  size_t clauses_selecting_some = 0;
  size_t clauses_rejecting_some = 0;
  for (const std::string& clause : kClauses) {
    SCOPED_TRACE(clause);
    auto filter = where::Compile(clause, params, columns);
    ASSERT_TRUE(filter.ok()) << filter.status().message();
    std::set<std::string> accepted;
    for (const auto& row : table) {
      std::vector<std::optional<std::string_view>> view(row.begin(), row.end());
      if ((*filter)->Matches(view)) accepted.insert(*row[0]);
    }
    auto selected_rows = (*conn)->Exec("SELECT id FROM t WHERE " + (*filter)->sql());
    ASSERT_TRUE(selected_rows.ok())
        << (*filter)->sql() << ": " << selected_rows.status().ToString();
    std::set<std::string> selected;
    for (int r = 0; r < selected_rows->rows(); ++r) {
      selected.insert(std::string(selected_rows->Get(r, 0)));
    }
    EXPECT_EQ(accepted, selected) << (*filter)->sql();
    if (!selected.empty()) ++clauses_selecting_some;
    if (selected.size() < table.size()) ++clauses_rejecting_some;
  }
  // The clauses discriminate: most select some rows and leave others out.
  EXPECT_GT(clauses_selecting_some, kClauses.size() * 9 / 10);
  EXPECT_GT(clauses_rejecting_some, kClauses.size() * 9 / 10);
}

}  // namespace
}  // namespace eddy::testing
