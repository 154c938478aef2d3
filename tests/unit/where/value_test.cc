#include "where/value.h"

#include <gtest/gtest.h>

namespace eddy::where {
namespace {

// Parses `text` as `type` and prints it back as PostgreSQL would.
std::string RoundTrip(Type type, std::string_view text) {
  auto value = ParseValue(type, text);
  if (!value) return "<invalid>";
  return FormatValue(type, *value);
}

TEST(ValueTest, IntegersHonourTheirRange) {
  EXPECT_EQ(RoundTrip({TypeKind::kInt4}, " 007 "), "7");
  EXPECT_EQ(RoundTrip({TypeKind::kInt4}, "-2147483648"), "-2147483648");
  EXPECT_EQ(RoundTrip({TypeKind::kInt4}, "2147483648"), "<invalid>");
  EXPECT_EQ(RoundTrip({TypeKind::kInt2}, "40000"), "<invalid>");
  EXPECT_EQ(RoundTrip({TypeKind::kInt8}, "9223372036854775807"), "9223372036854775807");
  EXPECT_EQ(RoundTrip({TypeKind::kInt4}, "1.5"), "<invalid>");
  EXPECT_EQ(RoundTrip({TypeKind::kInt4}, ""), "<invalid>");
}

TEST(ValueTest, FloatsPrintLikePostgres) {
  EXPECT_EQ(RoundTrip({TypeKind::kFloat8}, "0.1"), "0.1");
  EXPECT_EQ(RoundTrip({TypeKind::kFloat8}, "1e100"), "1e+100");
  EXPECT_EQ(RoundTrip({TypeKind::kFloat8}, "0.00001"), "1e-05");
  EXPECT_EQ(RoundTrip({TypeKind::kFloat8}, "123456789012345"), "123456789012345");
  EXPECT_EQ(RoundTrip({TypeKind::kFloat8}, "1234567890123456"), "1.234567890123456e+15");
  EXPECT_EQ(RoundTrip({TypeKind::kFloat8}, "NaN"), "NaN");
  EXPECT_EQ(RoundTrip({TypeKind::kFloat8}, "-Infinity"), "-Infinity");
  EXPECT_EQ(RoundTrip({TypeKind::kFloat4}, "0.1"), "0.1");
  EXPECT_EQ(RoundTrip({TypeKind::kFloat4}, "1000000"), "1e+06");
  EXPECT_EQ(RoundTrip({TypeKind::kNumeric}, "1.50"), "1.50");
  EXPECT_EQ(RoundTrip({TypeKind::kNumeric}, "1.5e3"), "1500");
  EXPECT_EQ(RoundTrip({TypeKind::kNumeric}, "-0.00"), "0.00");
  EXPECT_EQ(RoundTrip({TypeKind::kNumeric}, "abc"), "<invalid>");
}

TEST(ValueTest, DatesAndTimestamps) {
  EXPECT_EQ(RoundTrip({TypeKind::kDate}, "2024-2-29"), "2024-02-29");
  EXPECT_EQ(RoundTrip({TypeKind::kDate}, "2023-02-29"), "<invalid>");
  EXPECT_EQ(RoundTrip({TypeKind::kDate}, "0001-01-01 BC"), "0001-01-01 BC");
  EXPECT_EQ(RoundTrip({TypeKind::kDate}, "infinity"), "infinity");
  EXPECT_EQ(RoundTrip({TypeKind::kTimestamptz}, "2024-05-01 12:00:00+02"),
            "2024-05-01 10:00:00+00");
  EXPECT_EQ(RoundTrip({TypeKind::kTimestamptz}, "2024-05-01T10:00:00.123Z"),
            "2024-05-01 10:00:00.123+00");
  EXPECT_EQ(RoundTrip({TypeKind::kTimestamptz}, "2024-05-01 00:30:00+05:30"),
            "2024-04-30 19:00:00+00");
  EXPECT_EQ(RoundTrip({TypeKind::kTimestamptz}, "1969-12-31 23:59:59.5+00"),
            "1969-12-31 23:59:59.5+00");
  EXPECT_EQ(RoundTrip({TypeKind::kTimestamp}, "2024-05-01 10:00:00+02"), "2024-05-01 10:00:00");
  EXPECT_EQ(RoundTrip({TypeKind::kTimestamp}, "2024-05-01"), "2024-05-01 00:00:00");
  EXPECT_EQ(RoundTrip({TypeKind::kTime}, "7:05"), "07:05:00");
  EXPECT_EQ(RoundTrip({TypeKind::kTime}, "25:00"), "<invalid>");
  EXPECT_EQ(RoundTrip({TypeKind::kTimestamptz}, "yesterday"), "<invalid>");
}

TEST(ValueTest, IntervalsPrintAsIso8601) {
  EXPECT_EQ(RoundTrip({TypeKind::kInterval}, "1 year 2 mons 3 days 04:05:06.5"),
            "P1Y2M3DT4H5M6.5S");
  EXPECT_EQ(RoundTrip({TypeKind::kInterval}, "P1Y2M3DT4H5M6.5S"), "P1Y2M3DT4H5M6.5S");
  EXPECT_EQ(RoundTrip({TypeKind::kInterval}, "0"), "PT0S");
  EXPECT_EQ(RoundTrip({TypeKind::kInterval}, "-1 day -02:00:00"), "P-1DT-2H");
  EXPECT_EQ(RoundTrip({TypeKind::kInterval}, "1 day ago"), "P-1D");
  EXPECT_EQ(RoundTrip({TypeKind::kInterval}, "90 minutes"), "PT1H30M");
  EXPECT_EQ(RoundTrip({TypeKind::kInterval}, "1.5 days"), "P1DT12H");
  EXPECT_EQ(RoundTrip({TypeKind::kInterval}, "soon"), "<invalid>");
}

TEST(ValueTest, UuidsAndBools) {
  EXPECT_EQ(CanonicalUuid("{A0EEBC999C0B4EF8BB6D6BB9BD380A11}"),
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  EXPECT_EQ(CanonicalUuid("a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11"),
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  EXPECT_EQ(CanonicalUuid("a0eebc99"), std::nullopt);
  EXPECT_EQ(RoundTrip({TypeKind::kBool}, "yes"), "t");
  EXPECT_EQ(RoundTrip({TypeKind::kBool}, "OFF"), "f");
  EXPECT_EQ(RoundTrip({TypeKind::kBool}, "maybe"), "<invalid>");
}

TEST(ValueTest, ArraysParseAndPrintLikePostgres) {
  Type text_array{TypeKind::kText, true};
  EXPECT_EQ(RoundTrip(text_array, R"({a,"b c",NULL,"NULL","",x\,y})"),
            R"({a,"b c",NULL,"NULL","","x,y"})");
  EXPECT_EQ(RoundTrip(text_array, R"({"quote\"d","back\\slash"})"),
            R"({"quote\"d","back\\slash"})");
  Type int_array{TypeKind::kInt4, true};
  EXPECT_EQ(RoundTrip(int_array, "{{1,2},{3,4}}"), "{{1,2},{3,4}}");
  EXPECT_EQ(RoundTrip(int_array, "[0:1]={1,2}"), "{1,2}");
  EXPECT_EQ(RoundTrip(int_array, "{}"), "{}");
  EXPECT_EQ(RoundTrip(int_array, "{{1,2},{3}}"), "<invalid>");
  EXPECT_EQ(RoundTrip(int_array, "{1,x}"), "<invalid>");
  EXPECT_EQ(RoundTrip(int_array, "{1,2"), "<invalid>");
  EXPECT_EQ(RoundTrip(int_array, "1,2"), "<invalid>");
  EXPECT_EQ(RoundTrip(text_array, R"({"a": [0]})"), "<invalid>");
  EXPECT_EQ(RoundTrip(int_array, "{1,}"), "<invalid>");
  EXPECT_EQ(RoundTrip(int_array, "{{1},2}"), "<invalid>");
  Type bool_array{TypeKind::kBool, true};
  EXPECT_EQ(RoundTrip(bool_array, "{t,false}"), "{t,f}");
}

TEST(ValueTest, ConversionsFollowCasts) {
  Value b = Value::Bool(true);
  EXPECT_EQ(CastToText({TypeKind::kBool}, b), "true");
  auto f = ParseValue({TypeKind::kFloat8}, "2.5");
  auto i = ConvertValue(*f, {TypeKind::kFloat8}, {TypeKind::kInt4});
  ASSERT_TRUE(i);
  EXPECT_EQ(i->integer, 2);  // rint: half to even
  auto big = ParseValue({TypeKind::kInt8}, "5000000000");
  EXPECT_FALSE(ConvertValue(*big, {TypeKind::kInt8}, {TypeKind::kInt4}));
  auto day = ParseValue({TypeKind::kDate}, "2024-05-01");
  auto ts = ConvertValue(*day, {TypeKind::kDate}, {TypeKind::kTimestamptz});
  ASSERT_TRUE(ts);
  EXPECT_EQ(FormatValue({TypeKind::kTimestamptz}, *ts), "2024-05-01 00:00:00+00");
}

}  // namespace
}  // namespace eddy::where
