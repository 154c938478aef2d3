#pragma once

// What a pull or a push answers: a status and a JSON body. Errors have the body
// {"error": <code>, "message": <text>[, "field": ..][, "table": .., "id": ..]} (spec 2.3).

#include <string>
#include <string_view>

namespace eddy::watermelon {

struct SyncAnswer {
  int status = 200;
  std::string body;          // JSON
  bool retry_after = false;  // 503: send Retry-After

  static SyncAnswer Error(int status, std::string_view code, std::string_view message,
                          std::string_view field = {});
  static SyncAnswer Conflict(std::string_view table, std::string_view id, std::string_view message);
};

}  // namespace eddy::watermelon
