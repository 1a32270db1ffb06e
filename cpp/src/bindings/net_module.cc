// _miniray_net: NodeService's gRPC server and client (rpc/node_service.h)
// for Python. A separate extension from _miniray_core so that only the
// processes that talk to other nodes load gRPC (see
// protobuf/node_service.proto); bodies cross as bytes, which the caller
// parses with _miniray_core.rpc.
//
// gRPC calls the handler on its own threads: each call into Python takes
// the GIL, and every wait on the network releases it.
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>

#include <memory>
#include <string>

#include "bindings/bindings.h"
#include "rpc/node_service.h"

namespace py = pybind11;

namespace miniray {
namespace {

// A Python object's bytes, read in place while the stream sends them.
class PyBufferSource : public ObjectSource {
 public:
  explicit PyBufferSource(py::object obj) : obj_(std::move(obj)) {
    if (PyObject_GetBuffer(obj_.ptr(), &view_, PyBUF_SIMPLE) != 0) throw py::error_already_set();
  }
  ~PyBufferSource() override {
    py::gil_scoped_acquire gil;
    PyBuffer_Release(&view_);
    obj_ = py::object();
  }
  const uint8_t* data() const override { return static_cast<const uint8_t*>(view_.buf); }
  uint64_t size() const override { return static_cast<uint64_t>(view_.len); }

 private:
  py::object obj_;
  Py_buffer view_;
};

// The current Python exception as a Status: ValueError/TypeError mean the
// caller sent something wrong, anything else is the node's fault.
Status StatusFromPython(py::error_already_set& e) {
  bool bad_input = e.matches(PyExc_ValueError) || e.matches(PyExc_TypeError);
  std::string what = py::str(e.value());
  return bad_input ? Status::InvalidArgument(what) : Status::Internal(what);
}

// Forwards calls to a Python object with methods call(method, body) ->
// bytes, pull(body) -> (buffer or None, error bytes), refused(peer, why).
// It borrows the object: the PyServer that owns the server keeps it alive.
class PyHandler : public NodeServiceHandler {
 public:
  explicit PyHandler(PyObject* handler) : handler_(handler) {}
  StatusOr<std::string> Call(const std::string& method, const std::string& body) override {
    py::gil_scoped_acquire gil;
    try {
      py::object r = py::handle(handler_).attr("call")(method, py::bytes(body));
      return std::string(r.cast<py::bytes>());
    } catch (py::error_already_set& e) {
      return StatusFromPython(e);
    }
  }
  StatusOr<Pulled> Pull(const std::string& body) override {
    py::gil_scoped_acquire gil;
    try {
      py::tuple r = py::handle(handler_).attr("pull")(py::bytes(body));
      Pulled p;
      if (!r[0].is_none()) p.source = std::make_unique<PyBufferSource>(r[0]);
      p.error = std::string(r[1].cast<py::bytes>());
      return p;
    } catch (py::error_already_set& e) {
      return StatusFromPython(e);
    }
  }
  void Refused(const std::string& peer, const std::string& why) override {
    py::gil_scoped_acquire gil;
    try {
      py::handle(handler_).attr("refused")(peer, why);
    } catch (py::error_already_set& e) {
      e.discard_as_unraisable("NodeService refused()");
    }
  }

 private:
  PyObject* handler_;
};

struct PyServer {
  py::object handler;  // outlives the server (declared first, destroyed last)
  std::unique_ptr<NodeServiceServer> server;
  void Stop(double grace_s) {
    py::gil_scoped_release release;  // calls under way need the GIL to finish
    if (server) server->Stop(static_cast<int64_t>(grace_s * 1000));
  }
  ~PyServer() { Stop(0); }
};

}  // namespace
}  // namespace miniray

PYBIND11_MODULE(_miniray_net, m) {
  using namespace miniray;
  m.doc() = "NodeService over gRPC: how miniray's nodes talk to each other.";
  m.attr("CHUNK_BYTES") = kObjectChunkBytes;

  py::class_<PyServer>(m, "NodeServiceServer")
      .def(py::init([](const std::string& ip, int port, const std::string& token,
                       py::object handler) {
             auto s = std::make_unique<PyServer>();
             s->handler = handler;
             auto h = std::make_shared<PyHandler>(handler.ptr());
             s->server = ValueOrThrow(NodeServiceServer::Start(ip, port, token, h));
             return s;
           }),
           py::arg("ip"), py::arg("port"), py::arg("token"), py::arg("handler"),
           "Serves NodeService on ip:port (0: a free one) for callers with `token`; "
           "`handler` has call(method, body), pull(body) and refused(peer, why).")
      .def_property_readonly("port", [](const PyServer& s) { return s.server->port(); })
      .def("stop", &PyServer::Stop, py::arg("grace_s") = 1.0);

  py::class_<NodeServiceClient, std::shared_ptr<NodeServiceClient>>(m, "NodeServiceClient")
      .def(py::init<const std::string&, const std::string&>(), py::arg("address"),
           py::arg("token"))
      .def_property_readonly("address", &NodeServiceClient::address)
      .def(
          "call",
          [](NodeServiceClient& c, const std::string& method, py::bytes body, double timeout_s) {
            std::string b = body;
            StatusOr<std::string> r = Status::OK();
            {
              py::gil_scoped_release release;
              r = c.Call(method, b, static_cast<int64_t>(timeout_s * 1000));
            }
            return py::bytes(ValueOrThrow(std::move(r)));
          },
          py::arg("method"), py::arg("body"), py::arg("timeout_s") = 30.0)
      .def(
          "pull",
          [](NodeServiceClient& c, py::bytes body, py::function allocate,
             double timeout_s) -> py::object {
            std::string b = body, error;
            py::object dest;  // what allocate returned; its buffer is held while written
            Py_buffer view{};
            bool have_view = false;
            std::string alloc_error;
            Status s;
            {
              py::gil_scoped_release release;
              s = c.Pull(
                  b,
                  [&](uint64_t size) -> uint8_t* {
                    py::gil_scoped_acquire gil;
                    try {
                      dest = allocate(size);
                      if (PyObject_GetBuffer(dest.ptr(), &view, PyBUF_WRITABLE) != 0) {
                        throw py::error_already_set();
                      }
                      have_view = true;
                      static uint8_t empty;
                      return view.len ? static_cast<uint8_t*>(view.buf) : &empty;
                    } catch (py::error_already_set& e) {
                      alloc_error = py::str(e.value());
                      return nullptr;
                    }
                  },
                  [&](const std::string& e) { error = e; },
                  static_cast<int64_t>(timeout_s * 1000));
            }
            if (have_view) PyBuffer_Release(&view);
            if (!alloc_error.empty()) throw py::value_error("cannot store the object: " + alloc_error);
            ThrowIfError(s);
            if (!error.empty()) return py::bytes(error);
            return py::none();
          },
          py::arg("body"), py::arg("allocate"), py::arg("timeout_s") = -1.0,
          "Pulls an object: allocate(size) returns a writable buffer of that size, filled "
          "here; returns None, or the serialized ObjectError the node sent instead.");
}
