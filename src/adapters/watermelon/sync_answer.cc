#include "adapters/watermelon/sync_answer.h"

#include "common/json_string.h"

namespace eddy::watermelon {

SyncAnswer SyncAnswer::Error(int status, std::string_view code, std::string_view message,
                             std::string_view field) {
  SyncAnswer a;
  a.status = status;
  a.body = "{\"error\":";
  AppendJsonString(code, &a.body);
  a.body += ",\"message\":";
  AppendJsonString(message, &a.body);
  if (!field.empty()) {
    a.body += ",\"field\":";
    AppendJsonString(field, &a.body);
  }
  a.body += "}";
  a.retry_after = status == 503;
  return a;
}

SyncAnswer SyncAnswer::Conflict(std::string_view table, std::string_view id,
                                std::string_view message) {
  SyncAnswer a;
  a.status = 409;
  a.body = "{\"error\":\"conflict\",\"table\":";
  AppendJsonString(table, &a.body);
  a.body += ",\"id\":";
  AppendJsonString(id, &a.body);
  a.body += ",\"message\":";
  AppendJsonString(message, &a.body);
  a.body += "}";
  return a;
}

}  // namespace eddy::watermelon
