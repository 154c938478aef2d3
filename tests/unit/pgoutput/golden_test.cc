// Golden tests: pgoutput bytes captured from a real PostgreSQL 15, one case per file in
// tests/golden/pgoutput/*.txt (see README.md there for the format and how they were captured).
// Each file is decoded in order by one Decoder, so stream state carries across its messages.
//
// EDDY_GOLDEN_UPDATE=1 rewrites the out:/err: lines from what the decoder produces now; review
// the diff before keeping it.

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "pgoutput/decoder.h"
#include "pgoutput/messages.h"

namespace eddy::pgoutput {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kIn = "in: ";
constexpr std::string_view kOut = "out: ";
constexpr std::string_view kErr = "err: ";

std::vector<std::string> GoldenFiles() {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(EDDY_GOLDEN_DIR, ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".txt") {
      files.push_back(entry.path().filename().string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::optional<std::string> FromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int hi = nibble(hex[i]);
    const int lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi << 4 | lo));
  }
  return out;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// What the decoder says about one input line: "out: <Describe>" or "err: <status message>".
std::string Actual(Decoder& decoder, const std::string& bytes) {
  Result<Message> m = decoder.Decode(bytes);
  if (!m.ok()) return std::string(kErr) + m.status().message();
  return std::string(kOut) + Describe(*m);
}

class GoldenTest : public testing::TestWithParam<std::string> {};

TEST_P(GoldenTest, DecodesAsExpected) {
  const fs::path path = fs::path(EDDY_GOLDEN_DIR) / GetParam();
  std::ifstream in(path);
  ASSERT_TRUE(in) << "cannot open " << path;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);

  const char* update_env = std::getenv("EDDY_GOLDEN_UPDATE");
  const bool update = update_env != nullptr && std::string_view(update_env) == "1";
  std::vector<std::string> rewritten;

  Decoder decoder;
  int cases = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    const std::string where = path.filename().string() + ":" + std::to_string(i + 1);
    if (StartsWith(line, kOut) || StartsWith(line, kErr)) {
      if (update) continue;  // regenerated after its in: line
      ADD_FAILURE() << where << ": expectation without a preceding in: line";
      continue;
    }
    if (update) rewritten.push_back(line);
    if (!StartsWith(line, kIn)) {
      const bool blank_or_comment = line.empty() || line[0] == '#';
      EXPECT_TRUE(blank_or_comment) << where << ": unknown line: " << line;
      continue;
    }
    std::optional<std::string> bytes = FromHex(std::string_view(line).substr(kIn.size()));
    ASSERT_TRUE(bytes.has_value()) << where << ": bad hex";
    ++cases;
    const std::string actual = Actual(decoder, *bytes);
    if (update) {
      rewritten.push_back(actual);
      continue;
    }
    ASSERT_LT(i + 1, lines.size()) << where << ": in: line without out: or err: line";
    const std::string& expected = lines[++i];
    if (StartsWith(expected, kErr)) {
      // err: lines hold a substring of the status message, so wording can improve.
      const std::string_view want = std::string_view(expected).substr(kErr.size());
      EXPECT_TRUE(StartsWith(actual, kErr) && actual.find(want) != std::string::npos)
          << where << ": expected an error containing \"" << want << "\", got " << actual;
    } else {
      EXPECT_TRUE(StartsWith(expected, kOut)) << where << ": in: line without out: or err: line";
      EXPECT_EQ(actual, expected) << where;
    }
  }
  EXPECT_GT(cases, 0) << path << " has no in: lines";

  if (update) {
    std::ofstream out(path, std::ios::trunc);
    for (const std::string& line : rewritten) out << line << '\n';
  }
}

std::string CaseName(const testing::TestParamInfo<std::string>& info) {
  std::string name = fs::path(info.param).stem().string();
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(GoldenTest);  // DirectoryHasCases reports it
INSTANTIATE_TEST_SUITE_P(Captured, GoldenTest, testing::ValuesIn(GoldenFiles()), CaseName);

// Guards against a wrong EDDY_GOLDEN_DIR silently running zero cases.
TEST(GoldenFilesTest, DirectoryHasCases) { EXPECT_GE(GoldenFiles().size(), 10u); }

}  // namespace
}  // namespace eddy::pgoutput
