// _miniray_core.NodeRuntime: starts and stops the node runtime in-process.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings/bindings.h"
#include "node/node_runtime.h"

namespace py = pybind11;

namespace miniray {

void RegisterNode(py::module_& m) {
  py::class_<NodeRuntime>(m, "NodeRuntime")
      .def(py::init([](const std::map<std::string, double>& resources,
                       uint64_t object_store_memory, int prestart_workers, int max_workers,
                       std::vector<std::string> worker_argv,
                       std::vector<std::string> worker_env) {
             NodeOptions o;
             for (const auto& [name, amount] : resources) o.resources.push_back({name, amount});
             o.object_store_memory = object_store_memory;
             o.prestart_workers = prestart_workers;
             o.max_workers = max_workers;
             o.worker_argv = std::move(worker_argv);
             o.worker_env = std::move(worker_env);
             return ValueOrThrow(NodeRuntime::Start(std::move(o)));
           }),
           py::arg("resources"), py::arg("object_store_memory"), py::arg("prestart_workers"),
           py::arg("max_workers"), py::arg("worker_argv"), py::arg("worker_env"))
      .def("stop", &NodeRuntime::Stop, py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("socket_name", &NodeRuntime::socket_name)
      .def_property_readonly("node_id", [](const NodeRuntime& n) { return n.node_id().Hex(); })
      .def("stats", [](const NodeRuntime& n) {
        NodeStats s = n.Stats();
        py::dict d;
        d["num_objects"] = s.num_objects;
        d["num_store_objects"] = s.num_store_objects;
        d["store_used"] = s.store_used;
        d["store_capacity"] = s.store_capacity;
        d["num_workers"] = s.num_workers;
        d["num_pending_tasks"] = s.num_pending_tasks;
        d["num_spilled"] = s.num_spilled;
        return d;
      });
}

}  // namespace miniray
