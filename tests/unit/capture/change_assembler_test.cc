#include "capture/change_assembler.h"

#include <filesystem>

#include <gtest/gtest.h>
#include <unistd.h>

#include "fakes/fake_change_sink.h"

namespace eddy::capture {
namespace {

using testing::FakeChangeSink;

pgoutput::Relation SongsRelation(char identity = 'd') {
  pgoutput::Relation r;
  r.id = RelationId(16384);
  r.schema = "public";
  r.name = "songs";
  r.replica_identity = identity;
  r.columns = {{1, "id", 23, -1}, {0, "title", 25, -1}};
  return r;
}

std::vector<Value> Row(const std::string& id, const std::string& title) {
  return {Value::Text(id), Value::Text(title)};
}

class ChangeAssemblerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/eddy-spool-XXXXXX";
    dir_ = mkdtemp(tmpl);
    spool_ = std::move(StreamSpool::Open(dir_ + "/spool")).value();
    Make(Lsn());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Make(Lsn skip) {
    assembler_ = std::make_unique<ChangeAssembler>(relations_, sink_, *spool_, types_, skip);
  }
  void Feed(const pgoutput::Message& m) {
    Status s = assembler_->Handle(m);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  pgoutput::Insert Insert(const std::string& id, std::optional<Xid> xid = std::nullopt) {
    pgoutput::Insert i;
    i.xid = xid;
    i.relation = RelationId(16384);
    i.new_tuple = Row(id, "t" + id);
    return i;
  }

  std::string dir_;
  BuiltinTypeResolver types_;
  RelationCache relations_{types_};
  FakeChangeSink sink_;
  std::unique_ptr<StreamSpool> spool_;
  std::unique_ptr<ChangeAssembler> assembler_;
};

TEST_F(ChangeAssemblerTest, NumbersChangesByCommitLsnAndIndex) {
  Feed(SongsRelation());
  Feed(pgoutput::Begin{Lsn(100), 5, Xid(7)});
  Feed(Insert("1"));
  Feed(Insert("2"));
  Feed(pgoutput::Commit{0, Lsn(100), Lsn(120), 5});
  ASSERT_EQ(sink_.changes.size(), 2u);
  EXPECT_EQ(sink_.changes[0].position, (Position{Lsn(100), 0}));
  EXPECT_EQ(sink_.changes[1].position, (Position{Lsn(100), 1}));
  EXPECT_EQ(sink_.changes[1].xid, Xid(7));
  EXPECT_EQ(sink_.changes[0].table->columns[0].kind, TypeKind::kInt32);
  EXPECT_TRUE(sink_.changes[0].table->columns[0].is_key);
  ASSERT_EQ(sink_.commits.size(), 1u);
  EXPECT_EQ(sink_.commits[0].end_lsn, Lsn(120));
  EXPECT_EQ(sink_.commits[0].change_count, 2u);
}

TEST_F(ChangeAssemblerTest, SkipsTransactionsAlreadyInTheLog) {
  Make(Lsn(100));
  Feed(SongsRelation());
  Feed(pgoutput::Begin{Lsn(100), 5, Xid(7)});
  Feed(Insert("1"));
  Feed(pgoutput::Commit{0, Lsn(100), Lsn(120), 5});
  Feed(pgoutput::Begin{Lsn(200), 5, Xid(8)});
  Feed(Insert("2"));
  Feed(pgoutput::Commit{0, Lsn(200), Lsn(220), 5});
  ASSERT_EQ(sink_.changes.size(), 1u);
  EXPECT_EQ(sink_.changes[0].position.commit_lsn, Lsn(200));
  EXPECT_EQ(assembler_->stats().skipped_transactions, 1u);
}

TEST_F(ChangeAssemblerTest, SchemaChangeBumpsVersionAndSameSchemaKeepsIt) {
  Feed(SongsRelation());
  auto v1 = relations_.Find(RelationId(16384));
  Feed(SongsRelation());
  EXPECT_EQ(relations_.Find(RelationId(16384)), v1);
  auto wider = SongsRelation();
  wider.columns.push_back({0, "artist", 25, -1});
  Feed(wider);
  EXPECT_EQ(relations_.Find(RelationId(16384))->schema_version, 2u);
  Feed(pgoutput::Begin{Lsn(100), 5, Xid(7)});
  pgoutput::Insert narrow = Insert("1");  // two columns for a three-column relation
  EXPECT_EQ(assembler_->Handle(narrow).code(), StatusCode::kCorruption);
}

TEST_F(ChangeAssemblerTest, ChangeForUnknownRelationIsCorruption) {
  Feed(pgoutput::Begin{Lsn(100), 5, Xid(7)});
  EXPECT_EQ(assembler_->Handle(Insert("1")).code(), StatusCode::kCorruption);
}

TEST_F(ChangeAssemblerTest, UpdateAndDeleteCarryOldRows) {
  Feed(SongsRelation('f'));
  Feed(pgoutput::Begin{Lsn(100), 5, Xid(7)});
  pgoutput::Update u;
  u.relation = RelationId(16384);
  u.old_kind = 'O';
  u.old_tuple = Row("1", "a");
  u.new_tuple = {Value::Text("1"), Value::Unchanged()};
  Feed(u);
  pgoutput::Delete d;
  d.relation = RelationId(16384);
  d.old_kind = 'K';
  d.old_tuple = {Value::Text("1"), Value::Null()};
  Feed(d);
  pgoutput::Truncate t;
  t.options = 1;
  t.relations = {RelationId(16384)};
  Feed(t);
  Feed(pgoutput::Commit{0, Lsn(100), Lsn(120), 5});
  ASSERT_EQ(sink_.changes.size(), 3u);
  EXPECT_EQ(sink_.changes[0].old_kind, OldRow::kFull);
  EXPECT_EQ(sink_.changes[0].new_row[1].kind, Value::Kind::kUnchanged);
  EXPECT_EQ(sink_.changes[1].old_kind, OldRow::kKey);
  EXPECT_EQ(sink_.changes[2].op, Op::kTruncate);
  EXPECT_EQ(sink_.changes[2].truncate_flags, 1);
}

TEST_F(ChangeAssemblerTest, StreamedTransactionIsReleasedOnCommitWithoutAbortedSubtransaction) {
  Feed(SongsRelation());
  Feed(pgoutput::StreamStart{Xid(50), true});
  Feed(Insert("1", Xid(50)));
  Feed(Insert("2", Xid(51)));
  Feed(pgoutput::StreamStop{});
  // A regular transaction commits while the big one is still open.
  Feed(pgoutput::Begin{Lsn(90), 5, Xid(60)});
  Feed(Insert("9"));
  Feed(pgoutput::Commit{0, Lsn(90), Lsn(95), 5});
  Feed(pgoutput::StreamStart{Xid(50), false});
  Feed(Insert("3", Xid(50)));
  Feed(pgoutput::StreamStop{});
  Feed(pgoutput::StreamAbort{Xid(50), Xid(51)});
  EXPECT_EQ(sink_.changes.size(), 1u);
  Feed(pgoutput::StreamCommit{Xid(50), 0, Lsn(200), Lsn(210), 6});
  ASSERT_EQ(sink_.changes.size(), 3u);
  EXPECT_EQ(sink_.changes[1].new_row[0].text, "1");
  EXPECT_EQ(sink_.changes[2].new_row[0].text, "3");
  EXPECT_EQ(sink_.changes[2].position, (Position{Lsn(200), 1}));
  EXPECT_EQ(sink_.commits.back().change_count, 2u);
  EXPECT_EQ(spool_->open_transactions(), 0u);
}

TEST_F(ChangeAssemblerTest, AbortedStreamIsDropped) {
  Feed(SongsRelation());
  Feed(pgoutput::StreamStart{Xid(50), true});
  Feed(Insert("1", Xid(50)));
  Feed(pgoutput::StreamStop{});
  Feed(pgoutput::StreamAbort{Xid(50), Xid(50)});
  EXPECT_EQ(spool_->open_transactions(), 0u);
  EXPECT_EQ(spool_->bytes_spooled(), 0u);
  EXPECT_TRUE(sink_.changes.empty());
}

TEST_F(ChangeAssemblerTest, ResetDiscardsThePartialTransaction) {
  Feed(SongsRelation());
  Feed(pgoutput::Begin{Lsn(100), 5, Xid(7)});
  Feed(Insert("1"));
  ASSERT_TRUE(assembler_->Reset().ok());
  EXPECT_EQ(sink_.discarded, 1u);
  EXPECT_FALSE(assembler_->InTransaction());
  // The replay after reconnect is accepted from the start.
  Feed(pgoutput::Begin{Lsn(100), 5, Xid(7)});
  Feed(Insert("1"));
  Feed(pgoutput::Commit{0, Lsn(100), Lsn(120), 5});
  EXPECT_EQ(sink_.changes.size(), 1u);
}

TEST_F(ChangeAssemblerTest, ProtocolViolationsAreErrorsNotCrashes) {
  Feed(SongsRelation());
  EXPECT_EQ(assembler_->Handle(pgoutput::Commit{0, Lsn(1), Lsn(2), 0}).code(),
            StatusCode::kCorruption);
  Feed(pgoutput::Begin{Lsn(100), 5, Xid(7)});
  EXPECT_EQ(assembler_->Handle(pgoutput::Begin{Lsn(100), 5, Xid(7)}).code(),
            StatusCode::kCorruption);
  EXPECT_EQ(assembler_->Handle(pgoutput::Commit{0, Lsn(99), Lsn(120), 5}).code(),
            StatusCode::kCorruption);
}

}  // namespace
}  // namespace eddy::capture
