#include "http/router.h"

#include <gtest/gtest.h>

namespace eddy::http {
namespace {

Response Ok(const Request&) { return Response::Text(200, "ok"); }

TEST(RouterTest, MatchesExactPaths) {
  Router router;
  router.Entry("/v1/shapes").handlers["GET"] = Ok;
  router.Entry("/v1/shapes/x").handlers["GET"] = Ok;
  ASSERT_NE(router.Match("/v1/shapes"), nullptr);
  EXPECT_EQ(router.Match("/v1/shapes")->path, "/v1/shapes");
  EXPECT_EQ(router.Match("/v1/shapes/x")->path, "/v1/shapes/x");
  EXPECT_EQ(router.Match("/v1/shapes/"), nullptr);
  EXPECT_EQ(router.Match("/v1/shape"), nullptr);
  EXPECT_EQ(router.Match(""), nullptr);
}

TEST(RouterTest, TrailingSlashMatchesSubtreeLongestFirst) {
  Router router;
  router.Entry("/static/").handlers["GET"] = Ok;
  router.Entry("/static/img/").handlers["GET"] = Ok;
  EXPECT_EQ(router.Match("/static/")->path, "/static/");
  EXPECT_EQ(router.Match("/static/a.css")->path, "/static/");
  EXPECT_EQ(router.Match("/static/img/a/b.png")->path, "/static/img/");
  EXPECT_EQ(router.Match("/static"), nullptr);
  EXPECT_EQ(router.Match("/other/x"), nullptr);
}

TEST(RouterTest, KeepsRegistrationOrderAndAllow) {
  Router router;
  router.Entry("/b").handlers["POST"] = Ok;
  router.Entry("/a").handlers["GET"] = Ok;
  router.Entry("/b").handlers["DELETE"] = Ok;
  EXPECT_EQ(router.Paths(), (std::vector<std::string>{"/b", "/a"}));
  EXPECT_EQ(router.Match("/b")->Allow(), "DELETE, POST");
  EXPECT_EQ(router.Match("/a")->Allow(), "GET, HEAD");
  router.Entry("/s").sse = [](const Request&, std::shared_ptr<EventStream>,
                              std::vector<std::pair<std::string, std::string>>*) -> Accept {
    return std::nullopt;
  };
  EXPECT_EQ(router.Match("/s")->Allow(), "GET");
}

}  // namespace
}  // namespace eddy::http
