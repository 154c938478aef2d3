#include "adapters/watermelon/pull.h"

#include <set>

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

struct TableOut {
  std::string created;
  std::string updated;
  std::string deleted;
  void Add(std::string* list, std::string_view item) {
    if (!list->empty()) list->push_back(',');
    list->append(item);
  }
};

class PullRun {
 public:
  PullRun(pg::Connection& c, const std::string& schema, const PullRequest& request,
          PullStats* stats)
      : c_(c), s_(Q(schema)), req_(request), stats_(stats) {}

  SyncAnswer Run(const std::vector<std::shared_ptr<const SyncTable>>& tables) {
    Status begin = c_.Exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").status();
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
    std::string body = "{\"changes\":{";
    bool first_table = true;
    for (const auto& t : tables) {
      TableOut out;
      Status s = full ? Full(*t, replacement, &out) : Incremental(*t, &out);
      if (!s.ok()) return Unavailable(s);
      if (!first_table) body.push_back(',');
      first_table = false;
      AppendJsonString(t->client_table, &body);
      body += ":{\"created\":[" + out.created + "],\"updated\":[" + out.updated +
              "],\"deleted\":[" + out.deleted + "]}";
    }
    body += "},\"timestamp\":" + std::to_string(watermark_);
    if (replacement) body += ",\"experimentalStrategy\":\"replacement\"";
    if (has_more) body += ",\"hasMore\":true";
    body += "}";
    SyncAnswer answer;
    answer.body = std::move(body);
    return answer;
  }

  Status Full(const SyncTable& t, bool replacement, TableOut* out) {
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
    EDDY_ASSIGN_OR_RETURN(pg::QueryResult r, c_.ExecParams(sql, params));
    std::string record;
    // A replacement sync sends rows as updated, so clients that hold them log nothing (1.6).
    std::string* list = replacement ? &out->updated : &out->created;
    for (int i = 0; i < r.rows(); ++i) {
      record.clear();
      AppendRecord(t, r, i, 0, 1, &record);
      out->Add(list, record);
    }
    stats_->records += static_cast<uint64_t>(r.rows());
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

  Status Incremental(const SyncTable& t, TableOut* out) {
    if (MigrationHasTable(t)) return Full(t, false, out);  // a table new to the client (1.4)
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
    EDDY_ASSIGN_OR_RETURN(
        pg::QueryResult r,
        c_.ExecParams(
            fmt::format("SELECT m.id, m.created_version, m.origin_client, "
                        "m.scope_since{} FROM {}.meta m JOIN {} t ON t.{} = "
                        "m.id::{} WHERE m.tbl = $1 AND m.version > $2 AND m.version "
                        "<= $3 AND NOT m.deleted{}",
                        ColumnList(t), s_, t.quoted, Q(t.id_column), t.id_sql_type, scope_filter),
            params));
    const int64_t last_n = *req_.last_pulled_at;
    std::set<std::string> sent;
    std::string record;
    for (int i = 0; i < r.rows(); ++i) {
      record.clear();
      AppendRecord(t, r, i, 0, 4, &record);
      bool created = false;
      if (!req_.client_id.empty()) {
        // Created only when this client cannot have it: made (or brought into its scope) after
        // its last pull, and not by this client itself (spec 1.3 rule a).
        const int64_t created_version = std::stoll(std::string(r.Get(i, 1)));
        const int64_t scope_since = std::stoll(std::string(r.Get(i, 3)));
        const bool by_me = !r.IsNull(i, 2) && r.Get(i, 2) == req_.client_id;
        created = (created_version > last_n || (scope && scope_since > last_n)) && !by_me;
      }
      out->Add(created ? &out->created : &out->updated, record);
      if (req_.migration) sent.insert(std::string(r.Get(i, 0)));
    }
    stats_->records += static_cast<uint64_t>(r.rows());
    // Deleted: tombstones in (last, W] of rows the client may hold, and rows that left its scope.
    std::string deleted_sql = fmt::format(
        "SELECT m.id FROM {0}.meta m WHERE m.tbl = $1 AND m.deleted AND m.version > $2 AND "
        "m.version <= $3 AND m.created_version <= $2{1}",
        s_, scope_filter);
    if (scope) {
      deleted_sql += fmt::format(
          " UNION SELECT st.id FROM {0}.scope_tombstones st WHERE st.scope = $4 AND st.tbl = $1 "
          "AND st.version > $2 AND st.version <= $3 AND NOT EXISTS (SELECT 1 FROM {0}.meta m "
          "WHERE m.tbl = st.tbl AND m.id = st.id AND NOT m.deleted AND m.scope = $4)",
          s_);
    }
    EDDY_ASSIGN_OR_RETURN(pg::QueryResult d, c_.ExecParams(deleted_sql, params));
    for (int i = 0; i < d.rows(); ++i) {
      record.clear();
      AppendJsonString(d.Get(i, 0), &record);
      out->Add(&out->deleted, record);
    }
    // Migration sync: rows whose newly added columns hold something (spec 1.4).
    std::vector<const SyncColumn*> columns = MigrationColumnsOf(t);
    if (!columns.empty()) {
      std::string where;
      for (const SyncColumn* c : columns) {
        if (!where.empty()) where += " OR ";
        where += NonDefaultCondition(*c);
      }
      std::string sql = fmt::format("SELECT t.{}::text{} FROM {} t WHERE ({})", Q(t.id_column),
                                    ColumnList(t), t.quoted, where);
      std::vector<std::optional<std::string>> mparams;
      if (scope) {
        sql += fmt::format(" AND t.{}::text = $1", Q(t.scope_column));
        mparams.push_back(*scope);
      }
      EDDY_ASSIGN_OR_RETURN(pg::QueryResult m, c_.ExecParams(sql, mparams));
      for (int i = 0; i < m.rows(); ++i) {
        if (sent.count(std::string(m.Get(i, 0)))) continue;
        record.clear();
        AppendRecord(t, m, i, 0, 1, &record);
        out->Add(&out->updated, record);
      }
      stats_->records += static_cast<uint64_t>(m.rows());
    }
    return Status::Ok();
  }

  pg::Connection& c_;
  const std::string s_;
  const PullRequest& req_;
  PullStats* stats_;
  int64_t watermark_ = 0;
};

}  // namespace

SyncAnswer RunPull(pg::Connection& connection, const std::string& meta_schema,
                   const std::vector<std::shared_ptr<const SyncTable>>& tables,
                   const PullRequest& request, PullStats* stats) {
  PullRun run(connection, meta_schema, request, stats);
  return run.Run(tables);
}

}  // namespace eddy::watermelon
