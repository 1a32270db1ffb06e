// _miniray_core.rpc: the protobuf messages of protobuf/*.proto as Python
// objects. Fields are read and written by name through protobuf reflection,
// so no binding spells a field out: a field added to a .proto file is usable
// from Python at once.
//
//   spec = rpc.TaskSpec(name="f", num_returns=2, required_resources={"CPU": 1})
//   spec.max_retries = 3
//   spec.actor_creation_task_spec.max_concurrency = 4   # nested: a live view
//   rpc.ErrorType.WORKER_DIED                            # enums: ints by name
//
// Conversions: bytes fields <-> bytes, string <-> str, integers (range
// checked), double, bool, enums <-> int, repeated <-> list, map <-> dict,
// message <-> Message (a view into its parent; assigning copies). Wrong
// names and types raise AttributeError, TypeError or ValueError naming the
// message and the field.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <climits>
#include <string>

#include "bindings/bindings.h"
#include "common/socket.h"
#include "node/message_validator.h"
#include "protobuf/gcs.pb.h"
#include "protobuf/node.pb.h"

namespace py = pybind11;
namespace pb = google::protobuf;

namespace miniray {
namespace {

[[noreturn]] void Raise(PyObject* type, const std::string& message) {
  PyErr_SetString(type, message.c_str());
  throw py::error_already_set();
}

std::string FieldName(const pb::FieldDescriptor* f) {
  return f->containing_type()->name() + "." + f->name();
}

const pb::FieldDescriptor* FindField(const pb::Message& m, const std::string& name) {
  const pb::FieldDescriptor* f = m.GetDescriptor()->FindFieldByName(name);
  if (!f) Raise(PyExc_AttributeError, m.GetDescriptor()->name() + " has no field '" + name + "'");
  return f;
}

// A Python int as a 64-bit integer within [lo, hi].
template <typename T>
T IntIn(py::handle v, const pb::FieldDescriptor* f, long double lo, long double hi) {
  if (!PyLong_Check(v.ptr()) || PyBool_Check(v.ptr())) {
    Raise(PyExc_TypeError, FieldName(f) + " must be an int, not " +
                               std::string(Py_TYPE(v.ptr())->tp_name));
  }
  int overflow = 0;
  long long x = PyLong_AsLongLongAndOverflow(v.ptr(), &overflow);
  if (overflow > 0 && hi > static_cast<long double>(LLONG_MAX)) {
    unsigned long long u = PyLong_AsUnsignedLongLong(v.ptr());
    if (!PyErr_Occurred()) return static_cast<T>(u);
    PyErr_Clear();
  }
  if (overflow != 0 || static_cast<long double>(x) < lo || static_cast<long double>(x) > hi) {
    Raise(PyExc_ValueError, FieldName(f) + " = " + py::str(v).cast<std::string>() +
                                " is out of range");
  }
  return static_cast<T>(x);
}

py::object Wrap(std::shared_ptr<pb::Message> message);

// One value of field `f` (element `index` if repeated) as a Python object.
py::object GetValue(const std::shared_ptr<pb::Message>& owner, pb::Message* m,
                    const pb::FieldDescriptor* f, int index) {
  const pb::Reflection* r = m->GetReflection();
  bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_INT32:
      return py::int_(rep ? r->GetRepeatedInt32(*m, f, index) : r->GetInt32(*m, f));
    case pb::FieldDescriptor::CPPTYPE_INT64:
      return py::int_(rep ? r->GetRepeatedInt64(*m, f, index) : r->GetInt64(*m, f));
    case pb::FieldDescriptor::CPPTYPE_UINT32:
      return py::int_(rep ? r->GetRepeatedUInt32(*m, f, index) : r->GetUInt32(*m, f));
    case pb::FieldDescriptor::CPPTYPE_UINT64:
      return py::int_(rep ? r->GetRepeatedUInt64(*m, f, index) : r->GetUInt64(*m, f));
    case pb::FieldDescriptor::CPPTYPE_DOUBLE:
      return py::float_(rep ? r->GetRepeatedDouble(*m, f, index) : r->GetDouble(*m, f));
    case pb::FieldDescriptor::CPPTYPE_FLOAT:
      return py::float_(rep ? r->GetRepeatedFloat(*m, f, index) : r->GetFloat(*m, f));
    case pb::FieldDescriptor::CPPTYPE_BOOL:
      return py::bool_(rep ? r->GetRepeatedBool(*m, f, index) : r->GetBool(*m, f));
    case pb::FieldDescriptor::CPPTYPE_ENUM:
      return py::int_(rep ? r->GetRepeatedEnumValue(*m, f, index) : r->GetEnumValue(*m, f));
    case pb::FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      const std::string& s = rep ? r->GetRepeatedStringReference(*m, f, index, &scratch)
                                 : r->GetStringReference(*m, f, &scratch);
      if (f->type() == pb::FieldDescriptor::TYPE_BYTES) return py::bytes(s);
      return py::str(s);
    }
    case pb::FieldDescriptor::CPPTYPE_MESSAGE: {
      pb::Message* sub = rep ? r->MutableRepeatedMessage(m, f, index) : r->MutableMessage(m, f);
      return Wrap(std::shared_ptr<pb::Message>(owner, sub));  // a view: keeps the root alive
    }
  }
  return py::none();
}

// Sets field `f` (appends, if repeated) from a Python object.
void SetValue(pb::Message* m, const pb::FieldDescriptor* f, py::handle v);

void AddOrSet(pb::Message* m, const pb::FieldDescriptor* f, py::handle v) {
  const pb::Reflection* r = m->GetReflection();
  bool rep = f->is_repeated();
#define MINIRAY_SET(Type, value) \
  rep ? r->Add##Type(m, f, value) : r->Set##Type(m, f, value)
  switch (f->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_INT32:
      MINIRAY_SET(Int32, IntIn<int32_t>(v, f, INT32_MIN, INT32_MAX));
      return;
    case pb::FieldDescriptor::CPPTYPE_INT64:
      MINIRAY_SET(Int64, IntIn<int64_t>(v, f, INT64_MIN, INT64_MAX));
      return;
    case pb::FieldDescriptor::CPPTYPE_UINT32:
      MINIRAY_SET(UInt32, IntIn<uint32_t>(v, f, 0, UINT32_MAX));
      return;
    case pb::FieldDescriptor::CPPTYPE_UINT64:
      MINIRAY_SET(UInt64, IntIn<uint64_t>(v, f, 0, static_cast<long double>(UINT64_MAX)));
      return;
    case pb::FieldDescriptor::CPPTYPE_DOUBLE:
    case pb::FieldDescriptor::CPPTYPE_FLOAT: {
      if (!PyFloat_Check(v.ptr()) && !(PyLong_Check(v.ptr()) && !PyBool_Check(v.ptr()))) {
        Raise(PyExc_TypeError, FieldName(f) + " must be a number, not " +
                                   std::string(Py_TYPE(v.ptr())->tp_name));
      }
      double d = PyFloat_AsDouble(v.ptr());
      if (PyErr_Occurred()) throw py::error_already_set();
      if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_DOUBLE) {
        MINIRAY_SET(Double, d);
      } else {
        MINIRAY_SET(Float, static_cast<float>(d));
      }
      return;
    }
    case pb::FieldDescriptor::CPPTYPE_BOOL:
      if (!PyBool_Check(v.ptr())) {
        Raise(PyExc_TypeError, FieldName(f) + " must be a bool, not " +
                                   std::string(Py_TYPE(v.ptr())->tp_name));
      }
      MINIRAY_SET(Bool, v.ptr() == Py_True);
      return;
    case pb::FieldDescriptor::CPPTYPE_ENUM: {
      const pb::EnumValueDescriptor* e = nullptr;
      if (PyUnicode_Check(v.ptr())) {
        const char* name = PyUnicode_AsUTF8(v.ptr());
        if (!name) throw py::error_already_set();
        e = f->enum_type()->FindValueByName(name);
      } else {
        e = f->enum_type()->FindValueByNumber(IntIn<int>(v, f, INT32_MIN, INT32_MAX));
      }
      if (!e) {
        Raise(PyExc_ValueError, FieldName(f) + ": " + py::repr(v).cast<std::string>() +
                                    " is not a " + f->enum_type()->name());
      }
      MINIRAY_SET(EnumValue, e->number());
      return;
    }
    case pb::FieldDescriptor::CPPTYPE_STRING: {
      bool bytes_field = f->type() == pb::FieldDescriptor::TYPE_BYTES;
      std::string s;
      if (bytes_field && PyBytes_Check(v.ptr())) {
        s = std::string(PyBytes_AS_STRING(v.ptr()), static_cast<size_t>(PyBytes_GET_SIZE(v.ptr())));
      } else if (bytes_field && PyObject_CheckBuffer(v.ptr()) && !PyUnicode_Check(v.ptr())) {
        py::buffer_info info = py::reinterpret_borrow<py::buffer>(v).request();
        s = std::string(static_cast<const char*>(info.ptr),
                        static_cast<size_t>(info.size * info.itemsize));
      } else if (!bytes_field && PyUnicode_Check(v.ptr())) {
        Py_ssize_t n = 0;
        const char* utf8 = PyUnicode_AsUTF8AndSize(v.ptr(), &n);  // refuses lone surrogates
        if (!utf8) throw py::error_already_set();
        s.assign(utf8, static_cast<size_t>(n));
      } else {
        Raise(PyExc_TypeError, FieldName(f) + " must be " + (bytes_field ? "bytes" : "str") +
                                   ", not " + std::string(Py_TYPE(v.ptr())->tp_name));
      }
      MINIRAY_SET(String, std::move(s));
      return;
    }
    case pb::FieldDescriptor::CPPTYPE_MESSAGE: {
      pb::Message* sub = rep ? r->AddMessage(m, f) : r->MutableMessage(m, f);
      if (py::isinstance<PyMessage>(v)) {
        const pb::Message& from = *v.cast<PyMessage&>().message;
        if (from.GetDescriptor() != f->message_type()) {
          Raise(PyExc_TypeError, FieldName(f) + " must be a " + f->message_type()->name() +
                                     ", not a " + from.GetDescriptor()->name());
        }
        if (&from != sub) sub->CopyFrom(from);
      } else if (py::isinstance<py::dict>(v)) {
        sub->Clear();
        for (auto [key, value] : py::reinterpret_borrow<py::dict>(v)) {
          if (!PyUnicode_Check(key.ptr())) {
            Raise(PyExc_TypeError, FieldName(f) + ": field names are str");
          }
          SetValue(sub, FindField(*sub, key.cast<std::string>()), value);
        }
      } else {
        Raise(PyExc_TypeError, FieldName(f) + " must be a " + f->message_type()->name() +
                                   " or a dict, not " + std::string(Py_TYPE(v.ptr())->tp_name));
      }
      return;
    }
  }
#undef MINIRAY_SET
}

void SetValue(pb::Message* m, const pb::FieldDescriptor* f, py::handle v) {
  const pb::Reflection* r = m->GetReflection();
  if (f->is_map()) {
    if (!py::isinstance<py::dict>(v)) {
      Raise(PyExc_TypeError, FieldName(f) + " must be a dict, not " +
                                 std::string(Py_TYPE(v.ptr())->tp_name));
    }
    r->ClearField(m, f);
    const pb::Descriptor* entry = f->message_type();
    for (auto [key, value] : py::reinterpret_borrow<py::dict>(v)) {
      pb::Message* e = r->AddMessage(m, f);
      AddOrSet(e, entry->FindFieldByName("key"), key);
      AddOrSet(e, entry->FindFieldByName("value"), value);
    }
    return;
  }
  if (f->is_repeated()) {
    if (PyUnicode_Check(v.ptr()) || PyBytes_Check(v.ptr()) || !PySequence_Check(v.ptr())) {
      Raise(PyExc_TypeError, FieldName(f) + " must be a list, not " +
                                 std::string(Py_TYPE(v.ptr())->tp_name));
    }
    r->ClearField(m, f);
    for (py::handle item : py::reinterpret_borrow<py::sequence>(v)) AddOrSet(m, f, item);
    return;
  }
  AddOrSet(m, f, v);
}

py::object GetField(const std::shared_ptr<pb::Message>& owner, const pb::FieldDescriptor* f) {
  pb::Message* m = owner.get();
  const pb::Reflection* r = m->GetReflection();
  if (f->is_map()) {
    py::dict d;
    const pb::Descriptor* entry = f->message_type();
    for (int i = 0; i < r->FieldSize(*m, f); ++i) {
      pb::Message* e = r->MutableRepeatedMessage(m, f, i);
      auto e_owner = std::shared_ptr<pb::Message>(owner, e);
      d[GetValue(e_owner, e, entry->FindFieldByName("key"), -1)] =
          GetValue(e_owner, e, entry->FindFieldByName("value"), -1);
    }
    return std::move(d);
  }
  if (f->is_repeated()) {
    int n = r->FieldSize(*m, f);
    py::list out(n);
    for (int i = 0; i < n; ++i) out[i] = GetValue(owner, m, f, i);
    return std::move(out);
  }
  return GetValue(owner, m, f, -1);
}

py::object Wrap(std::shared_ptr<pb::Message> message) {
  return py::cast(PyMessage{std::move(message)});
}

// The fields that are set (proto3: not at their default), as a dict;
// messages inside become dicts too.
py::dict ToDictImpl(const pb::Message& m) {
  py::dict d;
  const pb::Reflection* r = m.GetReflection();
  std::vector<const pb::FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  // ListFields wants a const message; the values are only read.
  auto owner = std::shared_ptr<pb::Message>(std::shared_ptr<pb::Message>(),
                                            const_cast<pb::Message*>(&m));
  for (const pb::FieldDescriptor* f : fields) {
    py::str key(f->name());
    if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE && !f->is_map()) {
      if (f->is_repeated()) {
        py::list items;
        for (int i = 0; i < r->FieldSize(m, f); ++i) items.append(ToDictImpl(r->GetRepeatedMessage(m, f, i)));
        d[key] = std::move(items);
      } else {
        d[key] = ToDictImpl(r->GetMessage(m, f));
      }
    } else {
      d[key] = GetField(owner, f);
    }
  }
  return d;
}

// Turns a C++ exception escaping into a Python one (for the plain C entry
// points below, which pybind11 does not wrap).
void SetPythonError() {
  try {
    throw;
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (py::builtin_exception& e) {
    e.set_error();
  } catch (std::exception& e) {
    PyErr_SetString(PyExc_TypeError, e.what());
  }
}

// Attribute access by field name, before the generic lookup (so reading a
// field raises and catches no AttributeError on the way): rpc messages are
// read on every task's path.
PyObject* MessageGetAttro(PyObject* self, PyObject* name) {
  Py_ssize_t n = 0;
  const char* s = PyUnicode_AsUTF8AndSize(name, &n);
  if (s && n > 0 && s[0] != '_') {
    try {
      PyMessage& m = py::handle(self).cast<PyMessage&>();
      const pb::FieldDescriptor* f = m.message->GetDescriptor()->FindFieldByName(std::string(s, n));
      if (f) return GetField(m.message, f).release().ptr();
      // Not a field: a method, or a mistake worth a clear message.
      PyObject* attr = PyObject_GenericGetAttr(self, name);
      if (!attr && PyErr_ExceptionMatches(PyExc_AttributeError)) {
        PyErr_Clear();
        FindField(*m.message, std::string(s, n));  // raises, naming the message
      }
      return attr;
    } catch (...) {
      SetPythonError();
      return nullptr;
    }
  }
  return PyObject_GenericGetAttr(self, name);
}

int MessageSetAttro(PyObject* self, PyObject* name, PyObject* value) {
  Py_ssize_t n = 0;
  const char* s = PyUnicode_AsUTF8AndSize(name, &n);
  if (!s) return -1;
  try {
    PyMessage& m = py::handle(self).cast<PyMessage&>();
    if (!value) {
      m.message->GetReflection()->ClearField(m.message.get(), FindField(*m.message, s));
      return 0;
    }
    SetValue(m.message.get(), FindField(*m.message, std::string(s, n)), value);
    return 0;
  } catch (...) {
    SetPythonError();
    return -1;
  }
}

// rpc.<Type>(**fields): a plain C function (no argument parsing layer), as
// messages are made on every task's path.
PyObject* NewMessageFunction(PyObject* capsule, PyObject* args, PyObject* kwargs) {
  auto* d = static_cast<const pb::Descriptor*>(PyCapsule_GetPointer(capsule, nullptr));
  if (PyTuple_GET_SIZE(args) != 0) {
    PyErr_SetString(PyExc_TypeError, (d->name() + "() takes fields by name only").c_str());
    return nullptr;
  }
  try {
    const pb::Message* prototype = pb::MessageFactory::generated_factory()->GetPrototype(d);
    std::shared_ptr<pb::Message> m(prototype->New());
    if (kwargs) {
      PyObject* key;
      PyObject* value;
      Py_ssize_t pos = 0;
      while (PyDict_Next(kwargs, &pos, &key, &value)) {
        const char* name = PyUnicode_AsUTF8(key);
        if (!name) return nullptr;
        SetValue(m.get(), FindField(*m, name), value);
      }
    }
    return py::cast(PyMessage{std::move(m)}).release().ptr();
  } catch (...) {
    SetPythonError();
    return nullptr;
  }
}

void AddFile(py::module_& rpc, const pb::FileDescriptor* file) {
  for (int i = 0; i < file->message_type_count(); ++i) {
    const pb::Descriptor* d = file->message_type(i);
    // Lives as long as the module: Python keeps a pointer to it.
    std::string* doc = new std::string("A new " + d->full_name() + " (" + file->name() +
                                       "), fields given by name.");
    auto* def = new PyMethodDef{d->name().c_str(),
                                reinterpret_cast<PyCFunction>(
                                    reinterpret_cast<void (*)()>(NewMessageFunction)),
                                METH_VARARGS | METH_KEYWORDS, doc->c_str()};
    py::object capsule = py::reinterpret_steal<py::object>(
        PyCapsule_New(const_cast<pb::Descriptor*>(d), nullptr, nullptr));
    py::object fn = py::reinterpret_steal<py::object>(
        PyCFunction_NewEx(def, capsule.ptr(), rpc.attr("__name__").ptr()));
    if (!fn) throw py::error_already_set();
    rpc.attr(d->name().c_str()) = fn;
  }
  for (int i = 0; i < file->enum_type_count(); ++i) {
    const pb::EnumDescriptor* e = file->enum_type(i);
    py::dict values;
    for (int k = 0; k < e->value_count(); ++k) values[e->value(k)->name().c_str()] = e->value(k)->number();
    rpc.attr(e->name().c_str()) =
        py::module_::import("types").attr("SimpleNamespace")(**values);
  }
}

}  // namespace

py::dict MessageToDict(const google::protobuf::Message& message) { return ToDictImpl(message); }

void MessageFromDict(py::handle fields, google::protobuf::Message* message) {
  if (!PyDict_Check(fields.ptr())) {
    Raise(PyExc_TypeError, message->GetDescriptor()->name() + " fields must be a dict");
  }
  PyObject* key;
  PyObject* value;
  Py_ssize_t pos = 0;
  while (PyDict_Next(fields.ptr(), &pos, &key, &value)) {
    const char* name = PyUnicode_Check(key) ? PyUnicode_AsUTF8(key) : nullptr;
    if (!name) Raise(PyExc_TypeError, message->GetDescriptor()->name() + ": field names are str");
    SetValue(message, FindField(*message, name), value);
  }
}

void RegisterMessages(py::module_& m) {
  py::class_<PyMessage> cls(m, "Message",
                            "A protobuf message (protobuf/*.proto); fields by name.");
  auto* type = reinterpret_cast<PyTypeObject*>(cls.ptr());
  type->tp_getattro = MessageGetAttro;
  type->tp_setattro = MessageSetAttro;
  PyType_Modified(type);
  cls.def_property_readonly("type_name",
                             [](const PyMessage& self) {
                               return self.message->GetDescriptor()->name();
                             })
      .def(
          "which",
          [](const PyMessage& self, const std::string& oneof) -> py::object {
            const pb::OneofDescriptor* o =
                self.message->GetDescriptor()->FindOneofByName(oneof);
            if (!o) {
              Raise(PyExc_AttributeError,
                    self.message->GetDescriptor()->name() + " has no oneof '" + oneof + "'");
            }
            const pb::FieldDescriptor* f =
                self.message->GetReflection()->GetOneofFieldDescriptor(*self.message, o);
            if (!f) return py::none();
            return py::str(f->name());
          },
          "The name of the field set in the oneof, or None.")
      .def(
          "has",
          [](const PyMessage& self, const std::string& name) {
            const pb::FieldDescriptor* f = FindField(*self.message, name);
            if (f->is_repeated()) return self.message->GetReflection()->FieldSize(*self.message, f) > 0;
            return self.message->GetReflection()->HasField(*self.message, f);
          },
          "Whether a message field (or oneof member) is set, or a list is non-empty.")
      .def("serialize",
           [](const PyMessage& self) { return py::bytes(self.message->SerializeAsString()); })
      .def(
          "fields",
          [](const PyMessage& self, py::args names) {
            py::tuple out(names.size());
            for (size_t i = 0; i < names.size(); ++i) {
              PyObject* name = names[i].ptr();
              Py_ssize_t n = 0;
              const char* s = PyUnicode_Check(name) ? PyUnicode_AsUTF8AndSize(name, &n) : nullptr;
              if (!s) Raise(PyExc_TypeError, "field names are str");
              const pb::FieldDescriptor* f =
                  self.message->GetDescriptor()->FindFieldByName(std::string(s, n));
              if (!f) FindField(*self.message, std::string(s, n));  // raises, naming it
              out[i] = GetField(self.message, f);
            }
            return out;
          },
          "The values of the fields named, in the order named: `a, b = m.fields(\"a\", "
          "\"b\")`. One call instead of one per field, for hot paths.")
      .def(
          "to_dict", [](const PyMessage& self) { return ToDictImpl(*self.message); },
          "The fields that are set (not at their default), by name; messages inside "
          "become dicts. One call instead of one per field, for hot paths.")
      .def("copy",
           [](const PyMessage& self) {
             std::shared_ptr<pb::Message> m(self.message->New());
             m->CopyFrom(*self.message);
             return PyMessage{std::move(m)};
           })
      .def("__eq__",
           [](const PyMessage& a, py::handle b) {
             if (!py::isinstance<PyMessage>(b)) return false;
             const pb::Message& other = *b.cast<PyMessage&>().message;
             return a.message->GetDescriptor() == other.GetDescriptor() &&
                    a.message->SerializeAsString() == other.SerializeAsString();
           })
      .def("__repr__", [](const PyMessage& self) {
        return self.message->GetDescriptor()->name() + "(" + self.message->ShortDebugString() + ")";
      });

  py::module_ rpc = m.def_submodule("rpc", "The messages of protobuf/*.proto, by name.");
  AddFile(rpc, rpc::TaskSpec::descriptor()->file());
  AddFile(rpc, rpc::NodeMessage::descriptor()->file());
  AddFile(rpc, rpc::GcsNodeInfo::descriptor()->file());
  rpc.def(
      "parse",
      [](const std::string& type_name, py::bytes data) {
        const pb::Descriptor* d =
            pb::DescriptorPool::generated_pool()->FindMessageTypeByName("miniray.rpc." + type_name);
        if (!d) Raise(PyExc_ValueError, "no message type '" + type_name + "'");
        std::shared_ptr<pb::Message> msg(
            pb::MessageFactory::generated_factory()->GetPrototype(d)->New());
        if (!msg->ParseFromString(std::string(data))) {
          Raise(PyExc_ValueError, "bytes are not a valid " + type_name);
        }
        return PyMessage{std::move(msg)};
      },
      py::arg("type_name"), py::arg("data"), "Parses serialized bytes as message `type_name`.");
  rpc.def(
      "validate",
      [](const PyMessage& message) {
        const auto* m = dynamic_cast<const rpc::ClientMessage*>(message.message.get());
        if (!m) Raise(PyExc_TypeError, "validate takes a ClientMessage");
        // As the node checks what a registered driver sends it: a node
        // checks what another node's driver asks of it before it acts.
        ThrowIfError(ValidateClientMessage(*m, ClientRole{false, true, rpc::DRIVER}));
      },
      py::arg("message"),
      "Raises ValueError if the node would refuse `message` from a driver (the "
      "node's own checks, message_validator.h).");
  rpc.def(
      "frame",
      [](const PyMessage& message) { return py::bytes(SerializeFrame(*message.message)); },
      "The message as one Unix-socket frame (length header + bytes), as a client sends it.");
}

}  // namespace miniray
