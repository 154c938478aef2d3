#include "server/consume_command.h"

#include <chrono>
#include <cstdio>
#include <thread>

#include <fmt/format.h>

#include "eddy/consumer.h"

#include "change/change_json.h"
#include "change/json_encoder.h"
#include "deliver/command_handlers.h"
#include "deliver/consumer_core.h"
#include "server/engine.h"

namespace eddy::server {
namespace {

Result<std::vector<Op>> ParseOps(const std::string& list) {
  std::vector<Op> out;
  size_t start = 0;
  while (start < list.size()) {
    size_t comma = list.find(',', start);
    std::string op = list.substr(start, comma == std::string::npos ? comma : comma - start);
    start = comma == std::string::npos ? list.size() : comma + 1;
    if (op.empty()) continue;
    if (op == "insert") {
      out.push_back(Op::kInsert);
    } else if (op == "update") {
      out.push_back(Op::kUpdate);
    } else if (op == "delete") {
      out.push_back(Op::kDelete);
    } else if (op == "truncate") {
      out.push_back(Op::kTruncate);
    } else {
      return InvalidArgument(fmt::format(
          "--ops: \"{}\" is not an operation (use insert, update, delete, truncate)", op));
    }
  }
  return out;
}

Result<uint64_t> ParseId(const std::string& text, const char* flag) {
  uint64_t id = 0;
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos ||
      text.size() > 19) {
    return InvalidArgument(
        fmt::format("{}: \"{}\" is not a parked change id (see --parked list)", flag, text));
  }
  id = std::stoull(text);
  return id;
}

void PrintParked(const ParkedChange& p) {
  change::JsonProjection full;
  full.rows = change::JsonProjection::Rows::kFull;
  std::string line = fmt::format(R"({{"id":{},"attempts":{},"error":)", p.id, p.attempts);
  change::AppendJsonString(p.error, &line);
  line += R"(,"change":)";
  change::AppendChangeJson(p.change, full, &line);
  line += "}\n";
  std::fwrite(line.data(), 1, line.size(), stdout);
}

}  // namespace

Result<int> RunConsume(const Config& config, const ConsumeFlags& f, const std::atomic<bool>& stop) {
  ConsumerOptions options;
  options.name = f.name;
  options.data_dir = config.watcher.data_dir;
  options.tables = f.tables;
  EDDY_ASSIGN_OR_RETURN(options.ops, ParseOps(f.ops));
  options.max_attempts = f.max_attempts;
  options.lanes = f.lanes;
  options.backoff_min_ms = f.backoff_min_ms;
  options.backoff_max_ms = f.backoff_max_ms;
  if (f.from != "now" && f.from != "start") {
    return InvalidArgument(fmt::format("--from: \"{}\" is not now or start", f.from));
  }
  options.from_start = f.from == "start";
  if (Status s = deliver::ConsumerCore::Validate(options); !s.ok()) {
    // "consumer.max_attempts: ..." names the option; the flag is --max-attempts.
    std::string message = s.message().substr(s.message().find('.') + 1);
    for (size_t i = 0; i < message.size() && message[i] != ':'; ++i) {
      if (message[i] == '_') message[i] = '-';
    }
    return InvalidArgument("--" + message);
  }
  ConsumerHandlers handlers =
      f.exec.empty() ? deliver::PrintHandlers(stdout) : deliver::ExecHandlers(f.exec);

  if (!f.parked.empty()) {
    if (f.parked != "list" && f.parked != "replay" && f.parked != "discard") {
      return InvalidArgument(
          fmt::format("--parked: \"{}\" is not list, replay or discard", f.parked));
    }
    EDDY_ASSIGN_OR_RETURN(std::unique_ptr<deliver::ConsumerCore> core,
                          deliver::ConsumerCore::Open(options, std::move(handlers), nullptr));
    if (f.parked == "list") {
      EDDY_ASSIGN_OR_RETURN(std::vector<ParkedChange> parked, core->ListParked());
      for (const ParkedChange& p : parked) PrintParked(p);
      std::fflush(stdout);
      return 0;
    }
    if (f.parked == "replay" && (f.parked_id.empty() || f.parked_id == "all")) {
      Status s = core->ReplayAll();
      if (!s.ok()) fmt::print(stderr, "eddy: replay: {}\n", s.message());
      return s.ok() ? 0 : 1;
    }
    EDDY_ASSIGN_OR_RETURN(uint64_t id, ParseId(f.parked_id, "--parked-id"));
    Status s = f.parked == "replay" ? core->Replay(id) : core->Discard(id);
    if (s.code() == StatusCode::kNotFound) return InvalidArgument(s.message());
    if (!s.ok()) fmt::print(stderr, "eddy: {}: {}\n", f.parked, s.message());
    return s.ok() ? 0 : 1;
  }

  EDDY_ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, Engine::Create(config.watcher));
  EDDY_RETURN_IF_ERROR(engine->Start());
  EDDY_ASSIGN_OR_RETURN(std::unique_ptr<Consumer> consumer,
                        Consumer::Open(*engine, options, std::move(handlers)));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(f.timeout_s);
  int rc = 0;
  while (!stop) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (Status failure = engine->CaptureFailure(); !failure.ok()) {
      fmt::print(stderr, "eddy: {}\n", failure.message());
      rc = 2;
      break;
    }
    if (Status health = consumer->Health(); !health.ok()) {
      fmt::print(stderr, "eddy: consumer {}: {}\n", f.name, health.message());
      rc = 1;
      break;
    }
    if (f.timeout_s > 0 && std::chrono::steady_clock::now() > deadline) break;
  }
  consumer->Stop();
  engine->Stop();
  return rc;
}

}  // namespace eddy::server
