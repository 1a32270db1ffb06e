// NodeRuntime: what each client message does, and how the components'
// decisions are carried out. Everything here runs with mu_ held.
#include <signal.h>

#include <string>

#include "common/clock.h"
#include "common/socket.h"
#include "node/message_validator.h"
#include "node/node_runtime.h"

namespace miniray {
namespace {

void SetStatus(const Status& s, rpc::StatusProto* out) {
  out->set_code(static_cast<int32_t>(s.code()));
  out->set_message(s.message());
}

}  // namespace

void NodeRuntime::SendLocked(ClientId client, rpc::NodeMessage message) {
  auto it = clients_.find(client);
  if (it != clients_.end()) it->second->Send(std::move(message));
}

ClientConnection* NodeRuntime::WorkerClientLocked(const WorkerID& worker) {
  auto wit = worker_clients_.find(worker);
  if (wit == worker_clients_.end()) return nullptr;
  auto cit = clients_.find(wit->second);
  return cit == clients_.end() ? nullptr : cit->second.get();
}

void NodeRuntime::SignalWorkerLocked(const WorkerID& worker, int signal) {
  ClientConnection* conn = WorkerClientLocked(worker);
  if (conn) pool_.Signal(conn->pid, signal);
}

// ---------------------------------------------------------------------------
// Dispatch

Status NodeRuntime::HandleLocked(ClientConnection* conn, rpc::ClientMessage&& m) {
  MINIRAY_RETURN_IF_ERROR(
      ValidateClientMessage(m, ClientRole{conn->in_process(), conn->registered, conn->kind}));
  uint64_t request_id = m.request_id();
  switch (m.body_case()) {
    case rpc::ClientMessage::kRegisterClient:
      RegisterLocked(conn, m.register_client());
      break;
    case rpc::ClientMessage::kSubmitTask:
      return SubmitTaskLocked(conn, std::move(*m.mutable_submit_task()));
    case rpc::ClientMessage::kTaskDone:
      return TaskDoneLocked(conn, std::move(*m.mutable_task_done()));
    case rpc::ClientMessage::kPut: {
      ObjectID id = ObjectID::FromBinary(m.put().object_id());
      objects_->Put(conn->id, std::move(*m.mutable_put()), &events_);
      HoldGeneratorItemLocked(conn, id);
      break;
    }
    case rpc::ClientMessage::kCreate: {
      rpc::NodeMessage reply;
      reply.set_request_id(request_id);
      auto* r = reply.mutable_create_reply();
      auto offset = objects_->Create(conn->id, ObjectID::FromBinary(m.create().object_id()),
                                     m.create().size());
      SetStatus(offset.status(), r->mutable_status());
      if (offset.ok()) r->set_offset(*offset);
      conn->Send(std::move(reply));
      break;
    }
    case rpc::ClientMessage::kSeal: {
      ObjectID id = ObjectID::FromBinary(m.seal().object_id());
      MINIRAY_RETURN_IF_ERROR(objects_->Seal(conn->id, std::move(*m.mutable_seal()), &events_));
      HoldGeneratorItemLocked(conn, id);
      return Status::OK();
    }
    case rpc::ClientMessage::kGet:
      objects_->Get(conn->id, request_id, TaskSpecification::ToIds(m.get().object_ids()),
                    &events_);
      break;
    case rpc::ClientMessage::kWait:
      objects_->Wait(conn->id, request_id, TaskSpecification::ToIds(m.wait().object_ids()),
                     m.wait().num_returns(), &events_);
      break;
    case rpc::ClientMessage::kExpire:
      objects_->Expire(conn->id, m.expire().request_id(), &events_);
      break;
    case rpc::ClientMessage::kRefDelta:
      objects_->UpdateClientRefs(conn->id, m.ref_delta(), &events_);
      break;
    case rpc::ClientMessage::kRelease:
      objects_->Release(conn->id, m.release());
      break;
    case rpc::ClientMessage::kKvPut:
      kv_.Put(m.kv_put().key(), std::move(*m.mutable_kv_put()->mutable_value()),
              m.kv_put().overwrite());
      break;
    case rpc::ClientMessage::kKvGet: {
      rpc::NodeMessage reply;
      reply.set_request_id(request_id);
      auto* r = reply.mutable_kv_get_reply();
      if (const std::string* v = kv_.Get(m.kv_get().key())) {
        r->set_found(true);
        r->set_value(*v);
      }
      conn->Send(std::move(reply));
      break;
    }
    case rpc::ClientMessage::kGetResources: {
      rpc::NodeMessage reply;
      reply.set_request_id(request_id);
      auto* r = reply.mutable_resources_reply();
      for (const auto& [k, v] : scheduler_.total().ToMap()) (*r->mutable_total())[k] = v;
      for (const auto& [k, v] : scheduler_.available().ToMap()) (*r->mutable_available())[k] = v;
      r->set_num_queued(static_cast<uint32_t>(scheduler_.num_ready()));
      conn->Send(std::move(reply));
      break;
    }
    case rpc::ClientMessage::kCreateActor:
      CreateActorLocked(conn, request_id, std::move(*m.mutable_create_actor()));
      break;
    case rpc::ClientMessage::kExpectObjects:
      objects_->Expect(conn->id, m.expect_objects().object_ids());
      break;
    case rpc::ClientMessage::kCreatePlacementGroup:
      CreatePlacementGroupLocked(conn, m.create_placement_group());
      break;
    case rpc::ClientMessage::kRemovePlacementGroup:
      RemovePlacementGroupLocked(
          PlacementGroupID::FromBinary(m.remove_placement_group().placement_group_id()));
      break;
    case rpc::ClientMessage::kPlacementGroupTable:
      PlacementGroupTableLocked(conn, request_id);
      break;
    case rpc::ClientMessage::kListNamedActors: {
      rpc::NodeMessage reply;
      reply.set_request_id(request_id);
      auto* r = reply.mutable_named_actors_reply();
      const auto& q = m.list_named_actors();
      for (const auto& [ns, name] :
           actors_.NamedActors(q.all_namespaces() ? std::string() : q.ray_namespace())) {
        auto* a = r->add_actors();
        a->set_name(name);
        a->set_ray_namespace(ns);
      }
      conn->Send(std::move(reply));
      break;
    }
    case rpc::ClientMessage::kGetActor:
      GetActorLocked(conn, request_id, m.get_actor());
      break;
    case rpc::ClientMessage::kKillActor: {
      ActorID id = ActorID::FromBinary(m.kill_actor().actor_id());
      bool dead_now = false;
      if (actors_.Kill(id, m.kill_actor().no_restart(), &dead_now)) {
        StopActorWorkerLocked(id);  // its worker's death decides: restart or dead
      } else if (dead_now) {
        MarkActorDeadLocked(id, "The actor was killed by miniray.kill().");
      }
      break;
    }
    case rpc::ClientMessage::kCancelTask:
      CancelTaskLocked(m.cancel_task());
      break;
    case rpc::ClientMessage::kGetState:
      GetStateLocked(conn, request_id, m.get_state());
      break;
    case rpc::ClientMessage::BODY_NOT_SET:
      break;  // refused by the validator
  }
  return Status::OK();
}

// Carries out what the object table reported, and schedules, until there
// is nothing left to do (each step may produce more events).
void NodeRuntime::SettleLocked() {
  if (stopped_) return;
  while (true) {
    if (!events_.empty()) {
      ObjectEvents events = std::move(events_);
      events_ = ObjectEvents();
      ApplyLocked(events);
    } else if (schedule_needed_) {
      schedule_needed_ = false;
      ScheduleLocked();
    } else {
      return;
    }
  }
}

void NodeRuntime::ApplyLocked(ObjectEvents& events) {
  for (auto& [client, message] : events.replies) SendLocked(client, std::move(message));
  for (ClientId client : events.unblocked) {
    auto it = clients_.find(client);
    if (it != clients_.end() && it->second->kind == rpc::TASK_WORKER && it->second->registered) {
      scheduler_.WorkerUnblocked(it->second->worker_id);
    }
  }
  for (ClientId client : events.blocked) {
    // A worker waiting in get()/wait() lends its CPUs to other tasks.
    auto it = clients_.find(client);
    if (it != clients_.end() && it->second->kind == rpc::TASK_WORKER && it->second->registered) {
      scheduler_.WorkerBlocked(it->second->worker_id);
      schedule_needed_ = true;
    }
  }
  if (!events.ready.empty()) {
    for (const auto& id : events.ready) {
      if (scheduler_.ObjectReady(id)) schedule_needed_ = true;
    }
    for (const auto& actor : actors_.Waiting()) FlushActorLocked(actor);
  }
  for (const auto& actor : events.handles_gone) ActorHandlesGoneLocked(actor);
}

// ---------------------------------------------------------------------------
// Clients

void NodeRuntime::RegisterLocked(ClientConnection* conn, const rpc::RegisterClientRequest& m) {
  conn->registered = true;
  conn->kind = m.kind();
  conn->worker_id = WorkerID::FromBinary(m.worker_id());
  if (conn->kind == rpc::DRIVER) {
    Job job;
    job.worker_env.assign(m.job_config().worker_env().begin(),
                          m.job_config().worker_env().end());
    job.driver = conn->id;
    job.driver_pid = conn->pid;
    job.ray_namespace = m.job_config().ray_namespace();
    job.entrypoint = m.job_config().entrypoint();
    conn->job = StartJobLocked(std::move(job));
  } else if (conn->kind == rpc::OBSERVER) {
    // Reads the node's state only (the validator holds it to that).
  } else {
    // A worker runs the tasks of the job it was started for. (One the node
    // did not start, a test's, joins the in-process driver's job.)
    JobID job = pool_.JobOf(conn->pid);
    conn->job = job.IsNil() ? local_job_ : job;
    worker_clients_[conn->worker_id] = conn->id;
    (void)pool_.Registered(conn->pid, conn->worker_id);
  }
  rpc::NodeMessage reply;
  reply.mutable_register_reply()->set_node_id(node_id_.Binary());
  reply.mutable_register_reply()->set_arena_size(store_->arena()->size());
  reply.mutable_register_reply()->set_job_id(conn->job.Binary());
  conn->SendWithFd(reply, store_->arena()->fd());
  if (conn->kind == rpc::TASK_WORKER) {
    scheduler_.AddWorker(conn->worker_id, conn->job);
    schedule_needed_ = true;
  }
}

void NodeRuntime::DisconnectLocked(ClientConnection* conn, const std::string& cause) {
  auto found = clients_.find(conn->id);
  if (found == clients_.end()) return;  // disconnected already
  std::shared_ptr<ClientConnection> keep = found->second;  // alive until we return
  objects_->DropClient(conn->id, &events_);
  if (conn->registered && conn->kind == rpc::TASK_WORKER) {
    WorkerID wid = conn->worker_id;
    worker_clients_.erase(wid);
    std::optional<TaskID> task = scheduler_.RemoveWorker(wid);
    if (!actors_.ActorOf(wid).IsNil()) {
      ActorWorkerDiedLocked(wid, cause);
    } else if (task && !stopping_) {
      FailureDecision d = tasks_.OnWorkerDied(*task, cause);
      if (d.retry) {
        Log("worker running task " + tasks_.Find(*task)->spec.Name() + " died (" + cause +
            "); retrying");
        tasks_.Find(*task)->worker = WorkerID::Nil();
        SubmitToSchedulerLocked(*tasks_.Find(*task));
      } else if (d.error != rpc::ERROR_TYPE_UNSPECIFIED) {
        FailTaskLocked(*task, d.error, d.message);
      }
    }
  }
  if (conn->registered && conn->kind == rpc::DRIVER && !stopping_) EndJobLocked(conn->job);
  // Tasks it submitted that have not started have no one to wait for them.
  if (!stopping_) {
    for (const auto& id : tasks_.OwnedBy(conn->id)) {
      TaskEntry* task = tasks_.Find(id);
      if (!task || !task->worker.IsNil() || task->spec.IsActorCreationTask()) continue;
      bool queued = task->spec.IsActorTask() ? actors_.DropQueued(task->spec.ActorId(), id)
                                             : scheduler_.CancelTask(id);
      if (queued) {
        FailTaskLocked(id, rpc::TASK_CANCELLED,
                       "Task '" + task->spec.Name() + "' was cancelled: its submitter went away.");
      }
    }
  }
  clients_.erase(conn->id);
  schedule_needed_ = true;
}

void NodeRuntime::EndJobLocked(const JobID& job) {
  auto jit = jobs_.find(job);
  if (jit == jobs_.end() || !jit->second.alive) return;
  jit->second.alive = false;
  jit->second.end_time_ms = NowMillis();
  const std::string why = "its driver exited";
  // Non-detached actors die with their job's driver (as Ray); their
  // workers are stopped with the job's others below.
  for (const auto& actor : actors_.OfJob(job)) {
    ActorEntry* entry = actors_.Find(actor);
    if (!entry || entry->options().is_detached()) continue;
    MarkActorDeadLocked(actor, "The actor died because " + why + ".");
  }
  // Its tasks, queued or running, end.
  for (const auto& id : tasks_.OfJob(job)) {
    TaskEntry* task = tasks_.Find(id);
    if (!task || task->spec.IsActorCreationTask()) continue;
    if (task->spec.IsActorTask()) (void)actors_.DropQueued(task->spec.ActorId(), id);
    (void)scheduler_.CancelTask(id);
    FailTaskLocked(id, rpc::TASK_CANCELLED,
                   "Task '" + task->spec.Name() + "' was cancelled: " + why + ".");
  }
  // Its placement groups go, but detached ones.
  for (const auto& g : scheduler_.PlacementGroupTable()) {
    if (g.job == job && !g.detached && g.state != PlacementGroup::kRemoved) {
      RemovePlacementGroupLocked(PlacementGroupID::FromHex(g.id_hex));
    }
  }
  // Its workers go, but those of its detached actors.
  for (const auto& [id, client] : clients_) {
    if (client->kind != rpc::TASK_WORKER || client->job != job) continue;
    ActorEntry* actor = actors_.Find(actors_.ActorOf(client->worker_id));
    if (actor && actor->options().is_detached() && actor->state != ActorEntry::kDead) continue;
    pool_.Signal(client->pid, SIGKILL);
  }
}

void NodeRuntime::FailTasksWaitingForWorkersLocked(const JobID& job, const std::string& why) {
  for (const auto& id : scheduler_.DrainReady(job)) {
    TaskEntry* task = tasks_.Find(id);
    if (!task) continue;
    if (task->spec.IsActorCreationTask()) {
      ActorID actor = task->spec.ActorId();
      tasks_.Finish(id);
      MarkActorDeadLocked(actor, "The actor could not be created: " + why);
    } else {
      FailTaskLocked(id, rpc::RUNTIME_ENV_SETUP_FAILED, why);
    }
  }
}

// ---------------------------------------------------------------------------
// Tasks

ResourceSet NodeRuntime::DemandOf(const TaskSpecification& spec,
                                  const google::protobuf::Map<std::string, double>& amounts) {
  ResourceSet demand = ResourceSet::FromMap(amounts);
  const std::string& pg = spec.message().placement_group_id();
  if (pg.empty()) return demand;
  return PlacementGroups::Rewrite(demand, PlacementGroupID::FromBinary(pg).Hex(),
                                  spec.message().placement_group_bundle_index());
}

void NodeRuntime::SubmitToSchedulerLocked(const TaskEntry& task) {
  const TaskSpecification& spec = task.spec;
  std::vector<ObjectID> missing = objects_->Missing(spec.Dependencies());
  task_events_.Submitted(spec, task.parent, !missing.empty(), NowMicros());
  scheduler_.SubmitTask(spec.TaskId(), spec.Name(),
                        DemandOf(spec, spec.message().required_resources()),
                        std::move(missing),
                        JobID::FromBinary(spec.message().job_id()), spec.message().priority());
  schedule_needed_ = true;
}

Status NodeRuntime::SubmitTaskLocked(ClientConnection* conn, rpc::TaskSpec&& m) {
  TaskID id = TaskID::FromBinary(m.task_id());
  TaskID parent = conn->kind == rpc::TASK_WORKER ? conn->running_task : TaskID::Nil();
  if (tasks_.Contains(id) || objects_->RefCount(ObjectID::ForTaskReturn(id, 1)) > 0) {
    return Status::InvalidArgument("task id " + id.Hex() + " is already in use");
  }
  m.set_job_id(conn->job.Binary());  // the submitter's job, whatever it claims
  TaskEntry* entry = tasks_.Add(TaskSpecification(std::move(m)), parent, conn->id);
  const TaskSpecification& spec = entry->spec;
  objects_->AddReferences(spec.HeldReferences());
  for (uint32_t i = 0; i < spec.NumReturns(); ++i) {
    objects_->AddPendingObject(conn->id, spec.ReturnId(i));  // the submitter's handle
  }
  if (spec.IsActorTask()) {
    // Method calls bypass the scheduler: they queue on their actor, in order.
    task_events_.Submitted(spec, parent, false, NowMicros());
    ActorID actor = spec.ActorId();
    Status queued = actors_.Enqueue(actor, id, spec.message().priority());
    if (!queued.ok()) {
      FailTaskLocked(id, rpc::ACTOR_DIED, queued.message());
    } else {
      FlushActorLocked(actor);
    }
    return Status::OK();
  }
  SubmitToSchedulerLocked(*entry);
  return Status::OK();
}

void NodeRuntime::ScheduleLocked() {
  Decisions d = scheduler_.Schedule();
  for (const auto& w : d.warnings) Log("warning: " + w);
  for (const auto& [job, n] : d.workers_to_start) {
    launch_pending_[job] += n;
    uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));  // the event loop launches them
  }
  for (const auto& dispatch : d.dispatches) DispatchLocked(dispatch);
}

void NodeRuntime::DispatchLocked(const Dispatch& d) {
  TaskEntry* task = tasks_.Find(d.task_id);
  ClientConnection* worker = WorkerClientLocked(d.worker);
  if (!task || !worker) {  // ended meanwhile: the worker is free again
    scheduler_.TaskFinished(d.worker);
    schedule_needed_ = true;
    return;
  }
  task->worker = d.worker;
  if (task->spec.IsActorCreationTask()) {
    if (!actors_.Placed(task->spec.ActorId(), d.worker)) {  // died before placement
      scheduler_.TaskFinished(d.worker);
      FinishTaskLocked(d.task_id);
      schedule_needed_ = true;
      return;
    }
  } else {
    worker->running_task = d.task_id;
  }
  SendTaskLocked(worker, *task, d.gpu_ids);
}

// Sends a task with the values of its dependencies (shared ones pinned for
// the worker, which releases them when done).
void NodeRuntime::SendTaskLocked(ClientConnection* worker, const TaskEntry& task,
                                 std::vector<int64_t> gpu_ids) {
  MINIRAY_CHECK(!worker->in_process());  // workers are socket clients: Send serializes
  rpc::NodeMessage m;
  auto* execute = m.mutable_execute_task();
  // The spec stays in the task table (a retry needs it): lend it to the
  // message for serializing rather than copy it.
  execute->unsafe_arena_set_allocated_task_spec(const_cast<rpc::TaskSpec*>(&task.spec.message()));
  for (const auto& dep : task.spec.message().dependencies()) {
    *execute->add_args() = objects_->ValueFor(worker->id, ObjectID::FromBinary(dep));
  }
  for (int64_t g : gpu_ids) execute->add_gpu_ids(g);
  task_events_.Dispatched(task.spec.TaskId(), worker->worker_id, worker->pid,
                          task.spec.IsActorTask(), NowMicros());
  worker->Send(std::move(m));
  (void)m.mutable_execute_task()->unsafe_arena_release_task_spec();
}

Status NodeRuntime::TaskDoneLocked(ClientConnection* conn, rpc::TaskResult&& m) {
  TaskID id = TaskID::FromBinary(m.task_id());
  TaskEntry* task = tasks_.Find(id);
  if (!task) return Status::OK();  // ended meanwhile (cancelled, its actor died)
  const TaskSpecification& spec = task->spec;
  ActorID actor = spec.ActorId();
  // Only the worker running a task reports it, with its own return ids.
  ActorEntry* actor_entry = spec.IsActorTask() ? actors_.Find(actor) : nullptr;
  WorkerID runner = actor_entry ? actor_entry->worker : task->worker;
  if (runner != conn->worker_id) {
    return Status::InvalidArgument("a result for task " + id.Hex() + ", which it does not run");
  }
  if (!m.cancelled() && static_cast<uint32_t>(m.returns_size()) != spec.NumReturns()) {
    return Status::InvalidArgument("task " + id.Hex() + " has " +
                                   std::to_string(spec.NumReturns()) + " returns, not " +
                                   std::to_string(m.returns_size()));
  }
  for (int i = 0; i < m.returns_size(); ++i) {
    if (m.returns(i).object_id() != spec.ReturnId(static_cast<uint32_t>(i)).Binary()) {
      return Status::InvalidArgument("a return id that is not task " + id.Hex() + "'s");
    }
  }
  MINIRAY_RETURN_IF_ERROR(objects_->CheckReturns(conn->id, m.returns()));
  if (!m.cancelled()) {
    task_events_.Ran(id, m.start_time_us(), m.end_time_us(), m.application_error());
  }
  if (m.cancelled()) {  // a task or call the worker dropped before running it
    std::string why = "Task '" + spec.Name() + "' was cancelled.";
    if (!spec.IsActorTask()) {  // the worker is free again, and its resources
      scheduler_.TaskFinished(conn->worker_id);
      conn->running_task = TaskID::Nil();
      schedule_needed_ = true;
      FailTaskLocked(id, rpc::TASK_CANCELLED, why);
      return Status::OK();
    }
    bool stop = actors_.CallEnded(actor, id, false);
    FailTaskLocked(id, rpc::TASK_CANCELLED, why);
    if (stop) StopActorWorkerLocked(actor);
    return Status::OK();
  }
  if (spec.IsActorCreationTask()) {
    FinishTaskLocked(id);  // its arguments stay referenced: restarts re-run it
    ActorEntry* entry = actors_.Find(actor);
    if (!entry) return Status::OK();
    if (m.application_error()) {
      scheduler_.ActorCreated(conn->worker_id, ResourceSet());
      StopActorWorkerLocked(actor);
      MarkActorDeadLocked(actor,
                          "The actor died because of an error raised in its creation task: " +
                              m.creation_error());
    } else if (entry->state != ActorEntry::kDead) {
      scheduler_.ActorCreated(conn->worker_id,
                              DemandOf(entry->creation, entry->options().lifetime_resources()));
      actors_.Created(actor);
      FlushActorLocked(actor);
    }
    schedule_needed_ = true;
    return Status::OK();
  }
  if (spec.IsActorTask()) {
    objects_->StoreReturns(conn->id, m.mutable_returns(), &events_);
    FinishTaskLocked(id);
    if (actors_.CallEnded(actor, id, m.actor_exiting())) StopActorWorkerLocked(actor);
    return Status::OK();
  }
  scheduler_.TaskFinished(conn->worker_id);
  conn->running_task = TaskID::Nil();
  schedule_needed_ = true;
  if (m.application_error() && tasks_.ShouldRetryApplicationError(id, m.retry_allowed())) {
    objects_->AbortReturns(conn->id, m.returns());
    task->worker = WorkerID::Nil();
    SubmitToSchedulerLocked(*task);
    return Status::OK();
  }
  objects_->StoreReturns(conn->id, m.mutable_returns(), &events_);
  FinishTaskLocked(id);
  return Status::OK();
}

// The task ended: a plain task or call releases its arguments. (An actor's
// creation task keeps them for restarts; the actor's death releases them.)
void NodeRuntime::FinishTaskLocked(const TaskID& id) {
  std::optional<TaskSpecification> spec = tasks_.Finish(id);
  if (spec && !spec->IsActorCreationTask()) {
    objects_->RemoveReferences(spec->HeldReferences(), &events_);
  }
}

void NodeRuntime::FailTaskLocked(const TaskID& id, rpc::ErrorType type,
                                 const std::string& message) {
  TaskEntry* task = tasks_.Find(id);
  if (!task) return;
  task_events_.Failed(id, rpc::ErrorType_Name(type), message, NowMicros());
  for (auto& v : TaskManager::ErrorReturns(task->spec, type, message)) {
    objects_->StoreError(ObjectID::FromBinary(v.object_id()), type, message, &events_);
  }
  FinishTaskLocked(id);
}

void NodeRuntime::CancelTaskLocked(const rpc::CancelTaskRequest& m) {
  TaskID task = ObjectID::FromBinary(m.object_id()).Task();
  for (const auto& id : tasks_.CancelOrder(task, m.recursive())) CancelOneLocked(id, m.force());
}

void NodeRuntime::CancelOneLocked(const TaskID& id, bool force) {
  TaskEntry* task = tasks_.Find(id);
  if (!task || task->spec.IsActorCreationTask()) return;
  const std::string why = "Task '" + task->spec.Name() + "' was cancelled.";
  rpc::NodeMessage cancel;
  auto* request = cancel.mutable_cancel_task();
  request->set_object_id(task->spec.ReturnId(0).Binary());
  request->set_force(force);
  if (task->spec.IsActorTask()) {
    // Calls still queued on the actor are dropped; the worker drops one it
    // has not started; running ones finish.
    ActorID actor = task->spec.ActorId();
    if (actors_.DropQueued(actor, id)) return FailTaskLocked(id, rpc::TASK_CANCELLED, why);
    ActorEntry* entry = actors_.Find(actor);
    ClientConnection* worker = entry ? WorkerClientLocked(entry->worker) : nullptr;
    if (worker) worker->Send(std::move(cancel));
    return;
  }
  if (scheduler_.CancelTask(id)) return FailTaskLocked(id, rpc::TASK_CANCELLED, why);
  ClientConnection* worker = task->worker.IsNil() ? nullptr : WorkerClientLocked(task->worker);
  if (!worker) return;
  task->cancelled = true;
  if (force) {
    pool_.Signal(worker->pid, SIGKILL);  // the disconnect fails the task
    return;
  }
  // The worker records the request and then interrupts the task itself (a
  // KeyboardInterrupt in its main thread, as Ray does): see
  // CoreWorker::SetCancelSignal.
  worker->Send(std::move(cancel));
}

// ---------------------------------------------------------------------------
// Actors

void NodeRuntime::CreateActorLocked(ClientConnection* conn, uint64_t request_id,
                                    rpc::CreateActorRequest&& m) {
  m.mutable_task_spec()->set_job_id(conn->job.Binary());
  TaskSpecification spec(std::move(*m.mutable_task_spec()));
  rpc::NodeMessage reply;
  reply.set_request_id(request_id);
  auto* r = reply.mutable_actor_reply();
  bool created = false;
  StatusOr<ActorID> id = actors_.Register(spec, m.get_if_exists(), &created);
  SetStatus(id.status(), r->mutable_status());
  if (!id.ok()) return conn->Send(std::move(reply));
  objects_->AddActorHandleRef(conn->id, *id);  // the creator's handle
  r->set_actor_id(id->Binary());
  r->set_handle_metadata(actors_.Find(*id)->options().handle_metadata());
  conn->Send(std::move(reply));
  if (!created) return;
  // The creation task holds its arguments for the actor's whole life.
  objects_->AddReferences(spec.HeldReferences());
  TaskEntry* entry = tasks_.Add(spec, TaskID::Nil(), conn->id);
  if (entry) SubmitToSchedulerLocked(*entry);  // (null: a task id in use)
}

void NodeRuntime::GetStateLocked(ClientConnection* conn, uint64_t request_id,
                                 const rpc::GetStateRequest& m) {
  rpc::NodeMessage reply;
  reply.set_request_id(request_id);
  auto* r = reply.mutable_state_reply();
  *r->mutable_snapshot() = SnapshotLocked(/*take_kv=*/false);
  r->set_num_tasks_total(task_events_.size());
  r->set_num_tasks_evicted(task_events_.num_evicted());
  for (const auto& [state, n] : task_events_.state_counts()) {
    if (n > 0) (*r->mutable_task_state_counts())[rpc::TaskStatus_Name(state)] = n;
  }
  if (!m.kv_prefix().empty()) {
    for (auto& [key, value] : kv_.Scan(m.kv_prefix())) {
      auto* entry = r->add_kv();
      entry->set_key(key);
      entry->set_value(std::move(value));
    }
  }
  if (m.tasks()) {
    for (auto& row : task_events_.Rows(m.limit())) {
      row.set_node_id(node_id_.Binary());
      // Waiting for arguments that have arrived meanwhile: waiting to be placed.
      if (row.state() == rpc::PENDING_ARGS_AVAIL) {
        TaskEntry* task = tasks_.Find(TaskID::FromBinary(row.task_id()));
        if (task && objects_->Missing(task->spec.Dependencies()).empty()) {
          row.set_state(task->spec.IsActorTask() ? rpc::SUBMITTED_TO_WORKER
                                                 : rpc::PENDING_NODE_ASSIGNMENT);
        }
      }
      *r->add_tasks() = std::move(row);
    }
  }
  if (m.workers()) {
    for (const auto& [id, client] : clients_) {
      if (m.limit() && static_cast<uint32_t>(r->workers_size()) >= m.limit()) break;
      bool local_driver = client->in_process();
      if (!local_driver && (!client->registered || client->kind == rpc::OBSERVER)) continue;
      auto* w = r->add_workers();
      w->set_worker_id(client->worker_id.Binary());
      w->set_pid(local_driver ? getpid() : client->pid);
      w->set_job_id(client->job.Binary());
      w->set_worker_type(client->kind == rpc::TASK_WORKER ? "WORKER" : "DRIVER");
      w->set_node_id(node_id_.Binary());
      if (client->kind != rpc::TASK_WORKER) continue;
      ActorID actor = actors_.ActorOf(client->worker_id);
      if (!actor.IsNil()) w->set_actor_id(actor.Binary());
      if (!client->running_task.IsNil()) w->set_current_task_id(client->running_task.Binary());
    }
  }
  if (m.objects()) {
    auto pid_of = [this](ClientId c) -> int32_t {
      auto it = clients_.find(c);
      if (it == clients_.end()) return 0;
      return it->second->in_process() ? getpid() : it->second->pid;
    };
    for (auto& row : objects_->States(m.limit(), pid_of)) {
      row.set_node_id(node_id_.Binary());
      *r->add_objects() = std::move(row);
    }
  }
  conn->Send(std::move(reply));
}

void NodeRuntime::GetActorLocked(ClientConnection* conn, uint64_t request_id,
                                 const rpc::GetActorRequest& m) {
  rpc::NodeMessage reply;
  reply.set_request_id(request_id);
  auto* r = reply.mutable_actor_reply();
  StatusOr<ActorID> id = actors_.Lookup(m.name(), m.ray_namespace());
  SetStatus(id.status(), r->mutable_status());
  if (id.ok()) {
    objects_->AddActorHandleRef(conn->id, *id);
    r->set_actor_id(id->Binary());
    r->set_handle_metadata(actors_.Find(*id)->options().handle_metadata());
  }
  conn->Send(std::move(reply));
}

void NodeRuntime::FlushActorLocked(const ActorID& id) {
  auto ready = [this](const TaskID& call) {
    TaskEntry* task = tasks_.Find(call);
    if (!task) return true;
    for (const auto& dep : task->spec.message().dependencies()) {
      if (objects_->IsPending(ObjectID::FromBinary(dep))) return false;
    }
    return true;
  };
  std::vector<TaskID> calls = actors_.TakeSendable(id, ready);
  if (calls.empty()) return;
  ClientConnection* worker = WorkerClientLocked(actors_.Find(id)->worker);
  for (const auto& call : calls) {
    TaskEntry* task = tasks_.Find(call);
    if (task && worker) SendTaskLocked(worker, *task, {});
  }
}

void NodeRuntime::ActorWorkerDiedLocked(const WorkerID& worker, const std::string& cause) {
  std::optional<ActorRestart> r = actors_.WorkerDied(worker, cause);
  if (!r || stopping_) return;
  if (!r->restart) return MarkActorDeadLocked(r->actor, r->why);
  Log("restarting actor " + r->actor.Hex().substr(0, 8) + ": " + r->why);
  // Calls that were running are retried (max_task_retries) or fail.
  std::vector<TaskID> retried;
  for (const auto& call : r->interrupted) {
    if (tasks_.ConsumeRetry(call)) {
      retried.push_back(call);
    } else {
      FailTaskLocked(call, rpc::ACTOR_DIED, r->why + " The call was running.");
    }
  }
  actors_.Requeue(r->actor, retried);
  const TaskSpecification& creation = actors_.Find(r->actor)->creation;
  if (!tasks_.Contains(creation.TaskId())) tasks_.Add(creation, TaskID::Nil(), 0);
  TaskEntry* restart = tasks_.Find(creation.TaskId());
  restart->worker = WorkerID::Nil();
  SubmitToSchedulerLocked(*restart);
}

void NodeRuntime::MarkActorDeadLocked(const ActorID& id, const std::string& cause) {
  ActorDeath death = actors_.MarkDead(id, cause);
  if (death.cause.empty()) return;  // dead already
  for (const auto& call : death.doomed) FailTaskLocked(call, rpc::ACTOR_DIED, cause);
  // A creation task that is queued, or whose worker is gone, ends here.
  TaskID creation = death.creation.TaskId();
  if (TaskEntry* task = tasks_.Find(creation)) {
    if (scheduler_.CancelTask(creation) || !WorkerClientLocked(task->worker)) {
      tasks_.Finish(creation);
    }
  }
  objects_->RemoveReferences(death.creation.HeldReferences(), &events_);
}

void NodeRuntime::StopActorWorkerLocked(const ActorID& id) {
  ActorEntry* actor = actors_.Find(id);
  if (actor && !actor->worker.IsNil()) SignalWorkerLocked(actor->worker, SIGKILL);
}

void NodeRuntime::ActorHandlesGoneLocked(const ActorID& id) {
  switch (actors_.HandlesGone(id)) {
    case ActorManager::HandlesGoneAction::kStopWorker:
      return StopActorWorkerLocked(id);
    case ActorManager::HandlesGoneAction::kDead:
      return MarkActorDeadLocked(
          id, "The actor was terminated because all its handles went out of scope.");
    case ActorManager::HandlesGoneAction::kNothing:
      return;
  }
}

// ---------------------------------------------------------------------------
// Placement groups (the bookkeeping is the Scheduler's: placement_groups.h)

void NodeRuntime::CreatePlacementGroupLocked(ClientConnection* conn,
                                             const rpc::CreatePlacementGroupRequest& m) {
  PlacementGroup g;
  g.id_hex = PlacementGroupID::FromBinary(m.placement_group_id()).Hex();
  g.name = m.name();
  g.strategy = static_cast<PlacementStrategy>(m.strategy());
  for (const auto& b : m.bundles()) g.bundles.push_back(ResourceSet::FromMap(b.resources()));
  g.bundle_indices.assign(m.bundle_indices().begin(), m.bundle_indices().end());
  g.job = conn->job;
  g.detached = m.detached();
  (void)scheduler_.AddPlacementGroup(std::move(g));  // an id in use: nothing happens
  schedule_needed_ = true;
}

void NodeRuntime::RemovePlacementGroupLocked(const PlacementGroupID& id) {
  std::vector<WorkerID> holders;
  if (!scheduler_.RemovePlacementGroup(id.Hex(), &holders)) return;
  // What runs in the group stops, as Ray stops it: its workers are killed
  // (their tasks fail or retry, their actors die or restart).
  for (const auto& worker : holders) {
    if (ClientConnection* c = WorkerClientLocked(worker)) pool_.Signal(c->pid, SIGKILL);
  }
  schedule_needed_ = true;
}

void NodeRuntime::PlacementGroupTableLocked(ClientConnection* conn, uint64_t request_id) {
  rpc::NodeMessage reply;
  reply.set_request_id(request_id);
  auto* r = reply.mutable_placement_group_table_reply();
  for (const auto& g : scheduler_.PlacementGroupTable()) {
    auto* info = r->add_groups();
    info->set_placement_group_id(PlacementGroupID::FromHex(g.id_hex).Binary());
    info->set_name(g.name);
    info->set_strategy(static_cast<rpc::PlacementStrategy>(g.strategy));
    for (const auto& b : g.bundles) {
      auto* bundle = info->add_bundles();
      for (const auto& [k, v] : b.ToMap()) (*bundle->mutable_resources())[k] = v;
    }
    info->set_state(static_cast<rpc::PlacementGroupInfo::State>(g.state));
    for (int index : g.bundle_indices) info->add_bundle_indices(index);
  }
  conn->Send(std::move(reply));
}

// ---------------------------------------------------------------------------
// Generator tasks (python/miniray/_private/generator.py)

// An item a generator task yielded (index 2.. of its task id), put by the
// worker running it: its completion (index 1) holds it from now on, so it
// outlives that worker even if it dies before the task finishes.
void NodeRuntime::HoldGeneratorItemLocked(ClientConnection* conn, const ObjectID& item) {
  uint32_t index = item.Index();
  if (index < 2 || item.IsActorHandle()) return;
  TaskEntry* task = tasks_.Find(item.Task());
  if (!task || task->spec.message().generator() == 0) return;
  ActorEntry* actor = task->spec.IsActorTask() ? actors_.Find(task->spec.ActorId()) : nullptr;
  WorkerID runner = actor ? actor->worker : task->worker;
  if (runner != conn->worker_id) return;
  objects_->HoldFor(task->spec.ReturnId(0), item);
}

}  // namespace miniray
