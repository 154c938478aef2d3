#include "schema/migration_file.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <unistd.h>

namespace eddy::schema {
namespace {

namespace fs = std::filesystem;

class MigrationFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("eddy-migration-file-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
  }

  fs::path dir_;
};

TEST(MigrationFileNameTest, ParsesVersionAndName) {
  auto parsed = ParseMigrationFileName("1732300000_media_library.sql");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->version, 1732300000);
  EXPECT_EQ(parsed->name, "media_library");

  parsed = ParseMigrationFileName("001_add-rating_2.sql");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->version, 1);
  EXPECT_EQ(parsed->name, "add-rating_2");

  parsed = ParseMigrationFileName("999999999999999999_max.sql");  // 18 digits fit a bigint
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->version, 999999999999999999);
}

TEST(MigrationFileNameTest, RejectsNamesOffThePatternNamingTheFileAndThePattern) {
  for (const char* bad : {"init.sql", "1732300000.sql", "1732300000_.sql", "1732300000-x.sql",
                          "1732300000_media library.sql", "1732300000_x.SQL", "_x.sql", ".sql",
                          "1234567890123456789_too_long.sql", "1732300000_x.sql.bak", ""}) {
    auto parsed = ParseMigrationFileName(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find(std::string("\"") + bad + "\""), std::string::npos)
        << parsed.status().message();
    EXPECT_NE(parsed.status().message().find("<digits>_<name>.sql"), std::string::npos);
  }
}

TEST_F(MigrationFileTest, LoadsSqlFilesInNumericVersionOrder) {
  // Numeric, not lexical: 99 < 100 although "99_" > "100_" as text.
  Write("100_third.sql", "SELECT 3;");
  Write("99_second.sql", "SELECT 2;");
  Write("1_first.sql", "SELECT 1;");
  Write("README.md", "not a migration");
  Write(".hidden.sql", "ignored");
  fs::create_directories(dir_ / "123_subdir.sql");
  auto files = LoadMigrationDir(dir_.string());
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  ASSERT_EQ(files->size(), 3u);
  EXPECT_EQ((*files)[0].file_name, "1_first.sql");
  EXPECT_EQ((*files)[1].file_name, "99_second.sql");
  EXPECT_EQ((*files)[2].file_name, "100_third.sql");
  EXPECT_EQ((*files)[2].version, 100);
  EXPECT_EQ((*files)[2].name, "third");
  EXPECT_EQ((*files)[2].sql, "SELECT 3;");
  EXPECT_EQ((*files)[2].path, (dir_ / "100_third.sql").string());
}

TEST_F(MigrationFileTest, DuplicateVersionsAreAnErrorNamingBothFiles) {
  Write("1732300000_a.sql", "SELECT 1;");
  Write("1732300000_b.sql", "SELECT 2;");
  auto files = LoadMigrationDir(dir_.string());
  ASSERT_FALSE(files.ok());
  EXPECT_EQ(files.status().code(), StatusCode::kInvalidArgument);
  const std::string& message = files.status().message();
  EXPECT_NE(message.find("1732300000_a.sql"), std::string::npos) << message;
  EXPECT_NE(message.find("1732300000_b.sql"), std::string::npos) << message;
  EXPECT_NE(message.find("same version"), std::string::npos) << message;
}

TEST_F(MigrationFileTest, LeadingZerosMakeTheSameVersion) {
  Write("01_a.sql", "");
  Write("1_b.sql", "");
  EXPECT_FALSE(LoadMigrationDir(dir_.string()).ok());
}

TEST_F(MigrationFileTest, ABadSqlFileNameIsAnError) {
  Write("1_ok.sql", "");
  Write("init.sql", "");
  auto files = LoadMigrationDir(dir_.string());
  ASSERT_FALSE(files.ok());
  EXPECT_NE(files.status().message().find("\"init.sql\""), std::string::npos);
}

TEST_F(MigrationFileTest, MissingDirectoryIsNotFound) {
  auto files = LoadMigrationDir((dir_ / "nope").string());
  ASSERT_FALSE(files.ok());
  EXPECT_EQ(files.status().code(), StatusCode::kNotFound);
  EXPECT_NE(files.status().message().find("--dir"), std::string::npos);
}

TEST_F(MigrationFileTest, ChecksumIsSha256OfTheFileBytes) {
  Write("1_a.sql", "abc");
  Write("2_b.sql", "abc\r\n");  // bytes, not lines: a changed line ending is a change
  auto files = LoadMigrationDir(dir_.string());
  ASSERT_TRUE(files.ok());
  EXPECT_EQ((*files)[0].checksum,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_NE((*files)[1].checksum, (*files)[0].checksum);
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(LineOfPositionTest, CountsLinesUpToTheCharacter) {
  const std::string text = "CREATE TABLE a ();\nCREAT TABLE b ();\n";
  EXPECT_EQ(LineOfPosition(text, 1), 1);
  EXPECT_EQ(LineOfPosition(text, 19), 1);  // the newline itself is on line 1
  EXPECT_EQ(LineOfPosition(text, 20), 2);  // "CREAT"
  EXPECT_EQ(LineOfPosition(text, 0), 0);
  EXPECT_EQ(LineOfPosition(text, 1000), 3);
  // PostgreSQL counts characters, not bytes: "é" is one character of two bytes.
  const std::string utf8 = "-- caf\xC3\xA9\nX";
  EXPECT_EQ(LineOfPosition(utf8, 9), 2);  // '-','-',' ','c','a','f','é','\n','X'
}

}  // namespace
}  // namespace eddy::schema
