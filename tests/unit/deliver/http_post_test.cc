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

TEST(HttpPostTest, ASilentEndpointTimesOut) {
  SilentListener silent;
  silent.Listen();
  auto url = ParseHttpUrl(silent.url(), "url");
  ASSERT_TRUE(url.ok());
  auto r = HttpPost(*url, {}, "[]", 200);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("timed out"), std::string::npos) << r.status().message();
}

TEST(HttpPostTest, ARefusedConnectionIsUnavailable) {
  SilentListener closed;  // bound, not listening: connections are refused
  auto url = ParseHttpUrl(closed.url(), "url");
  ASSERT_TRUE(url.ok());
  auto r = HttpPost(*url, {}, "[]", 2000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace eddy::deliver
