// The WatermelonDB face against a real PostgreSQL, driven with plain HTTP requests (the real
// @nozbe/watermelondb client is tested under tests/node): the watermark, writes from other SQL
// writers, tombstones, the slow-transaction hole of the seed design, conflicts, idempotent
// retries and rejected ids.

#include <set>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "server/service.h"

namespace eddy::testing {
namespace {

struct HttpReply {
  int status = 0;
  std::string headers;
  std::string body;
};

// One HTTP/1.1 request with Connection: close; the whole answer.
HttpReply Http(uint16_t port, const std::string& method, const std::string& target,
               const std::string& body = "", const std::string& extra_headers = "") {
  HttpReply reply;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return reply;
  }
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
  return reply;
}

class WatermelonTest : public ::testing::Test {
 protected:
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
  }

  struct Pulled {
    int status = 0;
    int64_t timestamp = 0;
    std::set<std::string> created, updated, deleted;
    std::string body;
  };
  Pulled Pull(const std::string& last, const std::string& client = "") {
    Pulled p;
    HttpReply r =
        Http(port_, "GET",
             "/v1/watermelon/pull?last_pulled_at=" + last + "&schema_version=1&migration=null", "",
             client.empty() ? "" : "X-Client-Id: " + client + "\r\n");
    p.status = r.status;
    p.body = r.body;
    if (r.status != 200) return p;
    simdjson::dom::parser parser;
    simdjson::dom::element doc = parser.parse(r.body);
    p.timestamp = doc["timestamp"].get_int64();
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
  HttpReply Push(int64_t last, const std::string& body, const std::string& client = "") {
    return Http(port_, "POST", "/v1/watermelon/push?last_pulled_at=" + std::to_string(last), body,
                client.empty() ? "" : "X-Client-Id: " + client + "\r\n");
  }

  std::string db_;
  std::unique_ptr<server::Service> service_;
  uint16_t port_ = 0;
};

TEST_F(WatermelonTest, EmptyDatabaseGivesAPositiveTimestampAndEveryArray) {
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

TEST_F(WatermelonTest, WritesFromPsqlReachPullAndHardDeletesBecomeTombstones) {
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

TEST_F(WatermelonTest, ARowCommittedLateByASlowTransactionIsNotLost) {
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

TEST_F(WatermelonTest, PushConflictsRetriesAndTheClientsOwnRows) {
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

TEST_F(WatermelonTest, RecordsPostgresRefusesAreRejectedAndTheRestCommits) {
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

TEST_F(WatermelonTest, PushedDeletesBecomeTombstonesForOtherDevices) {
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

}  // namespace
}  // namespace eddy::testing
