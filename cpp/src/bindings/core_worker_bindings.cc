// _miniray_core.CoreWorker: the per-process client, as the Python layer
// (miniray/_private/worker.py) uses it. Messages cross as _miniray_core.rpc
// messages (fields by name); IDs as bytes; object values as bytes (inline),
// Buffer (shared memory, zero copy) or an rpc ObjectError.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>

#include "bindings/bindings.h"
#include "core_worker/core_worker.h"
#include "core_worker/socket_channel.h"
#include "node/local_channel.h"

namespace py = pybind11;

namespace miniray {
namespace {

std::vector<ObjectID> IdsFromList(const std::vector<py::bytes>& ids) {
  std::vector<ObjectID> out;
  out.reserve(ids.size());
  for (const auto& b : ids) out.push_back(IdFromBytes<ObjectID>(b));
  return out;
}

py::list IdsToList(const std::vector<ObjectID>& ids) {
  py::list out(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) out[i] = py::bytes(ids[i].Binary());
  return out;
}

template <typename Repeated>
void SetIds(const std::vector<py::bytes>& ids, Repeated* out) {
  out->Clear();
  for (const auto& b : ids) out->Add(std::string(b));
}

// A value from the node as Python sees it: bytes, a zero-copy Buffer, or
// the rpc.ObjectError the object holds.
py::object ValueToPython(CoreWorker& cw, rpc::ObjectValue& v) {
  switch (v.value_case()) {
    case rpc::ObjectValue::kInlineData:
      return py::bytes(v.inline_data());
    case rpc::ObjectValue::kShared:
      return py::cast(std::shared_ptr<Buffer>(ValueOrThrow(cw.MapShared(v))));
    case rpc::ObjectValue::kError:
      return py::cast(ToPython(std::move(*v.mutable_error())));
    case rpc::ObjectValue::VALUE_NOT_SET:
      break;
  }
  rpc::ObjectError e;
  e.set_type(rpc::OBJECT_LOST);
  e.set_message("object " + ObjectID::FromBinary(v.object_id()).Hex() + " has no value");
  return py::cast(ToPython(std::move(e)));
}

// Waits for a Get/Wait answer in short slices with the GIL released, running
// Python's signal handlers in between (Ctrl-C, signal.alarm). On timeout or
// a raised signal the request is expired and the node's answer consumed.
rpc::NodeMessage AwaitReply(CoreWorker& cw, uint64_t request_id, double timeout_s) {
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::microseconds(static_cast<int64_t>(timeout_s * 1e6));
  bool forever = timeout_s < 0;
  // Fast path: the answer is often already here (local node, ready object).
  auto first = ValueOrThrow(cw.PollReply(request_id, 0));
  if (first) return std::move(*first);
  while (true) {
    int64_t slice_ms = 50;
    if (!forever) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - std::chrono::steady_clock::now())
                      .count();
      if (left <= 0) return ValueOrThrow(cw.ExpireAndTakeReply(request_id));
      slice_ms = std::min<int64_t>(slice_ms, left);
    }
    StatusOr<std::optional<rpc::NodeMessage>> reply = std::optional<rpc::NodeMessage>();
    {
      py::gil_scoped_release release;
      reply = cw.PollReply(request_id, slice_ms);
    }
    auto r = ValueOrThrow(std::move(reply));
    if (r) return std::move(*r);
    if (PyErr_CheckSignals() != 0) {
      py::error_already_set err;  // e.g. KeyboardInterrupt
      (void)cw.ExpireAndTakeReply(request_id);
      throw err;
    }
  }
}

template <typename T>
T Released(const std::function<T()>& call) {
  py::gil_scoped_release release;
  return call();
}

}  // namespace

void RegisterCoreWorker(py::module_& m) {
  m.def(
      "new_object_id", [] { return py::bytes(ObjectID::ForPut().Binary()); },
      "A fresh ObjectID for miniray.put (random, index 0).");
  m.def(
      "return_ids",
      [](py::bytes task_id, uint32_t num_returns) {
        TaskID task = IdFromBytes<TaskID>(task_id);
        std::vector<ObjectID> ids;
        for (uint32_t i = 0; i < num_returns; ++i) ids.push_back(ObjectID::ForTaskReturn(task, i + 1));
        return IdsToList(ids);
      },
      py::arg("task_id"), py::arg("num_returns"),
      "The ObjectIDs of a task's returns, derived from its task id.");
  m.def(
      "task_return_id",
      [](py::bytes task_id, uint32_t index) {
        return py::bytes(ObjectID::ForTaskReturn(IdFromBytes<TaskID>(task_id), index).Binary());
      },
      py::arg("task_id"), py::arg("index"),
      "The ObjectID of a task's index-th return (1-based); a generator's items "
      "follow its one return.");
  m.def(
      "actor_handle_id",
      [](py::bytes actor_id) {
        return py::bytes(ObjectID::ForActorHandle(IdFromBytes<ActorID>(actor_id)).Binary());
      },
      "The ObjectID of an actor's handle object: each handle is a reference to it.");
  m.def(
      "task_id_of",
      [](py::bytes object_id) { return py::bytes(IdFromBytes<ObjectID>(object_id).Task().Binary()); },
      "The TaskID that an ObjectID derives from.");

  py::class_<CoreWorker, std::shared_ptr<CoreWorker>>(m, "CoreWorker")
      .def_static(
          "connect_local",
          [](NodeRuntime* node) {
            return ValueOrThrow(CoreWorker::Connect(std::make_unique<LocalChannel>(node)));
          },
          py::arg("node"), py::keep_alive<0, 1>(), "The embedded driver's client of `node`.")
      .def_static(
          "connect",
          [](const std::string& address) {
            return ValueOrThrow(Released<StatusOr<std::shared_ptr<CoreWorker>>>([&] {
              return CoreWorker::Connect(
                  std::make_unique<SocketChannel>(address, rpc::TASK_WORKER));
            }));
          },
          py::arg("address"), "A worker process's client of the node at `address`.")
      .def_static(
          "connect_driver",
          [](const std::string& address, const PyMessage& job_config) {
            rpc::JobConfig job = MessageAs<rpc::JobConfig>(job_config);
            return ValueOrThrow(Released<StatusOr<std::shared_ptr<CoreWorker>>>([&] {
              return CoreWorker::Connect(
                  std::make_unique<SocketChannel>(address, rpc::DRIVER, std::move(job)));
            }));
          },
          py::arg("address"), py::arg("job_config"),
          "An attached driver's client of the node daemon at `address`: it starts a job "
          "(rpc.JobConfig: its workers' environment).")
      .def_static(
          "connect_observer",
          [](const std::string& address) {
            return ValueOrThrow(Released<StatusOr<std::shared_ptr<CoreWorker>>>([&] {
              return CoreWorker::Connect(std::make_unique<SocketChannel>(address, rpc::OBSERVER));
            }));
          },
          py::arg("address"),
          "A state client of the node at `address` (the CLI, the dashboard): it reads the "
          "node's state and can change nothing.")
      .def_property_readonly("worker_id", [](const CoreWorker& c) { return c.worker_id().Hex(); })
      .def_property_readonly("node_id", [](const CoreWorker& c) { return c.node_id().Hex(); })
      .def_property_readonly("job_id", [](const CoreWorker& c) { return c.job_id().Hex(); })
      .def_property_readonly("connected", &CoreWorker::connected)
      .def("shutdown", &CoreWorker::Shutdown, py::call_guard<py::gil_scoped_release>())
      .def(
          "submit_task",
          [](CoreWorker& cw, const PyMessage& spec, py::bytes args,
             const std::vector<py::bytes>& dependencies, const std::vector<py::bytes>& contained) {
            rpc::TaskSpec s = MessageAs<rpc::TaskSpec>(spec);
            s.set_args(std::string(args));
            SetIds(dependencies, s.mutable_dependencies());
            SetIds(contained, s.mutable_contained());
            return IdsToList(ValueOrThrow(cw.SubmitTask(std::move(s))));
          },
          py::arg("spec"), py::arg("args"), py::arg("dependencies"), py::arg("contained"),
          "Submits a task (or actor call) built from the `spec` template and this call's "
          "arguments; returns its return ObjectIDs (each referenced by this process).")
      .def(
          "create_actor",
          [](CoreWorker& cw, const PyMessage& spec, bool get_if_exists) {
            rpc::TaskSpec s = MessageAs<rpc::TaskSpec>(spec);
            return ToPython(ValueOrThrow(Released<StatusOr<rpc::ActorReply>>(
                [&] { return cw.CreateActor(std::move(s), get_if_exists); })));
          },
          py::arg("spec"), py::arg("get_if_exists") = false,
          "Creates an actor from its creation task; the ActorReply of the new (or, with "
          "get_if_exists, existing) actor. ValueError when the name is taken.")
      .def(
          "get_actor",
          [](CoreWorker& cw, const std::string& name, const std::string& ray_namespace) {
            return ToPython(ValueOrThrow(Released<StatusOr<rpc::ActorReply>>(
                [&] { return cw.GetActor(name, ray_namespace); })));
          },
          py::arg("name"), py::arg("namespace"), "The ActorReply of a named actor.")
      .def(
          "create_placement_group",
          [](CoreWorker& cw, const PyMessage& request) {
            ThrowIfError(cw.CreatePlacementGroup(
                MessageAs<rpc::CreatePlacementGroupRequest>(request)));
          },
          py::arg("request"), "Asks the node to reserve a placement group's bundles.")
      .def(
          "remove_placement_group",
          [](CoreWorker& cw, py::bytes placement_group_id) {
            ThrowIfError(cw.RemovePlacementGroup(std::string(placement_group_id)));
          },
          py::arg("placement_group_id"))
      .def(
          "placement_group_table",
          [](CoreWorker& cw) {
            return ToPython(ValueOrThrow(Released<StatusOr<rpc::PlacementGroupTableReply>>(
                [&] { return cw.PlacementGroupTable(); })));
          },
          "The node's PlacementGroupTableReply.")
      .def(
          "get_state",
          [](CoreWorker& cw, bool tasks, bool workers, bool objects, uint32_t limit,
             const std::string& kv_prefix) {
            rpc::GetStateRequest request;
            request.set_kv_prefix(kv_prefix);
            request.set_tasks(tasks);
            request.set_workers(workers);
            request.set_objects(objects);
            request.set_limit(limit);
            return ToPython(ValueOrThrow(Released<StatusOr<rpc::StateReply>>(
                [&] { return cw.GetState(request); })));
          },
          py::arg("tasks") = false, py::arg("workers") = false, py::arg("objects") = false,
          py::arg("limit") = 0, py::arg("kv_prefix") = "",
          "The node's StateReply: its snapshot (node, jobs, actors) and the rows asked for.")
      .def(
          "list_named_actors",
          [](CoreWorker& cw, const std::string& ray_namespace, bool all_namespaces) {
            return ToPython(ValueOrThrow(Released<StatusOr<rpc::NamedActorsReply>>(
                [&] { return cw.ListNamedActors(ray_namespace, all_namespaces); })));
          },
          py::arg("namespace"), py::arg("all_namespaces") = false,
          "A NamedActorsReply: the live named actors of a namespace, or of all.")
      .def(
          "cancel_task",
          [](CoreWorker& cw, py::bytes object_id, bool force, bool recursive) {
            ThrowIfError(cw.CancelTask(IdFromBytes<ObjectID>(object_id), force, recursive));
          },
          py::arg("object_id"), py::arg("force"), py::arg("recursive"))
      .def(
          "take_cancel_request",
          [](CoreWorker& cw, py::bytes task_id) {
            return cw.TakeCancelRequest(IdFromBytes<TaskID>(task_id));
          },
          py::arg("task_id"))
      .def("set_cancel_signal", &CoreWorker::SetCancelSignal, py::arg("signo"),
           "Signal this process's main thread once a cancel request is recorded.")
      .def(
          "cancel_requested",
          [](CoreWorker& cw, py::bytes task_id) {
            return cw.CancelRequested(IdFromBytes<TaskID>(task_id));
          },
          py::arg("task_id"), "Whether a cancel request for the task is recorded.")
      .def("enable_cancel_notices", &CoreWorker::EnableCancelNotices)
      .def(
          "next_cancel_notice",
          [](CoreWorker& cw, double timeout) -> py::object {
            auto task = Released<std::optional<TaskID>>(
                [&] { return cw.NextCancelNotice(static_cast<int64_t>(timeout * 1000)); });
            if (!task) return py::none();
            return py::bytes(task->Binary());
          },
          py::arg("timeout") = -1.0,
          "The task id of the next cancel request (after enable_cancel_notices); None "
          "on timeout or once the node is gone.")
      .def(
          "kill_actor",
          [](CoreWorker& cw, py::bytes actor_id, bool no_restart) {
            ThrowIfError(cw.KillActor(IdFromBytes<ActorID>(actor_id), no_restart));
          },
          py::arg("actor_id"), py::arg("no_restart"))
      .def(
          "put_inline",
          [](CoreWorker& cw, py::bytes object_id, py::bytes data,
             const std::vector<py::bytes>& contained) {
            ThrowIfError(
                cw.PutInline(IdFromBytes<ObjectID>(object_id), data, IdsFromList(contained)));
          },
          py::arg("object_id"), py::arg("data"), py::arg("contained"))
      .def(
          "create",
          [](CoreWorker& cw, py::bytes object_id, uint64_t size) {
            ObjectID id = IdFromBytes<ObjectID>(object_id);
            return std::shared_ptr<Buffer>(ValueOrThrow(
                Released<StatusOr<std::unique_ptr<Buffer>>>([&] { return cw.Create(id, size); })));
          },
          py::arg("object_id"), py::arg("size"))
      .def(
          "seal",
          [](CoreWorker& cw, py::bytes object_id, const std::vector<py::bytes>& contained) {
            ThrowIfError(cw.Seal(IdFromBytes<ObjectID>(object_id), IdsFromList(contained)));
          },
          py::arg("object_id"), py::arg("contained"))
      .def(
          "get",
          [](CoreWorker& cw, const std::vector<py::bytes>& ids, double timeout) {
            uint64_t rid = ValueOrThrow(cw.StartGet(IdsFromList(ids)));
            rpc::NodeMessage reply = AwaitReply(cw, rid, timeout);
            if (reply.get_reply().timed_out()) {
              ThrowIfError(Status::DeadlineExceeded("get timed out after " +
                                                    std::to_string(timeout) + " s"));
            }
            auto* values = reply.mutable_get_reply()->mutable_values();
            py::list out(values->size());
            for (int i = 0; i < values->size(); ++i) out[i] = ValueToPython(cw, (*values)[i]);
            return out;
          },
          py::arg("ids"), py::arg("timeout") = -1.0)
      .def(
          "wait",
          [](CoreWorker& cw, const std::vector<py::bytes>& ids, uint32_t num_returns,
             double timeout) {
            uint64_t rid = ValueOrThrow(cw.StartWait(IdsFromList(ids), num_returns));
            rpc::NodeMessage reply = AwaitReply(cw, rid, timeout);
            const auto& ready = reply.wait_reply().ready();
            return std::vector<bool>(ready.begin(), ready.end());
          },
          py::arg("ids"), py::arg("num_returns"), py::arg("timeout") = -1.0)
      .def("add_owned_ref",
           [](CoreWorker& cw, py::bytes id) { cw.AddOwnedRef(IdFromBytes<ObjectID>(id)); })
      .def("add_borrowed_ref",
           [](CoreWorker& cw, py::bytes id) { cw.AddBorrowedRef(IdFromBytes<ObjectID>(id)); })
      .def("expect_object",
           [](CoreWorker& cw, py::bytes id) { cw.ExpectObject(IdFromBytes<ObjectID>(id)); },
           "Holds a reference to an object that may not exist yet (a generator's item).")
      .def("remove_local_ref",
           [](CoreWorker& cw, py::bytes id) { cw.RemoveLocalRef(IdFromBytes<ObjectID>(id)); })
      .def_property_readonly("num_local_refs", &CoreWorker::num_local_refs)
      .def(
          "kv_put",
          [](CoreWorker& cw, const std::string& key, py::bytes value, bool overwrite) {
            ThrowIfError(cw.KvPut(key, value, overwrite));
          },
          py::arg("key"), py::arg("value"), py::arg("overwrite") = true)
      .def(
          "kv_get",
          [](CoreWorker& cw, const std::string& key) -> py::object {
            auto v = ValueOrThrow(Released<StatusOr<std::optional<std::string>>>(
                [&] { return cw.KvGet(key); }));
            if (!v) return py::none();
            return py::bytes(*v);
          },
          py::arg("key"))
      .def(
          "resources",
          [](CoreWorker& cw) {
            return ToPython(ValueOrThrow(
                Released<StatusOr<rpc::GetResourcesReply>>([&] { return cw.Resources(); })));
          },
          "The node's GetResourcesReply (total, available).")
      .def(
          "next_task",
          [](CoreWorker& cw, double timeout) -> py::object {
            auto t = Released<StatusOr<std::optional<rpc::ExecuteTaskRequest>>>(
                [&] { return cw.NextTask(static_cast<int64_t>(timeout * 1000)); });
            if (!t.ok()) return py::none();              // the node is gone
            if (!t->has_value()) return py::ellipsis();  // timed out
            return py::cast(ToPython(std::move(**t)));
          },
          py::arg("timeout") = -1.0,
          "The next ExecuteTaskRequest; Ellipsis on timeout; None once the node is gone. "
          "Take its argument values once with take_args.")
      .def(
          "take_args",
          [](CoreWorker& cw, PyMessage& task) {
            auto& t = const_cast<rpc::ExecuteTaskRequest&>(MessageAs<rpc::ExecuteTaskRequest>(task));
            py::list out(t.args_size());
            for (int i = 0; i < t.args_size(); ++i) out[i] = ValueToPython(cw, *t.mutable_args(i));
            t.clear_args();  // each shared value's pin is released by its Buffer
            return out;
          },
          py::arg("task"),
          "The task's dependency values (bytes, Buffer or ObjectError), taken once.")
      .def(
          "task_done",
          [](CoreWorker& cw, py::handle result) {
            if (py::isinstance<PyMessage>(result)) {
              return ThrowIfError(cw.TaskDone(MessageAs<rpc::TaskResult>(result.cast<PyMessage&>())));
            }
            rpc::TaskResult r;  // the fields by name, straight into the message
            MessageFromDict(result, &r);
            ThrowIfError(cw.TaskDone(std::move(r)));
          },
          py::arg("result"),
          "Reports a TaskResult: a message, or its fields as a dict. A return with no "
          "value set was written into shared memory after create().");
}

}  // namespace miniray
