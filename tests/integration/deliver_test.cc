// Consumers and webhooks against a real PostgreSQL 15: typed rows, retries, parking and replay,
// restarts, signed webhook batches with the endpoint down and up, and `eddy consume --exec`.

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "eddy/consumer.h"

#include "deliver/http_post.h"
#include "deliver/jetstream_change_feed.h"
#include "deliver/webhook_signature.h"
#include "deliver/webhooks.h"
#include "harness.h"
#include "server/engine.h"

namespace eddy::testing {
namespace {

template <class Pred>
bool WaitUntil(Pred pred, std::chrono::seconds timeout = std::chrono::seconds(30)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

ConsumerOptions ConsumerFor(const WatcherOptions& w, const std::string& name) {
  ConsumerOptions o;
  o.name = name;
  o.data_dir = w.data_dir;
  o.backoff_min_ms = 10;
  o.backoff_max_ms = 50;
  o.max_attempts = 3;
  return o;
}

// (id, value) pairs a handler acknowledged, per key in order.
struct Log {
  std::mutex mu;
  std::map<int64_t, std::vector<std::string>> by_key;
  size_t total = 0;
  void Add(int64_t id, std::string v) {
    std::lock_guard<std::mutex> lock(mu);
    by_key[id].push_back(std::move(v));
    ++total;
  }
  size_t Total() {
    std::lock_guard<std::mutex> lock(mu);
    return total;
  }
  std::vector<std::string> Of(int64_t id) {
    std::lock_guard<std::mutex> lock(mu);
    return by_key[id];
  }
};

TEST(ConsumerTest, HandlersGetTypedNewAndOldRows) {
  std::string db = NewDatabase();
  Sql(db,
      "CREATE TABLE items (id int8 PRIMARY KEY, title text, price numeric, ok bool, score float8,"
      " tags text[], meta jsonb, at timestamptz, big text);"
      "ALTER TABLE items REPLICA IDENTITY FULL");
  WatcherOptions wo = OptionsFor(db);
  auto watcher = StartWatcher(wo);
  std::mutex mu;
  std::vector<std::string> seen;
  ConsumerHandlers h;
  h.on_insert = [&](const Row& n) {
    std::lock_guard<std::mutex> lock(mu);
    auto tags = n["tags"].AsArray();
    seen.push_back(fmt::format(
        "insert id={} title={} price={} ok={} score={} tags={}:{} meta={} at={} big_null={}",
        *n["id"].AsInt64(), *n["title"].AsString(), *n["price"].AsNumeric(), *n["ok"].AsBool(),
        *n["score"].AsDouble(), tags->size(), *(*tags)[1].AsString(), *n["meta"].AsJson(),
        *n["at"].AsUnixMicros(), n["big"].IsNull()));
    return Status::Ok();
  };
  h.on_update = [&](const Row& n, const Row& o) {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(fmt::format("update id={} title={} old_title={}", *n["id"].AsInt64(),
                               *n["title"].AsString(), *o["title"].AsString()));
    return Status::Ok();
  };
  h.on_delete = [&](const Row& o) {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(fmt::format("delete id={} old_title={} table={}", *o["id"].AsInt64(),
                               *o["title"].AsString(), o.table().QualifiedName()));
    return Status::Ok();
  };
  auto consumer = Consumer::Open(*watcher, ConsumerFor(wo, "typed"), h);
  ASSERT_TRUE(consumer.ok()) << consumer.status().ToString();
  Sql(db,
      "INSERT INTO items VALUES (9007199254740993, 'song', 10.50, true, 0.25, "
      "'{a,\"b c\"}', '{\"k\": [1, 2]}', '2024-01-02 03:04:05.123456+00', NULL)");
  Sql(db, "UPDATE items SET title = 'new song' WHERE id = 9007199254740993");
  Sql(db, "DELETE FROM items WHERE id = 9007199254740993");
  ASSERT_TRUE(WaitUntil([&] {
    std::lock_guard<std::mutex> lock(mu);
    return seen.size() == 3;
  })) << watcher->Health();
  EXPECT_EQ(seen[0],
            "insert id=9007199254740993 title=song price=10.50 ok=true score=0.25 tags=2:b c "
            "meta={\"k\": [1, 2]} at=1704164645123456 big_null=true");
  EXPECT_EQ(seen[1], "update id=9007199254740993 title=new song old_title=song");
  EXPECT_EQ(seen[2], "delete id=9007199254740993 old_title=new song table=public.items");
  EXPECT_TRUE((*consumer)->Health().ok());
}

TEST(ConsumerTest, AFailingHandlerIsRetriedAndKeepsOrder) {
  std::string db = NewDatabase();
  Sql(db, "CREATE TABLE r (id int PRIMARY KEY, v text)");
  WatcherOptions wo = OptionsFor(db);
  auto watcher = StartWatcher(wo);
  Log log;
  std::atomic<int> failures{0};
  ConsumerHandlers h;
  h.on_change = [&](const Change& c) -> Status {
    Row n(&c, &c.new_row);
    if (*n["v"].AsString() == "first" && failures < 2) {
      ++failures;
      return Unavailable("not yet");
    }
    log.Add(*n["id"].AsInt64(), *n["v"].AsString());
    return Status::Ok();
  };
  auto consumer = Consumer::Open(*watcher, ConsumerFor(wo, "retry"), h);
  ASSERT_TRUE(consumer.ok()) << consumer.status().ToString();
  Sql(db, "INSERT INTO r VALUES (1, 'first')");
  Sql(db, "UPDATE r SET v = 'second' WHERE id = 1");
  Sql(db, "UPDATE r SET v = 'third' WHERE id = 1");
  ASSERT_TRUE(WaitUntil([&] { return log.Total() == 3; }));
  EXPECT_EQ(log.Of(1), (std::vector<std::string>{"first", "second", "third"}));
  EXPECT_EQ(failures.load(), 2);
  EXPECT_EQ((*consumer)->Stats().parked, 0u);
}

TEST(ConsumerTest, AKeyThatKeepsFailingIsParkedOthersFlowAndReplayDeliversInOrder) {
  std::string db = NewDatabase();
  Sql(db, "CREATE TABLE p (id int PRIMARY KEY, v text)");
  WatcherOptions wo = OptionsFor(db);
  auto watcher = StartWatcher(wo);
  Log log;
  std::atomic<bool> broken{true};
  ConsumerHandlers h;
  auto handle = [&](const Row& n) -> Status {
    int64_t id = *n["id"].AsInt64();
    if (id == 13 && broken) return Internal("key 13 is cursed");
    log.Add(id, *n["v"].AsString());
    return Status::Ok();
  };
  h.on_insert = handle;
  h.on_update = [&](const Row& n, const Row&) { return handle(n); };
  auto consumer = Consumer::Open(*watcher, ConsumerFor(wo, "park"), h);
  ASSERT_TRUE(consumer.ok()) << consumer.status().ToString();
  Sql(db, "INSERT INTO p VALUES (13, 'a'), (1, 'x')");
  Sql(db, "UPDATE p SET v = 'b' WHERE id = 13");
  Sql(db, "INSERT INTO p SELECT g, 'y' FROM generate_series(2, 20) g WHERE g <> 13");
  Sql(db, "UPDATE p SET v = 'c' WHERE id = 13");
  ASSERT_TRUE(WaitUntil([&] { return log.Total() == 19 && (*consumer)->Stats().parked == 3; }))
      << log.Total() << " " << (*consumer)->Stats().parked;
  auto parked = (*consumer)->ListParked();
  ASSERT_TRUE(parked.ok());
  ASSERT_EQ(parked->size(), 3u);
  EXPECT_NE((*parked)[0].error.find("key 13 is cursed"), std::string::npos);
  EXPECT_EQ((*parked)[0].attempts, 3);
  EXPECT_TRUE(log.Of(13).empty());
  broken = false;
  ASSERT_TRUE((*consumer)->ReplayAll().ok());
  EXPECT_EQ(log.Of(13), (std::vector<std::string>{"a", "b", "c"}));
  Sql(db, "UPDATE p SET v = 'd' WHERE id = 13");
  ASSERT_TRUE(WaitUntil([&] { return log.Of(13).size() == 4; }));
  EXPECT_EQ(log.Of(13).back(), "d");
}

TEST(ConsumerTest, StoppingAndReopeningMidStreamLosesNothing) {
  std::string db = NewDatabase();
  Sql(db, "CREATE TABLE k (id int PRIMARY KEY)");
  WatcherOptions wo = OptionsFor(db);
  std::mutex mu;
  std::set<int64_t> seen;
  size_t deliveries = 0;
  ConsumerHandlers h;
  h.on_insert = [&](const Row& n) {
    std::lock_guard<std::mutex> lock(mu);
    seen.insert(*n["id"].AsInt64());
    ++deliveries;
    return Status::Ok();
  };
  std::unique_ptr<LoadWriter> writer;
  for (int round = 0; round < 3; ++round) {
    auto watcher = StartWatcher(wo);
    auto consumer = Consumer::Open(*watcher, ConsumerFor(wo, "restart"), h);
    ASSERT_TRUE(consumer.ok()) << consumer.status().ToString();
    if (round == 0) writer = std::make_unique<LoadWriter>(db, "k");
    std::this_thread::sleep_for(std::chrono::milliseconds(round == 2 ? 300 : 1200));
    if (round == 2) {
      const int64_t total = writer->Stop();
      ASSERT_TRUE(WaitUntil([&] {
        std::lock_guard<std::mutex> lock(mu);
        return static_cast<int64_t>(seen.size()) == total;
      })) << "saw "
          << seen.size() << " of " << total;
      std::lock_guard<std::mutex> lock(mu);
      EXPECT_EQ(*seen.begin(), 1);
      EXPECT_EQ(*seen.rbegin(), total);
      EXPECT_GE(deliveries, static_cast<size_t>(total));
    }
    // Stop the Watcher first, mid-stream, as a crash of the capture would; then the consumer.
    watcher->Stop();
    consumer->reset();
  }
}

// A tiny HTTP/1.1 server on plain sockets: records each POST (Eddy-Signature header and body) and
// answers 200, or 503 while `down`. One connection at a time, Connection: close. Given a
// certificate and key (PEM files), it speaks TLS (OpenSSL) and counts failed handshakes.
class HookServer {
 public:
  HookServer(const std::string& cert_file = "", const std::string& key_file = "") {
    if (!cert_file.empty()) {
      tls_ = SSL_CTX_new(TLS_server_method());
      EXPECT_EQ(SSL_CTX_use_certificate_chain_file(tls_, cert_file.c_str()), 1);
      EXPECT_EQ(SSL_CTX_use_PrivateKey_file(tls_, key_file.c_str(), SSL_FILETYPE_PEM), 1);
    }
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    EXPECT_EQ(::listen(fd_, 16), 0);
    thread_ = std::thread([this] { Loop(); });
  }
  ~HookServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
    if (tls_ != nullptr) SSL_CTX_free(tls_);
  }
  int port() const { return port_; }
  std::atomic<bool> down{false};
  std::atomic<int> refused{0};
  std::atomic<int> failed_handshakes{0};
  struct Post {
    std::string signature;
    std::string body;
  };
  std::vector<Post> Posts() {
    std::lock_guard<std::mutex> lock(mu_);
    return posts_;
  }

 private:
  void Loop() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      timeval five_s{5, 0};
      ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &five_s, sizeof(five_s));
      SSL* ssl = nullptr;
      if (tls_ != nullptr) {
        ssl = SSL_new(tls_);
        SSL_set_fd(ssl, c);
        if (SSL_accept(ssl) != 1) {
          ++failed_handshakes;
          SSL_free(ssl);
          ::close(c);
          continue;
        }
      }
      auto read_some = [&](char* p, size_t n) -> ssize_t {
        return ssl != nullptr ? SSL_read(ssl, p, static_cast<int>(n)) : ::read(c, p, n);
      };
      std::string in;
      char buf[65536];
      size_t header_end = std::string::npos;
      size_t need = 0;
      while (true) {
        ssize_t n = read_some(buf, sizeof(buf));
        if (n <= 0) break;
        in.append(buf, static_cast<size_t>(n));
        if (header_end == std::string::npos) {
          header_end = in.find("\r\n\r\n");
          if (header_end == std::string::npos) continue;
          std::string lower = in.substr(0, header_end);
          for (char& ch : lower) ch = static_cast<char>(std::tolower(ch));
          size_t cl = lower.find("content-length:");
          need = cl == std::string::npos ? 0 : std::stoul(lower.substr(cl + 15));
        }
        if (in.size() >= header_end + 4 + need) break;
      }
      Post post;
      std::string lower = in.substr(0, header_end == std::string::npos ? 0 : header_end);
      for (char& ch : lower) ch = static_cast<char>(std::tolower(ch));
      size_t sig = lower.find("eddy-signature:");
      if (sig != std::string::npos) {
        size_t start = sig + 15;
        while (in[start] == ' ') ++start;
        post.signature = in.substr(start, in.find("\r\n", start) - start);
      }
      if (header_end != std::string::npos) post.body = in.substr(header_end + 4, need);
      std::string answer;
      if (down) {
        ++refused;
        answer =
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      } else {
        {
          std::lock_guard<std::mutex> lock(mu_);
          posts_.push_back(std::move(post));
        }
        answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
      }
      if (ssl != nullptr) {
        SSL_write(ssl, answer.data(), static_cast<int>(answer.size()));
        SSL_shutdown(ssl);
        SSL_free(ssl);
      } else {
        (void)!::write(c, answer.data(), answer.size());
      }
      ::close(c);
    }
  }
  SSL_CTX* tls_ = nullptr;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<Post> posts_;
};

// (id, v) of every change in the batches, in arrival order.
std::vector<std::pair<int64_t, std::string>> Changes(const std::vector<HookServer::Post>& posts) {
  std::vector<std::pair<int64_t, std::string>> out;
  simdjson::dom::parser parser;
  for (const auto& p : posts) {
    simdjson::dom::element doc;
    if (parser.parse(p.body).get(doc)) {
      ADD_FAILURE() << "not JSON: " << p.body;
      continue;
    }
    for (simdjson::dom::element change : doc.get_array()) {
      int64_t id = 0;
      std::string_view v;
      EXPECT_FALSE(change.at_pointer("/key/id").get(id)) << simdjson::minify(change);
      if (change.at_pointer("/new/v").get(v)) v = "(deleted)";
      out.emplace_back(id, std::string(v));
    }
  }
  return out;
}

TEST(WebhookTest, SignedBatchesArriveInOrderAndADeadEndpointNeverBlocksCapture) {
  std::string db = NewDatabase();
  Sql(db, "CREATE TABLE w (id int PRIMARY KEY, v text); CREATE TABLE other (id int PRIMARY KEY)");
  WatcherOptions wo = OptionsFor(db);
  auto engine = server::Engine::Create(wo);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  ASSERT_TRUE((*engine)->Start().ok());
  ASSERT_TRUE((*engine)->WaitUntilStreaming(30000));
  HookServer hook;
  const std::string secret = "0123456789abcdef-secret";
  deliver::WebhookOptions o;
  o.name = "hook";
  o.url = fmt::format("http://127.0.0.1:{}/in", hook.port());
  o.secret = secret;
  o.batch_max = 7;
  o.backoff_min_ms = 20;
  o.backoff_max_ms = 200;
  o.tables = {"w"};
  deliver::Webhooks hooks({o}, (*engine)->change_log(), wo.data_dir);
  ASSERT_TRUE(hooks.Start().ok());

  for (int i = 1; i <= 10; ++i) Sql(db, fmt::format("INSERT INTO w VALUES ({}, 'a{}')", i, i));
  Sql(db, "INSERT INTO other VALUES (1)");
  Sql(db, "UPDATE w SET v = 'b' || id");
  ASSERT_TRUE(WaitUntil([&] { return Changes(hook.Posts()).size() == 20; }))
      << Changes(hook.Posts()).size();
  const int64_t now = SystemClock().NowUnixMicros() / 1'000'000;
  for (const auto& p : hook.Posts()) {
    EXPECT_TRUE(deliver::VerifyWebhookSignature(p.signature, secret, p.body, now, 300))
        << p.signature;
    EXPECT_FALSE(deliver::VerifyWebhookSignature(p.signature, "wrong-secret-0123", p.body, now, 0));
  }

  // The endpoint goes down; capture goes on and the backlog grows.
  hook.down = true;
  const Position before = (*engine)->DurablePosition();
  for (int round = 0; round < 3; ++round) {
    Sql(db, fmt::format("UPDATE w SET v = 'c{}-' || id", round));
  }
  ASSERT_TRUE(WaitUntil([&] { return hook.refused.load() >= 3; }));
  ASSERT_TRUE(WaitUntil([&] { return hooks.webhooks()[0]->Stats().backlog >= 25; }))
      << hooks.webhooks()[0]->Stats().backlog;
  EXPECT_GT((*engine)->DurablePosition(), before);  // the log kept moving
  const std::string metrics = hooks.MetricsText();
  EXPECT_NE(metrics.find("eddy_webhook_backlog_changes{webhook=\"hook\"}"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("eddy_webhook_failures_total{webhook=\"hook\"}"), std::string::npos);
  EXPECT_GE(hooks.webhooks()[0]->Stats().failures, 3u);

  hook.down = false;
  ASSERT_TRUE(WaitUntil([&] { return Changes(hook.Posts()).size() == 50; }))
      << Changes(hook.Posts()).size();
  // Per key: a, b, c0, c1, c2 in order; nothing missing.
  std::map<int64_t, std::vector<std::string>> by_key;
  for (const auto& [id, v] : Changes(hook.Posts())) by_key[id].push_back(v);
  ASSERT_EQ(by_key.size(), 10u);
  for (auto& [id, vs] : by_key) {
    std::vector<std::string> want = {fmt::format("a{}", id), fmt::format("b{}", id),
                                     fmt::format("c0-{}", id), fmt::format("c1-{}", id),
                                     fmt::format("c2-{}", id)};
    EXPECT_EQ(vs, want) << "key " << id;
  }
  EXPECT_TRUE(WaitUntil([&] { return hooks.webhooks()[0]->Stats().backlog == 0; }));
  hooks.Stop();
  (*engine)->Stop();
}

// A self-signed certificate for 127.0.0.1 (subjectAltName IP:127.0.0.1), made with the openssl
// CLI: <dir>/<name>.pem and <dir>/<name>.key. The certificate is its own CA.
void MakeSelfSignedCert(const std::string& dir, const std::string& name) {
  const std::string cmd = fmt::format(
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
      "-subj /CN=eddy-test-{0} -addext subjectAltName=IP:127.0.0.1 -keyout {1}/{0}.key "
      "-out {1}/{0}.pem 2>/dev/null",
      name, dir);
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

TEST(WebhookTest, HttpsDeliversToAPrivateCaAndAWrongCaNeverDelivers) {
  const std::string certs = TempDir();
  MakeSelfSignedCert(certs, "server");
  MakeSelfSignedCert(certs, "stranger");  // a CA that did not sign the server's certificate
  std::string db = NewDatabase();
  Sql(db, "CREATE TABLE t (id int PRIMARY KEY, v text)");
  WatcherOptions wo = OptionsFor(db);
  auto engine = server::Engine::Create(wo);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  ASSERT_TRUE((*engine)->Start().ok());
  ASSERT_TRUE((*engine)->WaitUntilStreaming(30000));
  HookServer trusted(certs + "/server.pem", certs + "/server.key");
  HookServer untrusted(certs + "/server.pem", certs + "/server.key");
  const std::string secret = "0123456789abcdef-secret";
  auto options = [&](const std::string& name, int port, const std::string& ca_file) {
    deliver::WebhookOptions o;
    o.name = name;
    o.url = fmt::format("https://127.0.0.1:{}/in", port);
    o.secret = secret;
    o.ca_file = ca_file;
    o.backoff_min_ms = 20;
    o.backoff_max_ms = 100;
    return o;
  };
  EXPECT_TRUE(deliver::ValidateWebhook(options("a", 1, certs + "/server.pem"), "w").ok());
  Status not_pem = deliver::ValidateWebhook(options("a", 1, certs + "/server.key"), "w");
  EXPECT_NE(not_pem.message().find("w.ca_file: cannot load CA certificates"), std::string::npos)
      << not_pem.ToString();
  deliver::Webhooks hooks({options("good", trusted.port(), certs + "/server.pem"),
                           options("bad", untrusted.port(), certs + "/stranger.pem")},
                          (*engine)->change_log(), wo.data_dir);
  ASSERT_TRUE(hooks.Start().ok());

  for (int i = 1; i <= 5; ++i) Sql(db, fmt::format("INSERT INTO t VALUES ({}, 'a{}')", i, i));
  ASSERT_TRUE(WaitUntil([&] { return Changes(trusted.Posts()).size() == 5; }))
      << Changes(trusted.Posts()).size();
  const int64_t now = SystemClock().NowUnixMicros() / 1'000'000;
  for (const auto& p : trusted.Posts()) {
    EXPECT_TRUE(deliver::VerifyWebhookSignature(p.signature, secret, p.body, now, 300));
  }
  // The wrong CA: every handshake fails, the webhook retries, nothing is delivered.
  ASSERT_TRUE(WaitUntil([&] { return hooks.webhooks()[1]->Stats().failures >= 3; }));
  EXPECT_GE(untrusted.failed_handshakes.load(), 3);
  EXPECT_TRUE(untrusted.Posts().empty());
  EXPECT_EQ(hooks.webhooks()[1]->Stats().delivered_changes, 0u);
  EXPECT_TRUE(WaitUntil([&] { return hooks.webhooks()[1]->Stats().backlog == 5; }))
      << hooks.webhooks()[1]->Stats().backlog;
  EXPECT_EQ(hooks.webhooks()[0]->Stats().failures, 0u);
  hooks.Stop();
  (*engine)->Stop();

  // The right CA but a name the certificate does not carry: refused by host name verification.
  auto trust = deliver::LoadTlsTrust(certs + "/server.pem", "ca_file");
  ASSERT_TRUE(trust.ok()) << trust.status().ToString();
  auto by_name =
      deliver::ParseHttpUrl(fmt::format("https://localhost:{}/in", trusted.port()), "url");
  ASSERT_TRUE(by_name.ok());
  const size_t posts_before = trusted.Posts().size();
  auto refused = deliver::HttpPost(*by_name, trust->get(), {}, "[]", 5000);
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable) << refused.status().ToString();
  EXPECT_EQ(trusted.Posts().size(), posts_before);
  // And by its IP address it is accepted.
  auto by_ip = deliver::ParseHttpUrl(fmt::format("https://127.0.0.1:{}/in", trusted.port()), "url");
  ASSERT_TRUE(by_ip.ok());
  auto accepted = deliver::HttpPost(*by_ip, trust->get(), {}, "[]", 5000);
  ASSERT_TRUE(accepted.ok()) << accepted.status().ToString();
  EXPECT_EQ(accepted->status, 200);
  EXPECT_EQ(accepted->body, "ok");
}

// GET http://127.0.0.1:<port><path>; the whole response.
std::string HttpGet(int port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return "";
  }
  std::string request =
      fmt::format("GET {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
  (void)!::write(fd, request.data(), request.size());
  std::string out;
  char buf[8192];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

TEST(WebhookTest, ServeStartsConfiguredWebhooksAndResumesAfterARestart) {
  std::string db = NewDatabase();
  Sql(db, "CREATE TABLE s (id int PRIMARY KEY)");
  HookServer hook;
  const std::string data = TempDir();
  const std::string config = data + "/eddy.toml";
  std::ofstream(config) << fmt::format(
      "[[webhooks]]\nname = \"srv\"\nurl = \"http://127.0.0.1:{}/in\"\n"
      "secret = \"0123456789abcdef\"\nbatch_max = 3\nbackoff_min_ms = 20\n"
      "backoff_max_ms = 100\ntables = [\"s\"]\n",
      hook.port());
  auto serve = [&] {
    return std::make_unique<Subprocess>(std::vector<std::string>{
        EDDY_BINARY, "--config", config, "--database", db, "--slot", "serve_hook", "--data-dir",
        data, "--no-fsync", "--open", "--http", "127.0.0.1:0", "serve"});
  };
  auto http_port = [](const Subprocess& p) {
    std::string out = p.Output();
    size_t at = out.find("eddy serving http://127.0.0.1:");
    return at == std::string::npos ? 0 : std::stoi(out.substr(at + 30));
  };
  auto ids = [&] {
    std::multiset<int64_t> out;
    for (const auto& [id, v] : Changes(hook.Posts())) out.insert(id);
    return out;
  };
  {
    auto eddy = serve();
    ASSERT_TRUE(eddy->WaitForOutput("eddy serving", std::chrono::seconds(30))) << eddy->Output();
    ASSERT_TRUE(WaitForActiveSlot(db, "serve_hook")) << eddy->Output();
    Sql(db, "INSERT INTO s SELECT generate_series(1, 5)");
    ASSERT_TRUE(WaitUntil([&] { return ids().size() == 5; })) << eddy->Output();
    std::string metrics;
    ASSERT_TRUE(WaitUntil([&] {
      metrics = HttpGet(http_port(*eddy), "/metrics");
      return metrics.find("eddy_webhook_delivered_changes_total{webhook=\"srv\"} 5") !=
             std::string::npos;
    })) << metrics;
    EXPECT_NE(metrics.find("eddy_webhook_backlog_changes{webhook=\"srv\"} 0"), std::string::npos)
        << metrics;
    eddy->Kill(SIGTERM);
    EXPECT_EQ(eddy->Wait(std::chrono::seconds(30)), 0) << eddy->Output();
  }
  Sql(db, "INSERT INTO s SELECT generate_series(6, 8)");  // kept by the slot while eddy is down
  auto eddy = serve();
  ASSERT_TRUE(WaitUntil([&] { return ids().size() >= 8; })) << eddy->Output();
  std::multiset<int64_t> got = ids();
  for (int64_t id = 1; id <= 8; ++id) EXPECT_EQ(got.count(id), 1u) << "id " << id;
}

TEST(ConsumeCommandTest, ServeRunsConfiguredExecConsumersAndTheyResume) {
  std::string db = NewDatabase();
  Sql(db, "CREATE TABLE c (id int PRIMARY KEY, v text); CREATE TABLE skipped (id int)");
  const std::string data = TempDir();
  const std::string out = data + "/served.jsonl";
  const std::string config = data + "/eddy.toml";
  std::ofstream(config) << fmt::format(
      "[[consumers]]\nname = \"served\"\nexec = \"printf '%s %s\\\\n' \\\"$EDDY_OP\\\" "
      "\\\"$(cat)\\\" >> {}\"\ntables = [\"c\"]\nops = [\"insert\", \"delete\"]\n"
      "lanes = 1\nbackoff_min_ms = 5\nbackoff_max_ms = 20\n",
      out);
  auto serve = [&] {
    return std::make_unique<Subprocess>(std::vector<std::string>{
        EDDY_BINARY, "--config", config, "--database", db, "--slot", "serve_consumer", "--data-dir",
        data, "--no-fsync", "--open", "--http", "127.0.0.1:0", "serve"});
  };
  auto lines = [&] {
    std::ifstream in(out);
    std::vector<std::string> v;
    for (std::string line; std::getline(in, line);) v.push_back(line);
    return v;
  };
  {
    auto eddy = serve();
    ASSERT_TRUE(eddy->WaitForOutput("eddy serving", std::chrono::seconds(30))) << eddy->Output();
    ASSERT_TRUE(WaitForActiveSlot(db, "serve_consumer")) << eddy->Output();
    Sql(db, "INSERT INTO c VALUES (1, 'a'), (2, 'b'); INSERT INTO skipped VALUES (1)");
    Sql(db, "UPDATE c SET v = 'x'");  // not in ops
    Sql(db, "DELETE FROM c WHERE id = 1");
    ASSERT_TRUE(WaitUntil([&] { return lines().size() == 3; })) << eddy->Output();
    eddy->Kill(SIGTERM);
    EXPECT_EQ(eddy->Wait(std::chrono::seconds(30)), 0) << eddy->Output();
  }
  std::vector<std::string> first = lines();
  ASSERT_EQ(first.size(), 3u);
  EXPECT_EQ(first[2].rfind("delete {", 0), 0u) << first[2];
  for (const std::string& line : first) {
    EXPECT_NE(line.find("\"table\":\"c\""), std::string::npos) << line;
  }
  Sql(db, "INSERT INTO c VALUES (3, 'c')");  // kept by the slot while eddy is down
  auto eddy = serve();
  ASSERT_TRUE(WaitUntil([&] { return lines().size() >= 4; })) << eddy->Output();
  std::vector<std::string> all = lines();
  EXPECT_EQ(all.size(), 4u);
  EXPECT_EQ(all.back().rfind("insert {", 0), 0u) << all.back();
  EXPECT_NE(all.back().find("\"v\":\"c\""), std::string::npos) << all.back();
}

// `curl -X <method>` of http://127.0.0.1:<port><path>: the body, then "\n", then the status.
std::string Curl(int port, const std::string& method, const std::string& path) {
  std::string command = fmt::format("curl -s -X {} -w '\\n%{{http_code}}' 'http://127.0.0.1:{}{}'",
                                    method, port, path);
  std::string out;
  if (FILE* pipe = ::popen(command.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
    ::pclose(pipe);
  }
  return out;
}

TEST(ConsumeCommandTest, ServeAdminRoutesListReplayAndDiscardParkedChanges) {
  std::string db = NewDatabase();
  Sql(db, "CREATE TABLE a (id int PRIMARY KEY, v text)");
  const std::string data = TempDir();
  const std::string out = data + "/out.jsonl";
  const std::string fixed = data + "/fixed";
  const std::string script = data + "/on-change.sh";
  // Fails for rows with v = "bad" until the file `fixed` exists.
  std::ofstream(script) << fmt::format(
      "input=$(cat)\ncase \"$input\" in *'\"v\":\"bad\"'*) [ -f {} ] || exit 3;; esac\n"
      "printf '%s\\n' \"$input\" >> {}\n",
      fixed, out);
  const std::string config = data + "/eddy.toml";
  std::ofstream(config) << fmt::format(
      "[[consumers]]\nname = \"fixer\"\nexec = \"sh {}\"\ntables = [\"a\"]\nlanes = 1\n"
      "max_attempts = 2\nbackoff_min_ms = 1\nbackoff_max_ms = 5\n",
      script);
  Subprocess eddy({EDDY_BINARY, "--config", config, "--database", db, "--slot", "serve_admin",
                   "--data-dir", data, "--no-fsync", "--open", "--http", "127.0.0.1:0", "serve"});
  ASSERT_TRUE(eddy.WaitForOutput("eddy serving", std::chrono::seconds(30))) << eddy.Output();
  ASSERT_TRUE(WaitForActiveSlot(db, "serve_admin")) << eddy.Output();
  const std::string output = eddy.Output();
  const size_t at = output.find("eddy serving http://127.0.0.1:");
  ASSERT_NE(at, std::string::npos) << output;
  const int port = std::stoi(output.substr(at + 30));
  auto contents = [&] {
    std::ifstream in(out);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  auto parked = [&] { return Curl(port, "GET", "/v1/consumers/fixer/parked"); };

  Sql(db, "INSERT INTO a VALUES (1, 'ok'), (2, 'bad')");
  ASSERT_TRUE(WaitUntil([&] { return parked().find("\"id\":") != std::string::npos; }))
      << eddy.Output();
  ASSERT_TRUE(WaitUntil([&] { return contents().find("\"v\":\"ok\"") != std::string::npos; }));
  std::string list = parked();
  EXPECT_NE(list.find("\"table\":\"public.a\""), std::string::npos) << list;
  EXPECT_NE(list.find("\"op\":\"insert\""), std::string::npos) << list;
  EXPECT_NE(list.find("\"key\":[\"2\"]"), std::string::npos) << list;
  EXPECT_NE(list.find("\"attempts\":2"), std::string::npos) << list;
  EXPECT_NE(list.find("exited with status 3"), std::string::npos) << list;
  EXPECT_EQ(list.substr(list.size() - 3), "200") << list;
  const uint64_t id = std::stoull(list.substr(list.find("\"id\":") + 5));

  std::string all = Curl(port, "GET", "/v1/consumers");
  EXPECT_NE(all.find("\"name\":\"fixer\""), std::string::npos) << all;
  EXPECT_NE(all.find("\"parked\":1"), std::string::npos) << all;
  EXPECT_NE(all.find("\"acknowledged\":1"), std::string::npos) << all;
  EXPECT_NE(all.find("\"in_flight\":"), std::string::npos) << all;

  // Bad requests: named field, 404 / 405.
  std::string unknown = Curl(port, "GET", "/v1/consumers/nope/parked");
  EXPECT_EQ(unknown.substr(unknown.size() - 3), "404") << unknown;
  EXPECT_NE(unknown.find("\"field\":\"name\""), std::string::npos) << unknown;
  std::string no_id = Curl(port, "POST", "/v1/consumers/fixer/parked/999999/discard");
  EXPECT_EQ(no_id.substr(no_id.size() - 3), "404") << no_id;
  EXPECT_NE(no_id.find("\"field\":\"id\""), std::string::npos) << no_id;
  std::string bad_id = Curl(port, "POST", "/v1/consumers/fixer/parked/x1/replay");
  EXPECT_EQ(bad_id.substr(bad_id.size() - 3), "404") << bad_id;
  std::string wrong_method = Curl(port, "GET", "/v1/consumers/fixer/parked/replay");
  EXPECT_EQ(wrong_method.substr(wrong_method.size() - 3), "405") << wrong_method;
  std::string wrong_list_method = Curl(port, "POST", "/v1/consumers");
  EXPECT_EQ(wrong_list_method.substr(wrong_list_method.size() - 3), "405") << wrong_list_method;

  // Still failing: the replay reports the error and the change stays parked.
  std::string failed = Curl(port, "POST", fmt::format("/v1/consumers/fixer/parked/{}/replay", id));
  EXPECT_NE(failed.find("\"ok\":false"), std::string::npos) << failed;
  EXPECT_NE(failed.find("\"parked\":1"), std::string::npos) << failed;
  // Fixed: the replay delivers it and the parked list is empty.
  std::ofstream(fixed) << "yes";
  std::string replayed =
      Curl(port, "POST", fmt::format("/v1/consumers/fixer/parked/{}/replay", id));
  EXPECT_NE(replayed.find("\"ok\":true"), std::string::npos) << replayed;
  EXPECT_NE(replayed.find("\"parked\":0"), std::string::npos) << replayed;
  EXPECT_NE(contents().find("\"v\":\"bad\""), std::string::npos) << contents();
  EXPECT_EQ(parked(), "[]\n200");

  // Replay all and discard.
  std::filesystem::remove(fixed);
  Sql(db, "INSERT INTO a VALUES (3, 'bad'), (4, 'bad')");
  ASSERT_TRUE(WaitUntil([&] {
    std::string a = Curl(port, "GET", "/v1/consumers");
    return a.find("\"parked\":2") != std::string::npos;
  })) << eddy.Output();
  std::ofstream(fixed) << "yes";
  std::string replay_all = Curl(port, "POST", "/v1/consumers/fixer/parked/replay");
  EXPECT_NE(replay_all.find("\"ok\":true"), std::string::npos) << replay_all;
  EXPECT_EQ(parked(), "[]\n200");
  std::filesystem::remove(fixed);
  Sql(db, "INSERT INTO a VALUES (5, 'bad')");
  ASSERT_TRUE(WaitUntil([&] { return parked().find("\"id\":") != std::string::npos; }));
  list = parked();
  const uint64_t doomed = std::stoull(list.substr(list.find("\"id\":") + 5));
  std::string discarded =
      Curl(port, "POST", fmt::format("/v1/consumers/fixer/parked/{}/discard", doomed));
  EXPECT_NE(discarded.find("\"ok\":true"), std::string::npos) << discarded;
  EXPECT_EQ(parked(), "[]\n200");
  EXPECT_EQ(contents().find("\"id\":5"), std::string::npos) << contents();
  eddy.Kill(SIGTERM);
  EXPECT_EQ(eddy.Wait(std::chrono::seconds(30)), 0) << eddy.Output();
}

TEST(ConsumeCommandTest, ExecRunsPerChangeParksFailuresAndReplays) {
  std::string db = NewDatabase();
  Sql(db, "CREATE TABLE e (id int PRIMARY KEY, v text)");
  const std::string data = TempDir();
  const std::string out = data + "/out.jsonl";
  auto eddy = [&](std::vector<std::string> args) {
    std::vector<std::string> v = {EDDY_BINARY,    "--database", db,   "--slot",
                                  "consume_exec", "--data-dir", data, "--no-fsync"};
    v.insert(v.end(), args.begin(), args.end());
    return v;
  };
  const std::string exec = fmt::format(
      "input=$(cat); case \"$input\" in *'\"v\":\"bad\"'*) exit 3;; esac; "
      "printf '%s\\n' \"$input\" >> {}",
      out);
  {
    Subprocess consumer(eddy({"consume", "--name", "ex", "--exec", exec, "--max-attempts", "2",
                              "--backoff-min-ms", "1", "--backoff-max-ms", "5"}));
    ASSERT_TRUE(WaitForActiveSlot(db, "consume_exec")) << consumer.Output();
    Sql(db, "INSERT INTO e VALUES (1, 'ok1'), (2, 'bad'), (3, 'ok3')");
    Sql(db, "UPDATE e SET v = 'after' WHERE id = 2");
    Sql(db, "UPDATE e SET v = 'ok1b' WHERE id = 1");
    auto lines = [&] {
      std::ifstream in(out);
      std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      return all;
    };
    ASSERT_TRUE(WaitUntil([&] {
      std::string all = lines();
      return all.find("ok1b") != std::string::npos && all.find("ok3") != std::string::npos;
    })) << consumer.Output();
    consumer.Kill(SIGTERM);
    EXPECT_EQ(consumer.Wait(std::chrono::seconds(20)), 0) << consumer.Output();
    EXPECT_EQ(lines().find("after"), std::string::npos);  // parked behind the bad one
  }
  Subprocess list(eddy({"consume", "--name", "ex", "--parked", "list"}));
  ASSERT_EQ(list.Wait(std::chrono::seconds(20)), 0) << list.Output();
  EXPECT_NE(list.Output().find("\"attempts\":2"), std::string::npos) << list.Output();
  EXPECT_NE(list.Output().find("behind parked change"), std::string::npos) << list.Output();
  Subprocess replay(eddy({"consume", "--name", "ex", "--parked", "replay", "--parked-id", "all",
                          "--exec", fmt::format("cat >> {}", out)}));
  ASSERT_EQ(replay.Wait(std::chrono::seconds(20)), 0) << replay.Output();
  std::ifstream in(out);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t bad = all.find("\"v\":\"bad\"");
  size_t after = all.find("\"v\":\"after\"");
  ASSERT_NE(bad, std::string::npos) << all;
  ASSERT_NE(after, std::string::npos) << all;
  EXPECT_LT(bad, after);
  Subprocess empty(eddy({"consume", "--name", "ex", "--parked", "list"}));
  ASSERT_EQ(empty.Wait(std::chrono::seconds(20)), 0);
  EXPECT_EQ(empty.Output().find("\"id\""), std::string::npos) << empty.Output();
  Subprocess bad_flag(eddy({"consume", "--name", "ex", "--parked", "explode"}));
  EXPECT_EQ(bad_flag.Wait(std::chrono::seconds(20)), 2);
  EXPECT_NE(bad_flag.Output().find("--parked"), std::string::npos) << bad_flag.Output();
}

TEST(JetStreamConsumerTest, DeliversFromADurableConsumerInOrderAndResumes) {
  // A nats-server with JetStream on a free port; the Watcher's NATS sink publishes to it.
  const int port = FreeLoopbackPort();
  ASSERT_NE(port, 0);
  Subprocess nats({"/usr/sbin/nats-server", "-js", "-a", "127.0.0.1", "-p", std::to_string(port),
                   "-sd", TempDir()});
  ASSERT_TRUE(nats.WaitForOutput("Server is ready", std::chrono::seconds(20))) << nats.Output();
  const std::string url = fmt::format("nats://127.0.0.1:{}", port);
  std::string db = NewDatabase();
  Sql(db, "CREATE TABLE j (id int PRIMARY KEY, v text); CREATE TABLE skipped (id int)");
  WatcherOptions wo = OptionsFor(db);
  wo.nats.url = url;
  wo.nats.publish = true;
  auto watcher = StartWatcher(wo);
  Sql(db, "INSERT INTO j SELECT g, 'a' FROM generate_series(1, 5) g");
  Sql(db, "INSERT INTO skipped VALUES (1)");
  Sql(db, "UPDATE j SET v = 'b' WHERE id = 1");

  Log log;
  ConsumerHandlers h;
  h.on_change = [&](const Change& c) {
    Row n(&c, &c.new_row);
    log.Add(*n["id"].AsInt64(), *n["v"].AsString());
    return Status::Ok();
  };
  ConsumerOptions co = ConsumerFor(wo, "js");
  co.data_dir = TempDir();  // a consumer elsewhere: only the stream is shared
  co.tables = {"j"};
  nats::FeedOptions fo;
  fo.url = url;
  fo.durable = "consumer-js";
  {
    auto consumer = deliver::OpenJetStreamConsumer(fo, co, h);
    ASSERT_TRUE(consumer.ok()) << consumer.status().ToString();
    ASSERT_TRUE(WaitUntil([&] { return log.Total() == 6; })) << log.Total();
    EXPECT_EQ(log.Of(1), (std::vector<std::string>{"a", "b"}));
  }
  Sql(db, "INSERT INTO j VALUES (6, 'f')");
  auto consumer = deliver::OpenJetStreamConsumer(fo, co, h);
  ASSERT_TRUE(consumer.ok()) << consumer.status().ToString();
  ASSERT_TRUE(WaitUntil([&] { return log.Of(6).size() == 1; }));
  EXPECT_EQ(log.Of(1).size(), 2u);  // acknowledged items are not delivered again
  EXPECT_EQ(log.Total(), 7u);
}

}  // namespace
}  // namespace eddy::testing
