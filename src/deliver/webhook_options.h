#pragma once

#include <string>
#include <vector>

#include "eddy/result.h"

namespace eddy::deliver {

// One [[webhooks]] entry (docs/webhooks.md).
struct WebhookOptions {
  std::string name;     // letters, digits, '_' and '-': <data_dir>/webhooks/<name>.cursor
  std::string url;      // http://host:port/path or https://host[:port]/path
  std::string secret;   // HMAC-SHA256 key of the Eddy-Signature header (at least 16 bytes)
  int batch_max = 100;  // changes per POST
  int timeout_ms = 5000;
  int backoff_min_ms = 500;
  int backoff_max_ms = 30000;
  std::vector<std::string> tables;  // "songs" or "media.songs"; empty: every table
  // https:// only: a PEM file of the CA certificate(s) to trust instead of the system's CA store
  // (a private CA). Empty: the system's store.
  std::string ca_file;
};

// Checks one webhook's options; errors name the field (`where`, e.g. "webhooks[0]").
Status ValidateWebhook(const WebhookOptions& options, const std::string& where);

}  // namespace eddy::deliver
