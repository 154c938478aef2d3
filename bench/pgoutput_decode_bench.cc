// Decoding throughput of the pgoutput decoder on its most common message: an Insert of a row
// with 8 text columns, the shape of a typical OLTP row.

#include <string>

#include <benchmark/benchmark.h>

#include "common/byte_reader.h"
#include "pgoutput/decoder.h"

namespace eddy::pgoutput {
namespace {

std::string EightColumnInsert() {
  std::string bytes;
  ByteWriter w(&bytes);
  w.WriteU8('I');
  w.WriteU32(16384);  // relation id
  w.WriteU8('N');
  w.WriteU16(8);
  const char* columns[] = {
      "123456",        "alice@example.com",
      "Alice Example", "2024-01-02",
      "1234.56",       "active",
      "true",          "some longer free-text note about the customer account"};
  for (const char* column : columns) {
    const std::string value(column);
    w.WriteU8('t');
    w.WriteU32(static_cast<uint32_t>(value.size()));
    w.WriteBytes(value);
  }
  return bytes;
}

void BM_DecodeInsert8TextColumns(benchmark::State& state) {
  const std::string bytes = EightColumnInsert();
  Decoder decoder;
  for (auto _ : state) {
    Result<Message> m = decoder.Decode(bytes);
    if (!m.ok()) {
      state.SkipWithError(m.status().message().c_str());
      break;
    }
    benchmark::DoNotOptimize(m);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes.size()));
}
BENCHMARK(BM_DecodeInsert8TextColumns);

}  // namespace
}  // namespace eddy::pgoutput

BENCHMARK_MAIN();
