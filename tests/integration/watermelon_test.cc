// The WatermelonDB face against a real PostgreSQL, driven with plain HTTP requests (the real
// @nozbe/watermelondb client is tested under tests/node): the watermark, writes from other SQL
// writers, tombstones, the slow-transaction hole of the seed design, conflicts, idempotent
// retries and rejected ids, JWT scopes, migration syncs, paging and gzip.

#include <cctype>
#include <chrono>
#include <optional>
#include <set>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <unistd.h>

#include "adapters/watermelon/gzip.h"
#include "auth/base64url.h"
#include "harness.h"
#include "server/service.h"

namespace eddy::testing {
namespace {

struct HttpReply {
  int status = 0;
  std::string headers;
  std::string body;      // de-chunked
  bool chunked = false;  // sent with Transfer-Encoding: chunked
  bool complete = true;  // false: a chunked body without its last chunk
};

// The data of a chunked body; nullopt when it does not end with the last chunk.
std::optional<std::string> Dechunk(std::string_view raw) {
  std::string out;
  for (;;) {
    const size_t line_end = raw.find("\r\n");
    if (line_end == std::string_view::npos) return std::nullopt;
    const size_t size = std::stoul(std::string(raw.substr(0, line_end)), nullptr, 16);
    raw.remove_prefix(line_end + 2);
    if (size == 0) return out;
    if (raw.size() < size + 2) return std::nullopt;
    out.append(raw.substr(0, size));
    raw.remove_prefix(size + 2);
  }
}

// A socket connected to 127.0.0.1:`port` (-1 on failure), with a receive buffer of
// `receive_buffer` bytes when > 0 (a client that reads slowly).
int ConnectLoopback(uint16_t port, int receive_buffer = 0) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (receive_buffer > 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof(receive_buffer));
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// A GET whose answer is read as it arrives (server-sent events).
class StreamReader {
 public:
  StreamReader(uint16_t port, const std::string& target, const std::string& headers = "")
      : fd_(ConnectLoopback(port)) {
    const std::string request =
        "GET " + target + " HTTP/1.1\r\nHost: localhost\r\n" + headers + "\r\n";
    if (fd_ >= 0) (void)send(fd_, request.data(), request.size(), 0);
  }
  ~StreamReader() {
    if (fd_ >= 0) close(fd_);
  }
  // Reads until `needle` has appeared `count` times in all bytes read; false after `timeout`.
  bool WaitFor(const std::string& needle, int count = 1,
               std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (Count(needle) < count) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || fd_ < 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buffer[4096];
      const ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
      if (n <= 0) return Count(needle) >= count;
      raw_.append(buffer, static_cast<size_t>(n));
    }
    return true;
  }
  int Count(const std::string& needle) const {
    int n = 0;
    for (size_t at = raw_.find(needle); at != std::string::npos; at = raw_.find(needle, at + 1)) {
      ++n;
    }
    return n;
  }
  const std::string& raw() const { return raw_; }

 private:
  int fd_;
  std::string raw_;
};

// One HTTP/1.1 request with Connection: close; the whole answer.
HttpReply Http(uint16_t port, const std::string& method, const std::string& target,
               const std::string& body = "", const std::string& extra_headers = "") {
  HttpReply reply;
  const int fd = ConnectLoopback(port);
  if (fd < 0) return reply;
  std::string request = method + " " + target + " HTTP/1.1\r\nHost: localhost\r\n" +
                        "Connection: close\r\nContent-Type: application/json\r\n" + extra_headers +
                        "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = send(fd, request.data() + sent, request.size() - sent, 0);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string raw;
  char buffer[65536];
  while (true) {
    ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    raw.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos || raw.size() < 12) return reply;
  reply.status = std::stoi(raw.substr(9, 3));
  reply.headers = raw.substr(0, head_end);
  reply.body = raw.substr(head_end + 4);
  if (reply.headers.find("Transfer-Encoding: chunked") != std::string::npos) {
    reply.chunked = true;
    std::optional<std::string> data = Dechunk(reply.body);
    reply.complete = data.has_value();
    reply.body = data.value_or("");
  }
  return reply;
}

// Percent-encodes a query parameter value.
std::string UrlEncode(std::string_view value) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// The ids of changes.<table>.<kind> in a pull answer ("created", "updated" or "deleted").
std::set<std::string> IdsOf(const std::string& body, const std::string& table,
                            const std::string& kind) {
  std::set<std::string> ids;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(body).get(doc) != simdjson::SUCCESS) return ids;
  simdjson::dom::array list;
  if (doc["changes"][table][kind].get_array().get(list) != simdjson::SUCCESS) return ids;
  for (simdjson::dom::element e : list) {
    std::string_view id;
    if (kind == "deleted" ? e.get_string().get(id) : e["id"].get_string().get(id)) continue;
    ids.insert(std::string(id));
  }
  return ids;
}

const std::string kJwtSecret = "an-hs256-secret-of-at-least-32-bytes!!";

// "Authorization: Bearer <HS256 JWT with sub = `sub`>\r\n".
std::string BearerFor(const std::string& sub) {
  const int64_t exp = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count() +
                      3600;
  const std::string input =
      auth::Base64UrlEncode(R"({"alg":"HS256","typ":"JWT"})") + "." +
      auth::Base64UrlEncode(R"({"sub":")" + sub + R"(","exp":)" + std::to_string(exp) + "}");
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), kJwtSecret.data(), static_cast<int>(kJwtSecret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  return "Authorization: Bearer " + input + "." +
         auth::Base64UrlEncode(std::string(reinterpret_cast<const char*>(mac), len)) + "\r\n";
}

// Every test runs twice: with answers sent whole, and with every pull over 1 KiB streamed as it
// is read (watermelon.stream_after_kb = 1), chunked and gzipped on the fly.
class WatermelonTest : public ::testing::TestWithParam<bool> {
 protected:
  bool streamed() const { return GetParam(); }

  // Lets a fixture change the configuration (tables, auth) before the service is created.
  virtual void Configure(server::Config&) {}

  void SetUp() override {
    db_ = NewDatabase();
    Sql(db_,
        "CREATE TABLE songs (id text PRIMARY KEY, title text NOT NULL DEFAULT '', plays int "
        "NOT NULL DEFAULT 0 CHECK (plays >= 0), meta jsonb, added_at timestamptz, owner text)");
    server::Config config;
    config.watcher = OptionsFor(db_);
    config.http.port = 0;
    config.auth.mode = "open";
    config.shapes.enabled = false;
    watermelon::WatermelonTableConfig songs;
    songs.table = "songs";
    songs.columns = {"title", "plays", "meta", "added_at"};
    songs.rename = {{"added_at", "created_at"}};
    config.watermelon.tables.push_back(songs);
    config.watermelon.pull_wait_ms = 5000;
    config.watermelon.stream_after_kb = streamed() ? 1 : 1024;
    Configure(config);
    auto service = server::Service::Create(config);
    ASSERT_TRUE(service.ok()) << service.status().ToString();
    service_ = std::move(service).value();
    Status started = service_->Start();
    ASSERT_TRUE(started.ok()) << started.ToString();
    ASSERT_TRUE(service_->engine().WaitUntilStreaming(30000));
    port_ = service_->http_port();
  }
  void TearDown() override {
    if (service_) service_->Stop();
    DropSlots(db_);
  }

  struct Pulled {
    int status = 0;
    int64_t timestamp = 0;
    bool has_more = false;
    std::set<std::string> created, updated, deleted;
    std::string body;
  };
  // `query` replaces "&schema_version=1&migration=null"; `headers` are extra header lines.
  Pulled Pull(const std::string& last, const std::string& client = "",
              const std::string& headers = "",
              const std::string& query = "&schema_version=1&migration=null") {
    Pulled p;
    HttpReply r = Http(port_, "GET", "/v1/watermelon/pull?last_pulled_at=" + last + query, "",
                       (client.empty() ? "" : "X-Client-Id: " + client + "\r\n") + headers);
    p.status = r.status;
    p.body = r.body;
    if (r.status != 200) return p;
    EXPECT_TRUE(r.complete) << "a streamed pull ended early";
    if (!streamed() || r.body.size() < 1024) {
      EXPECT_FALSE(r.chunked) << "answered whole: " << r.headers;
    } else if (r.body.size() > 2048) {
      EXPECT_TRUE(r.chunked) << "streamed: " << r.headers;
    }
    simdjson::dom::parser parser;
    simdjson::dom::element doc = parser.parse(r.body);
    p.timestamp = doc["timestamp"].get_int64();
    bool more = false;
    if (doc["hasMore"].get_bool().get(more) == simdjson::SUCCESS) p.has_more = more;
    simdjson::dom::element songs = doc["changes"]["songs"];
    for (simdjson::dom::element e : songs["created"].get_array()) {
      p.created.insert(std::string(e["id"].get_string().value()));
    }
    for (simdjson::dom::element e : songs["updated"].get_array()) {
      p.updated.insert(std::string(e["id"].get_string().value()));
    }
    for (simdjson::dom::element e : songs["deleted"].get_array()) {
      p.deleted.insert(std::string(e.get_string().value()));
    }
    return p;
  }
  HttpReply Push(int64_t last, const std::string& body, const std::string& client = "",
                 const std::string& headers = "") {
    return Http(port_, "POST", "/v1/watermelon/push?last_pulled_at=" + std::to_string(last), body,
                (client.empty() ? "" : "X-Client-Id: " + client + "\r\n") + headers);
  }

  std::string db_;
  std::unique_ptr<server::Service> service_;
  uint16_t port_ = 0;
};

TEST_P(WatermelonTest, EmptyDatabaseGivesAPositiveTimestampAndEveryArray) {
  Pulled p = Pull("null");
  ASSERT_EQ(p.status, 200) << p.body;
  EXPECT_GT(p.timestamp, 0);
  EXPECT_LE(p.timestamp, 9007199254740991);
  EXPECT_NE(p.body.find("\"songs\":{\"created\":[],\"updated\":[],\"deleted\":[]}"),
            std::string::npos)
      << p.body;
  // 0, "", and a missing parameter are first syncs too.
  EXPECT_EQ(Pull("0").status, 200);
  EXPECT_EQ(Pull("").status, 200);
  EXPECT_EQ(Pull("abc").status, 400);
}

TEST_P(WatermelonTest, WritesFromPsqlReachPullAndHardDeletesBecomeTombstones) {
  Sql(db_,
      "INSERT INTO songs (id, title, plays, meta, added_at) VALUES ('s1', 'one', 3, "
      "'{\"a\":1}', '2024-01-02 03:04:05.678+00')");
  Pulled first = Pull("null");
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.created, (std::set<std::string>{"s1"})) << first.body;
  EXPECT_NE(first.body.find("\"created_at\":1704164645678"), std::string::npos) << first.body;
  EXPECT_NE(first.body.find("\"meta\":\"{\\\"a\\\": 1}\""), std::string::npos) << first.body;
  EXPECT_NE(first.body.find("\"plays\":3"), std::string::npos) << first.body;

  Sql(db_,
      "INSERT INTO songs (id, title) VALUES ('s2', 'two'); UPDATE songs SET plays = 4 "
      "WHERE id = 's1'");
  Pulled second = Pull(std::to_string(first.timestamp));
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_GE(second.timestamp, first.timestamp);
  // Without a client id, anything after the first sync is "updated" (spec 1.3 rule b).
  EXPECT_EQ(second.updated, (std::set<std::string>{"s1", "s2"})) << second.body;
  EXPECT_TRUE(second.created.empty());

  Sql(db_, "DELETE FROM songs WHERE id = 's1'");
  Pulled third = Pull(std::to_string(second.timestamp));
  ASSERT_EQ(third.status, 200) << third.body;
  EXPECT_EQ(third.deleted, (std::set<std::string>{"s1"})) << third.body;
  EXPECT_TRUE(third.updated.empty()) << third.body;

  // Nothing new: same watermark or later, nothing sent.
  Pulled fourth = Pull(std::to_string(third.timestamp));
  EXPECT_TRUE(fourth.created.empty() && fourth.updated.empty() && fourth.deleted.empty())
      << fourth.body;
}

TEST_P(WatermelonTest, ARowCommittedLateByASlowTransactionIsNotLost) {
  auto slow = pg::Connection::Connect(db_);
  ASSERT_TRUE(slow.ok());
  ASSERT_TRUE((*slow)->Exec("BEGIN; INSERT INTO songs (id, title) VALUES ('slow', 'x')").ok());
  Sql(db_, "INSERT INTO songs (id, title) VALUES ('fast', 'y')");
  Pulled first = Pull("null");
  ASSERT_EQ(first.status, 200);
  EXPECT_EQ(first.created, (std::set<std::string>{"fast"})) << first.body;
  ASSERT_TRUE((*slow)->Exec("COMMIT").ok());
  Pulled second = Pull(std::to_string(first.timestamp));
  EXPECT_TRUE(second.updated.count("slow")) << second.body;
}

TEST_P(WatermelonTest, PushConflictsRetriesAndTheClientsOwnRows) {
  Pulled start = Pull("null", "deviceA");
  ASSERT_EQ(start.status, 200);
  const std::string body =
      R"({"songs":{"created":[{"id":"r1","title":"mine","plays":1,"meta":"{\"k\":[1,2]}",)"
      R"("created_at":1704164645678,"_status":"created","_changed":""}],"updated":[],)"
      R"("deleted":["never-existed"]},"unknown_table":{"created":[],"updated":[],"deleted":[]}})";
  HttpReply pushed = Push(start.timestamp, body, "deviceA");
  ASSERT_EQ(pushed.status, 200) << pushed.body;
  EXPECT_EQ(pushed.body, "{}");
  EXPECT_EQ(Query(db_,
                  "SELECT title || plays || (meta->'k'->>1) || extract(epoch from "
                  "added_at)::text FROM songs WHERE id = 'r1'"),
            "mine12" + std::string("1704164645.678000"));
  // The same push again (a lost answer): not a conflict, same result.
  HttpReply again = Push(start.timestamp, body, "deviceA");
  EXPECT_EQ(again.status, 200) << again.body;

  // Its own row comes back as updated to it, created to another device.
  Pulled mine = Pull(std::to_string(start.timestamp), "deviceA");
  EXPECT_TRUE(mine.updated.count("r1")) << mine.body;
  Pulled other = Pull(std::to_string(start.timestamp), "deviceB");
  EXPECT_TRUE(other.created.count("r1")) << other.body;

  // Another writer changes it: a push based on the older pull is a conflict.
  Sql(db_, "UPDATE songs SET title = 'theirs' WHERE id = 'r1'");
  HttpReply conflict = Push(
      mine.timestamp,
      R"({"changes":{"songs":{"created":[],"updated":[{"id":"r1","title":"late"}],"deleted":[]}}})",
      "deviceA");
  EXPECT_EQ(conflict.status, 409) << conflict.body;
  EXPECT_NE(conflict.body.find(R"("error":"conflict","table":"songs","id":"r1")"),
            std::string::npos)
      << conflict.body;
  EXPECT_EQ(Query(db_, "SELECT title FROM songs WHERE id = 'r1'"), "theirs");
  // After pulling again, the same update goes through.
  Pulled fresh = Pull(std::to_string(mine.timestamp), "deviceA");
  HttpReply ok = Push(
      fresh.timestamp,
      R"({"changes":{"songs":{"created":[],"updated":[{"id":"r1","title":"late"}],"deleted":[]}},"lastPulledAt":)" +
          std::to_string(fresh.timestamp) + "}",
      "deviceA");
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(Query(db_, "SELECT title FROM songs WHERE id = 'r1'"), "late");
}

TEST_P(WatermelonTest, RecordsPostgresRefusesAreRejectedAndTheRestCommits) {
  Pulled start = Pull("null");
  HttpReply r = Push(start.timestamp,
                     R"({"songs":{"created":[{"id":"good","title":"ok","plays":2},)"
                     R"({"id":"negative","title":"bad","plays":-1},{"id":"typed","plays":"many"},)"
                     R"({"id":"bad/id","title":"x"}],"updated":[],"deleted":[]}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("experimentalRejectedIds"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"negative\""), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"typed\""), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"bad/id\""), std::string::npos) << r.body;
  EXPECT_EQ(Query(db_, "SELECT string_agg(id, ',' ORDER BY id) FROM songs"), "good");
  // Malformed bodies are 400s naming the field.
  HttpReply bad = Push(start.timestamp, R"({"songs":{"created":[{"title":"no id"}]}})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("songs.created[0].id"), std::string::npos) << bad.body;
  HttpReply no_last = Http(port_, "POST", "/v1/watermelon/push", "{}");
  EXPECT_EQ(no_last.status, 400) << no_last.body;
}

TEST_P(WatermelonTest, BatchedPushKeepsRecordOrderAndRejectsOnlyTheBadRecords) {
  Pulled start = Pull("null", "batcher");
  // Different column sets, an id twice (the later record wins) and one record PostgreSQL refuses
  // inside an otherwise good batch.
  HttpReply r = Push(start.timestamp,
                     R"({"songs":{"created":[{"id":"x1","title":"a"},{"id":"x2","title":"b"},)"
                     R"({"id":"x3","title":"c","plays":2},{"id":"x1","title":"a2"}],)"
                     R"("updated":[{"id":"y1","plays":1},{"id":"y2","plays":-5},)"
                     R"({"id":"y3","plays":3}],"deleted":[]}})",
                     "batcher");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find(R"("experimentalRejectedIds":{"songs":["y2"]})"), std::string::npos)
      << r.body;
  EXPECT_EQ(Query(db_,
                  "SELECT string_agg(id || ':' || title || ':' || plays, ',' ORDER BY id) "
                  "FROM songs"),
            "x1:a2:0,x2:b:0,x3:c:2,y1::1,y3::3");
}

TEST_P(WatermelonTest, PushedDeletesBecomeTombstonesForOtherDevices) {
  Sql(db_, "INSERT INTO songs (id, title) VALUES ('d1', 'x'), ('d2', 'y')");
  Pulled a = Pull("null", "deviceA");
  Pulled b = Pull("null", "deviceB");
  ASSERT_EQ(a.created.size(), 2u);
  HttpReply del =
      Push(a.timestamp, R"({"songs":{"created":[],"updated":[],"deleted":["d1"]}})", "deviceA");
  ASSERT_EQ(del.status, 200) << del.body;
  Pulled b2 = Pull(std::to_string(b.timestamp), "deviceB");
  EXPECT_EQ(b2.deleted, (std::set<std::string>{"d1"})) << b2.body;
  // A pull from a timestamp ahead of the watermark is a replacement sync.
  HttpReply ahead = Http(port_, "GET", "/v1/watermelon/pull?last_pulled_at=9007199254740991");
  EXPECT_EQ(ahead.status, 200);
  EXPECT_NE(ahead.body.find("\"experimentalStrategy\":\"replacement\""), std::string::npos)
      << ahead.body;
  // gzip when asked.
  HttpReply zipped = Http(port_, "GET", "/v1/watermelon/pull?last_pulled_at=null", "",
                          "Accept-Encoding: gzip\r\n");
  EXPECT_EQ(zipped.status, 200);
}

// A row a client pushed and someone else deleted before that client's next pull: the client
// holds it, so the pull must carry its tombstone although it was created after last_pulled_at
// (found by the soak: the row stayed on the client forever).
TEST_P(WatermelonTest, AClientsOwnRowDeletedBeforeItsNextPullIsDeletedThere) {
  Pulled first = Pull("null", "maker");
  ASSERT_EQ(first.status, 200) << first.body;
  HttpReply pushed = Push(
      first.timestamp,
      R"({"songs":{"created":[{"id":"mine","title":"t"}],"updated":[],"deleted":[]}})", "maker");
  ASSERT_EQ(pushed.status, 200) << pushed.body;
  Sql(db_, "DELETE FROM songs WHERE id = 'mine'");
  Pulled maker = Pull(std::to_string(first.timestamp), "maker");
  ASSERT_EQ(maker.status, 200) << maker.body;
  EXPECT_EQ(maker.deleted, (std::set<std::string>{"mine"})) << maker.body;
  // Another device never had it: no tombstone for it. Without a client id eddy cannot tell,
  // and sends it (an unknown id in deleted is ignored by the client).
  Pulled other = Pull(std::to_string(first.timestamp), "other");
  EXPECT_TRUE(other.deleted.empty()) << other.body;
  Pulled anonymous = Pull(std::to_string(first.timestamp));
  EXPECT_EQ(anonymous.deleted, (std::set<std::string>{"mine"})) << anonymous.body;
}

// Live nudges: a subscriber of /v1/watermelon/changes hears "changed" after a commit to a synced
// table (whoever wrote it), at most once per debounce period, and then pulls the change.
TEST_P(WatermelonTest, LiveNudgesTellSubscribersToPull) {
  Pulled first = Pull("null", "nudged");
  ASSERT_EQ(first.status, 200) << first.body;
  StreamReader changes(port_,
                       "/v1/watermelon/changes?last_pulled_at=" + std::to_string(first.timestamp));
  ASSERT_TRUE(changes.WaitFor("event: ready")) << changes.raw();
  EXPECT_NE(changes.raw().find("Content-Type: text/event-stream"), std::string::npos);
  EXPECT_FALSE(changes.WaitFor("event: changed", 1, std::chrono::milliseconds(400)))
      << "nothing changed since its pull: " << changes.raw();
  Sql(db_, "INSERT INTO songs (id, title) VALUES ('n1', 'nudge')");
  ASSERT_TRUE(changes.WaitFor("event: changed")) << changes.raw();
  Pulled after = Pull(std::to_string(first.timestamp), "nudged");
  EXPECT_TRUE(after.created.count("n1") || after.updated.count("n1")) << after.body;
  // Many commits in a burst: a few nudges, not one per commit (250 ms debounce).
  for (int i = 0; i < 30; ++i) {
    Sql(db_, "INSERT INTO songs (id, title) VALUES ('burst" + std::to_string(i) + "', 'x')");
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  changes.WaitFor("never", 1, std::chrono::milliseconds(10));
  const int nudges = changes.Count("event: changed");
  EXPECT_GE(nudges, 2);
  EXPECT_LE(nudges, 1 + 10) << changes.raw();
  // A subscriber whose last pull is older than the last change hears "changed" at once.
  StreamReader late(port_,
                    "/v1/watermelon/changes?last_pulled_at=" + std::to_string(first.timestamp));
  EXPECT_TRUE(late.WaitFor("event: changed", 1, std::chrono::seconds(3))) << late.raw();
  // Bad input: a clear 400.
  HttpReply bad = Http(port_, "GET", "/v1/watermelon/changes?last_pulled_at=abc");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("last_pulled_at"), std::string::npos) << bad.body;
}

// A face that the owner column scopes by the token's "sub".
class WatermelonScopeTest : public WatermelonTest {
 protected:
  void Configure(server::Config& config) override {
    config.auth.mode = "jwt";
    config.auth.hs256_secret = kJwtSecret;
    config.watermelon.tables[0].scope_column = "owner";
    config.watermelon.tables[0].scope_claim = "sub";
  }
};

TEST_P(WatermelonScopeTest, UsersPullOnlyTheirRowsAndRowsMoveInAndOutOfScope) {
  const std::string alice = BearerFor("alice");
  const std::string bob = BearerFor("bob");
  Sql(db_,
      "INSERT INTO songs (id, title, owner) VALUES ('a1', 'x', 'alice'), ('a2', 'y', 'alice'), "
      "('b1', 'z', 'bob')");
  EXPECT_EQ(Pull("null").status, 401);
  EXPECT_EQ(Pull("null", "", "Authorization: Bearer not.a.token\r\n").status, 401);
  Pulled a = Pull("null", "deviceA", alice);
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.created, (std::set<std::string>{"a1", "a2"})) << a.body;
  Pulled b = Pull("null", "deviceB", bob);
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_EQ(b.created, (std::set<std::string>{"b1"})) << b.body;

  // a2 changes owner: it leaves alice's scope as deleted and enters bob's as created.
  Sql(db_, "UPDATE songs SET owner = 'bob' WHERE id = 'a2'");
  Pulled a2 = Pull(std::to_string(a.timestamp), "deviceA", alice);
  ASSERT_EQ(a2.status, 200) << a2.body;
  EXPECT_EQ(a2.deleted, (std::set<std::string>{"a2"})) << a2.body;
  EXPECT_TRUE(a2.created.empty() && a2.updated.empty()) << a2.body;
  Pulled b2 = Pull(std::to_string(b.timestamp), "deviceB", bob);
  ASSERT_EQ(b2.status, 200) << b2.body;
  EXPECT_EQ(b2.created, (std::set<std::string>{"a2"})) << b2.body;
  EXPECT_TRUE(b2.deleted.empty()) << b2.body;

  // Alice pushes: an update of bob's row is rejected, her new row is written with her as owner
  // (an owner in the record is ignored), her own row is updated.
  HttpReply pushed = Push(
      a2.timestamp,
      R"({"songs":{"created":[{"id":"a3","title":"new","owner":"bob"}],)"
      R"("updated":[{"id":"b1","title":"stolen"},{"id":"a1","title":"mine"}],"deleted":["a2"]}})",
      "deviceA", alice);
  ASSERT_EQ(pushed.status, 200) << pushed.body;
  EXPECT_NE(pushed.body.find(R"("experimentalRejectedIds":{"songs":["a2","b1"]})"),
            std::string::npos)
      << pushed.body;
  EXPECT_EQ(Query(db_,
                  "SELECT string_agg(id || '=' || owner || ':' || title, ',' ORDER BY id) "
                  "FROM songs"),
            "a1=alice:mine,a2=bob:y,a3=alice:new,b1=bob:z");
  // Alice's new row never reaches bob.
  Pulled b3 = Pull(std::to_string(b2.timestamp), "deviceB", bob);
  EXPECT_FALSE(b3.created.count("a3") || b3.updated.count("a3")) << b3.body;
}

// A nudge goes to the scopes a change touched: the row's owner now, and the owner it left.
TEST_P(WatermelonScopeTest, NudgesGoOnlyToTheScopesAChangeTouches) {
  Sql(db_, "INSERT INTO songs (id, title, owner) VALUES ('a1', 'x', 'alice')");
  Pulled a = Pull("null", "deviceA", BearerFor("alice"));
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(Http(port_, "GET", "/v1/watermelon/changes").status, 401);
  StreamReader alice(port_, "/v1/watermelon/changes", BearerFor("alice"));
  StreamReader bob(port_, "/v1/watermelon/changes", BearerFor("bob"));
  ASSERT_TRUE(alice.WaitFor("event: ready")) << alice.raw();
  ASSERT_TRUE(bob.WaitFor("event: ready")) << bob.raw();
  Sql(db_, "INSERT INTO songs (id, title, owner) VALUES ('b1', 'y', 'bob')");
  EXPECT_TRUE(bob.WaitFor("event: changed")) << bob.raw();
  EXPECT_FALSE(alice.WaitFor("event: changed", 1, std::chrono::milliseconds(600)))
      << "bob's row is none of alice's business: " << alice.raw();
  // a1 moves from alice to bob: both hear of it.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // past bob's debounce
  Sql(db_, "UPDATE songs SET owner = 'bob' WHERE id = 'a1'");
  EXPECT_TRUE(alice.WaitFor("event: changed")) << alice.raw();
  EXPECT_TRUE(bob.WaitFor("event: changed", 2)) << bob.raw();
  // bob deletes it: bob hears, alice does not.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Sql(db_, "DELETE FROM songs WHERE id = 'a1'");
  EXPECT_TRUE(bob.WaitFor("event: changed", 3)) << bob.raw();
  EXPECT_FALSE(alice.WaitFor("event: changed", 2, std::chrono::milliseconds(600))) << alice.raw();
  // EventSource sends no headers: the token may come as ?token=.
  std::string token = BearerFor("alice");
  token = token.substr(std::string("Authorization: Bearer ").size());
  token.resize(token.size() - 2);  // "\r\n"
  StreamReader by_query(port_, "/v1/watermelon/changes?token=" + token);
  EXPECT_TRUE(by_query.WaitFor("event: ready")) << by_query.raw();
}

// A second table, for migration syncs.
class WatermelonMigrationTest : public WatermelonTest {
 protected:
  void Configure(server::Config& config) override {
    Sql(db_, "CREATE TABLE albums (id text PRIMARY KEY, name text NOT NULL DEFAULT '')");
    watermelon::WatermelonTableConfig albums;
    albums.table = "albums";
    config.watermelon.tables.push_back(albums);
  }
};

TEST_P(WatermelonMigrationTest, MigrationSyncBackfillsANewTableAndANewColumn) {
  Sql(db_, "INSERT INTO albums VALUES ('al1', 'one'), ('al2', 'two')");
  Sql(db_, "INSERT INTO songs (id, title, plays) VALUES ('m1', 'x', 5), ('m2', 'y', 0)");
  Pulled first = Pull("null", "dev");
  ASSERT_EQ(first.status, 200) << first.body;
  const std::string since = std::to_string(first.timestamp);
  Pulled plain = Pull(since, "dev");
  ASSERT_EQ(plain.status, 200) << plain.body;
  EXPECT_TRUE(IdsOf(plain.body, "albums", "created").empty()) << plain.body;
  EXPECT_TRUE(IdsOf(plain.body, "songs", "updated").empty()) << plain.body;

  // The client's schema went from 1 to 2, adding the albums table and songs.plays.
  const std::string migration =
      R"({"from":1,"tables":["albums"],"columns":[{"table":"songs","columns":["plays"]}]})";
  Pulled migrated = Pull(since, "dev", "", "&schema_version=2&migration=" + UrlEncode(migration));
  ASSERT_EQ(migrated.status, 200) << migrated.body;
  EXPECT_EQ(IdsOf(migrated.body, "albums", "created"), (std::set<std::string>{"al1", "al2"}))
      << migrated.body;
  // Only rows whose new column holds something other than its default are sent.
  EXPECT_EQ(IdsOf(migrated.body, "songs", "updated"), (std::set<std::string>{"m1"}))
      << migrated.body;
  EXPECT_NE(migrated.body.find(R"("plays":5)"), std::string::npos) << migrated.body;
  EXPECT_GE(migrated.timestamp, first.timestamp);
  // Unknown names are ignored; a malformed migration is a 400 naming the parameter.
  Pulled unknown = Pull(
      since, "dev", "",
      "&schema_version=2&migration=" + UrlEncode(R"({"from":1,"tables":["nope"],"columns":[]})"));
  EXPECT_EQ(unknown.status, 200) << unknown.body;
  Pulled bad = Pull(since, "dev", "", "&schema_version=2&migration=" + UrlEncode("{\"from\":"));
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_NE(bad.body.find("migration"), std::string::npos) << bad.body;
}

TEST_P(WatermelonTest, PagesCoverEveryChangeOnceInCommitOrder) {
  Pulled start = Pull("null", "pager");
  ASSERT_EQ(start.status, 200);
  std::set<std::string> written;
  for (int i = 0; i < 25; ++i) {
    Sql(db_, "INSERT INTO songs (id, title) VALUES ('p" + std::to_string(i) + "', 't')");
    written.insert("p" + std::to_string(i));
  }
  // One transaction larger than a page is never split.
  Sql(db_, "INSERT INTO songs (id, title) SELECT 'big' || g, 't' FROM generate_series(1, 12) g");
  for (int i = 1; i <= 12; ++i) written.insert("big" + std::to_string(i));

  std::multiset<std::string> received;
  int64_t last = start.timestamp;
  int pages = 0;
  bool big_seen = false;
  while (true) {
    Pulled page =
        Pull(std::to_string(last), "pager", "", "&schema_version=1&migration=null&page_size=10");
    ASSERT_EQ(page.status, 200) << page.body;
    ASSERT_LT(++pages, 20) << "paging does not end";
    EXPECT_GT(page.timestamp, last) << page.body;
    size_t bigs = 0;
    for (const std::string& id : page.created) {
      received.insert(id);
      if (id.starts_with("big")) ++bigs;
    }
    EXPECT_TRUE(page.updated.empty()) << page.body;
    EXPECT_TRUE(bigs == 0 || bigs == 12) << "a transaction was split: " << page.body;
    big_seen = big_seen || bigs == 12;
    last = page.timestamp;
    if (!page.has_more) break;
  }
  EXPECT_GE(pages, 3);
  EXPECT_TRUE(big_seen);
  EXPECT_EQ(received.size(), written.size());
  EXPECT_EQ(std::set<std::string>(received.begin(), received.end()), written);
  // Nothing left after the last page.
  Pulled after =
      Pull(std::to_string(last), "pager", "", "&schema_version=1&migration=null&page_size=10");
  EXPECT_TRUE(after.created.empty() && after.updated.empty() && !after.has_more) << after.body;
  EXPECT_EQ(Pull(std::to_string(last), "", "", "&page_size=0").status, 400);
}

TEST_P(WatermelonTest, GzipWhenAskedDecompressesToTheSameJson) {
  Sql(db_,
      "INSERT INTO songs (id, title, meta) SELECT 'g' || g, repeat('title ', 10), "
      "jsonb_build_object('n', g) FROM generate_series(1, 200) g");
  HttpReply zipped = Http(port_, "GET", "/v1/watermelon/pull?last_pulled_at=null", "",
                          "Accept-Encoding: gzip, deflate\r\n");
  ASSERT_EQ(zipped.status, 200);
  EXPECT_NE(zipped.headers.find("Content-Encoding: gzip"), std::string::npos) << zipped.headers;
  HttpReply plain = Http(port_, "GET", "/v1/watermelon/pull?last_pulled_at=null");
  ASSERT_EQ(plain.status, 200);
  EXPECT_EQ(plain.headers.find("Content-Encoding"), std::string::npos) << plain.headers;
  auto gunzipped = watermelon::Gunzip(zipped.body);
  const std::string unzipped = gunzipped.ok() ? *gunzipped : "";
  ASSERT_FALSE(unzipped.empty()) << "not a gzip body";
  EXPECT_LT(zipped.body.size(), unzipped.size() / 4);
  // Same changes (the timestamps of the two pulls may differ).
  simdjson::dom::parser p1, p2;
  simdjson::dom::element a = p1.parse(unzipped);
  simdjson::dom::element b = p2.parse(plain.body);
  simdjson::dom::element changes_zipped = a["changes"];
  simdjson::dom::element changes_plain = b["changes"];
  EXPECT_EQ(simdjson::to_string(changes_zipped), simdjson::to_string(changes_plain));
  EXPECT_EQ(IdsOf(unzipped, "songs", "created").size(), 200u);
}

// The value of a counter in /metrics text; -1 when absent.
int64_t Metric(uint16_t port, const std::string& name) {
  const std::string text = Http(port, "GET", "/metrics").body;
  const size_t at = text.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stoll(text.substr(at + name.size() + 2));
}

TEST_P(WatermelonTest, ASlowClientDoesNotHoldThePullsSnapshotOpen) {
  if (!streamed()) GTEST_SKIP() << "a streamed-pull test";
  // About 12 MB of JSON: far more than the socket buffers and the in-memory send queue.
  Sql(db_,
      "INSERT INTO songs (id, title) SELECT 'slow' || g, repeat(md5(g::text), 12) FROM "
      "generate_series(1, 30000) g");
  const int fd = ConnectLoopback(port_, 16 << 10);
  ASSERT_GE(fd, 0);
  const std::string request =
      "GET /v1/watermelon/pull?last_pulled_at=null HTTP/1.1\r\nHost: localhost\r\n"
      "Connection: close\r\n\r\n";
  ASSERT_EQ(send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  // The client reads nothing while the pull runs: the pull still finishes (its transaction
  // ends), and what the client has not read waits in the spool.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (Metric(port_, "eddy_watermelon_pulls_total") < 1 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(Metric(port_, "eddy_watermelon_pulls_total"), 1);
  EXPECT_EQ(Metric(port_, "eddy_watermelon_spooled_pulls_total"), 1);
  // No session holds a transaction open (other sessions may pass through one briefly).
  std::string open_transactions;
  for (int i = 0; i < 40 && open_transactions != "0"; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    open_transactions =
        Query(db_, "SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'");
  }
  EXPECT_EQ(open_transactions, "0");
  // Now the client reads, slowly at first, and gets the whole body.
  std::string raw;
  char buffer[8192];
  for (;;) {
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    raw.append(buffer, static_cast<size_t>(n));
    if (raw.size() < (256 << 10)) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  close(fd);
  const size_t head_end = raw.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos);
  EXPECT_NE(raw.find("Transfer-Encoding: chunked"), std::string::npos);
  std::optional<std::string> body = Dechunk(std::string_view(raw).substr(head_end + 4));
  ASSERT_TRUE(body) << "the streamed body did not end with its last chunk";
  EXPECT_GT(body->size(), 10u << 20);
  EXPECT_EQ(IdsOf(*body, "songs", "created").size(), 30000u);
}

TEST_P(WatermelonTest, AClientThatLeavesMidPullDoesNotBreakTheNext) {
  if (!streamed()) GTEST_SKIP() << "a streamed-pull test";
  Sql(db_,
      "INSERT INTO songs (id, title) SELECT 'gone' || g, repeat(md5(g::text), 12) FROM "
      "generate_series(1, 20000) g");
  for (int i = 0; i < 3; ++i) {
    const int fd = ConnectLoopback(port_);
    ASSERT_GE(fd, 0);
    const std::string request =
        "GET /v1/watermelon/pull?last_pulled_at=null HTTP/1.1\r\nHost: localhost\r\n\r\n";
    ASSERT_GT(send(fd, request.data(), request.size(), 0), 0);
    char buffer[4096];
    ASSERT_GT(recv(fd, buffer, sizeof(buffer), 0), 0);  // the head and a first chunk
    close(fd);
  }
  Pulled p = Pull("null");
  ASSERT_EQ(p.status, 200) << p.body.substr(0, 200);
  EXPECT_EQ(p.created.size(), 20000u);
}

std::string ModeName(const ::testing::TestParamInfo<bool>& info) {
  return info.param ? "Streamed" : "Whole";
}
INSTANTIATE_TEST_SUITE_P(Modes, WatermelonTest, ::testing::Bool(), ModeName);
INSTANTIATE_TEST_SUITE_P(Modes, WatermelonScopeTest, ::testing::Bool(), ModeName);
INSTANTIATE_TEST_SUITE_P(Modes, WatermelonMigrationTest, ::testing::Bool(), ModeName);

}  // namespace
}  // namespace eddy::testing
