// Renders one row of eight mixed columns as a JSON object, the way a subscription does per change.
// Reports rows/s as items/s and bytes of JSON per second.

#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "eddy/change.h"

#include "change/json_encoder.h"

namespace {

using eddy::Column;
using eddy::TypeKind;
using eddy::Value;

struct Row {
  std::vector<Column> columns;
  std::vector<Value> values;
};

Row MixedRow() {
  Row row;
  auto add = [&row](const char* name, TypeKind kind, std::string text,
                    TypeKind element_kind = TypeKind::kText) {
    Column column;
    column.name = name;
    column.kind = kind;
    column.element_kind = element_kind;
    row.columns.push_back(std::move(column));
    row.values.push_back(Value::Text(std::move(text)));
  };
  add("id", TypeKind::kInt64, "1234567890123");
  add("name", TypeKind::kText, "Zo\xC3\xAB \"the\" customer\nline two");
  add("active", TypeKind::kBool, "t");
  add("balance", TypeKind::kNumeric, "10432.75");
  add("score", TypeKind::kFloat64, "0.30000000000000004");
  add("created_at", TypeKind::kTimestampTz, "2024-01-02 03:04:05.123456+00");
  add("tags", TypeKind::kArray, R"({red,"dark blue",NULL})", TypeKind::kText);
  add("attrs", TypeKind::kJson, R"({"plan": "pro", "seats": 5})");
  return row;
}

void BM_RenderMixedRow(benchmark::State& state) {
  const Row row = MixedRow();
  std::string out;
  size_t bytes = 0;
  for (auto _ : state) {
    out.clear();  // keeps the capacity: the steady state allocates nothing
    out.push_back('{');
    for (size_t i = 0; i < row.columns.size(); ++i) {
      if (i > 0) out.push_back(',');
      eddy::change::AppendJsonString(row.columns[i].name, &out);
      out.push_back(':');
      eddy::change::AppendJsonValue(row.columns[i], row.values[i], &out);
    }
    out.push_back('}');
    bytes += out.size();
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_RenderMixedRow);

void BM_AppendJsonStringAscii(benchmark::State& state) {
  const std::string text(static_cast<size_t>(state.range(0)), 'a');
  std::string out;
  for (auto _ : state) {
    out.clear();
    eddy::change::AppendJsonString(text, &out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_AppendJsonStringAscii)->Arg(16)->Arg(1024);

}  // namespace

BENCHMARK_MAIN();
