#include "server/config.h"

#include <fstream>
#include <map>

#include <gtest/gtest.h>
#include <unistd.h>

namespace eddy::server {
namespace {

std::string WriteFile(const std::string& text) {
  char tmpl[] = "/tmp/eddy-config-XXXXXX";
  int fd = mkstemp(tmpl);
  close(fd);
  std::ofstream(tmpl) << text;
  return tmpl;
}

TEST(ConfigTest, ReadsEverySection) {
  std::string path = WriteFile(
      "[source]\ndatabase_url = 'postgresql://u@h/db'\n"
      "[capture]\nslot = 's1'\npublication = 'p1'\ntables = ['public.songs', 'playlists']\n"
      "recreate_slot = true\n"
      "[log]\ndata_dir = '/var/lib/eddy'\nsegment_mb = 16\nretention_mb = 1024\n"
      "retention_hours = 48\nfsync = false\n");
  Config c;
  ASSERT_TRUE(ApplyConfigFile(path, &c).ok());
  EXPECT_EQ(c.watcher.database_url, "postgresql://u@h/db");
  EXPECT_EQ(c.watcher.slot, "s1");
  EXPECT_EQ(c.watcher.publication, "p1");
  EXPECT_EQ(c.watcher.tables, (std::vector<std::string>{"public.songs", "playlists"}));
  EXPECT_TRUE(c.watcher.recreate_slot);
  EXPECT_EQ(c.watcher.data_dir, "/var/lib/eddy");
  EXPECT_EQ(c.watcher.segment_bytes, 16u << 20);
  EXPECT_EQ(c.watcher.retention_bytes, 1024ull << 20);
  EXPECT_EQ(c.watcher.retention_age_seconds, 48 * 3600);
  EXPECT_FALSE(c.watcher.fsync);
  EXPECT_TRUE(Validate(c).ok());
  unlink(path.c_str());
}

TEST(ConfigTest, ErrorsNameTheKeyAndTheFix) {
  struct Case {
    const char* toml;
    const char* expect;
  };
  for (const Case& k :
       {Case{"[capture]\nslot = 5\n", "capture.slot"},
        Case{"[capture]\nsloot = 'x'\n", "capture.sloot"},
        Case{"[nope]\n", "unknown section [nope]"},
        Case{"[log]\nsegment_mb = 0\n", "log.segment_mb"},
        Case{"[capture]\ntables = 'songs'\n", "capture.tables"}, Case{"[capture\n", "line 1"}}) {
    std::string path = WriteFile(k.toml);
    Config c;
    Status s = ApplyConfigFile(path, &c);
    EXPECT_FALSE(s.ok()) << k.toml;
    EXPECT_NE(s.message().find(k.expect), std::string::npos) << s.message();
    unlink(path.c_str());
  }
  Config missing;
  EXPECT_FALSE(ApplyConfigFile("/nonexistent/eddy.toml", &missing).ok());
}

const std::map<std::string, std::string>* g_env = nullptr;
const char* FakeGetenv(const char* name) {
  auto it = g_env->find(name);
  return it == g_env->end() ? nullptr : it->second.c_str();
}

TEST(ConfigTest, EnvironmentOverridesTheFile) {
  std::map<std::string, std::string> env = {{"DATABASE_URL", "host=a"},
                                            {"EDDY_SLOT", "s2"},
                                            {"EDDY_TABLES", "a, b.c"},
                                            {"EDDY_FSYNC", "off"}};
  g_env = &env;
  Config c;
  ASSERT_TRUE(ApplyEnvironment(&c, FakeGetenv).ok());
  EXPECT_EQ(c.watcher.database_url, "host=a");
  EXPECT_EQ(c.watcher.slot, "s2");
  EXPECT_EQ(c.watcher.tables, (std::vector<std::string>{"a", "b.c"}));
  EXPECT_FALSE(c.watcher.fsync);
  env["EDDY_FSYNC"] = "maybe";
  Status s = ApplyEnvironment(&c, FakeGetenv);
  EXPECT_NE(s.message().find("EDDY_FSYNC"), std::string::npos);
}

TEST(ConfigTest, ValidateRejectsBadNames) {
  Config c;
  c.watcher.slot = "Bad-Slot";
  EXPECT_NE(Validate(c).message().find("capture.slot"), std::string::npos);
  c.watcher.slot = "ok";
  c.watcher.tables = {"a.b.c"};
  EXPECT_NE(Validate(c).message().find("capture.tables"), std::string::npos);
}

TEST(ConfigTest, ReadsWebhooksAndNamesBadKeys) {
  std::string path = WriteFile(
      "[[webhooks]]\nname = 'orders'\nurl = 'http://127.0.0.1:9000/in'\n"
      "secret = '0123456789abcdef'\nbatch_max = 50\ntimeout_ms = 1000\n"
      "backoff_min_ms = 10\nbackoff_max_ms = 100\ntables = ['orders']\n"
      "[[webhooks]]\nname = 'all'\nurl = 'https://h/'\nsecret = 'fedcba9876543210'\n");
  Config c;
  Status s = ApplyConfigFile(path, &c);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(c.webhooks.size(), 2u);
  EXPECT_EQ(c.webhooks[0].name, "orders");
  EXPECT_EQ(c.webhooks[0].batch_max, 50);
  EXPECT_EQ(c.webhooks[0].backoff_max_ms, 100);
  EXPECT_EQ(c.webhooks[0].tables, (std::vector<std::string>{"orders"}));
  EXPECT_EQ(c.webhooks[1].batch_max, 100);
  EXPECT_EQ(c.webhooks[1].url, "https://h/");
  EXPECT_EQ(c.webhooks[1].ca_file, "");
  unlink(path.c_str());
  struct Case {
    const char* toml;
    const char* expect;
  };
  for (const Case& k :
       {Case{"[[webhooks]]\nname = 'a'\nurl = 'ftp://x/'\nsecret = "
             "'0123456789abcdef'\n",
             "webhooks[0].url"},
        Case{"[[webhooks]]\nname = 'a'\nurl = 'http://x/'\nsecret = "
             "'0123456789abcdef'\nca_file = '/etc/hostname'\n",
             "webhooks[0].ca_file: only for https://"},
        Case{"[[webhooks]]\nname = 'a'\nurl = 'https://x/'\nsecret = "
             "'0123456789abcdef'\nca_file = '/nonexistent/ca.pem'\n",
             "webhooks[0].ca_file: cannot load CA certificates"},
        Case{"[[webhooks]]\nname = 'a'\nurl = 'http://x/'\nsecret = 's'\n", "webhooks[0].secret"},
        Case{"[[webhooks]]\nnmae = 'a'\n", "webhooks[0]: unknown key nmae"},
        Case{"[[webhooks]]\nname = 'a'\nurl = 'http://x/'\nsecret = "
             "'0123456789abcdef'\nbatch_max = 'x'\n",
             "webhooks[0].batch_max"},
        Case{"webhooks = 3\n", "webhooks"}}) {
    std::string bad = WriteFile(k.toml);
    Config b;
    Status e = ApplyConfigFile(bad, &b);
    EXPECT_FALSE(e.ok()) << k.toml;
    EXPECT_NE(e.message().find(k.expect), std::string::npos) << e.message();
    unlink(bad.c_str());
  }
}

TEST(ConfigTest, ReadsExecConsumersAndNamesBadKeys) {
  std::string path = WriteFile(
      "[[consumers]]\nname = 'search'\nexec = './index.sh'\ntables = ['songs']\n"
      "ops = ['insert', 'update']\nlanes = 2\nmax_attempts = 3\nbackoff_min_ms = 10\n"
      "backoff_max_ms = 100\nmax_in_flight = 50\nfrom = 'start'\n"
      "[[consumers]]\nname = 'audit'\nexec = 'cat >> audit.jsonl'\n");
  Config c;
  Status s = ApplyConfigFile(path, &c);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(c.consumers.size(), 2u);
  const ConsumerOptions& search = c.consumers[0].consumer;
  EXPECT_EQ(search.name, "search");
  EXPECT_EQ(c.consumers[0].exec, "./index.sh");
  EXPECT_EQ(search.tables, (std::vector<std::string>{"songs"}));
  EXPECT_EQ(search.ops, (std::vector<Op>{Op::kInsert, Op::kUpdate}));
  EXPECT_EQ(search.lanes, 2);
  EXPECT_EQ(search.max_attempts, 3);
  EXPECT_EQ(search.backoff_min_ms, 10);
  EXPECT_EQ(search.backoff_max_ms, 100);
  EXPECT_EQ(search.max_in_flight, 50);
  EXPECT_TRUE(search.from_start);
  const ConsumerOptions& audit = c.consumers[1].consumer;
  EXPECT_EQ(audit.lanes, ConsumerOptions().lanes);
  EXPECT_EQ(audit.max_attempts, ConsumerOptions().max_attempts);
  EXPECT_FALSE(audit.from_start);
  EXPECT_TRUE(audit.ops.empty());
  unlink(path.c_str());
  struct Case {
    const char* toml;
    const char* expect;
  };
  for (const Case& k : {
           Case{"[[consumers]]\nname = 'a'\n", "consumers[0].exec: required"},
           Case{"[[consumers]]\nname = 'a b'\nexec = 'true'\n", "consumers[0].name"},
           Case{"[[consumers]]\nname = 'a'\nexec = 'true'\nlanes = 0\n", "consumers[0].lanes"},
           Case{"[[consumers]]\nname = 'a'\nexec = 'true'\nmax_attempts = 0\n",
                "consumers[0].max_attempts"},
           Case{"[[consumers]]\nname = 'a'\nexec = 'true'\nops = ['upsert']\n", "consumers[0].ops"},
           Case{"[[consumers]]\nname = 'a'\nexec = 'true'\nfrom = 'yesterday'\n",
                "consumers[0].from"},
           Case{"[[consumers]]\nname = 'a'\nexec = 1\n", "consumers[0].exec: must be a string"},
           Case{"[[consumers]]\nname = 'a'\nexec = 'true'\ncommand = 'x'\n",
                "consumers[0]: unknown key command"},
           Case{"[[consumers]]\nname = 'a'\nexec = 'true'\n[[consumers]]\nname = 'a'\n"
                "exec = 'false'\n",
                "consumers[1].name: \"a\" is used twice"},
           Case{"consumers = 'x'\n", "consumers: must be an array of tables"},
       }) {
    std::string bad = WriteFile(k.toml);
    Config b;
    Status e = ApplyConfigFile(bad, &b);
    EXPECT_FALSE(e.ok()) << k.toml;
    EXPECT_NE(e.message().find(k.expect), std::string::npos) << e.message();
    unlink(bad.c_str());
  }
}

}  // namespace
}  // namespace eddy::server

namespace eddy::server {
namespace {

// Trigger mode and NATS settings: every bad value is an error that names the key and the fix,
// whether the file's reader or the final check catches it.
TEST(ConfigTest, CaptureModeTriggersAndNatsNameBadValues) {
  struct Case {
    const char* toml;
    const char* expect;
  };
  for (const Case& k : {
           Case{"[capture]\nmode = 'wal'\n", "capture.mode: \"wal\" is not a mode"},
           Case{"[capture]\nmode = 'nats'\n", "nats.url: required with capture.mode = \"nats\""},
           Case{"[triggers]\npoll_ms = 1\n", "triggers.poll_ms: must be 10 to 60000"},
           Case{"[triggers]\nschema = ''\n", "triggers.schema: must be 1 to 63 bytes"},
           Case{"[triggers]\nchanel = 'x'\n", "unknown key triggers.chanel"},
           Case{"[nats]\npublish = true\n", "nats.url: required with nats.publish"},
           Case{"[nats]\nurl = 'nats://127.0.0.1:4222'\nrequired = true\n",
                "nats.required: needs nats.publish = true"},
           Case{"[nats]\nurl = 'nats://127.0.0.1:4222'\nreplicas = 7\n",
                "nats.replicas: must be 1 to 5"},
           Case{"[nats]\nurl = 'nats://127.0.0.1:4222'\nduplicate_window_s = 0\n",
                "nats.duplicate_window_s: must be 1 to 86400"},
           Case{"[nats]\nurl = 'nats://127.0.0.1:4222'\nbody = 'xml'\n",
                "nats.body: \"xml\" is not binary or json"},
       }) {
    std::string path =
        WriteFile(std::string("[source]\ndatabase_url = 'postgresql://h/db'\n") + k.toml);
    Config c;
    Status s = ApplyConfigFile(path, &c);
    if (s.ok()) s = Validate(c);
    EXPECT_FALSE(s.ok()) << k.toml;
    EXPECT_NE(s.message().find(k.expect), std::string::npos) << k.toml << " -> " << s.message();
    unlink(path.c_str());
  }
}

}  // namespace
}  // namespace eddy::server

namespace eddy::server {
namespace {

TEST(ConfigTest, ShapesSectionIsReadAndBadValuesNameTheKey) {
  std::string path = WriteFile(
      "[source]\ndatabase_url = 'postgresql://h/db'\n[shapes]\nchunk_kb = 10\n"
      "long_poll_timeout_ms = 3000\nsecret = 's'\nallow_delete = true\nmax_shapes = 100\n");
  Config c;
  ASSERT_TRUE(ApplyConfigFile(path, &c).ok());
  EXPECT_EQ(c.shapes.chunk_kb, 10);
  EXPECT_EQ(c.shapes.long_poll_timeout_ms, 3000);
  EXPECT_EQ(c.shapes.secret, "s");
  EXPECT_TRUE(c.shapes.allow_delete);
  EXPECT_EQ(c.shapes.max_shapes, 100);
  EXPECT_TRUE(c.shapes.enabled);
  unlink(path.c_str());
  struct Case {
    const char* toml;
    const char* expect;
  };
  for (const Case& k : {
           Case{"[shapes]\nchunk_kb = 0\n", "shapes.chunk_kb: must be at least 1"},
           Case{"[shapes]\nlong_poll_timeout_ms = 60000\n",
                "shapes.long_poll_timeout_ms: must be 100 to 40000"},
           Case{"[shapes]\nworkers = 0\n", "shapes.workers: must be 1 to 64"},
           Case{"[shapes]\nmax_disk_mb = -1\n", "shapes.max_shapes / shapes.max_disk_mb"},
           Case{"[shapes]\nchunk = 1\n", "unknown key shapes.chunk"},
           Case{"[shapes]\nsecret = 7\n", "shapes.secret"},
       }) {
    std::string file =
        WriteFile(std::string("[source]\ndatabase_url = 'postgresql://h/db'\n") + k.toml);
    Config config;
    Status s = ApplyConfigFile(file, &config);
    if (s.ok()) s = Validate(config);
    EXPECT_FALSE(s.ok()) << k.toml;
    EXPECT_NE(s.message().find(k.expect), std::string::npos) << k.toml << " -> " << s.message();
    unlink(file.c_str());
  }
}

TEST(ConfigTest, SchemaSectionIsReadAndBadValuesNameTheKey) {
  std::string path =
      WriteFile("[schema]\ndir = 'db/migrations'\nhistory_schema = 'ops'\nhash_check_ms = 250\n");
  Config c;
  ASSERT_TRUE(ApplyConfigFile(path, &c).ok());
  EXPECT_EQ(c.schema.dir, "db/migrations");
  EXPECT_EQ(c.schema.history_schema, "ops");
  EXPECT_EQ(c.schema.hash_check_ms, 250);
  EXPECT_TRUE(Validate(c).ok());
  c.schema.hash_check_ms = 10;
  Status bad = Validate(c);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("schema.hash_check_ms"), std::string::npos);
  c.schema.hash_check_ms = 5000;
  c.schema.history_schema = "";
  EXPECT_NE(Validate(c).message().find("schema.history_schema"), std::string::npos);
  unlink(path.c_str());
  path = WriteFile("[schema]\ndirectory = 'x'\n");
  Config fresh;
  Status unknown = ApplyConfigFile(path, &fresh);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.message().find("unknown key schema.directory"), std::string::npos)
      << unknown.message();
  unlink(path.c_str());
}

}  // namespace
}  // namespace eddy::server
