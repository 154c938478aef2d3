#include "pgoutput/messages.h"

#include <iterator>
#include <string>
#include <string_view>
#include <variant>

#include <fmt/format.h>

namespace eddy::pgoutput {
namespace {

const char* NameOf(const Begin&) { return "Begin"; }
const char* NameOf(const Commit&) { return "Commit"; }
const char* NameOf(const Origin&) { return "Origin"; }
const char* NameOf(const Relation&) { return "Relation"; }
const char* NameOf(const Type&) { return "Type"; }
const char* NameOf(const Insert&) { return "Insert"; }
const char* NameOf(const Update&) { return "Update"; }
const char* NameOf(const Delete&) { return "Delete"; }
const char* NameOf(const Truncate&) { return "Truncate"; }
const char* NameOf(const LogicalMessage&) { return "Message"; }
const char* NameOf(const StreamStart&) { return "StreamStart"; }
const char* NameOf(const StreamStop&) { return "StreamStop"; }
const char* NameOf(const StreamCommit&) { return "StreamCommit"; }
const char* NameOf(const StreamAbort&) { return "StreamAbort"; }

// Appends `s` double-quoted; everything outside printable ASCII becomes an escape so the result
// is one line and independent of the terminal's encoding.
void AppendQuoted(std::string* out, std::string_view s) {
  out->push_back('"');
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (c >= 0x20 && c < 0x7f) {
          out->push_back(static_cast<char>(c));
        } else {
          fmt::format_to(std::back_inserter(*out), "\\x{:02x}", c);
        }
    }
  }
  out->push_back('"');
}

// A single-byte code such as a replica identity: itself when printable, \xNN otherwise.
void AppendCode(std::string* out, char code) {
  const auto c = static_cast<unsigned char>(code);
  if (c > 0x20 && c < 0x7f) {
    out->push_back(code);
  } else {
    fmt::format_to(std::back_inserter(*out), "\\x{:02x}", c);
  }
}

void AppendXid(std::string* out, const std::optional<Xid>& xid) {
  out->append(" xid=");
  if (xid) {
    out->append(std::to_string(xid->value()));
  } else {
    out->push_back('-');
  }
}

void AppendTuple(std::string* out, const std::vector<Value>& tuple) {
  out->push_back('[');
  for (size_t i = 0; i < tuple.size(); ++i) {
    if (i > 0) out->append(", ");
    switch (tuple[i].kind) {
      case Value::Kind::kNull:
        out->push_back('n');
        break;
      case Value::Kind::kUnchanged:
        out->push_back('u');
        break;
      case Value::Kind::kText:
        out->append("t:");
        AppendQuoted(out, tuple[i].text);
        break;
    }
  }
  out->push_back(']');
}

void DescribeTo(std::string* out, const Begin& m) {
  fmt::format_to(std::back_inserter(*out), " final_lsn={} commit_time_us={} xid={}",
                 m.final_lsn.ToString(), m.commit_time_us, m.xid.value());
}

void DescribeTo(std::string* out, const Commit& m) {
  fmt::format_to(std::back_inserter(*out), " flags={} commit_lsn={} end_lsn={} commit_time_us={}",
                 m.flags, m.commit_lsn.ToString(), m.end_lsn.ToString(), m.commit_time_us);
}

void DescribeTo(std::string* out, const Origin& m) {
  fmt::format_to(std::back_inserter(*out), " commit_lsn={} name=", m.commit_lsn.ToString());
  AppendQuoted(out, m.name);
}

void DescribeTo(std::string* out, const Relation& m) {
  AppendXid(out, m.xid);
  fmt::format_to(std::back_inserter(*out), " rel={} schema=", m.id.value());
  AppendQuoted(out, m.schema);
  out->append(" name=");
  AppendQuoted(out, m.name);
  out->append(" replident=");
  AppendCode(out, m.replica_identity);
  out->append(" columns=[");
  for (size_t i = 0; i < m.columns.size(); ++i) {
    const RelationColumn& c = m.columns[i];
    if (i > 0) out->append(", ");
    out->push_back('{');
    AppendQuoted(out, c.name);
    fmt::format_to(std::back_inserter(*out), " flags={} type={} typmod={}}}", c.flags, c.type_oid,
                   c.type_modifier);
  }
  out->push_back(']');
}

void DescribeTo(std::string* out, const Type& m) {
  AppendXid(out, m.xid);
  fmt::format_to(std::back_inserter(*out), " oid={} schema=", m.oid);
  AppendQuoted(out, m.schema);
  out->append(" name=");
  AppendQuoted(out, m.name);
}

void DescribeTo(std::string* out, const Insert& m) {
  AppendXid(out, m.xid);
  fmt::format_to(std::back_inserter(*out), " rel={} new=", m.relation.value());
  AppendTuple(out, m.new_tuple);
}

void DescribeTo(std::string* out, const Update& m) {
  AppendXid(out, m.xid);
  fmt::format_to(std::back_inserter(*out), " rel={}", m.relation.value());
  if (m.old_kind != '\0') {
    out->append(" old=");
    AppendCode(out, m.old_kind);
    AppendTuple(out, m.old_tuple);
  }
  out->append(" new=");
  AppendTuple(out, m.new_tuple);
}

void DescribeTo(std::string* out, const Delete& m) {
  AppendXid(out, m.xid);
  fmt::format_to(std::back_inserter(*out), " rel={} old=", m.relation.value());
  AppendCode(out, m.old_kind);
  AppendTuple(out, m.old_tuple);
}

void DescribeTo(std::string* out, const Truncate& m) {
  AppendXid(out, m.xid);
  fmt::format_to(std::back_inserter(*out), " options={} rels=[", m.options);
  for (size_t i = 0; i < m.relations.size(); ++i) {
    if (i > 0) out->append(", ");
    out->append(std::to_string(m.relations[i].value()));
  }
  out->push_back(']');
}

void DescribeTo(std::string* out, const LogicalMessage& m) {
  AppendXid(out, m.xid);
  fmt::format_to(std::back_inserter(*out), " transactional={} lsn={} prefix=", m.transactional,
                 m.lsn.ToString());
  AppendQuoted(out, m.prefix);
  out->append(" content=");
  AppendQuoted(out, m.content);
}

void DescribeTo(std::string* out, const StreamStart& m) {
  fmt::format_to(std::back_inserter(*out), " xid={} first_segment={}", m.xid.value(),
                 m.first_segment);
}

void DescribeTo(std::string*, const StreamStop&) {}

void DescribeTo(std::string* out, const StreamCommit& m) {
  fmt::format_to(std::back_inserter(*out),
                 " xid={} flags={} commit_lsn={} end_lsn={} commit_time_us={}", m.xid.value(),
                 m.flags, m.commit_lsn.ToString(), m.end_lsn.ToString(), m.commit_time_us);
}

void DescribeTo(std::string* out, const StreamAbort& m) {
  fmt::format_to(std::back_inserter(*out), " xid={} subxid={}", m.xid.value(), m.subxid.value());
}

}  // namespace

const char* MessageName(const Message& message) {
  return std::visit([](const auto& m) { return NameOf(m); }, message);
}

std::string Describe(const Message& message) {
  std::string out = MessageName(message);
  std::visit([&out](const auto& m) { DescribeTo(&out, m); }, message);
  return out;
}

}  // namespace eddy::pgoutput
