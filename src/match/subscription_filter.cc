#include "match/subscription_filter.h"

#include <fmt/format.h>

namespace eddy::match {
namespace {

uint8_t OpBit(Op op) {
  switch (op) {
    case Op::kInsert:
      return 1;
    case Op::kUpdate:
      return 2;
    case Op::kDelete:
      return 4;
    case Op::kTruncate:
      return 8;
  }
  return 0;
}

}  // namespace

Result<std::unique_ptr<SubscriptionFilter>> SubscriptionFilter::Compile(
    const Subscription& subscription) {
  std::unique_ptr<SubscriptionFilter> f(new SubscriptionFilter());
  f->spec_ = subscription;
  if (subscription.table.empty() || subscription.table == "*") {
    if (!subscription.key.empty() || subscription.column) {
      return InvalidArgument(
          "subscription.table: a key or column filter needs a table (e.g. \"public.songs\")");
    }
    f->all_tables_ = true;
  }
  size_t dot = subscription.table.find('.');
  f->schema_ = dot == std::string::npos ? "public" : subscription.table.substr(0, dot);
  f->table_ = dot == std::string::npos ? subscription.table : subscription.table.substr(dot + 1);
  if (!f->all_tables_ && (f->schema_.empty() || f->table_.empty())) {
    return InvalidArgument(
        fmt::format("subscription.table: \"{}\" is not a table name", subscription.table));
  }
  for (Op op : subscription.ops) f->op_mask_ |= OpBit(op);
  if (f->op_mask_ == 0) f->op_mask_ = 0xF;
  if (!subscription.key.empty()) {
    if (f->op_mask_ & OpBit(Op::kInsert)) {
      if (!subscription.ops.empty()) {
        return InvalidArgument(
            "subscription.key: a primary-key subscription cannot watch inserts (an insert "
            "creates a key nobody could have subscribed to); use ops update and delete");
      }
    }
    // Without explicit ops a key subscription means updates and deletes of that row.
    f->op_mask_ &= static_cast<uint8_t>(~(OpBit(Op::kInsert) | OpBit(Op::kTruncate)));
  }
  if (subscription.column_value && !subscription.column) {
    return InvalidArgument("subscription.column: required when column_value is given");
  }
  if (subscription.column && subscription.column->empty()) {
    return InvalidArgument("subscription.column: must not be empty");
  }
  if (subscription.detail == Detail::kColumns && subscription.columns.empty()) {
    return InvalidArgument("subscription.columns: Detail::kColumns needs at least one column");
  }
  f->projection_key_ = std::to_string(static_cast<int>(subscription.detail));
  if (subscription.detail == Detail::kColumns) {
    for (const std::string& c : subscription.columns) f->projection_key_ += "," + c;
  }
  return f;
}

const SubscriptionFilter::Resolved& SubscriptionFilter::Resolve(const Change& change) {
  auto it = resolved_.find(change.table.get());
  if (it != resolved_.end()) return it->second;
  if (resolved_.size() > 64) resolved_.clear();  // old table versions
  Resolved r;
  r.table = change.table;
  const Table& t = *change.table;
  for (uint32_t i = 0; i < t.columns.size(); ++i) {
    if (t.columns[i].is_key) r.key_columns.push_back(i);
    if (spec_.column && t.columns[i].name == *spec_.column) r.filter_column = static_cast<int>(i);
    for (const std::string& name : spec_.trigger_columns) {
      if (t.columns[i].name == name) r.trigger_columns.push_back(i);
    }
  }
  switch (spec_.detail) {
    case Detail::kIdOnly:
      r.projection.rows = change::JsonProjection::Rows::kKeyOnly;
      break;
    case Detail::kFull:
      r.projection.rows = change::JsonProjection::Rows::kFull;
      break;
    case Detail::kColumns:
      r.projection.rows = change::JsonProjection::Rows::kColumns;
      for (const std::string& name : spec_.columns) {
        for (uint32_t i = 0; i < t.columns.size(); ++i) {
          if (t.columns[i].name == name) r.projection.columns.push_back(i);
        }
      }
      break;
  }
  return resolved_.emplace(change.table.get(), std::move(r)).first->second;
}

bool SubscriptionFilter::Matches(const Change& change) {
  if ((op_mask_ & OpBit(change.op)) == 0) return false;
  if (!all_tables_ && (change.table->name != table_ || change.table->schema != schema_)) {
    return false;
  }
  if (change.op == Op::kTruncate) return spec_.key.empty() && !spec_.column;
  const Resolved& r = Resolve(change);
  if (!spec_.key.empty()) {
    std::vector<const Value*> key = change.KeyValues();
    if (key.size() != spec_.key.size()) return false;
    for (size_t i = 0; i < key.size(); ++i) {
      if (key[i]->kind != Value::Kind::kText || key[i]->text != spec_.key[i]) return false;
    }
  }
  if (!spec_.trigger_columns.empty() && change.op == Op::kUpdate &&
      change.old_kind == OldRow::kFull) {
    bool changed = false;
    for (uint32_t i : r.trigger_columns) {
      const Value& now = change.new_row[i];
      if (now.kind != Value::Kind::kUnchanged && !(now == change.old_row[i])) changed = true;
    }
    if (!changed) return false;
  }
  if (spec_.column) {
    if (r.filter_column < 0) return false;
    const std::vector<Value>& row = change.op == Op::kDelete ? change.old_row : change.new_row;
    if (static_cast<size_t>(r.filter_column) >= row.size()) return false;
    const Value& v = row[static_cast<size_t>(r.filter_column)];
    if (!spec_.column_value)
      return v.kind == Value::Kind::kNull &&
             !(change.op == Op::kDelete && change.old_kind == OldRow::kKey);
    if (v.kind != Value::Kind::kText || v.text != *spec_.column_value) return false;
  }
  return true;
}

const change::JsonProjection& SubscriptionFilter::ProjectionFor(const Change& change) {
  static const change::JsonProjection kTruncate;
  if (change.op == Op::kTruncate) return kTruncate;
  return Resolve(change).projection;
}

void SubscriptionFilter::Render(const Change& change, std::string* out) {
  if (change.op == Op::kTruncate) {
    change::AppendChangeJson(change, change::JsonProjection{}, out);
    return;
  }
  change::AppendChangeJson(change, Resolve(change).projection, out);
}

}  // namespace eddy::match
