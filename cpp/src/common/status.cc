#include "common/status.h"

namespace miniray {

std::string Status::ToString() const {
  if (ok()) return "OK";
  const char* name = "UNKNOWN";
  switch (code_) {
    case StatusCode::kOk: name = "OK"; break;
    case StatusCode::kCancelled: name = "CANCELLED"; break;
    case StatusCode::kInvalidArgument: name = "INVALID_ARGUMENT"; break;
    case StatusCode::kDeadlineExceeded: name = "DEADLINE_EXCEEDED"; break;
    case StatusCode::kNotFound: name = "NOT_FOUND"; break;
    case StatusCode::kAlreadyExists: name = "ALREADY_EXISTS"; break;
    case StatusCode::kResourceExhausted: name = "RESOURCE_EXHAUSTED"; break;
    case StatusCode::kFailedPrecondition: name = "FAILED_PRECONDITION"; break;
    case StatusCode::kInternal: name = "INTERNAL"; break;
    case StatusCode::kUnavailable: name = "UNAVAILABLE"; break;
    case StatusCode::kUnauthenticated: name = "UNAUTHENTICATED"; break;
  }
  return std::string(name) + ": " + message_;
}

}  // namespace miniray
