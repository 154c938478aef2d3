#include "adapters/shape/shape_request.h"

#include <gtest/gtest.h>

#include "adapters/shape/shape_face.h"
#include "adapters/shape/snapshot.h"
#include "http/message.h"

namespace eddy::shapes {
namespace {

ParsedShapeRequest Parse(std::string_view query, std::string method = "GET",
                         std::string body = "") {
  http::Request request;
  request.method = std::move(method);
  request.path = "/v1/shape";
  request.query = http::ParseQuery(query);
  request.body = std::move(body);
  return ParseShapeRequest(request, request.method == "DELETE");
}

TEST(ShapeRequest, ReadsTheProtocolParameters) {
  auto p = Parse(
      "table=public.items&offset=12_3&handle=h-1&live=&live_sse=true&where=id%20%3D%20%241"
      "&params%5B1%5D=7&columns=%22id%22,%22Title%22&replica=full&log=changes_only&cursor=40"
      "&customParam=x&expired_handle=old&cache-buster=1");
  ASSERT_TRUE(p.errors.empty()) << p.errors.ToJson();
  const ShapeRequest& r = p.request;
  EXPECT_EQ(r.table->schema, "public");
  EXPECT_EQ(r.table->name, "items");
  EXPECT_EQ(r.offset.ToString(), "12_3");
  EXPECT_EQ(*r.handle, "h-1");
  EXPECT_TRUE(r.live);
  EXPECT_TRUE(r.live_sse);
  EXPECT_EQ(*r.where, "id = $1");
  EXPECT_EQ(r.params.at("1"), "7");
  EXPECT_EQ(*r.columns, (std::vector<std::string>{"id", "Title"}));
  EXPECT_TRUE(r.replica_full);
  EXPECT_TRUE(r.changes_only);
  EXPECT_EQ(*r.cursor, "40");
}

TEST(ShapeRequest, GivesElectricsErrorTexts) {
  auto p = Parse("offset=10");
  EXPECT_EQ(p.errors.ToJson(),
            R"({"message":"Invalid request","errors":{"offset":["has invalid format"],)"
            R"("table":["can't be blank"]}})");
  p = Parse("table=items&offset=1_0");
  EXPECT_EQ(p.errors.fields.at("handle").at(0), "can't be blank when offset != -1");
  p = Parse("table=items&offset=-1&live=true");
  EXPECT_EQ(p.errors.fields.at("live").at(0), "can't be true when offset == -1");
  p = Parse("table=items&offset=now&live");
  EXPECT_EQ(p.errors.fields.at("live").at(0), "can't be true when offset is 'now'");
  p = Parse("table=items&offset=-1&live_sse=true");
  EXPECT_EQ(p.errors.fields.at("live_sse").at(0), "can't be true unless live is also true");
  p = Parse("table=foob%40r&offset=-1");
  EXPECT_EQ(p.errors.fields.at("table").at(0),
            "Invalid unquoted identifier contains special characters: foob@r");
  p = Parse("table=a.b.c&offset=-1");
  EXPECT_EQ(p.errors.fields.at("table").at(0),
            "Invalid relation identifier, too many delimiters: a.b.c");
  p = Parse("table=items&offset=-1&params%5Bx%5D=1");
  EXPECT_EQ(p.errors.fields.at("params").at(0), "Parameters can only use numbers as keys");
  p = Parse("table=items&offset=-1&params%5B2%5D=1");
  EXPECT_EQ(p.errors.fields.at("params").at(0),
            "Parameters must be numbered sequentially, starting from 1");
  p = Parse("table=items&offset=-1&replica=half&log=some");
  EXPECT_EQ(p.errors.fields.at("replica").at(0), "is invalid");
  EXPECT_EQ(p.errors.fields.at("log").at(0), "is invalid");
  p = Parse("table=items&offset=-1&columns=%22%22");
  EXPECT_EQ(p.errors.fields.at("columns").at(0), "Invalid zero-length delimited identifier");
  p = Parse("table=items&offset=-1&subset__limit=3");
  EXPECT_EQ(p.errors.subset.at("order_by").at(0),
            "order_by is required when limit or offset is present");
}

TEST(ShapeRequest, HandleIsIgnoredBeforeTheStartAndNow) {
  auto p = Parse("table=items&offset=-1&handle=old");
  ASSERT_TRUE(p.errors.empty());
  EXPECT_FALSE(p.request.handle.has_value());
  p = Parse("table=items&offset=now&handle=old");
  EXPECT_FALSE(p.request.handle.has_value());
}

TEST(ShapeRequest, QuotedNamesKeepTheirCase) {
  auto name = ParseRelationName(R"(electric_test."issues for abc_0_5f")");
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(name->schema, "electric_test");
  EXPECT_EQ(name->name, "issues for abc_0_5f");
  EXPECT_EQ(ParseRelationName("Items")->name, "items");
  EXPECT_EQ(ParseRelationName(std::string(64, 'a')).status().message(),
            "Identifier is too long (max length is 63)");
}

TEST(ShapeRequest, PostBodyCarriesSubsetParameters) {
  auto p = Parse("table=items&offset=-1", "POST",
                 R"({"where":"title = $1","params":{"1":"x"},"limit":5,"order_by":"id DESC"})");
  ASSERT_TRUE(p.errors.empty()) << p.errors.ToJson();
  ASSERT_TRUE(p.request.subset.has_value());
  EXPECT_EQ(*p.request.subset->where, "title = $1");
  EXPECT_EQ(p.request.subset->params.at("1"), "x");
  EXPECT_EQ(*p.request.subset->limit, 5);
  EXPECT_EQ(*p.request.subset->order_by, "id DESC");

  p = Parse("table=items&offset=-1", "POST", "[1]");
  ASSERT_TRUE(p.body_error.has_value());
  EXPECT_EQ(p.body_error->status, 400);
  EXPECT_EQ(p.body_error->body, R"({"error":"Request body must be a JSON object"})");
  p = Parse("table=items&offset=-1", "POST", "{oops");
  ASSERT_TRUE(p.body_error.has_value());
  EXPECT_NE(p.body_error->body.find("Invalid JSON in request body"), std::string::npos);
  p = Parse("table=items&offset=-1", "POST", "");
  EXPECT_FALSE(p.body_error.has_value());
  EXPECT_FALSE(p.request.subset.has_value());
}

TEST(ShapeRequest, SubsetParamsMustBeAJsonObject) {
  auto p = Parse("table=items&offset=-1&subset__where=x&subset__params=%5B1%5D");
  EXPECT_EQ(p.errors.subset.at("params").at(0), "params must be a JSON object");
  p = Parse("table=items&offset=-1&subset__where=x&subset__params=%7B");
  EXPECT_EQ(p.errors.subset.at("params").at(0), "params must be valid JSON");
}

TEST(ShapeFace, SplitsJsonItemsOutsideStrings) {
  auto items = SplitJsonItems(R"({"a":"x,}y"},{"b":[1,2]},{"c":{"d":","}})");
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0], R"({"a":"x,}y"})");
  EXPECT_EQ(items[2], R"({"c":{"d":","}})");
  EXPECT_TRUE(SplitJsonItems("").empty());
}

TEST(ShapeFace, SseClientsAtOneOffsetShareTheFramedBytes) {
  SseFrames frames;
  const shape::Offset from = shape::Offset::At(10, 2);
  EXPECT_FALSE(frames.Find(from));
  auto bytes = std::make_shared<const std::string>("data: {}\n\n");
  frames.Put(from, {bytes, shape::Offset::At(11, 0), true});
  auto found = frames.Find(from);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->frames.get(), bytes.get());  // the same bytes, not a copy
  EXPECT_EQ(found->end, shape::Offset::At(11, 0));
  EXPECT_EQ(frames.shared(), 1u);
  // A second Put for the same offset keeps the first bytes.
  frames.Put(from, {std::make_shared<const std::string>("other"), shape::Offset::At(12, 0), true});
  EXPECT_EQ(frames.Find(from)->frames.get(), bytes.get());
  // Only the recent ranges are kept.
  for (uint64_t tx = 20; tx < 40; ++tx) {
    frames.Put(shape::Offset::At(tx, 0), {bytes, shape::Offset::At(tx + 1, 0), false});
  }
  EXPECT_FALSE(frames.Find(from));
  EXPECT_TRUE(frames.Find(shape::Offset::At(39, 0)));
  // One up-to-date frame per lsn.
  int made = 0;
  auto make = [&](uint64_t lsn) {
    ++made;
    return "data: " + std::to_string(lsn) + "\n\n";
  };
  auto a = frames.UpToDate(5, make);
  auto b = frames.UpToDate(5, make);
  EXPECT_EQ(a.get(), b.get());
  EXPECT_EQ(*frames.UpToDate(6, make), "data: 6\n\n");
  EXPECT_EQ(made, 2);
}

TEST(Snapshot, VisibilityWidensAgainstXmax) {
  SnapshotVisibility v;
  v.xmin = 100;
  v.xmax = 110;
  v.xip = {105};
  EXPECT_TRUE(v.Visible(99));
  EXPECT_TRUE(v.Visible(104));
  EXPECT_FALSE(v.Visible(105));
  EXPECT_FALSE(v.Visible(110));
  EXPECT_FALSE(v.Visible(4000));
  SnapshotVisibility wrapped;  // epoch 1
  wrapped.xmin = (1ull << 32) + 5;
  wrapped.xmax = (1ull << 32) + 10;
  EXPECT_TRUE(wrapped.Visible(0xfffffff0u));  // epoch 0, long ago
  EXPECT_FALSE(wrapped.Visible(12));
  EXPECT_TRUE(wrapped.Visible(4));
}

TEST(Snapshot, DecodesCopyTextFormat) {
  std::vector<std::string> storage;
  std::vector<std::optional<std::string_view>> fields;
  ASSERT_TRUE(DecodeCopyLine("1\t\\N\ta\\tb\\\\c\\nd\t\\x41\\101", &storage, &fields));
  ASSERT_EQ(fields.size(), 4u);
  EXPECT_EQ(*fields[0], "1");
  EXPECT_FALSE(fields[1].has_value());
  EXPECT_EQ(*fields[2], "a\tb\\c\nd");
  EXPECT_EQ(*fields[3], "AA");
}

}  // namespace
}  // namespace eddy::shapes
