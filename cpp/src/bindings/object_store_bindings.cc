// _miniray_core.ObjectStore (a standalone shared-memory store, usable
// without the runtime), Buffer (zero-copy views) and ObjectID.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>

#include "bindings/bindings.h"
#include "common/buffer.h"
#include "object_store/object_store.h"

namespace py = pybind11;

namespace miniray {

void RegisterObjectStore(py::module_& m) {
  py::class_<ObjectID>(m, "ObjectID")
      .def(py::init([](py::bytes b) { return IdFromBytes<ObjectID>(b); }))
      .def_static("from_random", &ObjectID::FromRandom)
      .def_static("nil", &ObjectID::Nil)
      .def("binary", [](const ObjectID& id) { return py::bytes(id.Binary()); })
      .def("hex", &ObjectID::Hex)
      .def("is_nil", &ObjectID::IsNil)
      .def("__eq__", [](const ObjectID& a, const ObjectID& b) { return a == b; })
      .def("__hash__", [](const ObjectID& id) { return id.Hash(); })
      .def("__repr__", [](const ObjectID& id) { return "ObjectID(" + id.Hex() + ")"; });

  // A view of bytes in shared memory (or a writable slot being filled).
  // Supports the buffer protocol: memoryview(buf), numpy.frombuffer(buf).
  // The view keeps the mapping alive and holds the object's pin until it
  // and every memoryview/array made from it are gone.
  py::class_<Buffer, std::shared_ptr<Buffer>>(m, "Buffer", py::buffer_protocol())
      .def_buffer([](Buffer& b) {
        return py::buffer_info(b.data(), 1, py::format_descriptor<uint8_t>::format(), 1,
                               {static_cast<py::ssize_t>(b.size())}, {1},
                               /*readonly=*/!b.writable());
      })
      .def("__len__", &Buffer::size)
      .def("__eq__",
           [](const Buffer& b, py::object other) -> py::object {
             if (!PyObject_CheckBuffer(other.ptr())) return py::reinterpret_borrow<py::object>(Py_NotImplemented);
             py::buffer_info info = py::reinterpret_borrow<py::buffer>(other).request();
             size_t n = static_cast<size_t>(info.size * info.itemsize);
             return py::bool_(n == b.size() && std::memcmp(info.ptr, b.data(), n) == 0);
           })
      .def("__bytes__", [](const Buffer& b) {
        return py::bytes(reinterpret_cast<const char*>(b.data()), b.size());
      })
      .def_property_readonly("readonly", [](const Buffer& b) { return !b.writable(); })
      .def("address", [](const Buffer& b) { return reinterpret_cast<uintptr_t>(b.data()); });

  py::class_<ObjectStore, std::shared_ptr<ObjectStore>>(m, "ObjectStore")
      .def(py::init([](uint64_t capacity) {
             return ValueOrThrow(ObjectStore::Create(capacity));
           }),
           py::arg("capacity") = 64ull << 20)
      .def(
          "put",
          [](ObjectStore& store, py::buffer data) {
            py::buffer_info info = data.request();
            uint64_t size = static_cast<uint64_t>(info.size * info.itemsize);
            ObjectID id = ObjectID::FromRandom();
            ObjectLocation loc = ValueOrThrow(store.CreateObject(id, size));
            {
              py::gil_scoped_release release;
              std::memcpy(store.arena()->data() + loc.offset, info.ptr, size);
            }
            ThrowIfError(store.Seal(id));
            return id;
          },
          py::arg("data"), "Copies a bytes-like value into shared memory; returns its ObjectID.")
      .def(
          "get",
          [](ObjectStore& store, const ObjectID& id) {
            return std::shared_ptr<Buffer>(ValueOrThrow(store.Get(id)));
          },
          py::arg("ref"), "A read-only zero-copy Buffer over the sealed object.")
      .def("contains", &ObjectStore::Contains)
      .def("delete", [](ObjectStore& store, const ObjectID& id) { ThrowIfError(store.Delete(id)); })
      .def_property_readonly("capacity", &ObjectStore::capacity)
      .def_property_readonly("used", &ObjectStore::used)
      .def_property_readonly("num_objects", &ObjectStore::num_objects);
}

}  // namespace miniray
