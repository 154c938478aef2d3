#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/result.h"

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;

namespace eddy::pg {

// Errors from PostgreSQL carry their SQLSTATE at the end of the Status message, as
// "... (SQLSTATE 23505)". Status::WithContext only prefixes, so the suffix survives context.
// Returns the five-character code, or "" when the Status did not come from a server error
// (connection failures, client-side errors, ok).
std::string SqlState(const Status& status);

// Returns `conninfo` (keyword/value or postgresql:// URL form, parsable or not) with every
// password replaced by "*****", for error messages and logs.
std::string MaskConnInfo(std::string_view conninfo);

// The result of one statement; owns its PGresult. Move-only. Row and column indexes are 0-based;
// out-of-range indexes read as NULL / empty instead of crashing.
class QueryResult {
 public:
  explicit QueryResult(PGresult* result);  // takes ownership
  QueryResult(QueryResult&&) noexcept = default;
  QueryResult& operator=(QueryResult&&) noexcept = default;
  ~QueryResult();

  int rows() const;
  int columns() const;
  // The value in PostgreSQL's text output form; empty for NULL. Valid while this result lives.
  std::string_view Get(int row, int column) const;
  bool IsNull(int row, int column) const;
  // The value, or nullopt for NULL.
  std::optional<std::string_view> GetOptional(int row, int column) const;
  std::string_view ColumnName(int column) const;
  // The index of the column named `name` (exact match), or -1.
  int ColumnIndex(std::string_view name) const;
  // The command tag: "INSERT 0 3", "SELECT 2", "CREATE TABLE".
  std::string_view CommandTag() const;
  // Rows affected by INSERT/UPDATE/DELETE/MERGE/SELECT/MOVE/FETCH/COPY; 0 for other commands.
  int64_t RowsAffected() const;

  PGresult* raw() const { return result_.get(); }

 private:
  struct Deleter {
    void operator()(PGresult* result) const;
  };
  std::unique_ptr<PGresult, Deleter> result_;
};

// One libpq connection. Not thread-safe: use it from one thread at a time.
//
// Error mapping of Exec/ExecParams (SQLSTATE in the message, see SqlState()):
//   class 08 (connection), 57P01..57P03 (shutdown), 53 (resources), lost connection -> kUnavailable
//   42P01, 42704, 42883, 3D000 (undefined table/object/function, unknown database) -> kNotFound
//   other class 42 (syntax, access), 22 (data) -> kInvalidArgument
//   23 (integrity: unique, foreign key, ...), 55 (object state) -> kFailedPrecondition
//   40 (rollback, serialization), 57014 (canceled) -> kAborted
//   anything else -> kInternal
class Connection {
 public:
  // Connects with a conninfo string ("host=... port=... dbname=...") or a URL
  // ("postgresql://user@host:port/db"). `connect_timeout_s` applies unless the string sets
  // connect_timeout itself. Errors name the host and port, say what to do and mask passwords:
  //   kInvalidArgument: the string does not parse
  //   kUnavailable: the server could not be reached or refused the connection (also
  //                 authentication failures and missing databases: the message says which)
  static Result<std::unique_ptr<Connection>> Connect(const std::string& conninfo,
                                                     int connect_timeout_s = 10);

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Runs `sql` (one or more statements; the result is the last one's). Succeeds for commands,
  // queries and the start of COPY (then continue through raw()).
  Result<QueryResult> Exec(std::string_view sql);
  // Runs one statement with $1, $2, ... bound to `params` as text (nullopt = NULL). The values
  // travel separately from the SQL: never quote them yourself.
  Result<QueryResult> ExecParams(std::string_view sql,
                                 const std::vector<std::optional<std::string>>& params);

  // Whether the connection is still usable (false after the server went away).
  bool IsOk() const;
  // The server's version as a number, e.g. 150004 for 15.4.
  int ServerVersion() const;
  // Whether a transaction block is open (after BEGIN, before COMMIT/ROLLBACK), also when it
  // failed and waits for ROLLBACK.
  bool InTransaction() const;
  // The 1-based character position in the statement text that the last failed Exec/ExecParams
  // reported (PostgreSQL's "LINE n" caret), or 0 when it reported none or the last call succeeded.
  int last_error_position() const { return last_error_position_; }
  // The underlying connection, for the replication protocol. Owned by this object.
  PGconn* raw() const { return conn_; }

  // "name" -> "\"name\"" with embedded double quotes doubled: safe for any identifier.
  static std::string QuoteIdent(std::string_view identifier);
  // "it's" -> "'it''s'"; strings containing a backslash use the E'' form with backslashes
  // doubled, so the result is correct whatever standard_conforming_strings is.
  static std::string QuoteLiteral(std::string_view literal);

 private:
  explicit Connection(PGconn* conn) : conn_(conn) {}
  Result<QueryResult> Check(PGresult* result);

  PGconn* conn_;
  int last_error_position_ = 0;
};

}  // namespace eddy::pg
