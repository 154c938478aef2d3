#include "adapters/shape/shape_request.h"

#include <charconv>

#include <simdjson.h>

#include "common/json_string.h"

namespace eddy::shapes {
namespace {

constexpr size_t kMaxIdentifierBytes = 63;

// Splits `text` at `delimiter` outside double quotes.
std::vector<std::string_view> SplitOutsideQuotes(std::string_view text, char delimiter) {
  std::vector<std::string_view> parts;
  bool quoted = false;
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '"') quoted = !quoted;
    if (!quoted && text[i] == delimiter) {
      parts.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  parts.push_back(text.substr(start));
  return parts;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

Result<std::string> ParseIdentifier(std::string_view text) {
  text = Trim(text);
  std::string out;
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
    std::string_view inner = text.substr(1, text.size() - 2);
    if (inner.empty()) return InvalidArgument("Invalid zero-length delimited identifier");
    for (size_t i = 0; i < inner.size(); ++i) {
      if (inner[i] == '"') {
        if (i + 1 < inner.size() && inner[i + 1] == '"') {
          out.push_back('"');
          ++i;
          continue;
        }
        return InvalidArgument("Invalid identifier with unescaped quote: " + std::string(text));
      }
      out.push_back(inner[i]);
    }
  } else {
    if (text.empty()) return InvalidArgument("Invalid zero-length delimited identifier");
    for (char c : text) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '$' || static_cast<unsigned char>(c) >= 0x80;
      if (!ok) {
        return InvalidArgument("Invalid unquoted identifier contains special characters: " +
                               std::string(text));
      }
      out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
    }
    if (out[0] >= '0' && out[0] <= '9') {
      return InvalidArgument("Invalid unquoted identifier contains special characters: " +
                             std::string(text));
    }
  }
  if (out.size() > kMaxIdentifierBytes) {
    return InvalidArgument("Identifier is too long (max length is 63)");
  }
  return out;
}

void AppendList(std::string* out, const std::vector<std::string>& messages) {
  out->push_back('[');
  for (size_t i = 0; i < messages.size(); ++i) {
    if (i > 0) out->push_back(',');
    AppendJsonString(messages[i], out);
  }
  out->push_back(']');
}

// The parameters of one request, whether they came in the query string or a POST body.
struct RawParams {
  std::multimap<std::string, std::string> top;
  std::map<std::string, std::string> subset;         // subset__<key> / body subset keys
  std::map<std::string, std::string> params;         // params[n]
  std::map<std::string, std::string> subset_params;  // from a JSON object
  bool has_subset = false;
  bool subset_params_invalid_json = false;
  bool subset_params_not_object = false;
  std::vector<std::string> bad_param_keys;

  std::optional<std::string> Get(const std::string& name) const {
    auto it = top.find(name);
    if (it == top.end()) return std::nullopt;
    return it->second;
  }
};

void ReadSubsetParamsJson(std::string_view text, RawParams* raw) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(text);
  simdjson::dom::element doc;
  if (parser.parse(padded).get(doc)) {
    raw->subset_params_invalid_json = true;
    return;
  }
  simdjson::dom::object object;
  if (doc.get_object().get(object)) {
    raw->subset_params_not_object = true;
    return;
  }
  for (auto field : object) {
    std::string value;
    if (field.value.is_string()) {
      value = std::string(std::string_view(field.value.get_string().value()));
    } else {
      value = simdjson::minify(field.value);
    }
    raw->subset_params[std::string(field.key)] = value;
  }
}

std::string JsonScalarText(simdjson::dom::element value) {
  if (value.is_string()) return std::string(std::string_view(value.get_string().value()));
  return simdjson::minify(value);
}

void AddTop(RawParams* raw, const std::string& key, const std::string& value) {
  constexpr std::string_view kSubset = "subset__";
  if (key.starts_with(kSubset)) {
    raw->has_subset = true;
    std::string name = key.substr(kSubset.size());
    if (name == "params") {
      ReadSubsetParamsJson(value, raw);
    } else {
      raw->subset[name] = value;
    }
    return;
  }
  if (key.starts_with("params[") && key.ends_with("]")) {
    std::string index = key.substr(7, key.size() - 8);
    raw->params[index] = value;
    return;
  }
  raw->top.emplace(key, value);
}

// Reads a POST body into `raw`; a non-empty response on a body error.
std::optional<http::Response> ReadBody(std::string_view body, RawParams* raw) {
  if (Trim(body).empty()) return std::nullopt;
  simdjson::dom::parser parser;
  simdjson::padded_string padded(body);
  simdjson::dom::element doc;
  if (auto error = parser.parse(padded).get(doc); error) {
    std::string json = "{\"error\":\"Invalid JSON in request body\",\"details\":";
    AppendJsonString(simdjson::error_message(error), &json);
    json.push_back('}');
    return http::Response::Json(400, std::move(json));
  }
  simdjson::dom::object object;
  if (doc.get_object().get(object)) {
    return http::Response::Json(400, "{\"error\":\"Request body must be a JSON object\"}");
  }
  static const std::vector<std::string> kSubsetKeys = {
      "where", "params", "limit", "offset", "order_by", "where_expr", "order_by_expr"};
  auto add_subset = [&](std::string_view key, simdjson::dom::element value) {
    raw->has_subset = true;
    if (key == "params") {
      simdjson::dom::object params;
      if (value.get_object().get(params)) {
        raw->subset_params_not_object = true;
        return;
      }
      for (auto field : params)
        raw->subset_params[std::string(field.key)] = JsonScalarText(field.value);
      return;
    }
    raw->subset[std::string(key)] = JsonScalarText(value);
  };
  for (auto field : object) {
    const std::string key(field.key);
    if (key == "subset") {
      simdjson::dom::object subset;
      if (!field.value.get_object().get(subset)) {
        for (auto sub : subset) add_subset(sub.key, sub.value);
      }
      continue;
    }
    if (std::find(kSubsetKeys.begin(), kSubsetKeys.end(), key) != kSubsetKeys.end()) {
      add_subset(key, field.value);
      continue;
    }
    if (key == "params") {  // top-level params object (not a subset's)
      simdjson::dom::object params;
      if (!field.value.get_object().get(params)) {
        for (auto p : params) raw->params[std::string(p.key)] = JsonScalarText(p.value);
      }
      continue;
    }
    raw->top.erase(key);
    raw->top.emplace(key, JsonScalarText(field.value));
  }
  return std::nullopt;
}

void CheckParams(const std::map<std::string, std::string>& params, FieldErrors* errors,
                 const std::string& field, bool subset) {
  std::vector<int> numbers;
  for (const auto& [key, value] : params) {
    int n = 0;
    auto [ptr, ec] = std::from_chars(key.data(), key.data() + key.size(), n);
    if (ec != std::errc() || ptr != key.data() + key.size() || n < 1) {
      if (subset) {
        errors->subset[field].push_back("Parameters can only use numbers as keys");
      } else {
        errors->Add(field, "Parameters can only use numbers as keys");
      }
      return;
    }
    numbers.push_back(n);
  }
  std::sort(numbers.begin(), numbers.end());
  for (size_t i = 0; i < numbers.size(); ++i) {
    if (numbers[i] != static_cast<int>(i + 1)) {
      const std::string message = "Parameters must be numbered sequentially, starting from 1";
      if (subset) {
        errors->subset[field].push_back(message);
      } else {
        errors->Add(field, message);
      }
      return;
    }
  }
}

std::optional<int64_t> ParseInt(std::string_view text) {
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

std::string FieldErrors::ToJson() const {
  std::string json = "{\"message\":\"Invalid request\",\"errors\":{";
  bool first = true;
  for (const auto& [field, messages] : fields) {
    if (!first) json.push_back(',');
    first = false;
    AppendJsonString(field, &json);
    json.push_back(':');
    AppendList(&json, messages);
  }
  if (!subset.empty()) {
    if (!first) json.push_back(',');
    json.append("\"subset\":{");
    bool first_sub = true;
    for (const auto& [field, messages] : subset) {
      if (!first_sub) json.push_back(',');
      first_sub = false;
      AppendJsonString(field, &json);
      json.push_back(':');
      AppendList(&json, messages);
    }
    json.push_back('}');
  }
  json.append("}}");
  return json;
}

bool FlagValue(const std::optional<std::string>& value) {
  return value.has_value() && *value != "false";
}

Result<RelationName> ParseRelationName(std::string_view text) {
  auto parts = SplitOutsideQuotes(text, '.');
  if (parts.size() > 2) {
    return InvalidArgument("Invalid relation identifier, too many delimiters: " +
                           std::string(text));
  }
  RelationName name;
  if (parts.size() == 2) {
    EDDY_ASSIGN_OR_RETURN(name.schema, ParseIdentifier(parts[0]));
    EDDY_ASSIGN_OR_RETURN(name.name, ParseIdentifier(parts[1]));
  } else {
    EDDY_ASSIGN_OR_RETURN(name.name, ParseIdentifier(parts[0]));
  }
  return name;
}

Result<std::vector<std::string>> ParseColumnList(std::string_view text) {
  std::vector<std::string> columns;
  if (Trim(text).empty()) return InvalidArgument("The list of columns must not be empty");
  for (std::string_view part : SplitOutsideQuotes(text, ',')) {
    EDDY_ASSIGN_OR_RETURN(std::string column, ParseIdentifier(part));
    columns.push_back(std::move(column));
  }
  return columns;
}

ParsedShapeRequest ParseShapeRequest(const http::Request& request, bool for_delete) {
  ParsedShapeRequest parsed;
  RawParams raw;
  for (const auto& [key, value] : request.query) AddTop(&raw, key, value);
  if (request.method == "POST") {
    if (auto error = ReadBody(request.body, &raw)) {
      parsed.body_error = std::move(*error);
      return parsed;
    }
  }
  ShapeRequest& out = parsed.request;
  FieldErrors& errors = parsed.errors;

  if (auto secret = raw.Get("secret")) {
    out.secret = secret;
  } else if (auto api_secret = raw.Get("api_secret")) {
    out.secret = api_secret;
  }

  if (auto table = raw.Get("table"); table && !table->empty()) {
    auto name = ParseRelationName(*table);
    if (name.ok()) {
      out.table = std::move(*name);
    } else {
      errors.Add("table", name.status().message());
    }
  } else if (!for_delete) {
    errors.Add("table", "can't be blank");
  }

  if (auto where = raw.Get("where")) out.where = *where;
  out.params = raw.params;
  CheckParams(out.params, &errors, "params", false);

  if (auto columns = raw.Get("columns")) {
    auto list = ParseColumnList(*columns);
    if (list.ok()) {
      out.columns = std::move(*list);
    } else {
      errors.Add("columns", list.status().message());
    }
  }
  if (auto replica = raw.Get("replica")) {
    if (*replica == "full") {
      out.replica_full = true;
    } else if (*replica != "default") {
      errors.Add("replica", "is invalid");
    }
  }
  if (auto log = raw.Get("log")) {
    if (*log == "changes_only") {
      out.changes_only = true;
    } else if (*log != "full") {
      errors.Add("log", "is invalid");
    }
  }
  if (auto handle = raw.Get("handle"); handle && !handle->empty()) out.handle = *handle;
  if (for_delete) return parsed;

  auto offset_text = raw.Get("offset");
  if (!offset_text || offset_text->empty()) {
    errors.Add("offset", "can't be blank");
  } else if (auto offset = shape::Offset::Parse(*offset_text)) {
    out.offset = *offset;
  } else {
    errors.Add("offset", "has invalid format");
  }
  const bool before_all = out.offset.kind == shape::Offset::Kind::kBeforeAll;
  const bool now = out.offset.kind == shape::Offset::Kind::kNow;
  if (before_all || now) {
    out.handle.reset();  // only a cache-buster then
  } else if (!out.handle && offset_text && errors.fields.count("offset") == 0) {
    errors.Add("handle", "can't be blank when offset != -1");
  }
  out.live = FlagValue(raw.Get("live"));
  out.live_sse = FlagValue(raw.Get("live_sse")) || FlagValue(raw.Get("experimental_live_sse"));
  if (out.live && before_all && offset_text) errors.Add("live", "can't be true when offset == -1");
  if (out.live && now) errors.Add("live", "can't be true when offset is 'now'");
  if (out.live_sse && !out.live) errors.Add("live_sse", "can't be true unless live is also true");
  out.cursor = raw.Get("cursor");

  if (raw.has_subset) {
    SubsetRequest subset;
    if (auto it = raw.subset.find("where"); it != raw.subset.end()) subset.where = it->second;
    if (auto it = raw.subset.find("order_by"); it != raw.subset.end() && !it->second.empty()) {
      subset.order_by = it->second;
    }
    if (auto it = raw.subset.find("limit"); it != raw.subset.end()) {
      auto value = ParseInt(it->second);
      if (!value || *value <= 0) {
        errors.subset["limit"].push_back("must be greater than 0");
      } else {
        subset.limit = value;
      }
    }
    if (auto it = raw.subset.find("offset"); it != raw.subset.end()) {
      auto value = ParseInt(it->second);
      if (!value || *value < 0) {
        errors.subset["offset"].push_back("must be greater than or equal to 0");
      } else {
        subset.offset = value;
      }
    }
    if ((subset.limit || subset.offset) && !subset.order_by) {
      errors.subset["order_by"].push_back("order_by is required when limit or offset is present");
    }
    if (raw.subset_params_invalid_json) {
      errors.subset["params"].push_back("params must be valid JSON");
    } else if (raw.subset_params_not_object) {
      errors.subset["params"].push_back("params must be a JSON object");
    }
    subset.params = raw.subset_params;
    CheckParams(subset.params, &errors, "params", true);
    out.subset = std::move(subset);
  }
  return parsed;
}

}  // namespace eddy::shapes
