// libFuzzer target for the pgoutput decoder (src/pgoutput).
//
// The input is a sequence of frames so that one run feeds several messages through one Decoder
// and exercises its stream state: each frame is a length byte L and then min(L, rest) message
// bytes; L = 0xff calls Decoder::Reset() instead. Seeds in tests/fuzz/corpus/pgoutput/ are
// captured messages (tests/golden/pgoutput) in this framing.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "pgoutput/decoder.h"
#include "pgoutput/messages.h"

namespace {

constexpr uint8_t kResetFrame = 0xff;

// Fails the run: a property of the decoder's contract does not hold.
[[noreturn]] void Violation() { __builtin_trap(); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using eddy::pgoutput::Decoder;
  using eddy::pgoutput::Message;
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  Decoder decoder;
  size_t pos = 0;
  while (pos < input.size()) {
    const auto length = static_cast<uint8_t>(input[pos++]);
    if (length == kResetFrame) {
      decoder.Reset();
      if (decoder.in_stream()) Violation();
      continue;
    }
    // A copy of exactly the message bytes, so ASan flags any read past the message's end.
    const std::string bytes(input.substr(pos, length));
    pos += bytes.size();

    const bool was_in_stream = decoder.in_stream();
    eddy::Result<Message> m = decoder.Decode(bytes);
    if (!m.ok()) {
      if (m.status().code() != eddy::StatusCode::kCorruption) Violation();
      if (m.status().message().empty()) Violation();
      if (decoder.in_stream() != was_in_stream) Violation();  // failures leave the state alone
      continue;
    }
    // Stream state follows StreamStart/StreamStop and nothing else.
    bool expect_in_stream = was_in_stream;
    if (std::holds_alternative<eddy::pgoutput::StreamStart>(*m)) expect_in_stream = true;
    if (std::holds_alternative<eddy::pgoutput::StreamStop>(*m)) expect_in_stream = false;
    if (decoder.in_stream() != expect_in_stream) Violation();

    const std::string text = eddy::pgoutput::Describe(*m);
    if (text.empty() || text.find('\n') != std::string::npos) Violation();
  }
  return 0;
}
