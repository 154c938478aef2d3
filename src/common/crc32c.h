#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace eddy {

// CRC-32C (Castagnoli), the checksum of log records. `Extend` continues a running checksum.
uint32_t Crc32c(std::string_view data);
uint32_t Crc32cExtend(uint32_t crc, const char* data, size_t size);

}  // namespace eddy
