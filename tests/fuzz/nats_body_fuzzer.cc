// libFuzzer target for what an edge eddy or a JetStreamFeed reads from JetStream: a message body
// (eddy's binary change) and its transaction headers. Whatever the bytes, decoding returns a
// value or a Status, never a crash.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "nats/message_codec.h"
#include "nats/subject.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  (void)eddy::nats::DecodeBinaryBody(bytes);
  (void)eddy::nats::DecodeKeyToken(bytes);
  std::string text(bytes.substr(0, 64));
  (void)eddy::nats::ParseTxInfo([&text](const char*) { return text.c_str(); });
  return 0;
}
