#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace eddy::deliver {

// The header eddy signs webhook requests with.
inline constexpr std::string_view kSignatureHeader = "Eddy-Signature";

// "t=<unix seconds>,v1=<lower-case hex HMAC-SHA256 of "<unix seconds>.<body>" keyed by secret>"
// (the Stripe scheme: the timestamp is signed too, so a receiver can refuse old replays).
std::string SignWebhook(std::string_view secret, int64_t unix_seconds, std::string_view body);

// Checks a header made by SignWebhook: true if a v1 signature matches (compared in constant time)
// and, when max_age_s > 0, the timestamp is within max_age_s of now_unix_seconds.
bool VerifyWebhookSignature(std::string_view header, std::string_view secret, std::string_view body,
                            int64_t now_unix_seconds, int64_t max_age_s);

}  // namespace eddy::deliver
