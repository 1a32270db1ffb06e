#include <pybind11/pybind11.h>

#include "bindings/bindings.h"

namespace py = pybind11;

namespace miniray {
namespace {

// The exception class for a code: miniray.exceptions.<name> when the
// package is importable, else a builtin with the same meaning.
py::object ExceptionClass(StatusCode code) {
  const char* name = nullptr;
  PyObject* fallback = PyExc_RuntimeError;
  switch (code) {
    case StatusCode::kResourceExhausted:
      name = "ObjectStoreFullError";
      fallback = PyExc_MemoryError;
      break;
    case StatusCode::kDeadlineExceeded:
      name = "GetTimeoutError";
      fallback = PyExc_TimeoutError;
      break;
    case StatusCode::kUnavailable:
      name = "RaySystemError";
      fallback = PyExc_ConnectionError;
      break;
    case StatusCode::kInvalidArgument:
    case StatusCode::kAlreadyExists:  // e.g. a taken actor name (ValueError, as Ray)
      fallback = PyExc_ValueError;
      break;
    case StatusCode::kNotFound:
      fallback = PyExc_KeyError;
      break;
    case StatusCode::kUnauthenticated:  // a wrong cluster token
      fallback = PyExc_PermissionError;
      break;
    default:
      break;
  }
  if (name) {
    try {
      return py::module_::import("miniray.exceptions").attr(name);
    } catch (py::error_already_set&) {
      PyErr_Clear();
    }
  }
  return py::reinterpret_borrow<py::object>(fallback);
}

}  // namespace

void ThrowIfError(const Status& status) {
  if (status.ok()) return;
  py::gil_scoped_acquire gil;
  py::object cls = ExceptionClass(status.code());
  PyErr_SetObject(cls.ptr(), py::str(status.message()).ptr());
  throw py::error_already_set();
}

void RegisterStatus(py::module_& m) {
  py::enum_<StatusCode>(m, "StatusCode")
      .value("OK", StatusCode::kOk)
      .value("INVALID_ARGUMENT", StatusCode::kInvalidArgument)
      .value("DEADLINE_EXCEEDED", StatusCode::kDeadlineExceeded)
      .value("NOT_FOUND", StatusCode::kNotFound)
      .value("ALREADY_EXISTS", StatusCode::kAlreadyExists)
      .value("RESOURCE_EXHAUSTED", StatusCode::kResourceExhausted)
      .value("FAILED_PRECONDITION", StatusCode::kFailedPrecondition)
      .value("INTERNAL", StatusCode::kInternal)
      .value("UNAVAILABLE", StatusCode::kUnavailable)
      .value("UNAUTHENTICATED", StatusCode::kUnauthenticated);
}

}  // namespace miniray
