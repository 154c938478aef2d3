#pragma once

#include <string>

#include "eddy/consumer.h"
#include "eddy/result.h"

namespace eddy::deliver {

// One [[consumers]] entry of `eddy serve` / `eddy dev` (docs/consumers.md): a durable consumer
// inside the serving process that runs `exec` through /bin/sh -c per change, like
// `eddy consume --exec`.
struct ExecConsumerOptions {
  ConsumerOptions consumer;  // consumer.data_dir is set by the Service (the log's data_dir)
  std::string exec;          // the shell command; the change's JSON line on its stdin
};

// Checks one entry; errors name the field (`where`, e.g. "consumers[0]").
Status ValidateExecConsumer(const ExecConsumerOptions& options, const std::string& where);

}  // namespace eddy::deliver
