// libFuzzer target for the binary codec that reads log segments and spool files back from disk:
// whatever the bytes, decoding returns a value or a Status, never a crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "change/binary_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto table = eddy::change::DecodeTable(bytes);
  std::shared_ptr<const eddy::Table> known = table.ok() ? *table : nullptr;
  auto lookup = [&known](eddy::RelationId, uint32_t) { return known; };
  (void)eddy::change::DecodeChange(bytes, lookup);
  (void)eddy::change::DecodeCommit(bytes);
  (void)eddy::change::DecodeChangePosition(bytes);
  if (size > 4) {
    // A table followed by a change, as the log writes them.
    size_t split = data[0] % (size - 1) + 1;
    auto t = eddy::change::DecodeTable(bytes.substr(1, split));
    if (t.ok()) {
      known = *t;
      (void)eddy::change::DecodeChange(bytes.substr(split), lookup);
    }
  }
  return 0;
}
