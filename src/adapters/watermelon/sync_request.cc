#include "adapters/watermelon/sync_request.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>
#include <simdjson.h>

namespace eddy::watermelon {
namespace {

namespace dom = simdjson::dom;

Status Bad(const std::string& path, std::string_view what) {
  return InvalidArgument(fmt::format("{}: {}", path, what));
}

JsonValue ToJsonValue(dom::element e) {
  JsonValue v;
  switch (e.type()) {
    case dom::element_type::NULL_VALUE:
      v.kind = JsonValue::Kind::kNull;
      break;
    case dom::element_type::BOOL:
      v.kind = JsonValue::Kind::kBool;
      v.text = e.get_bool().value_unsafe() ? "true" : "false";
      break;
    case dom::element_type::INT64:
      v.kind = JsonValue::Kind::kNumber;
      v.text = std::to_string(e.get_int64().value_unsafe());
      break;
    case dom::element_type::UINT64:
      v.kind = JsonValue::Kind::kNumber;
      v.text = std::to_string(e.get_uint64().value_unsafe());
      break;
    case dom::element_type::DOUBLE:
      v.kind = JsonValue::Kind::kNumber;
      v.text = fmt::format("{}", e.get_double().value_unsafe());
      break;
    case dom::element_type::STRING:
      v.kind = JsonValue::Kind::kString;
      v.text = std::string(e.get_string().value_unsafe());
      break;
    default:
      v.kind = JsonValue::Kind::kRaw;
      v.text = simdjson::minify(e);
      break;
  }
  return v;
}

Status ParseRecords(dom::element e, const std::string& path, std::vector<PushRecord>* out) {
  dom::array records;
  if (e.get_array().get(records) != simdjson::SUCCESS) return Bad(path, "must be an array");
  size_t i = 0;
  for (dom::element r : records) {
    const std::string here = fmt::format("{}[{}]", path, i++);
    dom::object object;
    if (r.get_object().get(object) != simdjson::SUCCESS) {
      return Bad(here, "must be an object (a raw record)");
    }
    PushRecord record;
    bool has_id = false;
    for (dom::key_value_pair field : object) {
      if (field.key == "id") {
        std::string_view id;
        if (field.value.get_string().get(id) != simdjson::SUCCESS) {
          return Bad(here + ".id", "must be a string");
        }
        record.id = std::string(id);
        has_id = true;
      } else if (field.key == "_status" || field.key == "_changed") {
        continue;  // client bookkeeping, never stored
      } else {
        record.fields.emplace_back(std::string(field.key), ToJsonValue(field.value));
      }
    }
    if (!has_id) return Bad(here + ".id", "is missing");
    out->push_back(std::move(record));
  }
  return Status::Ok();
}

bool LooksLikeTable(dom::element e) {
  dom::object o;
  if (e.get_object().get(o) != simdjson::SUCCESS) return false;
  for (dom::key_value_pair kv : o) {
    if (kv.key == "created" || kv.key == "updated" || kv.key == "deleted") return true;
  }
  return o.size() == 0;
}

Result<std::vector<std::string>> StringArray(dom::element e, const std::string& path) {
  dom::array a;
  if (e.get_array().get(a) != simdjson::SUCCESS) return Bad(path, "must be an array of strings");
  std::vector<std::string> out;
  size_t i = 0;
  for (dom::element x : a) {
    std::string_view s;
    if (x.get_string().get(s) != simdjson::SUCCESS) {
      return Bad(fmt::format("{}[{}]", path, i), "must be a string");
    }
    out.emplace_back(s);
    ++i;
  }
  return out;
}

}  // namespace

bool IsSafeId(std::string_view id) {
  if (id.empty() || id.size() > 255) return false;
  for (char c : id) {
    if (c == '\'' || c == '"' || c == '\\' || c == '/' || c == '$') return false;
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return true;
}

Result<std::optional<int64_t>> ParseLastPulledAt(std::optional<std::string_view> text,
                                                 std::string_view field) {
  if (!text || text->empty() || *text == "null" || *text == "undefined" || *text == "0") {
    return std::optional<int64_t>();
  }
  std::string copy(*text);
  char* end = nullptr;
  const double value = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size() || !std::isfinite(value) || value < 0 ||
      value > static_cast<double>(kMaxTimestamp)) {
    return InvalidArgument(fmt::format(
        "{}: \"{}\" is not a timestamp this server gave out (null, or an integer from 1 to "
        "2^53-1)",
        field, *text));
  }
  const int64_t whole = static_cast<int64_t>(std::floor(value));
  if (whole == 0) return std::optional<int64_t>();
  return std::optional<int64_t>(whole);
}

Result<std::optional<MigrationRequest>> ParseMigration(std::optional<std::string_view> text) {
  if (!text || text->empty() || *text == "null" || *text == "undefined") {
    return std::optional<MigrationRequest>();
  }
  dom::parser parser;
  simdjson::padded_string padded(*text);
  dom::element doc;
  if (parser.parse(padded).get(doc) != simdjson::SUCCESS) {
    return Bad("migration",
               "is not JSON (expected {\"from\":n,\"tables\":[...],\"columns\":[...]})");
  }
  if (doc.is_null()) return std::optional<MigrationRequest>();
  dom::object o;
  if (doc.get_object().get(o) != simdjson::SUCCESS) return Bad("migration", "must be an object");
  MigrationRequest m;
  dom::element from;
  if (o.at_key("from").get(from) == simdjson::SUCCESS) {
    int64_t v = 0;
    double d = 0;
    if (from.get_int64().get(v) == simdjson::SUCCESS) {
      m.from = v;
    } else if (from.get_double().get(d) == simdjson::SUCCESS && std::isfinite(d) &&
               std::fabs(d) < 1e15) {
      m.from = static_cast<int64_t>(d);
    } else {
      return Bad("migration.from", "must be a schema version number");
    }
  }
  dom::element tables;
  if (o.at_key("tables").get(tables) == simdjson::SUCCESS && !tables.is_null()) {
    EDDY_ASSIGN_OR_RETURN(m.tables, StringArray(tables, "migration.tables"));
  }
  dom::element columns;
  if (o.at_key("columns").get(columns) == simdjson::SUCCESS && !columns.is_null()) {
    dom::array a;
    if (columns.get_array().get(a) != simdjson::SUCCESS) {
      return Bad("migration.columns", "must be an array of {\"table\":..,\"columns\":[...]}");
    }
    size_t i = 0;
    for (dom::element c : a) {
      const std::string path = fmt::format("migration.columns[{}]", i++);
      dom::object co;
      if (c.get_object().get(co) != simdjson::SUCCESS) return Bad(path, "must be an object");
      MigrationColumns mc;
      std::string_view table;
      if (co.at_key("table").get_string().get(table) != simdjson::SUCCESS) {
        return Bad(path + ".table", "must be a string");
      }
      mc.table = std::string(table);
      dom::element cols;
      if (co.at_key("columns").get(cols) != simdjson::SUCCESS) {
        return Bad(path + ".columns", "is missing");
      }
      EDDY_ASSIGN_OR_RETURN(mc.columns, StringArray(cols, path + ".columns"));
      m.columns.push_back(std::move(mc));
    }
  }
  return std::optional<MigrationRequest>(std::move(m));
}

Result<PushBody> ParsePushBody(std::string_view body) {
  dom::parser parser;
  simdjson::padded_string padded(body);
  dom::element doc;
  if (auto error = parser.parse(padded).get(doc); error != simdjson::SUCCESS) {
    return InvalidArgument(fmt::format("body: is not JSON ({})", simdjson::error_message(error)));
  }
  dom::object top;
  if (doc.get_object().get(top) != simdjson::SUCCESS) {
    return Bad("body",
               "must be a JSON object: the changes, or {\"changes\":...,\"lastPulledAt\":n}");
  }
  PushBody out;
  dom::object changes = top;
  std::string prefix = "changes";
  dom::element wrapped;
  dom::element last;
  const bool has_last = top.at_key("lastPulledAt").get(last) == simdjson::SUCCESS;
  if (top.at_key("changes").get(wrapped) == simdjson::SUCCESS &&
      (has_last || !LooksLikeTable(wrapped))) {
    if (wrapped.get_object().get(changes) != simdjson::SUCCESS) {
      return Bad("changes", "must be an object of tables");
    }
    if (has_last && !last.is_null()) {
      double d = 0;
      int64_t i = 0;
      if (last.get_int64().get(i) == simdjson::SUCCESS) {
        d = static_cast<double>(i);
      } else if (last.get_double().get(d) != simdjson::SUCCESS) {
        std::string_view s;
        if (last.get_string().get(s) != simdjson::SUCCESS) {
          return Bad("lastPulledAt", "must be a number");
        }
        auto parsed = ParseLastPulledAt(s, "lastPulledAt");
        if (!parsed.ok()) return parsed.status();
        out.last_pulled_at = *parsed;
        d = -1;
      }
      if (d >= 0) {
        auto parsed = ParseLastPulledAt(fmt::format("{}", std::floor(d)), "lastPulledAt");
        if (!parsed.ok()) return parsed.status();
        out.last_pulled_at = *parsed;
      }
    }
  }
  for (dom::key_value_pair table : changes) {
    const std::string path = fmt::format("{}.{}", prefix, table.key);
    dom::object t;
    if (table.value.get_object().get(t) != simdjson::SUCCESS) {
      return Bad(path, "must be an object with created, updated and deleted");
    }
    PushTable& pt = out.changes[std::string(table.key)];
    for (dom::key_value_pair part : t) {
      if (part.key == "created") {
        EDDY_RETURN_IF_ERROR(ParseRecords(part.value, path + ".created", &pt.created));
      } else if (part.key == "updated") {
        EDDY_RETURN_IF_ERROR(ParseRecords(part.value, path + ".updated", &pt.updated));
      } else if (part.key == "deleted") {
        EDDY_ASSIGN_OR_RETURN(pt.deleted, StringArray(part.value, path + ".deleted"));
      } else {
        return Bad(fmt::format("{}.{}", path, part.key),
                   "unknown key (a table has created, updated and deleted)");
      }
    }
  }
  return out;
}

}  // namespace eddy::watermelon
