#include "change/binary_codec.h"

#include <chrono>
#include <limits>

#include <gtest/gtest.h>

namespace eddy::change {
namespace {

std::shared_ptr<const Table> MakeTable(uint32_t schema_version = 3) {
  auto t = std::make_shared<Table>();
  t->relation_id = RelationId(16384);
  t->schema = "public";
  t->name = "orders";
  t->replica_identity = 'f';
  t->schema_version = schema_version;
  t->columns = {
      {"id", 20, -1, "int8", TypeKind::kInt64, TypeKind::kText, true},
      {"note", 25, -1, "text", TypeKind::kText, TypeKind::kText, false},
      {"tags", 1009, -1, "_text", TypeKind::kArray, TypeKind::kText, false},
      {"price", 1700, 655366, "numeric", TypeKind::kNumeric, TypeKind::kText, false},
  };
  return t;
}

Change MakeChange(const std::shared_ptr<const Table>& table) {
  Change c;
  c.position = {Lsn(0x16B3748), 7};
  c.xid = Xid(4242);
  c.commit_time_us = 1'700'000'000'123'456;
  c.op = Op::kUpdate;
  c.table = table;
  c.new_row = {Value::Text("1"), Value::Unchanged(), Value::Null(), Value::Text("")};
  c.old_row = {Value::Text("1"), Value::Text(std::string(300, 'x')), Value::Null(),
               Value::Text(std::string("a\0b", 3))};
  c.old_kind = OldRow::kFull;
  c.truncate_flags = 0;
  return c;
}

TableLookup LookupFor(const std::shared_ptr<const Table>& table) {
  return [table](RelationId rel, uint32_t version) -> std::shared_ptr<const Table> {
    if (rel == table->relation_id && version == table->schema_version) return table;
    return nullptr;
  };
}

TEST(BinaryCodecTest, TableRoundTrip) {
  auto table = MakeTable();
  std::string bytes;
  EncodeTable(*table, &bytes);
  auto decoded = DecodeTable(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  const Table& t = **decoded;
  EXPECT_EQ(t.relation_id, table->relation_id);
  EXPECT_EQ(t.schema, "public");
  EXPECT_EQ(t.name, "orders");
  EXPECT_EQ(t.replica_identity, 'f');
  EXPECT_EQ(t.schema_version, 3u);
  EXPECT_EQ(t.columns, table->columns);
}

TEST(BinaryCodecTest, ChangeRoundTripKeepsValueKinds) {
  auto table = MakeTable();
  Change c = MakeChange(table);
  std::string bytes;
  EncodeChange(c, &bytes);
  auto decoded = DecodeChange(bytes, LookupFor(table));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->position, c.position);
  EXPECT_EQ(decoded->xid, c.xid);
  EXPECT_EQ(decoded->commit_time_us, c.commit_time_us);
  EXPECT_EQ(decoded->op, Op::kUpdate);
  EXPECT_EQ(decoded->table, table);
  EXPECT_EQ(decoded->new_row, c.new_row);
  EXPECT_EQ(decoded->old_row, c.old_row);
  EXPECT_EQ(decoded->new_row[1].kind, Value::Kind::kUnchanged);
  EXPECT_EQ(decoded->new_row[2].kind, Value::Kind::kNull);
  EXPECT_EQ(decoded->new_row[3].kind, Value::Kind::kText);
  EXPECT_EQ(decoded->old_kind, OldRow::kFull);

  auto pos = DecodeChangePosition(bytes);
  ASSERT_TRUE(pos.ok());
  EXPECT_EQ(*pos, c.position);
}

TEST(BinaryCodecTest, ExtremeValuesRoundTrip) {
  auto table = MakeTable();
  Change c = MakeChange(table);
  c.position = {Lsn(std::numeric_limits<uint64_t>::max()), std::numeric_limits<uint32_t>::max()};
  c.xid = Xid(std::numeric_limits<uint32_t>::max());
  c.commit_time_us = std::numeric_limits<int64_t>::min();
  c.op = Op::kTruncate;
  c.new_row.clear();
  c.old_row.clear();
  c.old_kind = OldRow::kNone;
  c.truncate_flags = 3;
  std::string bytes;
  EncodeChange(c, &bytes);
  auto decoded = DecodeChange(bytes, LookupFor(table));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->position, c.position);
  EXPECT_EQ(decoded->xid, c.xid);
  EXPECT_EQ(decoded->commit_time_us, c.commit_time_us);
  EXPECT_EQ(decoded->op, Op::kTruncate);
  EXPECT_EQ(decoded->truncate_flags, 3);
  EXPECT_TRUE(decoded->new_row.empty());

  Commit commit{Xid(9), Lsn(0xFFFFFFFFFFFFFFFF), Lsn(1), std::numeric_limits<int64_t>::max(),
                std::numeric_limits<uint32_t>::max()};
  bytes.clear();
  EncodeCommit(commit, &bytes);
  auto d = DecodeCommit(bytes);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->xid, commit.xid);
  EXPECT_EQ(d->commit_lsn, commit.commit_lsn);
  EXPECT_EQ(d->end_lsn, commit.end_lsn);
  EXPECT_EQ(d->commit_time_us, commit.commit_time_us);
  EXPECT_EQ(d->change_count, commit.change_count);
}

TEST(BinaryCodecTest, CommitRoundTrip) {
  Commit commit{Xid(77), Lsn(0x1000), Lsn(0x1040), -5, 12};
  std::string bytes;
  EncodeCommit(commit, &bytes);
  auto d = DecodeCommit(bytes);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->xid, Xid(77));
  EXPECT_EQ(d->commit_lsn, Lsn(0x1000));
  EXPECT_EQ(d->end_lsn, Lsn(0x1040));
  EXPECT_EQ(d->commit_time_us, -5);
  EXPECT_EQ(d->change_count, 12u);
}

TEST(BinaryCodecTest, UnknownTableIsCorruption) {
  auto table = MakeTable();
  std::string bytes;
  EncodeChange(MakeChange(table), &bytes);
  auto other = MakeTable(4);
  auto decoded = DecodeChange(bytes, LookupFor(other));
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), StatusCode::kCorruption);
  EXPECT_NE(decoded.status().message().find("unknown table"), std::string::npos);
}

TEST(BinaryCodecTest, RowWidthMismatchIsCorruption) {
  auto table = MakeTable();
  Change c = MakeChange(table);
  c.new_row.pop_back();
  std::string bytes;
  EncodeChange(c, &bytes);
  auto decoded = DecodeChange(bytes, LookupFor(table));
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), StatusCode::kCorruption);
  EXPECT_NE(decoded.status().message().find("columns"), std::string::npos);
}

TEST(BinaryCodecTest, EveryTruncationIsAnErrorNeverACrash) {
  auto table = MakeTable();
  std::string change_bytes, table_bytes, commit_bytes;
  EncodeChange(MakeChange(table), &change_bytes);
  EncodeTable(*table, &table_bytes);
  EncodeCommit(Commit{Xid(1), Lsn(2), Lsn(3), 4, 5}, &commit_bytes);
  for (size_t n = 0; n < change_bytes.size(); ++n) {
    auto d = DecodeChange(std::string_view(change_bytes).substr(0, n), LookupFor(table));
    ASSERT_FALSE(d.ok()) << n;
    EXPECT_EQ(d.status().code(), StatusCode::kCorruption);
  }
  for (size_t n = 0; n < table_bytes.size(); ++n) {
    auto d = DecodeTable(std::string_view(table_bytes).substr(0, n));
    ASSERT_FALSE(d.ok()) << n;
    EXPECT_EQ(d.status().code(), StatusCode::kCorruption);
  }
  for (size_t n = 0; n < commit_bytes.size(); ++n) {
    ASSERT_FALSE(DecodeCommit(std::string_view(commit_bytes).substr(0, n)).ok()) << n;
  }
  // Trailing bytes are rejected as well.
  EXPECT_FALSE(DecodeCommit(commit_bytes + "x").ok());
  EXPECT_FALSE(DecodeTable(table_bytes + "x").ok());
}

TEST(BinaryCodecTest, HugeCountsAreRejectedBeforeAllocating) {
  // version, lsn, index, xid, time, op, old_kind, flags, rel, version, then a huge row width.
  std::string bytes;
  bytes.push_back(static_cast<char>(kBinaryFormatVersion));
  bytes.append(8, '\1');
  bytes.append({'\0', '\1', '\0', 'I', '\0', '\0', '\1', '\1'});
  bytes.append({'\xFF', '\xFF', '\xFF', '\xFF', '\x0F'});  // 2^32 - 1 values
  auto table = MakeTable(1);
  auto d = DecodeChange(bytes, LookupFor(table));
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("claims"), std::string::npos) << d.status().message();

  std::string tbytes;
  tbytes.push_back(static_cast<char>(kBinaryFormatVersion));
  tbytes.append({'\1', '\0', '\0', 'd', '\1'});
  tbytes.append({'\xFF', '\xFF', '\xFF', '\xFF', '\x0F'});
  auto t = DecodeTable(tbytes);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("claims"), std::string::npos) << t.status().message();
}

TEST(BinaryCodecTest, BadEnumsAreCorruption) {
  auto table = MakeTable();
  std::string bytes;
  EncodeChange(MakeChange(table), &bytes);
  std::string bad_op = bytes;
  bad_op[1 + 8 + 1 + 2 + 8] = 'X';  // version, lsn, index(1), xid(2), time(8) -> op
  auto d = DecodeChange(bad_op, LookupFor(table));
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("op"), std::string::npos) << d.status().message();
  std::string bad_version = bytes;
  bad_version[0] = 9;
  EXPECT_FALSE(DecodeChange(bad_version, LookupFor(table)).ok());
}

TEST(BinaryCodecTest, FlippedBytesNeverCrash) {
  auto table = MakeTable();
  std::string bytes;
  EncodeChange(MakeChange(table), &bytes);
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string copy = bytes;
      copy[i] = static_cast<char>(copy[i] ^ (1 << bit));
      (void)DecodeChange(copy, LookupFor(table));
    }
  }
}

TEST(BinaryCodecTest, OneMillionChangesDecodeQuickly) {
  auto table = MakeTable();
  Change c = MakeChange(table);
  c.old_row.clear();
  c.old_kind = OldRow::kNone;
  c.new_row = {Value::Text("123456"), Value::Text("a short note"), Value::Null(),
               Value::Text("19.99")};
  std::string bytes;
  EncodeChange(c, &bytes);
  TableLookup lookup = LookupFor(table);
  constexpr int kCount = 1'000'000;
  auto start = std::chrono::steady_clock::now();
  size_t total = 0;
  std::string buf;
  for (int i = 0; i < kCount; ++i) {
    buf.clear();
    c.position.index = static_cast<uint32_t>(i);
    EncodeChange(c, &buf);
    auto d = DecodeChange(buf, lookup);
    total += d->new_row.size();
  }
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(total, 4u * kCount);
  // Generous: sanitizer builds are several times slower than release ones.
  EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count(), 10'000);
  RecordProperty(
      "encode_decode_1m_ms",
      static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()));
}

}  // namespace
}  // namespace eddy::change
