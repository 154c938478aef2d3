#include "pgoutput/decoder.h"

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "common/byte_reader.h"

namespace eddy::pgoutput {
namespace {

// pgoutput times count microseconds from 2000-01-01 00:00:00 UTC (PostgreSQL's epoch).
constexpr int64_t kPostgresEpochUnixMicros = 946684800000000;

// The smallest encodings, used to reject counts that cannot fit in what is left of the message
// before anything is reserved: a tuple column is at least its kind byte; a Relation column is
// flags (1), an empty name (1), type oid (4) and typmod (4); a truncated relation is an Int32.
constexpr size_t kMinTupleColumnBytes = 1;
constexpr size_t kMinRelationColumnBytes = 10;
constexpr size_t kRelationIdBytes = 4;

// A byte for error texts: 'x' when printable, 0xNN otherwise.
std::string CharForError(uint8_t c) {
  if (c >= 0x20 && c < 0x7f && c != '\'') return fmt::format("'{}'", static_cast<char>(c));
  return fmt::format("0x{:02x}", c);
}

// The name of a field for error texts: "relation id", "new tuple column count", "column 3 name",
// "old tuple column 2 kind". Formatted only when an error is reported, so successful reads do
// not allocate.
struct Field {
  Field(const char* name) : name(name) {}  // NOLINT(google-explicit-constructor)
  Field(const char* prefix, const char* name) : prefix(prefix), name(name) {}
  Field(const char* prefix, size_t column, const char* name)
      : prefix(prefix), name(name), column(column), has_column(true) {}

  std::string ToString() const {
    std::string out;
    if (prefix != nullptr && *prefix != '\0') out = fmt::format("{} ", prefix);
    if (has_column) out += fmt::format("column {} ", column);
    return out + name;
  }

  const char* prefix = nullptr;
  const char* name;
  size_t column = 0;
  bool has_column = false;
};

// Reads the fields of one message and words the errors: every read names the field it wanted,
// so a failure says what was cut short and where.
class Parser {
 public:
  Parser(std::string_view bytes, const char* message_name)
      : reader_(bytes), message_name_(message_name) {
    reader_.ReadU8();  // the message type byte, already dispatched on
  }

  const char* message_name() const { return message_name_; }
  size_t remaining() const { return reader_.remaining(); }
  size_t offset() const { return reader_.position(); }

  Status Error(std::string_view detail) const {
    return Corruption(fmt::format("pgoutput {}: {}", message_name_, detail));
  }

  Status Need(size_t n, Field field) const {
    if (reader_.remaining() >= n) return Status::Ok();
    return Error(fmt::format("truncated: {} needs {} bytes at offset {} but {} remain",
                             field.ToString(), n, offset(), remaining()));
  }

  Result<uint8_t> U8(Field field) {
    EDDY_RETURN_IF_ERROR(Need(1, field));
    return reader_.ReadU8();
  }
  Result<int16_t> I16(Field field) {
    EDDY_RETURN_IF_ERROR(Need(2, field));
    return reader_.ReadI16();
  }
  Result<uint32_t> U32(Field field) {
    EDDY_RETURN_IF_ERROR(Need(4, field));
    return reader_.ReadU32();
  }
  Result<int32_t> I32(Field field) {
    EDDY_RETURN_IF_ERROR(Need(4, field));
    return reader_.ReadI32();
  }
  Result<int64_t> I64(Field field) {
    EDDY_RETURN_IF_ERROR(Need(8, field));
    return reader_.ReadI64();
  }
  Result<Lsn> ReadLsn(Field field) {
    EDDY_RETURN_IF_ERROR(Need(8, field));
    return Lsn(reader_.ReadU64());
  }
  Result<Xid> ReadXid(Field field) {
    EDDY_RETURN_IF_ERROR(Need(4, field));
    return Xid(reader_.ReadU32());
  }
  Result<RelationId> ReadRelationId(Field field) {
    EDDY_RETURN_IF_ERROR(Need(4, field));
    return RelationId(reader_.ReadU32());
  }

  // A timestamp on the wire, converted to microseconds since the Unix epoch.
  Result<int64_t> ReadTime(Field field) {
    EDDY_ASSIGN_OR_RETURN(int64_t pg_time, I64(field));
    // Adding the epoch offset must not overflow (UB); PostgreSQL never sends such times.
    if (pg_time > std::numeric_limits<int64_t>::max() - kPostgresEpochUnixMicros) {
      return Error(fmt::format("{} {} is out of range", field.ToString(), pg_time));
    }
    return pg_time + kPostgresEpochUnixMicros;
  }

  // A NUL-terminated string.
  Result<std::string> CString(Field field) {
    EDDY_RETURN_IF_ERROR(Need(1, field));
    const size_t at = offset();
    std::string_view s = reader_.ReadCString();
    if (!reader_.ok()) {
      return Error(fmt::format("{} at offset {} is not NUL-terminated", field.ToString(), at));
    }
    return std::string(s);
  }

  // `n` raw bytes; the caller has checked n against remaining().
  std::string Bytes(size_t n) { return std::string(reader_.ReadBytes(n)); }

  Status ExpectEnd() const {
    if (remaining() == 0) return Status::Ok();
    return Error(
        fmt::format("{} trailing bytes after the message at offset {}", remaining(), offset()));
  }

 private:
  ByteReader reader_;
  const char* message_name_;
};

// The xid that change messages carry inside a stream block; nullopt outside one.
Result<std::optional<Xid>> ReadStreamXid(Parser& p, bool in_stream) {
  if (!in_stream) return std::optional<Xid>();
  EDDY_ASSIGN_OR_RETURN(Xid xid, p.ReadXid("transaction id"));
  return std::optional<Xid>(xid);
}

// TupleData: Int16 column count, then per column a kind byte and, for 't' and 'b', an Int32
// length and that many bytes. `which` is "new tuple" or "old tuple".
Result<std::vector<Value>> ReadTuple(Parser& p, const char* which) {
  EDDY_ASSIGN_OR_RETURN(int16_t count, p.I16({which, "column count"}));
  if (count < 0) return p.Error(fmt::format("{} has negative column count {}", which, count));
  const size_t columns = static_cast<size_t>(count);
  if (columns * kMinTupleColumnBytes > p.remaining()) {
    return p.Error(fmt::format("{} claims {} columns but only {} bytes remain", which, columns,
                               p.remaining()));
  }
  std::vector<Value> values;
  values.reserve(columns);
  for (size_t i = 0; i < columns; ++i) {
    EDDY_ASSIGN_OR_RETURN(uint8_t kind, p.U8({which, i, "kind"}));
    switch (kind) {
      case 'n':
        values.push_back(Value::Null());
        break;
      case 'u':
        values.push_back(Value::Unchanged());
        break;
      case 't':
      case 'b': {
        EDDY_ASSIGN_OR_RETURN(int32_t length, p.I32({which, i, "length"}));
        if (length < 0) {
          return p.Error(fmt::format("{} column {} has negative length {}", which, i, length));
        }
        if (static_cast<size_t>(length) > p.remaining()) {
          return p.Error(fmt::format("{} column {} has length {} but only {} bytes remain", which,
                                     i, length, p.remaining()));
        }
        values.push_back(Value::Text(p.Bytes(static_cast<size_t>(length))));
        break;
      }
      default:
        return p.Error(
            fmt::format("{} column {} has unknown kind {}", which, i, CharForError(kind)));
    }
  }
  return values;
}

Result<Message> DecodeBegin(Parser& p) {
  Begin m;
  EDDY_ASSIGN_OR_RETURN(m.final_lsn, p.ReadLsn("final LSN"));
  EDDY_ASSIGN_OR_RETURN(m.commit_time_us, p.ReadTime("commit timestamp"));
  EDDY_ASSIGN_OR_RETURN(m.xid, p.ReadXid("transaction id"));
  EDDY_RETURN_IF_ERROR(p.ExpectEnd());
  return Message(std::move(m));
}

Result<Message> DecodeCommit(Parser& p) {
  Commit m;
  EDDY_ASSIGN_OR_RETURN(m.flags, p.U8("flags"));
  EDDY_ASSIGN_OR_RETURN(m.commit_lsn, p.ReadLsn("commit LSN"));
  EDDY_ASSIGN_OR_RETURN(m.end_lsn, p.ReadLsn("end LSN"));
  EDDY_ASSIGN_OR_RETURN(m.commit_time_us, p.ReadTime("commit timestamp"));
  EDDY_RETURN_IF_ERROR(p.ExpectEnd());
  return Message(std::move(m));
}

Result<Message> DecodeOrigin(Parser& p) {
  Origin m;
  EDDY_ASSIGN_OR_RETURN(m.commit_lsn, p.ReadLsn("origin commit LSN"));
  EDDY_ASSIGN_OR_RETURN(m.name, p.CString("origin name"));
  EDDY_RETURN_IF_ERROR(p.ExpectEnd());
  return Message(std::move(m));
}

Result<Message> DecodeRelation(Parser& p, bool in_stream) {
  Relation m;
  EDDY_ASSIGN_OR_RETURN(m.xid, ReadStreamXid(p, in_stream));
  EDDY_ASSIGN_OR_RETURN(m.id, p.ReadRelationId("relation id"));
  EDDY_ASSIGN_OR_RETURN(m.schema, p.CString("namespace"));
  EDDY_ASSIGN_OR_RETURN(m.name, p.CString("relation name"));
  EDDY_ASSIGN_OR_RETURN(uint8_t identity, p.U8("replica identity"));
  switch (identity) {
    case 'd':
    case 'n':
    case 'f':
    case 'i':
      m.replica_identity = static_cast<char>(identity);
      break;
    default:
      return p.Error(fmt::format("unknown replica identity {}", CharForError(identity)));
  }
  EDDY_ASSIGN_OR_RETURN(int16_t count, p.I16("column count"));
  if (count < 0) return p.Error(fmt::format("negative column count {}", count));
  const size_t columns = static_cast<size_t>(count);
  if (columns * kMinRelationColumnBytes > p.remaining()) {
    return p.Error(
        fmt::format("claims {} columns but only {} bytes remain", columns, p.remaining()));
  }
  m.columns.reserve(columns);
  for (size_t i = 0; i < columns; ++i) {
    RelationColumn& c = m.columns.emplace_back();
    EDDY_ASSIGN_OR_RETURN(c.flags, p.U8({"", i, "flags"}));
    EDDY_ASSIGN_OR_RETURN(c.name, p.CString({"", i, "name"}));
    EDDY_ASSIGN_OR_RETURN(c.type_oid, p.U32({"", i, "type oid"}));
    EDDY_ASSIGN_OR_RETURN(c.type_modifier, p.I32({"", i, "type modifier"}));
  }
  EDDY_RETURN_IF_ERROR(p.ExpectEnd());
  return Message(std::move(m));
}

Result<Message> DecodeType(Parser& p, bool in_stream) {
  Type m;
  EDDY_ASSIGN_OR_RETURN(m.xid, ReadStreamXid(p, in_stream));
  EDDY_ASSIGN_OR_RETURN(m.oid, p.U32("type oid"));
  EDDY_ASSIGN_OR_RETURN(m.schema, p.CString("namespace"));
  EDDY_ASSIGN_OR_RETURN(m.name, p.CString("type name"));
  EDDY_RETURN_IF_ERROR(p.ExpectEnd());
  return Message(std::move(m));
}

Result<Message> DecodeInsert(Parser& p, bool in_stream) {
  Insert m;
  EDDY_ASSIGN_OR_RETURN(m.xid, ReadStreamXid(p, in_stream));
  EDDY_ASSIGN_OR_RETURN(m.relation, p.ReadRelationId("relation id"));
  EDDY_ASSIGN_OR_RETURN(uint8_t marker, p.U8("tuple marker"));
  if (marker != 'N') {
    return p.Error(fmt::format("expected new tuple marker 'N', got {}", CharForError(marker)));
  }
  EDDY_ASSIGN_OR_RETURN(m.new_tuple, ReadTuple(p, "new tuple"));
  EDDY_RETURN_IF_ERROR(p.ExpectEnd());
  return Message(std::move(m));
}

Result<Message> DecodeUpdate(Parser& p, bool in_stream) {
  Update m;
  EDDY_ASSIGN_OR_RETURN(m.xid, ReadStreamXid(p, in_stream));
  EDDY_ASSIGN_OR_RETURN(m.relation, p.ReadRelationId("relation id"));
  EDDY_ASSIGN_OR_RETURN(uint8_t marker, p.U8("tuple marker"));
  if (marker == 'K' || marker == 'O') {
    m.old_kind = static_cast<char>(marker);
    EDDY_ASSIGN_OR_RETURN(m.old_tuple, ReadTuple(p, "old tuple"));
    EDDY_ASSIGN_OR_RETURN(marker, p.U8("new tuple marker"));
    if (marker != 'N') {
      return p.Error(fmt::format("expected new tuple marker 'N', got {}", CharForError(marker)));
    }
  } else if (marker != 'N') {
    return p.Error(
        fmt::format("expected tuple marker 'K', 'O' or 'N', got {}", CharForError(marker)));
  }
  EDDY_ASSIGN_OR_RETURN(m.new_tuple, ReadTuple(p, "new tuple"));
  EDDY_RETURN_IF_ERROR(p.ExpectEnd());
  return Message(std::move(m));
}

Result<Message> DecodeDelete(Parser& p, bool in_stream) {
  Delete m;
  EDDY_ASSIGN_OR_RETURN(m.xid, ReadStreamXid(p, in_stream));
  EDDY_ASSIGN_OR_RETURN(m.relation, p.ReadRelationId("relation id"));
  EDDY_ASSIGN_OR_RETURN(uint8_t marker, p.U8("tuple marker"));
  if (marker != 'K' && marker != 'O') {
    return p.Error(
        fmt::format("expected old tuple marker 'K' or 'O', got {}", CharForError(marker)));
  }
  m.old_kind = static_cast<char>(marker);
  EDDY_ASSIGN_OR_RETURN(m.old_tuple, ReadTuple(p, "old tuple"));
  EDDY_RETURN_IF_ERROR(p.ExpectEnd());
  return Message(std::move(m));
}

Result<Message> DecodeTruncate(Parser& p, bool in_stream) {
  Truncate m;
  EDDY_ASSIGN_OR_RETURN(m.xid, ReadStreamXid(p, in_stream));
  EDDY_ASSIGN_OR_RETURN(int32_t count, p.I32("relation count"));
  EDDY_ASSIGN_OR_RETURN(m.options, p.U8("options"));
  if (count < 0) return p.Error(fmt::format("negative relation count {}", count));
  const size_t relations = static_cast<size_t>(count);
  if (relations > p.remaining() / kRelationIdBytes) {
    return p.Error(
        fmt::format("claims {} relations but only {} bytes remain", relations, p.remaining()));
  }
  m.relations.reserve(relations);
  for (size_t i = 0; i < relations; ++i) {
    EDDY_ASSIGN_OR_RETURN(RelationId id, p.ReadRelationId("relation id"));
    m.relations.push_back(id);
  }
  EDDY_RETURN_IF_ERROR(p.ExpectEnd());
  return Message(std::move(m));
}

Result<Message> DecodeLogicalMessage(Parser& p, bool in_stream) {
  LogicalMessage m;
  EDDY_ASSIGN_OR_RETURN(m.xid, ReadStreamXid(p, in_stream));
  EDDY_ASSIGN_OR_RETURN(uint8_t flags, p.U8("flags"));
  // PostgreSQL 15 defines only bit 1; another bit means a format this decoder does not know.
  if ((flags & ~uint8_t{1}) != 0) return p.Error(fmt::format("unknown flags 0x{:02x}", flags));
  m.transactional = (flags & 1) != 0;
  EDDY_ASSIGN_OR_RETURN(m.lsn, p.ReadLsn("message LSN"));
  EDDY_ASSIGN_OR_RETURN(m.prefix, p.CString("prefix"));
  EDDY_ASSIGN_OR_RETURN(int32_t length, p.I32("content length"));
  if (length < 0) return p.Error(fmt::format("negative content length {}", length));
  if (static_cast<size_t>(length) > p.remaining()) {
    return p.Error(
        fmt::format("content length {} but only {} bytes remain", length, p.remaining()));
  }
  m.content = p.Bytes(static_cast<size_t>(length));
  EDDY_RETURN_IF_ERROR(p.ExpectEnd());
  return Message(std::move(m));
}

Result<Message> DecodeStreamStart(Parser& p) {
  StreamStart m;
  EDDY_ASSIGN_OR_RETURN(m.xid, p.ReadXid("transaction id"));
  EDDY_ASSIGN_OR_RETURN(uint8_t first, p.U8("first segment flag"));
  if (first > 1) return p.Error(fmt::format("first segment flag is {}, not 0 or 1", first));
  m.first_segment = first == 1;
  EDDY_RETURN_IF_ERROR(p.ExpectEnd());
  return Message(std::move(m));
}

Result<Message> DecodeStreamCommit(Parser& p) {
  StreamCommit m;
  EDDY_ASSIGN_OR_RETURN(m.xid, p.ReadXid("transaction id"));
  EDDY_ASSIGN_OR_RETURN(m.flags, p.U8("flags"));
  EDDY_ASSIGN_OR_RETURN(m.commit_lsn, p.ReadLsn("commit LSN"));
  EDDY_ASSIGN_OR_RETURN(m.end_lsn, p.ReadLsn("end LSN"));
  EDDY_ASSIGN_OR_RETURN(m.commit_time_us, p.ReadTime("commit timestamp"));
  EDDY_RETURN_IF_ERROR(p.ExpectEnd());
  return Message(std::move(m));
}

Result<Message> DecodeStreamAbort(Parser& p) {
  StreamAbort m;
  EDDY_ASSIGN_OR_RETURN(m.xid, p.ReadXid("transaction id"));
  EDDY_ASSIGN_OR_RETURN(m.subxid, p.ReadXid("subtransaction id"));
  EDDY_RETURN_IF_ERROR(p.ExpectEnd());
  return Message(std::move(m));
}

}  // namespace

Result<Message> Decoder::Decode(std::string_view bytes) {
  if (bytes.empty()) return Corruption("pgoutput: empty message");
  const auto type = static_cast<uint8_t>(bytes[0]);

  // Transaction boundaries never occur inside a stream block: PostgreSQL sends a streamed
  // block's changes without interleaving, and StreamCommit/StreamAbort after its StreamStop.
  auto outside_stream_only = [&](const char* name) -> Status {
    if (!in_stream_) return Status::Ok();
    return Corruption(fmt::format("pgoutput {}: not allowed inside the open stream block of xid {}",
                                  name, stream_xid_.value()));
  };

  switch (type) {
    case 'B': {
      EDDY_RETURN_IF_ERROR(outside_stream_only("Begin"));
      Parser p(bytes, "Begin");
      return DecodeBegin(p);
    }
    case 'C': {
      EDDY_RETURN_IF_ERROR(outside_stream_only("Commit"));
      Parser p(bytes, "Commit");
      return DecodeCommit(p);
    }
    case 'O': {
      // Allowed in a stream: PostgreSQL sends it right after the first StreamStart.
      Parser p(bytes, "Origin");
      return DecodeOrigin(p);
    }
    case 'R': {
      Parser p(bytes, "Relation");
      return DecodeRelation(p, in_stream_);
    }
    case 'Y': {
      Parser p(bytes, "Type");
      return DecodeType(p, in_stream_);
    }
    case 'I': {
      Parser p(bytes, "Insert");
      return DecodeInsert(p, in_stream_);
    }
    case 'U': {
      Parser p(bytes, "Update");
      return DecodeUpdate(p, in_stream_);
    }
    case 'D': {
      Parser p(bytes, "Delete");
      return DecodeDelete(p, in_stream_);
    }
    case 'T': {
      Parser p(bytes, "Truncate");
      return DecodeTruncate(p, in_stream_);
    }
    case 'M': {
      Parser p(bytes, "Message");
      return DecodeLogicalMessage(p, in_stream_);
    }
    case 'S': {
      Parser p(bytes, "StreamStart");
      EDDY_ASSIGN_OR_RETURN(Message m, DecodeStreamStart(p));
      const Xid xid = std::get<StreamStart>(m).xid;
      if (in_stream_) {
        return p.Error(fmt::format("xid {} starts while the stream block of xid {} is still open",
                                   xid.value(), stream_xid_.value()));
      }
      in_stream_ = true;
      stream_xid_ = xid;
      return m;
    }
    case 'E': {
      Parser p(bytes, "StreamStop");
      EDDY_RETURN_IF_ERROR(p.ExpectEnd());
      if (!in_stream_) return p.Error("no stream block is open");
      in_stream_ = false;
      return Message(StreamStop{});
    }
    case 'c': {
      EDDY_RETURN_IF_ERROR(outside_stream_only("StreamCommit"));
      Parser p(bytes, "StreamCommit");
      return DecodeStreamCommit(p);
    }
    case 'A': {
      EDDY_RETURN_IF_ERROR(outside_stream_only("StreamAbort"));
      Parser p(bytes, "StreamAbort");
      return DecodeStreamAbort(p);
    }
    default:
      // Includes the two-phase messages ('b', 'P', 'K', 'r', 'p') of protocol 3, which eddy
      // does not request.
      return Corruption(fmt::format("pgoutput: unknown message type {}", CharForError(type)));
  }
}

}  // namespace eddy::pgoutput
