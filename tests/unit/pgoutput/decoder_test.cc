#include "pgoutput/decoder.h"

#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/byte_reader.h"
#include "pgoutput/messages.h"

namespace eddy::pgoutput {
namespace {

// 2024-01-02 03:04:05.678901 UTC in PostgreSQL's epoch (2000-01-01) and in the Unix epoch.
constexpr int64_t kPgTime = 757479845678901;
constexpr int64_t kUnixTime = kPgTime + 946684800000000;

// Builds one message the way pgoutput writes it.
class Bytes {
 public:
  explicit Bytes(char type) { w_.WriteU8(static_cast<uint8_t>(type)); }
  Bytes& U8(uint8_t v) {
    w_.WriteU8(v);
    return *this;
  }
  Bytes& I16(int16_t v) {
    w_.WriteU16(static_cast<uint16_t>(v));
    return *this;
  }
  Bytes& I32(int32_t v) {
    w_.WriteU32(static_cast<uint32_t>(v));
    return *this;
  }
  Bytes& I64(int64_t v) {
    w_.WriteI64(v);
    return *this;
  }
  Bytes& Str(std::string_view s) {
    w_.WriteCString(s);
    return *this;
  }
  Bytes& Raw(std::string_view s) {
    w_.WriteBytes(s);
    return *this;
  }
  // Tuple columns.
  Bytes& Null() { return U8('n'); }
  Bytes& Unchanged() { return U8('u'); }
  Bytes& Text(std::string_view s, char kind = 't') {
    U8(static_cast<uint8_t>(kind)).I32(static_cast<int32_t>(s.size()));
    return Raw(s);
  }
  std::string str() const { return bytes_; }
  operator std::string() const { return bytes_; }  // NOLINT(google-explicit-constructor)

 private:
  std::string bytes_;
  ByteWriter w_{&bytes_};
};

std::string BeginBytes() { return Bytes('B').I64(0x16B3748).I64(kPgTime).I32(754); }
std::string CommitBytes() { return Bytes('C').U8(0).I64(0x16B3748).I64(0x16B3780).I64(kPgTime); }
std::string StreamStartBytes(uint32_t xid, bool first) {
  return Bytes('S').I32(static_cast<int32_t>(xid)).U8(first ? 1 : 0);
}
std::string StreamStopBytes() { return Bytes('E'); }

// A Relation with two columns; in a stream block pass the xid.
std::string RelationBytes(std::optional<uint32_t> xid = std::nullopt) {
  Bytes b('R');
  if (xid) b.I32(static_cast<int32_t>(*xid));
  return b.I32(16384)
      .Str("public")
      .Str("items")
      .U8('d')
      .I16(2)
      .U8(1)
      .Str("id")
      .I32(23)
      .I32(-1)
      .U8(0)
      .Str("name")
      .I32(1043)
      .I32(24);
}

std::string InsertBytes(std::optional<uint32_t> xid = std::nullopt) {
  Bytes b('I');
  if (xid) b.I32(static_cast<int32_t>(*xid));
  return b.I32(16384).U8('N').I16(3).Text("1").Null().Unchanged();
}

template <class T>
T DecodeAs(Decoder& decoder, const std::string& bytes) {
  Result<Message> m = decoder.Decode(bytes);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  if (!m.ok()) return T{};
  EXPECT_TRUE(std::holds_alternative<T>(*m)) << Describe(*m);
  if (!std::holds_alternative<T>(*m)) return T{};
  return std::get<T>(*std::move(m));
}

template <class T>
T DecodeAs(const std::string& bytes) {
  Decoder decoder;
  return DecodeAs<T>(decoder, bytes);
}

// Decodes and expects a kCorruption whose message contains `want`; returns the message.
std::string ErrorOf(Decoder& decoder, const std::string& bytes) {
  Result<Message> m = decoder.Decode(bytes);
  EXPECT_FALSE(m.ok()) << Describe(*m);
  if (m.ok()) return "";
  EXPECT_EQ(m.status().code(), StatusCode::kCorruption) << m.status().ToString();
  return m.status().message();
}

std::string ErrorOf(const std::string& bytes) {
  Decoder decoder;
  return ErrorOf(decoder, bytes);
}

// ---- each message type ------------------------------------------------------------------------

TEST(DecoderTest, Begin) {
  Begin m = DecodeAs<Begin>(BeginBytes());
  EXPECT_EQ(m.final_lsn, Lsn(0x16B3748));
  EXPECT_EQ(m.commit_time_us, kUnixTime);
  EXPECT_EQ(m.xid, Xid(754));
  EXPECT_EQ(Describe(m), "Begin final_lsn=0/16B3748 commit_time_us=1704164645678901 xid=754");
}

TEST(DecoderTest, Commit) {
  Commit m = DecodeAs<Commit>(CommitBytes());
  EXPECT_EQ(m.flags, 0);
  EXPECT_EQ(m.commit_lsn, Lsn(0x16B3748));
  EXPECT_EQ(m.end_lsn, Lsn(0x16B3780));
  EXPECT_EQ(m.commit_time_us, kUnixTime);
  EXPECT_EQ(
      Describe(m),
      "Commit flags=0 commit_lsn=0/16B3748 end_lsn=0/16B3780 commit_time_us=1704164645678901");
}

TEST(DecoderTest, TimesBeforeThePostgresEpochAreNegativeOffsets) {
  Begin m = DecodeAs<Begin>(Bytes('B').I64(1).I64(-946684800000000).I32(1));
  EXPECT_EQ(m.commit_time_us, 0);
}

TEST(DecoderTest, Origin) {
  Origin m = DecodeAs<Origin>(Bytes('O').I64(0xABCDEF0).Str("upstream_a"));
  EXPECT_EQ(m.commit_lsn, Lsn(0xABCDEF0));
  EXPECT_EQ(m.name, "upstream_a");
  EXPECT_EQ(Describe(m), "Origin commit_lsn=0/ABCDEF0 name=\"upstream_a\"");
}

TEST(DecoderTest, Relation) {
  Relation m = DecodeAs<Relation>(RelationBytes());
  EXPECT_EQ(m.xid, std::nullopt);
  EXPECT_EQ(m.id, RelationId(16384));
  EXPECT_EQ(m.schema, "public");
  EXPECT_EQ(m.name, "items");
  EXPECT_EQ(m.replica_identity, 'd');
  ASSERT_EQ(m.columns.size(), 2u);
  EXPECT_EQ(m.columns[0], (RelationColumn{1, "id", 23, -1}));
  EXPECT_TRUE(m.columns[0].IsKey());
  EXPECT_EQ(m.columns[1], (RelationColumn{0, "name", 1043, 24}));
  EXPECT_FALSE(m.columns[1].IsKey());
  EXPECT_EQ(Describe(m),
            "Relation xid=- rel=16384 schema=\"public\" name=\"items\" replident=d "
            "columns=[{\"id\" flags=1 type=23 typmod=-1}, {\"name\" flags=0 type=1043 typmod=24}]");
}

TEST(DecoderTest, RelationWithoutColumns) {
  Relation m = DecodeAs<Relation>(Bytes('R').I32(1).Str("s").Str("t").U8('n').I16(0));
  EXPECT_EQ(m.replica_identity, 'n');
  EXPECT_TRUE(m.columns.empty());
}

TEST(DecoderTest, RelationAcceptsEveryReplicaIdentity) {
  for (char identity : {'d', 'n', 'f', 'i'}) {
    Relation m = DecodeAs<Relation>(
        Bytes('R').I32(1).Str("s").Str("t").U8(static_cast<uint8_t>(identity)).I16(0));
    EXPECT_EQ(m.replica_identity, identity);
  }
}

TEST(DecoderTest, Type) {
  Type m = DecodeAs<Type>(Bytes('Y').I32(16385).Str("public").Str("mood"));
  EXPECT_EQ(m.xid, std::nullopt);
  EXPECT_EQ(m.oid, 16385u);
  EXPECT_EQ(m.schema, "public");
  EXPECT_EQ(m.name, "mood");
  EXPECT_EQ(Describe(m), "Type xid=- oid=16385 schema=\"public\" name=\"mood\"");
}

TEST(DecoderTest, InsertWithEveryColumnKind) {
  std::string binary("\x00\x01\xff", 3);
  Insert m = DecodeAs<Insert>(
      Bytes('I').I32(16384).U8('N').I16(5).Text("1").Null().Unchanged().Text(binary, 'b').Text(""));
  EXPECT_EQ(m.xid, std::nullopt);
  EXPECT_EQ(m.relation, RelationId(16384));
  EXPECT_EQ(m.new_tuple, (std::vector<Value>{Value::Text("1"), Value::Null(), Value::Unchanged(),
                                             Value::Text(binary), Value::Text("")}));
  EXPECT_EQ(Describe(m),
            "Insert xid=- rel=16384 new=[t:\"1\", n, u, t:\"\\x00\\x01\\xff\", t:\"\"]");
}

TEST(DecoderTest, InsertWithZeroColumns) {
  Insert m = DecodeAs<Insert>(Bytes('I').I32(7).U8('N').I16(0));
  EXPECT_TRUE(m.new_tuple.empty());
  EXPECT_EQ(Describe(m), "Insert xid=- rel=7 new=[]");
}

TEST(DecoderTest, UpdateWithoutOldTuple) {
  Update m = DecodeAs<Update>(Bytes('U').I32(16384).U8('N').I16(2).Text("1").Unchanged());
  EXPECT_EQ(m.old_kind, '\0');
  EXPECT_TRUE(m.old_tuple.empty());
  EXPECT_EQ(m.new_tuple, (std::vector<Value>{Value::Text("1"), Value::Unchanged()}));
  EXPECT_EQ(Describe(m), "Update xid=- rel=16384 new=[t:\"1\", u]");
}

TEST(DecoderTest, UpdateWithOldKey) {
  Update m = DecodeAs<Update>(
      Bytes('U').I32(16384).U8('K').I16(2).Text("1").Null().U8('N').I16(2).Text("2").Text("x"));
  EXPECT_EQ(m.old_kind, 'K');
  EXPECT_EQ(m.old_tuple, (std::vector<Value>{Value::Text("1"), Value::Null()}));
  EXPECT_EQ(m.new_tuple, (std::vector<Value>{Value::Text("2"), Value::Text("x")}));
  EXPECT_EQ(Describe(m), "Update xid=- rel=16384 old=K[t:\"1\", n] new=[t:\"2\", t:\"x\"]");
}

TEST(DecoderTest, UpdateWithFullOldRow) {
  Update m = DecodeAs<Update>(
      Bytes('U').I32(16384).U8('O').I16(2).Text("1").Text("a").U8('N').I16(2).Text("1").Text("b"));
  EXPECT_EQ(m.old_kind, 'O');
  EXPECT_EQ(m.old_tuple, (std::vector<Value>{Value::Text("1"), Value::Text("a")}));
  EXPECT_EQ(Describe(m), "Update xid=- rel=16384 old=O[t:\"1\", t:\"a\"] new=[t:\"1\", t:\"b\"]");
}

TEST(DecoderTest, DeleteWithKeyAndWithFullRow) {
  Delete k = DecodeAs<Delete>(Bytes('D').I32(16384).U8('K').I16(2).Text("1").Null());
  EXPECT_EQ(k.old_kind, 'K');
  EXPECT_EQ(k.old_tuple, (std::vector<Value>{Value::Text("1"), Value::Null()}));
  EXPECT_EQ(Describe(k), "Delete xid=- rel=16384 old=K[t:\"1\", n]");
  Delete o = DecodeAs<Delete>(Bytes('D').I32(16384).U8('O').I16(1).Text("1"));
  EXPECT_EQ(o.old_kind, 'O');
  EXPECT_EQ(Describe(o), "Delete xid=- rel=16384 old=O[t:\"1\"]");
}

TEST(DecoderTest, Truncate) {
  Truncate m = DecodeAs<Truncate>(Bytes('T').I32(2).U8(3).I32(16384).I32(16390));
  EXPECT_EQ(m.options, Truncate::kCascade | Truncate::kRestartIdentity);
  EXPECT_EQ(m.relations, (std::vector<RelationId>{RelationId(16384), RelationId(16390)}));
  EXPECT_EQ(Describe(m), "Truncate xid=- options=3 rels=[16384, 16390]");
  Truncate none = DecodeAs<Truncate>(Bytes('T').I32(0).U8(0));
  EXPECT_TRUE(none.relations.empty());
}

TEST(DecoderTest, LogicalMessages) {
  std::string content("a\0\"b\\\n", 6);
  LogicalMessage tx = DecodeAs<LogicalMessage>(Bytes('M')
                                                   .U8(1)
                                                   .I64(0x1600000)
                                                   .Str("eddy")
                                                   .I32(static_cast<int32_t>(content.size()))
                                                   .Raw(content));
  EXPECT_TRUE(tx.transactional);
  EXPECT_EQ(tx.lsn, Lsn(0x1600000));
  EXPECT_EQ(tx.prefix, "eddy");
  EXPECT_EQ(tx.content, content);
  EXPECT_EQ(Describe(tx),
            "Message xid=- transactional=true lsn=0/1600000 prefix=\"eddy\" "
            "content=\"a\\x00\\\"b\\\\\\n\"");
  LogicalMessage non = DecodeAs<LogicalMessage>(Bytes('M').U8(0).I64(1).Str("").I32(0));
  EXPECT_FALSE(non.transactional);
  EXPECT_TRUE(non.content.empty());
}

TEST(DecoderTest, StreamMessages) {
  Decoder decoder;
  StreamStart start = DecodeAs<StreamStart>(decoder, StreamStartBytes(754, true));
  EXPECT_EQ(start.xid, Xid(754));
  EXPECT_TRUE(start.first_segment);
  EXPECT_TRUE(decoder.in_stream());
  EXPECT_EQ(Describe(start), "StreamStart xid=754 first_segment=true");
  EXPECT_EQ(Describe(DecodeAs<StreamStop>(decoder, StreamStopBytes())), "StreamStop");
  EXPECT_FALSE(decoder.in_stream());
  EXPECT_FALSE(DecodeAs<StreamStart>(decoder, StreamStartBytes(754, false)).first_segment);
  DecodeAs<StreamStop>(decoder, StreamStopBytes());

  StreamCommit commit = DecodeAs<StreamCommit>(
      decoder, Bytes('c').I32(754).U8(0).I64(0x16B3748).I64(0x16B3780).I64(kPgTime));
  EXPECT_EQ(commit.xid, Xid(754));
  EXPECT_EQ(commit.commit_lsn, Lsn(0x16B3748));
  EXPECT_EQ(commit.end_lsn, Lsn(0x16B3780));
  EXPECT_EQ(commit.commit_time_us, kUnixTime);
  EXPECT_EQ(Describe(commit),
            "StreamCommit xid=754 flags=0 commit_lsn=0/16B3748 end_lsn=0/16B3780 "
            "commit_time_us=1704164645678901");

  StreamAbort abort = DecodeAs<StreamAbort>(decoder, Bytes('A').I32(754).I32(756));
  EXPECT_EQ(abort.xid, Xid(754));
  EXPECT_EQ(abort.subxid, Xid(756));
  EXPECT_EQ(Describe(abort), "StreamAbort xid=754 subxid=756");
}

// Inside a stream block every change message carries the xid after its type byte.
TEST(DecoderTest, ChangesInAStreamCarryAnXid) {
  Decoder decoder;
  DecodeAs<StreamStart>(decoder, StreamStartBytes(754, true));
  EXPECT_EQ(DecodeAs<Origin>(decoder, Bytes('O').I64(1).Str("o")).name, "o");
  EXPECT_EQ(DecodeAs<Relation>(decoder, RelationBytes(754)).xid, Xid(754));
  EXPECT_EQ(DecodeAs<Type>(decoder, Bytes('Y').I32(754).I32(1).Str("s").Str("t")).xid, Xid(754));
  Insert insert = DecodeAs<Insert>(decoder, InsertBytes(756));
  EXPECT_EQ(insert.xid, Xid(756));
  EXPECT_EQ(Describe(insert), "Insert xid=756 rel=16384 new=[t:\"1\", n, u]");
  EXPECT_EQ(DecodeAs<Update>(decoder, Bytes('U').I32(754).I32(1).U8('N').I16(0)).xid, Xid(754));
  EXPECT_EQ(DecodeAs<Delete>(decoder, Bytes('D').I32(754).I32(1).U8('K').I16(0)).xid, Xid(754));
  EXPECT_EQ(DecodeAs<Truncate>(decoder, Bytes('T').I32(754).I32(1).U8(0).I32(9)).xid, Xid(754));
  EXPECT_EQ(DecodeAs<LogicalMessage>(decoder, Bytes('M').I32(754).U8(1).I64(1).Str("p").I32(0)).xid,
            Xid(754));
  DecodeAs<StreamStop>(decoder, StreamStopBytes());
  EXPECT_EQ(DecodeAs<Insert>(decoder, InsertBytes()).xid, std::nullopt);
}

// ---- stream state errors ----------------------------------------------------------------------

TEST(DecoderStateTest, StreamStartInsideAStreamIsAnError) {
  Decoder decoder;
  DecodeAs<StreamStart>(decoder, StreamStartBytes(754, true));
  EXPECT_EQ(ErrorOf(decoder, StreamStartBytes(755, true)),
            "pgoutput StreamStart: xid 755 starts while the stream block of xid 754 is still open");
  EXPECT_TRUE(decoder.in_stream());
}

TEST(DecoderStateTest, StreamStopOutsideAStreamIsAnError) {
  Decoder decoder;
  EXPECT_EQ(ErrorOf(decoder, StreamStopBytes()), "pgoutput StreamStop: no stream block is open");
  EXPECT_FALSE(decoder.in_stream());
}

TEST(DecoderStateTest, TransactionBoundariesInsideAStreamAreErrors) {
  Decoder decoder;
  DecodeAs<StreamStart>(decoder, StreamStartBytes(754, true));
  EXPECT_EQ(ErrorOf(decoder, BeginBytes()),
            "pgoutput Begin: not allowed inside the open stream block of xid 754");
  EXPECT_NE(ErrorOf(decoder, CommitBytes()).find("pgoutput Commit: not allowed"),
            std::string::npos);
  EXPECT_NE(ErrorOf(decoder, Bytes('c').I32(754).U8(0).I64(1).I64(2).I64(3))
                .find("pgoutput StreamCommit: not allowed"),
            std::string::npos);
  EXPECT_NE(
      ErrorOf(decoder, Bytes('A').I32(754).I32(754)).find("pgoutput StreamAbort: not allowed"),
      std::string::npos);
  EXPECT_TRUE(decoder.in_stream());
}

TEST(DecoderStateTest, ResetLeavesTheStream) {
  Decoder decoder;
  DecodeAs<StreamStart>(decoder, StreamStartBytes(754, true));
  decoder.Reset();
  EXPECT_FALSE(decoder.in_stream());
  // Outside a stream the 4 xid bytes would be read as the relation id: back to plain decoding.
  EXPECT_EQ(DecodeAs<Insert>(decoder, InsertBytes()).xid, std::nullopt);
  DecodeAs<StreamStart>(decoder, StreamStartBytes(755, true));
}

TEST(DecoderStateTest, FailedDecodeKeepsTheState) {
  Decoder decoder;
  ErrorOf(decoder, Bytes('S').I32(754));  // truncated StreamStart
  EXPECT_FALSE(decoder.in_stream());
  DecodeAs<StreamStart>(decoder, StreamStartBytes(754, true));
  ErrorOf(decoder, Bytes('E').U8(0));  // StreamStop with a trailing byte
  EXPECT_TRUE(decoder.in_stream());
  ErrorOf(decoder, InsertBytes());  // without the xid: the tuple is misread
  EXPECT_TRUE(decoder.in_stream());
}

// ---- malformed input --------------------------------------------------------------------------

// One valid example of every message type, decoded outside (false) or inside (true) a stream.
struct Valid {
  const char* name;
  std::string bytes;
  bool in_stream;
};

std::vector<Valid> ValidMessages() {
  return {
      {"Begin", BeginBytes(), false},
      {"Commit", CommitBytes(), false},
      {"Origin", Bytes('O').I64(1).Str("o"), false},
      {"Relation", RelationBytes(), false},
      {"Relation", RelationBytes(754), true},
      {"Type", Bytes('Y').I32(1).Str("s").Str("t"), false},
      {"Insert", InsertBytes(), false},
      {"Insert", InsertBytes(754), true},
      {"Update", Bytes('U').I32(1).U8('K').I16(1).Text("a").U8('N').I16(1).Text("b"), false},
      {"Update", Bytes('U').I32(1).U8('N').I16(1).Text("b"), false},
      {"Delete", Bytes('D').I32(1).U8('O').I16(2).Text("a").Null(), false},
      {"Truncate", Bytes('T').I32(2).U8(1).I32(5).I32(6), false},
      {"Message", Bytes('M').U8(1).I64(1).Str("p").I32(3).Raw("abc"), false},
      {"StreamStart", StreamStartBytes(754, true), false},
      {"StreamStop", StreamStopBytes(), true},
      {"StreamCommit", Bytes('c').I32(754).U8(0).I64(1).I64(2).I64(3), false},
      {"StreamAbort", Bytes('A').I32(754).I32(755), false},
  };
}

Decoder DecoderFor(const Valid& v) {
  Decoder decoder;
  if (v.in_stream) {
    EXPECT_TRUE(decoder.Decode(StreamStartBytes(754, true)).ok());
  }
  return decoder;
}

TEST(DecoderErrorTest, ValidExamplesDecode) {
  for (const Valid& v : ValidMessages()) {
    Decoder decoder = DecoderFor(v);
    Result<Message> m = decoder.Decode(v.bytes);
    ASSERT_TRUE(m.ok()) << v.name << ": " << m.status().ToString();
    EXPECT_EQ(MessageName(*m), std::string(v.name));
  }
}

// Every strict prefix of every message is an error naming the message, never a crash.
TEST(DecoderErrorTest, EveryTruncationIsCorruption) {
  for (const Valid& v : ValidMessages()) {
    for (size_t n = 1; n < v.bytes.size(); ++n) {
      Decoder decoder = DecoderFor(v);
      // A copy of exactly n bytes, so ASan catches a read past the end.
      const std::string prefix = v.bytes.substr(0, n);
      const std::string error = ErrorOf(decoder, prefix);
      EXPECT_EQ(error.rfind(std::string("pgoutput ") + v.name + ": ", 0), 0u)
          << v.name << " cut to " << n << " bytes: " << error;
    }
  }
}

TEST(DecoderErrorTest, TrailingBytesAreCorruption) {
  for (const Valid& v : ValidMessages()) {
    Decoder decoder = DecoderFor(v);
    const std::string error = ErrorOf(decoder, v.bytes + "x");
    EXPECT_EQ(error.rfind(std::string("pgoutput ") + v.name + ": 1 trailing bytes", 0), 0u)
        << v.name << ": " << error;
  }
}

TEST(DecoderErrorTest, EmptyAndUnknownMessages) {
  EXPECT_EQ(ErrorOf(""), "pgoutput: empty message");
  EXPECT_EQ(ErrorOf("Z"), "pgoutput: unknown message type 'Z'");
  EXPECT_EQ(ErrorOf(std::string(1, '\0')), "pgoutput: unknown message type 0x00");
  // Two-phase commit messages (protocol 3) are not requested by eddy.
  EXPECT_EQ(ErrorOf("P"), "pgoutput: unknown message type 'P'");
}

TEST(DecoderErrorTest, TruncationNamesTheField) {
  EXPECT_EQ(ErrorOf(Bytes('B').I64(1).I32(0)),
            "pgoutput Begin: truncated: commit timestamp needs 8 bytes at offset 9 but 4 remain");
  EXPECT_EQ(ErrorOf(Bytes('I').I32(1).U8('N').I16(2).Text("a")),
            "pgoutput Insert: truncated: new tuple column 1 kind needs 1 bytes at offset 14 but 0 "
            "remain");
  EXPECT_EQ(ErrorOf(Bytes('I').I32(1).U8('N')),
            "pgoutput Insert: truncated: new tuple column count needs 2 bytes at offset 6 but 0 "
            "remain");
  EXPECT_EQ(ErrorOf(Bytes('I').I32(1).U8('N').I16(1).U8('t').I16(0)),
            "pgoutput Insert: truncated: new tuple column 0 length needs 4 bytes at offset 9 but 2 "
            "remain");
}

TEST(DecoderErrorTest, UnterminatedString) {
  EXPECT_EQ(ErrorOf(Bytes('O').I64(1).Raw("abc")),
            "pgoutput Origin: origin name at offset 9 is not NUL-terminated");
}

TEST(DecoderErrorTest, BadTupleColumnKind) {
  EXPECT_EQ(ErrorOf(Bytes('I').I32(1).U8('N').I16(5).Null().Null().Null().U8('x').Null()),
            "pgoutput Insert: new tuple column 3 has unknown kind 'x'");
  EXPECT_EQ(ErrorOf(Bytes('D').I32(1).U8('K').I16(1).U8(0xff)),
            "pgoutput Delete: old tuple column 0 has unknown kind 0xff");
}

TEST(DecoderErrorTest, BadTupleCounts) {
  EXPECT_EQ(ErrorOf(Bytes('I').I32(1).U8('N').I16(-1)),
            "pgoutput Insert: new tuple has negative column count -1");
  // 32767 columns announced, 2 bytes present: rejected before reserving anything.
  EXPECT_EQ(ErrorOf(Bytes('I').I32(1).U8('N').I16(32767).Null().Null()),
            "pgoutput Insert: new tuple claims 32767 columns but only 2 bytes remain");
  EXPECT_EQ(ErrorOf(Bytes('U').I32(1).U8('K').I16(-5)),
            "pgoutput Update: old tuple has negative column count -5");
}

TEST(DecoderErrorTest, BadColumnLengths) {
  EXPECT_EQ(ErrorOf(Bytes('I').I32(1).U8('N').I16(1).U8('t').I32(-1)),
            "pgoutput Insert: new tuple column 0 has negative length -1");
  EXPECT_EQ(ErrorOf(Bytes('I').I32(1).U8('N').I16(1).U8('b').I32(0x7fffffff).Raw("abc")),
            "pgoutput Insert: new tuple column 0 has length 2147483647 but only 3 bytes remain");
}

TEST(DecoderErrorTest, BadTupleMarkers) {
  EXPECT_EQ(ErrorOf(Bytes('I').I32(1).U8('K').I16(0)),
            "pgoutput Insert: expected new tuple marker 'N', got 'K'");
  EXPECT_EQ(ErrorOf(Bytes('U').I32(1).U8('X').I16(0)),
            "pgoutput Update: expected tuple marker 'K', 'O' or 'N', got 'X'");
  EXPECT_EQ(ErrorOf(Bytes('U').I32(1).U8('K').I16(0).U8('K').I16(0)),
            "pgoutput Update: expected new tuple marker 'N', got 'K'");
  EXPECT_EQ(ErrorOf(Bytes('D').I32(1).U8('N').I16(0)),
            "pgoutput Delete: expected old tuple marker 'K' or 'O', got 'N'");
}

TEST(DecoderErrorTest, BadRelation) {
  EXPECT_EQ(ErrorOf(Bytes('R').I32(1).Str("s").Str("t").U8('x').I16(0)),
            "pgoutput Relation: unknown replica identity 'x'");
  EXPECT_EQ(ErrorOf(Bytes('R').I32(1).Str("s").Str("t").U8('d').I16(-2)),
            "pgoutput Relation: negative column count -2");
  EXPECT_EQ(ErrorOf(Bytes('R').I32(1).Str("s").Str("t").U8('d').I16(1000).Raw("abcdefghij")),
            "pgoutput Relation: claims 1000 columns but only 10 bytes remain");
  EXPECT_EQ(ErrorOf(Bytes('R').I32(1).Str("s").Str("t").U8('d').I16(1).U8(1).Raw("abcdefghij")),
            "pgoutput Relation: column 0 name at offset 13 is not NUL-terminated");
}

TEST(DecoderErrorTest, BadTruncate) {
  EXPECT_EQ(ErrorOf(Bytes('T').I32(-1).U8(0)), "pgoutput Truncate: negative relation count -1");
  EXPECT_EQ(ErrorOf(Bytes('T').I32(0x7fffffff).U8(0).I32(1)),
            "pgoutput Truncate: claims 2147483647 relations but only 4 bytes remain");
  EXPECT_EQ(ErrorOf(Bytes('T').I32(2).U8(0).I32(1).I16(0)),
            "pgoutput Truncate: claims 2 relations but only 6 bytes remain");
}

TEST(DecoderErrorTest, BadLogicalMessage) {
  EXPECT_EQ(ErrorOf(Bytes('M').U8(2).I64(1).Str("p").I32(0)),
            "pgoutput Message: unknown flags 0x02");
  EXPECT_EQ(ErrorOf(Bytes('M').U8(0).I64(1).Str("p").I32(-3)),
            "pgoutput Message: negative content length -3");
  EXPECT_EQ(ErrorOf(Bytes('M').U8(0).I64(1).Str("p").I32(10).Raw("abc")),
            "pgoutput Message: content length 10 but only 3 bytes remain");
}

TEST(DecoderErrorTest, BadStreamStartFlag) {
  Decoder decoder;
  EXPECT_EQ(ErrorOf(decoder, Bytes('S').I32(1).U8(2)),
            "pgoutput StreamStart: first segment flag is 2, not 0 or 1");
  EXPECT_FALSE(decoder.in_stream());
}

TEST(DecoderErrorTest, TimestampThatWouldOverflow) {
  EXPECT_EQ(ErrorOf(Bytes('B').I64(1).I64(INT64_MAX).I32(1)),
            "pgoutput Begin: commit timestamp 9223372036854775807 is out of range");
  EXPECT_NE(ErrorOf(Bytes('c').I32(1).U8(0).I64(1).I64(2).I64(INT64_MAX)).find("out of range"),
            std::string::npos);
}

TEST(DescribeTest, QuotesAndEscapes) {
  Relation r;
  r.schema = "we\"ird";
  r.name = "t\tab\x01";
  r.replica_identity = '\0';
  EXPECT_EQ(Describe(r),
            "Relation xid=- rel=0 schema=\"we\\\"ird\" name=\"t\\tab\\x01\" replident=\\x00 "
            "columns=[]");
  Update u;
  u.xid = Xid(9);
  EXPECT_EQ(Describe(u), "Update xid=9 rel=0 new=[]");
}

}  // namespace
}  // namespace eddy::pgoutput
