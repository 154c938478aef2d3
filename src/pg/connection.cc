#include "pg/connection.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include <libpq-fe.h>

namespace eddy::pg {
namespace {

constexpr std::string_view kSqlStateMarker = "(SQLSTATE ";
constexpr std::string_view kMask = "*****";
constexpr std::string_view kWhereToConfigure = "set DATABASE_URL or --database";

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// URL form: mask "user:password@" and a "password=" query parameter.
std::string MaskUrl(std::string_view url) {
  const size_t scheme_end = url.find("://") + 3;
  std::string out(url.substr(0, scheme_end));
  std::string_view rest = url.substr(scheme_end);
  const size_t authority_end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, authority_end);
  const size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    const size_t colon = userinfo.find(':');
    if (colon != std::string_view::npos) {
      out.append(userinfo.substr(0, colon + 1));
      out.append(kMask);
      out.append(authority.substr(at));
    } else {
      out.append(authority);
    }
  } else {
    out.append(authority);
  }
  if (authority_end == std::string_view::npos) return out;
  rest = rest.substr(authority_end);
  const size_t query = rest.find('?');
  out.append(rest.substr(0, query));
  if (query == std::string_view::npos) return out;
  out.push_back('?');
  std::string_view params = rest.substr(query + 1);
  while (true) {
    const size_t amp = params.find('&');
    std::string_view param = params.substr(0, amp);
    if (StartsWith(param, "password=")) {
      out.append("password=");
      out.append(kMask);
    } else {
      out.append(param);
    }
    if (amp == std::string_view::npos) break;
    out.push_back('&');
    params = params.substr(amp + 1);
  }
  return out;
}

// Keyword/value form, scanned as libpq does: key [ws] = [ws] value, value unquoted up to
// whitespace or single-quoted with backslash escapes. Once the grammar breaks after a "password"
// key or value, everything after it is masked: the string is unparsable and the rest may be part
// of the secret (e.g. "password='it''s'", which libpq does not accept).
std::string MaskKeywordValue(std::string_view s) {
  std::string out;
  size_t pos = 0;
  bool after_password = false;
  while (pos < s.size()) {
    const size_t ws_start = pos;
    while (pos < s.size() && IsSpace(s[pos])) ++pos;
    out.append(s.substr(ws_start, pos - ws_start));
    if (pos >= s.size()) break;
    const size_t key_start = pos;
    while (pos < s.size() && !IsSpace(s[pos]) && s[pos] != '=') ++pos;
    const std::string_view key = s.substr(key_start, pos - key_start);
    const bool is_password = key == "password";
    size_t eq = pos;
    while (eq < s.size() && IsSpace(s[eq])) ++eq;
    if (eq >= s.size() || s[eq] != '=') {
      // Not key=value: copy the rest verbatim unless it may hold (part of) a password.
      if (is_password) {
        out.append(key);
        out.push_back(' ');
        out.append(kMask);
      } else if (after_password) {
        out.append(kMask);
      } else {
        out.append(s.substr(key_start));
      }
      return out;
    }
    ++eq;
    while (eq < s.size() && IsSpace(s[eq])) ++eq;
    out.append(s.substr(key_start, eq - key_start));  // "key = "
    pos = eq;
    const size_t value_start = pos;
    if (pos < s.size() && s[pos] == '\'') {
      ++pos;
      while (pos < s.size() && s[pos] != '\'') {
        if (s[pos] == '\\') ++pos;
        ++pos;
      }
      if (pos < s.size()) ++pos;  // closing quote
      pos = std::min(pos, s.size());
    } else {
      while (pos < s.size() && !IsSpace(s[pos])) ++pos;
    }
    after_password = is_password;
    if (is_password) {
      out.append(kMask);
    } else {
      out.append(s.substr(value_start, pos - value_start));
    }
  }
  return out;
}

bool IsUrl(std::string_view conninfo) {
  return StartsWith(conninfo, "postgresql://") || StartsWith(conninfo, "postgres://");
}

// libpq messages end with newlines and continue with tab-indented hints; squeeze them into one
// line so the Status reads as one sentence.
std::string OneLine(std::string_view message) {
  std::string out;
  bool space = false;
  for (char c : message) {
    if (c == '\n' || c == '\t' || c == '\r') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

std::string LowerFirst(std::string s) {
  if (!s.empty() && s[0] >= 'A' && s[0] <= 'Z') s[0] = static_cast<char>(s[0] - 'A' + 'a');
  return s;
}

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// Turns libpq's connection failure into "cannot connect to host:port: <why>; <what to do>".
Status ConnectError(PGconn* conn, const std::string& conninfo) {
  const std::string libpq_message = PQerrorMessage(conn);
  const std::string first_line = libpq_message.substr(0, libpq_message.find('\n'));
  std::string why = first_line;
  // "connection to server at "127.0.0.1", port 1 failed: Connection refused" -> the reason.
  const size_t failed = first_line.rfind("failed: ");
  if (failed != std::string::npos) why = first_line.substr(failed + 8);
  why = LowerFirst(why);

  std::string hint;
  if (Contains(libpq_message, "Connection refused") ||
      Contains(libpq_message, "No such file or directory")) {
    hint = "is PostgreSQL running and listening there?";
  } else if (Contains(libpq_message, "could not translate host name")) {
    hint = "check the host name";
  } else if (Contains(libpq_message, "authentication failed") ||
             Contains(libpq_message, "no pg_hba.conf entry") ||
             Contains(libpq_message, "password")) {
    hint = "check the user and password, and pg_hba.conf on the server";
  } else if (Contains(libpq_message, "does not exist")) {
    hint = "create the database or role, or connect to another one";
  } else if (Contains(libpq_message, "timeout")) {
    hint = "is the host reachable (firewall, network)?";
  } else {
    hint = "check that the server is up and the connection settings are right";
  }
  const char* host = PQhost(conn);
  const char* port = PQport(conn);
  std::string where = (host != nullptr && *host != '\0') ? host : "the default socket";
  if (port != nullptr && *port != '\0') where += std::string(":") + port;
  return Unavailable("cannot connect to " + where + ": " + why + "; " + hint + " " +
                     std::string(kWhereToConfigure) + " (connection string \"" +
                     MaskConnInfo(conninfo) + "\")");
}

StatusCode CodeForSqlState(std::string_view state, bool connection_lost) {
  if (connection_lost) return StatusCode::kUnavailable;
  if (state.size() != 5) return StatusCode::kInternal;
  const std::string_view cls = state.substr(0, 2);
  if (cls == "08" || cls == "53" || state == "57P01" || state == "57P02" || state == "57P03") {
    return StatusCode::kUnavailable;
  }
  if (state == "42P01" || state == "42704" || state == "42883" || state == "3D000") {
    return StatusCode::kNotFound;
  }
  if (cls == "42" || cls == "22") return StatusCode::kInvalidArgument;
  if (cls == "23" || cls == "55") return StatusCode::kFailedPrecondition;
  if (cls == "40" || state == "57014") return StatusCode::kAborted;
  return StatusCode::kInternal;
}

}  // namespace

std::string SqlState(const Status& status) {
  const std::string& message = status.message();
  const size_t marker = message.rfind(kSqlStateMarker);
  if (status.ok() || marker == std::string::npos) return "";
  const size_t start = marker + kSqlStateMarker.size();
  if (start + 6 > message.size() || message[start + 5] != ')') return "";
  return message.substr(start, 5);
}

std::string MaskConnInfo(std::string_view conninfo) {
  return IsUrl(conninfo) ? MaskUrl(conninfo) : MaskKeywordValue(conninfo);
}

// --- QueryResult ---

void QueryResult::Deleter::operator()(PGresult* result) const { PQclear(result); }

QueryResult::QueryResult(PGresult* result) : result_(result) {}
QueryResult::~QueryResult() = default;

int QueryResult::rows() const { return PQntuples(result_.get()); }
int QueryResult::columns() const { return PQnfields(result_.get()); }

bool QueryResult::IsNull(int row, int column) const {
  if (row < 0 || row >= rows() || column < 0 || column >= columns()) return true;
  return PQgetisnull(result_.get(), row, column) != 0;
}

std::string_view QueryResult::Get(int row, int column) const {
  if (IsNull(row, column)) return {};
  return {PQgetvalue(result_.get(), row, column),
          static_cast<size_t>(PQgetlength(result_.get(), row, column))};
}

std::optional<std::string_view> QueryResult::GetOptional(int row, int column) const {
  if (IsNull(row, column)) return std::nullopt;
  return Get(row, column);
}

std::string_view QueryResult::ColumnName(int column) const {
  const char* name = PQfname(result_.get(), column);
  return name != nullptr ? std::string_view(name) : std::string_view();
}

int QueryResult::ColumnIndex(std::string_view name) const {
  // Not PQfnumber: it case-folds and parses quotes, which surprises callers with exact names.
  for (int i = 0; i < columns(); ++i) {
    if (ColumnName(i) == name) return i;
  }
  return -1;
}

std::string_view QueryResult::CommandTag() const {
  const char* tag = PQcmdStatus(result_.get());
  return tag != nullptr ? std::string_view(tag) : std::string_view();
}

int64_t QueryResult::RowsAffected() const {
  const char* tuples = PQcmdTuples(result_.get());
  if (tuples == nullptr || *tuples == '\0') return 0;
  return std::strtoll(tuples, nullptr, 10);
}

// --- Connection ---

Result<std::unique_ptr<Connection>> Connection::Connect(const std::string& conninfo,
                                                        int connect_timeout_s) {
  char* parse_error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &parse_error);
  if (options == nullptr) {
    std::string why = parse_error != nullptr ? OneLine(parse_error) : "out of memory";
    PQfreemem(parse_error);
    return InvalidArgument("invalid connection string \"" + MaskConnInfo(conninfo) + "\": " + why +
                           "; expected \"host=... port=... user=... dbname=...\" or "
                           "\"postgresql://user@host:port/dbname\"; " +
                           std::string(kWhereToConfigure));
  }
  PQconninfoFree(options);

  // Defaults come before "dbname" so that what the string sets wins (libpq processes the
  // keywords in order, expanding dbname into the string's settings).
  const std::string timeout = std::to_string(connect_timeout_s > 0 ? connect_timeout_s : 0);
  const char* const keywords[] = {"connect_timeout", "fallback_application_name", "dbname",
                                  nullptr};
  const char* const values[] = {timeout.c_str(), "eddy", conninfo.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (conn == nullptr) return Internal("libpq could not allocate a connection");
  if (PQstatus(conn) != CONNECTION_OK) {
    Status status = ConnectError(conn, conninfo);
    PQfinish(conn);
    return status;
  }
  return std::unique_ptr<Connection>(new Connection(conn));
}

Connection::~Connection() { PQfinish(conn_); }

bool Connection::IsOk() const { return PQstatus(conn_) == CONNECTION_OK; }

int Connection::ServerVersion() const { return PQserverVersion(conn_); }

bool Connection::InTransaction() const {
  const PGTransactionStatusType state = PQtransactionStatus(conn_);
  return state == PQTRANS_INTRANS || state == PQTRANS_INERROR;
}

Result<QueryResult> Connection::Check(PGresult* raw_result) {
  QueryResult result(raw_result);
  last_error_position_ = 0;
  if (raw_result == nullptr) {
    const bool lost = PQstatus(conn_) != CONNECTION_OK;
    return Status(lost ? StatusCode::kUnavailable : StatusCode::kInternal,
                  OneLine(PQerrorMessage(conn_)));
  }
  switch (PQresultStatus(raw_result)) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_EMPTY_QUERY:
    case PGRES_COPY_IN:
    case PGRES_COPY_OUT:
    case PGRES_COPY_BOTH:
    case PGRES_SINGLE_TUPLE:
      return result;
    default:
      break;
  }
  const char* state = PQresultErrorField(raw_result, PG_DIAG_SQLSTATE);
  const char* primary = PQresultErrorField(raw_result, PG_DIAG_MESSAGE_PRIMARY);
  const char* detail = PQresultErrorField(raw_result, PG_DIAG_MESSAGE_DETAIL);
  const char* hint = PQresultErrorField(raw_result, PG_DIAG_MESSAGE_HINT);
  if (const char* position = PQresultErrorField(raw_result, PG_DIAG_STATEMENT_POSITION)) {
    last_error_position_ = std::atoi(position);
  }
  const bool lost = PQstatus(conn_) != CONNECTION_OK;
  std::string message;
  if (primary != nullptr) {
    message = primary;
    if (detail != nullptr) message += std::string("; detail: ") + detail;
    if (hint != nullptr) message += std::string("; hint: ") + hint;
  } else {
    message = OneLine(PQresultErrorMessage(raw_result));
    if (message.empty()) message = OneLine(PQerrorMessage(conn_));
  }
  if (lost) message += "; the connection to the server was lost";
  const std::string_view sqlstate = state != nullptr ? state : "";
  if (!sqlstate.empty()) message += " (SQLSTATE " + std::string(sqlstate) + ")";
  return Status(CodeForSqlState(sqlstate, lost && sqlstate.empty()), std::move(message));
}

Result<QueryResult> Connection::Exec(std::string_view sql) {
  const std::string query(sql);  // libpq wants NUL-terminated text
  return Check(PQexec(conn_, query.c_str()));
}

Result<QueryResult> Connection::ExecParams(std::string_view sql,
                                           const std::vector<std::optional<std::string>>& params) {
  const std::string query(sql);
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const std::optional<std::string>& param : params) {
    values.push_back(param.has_value() ? param->c_str() : nullptr);
  }
  return Check(PQexecParams(conn_, query.c_str(), static_cast<int>(params.size()),
                            /*paramTypes=*/nullptr, values.data(), /*paramLengths=*/nullptr,
                            /*paramFormats=*/nullptr, /*resultFormat=*/0));
}

std::string Connection::QuoteIdent(std::string_view identifier) {
  std::string out;
  out.reserve(identifier.size() + 2);
  out.push_back('"');
  for (char c : identifier) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string Connection::QuoteLiteral(std::string_view literal) {
  std::string out;
  out.reserve(literal.size() + 3);
  const bool has_backslash = literal.find('\\') != std::string_view::npos;
  if (has_backslash) out.push_back('E');
  out.push_back('\'');
  for (char c : literal) {
    if (c == '\'' || (c == '\\' && has_backslash)) out.push_back(c);
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

}  // namespace eddy::pg
