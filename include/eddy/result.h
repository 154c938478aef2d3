#pragma once

#include <string>
#include <utility>
#include <variant>

namespace eddy {

// Why an operation failed. Errors that cross a module boundary are values of this kind: a code
// that callers may branch on and a message written for the operator (what broke and what to do).
enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // bad input from outside (config, request, bytes): names the field
  kNotFound,
  kCorruption,          // bytes on disk or on the wire that fail a check
  kIoError,             // the OS said no
  kUnavailable,         // the peer (PostgreSQL) is not reachable right now: retry
  kFailedPrecondition,  // the world is not in the state this needs (e.g. wal_level)
  kDataLoss,            // something eddy needed is gone (e.g. the replication slot)
  kAborted,             // stopped on request
  kInternal,
};

const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "<code name>: <message>", for logs and CLI output.
  std::string ToString() const;

  // Returns a copy whose message is prefixed with `context` (e.g. the file or step).
  Status WithContext(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) {
  return {StatusCode::kInvalidArgument, std::move(m)};
}
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status Corruption(std::string m) { return {StatusCode::kCorruption, std::move(m)}; }
inline Status IoError(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
inline Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status FailedPrecondition(std::string m) {
  return {StatusCode::kFailedPrecondition, std::move(m)};
}
inline Status DataLoss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
inline Status Aborted(std::string m) { return {StatusCode::kAborted, std::move(m)}; }
inline Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

// A value or the Status that explains why there is none.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  Result(Status status) : state_(std::move(status)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return ok(); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(state_);
  }
  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> state_;
};

}  // namespace eddy

// Returns early with the Status of `expr` if it is not ok.
#define EDDY_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::eddy::Status eddy_status_ = (expr);        \
    if (!eddy_status_.ok()) return eddy_status_; \
  } while (0)

#define EDDY_CONCAT_INNER_(a, b) a##b
#define EDDY_CONCAT_(a, b) EDDY_CONCAT_INNER_(a, b)
// Declares `lhs` from the value of a Result, or returns its Status.
#define EDDY_ASSIGN_OR_RETURN(lhs, expr) \
  EDDY_ASSIGN_OR_RETURN_IMPL_(EDDY_CONCAT_(eddy_result_, __LINE__), lhs, expr)
#define EDDY_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()
