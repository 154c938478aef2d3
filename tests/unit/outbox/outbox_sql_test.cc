#include "outbox/outbox_sql.h"

#include <gtest/gtest.h>

namespace eddy::outbox {
namespace {

TEST(OutboxSqlTest, IdentifiersAndLiteralsAreQuoted) {
  const std::string ddl = OutboxDdl("my\"schema", "chan'nel");
  EXPECT_NE(ddl.find("\"my\"\"schema\".outbox"), std::string::npos);
  EXPECT_NE(ddl.find("'chan''nel'"), std::string::npos);
  EXPECT_NE(ddl.find("SECURITY DEFINER"), std::string::npos);
  EXPECT_NE(ddl.find("NEW::text"), std::string::npos);
}

TEST(OutboxSqlTest, TruncateIsStatementLevelAndRowsAreRowLevel) {
  const std::string t =
      CreateTriggerSql(Op::kTruncate, "eddy", "songs", "\"public\".\"songs\"", 42);
  EXPECT_NE(t.find("FOR EACH STATEMENT"), std::string::npos);
  EXPECT_NE(t.find("capture_truncate\"('42')"), std::string::npos);
  const std::string i = CreateTriggerSql(Op::kInsert, "eddy", "songs", "\"public\".\"songs\"", 42);
  EXPECT_NE(i.find("CREATE OR REPLACE TRIGGER \"eddy_insert_songs\" AFTER insert"),
            std::string::npos);
  EXPECT_NE(i.find("FOR EACH ROW"), std::string::npos);
}

TEST(OutboxSqlTest, ArmingResetsTheDoorbellSoTheNextCallerGetsOne) {
  EXPECT_EQ(ArmDoorbellSql("eddy"), "SELECT pg_catalog.setval('\"eddy\".doorbell', 1, false)");
}

}  // namespace
}  // namespace eddy::outbox
