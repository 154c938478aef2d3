#include "outbox/outbox_sql.h"

#include <gtest/gtest.h>

namespace eddy::outbox {
namespace {

TEST(OutboxSqlTest, IdentifiersAndLiteralsAreQuoted) {
  const std::string ddl = OutboxDdl("my\"schema", "chan'nel");
  EXPECT_NE(ddl.find("\"my\"\"schema\".outbox"), std::string::npos);
  EXPECT_NE(ddl.find("'chan''nel'"), std::string::npos);
  // The per-row path switches neither user nor settings; writers get INSERT on the outbox.
  EXPECT_EQ(ddl.find("SECURITY DEFINER"), std::string::npos);
  EXPECT_NE(ddl.find("SECURITY INVOKER"), std::string::npos);
  EXPECT_NE(ddl.find("GRANT INSERT ON \"my\"\"schema\".outbox TO PUBLIC"), std::string::npos);
  EXPECT_NE(ddl.find("NEW::text"), std::string::npos);
}

TEST(OutboxSqlTest, SettingsThatDifferFromEddys) {
  EXPECT_EQ(SettingsThatDiffer(std::nullopt), 0u);  // written under eddy's own settings
  EXPECT_EQ(SettingsThatDiffer("ISO, MDY|iso_8601|UTC|3|hex"), 0u);
  EXPECT_EQ(SettingsThatDiffer("ISO, DMY|iso_8601|Etc/UTC|1|hex"), 0u);
  EXPECT_EQ(SettingsThatDiffer("ISO, MDY|postgres|Etc/UTC|1|hex"), kIntervalStyle);
  EXPECT_EQ(SettingsThatDiffer("SQL, DMY|iso_8601|Europe/Paris|0|escape"),
            kDateStyle | kTimeZone | kExtraFloatDigits | kByteaOutput);
  EXPECT_EQ(SettingsThatDiffer("garbage"), kAllSettings);
}

TEST(OutboxSqlTest, SettingsATypePrintsUnder) {
  EXPECT_EQ(SettingsTypePrintsUnder(23, 'b'), 0u);     // int4
  EXPECT_EQ(SettingsTypePrintsUnder(25, 'b'), 0u);     // text
  EXPECT_EQ(SettingsTypePrintsUnder(99999, 'e'), 0u);  // an enum
  EXPECT_EQ(SettingsTypePrintsUnder(1186, 'b'), kIntervalStyle);
  EXPECT_EQ(SettingsTypePrintsUnder(1184, 'b'), kDateStyle | kTimeZone);
  EXPECT_EQ(SettingsTypePrintsUnder(701, 'b'), kExtraFloatDigits);
  EXPECT_EQ(SettingsTypePrintsUnder(99999, 'd'), kAllSettings);  // a domain: unknown, reprint
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
