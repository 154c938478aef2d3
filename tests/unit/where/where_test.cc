#include "where/where.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace eddy::where {
namespace {

std::vector<ColumnType> Columns() {
  return {
      {"id", "int4", "", false},        {"name", "text", "", false},
      {"big", "int8", "", false},       {"score", "float8", "", false},
      {"price", "numeric", "", false},  {"active", "bool", "", false},
      {"uid", "uuid", "", false},       {"born", "date", "", false},
      {"at", "timestamptz", "", false}, {"ts", "timestamp", "", false},
      {"dur", "interval", "", false},   {"data", "jsonb", "", false},
      {"tags", "_text", "text", false}, {"nums", "_int4", "int4", false},
      {"mood", "mood", "", true},       {"CamelCase", "text", "", false},
      {"j", "json", "", false},         {"t", "time", "", false},
      {"r", "float4", "", false},       {"blob", "bytea", "", false},
      {"code", "varchar", "", false},   {"small", "int2", "", false},
  };
}

class WhereTest : public ::testing::Test {
 protected:
  using Row = std::map<std::string, std::string>;

  std::shared_ptr<const Filter> MustCompile(const std::string& where,
                                            const std::map<std::string, std::string>& params = {}) {
    auto result = Compile(where, params, columns_);
    EXPECT_TRUE(result.ok()) << where << ": " << result.status().message();
    if (!result.ok()) return nullptr;
    return *result;
  }

  std::string ErrorOf(const std::string& where,
                      const std::map<std::string, std::string>& params = {}) {
    auto result = Compile(where, params, columns_);
    EXPECT_FALSE(result.ok()) << where << " compiled to " << (result.ok() ? (*result)->sql() : "");
    if (result.ok()) return "";
    EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
    return result.status().message();
  }

  // Values by column name; columns not named are NULL.
  bool Matches(const std::string& where, const Row& row,
               const std::map<std::string, std::string>& params = {}) {
    auto filter = MustCompile(where, params);
    if (!filter) return false;
    std::vector<std::optional<std::string_view>> values(columns_.size());
    for (const auto& [name, value] : row) {
      bool found = false;
      for (size_t i = 0; i < columns_.size(); ++i) {
        if (columns_[i].name == name) values[i] = value, found = true;
      }
      EXPECT_TRUE(found) << name;
    }
    return filter->Matches(values);
  }

  std::string Sql(const std::string& where, const std::map<std::string, std::string>& params = {}) {
    auto filter = MustCompile(where, params);
    return filter ? filter->sql() : "";
  }

  std::optional<std::vector<IndexTerm>> Terms(const std::string& where) {
    auto filter = MustCompile(where);
    return filter ? filter->index_terms() : std::nullopt;
  }

  std::vector<ColumnType> columns_ = Columns();
};

// --- errors -------------------------------------------------------------------------------------

TEST_F(WhereTest, SyntaxErrorsReportTheParserPositionInTheWrappedQuery) {
  EXPECT_EQ(ErrorOf("1 x 1"), "At location 17: syntax error at or near \"x\"");
  EXPECT_EQ(ErrorOf(""), "At location 15: syntax error at end of input");
}

TEST_F(WhereTest, SemanticErrorsReportTheOffsetInTheUsersText) {
  EXPECT_EQ(ErrorOf("foo = 1"), "At location 0: unknown reference foo");
  EXPECT_EQ(ErrorOf("id = 1 AND bar > 2"), "At location 11: unknown reference bar");
  EXPECT_EQ(ErrorOf("camelcase = 'x'"), "At location 0: unknown reference camelcase");
  EXPECT_EQ(ErrorOf("id = $1"), "At location 5: parameter $1 was not provided");
  EXPECT_EQ(ErrorOf("id + 1"), "WHERE clause must return a boolean");
  EXPECT_EQ(ErrorOf("name"), "WHERE clause must return a boolean");
  EXPECT_EQ(ErrorOf("blob IS NULL"), "At location 0: unsupported type bytea of column blob");
  EXPECT_EQ(ErrorOf("id = 'abc'"), "At location 3: invalid input syntax for type integer: \"abc\"");
  EXPECT_EQ(ErrorOf("id = name"), "At location 3: operator does not exist: integer = text");
  EXPECT_EQ(ErrorOf("now() > at"), "At location 0: unknown or unsupported function now");
  EXPECT_EQ(ErrorOf("name::timetz IS NULL"), "At location 4: unsupported type timetz");
  EXPECT_EQ(ErrorOf("mood < 'sad'"),
            "At location 5: unsupported operator < for enum type mood (cast it to text to compare "
            "labels as text)");
  EXPECT_EQ(ErrorOf("id IN (SELECT 1)"), "At location 3: subqueries are not supported");
  EXPECT_EQ(ErrorOf("EXISTS (SELECT 1)"), "At location 0: subqueries are not supported");
  EXPECT_EQ(ErrorOf("j = '{}'"), "At location 2: operator does not exist: json = json");
  EXPECT_EQ(ErrorOf("id = 1 AND 5"),
            "At location 7: argument of AND must be type boolean, not type integer");
}

TEST_F(WhereTest, OnlyASingleWhereClauseIsAccepted) {
  EXPECT_EQ(ErrorOf("1=1; DROP TABLE x"), "unescaped \";\" causing statement split");
  EXPECT_EQ(ErrorOf("id = 1 ORDER BY id"), "malformed query ending with SQL clauses");
  EXPECT_EQ(ErrorOf("id = 1 LIMIT 1"), "malformed query ending with SQL clauses");
  EXPECT_EQ(ErrorOf("true UNION SELECT 1"), "malformed query ending with SQL clauses");
  EXPECT_EQ(ErrorOf("id = 1 GROUP BY id"), "malformed query ending with SQL clauses");
}

TEST_F(WhereTest, InjectionAttemptsAreRejectedOrQuoted) {
  EXPECT_EQ(ErrorOf("1=1) OR (1=1"), "At location 18: syntax error at or near \")\"");
  EXPECT_EQ(ErrorOf("'; DROP TABLE x; --"),
            "At location 15: unterminated quoted string at or near \"'; DROP TABLE x; --\"");
  // A comment ends the clause: what follows it is not part of the SQL we produce.
  EXPECT_EQ(Sql("id = 1 -- ) OR true"), "(\"id\" = '1'::int4)");
  // Parameters are constants, never SQL.
  EXPECT_EQ(Sql("name = $1", {{"1", "x'); DROP TABLE t; --"}}),
            "(\"name\" = 'x''); DROP TABLE t; --'::text)");
  EXPECT_EQ(Sql("\"CamelCase\" = 'a''b'"), "(\"CamelCase\" = 'a''b'::text)");
  std::vector<ColumnType> odd = {{"we\"ird", "text", "", false}};
  auto filter = Compile("\"we\"\"ird\" = 'x'", {}, odd);
  ASSERT_TRUE(filter.ok()) << filter.status().message();
  EXPECT_EQ((*filter)->sql(), "(\"we\"\"ird\" = 'x'::text)");
}

// --- sql() --------------------------------------------------------------------------------------

TEST_F(WhereTest, SqlIsNormalised) {
  EXPECT_EQ(Sql("id = 7"), "(\"id\" = '7'::int4)");
  EXPECT_EQ(Sql("ID   =   '007'"), Sql("id = 7"));
  EXPECT_EQ(Sql("id = $1", {{"1", "7"}}), Sql("id = 7"));
  EXPECT_EQ(Sql("id = 7 and name = 'x' AND active"),
            "((\"id\" = '7'::int4) AND (\"name\" = 'x'::text) AND \"active\")");
  EXPECT_EQ(Sql("(id = 7 AND name = 'x') AND active"), Sql("id = 7 and (name = 'x' AND active)"));
  EXPECT_EQ(Sql("id != 1"), Sql("id <> 1"));
  EXPECT_EQ(Sql("name < 'b'"), "(\"name\" COLLATE \"C\" < 'b'::text)");
  EXPECT_EQ(Sql("id IN (1, 2)"), "(\"id\" IN ('1'::int4, '2'::int4))");
  EXPECT_EQ(Sql("name NOT ILIKE 'a%'"), "(\"name\" NOT ILIKE 'a%'::text)");
  EXPECT_EQ(Sql("mood::text = 'happy'"), "(CAST(\"mood\" AS text) = 'happy'::text)");
  EXPECT_EQ(Sql("mood = 'happy'"), "(\"mood\" = 'happy'::\"mood\")");
  EXPECT_EQ(Sql("uid = 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'"),
            "(\"uid\" = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid)");
  EXPECT_EQ(Sql("at > '2024-05-01 12:00:00+02'"),
            "(\"at\" > '2024-05-01 10:00:00+00'::timestamptz)");
  EXPECT_EQ(Sql("data->>'k' = 'v'"), "((\"data\" ->> 'k'::text) = 'v'::text)");
  EXPECT_EQ(Sql("data @> '{\"b\":1, \"a\":[1,2]}'"),
            "(\"data\" @> '{\"a\": [1, 2], \"b\": 1}'::jsonb)");
  EXPECT_EQ(Sql("3 = ANY(nums)"), "('3'::int4 = ANY (\"nums\"))");
  EXPECT_EQ(Sql("tags @> ARRAY['a b', 'c']"), "(\"tags\" @> '{\"a b\",c}'::text[])");
  EXPECT_EQ(Sql("big = 1"), "(\"big\" = '1'::int8)");
  EXPECT_EQ(Sql("id = 5000000000"), "(\"id\" = '5000000000'::int8)");
  EXPECT_EQ(Sql("price > 1.50"), "(\"price\" > '1.50'::numeric)");
  EXPECT_EQ(Sql("id BETWEEN 1 AND 3"), "(\"id\" BETWEEN '1'::int4 AND '3'::int4)");
  EXPECT_EQ(Sql("name IS NOT NULL"), "(\"name\" IS NOT NULL)");
  EXPECT_EQ(Sql("active IS NOT TRUE"), "(\"active\" IS NOT TRUE)");
  EXPECT_EQ(Sql("coalesce(name, 'x') = 'x'"), "(COALESCE(\"name\", 'x'::text) = 'x'::text)");
  EXPECT_EQ(Sql("id = -2"), "(\"id\" = '-2'::int4)");
  EXPECT_EQ(Sql("'t'"), "'t'::bool");
  EXPECT_EQ(Sql("name = NULL"), "(\"name\" = NULL::text)");
}

TEST_F(WhereTest, SqlCompilesToItself) {
  for (const char* where :
       {"id = 7 AND name < 'b' AND active",
        "mood = 'happy' OR mood::text > 'a'",
        "name NOT ILIKE 'a%' AND code LIKE 'x'",
        "id IN (1, 2) AND id NOT IN (3)",
        "'t'",
        "name = NULL",
        "-id = 2 AND id BETWEEN SYMMETRIC 1 AND 3",
        "greatest(name, 'x') = 'x' AND coalesce(id, 1) = 1",
        "concat(name, id) = 'a1'",
        "data->>'k' = 'v' AND data->'arr'->>0 = '1' AND data @> '{}' AND data ? 'k'",
        "tags @> ARRAY['a'] AND 2 = ANY(nums) AND 0 < ALL(nums) AND nums && '{1}'",
        "nums = ARRAY[id, 2]",
        "at > '2024-05-01 12:00:00+02' AND born + 1 > born",
        "ts + '1 month' > '2024-01-01' AND dur = '1 day'",
        "score / 2 < 1.5 AND r = 0.1",
        "active IS NOT TRUE AND id IS DISTINCT FROM 2 AND name IS NOT NULL",
        "name || 'x' = 'ax' AND lower(name) = upper(name)",
        "j->>'a' = '1'",
        "name COLLATE \"C\" > 'a'",
        "NOT (id = 1 OR id = 2)"}) {
    std::string sql = Sql(where);
    EXPECT_EQ(Sql(sql), sql) << where;
  }
}

// --- evaluation ---------------------------------------------------------------------------------

TEST_F(WhereTest, ComparisonsAreThreeValued) {
  EXPECT_TRUE(Matches("id = 1", {{"id", "1"}}));
  EXPECT_FALSE(Matches("id = 1", {{"id", "2"}}));
  EXPECT_FALSE(Matches("id = 1", {}));
  EXPECT_FALSE(Matches("NOT (id = 1)", {}));
  EXPECT_TRUE(Matches("id <> 1", {{"id", "2"}}));
  EXPECT_TRUE(Matches("id < 10", {{"id", "9"}}));
  EXPECT_FALSE(Matches("id < 10", {{"id", "10"}}));
  EXPECT_TRUE(Matches("id <= 10", {{"id", "10"}}));
  EXPECT_TRUE(Matches("id >= 10 AND id > 9", {{"id", "10"}}));
  EXPECT_TRUE(Matches("id = '007'", {{"id", "7"}}));
  EXPECT_TRUE(Matches("big = 9000000000", {{"big", "9000000000"}}));
  EXPECT_TRUE(Matches("id < 2.5", {{"id", "2"}}));
  EXPECT_TRUE(Matches("score > 1", {{"score", "1.5"}}));
  EXPECT_TRUE(Matches("price = 1.5", {{"price", "1.50"}}));
  EXPECT_TRUE(Matches("name = 'x'", {{"name", "x"}}));
  EXPECT_TRUE(Matches("name > 'B'", {{"name", "a"}}));  // bytewise (COLLATE "C")
  EXPECT_TRUE(Matches("code = 'x'", {{"code", "x"}}));
  EXPECT_TRUE(Matches("active", {{"active", "t"}}));
  EXPECT_FALSE(Matches("active", {{"active", "f"}}));
  EXPECT_TRUE(Matches("active = false", {{"active", "f"}}));
  EXPECT_TRUE(Matches("uid = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'",
                      {{"uid", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}}));
  EXPECT_TRUE(Matches("\"CamelCase\" = 'y'", {{"CamelCase", "y"}}));
  // Bad row text never throws: it reads as NULL.
  EXPECT_FALSE(Matches("id = 1", {{"id", "not a number"}}));
  EXPECT_TRUE(Matches("id IS NULL", {{"id", "not a number"}}));
  EXPECT_FALSE(Matches("score > 0", {{"score", "1e999"}}));
}

TEST_F(WhereTest, BooleanLogicFollowsSql) {
  EXPECT_TRUE(Matches("id = 1 OR name = 'x'", {{"name", "x"}}));
  EXPECT_FALSE(Matches("id = 1 OR name = 'x'", {{"name", "y"}}));
  EXPECT_FALSE(Matches("id = 1 AND name = 'x'", {{"name", "x"}}));
  EXPECT_TRUE(Matches("NOT (id = 1 AND name = 'x')", {{"name", "y"}}));  // NULL AND FALSE
  EXPECT_TRUE(Matches("active IS NOT TRUE", {}));
  EXPECT_TRUE(Matches("active IS UNKNOWN", {}));
  EXPECT_TRUE(Matches("active IS FALSE", {{"active", "f"}}));
  EXPECT_FALSE(Matches("active IS TRUE", {}));
  EXPECT_TRUE(Matches("active IS NOT FALSE", {}));
  EXPECT_TRUE(Matches("id IS DISTINCT FROM 1", {}));
  EXPECT_FALSE(Matches("id IS NOT DISTINCT FROM 1", {}));
  EXPECT_TRUE(Matches("id IS NOT DISTINCT FROM NULL", {}));
  EXPECT_TRUE(Matches("id IS DISTINCT FROM 2", {{"id", "1"}}));
  EXPECT_TRUE(Matches("name IS NULL AND id IS NOT NULL", {{"id", "1"}}));
}

TEST_F(WhereTest, InListsAndBetween) {
  EXPECT_TRUE(Matches("id IN (1, 2, 3)", {{"id", "2"}}));
  EXPECT_FALSE(Matches("id IN (1, 2, 3)", {{"id", "4"}}));
  EXPECT_FALSE(Matches("id IN (1, 2, 3)", {}));
  EXPECT_TRUE(Matches("id NOT IN (1, 2)", {{"id", "3"}}));
  EXPECT_FALSE(Matches("id NOT IN (1, NULL)", {{"id", "3"}}));  // NULL, not TRUE
  EXPECT_TRUE(Matches("id IN (1, NULL)", {{"id", "1"}}));
  EXPECT_TRUE(Matches("name IN ('a', 'b')", {{"name", "b"}}));
  EXPECT_TRUE(Matches("id BETWEEN 1 AND 3", {{"id", "3"}}));
  EXPECT_FALSE(Matches("id BETWEEN 3 AND 1", {{"id", "2"}}));
  EXPECT_TRUE(Matches("id BETWEEN SYMMETRIC 3 AND 1", {{"id", "2"}}));
  EXPECT_TRUE(Matches("id NOT BETWEEN 1 AND 3", {{"id", "4"}}));
  EXPECT_FALSE(Matches("id NOT BETWEEN 1 AND 3", {}));
  EXPECT_FALSE(Matches("id BETWEEN 1 AND NULL", {{"id", "2"}}));
  EXPECT_TRUE(Matches("NOT (id BETWEEN 3 AND NULL)", {{"id", "2"}}));  // FALSE, not NULL
}

TEST_F(WhereTest, LikeAndIlike) {
  EXPECT_TRUE(Matches("name LIKE 'ab%'", {{"name", "abc"}}));
  EXPECT_FALSE(Matches("name LIKE 'ab%'", {{"name", "Abc"}}));
  EXPECT_TRUE(Matches("name ILIKE 'ab%'", {{"name", "Abc"}}));
  EXPECT_TRUE(Matches("name LIKE 'a_c'", {{"name", "abc"}}));
  EXPECT_TRUE(Matches("name LIKE 'a_c'", {{"name",
                                           "a\xc3\xa9"
                                           "c"}}));  // _ is one character
  EXPECT_TRUE(Matches("name LIKE '%\\%%'", {{"name", "50% off"}}));
  EXPECT_FALSE(Matches("name LIKE '%\\%%'", {{"name", "50 off"}}));
  EXPECT_TRUE(Matches("name NOT LIKE 'x%'", {{"name", "abc"}}));
  EXPECT_TRUE(Matches("name NOT ILIKE 'X%'", {{"name", "abc"}}));
  EXPECT_FALSE(Matches("name NOT LIKE 'x%'", {}));
  EXPECT_TRUE(Matches("name LIKE '%a%b%c%'", {{"name", "xxaxxbxxcxx"}}));
  EXPECT_TRUE(Matches("name ~~ 'a%'", {{"name", "abc"}}));
  EXPECT_TRUE(Matches("code LIKE 'a%'", {{"code", "abc"}}));
}

TEST_F(WhereTest, CastsAndEnums) {
  EXPECT_TRUE(Matches("mood = 'happy'", {{"mood", "happy"}}));
  EXPECT_TRUE(Matches("mood::text = 'happy'", {{"mood", "happy"}}));
  EXPECT_TRUE(Matches("mood IN ('sad', 'happy')", {{"mood", "happy"}}));
  EXPECT_TRUE(Matches("CAST(id AS text) = '5'", {{"id", "5"}}));
  EXPECT_TRUE(Matches("name::int4 = 5", {{"name", "5"}}));
  EXPECT_FALSE(Matches("name::int4 = 5", {{"name", "five"}}));
  EXPECT_TRUE(Matches("active::text = 'true'", {{"active", "t"}}));
  EXPECT_TRUE(Matches("score::int4 = 2", {{"score", "1.5"}}));  // rint: half to even
  EXPECT_TRUE(Matches("price::int4 = 2", {{"price", "1.5"}}));  // numeric: half away from zero
  EXPECT_TRUE(Matches("'5'::int8 = id", {{"id", "5"}}));
  EXPECT_TRUE(Matches("born::timestamp = '2024-01-02'", {{"born", "2024-01-02"}}));
}

TEST_F(WhereTest, DatesAndTimes) {
  EXPECT_TRUE(Matches("at > '2024-05-01 10:00:00+00'", {{"at", "2024-05-01 10:00:01+00"}}));
  EXPECT_FALSE(Matches("at > '2024-05-01 12:00:00+02'", {{"at", "2024-05-01 10:00:00+00"}}));
  EXPECT_TRUE(Matches("at = '2024-05-01T12:00:00+02:00'", {{"at", "2024-05-01 10:00:00+00"}}));
  EXPECT_TRUE(Matches("at = '2024-05-01 10:00:00Z'", {{"at", "2024-05-01 10:00:00+00"}}));
  EXPECT_TRUE(Matches("at < 'infinity'", {{"at", "2024-05-01 10:00:00.5+00"}}));
  EXPECT_TRUE(Matches("ts >= '2024-05-01'", {{"ts", "2024-05-01 00:00:00"}}));
  EXPECT_TRUE(Matches("born < '2024-05-01'", {{"born", "2024-04-30"}}));
  EXPECT_TRUE(Matches("born < at", {{"born", "2024-04-30"}, {"at", "2024-04-30 00:00:01+00"}}));
  EXPECT_TRUE(Matches("born = '0044-03-15 BC'", {{"born", "0044-03-15 BC"}}));
  EXPECT_TRUE(Matches("t > '12:00'", {{"t", "12:00:00.000001"}}));
  EXPECT_TRUE(Matches("dur = '1 day'", {{"dur", "P1D"}}));
  EXPECT_TRUE(Matches("dur = '24 hours'", {{"dur", "P1D"}}));  // PostgreSQL: 1 day = 24 hours
  EXPECT_TRUE(Matches("dur <> 'PT1H'", {{"dur", "PT2H"}}));
  EXPECT_TRUE(Matches("born + 1 = '2024-05-02'", {{"born", "2024-05-01"}}));
  EXPECT_TRUE(Matches("ts + '1 month' = '2024-02-29'", {{"ts", "2024-01-31 00:00:00"}}));
  EXPECT_TRUE(Matches("at - '1 hour'::interval < '2024-05-01 10:00:00+00'",
                      {{"at", "2024-05-01 10:30:00+00"}}));
}

TEST_F(WhereTest, JsonOperators) {
  Row row{
      {"data", R"({"a": 1, "k": "v", "n": null, "arr": [1, 2, {"x": true}], "o": {"p": 1.0}})"}};
  EXPECT_TRUE(Matches("data->>'k' = 'v'", row));
  EXPECT_TRUE(Matches("data->>'a' = '1'", row));
  EXPECT_TRUE(Matches("data->'arr'->>1 = '2'", row));
  EXPECT_TRUE(Matches("data->'arr'->>-1 = '{\"x\": true}'", row));
  EXPECT_TRUE(Matches("data->'n' IS NOT NULL", row));  // JSON null, not SQL NULL
  EXPECT_TRUE(Matches("data->>'n' IS NULL", row));
  EXPECT_TRUE(Matches("data->>'missing' IS NULL", row));
  EXPECT_TRUE(Matches("data @> '{\"a\": 1}'", row));
  EXPECT_TRUE(Matches("data @> '{\"a\": 1.0}'", row));
  EXPECT_TRUE(Matches("data @> '{\"arr\": [2, 1]}'", row));
  EXPECT_TRUE(Matches("data @> '{\"arr\": [{}]}'", row));
  EXPECT_FALSE(Matches("data @> '{\"arr\": 1}'", row));
  EXPECT_FALSE(Matches("data @> '{\"a\": 2}'", row));
  EXPECT_TRUE(Matches("'{\"a\": 1}' <@ data", row));
  EXPECT_TRUE(Matches("data->'arr' @> '1'", row));  // top-level array contains a scalar
  EXPECT_TRUE(Matches("data ? 'k'", row));
  EXPECT_FALSE(Matches("data ? 'zz'", row));
  EXPECT_TRUE(Matches("data->'o' = '{\"p\": 1}'", row));
  EXPECT_FALSE(Matches("data->>'k' = 'v'", {{"data", "not json"}}));
  EXPECT_TRUE(Matches("j->>'a' = '1'", {{"j", R"({"a": 1})"}}));
  EXPECT_TRUE(Matches("j->'a'::text IS NULL", {{"j", R"({"b": 1})"}}));
}

TEST_F(WhereTest, ArrayOperators) {
  Row row{{"tags", R"({a,"b c",NULL})"}, {"nums", "{1,2,3}"}};
  EXPECT_TRUE(Matches("tags @> '{a}'", row));
  EXPECT_TRUE(Matches("tags @> ARRAY['b c']", row));
  EXPECT_FALSE(Matches("tags @> '{z}'", row));
  EXPECT_TRUE(Matches("'{a}' <@ tags", row));
  EXPECT_TRUE(Matches("tags && '{z,a}'", row));
  EXPECT_FALSE(Matches("tags && '{z}'", row));
  EXPECT_TRUE(Matches("2 = ANY(nums)", row));
  EXPECT_FALSE(Matches("5 = ANY(nums)", row));
  EXPECT_TRUE(Matches("'a' = ANY(tags)", row));
  EXPECT_FALSE(Matches("'z' = ANY(tags)", row));  // NULL element: NULL, not FALSE
  EXPECT_TRUE(Matches("NOT ('z' = ANY(nums::text[]))", row));
  EXPECT_TRUE(Matches("0 < ALL(nums)", row));
  EXPECT_TRUE(Matches("nums = '{1,2,3}'", row));
  EXPECT_TRUE(Matches("nums = ARRAY[1,2,3]", row));
  EXPECT_TRUE(Matches("nums <> '{1,2}'", row));
  EXPECT_TRUE(Matches("id = ANY($1)", {{"id", "2"}}, {{"1", "{1,2}"}}));
  EXPECT_FALSE(Matches("nums @> '{1}'", {{"nums", "{1,2"}}));  // malformed row text
}

TEST_F(WhereTest, ArithmeticAndFunctions) {
  EXPECT_TRUE(Matches("id + 1 = 3", {{"id", "2"}}));
  EXPECT_TRUE(Matches("id * 2 - 1 = 3", {{"id", "2"}}));
  EXPECT_TRUE(Matches("id / 2 = 1", {{"id", "3"}}));  // integer division
  EXPECT_TRUE(Matches("id % 2 = 1", {{"id", "3"}}));
  EXPECT_FALSE(Matches("id / 0 = 1", {{"id", "3"}}));           // error in PostgreSQL, never TRUE
  EXPECT_FALSE(Matches("id + 1 > 0", {{"id", "2147483647"}}));  // overflow
  EXPECT_TRUE(Matches("score / 2 = 0.75", {{"score", "1.5"}}));
  EXPECT_TRUE(Matches("-id = -2", {{"id", "2"}}));
  EXPECT_TRUE(Matches("small + 1 = 2", {{"small", "1"}}));
  EXPECT_TRUE(Matches("name || 'x' = 'ax'", {{"name", "a"}}));
  EXPECT_TRUE(Matches("name || id = 'a1'", {{"name", "a"}, {"id", "1"}}));
  EXPECT_FALSE(Matches("name || 'x' = 'x'", {}));
  EXPECT_TRUE(Matches("lower(name) = 'abc'", {{"name", "AbC"}}));
  EXPECT_TRUE(Matches("upper(name) = 'ABC'", {{"name", "AbC"}}));
  EXPECT_TRUE(Matches("coalesce(name, 'none') = 'none'", {}));
  EXPECT_TRUE(Matches("concat(name, id, NULL, active) = 'a1t'",
                      {{"name", "a"}, {"id", "1"}, {"active", "t"}}));
  EXPECT_TRUE(Matches("greatest(id, 5) = 5", {{"id", "3"}}));
  EXPECT_TRUE(Matches("least(id, 5, NULL) = 3", {{"id", "3"}}));
  EXPECT_TRUE(Matches("greatest(id, big) = 9", {{"id", "3"}, {"big", "9"}}));
}

TEST_F(WhereTest, ParametersAreTypedByTheirContext) {
  EXPECT_TRUE(Matches("id = $1", {{"id", "7"}}, {{"1", "7"}}));
  EXPECT_TRUE(
      Matches("name = $1 AND id > $2", {{"name", "x"}, {"id", "3"}}, {{"1", "x"}, {"2", "2"}}));
  EXPECT_TRUE(
      Matches("at > $1", {{"at", "2024-05-02 00:00:00+00"}}, {{"1", "2024-05-01 10:00:00+00"}}));
  EXPECT_EQ(ErrorOf("id = $1", {{"1", "x"}}),
            "At location 3: invalid input syntax for type integer: \"x\"");
  EXPECT_EQ(ErrorOf("id = $2", {{"1", "1"}}), "At location 5: parameter $2 was not provided");
}

// --- index terms --------------------------------------------------------------------------------

TEST_F(WhereTest, IndexTermsForEqualities) {
  using T = std::vector<IndexTerm>;
  EXPECT_EQ(Terms("id = '007'"), (T{{{0, {}}, "7"}}));
  EXPECT_EQ(Terms("7 = id"), (T{{{0, {}}, "7"}}));
  EXPECT_EQ(Terms("name = 'x'"), (T{{{1, {}}, "x"}}));
  EXPECT_EQ(Terms("code = 'x'"), (T{{{20, {}}, "x"}}));
  EXPECT_EQ(Terms("uid = 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'"),
            (T{{{6, {}}, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}}));
  EXPECT_EQ(Terms("active = true"), (T{{{5, {}}, "t"}}));
  EXPECT_EQ(Terms("active"), (T{{{5, {}}, "t"}}));
  EXPECT_EQ(Terms("mood = 'happy'"), (T{{{14, {}}, "happy"}}));
  EXPECT_EQ(Terms("born = '2024-5-1'"), (T{{{7, {}}, "2024-05-01"}}));
  EXPECT_EQ(Terms("id IN (1, 2, 1)"), (T{{{0, {}}, "1"}, {{0, {}}, "2"}}));
  EXPECT_EQ(Terms("data->>'k' = 'v'"), (T{{{11, std::string("k")}, "v"}}));
  EXPECT_EQ(Terms("id = 1 OR name = 'x'"), (T{{{0, {}}, "1"}, {{1, {}}, "x"}}));
  EXPECT_EQ(Terms("id = 1 AND score > 2"), (T{{{0, {}}, "1"}}));
  EXPECT_EQ(Terms("id IN (1, 2) AND name = 'x'"), (T{{{1, {}}, "x"}}));
  EXPECT_EQ(Terms("id = 1 AND (name = 'a' OR name = 'b')"), (T{{{0, {}}, "1"}}));
  EXPECT_EQ(Terms("big = 5"), (T{{{2, {}}, "5"}}));
  EXPECT_EQ(Terms("id = NULL"), T{});
}

TEST_F(WhereTest, NoIndexTermsWhenNotImplied) {
  EXPECT_EQ(Terms("id > 1"), std::nullopt);
  EXPECT_EQ(Terms("id = 1 OR score > 2"), std::nullopt);
  EXPECT_EQ(Terms("score = 1.5"), std::nullopt);
  EXPECT_EQ(Terms("at = '2024-05-01 10:00:00+00'"), std::nullopt);
  EXPECT_EQ(Terms("id NOT IN (1)"), std::nullopt);
  EXPECT_EQ(Terms("lower(name) = 'x'"), std::nullopt);
  EXPECT_EQ(Terms("j->>'k' = 'v'"), std::nullopt);  // json (not jsonb) keeps source text
  EXPECT_EQ(Terms("id = price"), std::nullopt);
  EXPECT_EQ(Terms("NOT (id = 1)"), std::nullopt);
}

TEST_F(WhereTest, IndexValueReadsTheRow) {
  std::vector<std::optional<std::string_view>> row = {
      "7", std::nullopt, R"({"k": "v", "n": 1.50, "o": {"a": 1}, "z": null})"};
  EXPECT_EQ(IndexValue({0, {}}, row), "7");
  EXPECT_EQ(IndexValue({1, {}}, row), std::nullopt);
  EXPECT_EQ(IndexValue({5, {}}, row), std::nullopt);
  EXPECT_EQ(IndexValue({2, std::string("k")}, row), "v");
  EXPECT_EQ(IndexValue({2, std::string("n")}, row), "1.50");
  EXPECT_EQ(IndexValue({2, std::string("o")}, row), "{\"a\": 1}");
  EXPECT_EQ(IndexValue({2, std::string("z")}, row), std::nullopt);  // ->> of JSON null is NULL
  EXPECT_EQ(IndexValue({2, std::string("missing")}, row), std::nullopt);
  EXPECT_EQ(IndexValue({0, std::string("k")}, row), std::nullopt);  // not an object
}

TEST_F(WhereTest, ReferencedColumns) {
  auto filter = MustCompile("name = 'x' OR id = 1 OR lower(name) = 'y'");
  ASSERT_TRUE(filter);
  EXPECT_EQ(filter->referenced_columns(), (std::vector<int>{0, 1}));
}

// --- ORDER BY -----------------------------------------------------------------------------------

TEST_F(WhereTest, OrderByIsNormalisedColumnList) {
  auto sql = CompileOrderBy("name DESC NULLS LAST, id", columns_);
  ASSERT_TRUE(sql.ok()) << sql.status().message();
  EXPECT_EQ(*sql, "\"name\" DESC NULLS LAST, \"id\"");
  sql = CompileOrderBy("\"CamelCase\" asc nulls first", columns_);
  ASSERT_TRUE(sql.ok()) << sql.status().message();
  EXPECT_EQ(*sql, "\"CamelCase\" ASC NULLS FIRST");
}

TEST_F(WhereTest, OrderByRejectsAnythingButColumns) {
  auto error = [&](const std::string& text) {
    auto sql = CompileOrderBy(text, columns_);
    EXPECT_FALSE(sql.ok()) << text;
    return sql.ok() ? "" : sql.status().message();
  };
  EXPECT_EQ(error("foo"), "At location 0: unknown reference foo");
  EXPECT_EQ(error("id, lower(name)"), "At location 4: ORDER BY may only name columns of the table");
  EXPECT_EQ(error("1"), "At location 0: ORDER BY may only name columns of the table");
  EXPECT_EQ(error("$1"), "At location 0: ORDER BY may only name columns of the table");
  EXPECT_EQ(error("id; DROP TABLE x"), "unescaped \";\" causing statement split");
  EXPECT_EQ(error("id LIMIT 1"), "malformed query ending with SQL clauses");
  EXPECT_EQ(error("id x y"), "At location 21: syntax error at or near \"x\"");
  EXPECT_EQ(error("(SELECT 1)"), "At location 0: ORDER BY may only name columns of the table");
  EXPECT_EQ(error("id USING <"), "At location 9: ORDER BY ... USING is not supported");
}

}  // namespace
}  // namespace eddy::where
