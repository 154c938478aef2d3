#include "adapters/watch/watch_config.h"

#include <map>
#include <set>

#include <fmt/format.h>

namespace eddy::watch {

std::vector<std::string> WatcherDef::Names() const {
  if (!label.empty()) return {label};
  std::vector<std::string> names;
  for (Op op : ops) names.push_back(fmt::format("{}.{}.{}", schema, table, OpName(op)));
  return names;
}

Result<Op> ParseOp(std::string_view text, std::string_view field) {
  if (text == "insert") return Op::kInsert;
  if (text == "update") return Op::kUpdate;
  if (text == "delete") return Op::kDelete;
  if (text == "truncate") return Op::kTruncate;
  return InvalidArgument(fmt::format(
      "{}: \"{}\" is not an operation (use insert, update, delete or truncate)", field, text));
}

Result<std::pair<std::string, std::string>> ParseTableName(std::string_view text,
                                                           std::string_view field) {
  if (text.empty()) return InvalidArgument(fmt::format("{}: a table name is required", field));
  size_t dot = text.find('.');
  std::string schema = dot == std::string_view::npos ? "public" : std::string(text.substr(0, dot));
  std::string table =
      dot == std::string_view::npos ? std::string(text) : std::string(text.substr(dot + 1));
  if (schema.empty() || table.empty() || table.find('.') != std::string::npos) {
    return InvalidArgument(
        fmt::format("{}: \"{}\" is not a table name (use table or schema.table)", field, text));
  }
  return std::make_pair(schema, table);
}

Status ValidateWatchers(const WatchConfig& config) {
  std::map<std::string, size_t> names;
  std::map<std::string, std::vector<size_t>> by_table_op;
  for (size_t i = 0; i < config.watchers.size(); ++i) {
    const WatcherDef& w = config.watchers[i];
    const std::string where = fmt::format("watch.watchers[{}] ({}.{})", i, w.schema, w.table);
    if (w.table.empty())
      return InvalidArgument(fmt::format("watch.watchers[{}].table: required", i));
    if (w.ops.empty()) {
      return InvalidArgument(
          fmt::format("{}.ops: list at least one of insert, update, delete, truncate", where));
    }
    for (const std::string& c : w.trigger_columns) {
      if (c.empty()) return InvalidArgument(fmt::format("{}.trigger_columns: empty name", where));
    }
    for (Op op : w.ops) {
      by_table_op[fmt::format("{}.{}.{}", w.schema, w.table, OpName(op))].push_back(i);
    }
    for (const std::string& name : w.Names()) {
      auto [it, fresh] = names.emplace(name, i);
      if (!fresh) {
        return InvalidArgument(fmt::format(
            "{}: the name \"{}\" is already used by watch.watchers[{}]; give one of them a "
            "distinct label",
            where, name, it->second));
      }
    }
  }
  for (const auto& [key, list] : by_table_op) {
    if (list.size() < 2) continue;
    for (size_t i : list) {
      if (config.watchers[i].label.empty()) {
        return InvalidArgument(fmt::format(
            "watch.watchers[{}]: {} is watched by more than one watcher; each needs a distinct "
            "label",
            i, key));
      }
    }
  }
  return Status::Ok();
}

}  // namespace eddy::watch
