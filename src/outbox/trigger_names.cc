#include "outbox/trigger_names.h"

#include <cstdint>

#include <fmt/format.h>

namespace eddy::outbox {

namespace {
// FNV-1a: stable across builds and platforms, which std::hash is not. Names must stay the same
// for every eddy version, or a restart would see its own triggers as stale.
uint32_t Fnv1a(std::string_view s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}
}  // namespace

std::string_view OpWord(Op op) { return OpName(op); }

std::string LengthSafeName(std::string_view name) {
  if (name.size() <= kMaxIdentifierBytes) return std::string(name);
  const std::string suffix = fmt::format("_{:08x}", Fnv1a(name));
  size_t keep = kMaxIdentifierBytes - suffix.size();
  // Back up to the start of a UTF-8 sequence: continuation bytes are 10xxxxxx.
  while (keep > 0 && (static_cast<unsigned char>(name[keep]) & 0xC0) == 0x80) --keep;
  return std::string(name.substr(0, keep)) + suffix;
}

std::string TriggerName(std::string_view schema, Op op, std::string_view table) {
  if (schema == "eddy") return LengthSafeName(fmt::format("eddy_{}_{}", OpWord(op), table));
  return LengthSafeName(fmt::format("eddy_{}_{}_{}", schema, OpWord(op), table));
}

std::string TriggerFunctionName(Op op) { return fmt::format("capture_{}", OpWord(op)); }

}  // namespace eddy::outbox
