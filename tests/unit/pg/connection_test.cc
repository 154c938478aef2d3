#include "pg/connection.h"

#include <memory>
#include <string>

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pg/throwaway_cluster.h"

namespace eddy::pg {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A loopback port bound by this process but not listening: connecting to it is refused, and no
// other process can take it while the test runs.
class ClosedPort {
 public:
  ClosedPort() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(addr);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &length) == 0) {
      port_ = ntohs(addr.sin_port);
    }
  }
  ~ClosedPort() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(MaskConnInfoTest, KeywordValue) {
  EXPECT_EQ(MaskConnInfo("host=h password=secret user=u"), "host=h password=***** user=u");
  EXPECT_EQ(MaskConnInfo("password = 'it\\'s x' dbname=d"), "password = ***** dbname=d");
  // Unparsable after the password: the rest may be part of it.
  EXPECT_EQ(MaskConnInfo("password='it''s x' dbname=d"), "password=**********");
  EXPECT_EQ(MaskConnInfo("host=h"), "host=h");
  EXPECT_EQ(MaskConnInfo("host=h password secret"), "host=h password *****");
  EXPECT_EQ(MaskConnInfo(""), "");
}

TEST(MaskConnInfoTest, Url) {
  EXPECT_EQ(MaskConnInfo("postgresql://u:secret@h:5432/db"), "postgresql://u:*****@h:5432/db");
  EXPECT_EQ(MaskConnInfo("postgres://u@h/db?password=secret&sslmode=disable"),
            "postgres://u@h/db?password=*****&sslmode=disable");
  EXPECT_EQ(MaskConnInfo("postgresql://h"), "postgresql://h");
  EXPECT_EQ(MaskConnInfo("postgresql://u:p@ss@h"), "postgresql://u:*****@h");
}

TEST(SqlStateTest, ParsesTheSuffixAndSurvivesContext) {
  Status status = FailedPrecondition("duplicate key (SQLSTATE 23505)");
  EXPECT_EQ(SqlState(status), "23505");
  EXPECT_EQ(SqlState(status.WithContext("insert into t")), "23505");
  EXPECT_EQ(SqlState(Unavailable("no server")), "");
  EXPECT_EQ(SqlState(Status::Ok()), "");
}

TEST(QuoteTest, IdentAndLiteral) {
  EXPECT_EQ(Connection::QuoteIdent("t"), "\"t\"");
  EXPECT_EQ(Connection::QuoteIdent("a\"b"), "\"a\"\"b\"");
  EXPECT_EQ(Connection::QuoteLiteral("it's"), "'it''s'");
  EXPECT_EQ(Connection::QuoteLiteral("a\\b'"), "E'a\\\\b'''");
}

TEST(ConnectTest, UnparsableStringIsInvalidArgumentWithMaskedPassword) {
  Result<std::unique_ptr<Connection>> conn =
      Connection::Connect("host=127.0.0.1 password=hunter2 bogus");
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.status().code(), StatusCode::kInvalidArgument);
  const std::string& message = conn.status().message();
  EXPECT_THAT(message, HasSubstr("invalid connection string"));
  EXPECT_THAT(message, HasSubstr("bogus"));
  EXPECT_THAT(message, HasSubstr("DATABASE_URL"));
  EXPECT_THAT(message, HasSubstr("password=*****"));
  EXPECT_THAT(message, Not(HasSubstr("hunter2")));

  Result<std::unique_ptr<Connection>> unknown = Connection::Connect("colour=blue");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.status().message(), HasSubstr("colour"));
}

TEST(ConnectTest, RefusedConnectionSaysWhatToDo) {
  ClosedPort closed;
  ASSERT_NE(closed.port(), 0);
  const std::string port = std::to_string(closed.port());
  Result<std::unique_ptr<Connection>> conn = Connection::Connect(
      "host=127.0.0.1 port=" + port + " user=postgres password=s3cret", /*connect_timeout_s=*/2);
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.status().code(), StatusCode::kUnavailable);
  const std::string& message = conn.status().message();
  EXPECT_THAT(message, HasSubstr("cannot connect to 127.0.0.1:" + port + ": connection refused"));
  EXPECT_THAT(message, HasSubstr("is PostgreSQL running"));
  EXPECT_THAT(message, HasSubstr("set DATABASE_URL or --database"));
  EXPECT_THAT(message, Not(HasSubstr("s3cret")));

  Result<std::unique_ptr<Connection>> url =
      Connection::Connect("postgresql://postgres:s3cret@127.0.0.1:" + port + "/db", 2);
  ASSERT_FALSE(url.ok());
  EXPECT_EQ(url.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(url.status().message(), HasSubstr("postgres:*****@"));
  EXPECT_THAT(url.status().message(), Not(HasSubstr("s3cret")));
}

// Statement-level tests share one cluster: initdb is the slow part.
class ConnectionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Result<std::unique_ptr<ThrowawayCluster>> started = ThrowawayCluster::Start({});
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    cluster_ = std::move(started).value().release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(cluster_, nullptr);
    Result<std::unique_ptr<Connection>> conn = cluster_->Connect();
    ASSERT_TRUE(conn.ok()) << conn.status().ToString();
    conn_ = std::move(conn).value();
  }

  static ThrowawayCluster* cluster_;
  std::unique_ptr<Connection> conn_;
};
ThrowawayCluster* ConnectionTest::cluster_ = nullptr;

TEST_F(ConnectionTest, ExecAndExecParamsRoundTrip) {
  ASSERT_TRUE(conn_->Exec("CREATE TABLE round_trip (id int PRIMARY KEY, s text, n int)").ok());
  const std::string tricky = "it's \"quoted\"; DROP TABLE round_trip; -- \\ $1";
  Result<QueryResult> inserted =
      conn_->ExecParams("INSERT INTO round_trip VALUES ($1, $2, $3), ($4, $5, $6)",
                        {"1", tricky, std::nullopt, "2", std::nullopt, "42"});
  ASSERT_TRUE(inserted.ok()) << inserted.status().ToString();
  EXPECT_EQ(inserted->CommandTag(), "INSERT 0 2");
  EXPECT_EQ(inserted->RowsAffected(), 2);

  Result<QueryResult> rows = conn_->Exec("SELECT id, s, n FROM round_trip ORDER BY id");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->rows(), 2);
  ASSERT_EQ(rows->columns(), 3);
  EXPECT_EQ(rows->ColumnName(1), "s");
  EXPECT_EQ(rows->ColumnIndex("n"), 2);
  EXPECT_EQ(rows->ColumnIndex("missing"), -1);
  EXPECT_EQ(rows->Get(0, 0), "1");
  EXPECT_EQ(rows->Get(0, 1), tricky);
  EXPECT_TRUE(rows->IsNull(0, 2));
  EXPECT_EQ(rows->GetOptional(0, 2), std::nullopt);
  EXPECT_TRUE(rows->IsNull(1, 1));
  EXPECT_FALSE(rows->IsNull(1, 2));
  EXPECT_EQ(rows->Get(1, 2), "42");
  EXPECT_EQ(rows->CommandTag(), "SELECT 2");
  EXPECT_EQ(rows->RowsAffected(), 2);
  // Out of range reads as NULL instead of crashing.
  EXPECT_TRUE(rows->IsNull(5, 0));
  EXPECT_EQ(rows->Get(0, 9), "");

  Result<QueryResult> count =
      conn_->ExecParams("SELECT count(*) FROM round_trip WHERE s = $1", {tricky});
  ASSERT_TRUE(count.ok()) << count.status().ToString();
  EXPECT_EQ(count->Get(0, 0), "1");
}

TEST_F(ConnectionTest, QuotingRoundTripsThroughTheServer) {
  const std::string value = "a'b\\c\"d";
  Result<QueryResult> result = conn_->ExecParams("SELECT " + Connection::QuoteLiteral(value) +
                                                     " = $1, " + Connection::QuoteLiteral(value) +
                                                     " AS " + Connection::QuoteIdent("we\"ird col"),
                                                 {value});
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->Get(0, 0), "t");
  EXPECT_EQ(result->ColumnName(1), "we\"ird col");
  EXPECT_EQ(result->Get(0, 1), value);
}

TEST_F(ConnectionTest, ErrorsCarrySqlState) {
  ASSERT_TRUE(conn_->Exec("CREATE TABLE uniq (id int PRIMARY KEY)").ok());
  ASSERT_TRUE(conn_->Exec("INSERT INTO uniq VALUES (1)").ok());
  Result<QueryResult> duplicate = conn_->ExecParams("INSERT INTO uniq VALUES ($1)", {"1"});
  ASSERT_FALSE(duplicate.ok());
  EXPECT_EQ(SqlState(duplicate.status()), "23505");
  EXPECT_EQ(duplicate.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(duplicate.status().message(), HasSubstr("duplicate key"));
  EXPECT_THAT(duplicate.status().message(), HasSubstr("detail: Key (id)=(1) already exists"));

  Result<QueryResult> syntax = conn_->Exec("SELEKT 1");
  ASSERT_FALSE(syntax.ok());
  EXPECT_EQ(SqlState(syntax.status()), "42601");
  EXPECT_EQ(syntax.status().code(), StatusCode::kInvalidArgument);

  Result<QueryResult> missing = conn_->Exec("SELECT * FROM no_such_table");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(SqlState(missing.status()), "42P01");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);

  // The connection is still usable after errors.
  EXPECT_TRUE(conn_->Exec("SELECT 1").ok());
  EXPECT_TRUE(conn_->IsOk());
}

TEST_F(ConnectionTest, ServerVersionAndEmptyQuery) {
  EXPECT_GE(conn_->ServerVersion(), 100000);
  Result<QueryResult> empty = conn_->Exec("");
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_EQ(empty->rows(), 0);
}

TEST_F(ConnectionTest, TerminatedBackendIsUnavailable) {
  Result<std::unique_ptr<Connection>> other = cluster_->Connect();
  ASSERT_TRUE(other.ok());
  Result<QueryResult> pid = (*other)->Exec("SELECT pg_backend_pid()");
  ASSERT_TRUE(pid.ok());
  ASSERT_TRUE(
      conn_->ExecParams("SELECT pg_terminate_backend($1::int)", {std::string(pid->Get(0, 0))})
          .ok());
  Result<QueryResult> after = (*other)->Exec("SELECT 1");
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.status().code(), StatusCode::kUnavailable) << after.status().ToString();
}

}  // namespace
}  // namespace eddy::pg
