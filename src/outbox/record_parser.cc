#include "outbox/record_parser.h"

#include <fmt/format.h>

namespace eddy::outbox {

Result<std::vector<std::optional<std::string>>> ParseRecord(std::string_view text) {
  std::vector<std::optional<std::string>> fields;
  size_t i = 0;
  const size_t n = text.size();
  if (n < 2 || text[0] != '(') {
    return Corruption("record text: must start with '('");
  }
  i = 1;
  while (true) {
    std::string value;
    bool seen_any = false;  // an empty unquoted field is NULL; "" is the empty string
    while (i < n && text[i] != ',' && text[i] != ')') {
      const char c = text[i];
      if (c == '"') {
        seen_any = true;
        ++i;
        while (true) {
          if (i >= n) return Corruption("record text: unterminated quoted field");
          const char q = text[i];
          if (q == '\\') {
            if (i + 1 >= n) return Corruption("record text: backslash at the end");
            value.push_back(text[i + 1]);
            i += 2;
          } else if (q == '"') {
            if (i + 1 < n && text[i + 1] == '"') {
              value.push_back('"');
              i += 2;
            } else {
              ++i;
              break;
            }
          } else {
            value.push_back(q);
            ++i;
          }
        }
      } else if (c == '\\') {
        if (i + 1 >= n) return Corruption("record text: backslash at the end");
        seen_any = true;
        value.push_back(text[i + 1]);
        i += 2;
      } else {
        seen_any = true;
        value.push_back(c);
        ++i;
      }
    }
    if (i >= n) return Corruption("record text: missing ')'");
    if (seen_any) {
      fields.emplace_back(std::move(value));
    } else {
      fields.emplace_back(std::nullopt);
    }
    if (text[i] == ')') {
      if (i + 1 != n) {
        return Corruption(fmt::format("record text: trailing bytes after ')' at offset {}", i + 1));
      }
      return fields;
    }
    ++i;  // ','
  }
}

}  // namespace eddy::outbox
