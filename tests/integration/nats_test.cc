// NATS JetStream against real nats-server 2.9 processes (started here on free loopback ports,
// each with its own store dir) and a real PostgreSQL: the sink publishes every change once, a
// required sink holds back the slot while JetStream is down, an edge eddy serves the same changes
// from the stream, and a 3-node R3 cluster loses nothing when its stream leader is killed.

#include <atomic>
#include <csignal>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <nats/nats.h>
#include <unistd.h>

#include "harness.h"
#include "nats/jetstream_feed.h"
#include "nats/message_codec.h"
#include "server/engine.h"

namespace eddy::testing {
namespace {

// One nats-server with JetStream; optionally a member of a cluster.
class NatsServer {
 public:
  NatsServer(std::string name = "n1", int cluster_port = 0, std::vector<int> routes = {})
      : name_(std::move(name)),
        port_(FreeLoopbackPort()),
        cluster_port_(cluster_port),
        routes_(std::move(routes)),
        store_(TempDir()) {
    Start();
  }
  void Start() {
    std::vector<std::string> argv = {"/usr/sbin/nats-server", "-js", "-a",   "127.0.0.1",    "-p",
                                     std::to_string(port_),   "-sd", store_, "-server_name", name_};
    if (cluster_port_ != 0) {
      argv.insert(argv.end(), {"-cluster_name", "eddy-test", "-cluster",
                               fmt::format("nats://127.0.0.1:{}", cluster_port_)});
      std::vector<std::string> urls;
      for (int r : routes_) urls.push_back(fmt::format("nats://127.0.0.1:{}", r));
      argv.insert(argv.end(), {"-routes", fmt::format("{}", fmt::join(urls, ","))});
    }
    process_ = std::make_unique<Subprocess>(argv);
    ASSERT_TRUE(process_->WaitForOutput("Server is ready", std::chrono::seconds(20)))
        << process_->Output();
  }
  void Kill() { process_.reset(); }
  std::string url() const { return fmt::format("nats://127.0.0.1:{}", port_); }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  int port_;
  int cluster_port_;
  std::vector<int> routes_;
  std::string store_;
  std::unique_ptr<Subprocess> process_;
};

struct StoredMessage {
  std::string subject;
  std::map<std::string, std::string> headers;
  std::string body;
};

// A raw JetStream client for checking what the stream holds.
class StreamProbe {
 public:
  explicit StreamProbe(const std::string& url) {
    natsOptions* opts = nullptr;
    natsOptions_Create(&opts);
    const char* servers[1] = {url.c_str()};
    natsOptions_SetServers(opts, servers, 1);
    natsOptions_SetMaxReconnect(opts, -1);
    EXPECT_EQ(natsConnection_Connect(&nc_, opts), NATS_OK) << url;
    natsOptions_Destroy(opts);
    EXPECT_EQ(natsConnection_JetStream(&js_, nc_, nullptr), NATS_OK);
  }
  ~StreamProbe() {
    if (js_) jsCtx_Destroy(js_);
    if (nc_) natsConnection_Destroy(nc_);
  }
  // Messages in the stream; -1 if it cannot be asked.
  int64_t Count(const std::string& stream) {
    jsStreamInfo* si = nullptr;
    if (js_GetStreamInfo(&si, js_, stream.c_str(), nullptr, nullptr) != NATS_OK) return -1;
    int64_t n = static_cast<int64_t>(si->State.Msgs);
    jsStreamInfo_Destroy(si);
    return n;
  }
  // Removes the stream's messages before `sequence`, as its limits would.
  bool PurgeBefore(const std::string& stream, uint64_t sequence) {
    jsOptions o;
    jsOptions_Init(&o);
    o.Stream.Purge.Sequence = sequence;
    return js_PurgeStream(js_, stream.c_str(), &o, nullptr) == NATS_OK;
  }
  std::string Leader(const std::string& stream) {
    jsStreamInfo* si = nullptr;
    if (js_GetStreamInfo(&si, js_, stream.c_str(), nullptr, nullptr) != NATS_OK) return "";
    std::string leader = si->Cluster && si->Cluster->Leader ? si->Cluster->Leader : "";
    jsStreamInfo_Destroy(si);
    return leader;
  }
  bool WaitForCount(const std::string& stream, int64_t n,
                    std::chrono::seconds timeout = std::chrono::seconds(60)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (Count(stream) >= n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  std::vector<StoredMessage> ReadAll(const std::string& stream) {
    std::vector<StoredMessage> out;
    int64_t total = Count(stream);
    for (uint64_t seq = 1; static_cast<int64_t>(out.size()) < total && seq < 1'000'000; ++seq) {
      natsMsg* m = nullptr;
      if (js_GetMsg(&m, js_, stream.c_str(), seq, nullptr, nullptr) != NATS_OK) continue;
      StoredMessage sm;
      sm.subject = natsMsg_GetSubject(m);
      sm.body.assign(natsMsg_GetData(m), natsMsg_GetDataLength(m));
      const char** keys = nullptr;
      int count = 0;
      if (natsMsgHeader_Keys(m, &keys, &count) == NATS_OK) {
        for (int i = 0; i < count; ++i) {
          const char* v = nullptr;
          natsMsgHeader_Get(m, keys[i], &v);
          sm.headers[keys[i]] = v ? v : "";
        }
        free(keys);
      }
      natsMsg_Destroy(m);
      out.push_back(std::move(sm));
    }
    return out;
  }

 private:
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
};

WatcherOptions PublishingOptions(const std::string& db, const std::string& url) {
  WatcherOptions o = OptionsFor(db);
  o.nats.url = url;
  o.nats.publish = true;
  o.nats.stream = "EDDY";
  o.nats.subject_prefix = "eddy";
  return o;
}

TEST(NatsTest, EveryChangeArrivesOnceWithSubjectsAndHeadersAcrossRestart) {
  NatsServer nats;
  std::string db = NewDatabase();
  Sql(db,
      "CREATE TABLE t (id int PRIMARY KEY, name text); CREATE TABLE \"we.ird\" (k text PRIMARY "
      "KEY)");
  WatcherOptions options = PublishingOptions(db, nats.url());
  StreamProbe probe(nats.url());
  {
    auto watcher = StartWatcher(options);
    Sql(db, "BEGIN; INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, NULL); COMMIT");
    Sql(db, "UPDATE t SET name = 'c' WHERE id = 2");
    Sql(db, "DELETE FROM t WHERE id = 3");
    Sql(db, "INSERT INTO \"we.ird\" VALUES ('a.b c*>')");
    Sql(db, "TRUNCATE t");
    ASSERT_TRUE(probe.WaitForCount("EDDY", 7)) << watcher->Health();
    // The sink's metrics say the same once the PubAcks are in: 7 published, nothing in flight,
    // no backlog, connected.
    auto* engine = dynamic_cast<server::Engine*>(watcher.get());
    ASSERT_NE(engine, nullptr);
    std::string metrics;
    for (int i = 0; i < 200; ++i) {
      metrics = engine->MetricsText();
      if (metrics.find("\neddy_nats_published_total 7\n") != std::string::npos &&
          metrics.find("\neddy_nats_backlog_bytes 0\n") != std::string::npos) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_NE(metrics.find("\neddy_nats_published_total 7\n"), std::string::npos) << metrics;
    EXPECT_NE(metrics.find("\neddy_nats_in_flight_messages 0\n"), std::string::npos) << metrics;
    EXPECT_NE(metrics.find("\neddy_nats_backlog_bytes 0\n"), std::string::npos) << metrics;
    EXPECT_NE(metrics.find("\neddy_nats_connected 1\n"), std::string::npos) << metrics;
    EXPECT_NE(metrics.find("\neddy_nats_publish_errors_total 0\n"), std::string::npos) << metrics;
    watcher->Stop();
  }
  auto messages = probe.ReadAll("EDDY");
  ASSERT_EQ(messages.size(), 7u);
  std::vector<std::string> subjects;
  for (const auto& m : messages) subjects.push_back(m.subject);
  EXPECT_EQ(subjects,
            (std::vector<std::string>{
                "eddy.public.t.insert.1", "eddy.public.t.insert.2", "eddy.public.t.insert.3",
                "eddy.public.t.update.2", "eddy.public.t.delete.3",
                "eddy.public.we%2Eird.insert.a%2Eb%20c%2A%3E", "eddy.public.t.truncate"}));
  const auto& first = messages[0].headers;
  EXPECT_EQ(first.at("Nats-Msg-Id"), first.at("Eddy-Position"));
  EXPECT_EQ(first.at("Eddy-Tx-Count"), "3");
  EXPECT_EQ(first.at("Content-Type"), nats::kBinaryContentType);
  EXPECT_EQ(first.at("Eddy-Schema-Version"), "1");
  EXPECT_FALSE(first.at("Eddy-Xid").empty());
  EXPECT_EQ(first.at("Eddy-End-Lsn"), messages[2].headers.at("Eddy-End-Lsn"));
  EXPECT_EQ(messages[3].headers.at("Eddy-Tx-Count"), "1");
  auto third = nats::DecodeBinaryBody(messages[2].body);
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  EXPECT_EQ(third->new_row[1].kind, Value::Kind::kNull);
  EXPECT_EQ(third->table->name, "t");
  EXPECT_EQ(third->position.ToString(), messages[2].headers.at("Eddy-Position"));

  // A restart that lost its cursor publishes everything again: JetStream drops the duplicates.
  std::filesystem::remove(options.data_dir + "/sinks/nats.cursor");
  auto watcher = StartWatcher(options);
  Sql(db, "INSERT INTO t VALUES (4, 'd')");
  ASSERT_TRUE(probe.WaitForCount("EDDY", 8)) << watcher->Health();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(probe.Count("EDDY"), 8);
  EXPECT_EQ(probe.ReadAll("EDDY").back().subject, "eddy.public.t.insert.4");
}

TEST(NatsTest, RequiredSinkHoldsTheSlotUntilJetStreamAcknowledges) {
  auto nats = std::make_unique<NatsServer>();
  std::string db = NewDatabase();
  Sql(db, "CREATE TABLE t (id int PRIMARY KEY)");
  WatcherOptions options = PublishingOptions(db, nats->url());
  options.nats.required = true;
  auto watcher = StartWatcher(options);
  Sql(db, "INSERT INTO t VALUES (1)");
  {
    StreamProbe probe(nats->url());
    ASSERT_TRUE(probe.WaitForCount("EDDY", 1)) << watcher->Health();
  }
  const std::string confirmed_sql = fmt::format(
      "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '{}'", options.slot);
  const std::string lsn_before = Query(db, "SELECT pg_current_wal_lsn()");
  // Wait until the first row's transaction is confirmed.
  for (int i = 0; i < 200; ++i) {
    if (Query(db, fmt::format("SELECT ({}) >= '{}'::pg_lsn", confirmed_sql, lsn_before)) == "t") {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  nats->Kill();
  const std::string lsn_gap = Query(db, "SELECT pg_current_wal_lsn()");
  for (int i = 2; i <= 6; ++i) Sql(db, fmt::format("INSERT INTO t VALUES ({})", i));
  const std::string lsn_after = Query(db, "SELECT pg_current_wal_lsn()");
  std::this_thread::sleep_for(std::chrono::seconds(2));
  // The changes are durable in eddy's log, but JetStream has not acknowledged them.
  EXPECT_EQ(Query(db, fmt::format("SELECT ({}) <= '{}'::pg_lsn", confirmed_sql, lsn_gap)), "t")
      << Query(db, confirmed_sql) << " vs " << lsn_gap << "; " << watcher->Health();
  nats->Start();
  StreamProbe probe(nats->url());
  ASSERT_TRUE(probe.WaitForCount("EDDY", 6)) << watcher->Health();
  bool passed = false;
  for (int i = 0; i < 400 && !passed; ++i) {
    passed = Query(db, fmt::format("SELECT ({}) >= '{}'::pg_lsn", confirmed_sql, lsn_after)) == "t";
    if (!passed) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(passed) << Query(db, confirmed_sql) << " vs " << lsn_after;
  EXPECT_EQ(probe.Count("EDDY"), 6);
}

TEST(NatsTest, EdgeEddyServesTheSameChangesFromTheStream) {
  NatsServer nats;
  std::string db = NewDatabase();
  Sql(db, "CREATE TABLE t (id int PRIMARY KEY, body text)");
  Sql(db, "ALTER TABLE t ALTER COLUMN body SET STORAGE EXTERNAL");
  auto leader = StartWatcher(PublishingOptions(db, nats.url()));
  Collector at_leader;
  Subscription all;
  all.detail = Detail::kFull;
  all.after = Position{};
  ASSERT_TRUE(leader->Subscribe(all, at_leader.Handlers()).ok());

  WatcherOptions edge_options;
  edge_options.capture_mode = "nats";
  edge_options.nats.url = nats.url();
  edge_options.nats.durable = "edge-1";
  edge_options.data_dir = TempDir() + "/edge";
  edge_options.fsync = false;
  auto edge = StartWatcher(edge_options);
  Collector at_edge;
  ASSERT_TRUE(edge->Subscribe(all, at_edge.Handlers()).ok());

  Sql(db, "BEGIN; INSERT INTO t VALUES (1, repeat('x', 10000)), (2, NULL); COMMIT");
  Sql(db, "UPDATE t SET id = 3 WHERE id = 2");  // body unchanged TOAST stays unchanged
  Sql(db, "UPDATE t SET id = 4 WHERE id = 1");
  Sql(db, "DELETE FROM t WHERE id = 3");
  ASSERT_TRUE(at_leader.WaitFor(5));
  ASSERT_TRUE(at_edge.WaitFor(5)) << edge->Health();
  EXPECT_EQ(at_edge.Json(), at_leader.Json());
  EXPECT_EQ(at_edge.Positions(), at_leader.Positions());
  // The last on_commit may still be on its way on either side.
  for (int i = 0; i < 100 && at_edge.Events().size() != at_leader.Events().size(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(at_edge.Events(), at_leader.Events());

  // Restarted, the edge resumes from its durable consumer and appends nothing twice.
  edge->Stop();
  edge.reset();
  Sql(db, "INSERT INTO t VALUES (5, 'five')");
  edge = StartWatcher(edge_options);
  Collector again;
  ASSERT_TRUE(edge->Subscribe(all, again.Handlers()).ok());
  ASSERT_TRUE(again.WaitFor(6)) << edge->Health();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_TRUE(at_leader.WaitFor(6));
  EXPECT_EQ(again.Positions(), at_leader.Positions());

  // A feed for consumers yields the same changes with an ack per item.
  nats::FeedOptions feed_options;
  feed_options.url = nats.url();
  feed_options.durable = "feed-1";
  auto feed = nats::JetStreamFeed::Open(feed_options);
  ASSERT_TRUE(feed.ok()) << feed.status().ToString();
  std::vector<Position> fed;
  while (fed.size() < 6) {
    auto item = (*feed)->Next(std::chrono::seconds(5));
    ASSERT_TRUE(item.ok()) << item.status().ToString();
    ASSERT_TRUE(item->has_value());
    fed.push_back((*item)->change.position);
    ASSERT_TRUE((*item)->Ack().ok());
  }
  EXPECT_EQ(fed, at_leader.Positions());
}

TEST(NatsTest, EdgeStopsWithDataLossWhenTheStreamRemovedWhatItHadNotRead) {
  NatsServer nats;
  std::string db = NewDatabase();
  Sql(db, "CREATE TABLE t (id int PRIMARY KEY)");
  auto leader = StartWatcher(PublishingOptions(db, nats.url()));
  StreamProbe probe(nats.url());
  WatcherOptions edge_options;
  edge_options.capture_mode = "nats";
  edge_options.nats.url = nats.url();
  edge_options.nats.durable = "edge-gap";
  edge_options.data_dir = TempDir() + "/edge";
  edge_options.fsync = false;
  Subscription all;
  all.after = Position{};
  {
    auto edge = StartWatcher(edge_options);
    Collector seen;
    ASSERT_TRUE(edge->Subscribe(all, seen.Handlers()).ok());
    Sql(db, "INSERT INTO t VALUES (1)");  // stream sequence 1
    ASSERT_TRUE(seen.WaitFor(1)) << edge->Health();
    edge->Stop();
  }
  // While the edge is away: a 3-change transaction (sequences 2-4) and a 1-change one (5); the
  // stream then loses sequences 1-2, the first change of the 3-change transaction.
  Sql(db, "BEGIN; INSERT INTO t VALUES (2), (3), (4); COMMIT");
  Sql(db, "INSERT INTO t VALUES (5)");
  ASSERT_TRUE(probe.WaitForCount("EDDY", 5)) << leader->Health();
  ASSERT_TRUE(probe.PurgeBefore("EDDY", 3));

  // The edge that read sequence 1 cannot rebuild the transaction: it stops with DataLoss.
  auto edge = Watcher::Open(edge_options);
  ASSERT_TRUE(edge.ok()) << edge.status().ToString();
  ASSERT_TRUE((*edge)->Start().ok());
  std::string health;
  for (int i = 0; i < 200; ++i) {
    health = (*edge)->Health();
    if (health.find("role=failed") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_NE(health.find("role=failed"), std::string::npos) << health;
  EXPECT_NE(health.find("nats consumer rm EDDY edge-gap"), std::string::npos) << health;
  EXPECT_NE(health.find("stream sequences 2 to 2"), std::string::npos) << health;
  (*edge)->Stop();

  // A new edge (empty log, new consumer) starts at the first whole transaction: row 5.
  WatcherOptions fresh_options = edge_options;
  fresh_options.nats.durable = "edge-fresh";
  fresh_options.data_dir = TempDir() + "/fresh";
  auto fresh = StartWatcher(fresh_options);
  Collector at_fresh;
  ASSERT_TRUE(fresh->Subscribe(all, at_fresh.Handlers()).ok());
  ASSERT_TRUE(at_fresh.WaitFor(1)) << fresh->Health();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_EQ(at_fresh.Json().size(), 1u) << fresh->Health();
  EXPECT_NE(at_fresh.Json()[0].find("\"id\":5"), std::string::npos) << at_fresh.Json()[0];
}

TEST(NatsTest, ClusterLosesNothingWhenTheStreamLeaderDies) {
  std::vector<int> cluster_ports = {FreeLoopbackPort(), FreeLoopbackPort(), FreeLoopbackPort()};
  std::vector<std::unique_ptr<NatsServer>> nodes;
  for (int i = 0; i < 3; ++i) {
    std::vector<int> routes;
    for (int j = 0; j < 3; ++j) {
      if (j != i) routes.push_back(cluster_ports[j]);
    }
    nodes.push_back(
        std::make_unique<NatsServer>(fmt::format("n{}", i + 1), cluster_ports[i], routes));
  }
  std::string urls = fmt::format("{},{},{}", nodes[0]->url(), nodes[1]->url(), nodes[2]->url());
  std::string db = NewDatabase();
  Sql(db, "CREATE TABLE t (id int PRIMARY KEY)");
  WatcherOptions options = PublishingOptions(db, urls);
  options.nats.replicas = 3;
  options.nats.required = true;
  auto watcher = StartWatcher(options);

  constexpr int kRows = 400;
  std::atomic<int> written{0};
  std::thread writer([&] {
    for (int i = 1; i <= kRows; ++i) {
      Sql(db, fmt::format("INSERT INTO t VALUES ({})", i));
      written = i;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  // Kill the stream leader once a quarter of the rows are in the stream.
  std::string leader;
  {
    StreamProbe probe(nodes[0]->url());
    ASSERT_TRUE(probe.WaitForCount("EDDY", kRows / 4, std::chrono::seconds(90)))
        << watcher->Health();
    leader = probe.Leader("EDDY");
  }
  ASSERT_FALSE(leader.empty());
  size_t killed = 0;
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i]->name() == leader) killed = i;
  }
  nodes[killed]->Kill();
  writer.join();
  StreamProbe probe(nodes[(killed + 1) % 3]->url());
  ASSERT_TRUE(probe.WaitForCount("EDDY", kRows, std::chrono::seconds(90))) << watcher->Health();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  auto messages = probe.ReadAll("EDDY");
  std::set<std::string> ids;
  for (const auto& m : messages) ids.insert(m.headers.at("Nats-Msg-Id"));
  EXPECT_EQ(messages.size(), static_cast<size_t>(kRows));
  EXPECT_EQ(ids.size(), static_cast<size_t>(kRows));
  EXPECT_NE(probe.Leader("EDDY"), leader);
}

// Leader election with the stream as the consumers' source: two eddy processes on one slot, both
// publishing to JetStream with nats.required; kill -9 the leader under a steady write load. The
// standby resumes from the slot, which never passed what JetStream acknowledged, and republishes
// with the same Nats-Msg-Ids (positions come from the WAL, so they are the same in both eddys):
// the stream holds every row exactly once.
TEST(NatsTest, KilledLeaderUnderLoadLeavesEveryChangeInTheStreamOnce) {
  NatsServer nats;
  std::string db = NewDatabase();
  Sql(db, "CREATE TABLE e (id int PRIMARY KEY)");
  auto eddy = [&] {
    return std::vector<std::string>{EDDY_BINARY,  "--database",      db,        "--slot",
                                    "elect_nats", "--data-dir",      TempDir(), "--nats",
                                    nats.url(),   "--nats-required", "tail",    "--table",
                                    "e",          "--detail",        "id"};
  };
  Subprocess leader(eddy());
  ASSERT_TRUE(WaitForActiveSlot(db, "elect_nats")) << leader.Output();
  Subprocess standby(eddy());
  LoadWriter writer(db, "e", {.pause = std::chrono::milliseconds(2)});
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  leader.Kill(SIGKILL);
  ASSERT_TRUE(standby.WaitForOutput("\"key\"", std::chrono::seconds(15))) << standby.Output();
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  const int total = writer.Stop();
  ASSERT_GT(total, 10);
  StreamProbe probe(nats.url());
  ASSERT_TRUE(probe.WaitForCount("EDDY", total, std::chrono::seconds(30)))
      << probe.Count("EDDY") << " of " << total << "\n"
      << standby.Output().substr(0, 2000);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  std::map<std::string, int> per_subject;
  for (const StoredMessage& m : probe.ReadAll("EDDY")) ++per_subject[m.subject];
  EXPECT_EQ(static_cast<int>(per_subject.size()), total);
  for (int id = 1; id <= total; ++id) {
    EXPECT_EQ(per_subject[fmt::format("eddy.public.e.insert.{}", id)], 1) << "row " << id;
  }
}

}  // namespace
}  // namespace eddy::testing
