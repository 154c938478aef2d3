// Fuzzes what a Shape API request brings from outside: the query string (percent-decoded and
// split like the server does), a POST body, identifiers, and a COPY line of a snapshot.
// Input: <query>\n<body>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "adapters/shape/shape_request.h"
#include "adapters/shape/snapshot.h"
#include "http/message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  std::string_view query = input.substr(0, newline);
  std::string_view body = newline == std::string_view::npos ? "" : input.substr(newline + 1);

  eddy::http::Request request;
  request.method = "GET";
  request.path = "/v1/shape";
  request.query = eddy::http::ParseQuery(query);
  (void)eddy::shapes::ParseShapeRequest(request, false);
  request.method = "POST";
  request.body = std::string(body);
  (void)eddy::shapes::ParseShapeRequest(request, false);
  request.method = "DELETE";
  (void)eddy::shapes::ParseShapeRequest(request, true);
  (void)eddy::shapes::ParseRelationName(query);
  (void)eddy::shapes::ParseColumnList(query);

  std::vector<std::string> storage;
  std::vector<std::optional<std::string_view>> fields;
  (void)eddy::shapes::DecodeCopyLine(body, &storage, &fields);
  return 0;
}
