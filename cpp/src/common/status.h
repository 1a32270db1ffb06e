// Status and StatusOr: how every fallible operation in the C++ core reports
// failure. The core never throws; the Python bindings turn a non-OK Status
// into an exception in one place (bindings/status_bindings.cc).
#ifndef MINIRAY_COMMON_STATUS_H_
#define MINIRAY_COMMON_STATUS_H_

#include <cstdlib>
#include <iostream>
#include <string>
#include <utility>
#include <variant>

namespace miniray {

// Canonical code names (as absl::StatusCode), only those miniray uses.
enum class StatusCode : int {
  kOk = 0,
  kCancelled = 1,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,  // GetTimeoutError
  kNotFound = 5,
  kAlreadyExists = 6,
  kResourceExhausted = 8,  // ObjectStoreFullError
  kFailedPrecondition = 9,
  kInternal = 13,
  kUnavailable = 14,  // the node or a worker went away
  kUnauthenticated = 16,  // a call without the cluster token, or a wrong one
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message)
      : code_(code), message_(std::move(message)) {}

  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string m) {
    return Status(StatusCode::kInvalidArgument, std::move(m));
  }
  static Status NotFound(std::string m) {
    return Status(StatusCode::kNotFound, std::move(m));
  }
  static Status AlreadyExists(std::string m) {
    return Status(StatusCode::kAlreadyExists, std::move(m));
  }
  static Status ResourceExhausted(std::string m) {
    return Status(StatusCode::kResourceExhausted, std::move(m));
  }
  static Status DeadlineExceeded(std::string m) {
    return Status(StatusCode::kDeadlineExceeded, std::move(m));
  }
  static Status FailedPrecondition(std::string m) {
    return Status(StatusCode::kFailedPrecondition, std::move(m));
  }
  static Status Unavailable(std::string m) {
    return Status(StatusCode::kUnavailable, std::move(m));
  }
  static Status Unauthenticated(std::string m) {
    return Status(StatusCode::kUnauthenticated, std::move(m));
  }
  static Status Internal(std::string m) {
    return Status(StatusCode::kInternal, std::move(m));
  }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(Status status) : value_(std::move(status)) {}  // NOLINT
  StatusOr(T value) : value_(std::move(value)) {}         // NOLINT

  bool ok() const { return std::holds_alternative<T>(value_); }
  Status status() const {
    return ok() ? Status::OK() : std::get<Status>(value_);
  }
  T& value() & { return std::get<T>(value_); }
  T&& value() && { return std::get<T>(std::move(value_)); }
  T& operator*() & { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }

 private:
  std::variant<Status, T> value_;
};

// For invariants only: a failed check is a bug in miniray, not bad input.
#define MINIRAY_CHECK(cond)                                              \
  do {                                                                   \
    if (!(cond)) {                                                       \
      std::cerr << __FILE__ << ":" << __LINE__ << ": check failed: " #cond \
                << std::endl;                                            \
      std::abort();                                                      \
    }                                                                    \
  } while (0)

#define MINIRAY_RETURN_IF_ERROR(expr)  \
  do {                                 \
    ::miniray::Status _s = (expr);     \
    if (!_s.ok()) return _s;           \
  } while (0)

}  // namespace miniray

#endif  // MINIRAY_COMMON_STATUS_H_
