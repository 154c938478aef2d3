#include "http/message.h"

#include <gtest/gtest.h>

#include "http/server.h"

namespace eddy::http {
namespace {

std::string Json(std::string_view text) {
  std::string out;
  AppendJsonString(text, &out);
  return out;
}

TEST(MessageTest, EscapesJsonStrings) {
  EXPECT_EQ(Json("plain"), "\"plain\"");
  EXPECT_EQ(Json("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(Json("\n\r\t\b\f"), "\"\\n\\r\\t\\b\\f\"");
  EXPECT_EQ(Json(std::string_view("\x01\x1f", 2)), "\"\\u0001\\u001f\"");
  EXPECT_EQ(Json(std::string_view("\0", 1)), "\"\\u0000\"");
  EXPECT_EQ(Json("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
}

TEST(MessageTest, PercentDecodes) {
  EXPECT_EQ(PercentDecode("a%20b%2Fc", false), "a b/c");
  EXPECT_EQ(PercentDecode("a+b", false), "a+b");
  EXPECT_EQ(PercentDecode("a+b", true), "a b");
  EXPECT_EQ(PercentDecode("100%", true), "100%");
  EXPECT_EQ(PercentDecode("%zz%4", true), "%zz%4");
  EXPECT_EQ(PercentDecode("%e2%82%ac", true), "\xe2\x82\xac");
}

TEST(MessageTest, ParsesQueryStrings) {
  auto query = ParseQuery("table=songs&where=id+%3E+3&flag&&table=albums&=x");
  EXPECT_EQ(query.count("table"), 2u);
  EXPECT_EQ(query.find("where")->second, "id > 3");
  EXPECT_EQ(query.find("flag")->second, "");
  EXPECT_EQ(query.count(""), 1u);
  EXPECT_TRUE(ParseQuery("").empty());
}

TEST(MessageTest, SplitsTargets) {
  auto split = SplitTarget("/v1/a%20b?x=1&y=2");
  EXPECT_EQ(split.path, "/v1/a b");
  EXPECT_EQ(split.query, "x=1&y=2");
  EXPECT_EQ(SplitTarget("/").query, "");
}

TEST(MessageTest, RequestAccessors) {
  Request request;
  request.query = ParseQuery("a=1&a=2&b=3");
  request.headers.emplace("x-token", "t");
  EXPECT_EQ(request.Query("a"), "1");
  EXPECT_EQ(request.QueryAll("a"), (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(request.Query("missing"), std::nullopt);
  EXPECT_TRUE(request.QueryAll("missing").empty());
  EXPECT_EQ(request.Header("x-token"), "t");
  EXPECT_EQ(request.Header("x-other"), std::nullopt);
}

TEST(MessageTest, BuildsResponses) {
  Response error = Response::Error(400, "bad_request", "say \"hi\"", "table");
  EXPECT_EQ(error.status, 400);
  EXPECT_EQ(error.content_type, "application/json");
  EXPECT_EQ(error.body,
            R"({"error":{"code":"bad_request","message":"say \"hi\"","field":"table"}})");
  EXPECT_EQ(Response::Error(404, "not_found", "x").body,
            R"({"error":{"code":"not_found","message":"x"}})");
  Response text = Response::Text(200, "ok");
  EXPECT_EQ(text.content_type, "text/plain");
  EXPECT_EQ(Response::Json(201, "{}").status, 201);
}

}  // namespace
}  // namespace eddy::http
