#include "adapters/watermelon/pull.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/json_string.h"

namespace eddy::watermelon {
namespace {

std::string Q(const std::string& ident) { return pg::Connection::QuoteIdent(ident); }

// "t.<col expr>, ..." for the exposed columns.
std::string ColumnList(const SyncTable& t) {
  std::string out;
  for (const SyncColumn& c : t.columns) {
    out += ", ";
    out += SelectExpression(c.kind, "t." + Q(c.name));
  }
  return out;
}

// Appends {"id":..,"col":..} for row `row`, whose exposed columns start at `first`.
void AppendRecord(const SyncTable& t, const pg::QueryResult& r, int row, int id_col, int first,
                  std::string* out) {
  out->append("{\"id\":");
  AppendJsonString(r.Get(row, id_col), out);
  for (size_t i = 0; i < t.columns.size(); ++i) {
    out->push_back(',');
    AppendJsonString(t.columns[i].client_name, out);
    out->push_back(':');
    AppendJsonValue(t.columns[i].kind, r.GetOptional(row, first + static_cast<int>(i)), out);
  }
  out->push_back('}');
}

std::string NonDefaultCondition(const SyncColumn& c) {
  const std::string col = "t." + Q(c.name);
  switch (c.kind) {
    case ValueKind::kInteger:
    case ValueKind::kBigInteger:
    case ValueKind::kNumeric:
    case ValueKind::kFloat:
      return col + " <> 0";
    case ValueKind::kBool:
      return col;
    case ValueKind::kString:
      return col + "::text <> ''";
    default:
      return col + " IS NOT NULL";
  }
}

// Rows fetched per round trip from a pull's cursors.
constexpr int kFetchRows = 5000;
// The rendered body is handed to the sink in pieces of about this size.
constexpr size_t kFlushBytes = 64 << 10;

class PullRun {
 public:
  PullRun(pg::Connection& c, const std::string& schema, const PullRequest& request, JsonSink& sink,
          PullStats* stats)
      : c_(c), s_(Q(schema)), req_(request), sink_(sink), stats_(stats) {}

  SyncAnswer Run(const std::vector<std::shared_ptr<const SyncTable>>& tables) {
    // Cursors are planned for their first rows (cursor_tuple_fraction 0.1) unless told that
    // every row will be read, which pulls do: without it a full pull gets a nested loop.
    Status begin = c_.Exec(
                         "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL "
                         "cursor_tuple_fraction = 1.0")
                       .status();
    if (!begin.ok()) return Unavailable(begin);
    SyncAnswer answer = Body(tables);
    (void)c_.Exec(answer.status == 200 ? "COMMIT" : "ROLLBACK");
    return answer;
  }

 private:
  static SyncAnswer Unavailable(const Status& s) {
    spdlog::warn("watermelon pull: {}", s.ToString());
    return SyncAnswer::Error(503, "unavailable",
                             "the database is not reachable right now; retry: " + s.message());
  }

  std::optional<std::string> ScopeOf(const SyncTable& t) const {
    if (t.scope_column.empty()) return std::nullopt;
    auto it = req_.scopes.find(t.client_table);
    if (it == req_.scopes.end()) return std::nullopt;
    return it->second;
  }

  Status Flush(bool force = false) {
    if (out_.empty() || (!force && out_.size() < kFlushBytes)) return Status::Ok();
    Status s = sink_.Append(out_);
    out_.clear();
    return s;
  }

  // Writes the JSON array items of `sql`'s rows: a record per row (id in column 0, the exposed
  // columns from `first`) or, when `ids_only`, the id string. Read through a cursor.
  Status Stream(const SyncTable& t, const std::string& sql,
                const std::vector<std::optional<std::string>>& params, int first, bool ids_only) {
    EDDY_RETURN_IF_ERROR(
        c_.ExecParams("DECLARE eddy_pull NO SCROLL CURSOR FOR " + sql, params).status());
    for (;;) {
      EDDY_ASSIGN_OR_RETURN(pg::QueryResult r,
                            c_.Exec(fmt::format("FETCH FORWARD {} FROM eddy_pull", kFetchRows)));
      for (int i = 0; i < r.rows(); ++i) {
        if (!first_item_) out_.push_back(',');
        first_item_ = false;
        if (ids_only) {
          AppendJsonString(r.Get(i, 0), &out_);
        } else {
          AppendRecord(t, r, i, 0, first, &out_);
          stats_->records += 1;
        }
      }
      EDDY_RETURN_IF_ERROR(Flush());
      if (r.rows() < kFetchRows) break;
    }
    return c_.Exec("CLOSE eddy_pull").status();
  }

  void OpenList(std::string_view name) {
    out_ += '"';
    out_ += name;
    out_ += "\":[";
    first_item_ = true;
  }

  SyncAnswer Body(const std::vector<std::shared_ptr<const SyncTable>>& tables) {
    auto state = c_.Exec(fmt::format("SELECT processed_lsn, horizon FROM {}.state", s_));
    if (!state.ok()) return Unavailable(state.status());
    if (state->rows() != 1) {
      return SyncAnswer::Error(503, "starting", "eddy is still preparing its sync metadata; retry");
    }
    watermark_ = std::stoll(std::string(state->Get(0, 0)));
    const int64_t horizon = std::stoll(std::string(state->Get(0, 1)));
    bool replacement = false;
    if (req_.last_pulled_at &&
        (*req_.last_pulled_at > watermark_ || *req_.last_pulled_at < horizon)) {
      replacement = true;  // restored database, or older than tombstone retention (spec 1.6)
    }
    stats_->replacement = replacement;
    const bool full = !req_.last_pulled_at || replacement;
    bool has_more = false;
    if (!full && req_.page_size > 0) {
      std::vector<std::string> names;
      for (const auto& t : tables) names.push_back(t->qualified);
      auto page = c_.ExecParams(
          fmt::format("SELECT version FROM {}.meta WHERE tbl = ANY($1::text[]) AND version > $2 "
                      "AND version <= $3 ORDER BY version OFFSET $4 LIMIT 1",
                      s_),
          {TextArrayLiteral(names), std::to_string(*req_.last_pulled_at),
           std::to_string(watermark_), std::to_string(req_.page_size - 1)});
      if (!page.ok()) return Unavailable(page.status());
      if (page->rows() == 1) {
        const int64_t end = std::stoll(std::string(page->Get(0, 0)));
        if (end < watermark_) {
          watermark_ = end;  // a commit-order prefix: nothing is skipped
          has_more = true;
        }
      }
    }
    // Everything the body needs to say after the records is known now, so it is written in
    // order, record by record.
    out_ = "{\"changes\":{";
    bool first_table = true;
    for (const auto& t : tables) {
      if (!first_table) out_.push_back(',');
      first_table = false;
      AppendJsonString(t->client_table, &out_);
      out_ += ":{";
      Status s = full ? Full(*t, replacement) : Incremental(*t);
      if (!s.ok()) return Unavailable(s);
      out_ += "]}";
    }
    out_ += "},\"timestamp\":" + std::to_string(watermark_);
    if (replacement) out_ += ",\"experimentalStrategy\":\"replacement\"";
    if (has_more) out_ += ",\"hasMore\":true";
    out_ += "}";
    Status flushed = Flush(/*force=*/true);
    if (!flushed.ok()) return Unavailable(flushed);
    return SyncAnswer{};
  }

  // Writes `"created":[...],"updated":[...],"deleted":[` with every live row of `t` at or below
  // the watermark (in the scope) in the created list, or in the updated list for a replacement.
  Status Full(const SyncTable& t, bool replacement) {
    // Only rows whose metadata is at or below the watermark: a row committed but not decoded
    // yet comes with the next pull instead, as a creation the client has not seen (sending it
    // now too would make that pull create it twice).
    std::string sql = fmt::format(
        "SELECT t.{}::text{} FROM {}.meta m JOIN {} t ON t.{} = m.id::{} WHERE m.tbl = $1 AND "
        "NOT m.deleted AND m.version <= $2",
        Q(t.id_column), ColumnList(t), s_, t.quoted, Q(t.id_column), t.id_sql_type);
    std::vector<std::optional<std::string>> params = {t.qualified, std::to_string(watermark_)};
    if (auto scope = ScopeOf(t)) {
      sql += fmt::format(" AND t.{}::text = $3", Q(t.scope_column));
      params.push_back(*scope);
    }
    // A replacement sync sends rows as updated, so clients that hold them log nothing (1.6).
    if (replacement) out_ += "\"created\":[],";
    OpenList(replacement ? "updated" : "created");
    EDDY_RETURN_IF_ERROR(Stream(t, sql, params, 1, false));
    out_ += "],";
    if (!replacement) out_ += "\"updated\":[],";
    OpenList("deleted");
    return Status::Ok();
  }

  bool MigrationHasTable(const SyncTable& t) const {
    if (!req_.migration) return false;
    for (const std::string& name : req_.migration->tables) {
      if (name == t.client_table) return true;
    }
    return t.table_added_in > req_.migration->from && t.table_added_in <= req_.schema_version;
  }

  std::vector<const SyncColumn*> MigrationColumnsOf(const SyncTable& t) const {
    std::vector<const SyncColumn*> out;
    if (!req_.migration) return out;
    for (const SyncColumn& c : t.columns) {
      bool wanted = c.added_in > req_.migration->from && c.added_in <= req_.schema_version;
      for (const MigrationColumns& mc : req_.migration->columns) {
        if (mc.table != t.client_table) continue;
        for (const std::string& name : mc.columns) wanted = wanted || name == c.client_name;
      }
      if (wanted) out.push_back(&c);
    }
    return out;
  }

  // Like Full, for the rows changed in (lastPulledAt, W].
  Status Incremental(const SyncTable& t) {
    if (MigrationHasTable(t)) return Full(t, false);  // a table new to the client (1.4)
    const std::string last = std::to_string(*req_.last_pulled_at);
    const std::string w = std::to_string(watermark_);
    const std::optional<std::string> scope = ScopeOf(t);
    std::vector<std::optional<std::string>> params = {t.qualified, last, w};
    std::string scope_filter;
    if (scope) {
      params.push_back(*scope);
      scope_filter = " AND m.scope = $4";
    }
    // Live rows changed in (last, W]. The join drops rows deleted but not yet decoded: their
    // tombstones come with a later pull.
    const std::string changed = fmt::format(
        "SELECT t.{}::text{} FROM {}.meta m JOIN {} t ON t.{} = m.id::{} WHERE m.tbl "
        "= $1 AND m.version > $2 AND m.version <= $3 AND NOT m.deleted{}",
        Q(t.id_column), ColumnList(t), s_, t.quoted, Q(t.id_column), t.id_sql_type, scope_filter);
    // Created only when this client cannot have it: made (or brought into its scope) after its
    // last pull, and not by this client itself (spec 1.3 rule a). Without a client id every
    // change is an update (created-only-on-first-sync).
    std::string created_rule;
    std::vector<std::optional<std::string>> created_params = params;
    if (!req_.client_id.empty()) {
      created_params.push_back(req_.client_id);
      // Parenthesised so the OR binds inside: (a OR b) AND c.
      created_rule =
          fmt::format("((m.created_version > $2{}) AND m.origin_client IS DISTINCT FROM ${})",
                      scope ? " OR m.scope_since > $2" : "", created_params.size());
    }
    OpenList("created");
    if (!created_rule.empty()) {
      EDDY_RETURN_IF_ERROR(Stream(t, changed + " AND " + created_rule, created_params, 1, false));
    }
    out_ += "],";
    OpenList("updated");
    if (created_rule.empty()) {
      EDDY_RETURN_IF_ERROR(Stream(t, changed, params, 1, false));
    } else {
      EDDY_RETURN_IF_ERROR(
          Stream(t, changed + " AND NOT " + created_rule, created_params, 1, false));
    }
    // Migration sync: rows whose newly added columns hold something (spec 1.4), unless they
    // went out above already.
    std::vector<const SyncColumn*> columns = MigrationColumnsOf(t);
    if (!columns.empty()) {
      std::string where;
      for (const SyncColumn* c : columns) {
        if (!where.empty()) where += " OR ";
        where += NonDefaultCondition(*c);
      }
      std::string sql = fmt::format(
          "SELECT t.{0}::text{1} FROM {2} t WHERE ({3}) AND NOT EXISTS (SELECT 1 FROM {4}.meta m "
          "WHERE m.tbl = $1 AND m.id = t.{0}::text AND m.version > $2 AND m.version <= $3 AND "
          "NOT m.deleted{5})",
          Q(t.id_column), ColumnList(t), t.quoted, where, s_, scope_filter);
      if (scope) sql += fmt::format(" AND t.{}::text = $4", Q(t.scope_column));
      EDDY_RETURN_IF_ERROR(Stream(t, sql, params, 1, false));
    }
    out_ += "],";
    // Deleted: tombstones in (last, W] of rows the client may hold, and rows that left its scope.
    // It may hold a row created at or before its last pull, or one it created itself (pushed,
    // then deleted by someone else before this pull). Without a client id every tombstone in the
    // window goes: an id the client does not have is ignored there (spec 1.2, "deleted | absent").
    std::vector<std::optional<std::string>> deleted_params = params;
    std::string may_hold;
    if (!req_.client_id.empty()) {
      deleted_params.push_back(req_.client_id);
      may_hold = fmt::format(" AND (m.created_version <= $2 OR m.origin_client = ${})",
                             deleted_params.size());
    }
    std::string deleted_sql = fmt::format(
        "SELECT m.id FROM {0}.meta m WHERE m.tbl = $1 AND m.deleted AND m.version > $2 AND "
        "m.version <= $3{1}{2}",
        s_, may_hold, scope_filter);
    if (scope) {
      deleted_sql += fmt::format(
          " UNION SELECT st.id FROM {0}.scope_tombstones st WHERE st.scope = $4 AND st.tbl = $1 "
          "AND st.version > $2 AND st.version <= $3 AND NOT EXISTS (SELECT 1 FROM {0}.meta m "
          "WHERE m.tbl = st.tbl AND m.id = st.id AND NOT m.deleted AND m.scope = $4)",
          s_);
    }
    OpenList("deleted");
    return Stream(t, deleted_sql, deleted_params, 0, true);
  }

  pg::Connection& c_;
  const std::string s_;
  const PullRequest& req_;
  JsonSink& sink_;
  PullStats* stats_;
  int64_t watermark_ = 0;
  std::string out_;         // rendered, not yet handed to sink_
  bool first_item_ = true;  // of the JSON array being written
};

}  // namespace

SyncAnswer RunPull(pg::Connection& connection, const std::string& meta_schema,
                   const std::vector<std::shared_ptr<const SyncTable>>& tables,
                   const PullRequest& request, JsonSink& sink, PullStats* stats) {
  PullRun run(connection, meta_schema, request, sink, stats);
  return run.Run(tables);
}

}  // namespace eddy::watermelon
