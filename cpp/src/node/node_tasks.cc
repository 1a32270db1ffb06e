// NodeRuntime: tasks (submission, dispatch, completion, retries, failure,
// cancellation).
// (node_runtime.h documents the class; node_runtime.cc holds its life
// cycle, event loop and message dispatch.) Everything here runs with mu_ held.
#include <signal.h>

#include <algorithm>
#include <string>

#include "node/node_runtime.h"

namespace miniray {

std::vector<ObjectID> NodeRuntime::MissingDependenciesLocked(const TaskSpec& spec) const {
  std::vector<ObjectID> missing;
  for (const auto& dep : spec.dependencies) {
    auto it = objects_.find(dep);
    if (it != objects_.end() && !it->second.ready) missing.push_back(dep);
  }
  return missing;
}

// A task holds its arguments (and refs nested in them) until it ends.
void NodeRuntime::HoldSpecRefsLocked(const TaskSpec& spec) {
  for (const auto& dep : spec.dependencies) AddRefLocked(dep);
  for (const auto& id : spec.contained) AddRefLocked(id);
}

void NodeRuntime::OnSubmitTask(Connection* conn, TaskSpec spec) {
  if (!conn->running_task.IsNil() && tasks_.count(conn->running_task)) {
    submitted_by_[conn->running_task].push_back(spec.task_id);
  }
  HoldSpecRefsLocked(spec);
  std::vector<ObjectID> missing = MissingDependenciesLocked(spec);
  for (uint32_t i = 0; i < spec.num_returns; ++i) {
    ObjectID rid = spec.ReturnId(i);
    ObjectEntry& e = objects_[rid];
    e.refs += 1;  // the submitter's handle
    conn->refs[rid] += 1;
  }
  TaskID id = spec.task_id;
  if (spec.IsActorTask()) {
    // Method calls bypass the scheduler: they queue on their actor, in order.
    ActorID aid = spec.actor_id;
    tasks_[id] = TaskState{std::move(spec), WorkerID::Nil()};
    auto ait = actors_.find(aid);
    if (ait == actors_.end() || ait->second.state == ActorState::kDead) {
      std::string cause = ait == actors_.end() ? "The actor " + aid.Hex() + " does not exist."
                                               : ait->second.death_cause;
      FailTaskLocked(tasks_[id], ErrorType::kActorDied, cause);
      return;
    }
    ait->second.queue.push_back(id);
    FlushActorLocked(aid, ait->second);
    return;
  }
  tasks_[id] = TaskState{spec, WorkerID::Nil()};
  scheduler_.SubmitTask(std::move(spec), missing);
  ScheduleLocked();
}

void NodeRuntime::ScheduleLocked() {
  Decisions d = scheduler_.Schedule();
  for (const auto& w : d.warnings) Log("warning: " + w);
  if (d.workers_to_start > 0) SpawnWorkersLocked(d.workers_to_start);
  for (auto& dispatch : d.dispatches) {
    auto wit = workers_.find(dispatch.worker);
    auto tit = tasks_.find(dispatch.spec.task_id);
    if (wit == workers_.end() || tit == tasks_.end()) continue;
    tit->second.worker = dispatch.worker;
    if (!dispatch.spec.actor_creation) wit->second->running_task = dispatch.spec.task_id;
    Connection* worker = wit->second;
    if (dispatch.spec.actor_creation) {
      auto ait = actors_.find(dispatch.spec.actor_id);
      if (ait == actors_.end() || ait->second.state == ActorState::kDead) {
        scheduler_.TaskFinished(dispatch.worker);  // killed before placement
        tasks_.erase(tit);
        continue;
      }
      ait->second.worker = worker;
      actor_of_worker_[dispatch.worker] = dispatch.spec.actor_id;
    }
    ExecuteTask m;
    for (const auto& dep : dispatch.spec.dependencies) {
      m.args.push_back(ValueForClientLocked(worker, dep));
    }
    m.gpu_ids = std::move(dispatch.gpu_ids);
    m.spec = std::move(dispatch.spec);
    worker->Send(MessageType::kExecuteTask, EncodePayload(m));
  }
}

void NodeRuntime::OnTaskDone(Connection* conn, TaskDone m) {
  auto tit = tasks_.find(m.task_id);
  if (tit == tasks_.end()) return;
  TaskSpec& spec = tit->second.spec;
  if (m.cancelled) {  // an actor call the worker dropped before running it
    auto ait = actors_.find(spec.actor_id);
    if (ait != actors_.end()) {
      auto& inflight = ait->second.inflight;
      auto iit = std::find(inflight.begin(), inflight.end(), m.task_id);
      if (iit != inflight.end()) inflight.erase(iit);
    }
    return FailTaskLocked(tit->second, ErrorType::kTaskCancelled,
                          "Task '" + spec.name + "' was cancelled.");
  }
  if (spec.actor_creation) {
    ActorID aid = spec.actor_id;
    tasks_.erase(tit);  // its arguments stay referenced: restarts re-run it
    auto ait = actors_.find(aid);
    if (ait == actors_.end()) return;
    ActorState& actor = ait->second;
    if (m.application_error) {
      scheduler_.ActorCreated(conn->worker_id, ResourceSet());
      ActorDeadLocked(aid, actor,
                      "The actor died because of an error raised in its creation task: " +
                          m.error_message);
      StopActorWorkerLocked(actor);
    } else if (actor.state != ActorState::kDead) {
      scheduler_.ActorCreated(conn->worker_id,
                              ResourceSet::FromDemands(actor.creation.actor_resources));
      actor.state = ActorState::kAlive;
      FlushActorLocked(aid, actor);
    }
    ScheduleLocked();
    return;
  }
  if (spec.IsActorTask()) {
    ActorID aid = spec.actor_id;
    StoreReturnsLocked(conn, std::move(m.returns));
    FinishTaskLocked(m.task_id);
    auto ait = actors_.find(aid);
    if (ait == actors_.end()) return;
    ActorState& actor = ait->second;
    auto iit = std::find(actor.inflight.begin(), actor.inflight.end(), m.task_id);
    if (iit != actor.inflight.end()) actor.inflight.erase(iit);
    if (m.actor_exiting) actor.exiting = true;
    if (actor.handles_gone && actor.queue.empty() && actor.inflight.empty()) {
      ActorHandlesGoneLocked(aid);
    }
    return;
  }
  scheduler_.TaskFinished(conn->worker_id);
  if (m.application_error && spec.retry_exceptions && spec.max_retries != 0 &&
      !tit->second.cancelled) {
    for (const auto& v : m.returns) {
      if (v.kind == ObjectValue::kShared) {
        (void)store_->Abort(v.id);
        conn->creating.erase(v.id);
      }
    }
    if (spec.max_retries > 0) --spec.max_retries;
    ResubmitLocked(spec);
  } else {
    StoreReturnsLocked(conn, std::move(m.returns));
    FinishTaskLocked(m.task_id);
  }
  ScheduleLocked();
}

// A task's results: shared ones were written in place and are sealed now.
void NodeRuntime::StoreReturnsLocked(Connection* conn, std::vector<ObjectValue> returns) {
  for (auto& v : returns) {
    if (v.kind == ObjectValue::kShared) {
      (void)store_->Seal(v.id);
      conn->creating.erase(v.id);
    }
    StoreValueLocked(std::move(v));
  }
}

void NodeRuntime::ResubmitLocked(TaskSpec spec) {
  tasks_[spec.task_id].worker = WorkerID::Nil();
  std::vector<ObjectID> missing = MissingDependenciesLocked(spec);
  scheduler_.SubmitTask(std::move(spec), missing);
}

void NodeRuntime::FinishTaskLocked(const TaskID& task_id) {
  auto it = tasks_.find(task_id);
  if (it == tasks_.end()) return;
  TaskSpec spec = std::move(it->second.spec);
  tasks_.erase(it);
  submitted_by_.erase(task_id);
  ReleaseSpecRefsLocked(spec);
}

void NodeRuntime::FailTaskLocked(const TaskState& task, ErrorType error,
                                 const std::string& message) {
  TaskSpec spec = task.spec;
  for (uint32_t i = 0; i < spec.num_returns; ++i) {
    ObjectValue v;
    v.id = spec.ReturnId(i);
    v.kind = ObjectValue::kError;
    v.error = error;
    v.data = message;
    StoreValueLocked(std::move(v));
  }
  FinishTaskLocked(spec.task_id);
}

void NodeRuntime::ReleaseSpecRefsLocked(const TaskSpec& spec) {
  for (const auto& dep : spec.dependencies) RemoveRefLocked(dep);
  for (const auto& id : spec.contained) RemoveRefLocked(id);
}

void NodeRuntime::OnCancelTask(const CancelTask& m) {
  TaskID tid = m.object_id.Task();
  if (m.recursive) {  // children first: they must not outlive the parent's cancel
    auto cit = submitted_by_.find(tid);
    if (cit != submitted_by_.end()) {
      std::vector<TaskID> children = cit->second;
      for (const auto& child : children) {
        CancelTask c = m;
        c.object_id = ObjectID::ForTaskReturn(child, 1);
        OnCancelTask(c);
      }
    }
  }
  auto tit = tasks_.find(tid);
  if (tit == tasks_.end()) return;  // finished (or never existed): nothing to do
  TaskState& task = tit->second;
  const std::string why = "Task '" + task.spec.name + "' was cancelled.";
  if (task.spec.actor_creation) return;
  if (task.spec.IsActorTask()) {
    // Calls still queued on the actor are dropped; running ones finish.
    auto ait = actors_.find(task.spec.actor_id);
    if (ait == actors_.end()) return;
    auto& queue = ait->second.queue;
    auto qit = std::find(queue.begin(), queue.end(), tit->first);
    if (qit != queue.end()) {
      queue.erase(qit);
      return FailTaskLocked(task, ErrorType::kTaskCancelled, why);
    }
    // Sent already: the worker drops it if it has not started it.
    if (ait->second.worker) ait->second.worker->Send(MessageType::kCancelTask, EncodePayload(m));
    return;
  }
  if (scheduler_.CancelTask(tit->first)) {
    return FailTaskLocked(task, ErrorType::kTaskCancelled, why);
  }
  auto wit = workers_.find(task.worker);
  if (task.worker.IsNil() || wit == workers_.end()) return;
  task.cancelled = true;
  Connection* worker = wit->second;
  if (m.force) {
    if (worker->pid > 0) kill(worker->pid, SIGKILL);  // the disconnect fails it
    return;
  }
  // The worker records the request, then the signal interrupts the task
  // (a KeyboardInterrupt in its thread, as Ray does).
  worker->Send(MessageType::kCancelTask, EncodePayload(m));
  if (worker->pid > 0) kill(worker->pid, SIGUSR2);
}

}  // namespace miniray
