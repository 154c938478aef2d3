#include "pg/throwaway_cluster.h"

#include <filesystem>
#include <memory>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pg/connection.h"

namespace eddy::pg {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::unique_ptr<ThrowawayCluster> StartOrDie(const ThrowawayCluster::Options& options = {}) {
  Result<std::unique_ptr<ThrowawayCluster>> cluster = ThrowawayCluster::Start(options);
  EXPECT_TRUE(cluster.ok()) << cluster.status().ToString();
  return cluster.ok() ? std::move(cluster).value() : nullptr;
}

std::string Show(Connection& conn, const std::string& setting) {
  Result<QueryResult> result = conn.Exec("SHOW " + setting);
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  return result.ok() ? std::string(result->Get(0, 0)) : "";
}

TEST(ThrowawayClusterTest, ConfiguredForLogicalReplication) {
  ThrowawayCluster::Options options;
  options.settings = {{"work_mem", "8MB"}, {"application_name", "it's eddy"}};
  std::unique_ptr<ThrowawayCluster> cluster = StartOrDie(options);
  ASSERT_NE(cluster, nullptr);
  EXPECT_GT(cluster->port(), 0);
  EXPECT_EQ(cluster->ConnInfo(), "host=127.0.0.1 port=" + std::to_string(cluster->port()) +
                                     " user=postgres dbname=postgres");
  EXPECT_EQ(cluster->Url("db"),
            "postgresql://postgres@127.0.0.1:" + std::to_string(cluster->port()) + "/db");

  Result<std::unique_ptr<Connection>> conn = Connection::Connect(cluster->Url("postgres"));
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  EXPECT_EQ(Show(**conn, "wal_level"), "logical");
  EXPECT_EQ(Show(**conn, "max_replication_slots"), "20");
  EXPECT_EQ(Show(**conn, "max_wal_senders"), "20");
  EXPECT_EQ(Show(**conn, "fsync"), "off");
  EXPECT_EQ(Show(**conn, "synchronous_commit"), "on");
  EXPECT_EQ(Show(**conn, "listen_addresses"), "127.0.0.1");
  EXPECT_EQ(Show(**conn, "unix_socket_directories"), cluster->socket_dir());
  EXPECT_EQ(Show(**conn, "server_encoding"), "UTF8");
  EXPECT_EQ(Show(**conn, "work_mem"), "8MB");
  EXPECT_EQ(Show(**conn, "server_version_num").substr(0, 2), "15");

  // Logical decoding works and replication connections are allowed by pg_hba.conf.
  Result<QueryResult> slot =
      (*conn)->Exec("SELECT lsn FROM pg_create_logical_replication_slot('eddy_test', 'pgoutput')");
  ASSERT_TRUE(slot.ok()) << slot.status().ToString();
  Result<std::unique_ptr<Connection>> replication =
      Connection::Connect(cluster->ConnInfo() + " replication=database");
  ASSERT_TRUE(replication.ok()) << replication.status().ToString();
  Result<QueryResult> identify = (*replication)->Exec("IDENTIFY_SYSTEM");
  ASSERT_TRUE(identify.ok()) << identify.status().ToString();
  EXPECT_EQ(identify->rows(), 1);

  // The unix socket is private to the cluster and accepts connections too.
  Result<std::unique_ptr<Connection>> local = Connection::Connect(
      "host=" + cluster->socket_dir() + " port=" + std::to_string(cluster->port()) +
      " user=postgres dbname=postgres");
  ASSERT_TRUE(local.ok()) << local.status().ToString();
}

TEST(ThrowawayClusterTest, RunsAsPostgresWhenRoot) {
  if (geteuid() != 0) GTEST_SKIP() << "only meaningful as root";
  std::unique_ptr<ThrowawayCluster> cluster = StartOrDie();
  ASSERT_NE(cluster, nullptr);
  struct stat st {};
  ASSERT_EQ(stat(cluster->data_dir().c_str(), &st), 0);
  const passwd* postgres = getpwnam("postgres");
  ASSERT_NE(postgres, nullptr);
  EXPECT_EQ(st.st_uid, postgres->pw_uid);
}

TEST(ThrowawayClusterTest, RestartFastAndImmediateKeepCommittedData) {
  std::unique_ptr<ThrowawayCluster> cluster = StartOrDie();
  ASSERT_NE(cluster, nullptr);
  const int port = cluster->port();
  {
    Result<std::unique_ptr<Connection>> conn = cluster->Connect();
    ASSERT_TRUE(conn.ok()) << conn.status().ToString();
    ASSERT_TRUE((*conn)->Exec("CREATE TABLE t (id int); INSERT INTO t VALUES (1)").ok());

    ASSERT_TRUE(cluster->Restart(StopMode::kFast).ok());
    EXPECT_TRUE(cluster->running());
    EXPECT_EQ(cluster->port(), port);
    // The old connection is gone; the error says so.
    Result<QueryResult> stale = (*conn)->Exec("SELECT 1");
    ASSERT_FALSE(stale.ok());
    EXPECT_EQ(stale.status().code(), StatusCode::kUnavailable) << stale.status().ToString();
  }
  {
    Result<std::unique_ptr<Connection>> conn = cluster->Connect();
    ASSERT_TRUE(conn.ok()) << conn.status().ToString();
    ASSERT_TRUE((*conn)->Exec("INSERT INTO t VALUES (2)").ok());
    ASSERT_TRUE(cluster->Restart(StopMode::kImmediate).ok());
  }
  Result<std::unique_ptr<Connection>> conn = cluster->Connect();
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  Result<QueryResult> count = (*conn)->Exec("SELECT count(*) FROM t");
  ASSERT_TRUE(count.ok()) << count.status().ToString();
  EXPECT_EQ(count->Get(0, 0), "2");  // crash recovery kept every committed row

  // Stopped: connections are refused with the usual advice; Start brings it back.
  ASSERT_TRUE(cluster->Stop(StopMode::kFast).ok());
  EXPECT_FALSE(cluster->running());
  EXPECT_TRUE(cluster->Stop(StopMode::kFast).ok());  // idempotent
  Result<std::unique_ptr<Connection>> refused = cluster->Connect();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(refused.status().message(), HasSubstr("connection refused"));
  ASSERT_TRUE(cluster->Start().ok());
  EXPECT_TRUE(cluster->Connect().ok());
}

TEST(ThrowawayClusterTest, TwoClustersAtOnceGetDifferentPortsAndDirectories) {
  std::unique_ptr<ThrowawayCluster> a = StartOrDie();
  std::unique_ptr<ThrowawayCluster> b = StartOrDie();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a->port(), b->port());
  EXPECT_NE(a->base_dir(), b->base_dir());
  ASSERT_TRUE(a->Connect().ok());
  ASSERT_TRUE(b->Connect().ok());

  const std::string a_dir = a->base_dir();
  EXPECT_TRUE(fs::exists(a_dir + "/data/PG_VERSION"));
  a.reset();
  EXPECT_FALSE(fs::exists(a_dir));  // the destructor stopped the server and removed everything
  EXPECT_TRUE(b->Connect().ok());
}

TEST(ThrowawayClusterTest, CreateDatabase) {
  std::unique_ptr<ThrowawayCluster> cluster = StartOrDie();
  ASSERT_NE(cluster, nullptr);
  ASSERT_TRUE(cluster->CreateDatabase("my db").ok());
  Result<std::unique_ptr<Connection>> conn = cluster->Connect("my db");
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  Result<QueryResult> name = (*conn)->Exec("SELECT current_database()");
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(name->Get(0, 0), "my db");
  EXPECT_TRUE(Connection::Connect(cluster->Url("my db")).ok());

  Status again = cluster->CreateDatabase("my db");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(SqlState(again), "42P04");  // duplicate_database
}

TEST(ThrowawayClusterTest, KeptClusterIsReusedFromItsBaseDir) {
  const std::string base_dir =
      (fs::temp_directory_path() / ("eddy-pg-keep-" + std::to_string(getpid()))).string();
  {
    ThrowawayCluster::Options options;
    options.base_dir = base_dir;
    options.keep = true;
    std::unique_ptr<ThrowawayCluster> cluster = StartOrDie(options);
    ASSERT_NE(cluster, nullptr);
    EXPECT_EQ(cluster->base_dir(), base_dir);
    Result<std::unique_ptr<Connection>> conn = cluster->Connect();
    ASSERT_TRUE(conn.ok());
    ASSERT_TRUE((*conn)->Exec("CREATE TABLE kept (id int)").ok());
  }
  ASSERT_TRUE(fs::exists(base_dir + "/data/PG_VERSION"));
  {
    ThrowawayCluster::Options options;
    options.base_dir = base_dir;
    std::unique_ptr<ThrowawayCluster> cluster = StartOrDie(options);
    ASSERT_NE(cluster, nullptr);
    Result<std::unique_ptr<Connection>> conn = cluster->Connect();
    ASSERT_TRUE(conn.ok());
    EXPECT_TRUE((*conn)->Exec("SELECT * FROM kept").ok());
  }
  EXPECT_FALSE(fs::exists(base_dir));
}

TEST(ThrowawayClusterTest, StartFailureIncludesTheServerLog) {
  ThrowawayCluster::Options options;
  options.settings = {{"wal_level", "bogus"}};
  Result<std::unique_ptr<ThrowawayCluster>> cluster = ThrowawayCluster::Start(options);
  ASSERT_FALSE(cluster.ok());
  EXPECT_THAT(cluster.status().message(), HasSubstr("cannot start PostgreSQL"));
  EXPECT_THAT(cluster.status().message(), HasSubstr("wal_level"));
  EXPECT_THAT(cluster.status().message(), HasSubstr("server.log"));

  options.settings = {{"bad name;", "x"}};
  Result<std::unique_ptr<ThrowawayCluster>> bad_name = ThrowawayCluster::Start(options);
  ASSERT_FALSE(bad_name.ok());
  EXPECT_EQ(bad_name.status().code(), StatusCode::kInvalidArgument);
}

TEST(ThrowawayClusterTest, FindsTheBindir) {
  Result<std::string> bindir = ThrowawayCluster::FindBindir();
  ASSERT_TRUE(bindir.ok()) << bindir.status().ToString();
  EXPECT_TRUE(fs::exists(*bindir + "/initdb"));
}

}  // namespace
}  // namespace eddy::pg
