#include "deliver/http_post.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace eddy::deliver {
namespace {

// A loopback socket that accepts connections (the kernel's backlog) but never answers.
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() { ::close(fd_); }
  void Listen() { EXPECT_EQ(::listen(fd_, 4), 0); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/in"; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(HttpPostTest, ParsesHttpAndHttpsUrls) {
  auto plain = ParseHttpUrl("http://127.0.0.1:9000/in?x=1", "url");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->tls);
  EXPECT_EQ(plain->host, "127.0.0.1");
  EXPECT_EQ(plain->port, "9000");
  EXPECT_EQ(plain->target, "/in?x=1");
  auto secure = ParseHttpUrl("https://hooks.example.com", "url");
  ASSERT_TRUE(secure.ok());
  EXPECT_TRUE(secure->tls);
  EXPECT_EQ(secure->host, "hooks.example.com");
  EXPECT_EQ(secure->port, "443");
  EXPECT_EQ(secure->target, "/");
  EXPECT_EQ(secure->ToString(), "https://hooks.example.com:443/");
  auto v6 = ParseHttpUrl("https://[::1]:8443/h", "url");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, "8443");
  for (const char* bad : {"ftp://x/", "https://", "http://:80/", "http://x:99999/", "http://x:/",
                          "https://[::1/", "http://u:p@x/", "https://[::1]x/"}) {
    auto r = ParseHttpUrl(bad, "webhooks[0].url");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message().rfind("webhooks[0].url: ", 0), 0u) << r.status().message();
  }
}

TEST(HttpPostTest, HttpsNeedsATrustStore) {
  auto url = ParseHttpUrl("https://127.0.0.1:1/", "url");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(HttpPost(*url, nullptr, {}, "[]", 100).status().code(),
            StatusCode::kFailedPrecondition);
  auto missing = LoadTlsTrust("/nonexistent/ca.pem", "webhooks[0].ca_file");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("webhooks[0].ca_file"), std::string::npos);
  EXPECT_TRUE(LoadTlsTrust("", "ca_file").ok());  // the system's store
}

TEST(HttpPostTest, ASilentEndpointTimesOut) {
  SilentListener silent;
  silent.Listen();
  auto url = ParseHttpUrl(silent.url(), "url");
  ASSERT_TRUE(url.ok());
  auto r = HttpPost(*url, nullptr, {}, "[]", 200);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("timed out"), std::string::npos) << r.status().message();
}

TEST(HttpPostTest, ARefusedConnectionIsUnavailable) {
  SilentListener closed;  // bound, not listening: connections are refused
  auto url = ParseHttpUrl(closed.url(), "url");
  ASSERT_TRUE(url.ok());
  auto r = HttpPost(*url, nullptr, {}, "[]", 2000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace eddy::deliver
