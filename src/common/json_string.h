#pragma once

#include <string>
#include <string_view>

namespace eddy {

// Appends `s` as a JSON string (RFC 8259): quotes, escapes (\b \f \n \r \t short, other control
// characters as \u00XX), valid UTF-8 passed through, invalid bytes replaced by U+FFFD. The one
// JSON string writer of eddy: the change encoders and the HTTP error bodies use it.
void AppendJsonString(std::string_view s, std::string* out);

}  // namespace eddy
