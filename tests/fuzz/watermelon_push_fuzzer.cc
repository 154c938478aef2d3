// The WatermelonDB face's parsers of outside bytes: the push body, the migration parameter and
// lastPulledAt. Any input must give a value or an error, never a crash.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "adapters/watermelon/sync_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto body = eddy::watermelon::ParsePushBody(text);
  if (body.ok()) {
    for (const auto& [table, changes] : body->changes) {
      for (const auto& record : changes.created) (void)eddy::watermelon::IsSafeId(record.id);
    }
  }
  (void)eddy::watermelon::ParseMigration(text);
  (void)eddy::watermelon::ParseLastPulledAt(text, "last_pulled_at");
  return 0;
}
