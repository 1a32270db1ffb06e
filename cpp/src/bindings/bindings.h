// The pybind11 layer of _miniray_core: thin by rule. Each *_bindings.cc
// converts arguments, releases the GIL around blocking C++ calls, converts
// results, and turns a non-OK Status into a Python exception through
// ThrowIfError (the one place where codes map to exception classes).
#ifndef MINIRAY_BINDINGS_BINDINGS_H_
#define MINIRAY_BINDINGS_BINDINGS_H_

#include <pybind11/pybind11.h>

#include <string>

#include "common/id.h"
#include "common/status.h"

namespace miniray {

// Raises the miniray.exceptions class for `status` (builtin fallbacks when
// the miniray package is not importable). No-op when OK.
void ThrowIfError(const Status& status);

template <typename T>
T ValueOrThrow(StatusOr<T> v) {
  ThrowIfError(v.status());
  return std::move(v).value();
}

// IDs cross into Python as bytes.
template <typename ID>
ID IdFromBytes(const pybind11::bytes& b) {
  std::string s = b;
  if (s.size() != ID::kSize) {
    throw pybind11::value_error("an ID must be " + std::to_string(ID::kSize) +
                                " bytes, got " + std::to_string(s.size()));
  }
  return ID::FromBinary(s);
}

void RegisterStatus(pybind11::module_& m);
void RegisterObjectStore(pybind11::module_& m);
void RegisterNode(pybind11::module_& m);
void RegisterCoreWorker(pybind11::module_& m);

}  // namespace miniray

#endif  // MINIRAY_BINDINGS_BINDINGS_H_
