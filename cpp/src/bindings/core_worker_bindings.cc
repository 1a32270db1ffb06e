// _miniray_core.CoreWorker: the per-process client, as the Python layer
// (miniray/_private/worker.py) uses it. IDs travel as bytes; object values
// as bytes (inline), Buffer (shared memory, zero copy) or (error_type, msg).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>

#include "bindings/bindings.h"
#include "core_worker/core_worker.h"

namespace py = pybind11;

namespace miniray {
namespace {

std::vector<ObjectID> IdsFromList(const std::vector<py::bytes>& ids) {
  std::vector<ObjectID> out;
  out.reserve(ids.size());
  for (const auto& b : ids) out.push_back(IdFromBytes<ObjectID>(b));
  return out;
}

TaskSpec MakeSpec(py::bytes task_id, std::string name, py::bytes function_id, py::bytes args,
                  const std::vector<py::bytes>& dependencies,
                  const std::vector<py::bytes>& contained, uint32_t num_returns,
                  const std::map<std::string, double>& resources, int32_t max_retries,
                  bool retry_exceptions, std::string runtime_env) {
  TaskSpec s;
  s.task_id = IdFromBytes<TaskID>(task_id);
  s.name = std::move(name);
  s.function_id = function_id;
  s.args = args;
  s.dependencies = IdsFromList(dependencies);
  s.contained = IdsFromList(contained);
  s.num_returns = num_returns;
  for (const auto& [k, v] : resources) s.resources.push_back({k, v});
  s.max_retries = max_retries;
  s.retry_exceptions = retry_exceptions;
  s.runtime_env = std::move(runtime_env);
  return s;
}

py::object ValueToPython(CoreWorker& cw, const ObjectValue& v) {
  switch (v.kind) {
    case ObjectValue::kInline:
      return py::bytes(v.data);
    case ObjectValue::kShared:
      return py::cast(std::shared_ptr<Buffer>(cw.MapShared(v)));
    case ObjectValue::kError:
    default:
      return py::make_tuple(static_cast<int>(v.error), py::str(v.data));
  }
}

// Waits for a Get/Wait answer in short slices with the GIL released, running
// Python's signal handlers in between (Ctrl-C, signal.alarm). On timeout or
// a raised signal the request is cancelled and the node's answer consumed.
std::string AwaitReply(CoreWorker& cw, uint64_t request_id, double timeout_s,
                       bool* timed_out) {
  *timed_out = false;
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
      if (left <= 0) {
        *timed_out = true;
        return ValueOrThrow(cw.CancelAndTakeReply(request_id));
      }
      slice_ms = std::min<int64_t>(slice_ms, left);
    }
    StatusOr<std::optional<std::string>> reply = std::optional<std::string>();
    {
      py::gil_scoped_release release;
      reply = cw.PollReply(request_id, slice_ms);
    }
    auto r = ValueOrThrow(std::move(reply));
    if (r) return std::move(*r);
    if (PyErr_CheckSignals() != 0) {
      py::error_already_set err;  // e.g. KeyboardInterrupt
      (void)cw.CancelAndTakeReply(request_id);
      throw err;
    }
  }
}

}  // namespace

void RegisterCoreWorker(py::module_& m) {
  py::class_<CoreWorker, std::shared_ptr<CoreWorker>>(m, "CoreWorker")
      .def_static("connect_local", &CoreWorker::ConnectLocal, py::keep_alive<0, 1>())
      .def_static("connect", [](const std::string& address) {
        return ValueOrThrow(CoreWorker::Connect(address));
      })
      .def_property_readonly("worker_id", [](const CoreWorker& c) { return c.worker_id().Hex(); })
      .def_property_readonly("node_id", [](const CoreWorker& c) { return c.node_id().Hex(); })
      .def_property_readonly("connected", &CoreWorker::connected)
      .def("shutdown", &CoreWorker::Shutdown, py::call_guard<py::gil_scoped_release>())
      .def(
          "submit_task",
          [](CoreWorker& cw, py::bytes task_id, std::string name, py::bytes function_id,
             py::bytes args, const std::vector<py::bytes>& dependencies,
             const std::vector<py::bytes>& contained, uint32_t num_returns,
             const std::map<std::string, double>& resources, int32_t max_retries,
             bool retry_exceptions, std::string runtime_env, py::bytes actor_id) {
            TaskSpec s = MakeSpec(task_id, std::move(name), function_id, args, dependencies,
                                  contained, num_returns, resources, max_retries,
                                  retry_exceptions, std::move(runtime_env));
            std::string actor = actor_id;
            if (!actor.empty()) s.actor_id = IdFromBytes<ActorID>(actor_id);
            std::vector<py::bytes> returns;
            for (uint32_t i = 0; i < num_returns; ++i) {
              ObjectID rid = s.ReturnId(i);
              cw.AddOwnedRef(rid);
              returns.push_back(py::bytes(rid.Binary()));
            }
            ThrowIfError(cw.SubmitTask(s));
            return returns;
          },
          "Submits a task (or, with actor_id, an actor method call); returns "
          "its return ObjectIDs (each already referenced).")
      .def(
          "create_actor",
          [](CoreWorker& cw, py::bytes actor_id, py::bytes task_id, std::string name,
             py::bytes function_id, py::bytes args, const std::vector<py::bytes>& dependencies,
             const std::vector<py::bytes>& contained,
             const std::map<std::string, double>& resources,
             const std::map<std::string, double>& actor_resources, int32_t max_restarts,
             std::string runtime_env, std::string actor_name, std::string ray_namespace,
             bool get_if_exists, bool detached, py::bytes metadata) {
            CreateActorRequest req;
            req.spec = MakeSpec(task_id, std::move(name), function_id, args, dependencies,
                                contained, 0, resources, 0, false, std::move(runtime_env));
            req.spec.actor_id = IdFromBytes<ActorID>(actor_id);
            req.spec.actor_creation = true;
            for (const auto& [k, v] : actor_resources) req.spec.actor_resources.push_back({k, v});
            req.spec.max_restarts = max_restarts;
            req.name = std::move(actor_name);
            req.ray_namespace = std::move(ray_namespace);
            req.get_if_exists = get_if_exists;
            req.detached = detached;
            req.metadata = metadata;
            StatusOr<ActorReply> reply = Status::OK();
            {
              py::gil_scoped_release release;
              reply = cw.CreateActor(std::move(req));
            }
            if (reply.status().code() == StatusCode::kAlreadyExists) {
              throw py::value_error(reply.status().message());
            }
            ActorReply r = ValueOrThrow(std::move(reply));
            return py::make_tuple(py::bytes(r.actor_id.Binary()), py::bytes(r.metadata));
          },
          "Creates an actor; (actor_id, metadata) of the new or existing actor.")
      .def("get_actor",
           [](CoreWorker& cw, const std::string& name, const std::string& ray_namespace) {
             StatusOr<ActorReply> reply = Status::OK();
             {
               py::gil_scoped_release release;
               reply = cw.GetActor(name, ray_namespace);
             }
             if (reply.status().code() == StatusCode::kNotFound) {
               throw py::value_error(reply.status().message());
             }
             ActorReply r = ValueOrThrow(std::move(reply));
             return py::make_tuple(py::bytes(r.actor_id.Binary()), py::bytes(r.metadata));
           })
      .def("cancel_task",
           [](CoreWorker& cw, py::bytes object_id, bool force, bool recursive) {
             ThrowIfError(cw.CancelTask(IdFromBytes<ObjectID>(object_id), force, recursive));
           })
      .def("take_cancel_request",
           [](CoreWorker& cw, py::bytes task_id) {
             return cw.TakeCancelRequest(IdFromBytes<TaskID>(task_id));
           })
      .def("kill_actor",
           [](CoreWorker& cw, py::bytes actor_id, bool no_restart) {
             ThrowIfError(cw.KillActor(IdFromBytes<ActorID>(actor_id), no_restart));
           })
      .def("put_inline",
           [](CoreWorker& cw, py::bytes id, py::bytes data, const std::vector<py::bytes>& contained) {
             ObjectID oid = IdFromBytes<ObjectID>(id);
             cw.AddOwnedRef(oid);
             ThrowIfError(cw.PutInline(oid, data, IdsFromList(contained)));
           })
      .def("create",
           [](CoreWorker& cw, py::bytes id, uint64_t size) {
             ObjectID oid = IdFromBytes<ObjectID>(id);
             StatusOr<std::unique_ptr<Buffer>> buf = Status::OK();
             {
               py::gil_scoped_release release;
               buf = cw.Create(oid, size);
             }
             return std::shared_ptr<Buffer>(ValueOrThrow(std::move(buf)));
           })
      .def("seal",
           [](CoreWorker& cw, py::bytes id, const std::vector<py::bytes>& contained) {
             ObjectID oid = IdFromBytes<ObjectID>(id);
             cw.AddOwnedRef(oid);
             ThrowIfError(cw.Seal(oid, IdsFromList(contained)));
           })
      .def(
          "get",
          [](CoreWorker& cw, const std::vector<py::bytes>& ids, double timeout) {
            uint64_t rid = ValueOrThrow(cw.StartGet(IdsFromList(ids)));
            bool timed_out = false;
            std::string payload = AwaitReply(cw, rid, timeout, &timed_out);
            GetReply reply;
            if (!DecodePayload(payload, &reply)) ThrowIfError(Status::Internal("bad get reply"));
            if (reply.code != 0) {
              ThrowIfError(Status(static_cast<StatusCode>(reply.code),
                                  "get timed out after " + std::to_string(timeout) + " s"));
            }
            py::list out;
            for (const auto& v : reply.values) out.append(ValueToPython(cw, v));
            return out;
          },
          py::arg("ids"), py::arg("timeout") = -1.0)
      .def(
          "wait",
          [](CoreWorker& cw, const std::vector<py::bytes>& ids, uint32_t num_returns,
             double timeout) {
            uint64_t rid = ValueOrThrow(cw.StartWait(IdsFromList(ids), num_returns));
            bool timed_out = false;
            std::string payload = AwaitReply(cw, rid, timeout, &timed_out);
            WaitReply reply;
            if (!DecodePayload(payload, &reply)) ThrowIfError(Status::Internal("bad wait reply"));
            std::vector<bool> ready(reply.ready.begin(), reply.ready.end());
            return ready;
          },
          py::arg("ids"), py::arg("num_returns"), py::arg("timeout") = -1.0)
      .def("add_owned_ref", [](CoreWorker& cw, py::bytes id) { cw.AddOwnedRef(IdFromBytes<ObjectID>(id)); })
      .def("add_borrowed_ref", [](CoreWorker& cw, py::bytes id) { cw.AddBorrowedRef(IdFromBytes<ObjectID>(id)); })
      .def("remove_local_ref", [](CoreWorker& cw, py::bytes id) { cw.RemoveLocalRef(IdFromBytes<ObjectID>(id)); })
      .def_property_readonly("num_local_refs", &CoreWorker::num_local_refs)
      .def("kv_put",
           [](CoreWorker& cw, const std::string& key, py::bytes value, bool overwrite) {
             ThrowIfError(cw.KvPut(key, value, overwrite));
           },
           py::arg("key"), py::arg("value"), py::arg("overwrite") = true)
      .def("kv_get",
           [](CoreWorker& cw, const std::string& key) -> py::object {
             StatusOr<std::optional<std::string>> r = std::optional<std::string>();
             {
               py::gil_scoped_release release;
               r = cw.KvGet(key);
             }
             auto v = ValueOrThrow(std::move(r));
             if (!v) return py::none();
             return py::bytes(*v);
           })
      .def("resources",
           [](CoreWorker& cw) {
             StatusOr<ResourcesReply> r = Status::OK();
             {
               py::gil_scoped_release release;
               r = cw.Resources();
             }
             ResourcesReply reply = ValueOrThrow(std::move(r));
             py::dict total, available;
             for (const auto& d : reply.total) total[py::str(d.name)] = d.amount;
             for (const auto& d : reply.available) available[py::str(d.name)] = d.amount;
             return py::make_tuple(total, available);
           })
      .def(
          "next_task",
          [](CoreWorker& cw, double timeout) -> py::object {
            StatusOr<std::optional<ExecuteTask>> t = std::optional<ExecuteTask>();
            {
              py::gil_scoped_release release;
              t = cw.NextTask(static_cast<int64_t>(timeout * 1000));
            }
            if (!t.ok()) return py::none();  // the node is gone
            if (!t->has_value()) return py::ellipsis();  // timed out
            ExecuteTask& task = **t;
            py::list args;
            for (const auto& v : task.args) args.append(ValueToPython(cw, v));
            py::list returns;
            for (uint32_t i = 0; i < task.spec.num_returns; ++i) {
              returns.append(py::bytes(task.spec.ReturnId(i).Binary()));
            }
            py::bytes actor_id = task.spec.actor_id.IsNil()
                                     ? py::bytes()
                                     : py::bytes(task.spec.actor_id.Binary());
            return py::make_tuple(py::bytes(task.spec.task_id.Binary()), task.spec.name,
                                  py::bytes(task.spec.function_id), py::bytes(task.spec.args),
                                  args, returns, task.gpu_ids, task.spec.runtime_env,
                                  actor_id, task.spec.actor_creation);
          },
          py::arg("timeout") = -1.0,
          "(task_id, name, function_id, args, arg_values, return_ids, gpu_ids, "
          "runtime_env, actor_id, actor_creation); Ellipsis on timeout; None once "
          "the node is gone.")
      .def(
          "task_done",
          [](CoreWorker& cw, py::bytes task_id, bool application_error, py::list returns,
             std::string error_message, bool actor_exiting) {
            TaskDone done;
            done.task_id = IdFromBytes<TaskID>(task_id);
            done.application_error = application_error;
            done.error_message = std::move(error_message);
            done.actor_exiting = actor_exiting;
            // Each return: (id, data: bytes | None for a Create()d object, contained).
            for (py::handle h : returns) {
              py::tuple t = py::reinterpret_borrow<py::tuple>(h);
              ObjectValue v;
              v.id = IdFromBytes<ObjectID>(t[0].cast<py::bytes>());
              if (t[1].is_none()) {
                v.kind = ObjectValue::kShared;
              } else {
                v.kind = ObjectValue::kInline;
                v.data = t[1].cast<std::string>();
              }
              v.contained = IdsFromList(t[2].cast<std::vector<py::bytes>>());
              done.returns.push_back(std::move(v));
            }
            ThrowIfError(cw.TaskDone(std::move(done)));
          },
          py::arg("task_id"), py::arg("application_error"), py::arg("returns"),
          py::arg("error_message") = "", py::arg("actor_exiting") = false);
}

}  // namespace miniray
