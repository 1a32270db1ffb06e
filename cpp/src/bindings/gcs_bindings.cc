// _miniray_core.GcsClient: the cluster's tables in Redis (gcs/gcs_client.h),
// for the node daemon, drivers that attach, and the CLI.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings/bindings.h"
#include "gcs/gcs_client.h"

namespace py = pybind11;

namespace miniray {
namespace {

template <typename M>
py::list ToList(std::vector<M> rows) {
  py::list out;
  for (auto& row : rows) out.append(ToPython(std::move(row)));
  return out;
}

template <typename T>
T Released(const std::function<T()>& call) {
  py::gil_scoped_release release;
  return call();
}

}  // namespace

void RegisterGcs(py::module_& m) {
  py::class_<GcsClient, std::shared_ptr<GcsClient>>(m, "GcsClient")
      .def(py::init([](const std::string& host, int port, const std::string& token,
                       int timeout_ms) {
             return std::shared_ptr<GcsClient>(
                 ValueOrThrow(Released<StatusOr<std::unique_ptr<GcsClient>>>(
                     [&] { return GcsClient::Connect(host, port, token, timeout_ms); })));
           }),
           py::arg("host"), py::arg("port"), py::arg("token"), py::arg("timeout_ms") = 3000,
           "Connects to the cluster's Redis. ConnectionError naming the address when "
           "nothing answers; ValueError for a wrong token.")
      .def_property_readonly("address", &GcsClient::address)
      .def(
          "report",
          [](GcsClient& gcs, const PyMessage& snapshot) {
            rpc::NodeSnapshot s = MessageAs<rpc::NodeSnapshot>(snapshot);
            ThrowIfError(Released<Status>([&] { return gcs.Report(s); }));
          },
          py::arg("snapshot"),
          "Writes a node's report (rpc.NodeSnapshot). RuntimeError once the cluster declared "
          "the node dead.")
      .def(
          "mark_node_dead",
          [](GcsClient& gcs, py::bytes node_id, const std::string& reason) {
            NodeID id = IdFromBytes<NodeID>(node_id);
            ThrowIfError(Released<Status>([&] { return gcs.MarkNodeDead(id, reason, NowMs()); }));
          },
          py::arg("node_id"), py::arg("reason"))
      .def(
          "mark_silent_nodes_dead",
          [](GcsClient& gcs, int64_t timeout_ms) {
            auto dead = ValueOrThrow(Released<StatusOr<std::vector<NodeID>>>(
                [&] { return gcs.MarkSilentNodesDead(NowMs(), timeout_ms); }));
            py::list out;
            for (const auto& id : dead) out.append(py::bytes(id.Binary()));
            return out;
          },
          py::arg("timeout_ms"), "The head's liveness check; the node ids it declared dead.")
      .def("nodes",
           [](GcsClient& gcs) {
             return ToList(ValueOrThrow(Released<StatusOr<std::vector<rpc::GcsNodeInfo>>>(
                 [&] { return gcs.GetAllNodes(); })));
           })
      .def("jobs",
           [](GcsClient& gcs) {
             return ToList(ValueOrThrow(Released<StatusOr<std::vector<rpc::JobTableData>>>(
                 [&] { return gcs.GetAllJobs(); })));
           })
      .def("actors",
           [](GcsClient& gcs) {
             return ToList(ValueOrThrow(Released<StatusOr<std::vector<rpc::ActorTableData>>>(
                 [&] { return gcs.GetAllActors(); })));
           })
      .def(
          "kv_get",
          [](GcsClient& gcs, const std::string& key) -> py::object {
            auto v = ValueOrThrow(Released<StatusOr<std::optional<std::string>>>(
                [&] { return gcs.KvGet(key); }));
            if (!v) return py::none();
            return py::bytes(*v);
          },
          py::arg("key"))
      .def(
          "kv_put",
          [](GcsClient& gcs, const std::string& key, py::bytes value) {
            std::string v = value;
            ThrowIfError(Released<Status>([&] { return gcs.KvPut(key, v); }));
          },
          py::arg("key"), py::arg("value"));
}

}  // namespace miniray
