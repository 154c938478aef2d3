// libFuzzer target for what a consumer reads from outside: parked-change files from disk
// (ParkedStore::Decode) and column text from the walsender read through the typed Field
// accessors (array literals, timestamps, numbers). Whatever the bytes: a value or a Status.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "eddy/consumer.h"

#include "deliver/parked_store.h"

namespace {

void Exercise(const eddy::Field& f, int depth) {
  (void)f.AsBool();
  (void)f.AsInt64();
  (void)f.AsDouble();
  (void)f.AsNumeric();
  (void)f.AsJson();
  (void)f.AsUnixMicros();
  (void)f.ToJson();
  auto items = f.AsArray();
  if (items.ok() && depth < 4) {
    for (const eddy::Field& item : *items) Exercise(item, depth + 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  (void)eddy::deliver::ParkedStore::Decode(bytes);
  if (size == 0) return 0;
  // First byte: the kind (and element kind) to read the rest as.
  const auto kind = static_cast<eddy::TypeKind>(data[0] % 20);
  const auto element = static_cast<eddy::TypeKind>((data[0] / 20) % 20);
  std::string text(bytes.substr(1));
  Exercise(eddy::Field("c", kind, element, eddy::Value::Text(text)), 0);
  Exercise(eddy::Field("c", eddy::TypeKind::kArray, kind, eddy::Value::Text(text)), 0);
  Exercise(eddy::Field("c", eddy::TypeKind::kTimestampTz, kind, eddy::Value::Text(text)), 0);
  return 0;
}
