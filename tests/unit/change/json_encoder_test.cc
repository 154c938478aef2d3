#include "change/json_encoder.h"

#include <string>

#include <gtest/gtest.h>

#include "eddy/change.h"

namespace eddy::change {
namespace {

std::string Str(std::string_view s) {
  std::string out;
  AppendJsonString(s, &out);
  return out;
}

std::string Render(TypeKind kind, std::string text, TypeKind element_kind = TypeKind::kText) {
  Column column;
  column.name = "c";
  column.kind = kind;
  column.element_kind = element_kind;
  std::string out;
  AppendJsonValue(column, Value::Text(std::move(text)), &out);
  return out;
}

std::string RenderArray(TypeKind element_kind, std::string text) {
  return Render(TypeKind::kArray, std::move(text), element_kind);
}

TEST(AppendJsonStringTest, PlainAndEscapes) {
  EXPECT_EQ(Str(""), R"("")");
  EXPECT_EQ(Str("hello"), R"("hello")");
  EXPECT_EQ(Str("a\"b\\c/d"), R"("a\"b\\c/d")");
  EXPECT_EQ(Str("\b\f\n\r\t"), R"("\b\f\n\r\t")");
  EXPECT_EQ(Str(std::string_view("\x00\x01\x1f\x7f", 4)), "\"\\u0000\\u0001\\u001f\x7f\"");
}

TEST(AppendJsonStringTest, AppendsToExistingContent) {
  std::string out = "[";
  AppendJsonString("x", &out);
  out.push_back(',');
  AppendJsonString("y", &out);
  EXPECT_EQ(out, R"(["x","y")");
}

TEST(AppendJsonStringTest, ValidUtf8PassesThrough) {
  EXPECT_EQ(Str("caf\xC3\xA9"), "\"caf\xC3\xA9\"");            // 2 bytes
  EXPECT_EQ(Str("\xE2\x82\xAC"), "\"\xE2\x82\xAC\"");          // euro, 3 bytes
  EXPECT_EQ(Str("\xF0\x9F\x98\x80"), "\"\xF0\x9F\x98\x80\"");  // emoji, 4 bytes
  EXPECT_EQ(Str("\xEF\xBF\xBF\xF4\x8F\xBF\xBF"), "\"\xEF\xBF\xBF\xF4\x8F\xBF\xBF\"");  // maxima
}

TEST(AppendJsonStringTest, InvalidUtf8BecomesReplacementCharacter) {
  const std::string kFffd = "\xEF\xBF\xBD";
  EXPECT_EQ(Str("a\x80z"), "\"a" + kFffd + "z\"");                      // stray continuation
  EXPECT_EQ(Str("a\xC3"), "\"a" + kFffd + "\"");                        // truncated at the end
  EXPECT_EQ(Str("\xC3z"), "\"" + kFffd + "z\"");                        // lead without continuation
  EXPECT_EQ(Str("\xC0\xAF"), "\"" + kFffd + kFffd + "\"");              // overlong '/'
  EXPECT_EQ(Str("\xE0\x80\xAF"), "\"" + kFffd + kFffd + kFffd + "\"");  // overlong 3 bytes
  EXPECT_EQ(Str("\xED\xA0\x80"), "\"" + kFffd + kFffd + kFffd + "\"");  // surrogate D800
  EXPECT_EQ(Str("\xF4\x90\x80\x80"), "\"" + kFffd + kFffd + kFffd + kFffd + "\"");  // > 10FFFF
  EXPECT_EQ(Str("\xFF"), "\"" + kFffd + "\"");
  EXPECT_EQ(Str("\xE2\x82"), "\"" + kFffd + kFffd + "\"");  // truncated 3-byte sequence
}

TEST(AppendJsonValueTest, Null) {
  Column column;
  column.kind = TypeKind::kInt32;
  std::string out;
  AppendJsonValue(column, Value::Null(), &out);
  EXPECT_EQ(out, "null");
}

TEST(AppendJsonValueTest, UnchangedToastWritesNothing) {
  Column column;
  column.kind = TypeKind::kText;
  std::string out = "prefix";
  AppendJsonValue(column, Value::Unchanged(), &out);
  EXPECT_EQ(out, "prefix");
}

TEST(AppendJsonValueTest, Bool) {
  EXPECT_EQ(Render(TypeKind::kBool, "t"), "true");
  EXPECT_EQ(Render(TypeKind::kBool, "f"), "false");
  EXPECT_EQ(Render(TypeKind::kBool, "maybe"), R"("maybe")");
}

TEST(AppendJsonValueTest, SmallIntegers) {
  EXPECT_EQ(Render(TypeKind::kInt16, "-32768"), "-32768");
  EXPECT_EQ(Render(TypeKind::kInt16, "0"), "0");
  EXPECT_EQ(Render(TypeKind::kInt32, "2147483647"), "2147483647");
  EXPECT_EQ(Render(TypeKind::kInt32, "12abc"), R"("12abc")");
  EXPECT_EQ(Render(TypeKind::kInt32, ""), R"("")");
  EXPECT_EQ(Render(TypeKind::kInt32, "007"), R"("007")");
}

TEST(AppendJsonValueTest, Int64BoundaryAtTwoToThe53) {
  EXPECT_EQ(Render(TypeKind::kInt64, "42"), "42");
  EXPECT_EQ(Render(TypeKind::kInt64, "9007199254740991"), "9007199254740991");
  EXPECT_EQ(Render(TypeKind::kInt64, "9007199254740992"), R"("9007199254740992")");
  EXPECT_EQ(Render(TypeKind::kInt64, "-9007199254740991"), "-9007199254740991");
  EXPECT_EQ(Render(TypeKind::kInt64, "-9007199254740992"), R"("-9007199254740992")");
  EXPECT_EQ(Render(TypeKind::kInt64, "999999999999999"), "999999999999999");    // 15 digits
  EXPECT_EQ(Render(TypeKind::kInt64, "1000000000000000"), "1000000000000000");  // 16 digits
  EXPECT_EQ(Render(TypeKind::kInt64, "9223372036854775807"), R"("9223372036854775807")");
  EXPECT_EQ(Render(TypeKind::kInt64, "-9223372036854775808"), R"("-9223372036854775808")");
}

TEST(AppendJsonValueTest, Floats) {
  EXPECT_EQ(Render(TypeKind::kFloat64, "1.5"), "1.5");
  EXPECT_EQ(Render(TypeKind::kFloat64, "-0"), "-0");
  EXPECT_EQ(Render(TypeKind::kFloat64, "1e+100"), "1e+100");
  EXPECT_EQ(Render(TypeKind::kFloat64, "1.2345678e-07"), "1.2345678e-07");
  EXPECT_EQ(Render(TypeKind::kFloat32, "3.4028235e+38"), "3.4028235e+38");
  EXPECT_EQ(Render(TypeKind::kFloat64, "NaN"), R"("NaN")");
  EXPECT_EQ(Render(TypeKind::kFloat64, "Infinity"), R"("Infinity")");
  EXPECT_EQ(Render(TypeKind::kFloat32, "-Infinity"), R"("-Infinity")");
  EXPECT_EQ(Render(TypeKind::kFloat64, "1."), R"("1.")");
}

TEST(AppendJsonValueTest, NumericIsAlwaysAString) {
  EXPECT_EQ(Render(TypeKind::kNumeric, "1"), R"("1")");
  EXPECT_EQ(Render(TypeKind::kNumeric, "3.14159265358979323846264338327950288"),
            R"("3.14159265358979323846264338327950288")");
  EXPECT_EQ(Render(TypeKind::kNumeric, "NaN"), R"("NaN")");
}

TEST(AppendJsonValueTest, StringKinds) {
  EXPECT_EQ(Render(TypeKind::kText, "he said \"hi\"\n"), R"("he said \"hi\"\n")");
  EXPECT_EQ(Render(TypeKind::kEnum, "happy"), R"("happy")");
  EXPECT_EQ(Render(TypeKind::kUuid, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            R"("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")");
  EXPECT_EQ(Render(TypeKind::kMoney, "$1,000.00"), R"("$1,000.00")");
  EXPECT_EQ(Render(TypeKind::kBytea, "\\x0102ff"), R"("\\x0102ff")");
  EXPECT_EQ(Render(TypeKind::kDate, "2024-01-02"), R"("2024-01-02")");
  EXPECT_EQ(Render(TypeKind::kDate, "0044-03-15 BC"), R"("0044-03-15 BC")");
  EXPECT_EQ(Render(TypeKind::kDate, "infinity"), R"("infinity")");
  EXPECT_EQ(Render(TypeKind::kTime, "03:04:05.123"), R"("03:04:05.123")");
  EXPECT_EQ(Render(TypeKind::kInterval, "P1Y2M3DT4H5M6.5S"), R"("P1Y2M3DT4H5M6.5S")");
}

TEST(AppendJsonValueTest, JsonIsEmbedded) {
  EXPECT_EQ(Render(TypeKind::kJson, R"({"a": [1, 2, {"b": null}]})"),
            R"({"a": [1, 2, {"b": null}]})");
  EXPECT_EQ(Render(TypeKind::kJson, "[]"), "[]");
  EXPECT_EQ(Render(TypeKind::kJson, "\"s\""), "\"s\"");
  EXPECT_EQ(Render(TypeKind::kJson, "12.5"), "12.5");
  EXPECT_EQ(Render(TypeKind::kJson, "null"), "null");
  EXPECT_EQ(Render(TypeKind::kJson, ""), R"("")");  // never invalid JSON
}

TEST(AppendJsonValueTest, Timestamp) {
  EXPECT_EQ(Render(TypeKind::kTimestamp, "2024-01-02 03:04:05.123"),
            R"("2024-01-02T03:04:05.123")");
  EXPECT_EQ(Render(TypeKind::kTimestamp, "2024-01-02 03:04:05"), R"("2024-01-02T03:04:05")");
  EXPECT_EQ(Render(TypeKind::kTimestamp, "12024-01-02 03:04:05"), R"("12024-01-02T03:04:05")");
  EXPECT_EQ(Render(TypeKind::kTimestamp, "infinity"), R"("infinity")");
  EXPECT_EQ(Render(TypeKind::kTimestamp, "-infinity"), R"("-infinity")");
  EXPECT_EQ(Render(TypeKind::kTimestamp, "0044-03-15 12:00:00 BC"), R"("0044-03-15 12:00:00 BC")");
}

TEST(AppendJsonValueTest, TimestampTz) {
  EXPECT_EQ(Render(TypeKind::kTimestampTz, "2024-01-02 03:04:05.123+00"),
            R"("2024-01-02T03:04:05.123Z")");
  EXPECT_EQ(Render(TypeKind::kTimestampTz, "2024-01-02 03:04:05+05:30"),
            R"("2024-01-02T03:04:05+05:30")");
  EXPECT_EQ(Render(TypeKind::kTimestampTz, "2024-01-02 03:04:05+05"),
            R"("2024-01-02T03:04:05+05:00")");
  EXPECT_EQ(Render(TypeKind::kTimestampTz, "2024-01-02 03:04:05.5-03"),
            R"("2024-01-02T03:04:05.5-03:00")");
  EXPECT_EQ(Render(TypeKind::kTimestampTz, "1850-01-01 00:00:00+00:53:28"),
            R"("1850-01-01T00:00:00+00:53:28")");
  EXPECT_EQ(Render(TypeKind::kTimestampTz, "infinity"), R"("infinity")");
  EXPECT_EQ(Render(TypeKind::kTimestampTz, "-infinity"), R"("-infinity")");
  EXPECT_EQ(Render(TypeKind::kTimestampTz, "0044-03-15 12:00:00+00 BC"),
            R"("0044-03-15 12:00:00+00 BC")");
  EXPECT_EQ(Render(TypeKind::kTimestampTz, "2024-01-02 03:04:05"), R"("2024-01-02 03:04:05")");
}

TEST(AppendJsonValueTest, TimeTz) {
  EXPECT_EQ(Render(TypeKind::kTimeTz, "03:04:05+00"), R"("03:04:05Z")");
  EXPECT_EQ(Render(TypeKind::kTimeTz, "03:04:05.25+05"), R"("03:04:05.25+05:00")");
  EXPECT_EQ(Render(TypeKind::kTimeTz, "03:04:05-05:30"), R"("03:04:05-05:30")");
  EXPECT_EQ(Render(TypeKind::kTimeTz, "garbage"), R"("garbage")");
}

TEST(AppendJsonValueTest, Arrays) {
  EXPECT_EQ(RenderArray(TypeKind::kInt32, "{1,2,NULL}"), "[1,2,null]");
  EXPECT_EQ(RenderArray(TypeKind::kInt32, "{}"), "[]");
  EXPECT_EQ(RenderArray(TypeKind::kInt32, "{{1,2},{3,4}}"), "[[1,2],[3,4]]");
  EXPECT_EQ(RenderArray(TypeKind::kInt32, "{{{1},{2}},{{3},{4}}}"), "[[[1],[2]],[[3],[4]]]");
  EXPECT_EQ(RenderArray(TypeKind::kInt32, "[0:1]={7,8}"), "[7,8]");
  EXPECT_EQ(RenderArray(TypeKind::kInt32, "[-1:0][2:3]={{1,2},{3,4}}"), "[[1,2],[3,4]]");
  EXPECT_EQ(RenderArray(TypeKind::kText, R"({"a b","c\"d",NULL,"NULL",plain,"back\\slash"})"),
            R"(["a b","c\"d",null,"NULL","plain","back\\slash"])");
  EXPECT_EQ(RenderArray(TypeKind::kText, R"({"",null})"), R"(["",null])");
  EXPECT_EQ(RenderArray(TypeKind::kBool, "{t,f,NULL}"), "[true,false,null]");
  EXPECT_EQ(RenderArray(TypeKind::kInt64, "{9007199254740991,9007199254740992}"),
            R"([9007199254740991,"9007199254740992"])");
  EXPECT_EQ(RenderArray(TypeKind::kFloat64, "{1.5,NaN,-Infinity}"), R"([1.5,"NaN","-Infinity"])");
  EXPECT_EQ(RenderArray(TypeKind::kNumeric, "{1.10,2}"), R"(["1.10","2"])");
  EXPECT_EQ(RenderArray(TypeKind::kTimestampTz, R"({"2024-01-02 03:04:05+00",infinity})"),
            R"(["2024-01-02T03:04:05Z","infinity"])");
  EXPECT_EQ(RenderArray(TypeKind::kBytea, R"({"\\x01ff",NULL})"), R"(["\\x01ff",null])");
  EXPECT_EQ(RenderArray(TypeKind::kJson, R"({"{\"a\": 1}","[1, 2]",3,"null",NULL})"),
            R"([{"a": 1},[1, 2],3,null,null])");
  EXPECT_EQ(RenderArray(TypeKind::kText, "{ a , b }"), R"(["a","b"])");
  EXPECT_EQ(RenderArray(TypeKind::kText, "{\"caf\xC3\xA9\"}"), "[\"caf\xC3\xA9\"]");
}

TEST(AppendJsonValueTest, BoxArraysUseSemicolons) {
  Column column;
  column.kind = TypeKind::kArray;
  column.element_kind = TypeKind::kText;
  column.type_name = "_box";
  std::string out;
  AppendJsonValue(column, Value::Text("{(1,1),(0,0);(2,2),(1,1)}"), &out);
  EXPECT_EQ(out, R"j(["(1,1),(0,0)","(2,2),(1,1)"])j");
}

TEST(AppendJsonValueTest, MalformedArraysBecomeStrings) {
  for (const char* bad :
       {"", "{", "}", "{1,2", "{1,}", "{,1}", "{1,,2}", "{\"abc}", "{\"abc\\", "{1}x", "[0:1]{1}",
        "[0:]={1}", "[a:b]={1}", "1,2", "{1\"a\"}", "{{1},2}}", "{a{b}", "{\"a\"\"b\"}"}) {
    std::string expected;
    AppendJsonString(bad, &expected);
    EXPECT_EQ(RenderArray(TypeKind::kInt32, bad), expected) << bad;
  }
}

TEST(AppendJsonValueTest, DeepArraysDoNotCrash) {
  std::string deep(10000, '{');
  deep.append(10000, '}');
  std::string out = RenderArray(TypeKind::kInt32, deep);
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.front(), '"');
}

TEST(AppendJsonValueTest, AppendsWithoutClearing) {
  Column a{.name = "a", .kind = TypeKind::kInt32};
  Column b{.name = "b", .kind = TypeKind::kText};
  std::string out = "{";
  AppendJsonValue(a, Value::Text("1"), &out);
  out.push_back(',');
  AppendJsonValue(b, Value::Text("x"), &out);
  out.push_back('}');
  EXPECT_EQ(out, R"({1,"x"})");
}

}  // namespace
}  // namespace eddy::change
