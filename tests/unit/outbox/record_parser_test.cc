#include "outbox/record_parser.h"

#include <gtest/gtest.h>

namespace eddy::outbox {
namespace {

using Fields = std::vector<std::optional<std::string>>;

Fields Parse(std::string_view text) {
  auto r = ParseRecord(text);
  EXPECT_TRUE(r.ok()) << text << ": " << r.status().ToString();
  return r.ok() ? *r : Fields{};
}

TEST(RecordParserTest, UnquotedFieldsAndNulls) {
  EXPECT_EQ(Parse("(1,abc,,t)"), (Fields{"1", "abc", std::nullopt, "t"}));
  EXPECT_EQ(Parse("(,)"), (Fields{std::nullopt, std::nullopt}));
}

TEST(RecordParserTest, EmptyParensIsOneNull) { EXPECT_EQ(Parse("()"), (Fields{std::nullopt})); }

TEST(RecordParserTest, QuotedEmptyStringIsNotNull) {
  EXPECT_EQ(Parse("(\"\",1)"), (Fields{"", "1"}));
}

TEST(RecordParserTest, QuotesCommasParensAndSpaces) {
  EXPECT_EQ(Parse(R"x(("a,b","(x)"," lead","say ""hi"""))x"),
            (Fields{"a,b", "(x)", " lead", "say \"hi\""}));
}

TEST(RecordParserTest, BackslashesAreDoubledInsideQuotes) {
  // record_out doubles backslashes: bytea \x01 prints as "\\x01".
  EXPECT_EQ(Parse(R"(("\\x0102",a\,b))"), (Fields{"\\x0102", "a,b"}));
}

TEST(RecordParserTest, ArraysAndNestedRecords) {
  EXPECT_EQ(Parse(R"x(("{1,2,3}","{""a b"",NULL}","(1,""x y"")"))x"),
            (Fields{"{1,2,3}", "{\"a b\",NULL}", "(1,\"x y\")"}));
}

TEST(RecordParserTest, MultibyteAndNewlines) {
  EXPECT_EQ(Parse("(\"h\xC3\xA9\nllo\",\xE2\x82\xAC)"), (Fields{"h\xC3\xA9\nllo", "\xE2\x82\xAC"}));
}

TEST(RecordParserTest, MalformedInputIsCorruption) {
  for (std::string_view bad : {"", "(", "1,2", "(1,2", "(\"abc)", "(1)x", "(\\", "(\"\\"}) {
    auto r = ParseRecord(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
    }
  }
}

}  // namespace
}  // namespace eddy::outbox
