#pragma once

#include <memory>
#include <string>
#include <unordered_map>

#include "eddy/change.h"
#include "eddy/result.h"
#include "eddy/watcher.h"

#include "change/change_json.h"

namespace eddy::match {

// One subscription compiled for matching: which changes it wants and how to render them.
// Column names are resolved against each table version as it is seen (a schema change can add
// or drop the watched column). Pure: no I/O.
// Thread: used by one subscription's delivery thread.
class SubscriptionFilter {
 public:
  // Checks the subscription: errors name the field and the reason ("subscription.key: ...").
  static Result<std::unique_ptr<SubscriptionFilter>> Compile(const Subscription& subscription);

  bool Matches(const Change& change);
  // The change rendered for this subscription's Detail (JSON, docs/watch.md).
  void Render(const Change& change, std::string* out);
  // The projection for `change`'s table version, and a key naming it: subscriptions with equal
  // keys render a change to the same bytes, so a fan-out renders it once for all of them.
  const change::JsonProjection& ProjectionFor(const Change& change);
  const std::string& projection_key() const { return projection_key_; }
  const std::string& schema() const { return schema_; }
  const Subscription& spec() const { return spec_; }
  bool all_tables() const { return all_tables_; }
  const std::string& table() const { return table_; }

 private:
  // Per table version: where the filter's columns are.
  struct Resolved {
    std::shared_ptr<const Table> table;  // keeps the pointer key alive
    std::vector<uint32_t> key_columns;
    int filter_column = -1;  // -1: the column does not exist in this version
    std::vector<uint32_t> trigger_columns;
    change::JsonProjection projection;
  };
  SubscriptionFilter() = default;
  const Resolved& Resolve(const Change& change);

  Subscription spec_;
  std::string projection_key_;
  std::string schema_;
  std::string table_;
  bool all_tables_ = false;
  uint8_t op_mask_ = 0;
  std::unordered_map<const Table*, Resolved> resolved_;
};

}  // namespace eddy::match
