// The pybind11 layer of _miniray_core: thin by rule. Each *_bindings.cc
// converts arguments, releases the GIL around blocking C++ calls, converts
// results, and turns a non-OK Status into a Python exception through
// ThrowIfError (the one place where codes map to exception classes).
#ifndef MINIRAY_BINDINGS_BINDINGS_H_
#define MINIRAY_BINDINGS_BINDINGS_H_

#include <pybind11/pybind11.h>

#include <google/protobuf/message.h>

#include <memory>
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

// A protobuf message held for Python: _miniray_core.Message, whose fields
// are read and written by name (message_bindings.cc). `message` may be a
// view into a larger message that it keeps alive.
struct PyMessage {
  std::shared_ptr<google::protobuf::Message> message;
};

// The message as a T; TypeError naming both types when it is another.
template <typename T>
const T& MessageAs(const PyMessage& m) {
  if (m.message->GetDescriptor() != T::descriptor()) {
    std::string msg = "expected a " + T::descriptor()->name() + " message, got a " +
                      m.message->GetDescriptor()->name();
    PyErr_SetString(PyExc_TypeError, msg.c_str());
    throw pybind11::error_already_set();
  }
  return static_cast<const T&>(*m.message);
}

// A message's set fields as a dict (nested messages as dicts), and the
// other way round: `fields` by name into `message` (TypeError, ValueError,
// AttributeError naming the field when one does not fit).
pybind11::dict MessageToDict(const google::protobuf::Message& message);
void MessageFromDict(pybind11::handle fields, google::protobuf::Message* message);

// Hands a message to Python (a _miniray_core.Message).
template <typename T>
PyMessage ToPython(T&& message) {
  return PyMessage{std::make_shared<std::decay_t<T>>(std::forward<T>(message))};
}

void RegisterStatus(pybind11::module_& m);
void RegisterMessages(pybind11::module_& m);
void RegisterObjectStore(pybind11::module_& m);
void RegisterNode(pybind11::module_& m);
void RegisterCoreWorker(pybind11::module_& m);
void RegisterGcs(pybind11::module_& m);

}  // namespace miniray

#endif  // MINIRAY_BINDINGS_BINDINGS_H_
