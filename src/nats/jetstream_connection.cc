#include "nats/jetstream_connection.h"

#include <vector>

#include <fmt/format.h>

namespace eddy::nats {
namespace {

std::vector<std::string> SplitUrls(const std::string& url) {
  std::vector<std::string> urls;
  size_t start = 0;
  while (start <= url.size()) {
    size_t comma = url.find(',', start);
    if (comma == std::string::npos) comma = url.size();
    std::string one = url.substr(start, comma - start);
    while (!one.empty() && one.front() == ' ') one.erase(0, 1);
    while (!one.empty() && one.back() == ' ') one.pop_back();
    if (!one.empty()) urls.push_back(one);
    start = comma + 1;
  }
  return urls;
}

}  // namespace

Status NatsError(const std::string& what, natsStatus status, jsErrCode js_error) {
  natsStatus last = NATS_OK;
  const char* text = nats_GetLastError(&last);
  std::string detail = (text != nullptr && *text != '\0') ? text : natsStatus_GetText(status);
  if (js_error != 0) detail += fmt::format(" (JetStream error {})", static_cast<int>(js_error));
  std::string message = fmt::format("nats: {}: {}", what, detail);
  switch (status) {
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_NO_SERVER:
    case NATS_STALE_CONNECTION:
    case NATS_TIMEOUT:
    case NATS_IO_ERROR:
    case NATS_NO_RESPONDERS:
    case NATS_CONNECTION_AUTH_FAILED:
      return Unavailable(std::move(message));
    case NATS_NOT_FOUND:
      return NotFound(std::move(message));
    default:
      return Internal(std::move(message));
  }
}

Result<std::unique_ptr<JetStreamConnection>> JetStreamConnection::Connect(const Options& options) {
  std::vector<std::string> urls = SplitUrls(options.url);
  if (urls.empty()) {
    return InvalidArgument("nats.url: required (e.g. nats://127.0.0.1:4222, or set EDDY_NATS_URL)");
  }
  std::vector<const char*> servers;
  for (const std::string& u : urls) servers.push_back(u.c_str());
  std::unique_ptr<JetStreamConnection> c(new JetStreamConnection());
  natsStatus s = natsOptions_Create(&c->opts_);
  if (s == NATS_OK) {
    s = natsOptions_SetServers(c->opts_, servers.data(), static_cast<int>(servers.size()));
  }
  if (s == NATS_OK) s = natsOptions_SetName(c->opts_, options.name.c_str());
  if (s == NATS_OK) s = natsOptions_SetTimeout(c->opts_, 2000);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(c->opts_, -1);  // forever
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(c->opts_, 250);
  if (s != NATS_OK) return NatsError("options for " + options.url, s);
  s = natsConnection_Connect(&c->nc_, c->opts_);
  if (s != NATS_OK) return NatsError("connect to " + options.url, s);
  jsOptions js_options;
  jsOptions_Init(&js_options);
  js_options.Wait = 5000;
  js_options.PublishAsync.MaxPending = options.max_pending;
  js_options.PublishAsync.AckHandler = options.ack_handler;
  js_options.PublishAsync.AckHandlerClosure = options.ack_handler_closure;
  s = natsConnection_JetStream(&c->js_, c->nc_, &js_options);
  if (s != NATS_OK) return NatsError("JetStream context", s);
  return c;
}

JetStreamConnection::~JetStreamConnection() {
  if (js_ != nullptr) jsCtx_Destroy(js_);
  if (nc_ != nullptr) {
    natsConnection_Close(nc_);
    natsConnection_Destroy(nc_);
  }
  if (opts_ != nullptr) natsOptions_Destroy(opts_);
}

Status JetStreamConnection::CheckStreamExists(const std::string& stream) {
  jsStreamInfo* info = nullptr;
  jsErrCode js_error = jsErrCode(0);
  natsStatus s = js_GetStreamInfo(&info, js_, stream.c_str(), nullptr, &js_error);
  if (info != nullptr) jsStreamInfo_Destroy(info);
  if (s == NATS_NOT_FOUND) {
    return NotFound(fmt::format(
        "nats: stream \"{}\" does not exist (the publishing eddy creates it; check nats.stream)",
        stream));
  }
  if (s != NATS_OK) return NatsError("stream info of " + stream, s, js_error);
  return Status::Ok();
}

Status JetStreamConnection::EnsureStream(const NatsOptions& options) {
  const std::string subjects = options.subject_prefix + ".>";
  const int64_t window_ns = static_cast<int64_t>(options.duplicate_window_s) * 1000000000;
  jsStreamInfo* info = nullptr;
  jsErrCode js_error = jsErrCode(0);
  natsStatus s = js_GetStreamInfo(&info, js_, options.stream.c_str(), nullptr, &js_error);
  if (s == NATS_NOT_FOUND) {
    jsStreamConfig config;
    jsStreamConfig_Init(&config);
    const char* subject_list[] = {subjects.c_str()};
    config.Name = options.stream.c_str();
    config.Subjects = subject_list;
    config.SubjectsLen = 1;
    config.Storage = js_FileStorage;
    config.Replicas = options.replicas;
    config.Duplicates = window_ns;
    jsStreamInfo* created = nullptr;
    s = js_AddStream(&created, js_, &config, nullptr, &js_error);
    if (created != nullptr) jsStreamInfo_Destroy(created);
    if (s != NATS_OK) {
      return NatsError(fmt::format("create stream \"{}\" over {} with {} replica(s)",
                                   options.stream, subjects, options.replicas),
                       s, js_error);
    }
    return Status::Ok();
  }
  if (s != NATS_OK) return NatsError("stream info of " + options.stream, s, js_error);
  std::unique_ptr<jsStreamInfo, void (*)(jsStreamInfo*)> holder(info, jsStreamInfo_Destroy);
  jsStreamConfig* config = info->Config;
  bool covers = false;
  for (int i = 0; i < config->SubjectsLen; ++i) {
    std::string have = config->Subjects[i];
    if (have == subjects || have == ">") covers = true;
  }
  if (!covers) {
    return FailedPrecondition(
        fmt::format("nats.stream: stream \"{}\" exists but does not take subjects {} (set "
                    "nats.subject_prefix to the stream's prefix or use another nats.stream)",
                    options.stream, subjects));
  }
  if (config->Replicas != options.replicas) {
    return FailedPrecondition(fmt::format(
        "nats.replicas: stream \"{}\" has {} replica(s), the config asks for {} (change one)",
        options.stream, config->Replicas, options.replicas));
  }
  if (config->Duplicates != window_ns) {
    config->Duplicates = window_ns;
    jsStreamInfo* updated = nullptr;
    s = js_UpdateStream(&updated, js_, config, nullptr, &js_error);
    if (updated != nullptr) jsStreamInfo_Destroy(updated);
    if (s != NATS_OK) return NatsError("update the dedup window of " + options.stream, s, js_error);
  }
  return Status::Ok();
}

int64_t JetStreamConnection::MaxPayload() const { return natsConnection_GetMaxPayload(nc_); }

bool JetStreamConnection::IsConnected() const {
  return natsConnection_Status(nc_) == NATS_CONN_STATUS_CONNECTED;
}

}  // namespace eddy::nats
