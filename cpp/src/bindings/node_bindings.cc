// _miniray_core.NodeRuntime: starts and stops the node runtime in-process.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings/bindings.h"
#include "node/node_runtime.h"

namespace py = pybind11;

namespace miniray {

void RegisterNode(py::module_& m) {
  py::class_<NodeRuntime>(m, "NodeRuntime")
      .def(py::init([](const PyMessage& config) {
             rpc::NodeConfig c = MessageAs<rpc::NodeConfig>(config);
             py::gil_scoped_release release;
             return ValueOrThrow(NodeRuntime::Start(std::move(c)));
           }),
           py::arg("config"), "Starts a node from an rpc.NodeConfig.")
      .def("stop", &NodeRuntime::Stop, py::call_guard<py::gil_scoped_release>())
      .def_static("queue_logs", &NodeRuntime::QueueLogs, py::arg("enable"),
                  "Send the node's runtime messages to a queue (take_logs) instead of stderr.")
      .def_static("take_logs", &NodeRuntime::TakeLogs,
                  "The node's runtime messages queued since the last call.")
      .def_property_readonly("socket_name", &NodeRuntime::socket_name)
      .def_property_readonly("node_id", [](const NodeRuntime& n) { return n.node_id().Hex(); })
      .def(
          "snapshot", [](NodeRuntime& n) { return ToPython(n.Snapshot()); },
          "The rpc.NodeSnapshot this node reports to the GCS (key-value entries: those "
          "written since the last snapshot).")
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
