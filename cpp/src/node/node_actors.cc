// NodeRuntime: actors (creation, names, ordered calls, restarts, death,
// handle lifetime).
// (node_runtime.h documents the class; node_runtime.cc holds its life
// cycle, event loop and message dispatch.) Everything here runs with mu_ held.
#include <signal.h>

#include <algorithm>
#include <string>

#include "node/node_runtime.h"

namespace miniray {

void NodeRuntime::HandleRefForClientLocked(Connection* conn, const ActorID& actor) {
  // The client gets one reference to the actor's handle object.
  ObjectID hid = ObjectID::ForActorHandle(actor);
  ObjectEntry& e = objects_[hid];
  if (!e.ready) {
    e.ready = true;
    e.value.id = hid;
  }
  e.refs += 1;
  conn->refs[hid] += 1;
}

void NodeRuntime::OnCreateActor(Connection* conn, CreateActorRequest m) {
  ActorReply reply;
  reply.request_id = m.request_id;
  auto key = std::make_pair(m.ray_namespace, m.name);
  if (!m.name.empty()) {
    auto nit = actor_names_.find(key);
    if (nit != actor_names_.end()) {
      const ActorState& existing = actors_[nit->second];
      if (m.get_if_exists) {
        reply.actor_id = nit->second;
        reply.metadata = existing.metadata;
        HandleRefForClientLocked(conn, nit->second);
      } else {
        reply.code = static_cast<int32_t>(StatusCode::kAlreadyExists);
        reply.message = "Actor with name '" + m.name + "' already exists in the namespace " +
                        m.ray_namespace;
      }
      return conn->Send(MessageType::kActorReply, EncodePayload(reply));
    }
  }
  TaskSpec spec = std::move(m.spec);
  ActorID aid = spec.actor_id;
  ActorState& actor = actors_[aid];
  actor.creation = spec;
  actor.restarts_left = spec.max_restarts;
  actor.detached = m.detached;
  actor.name = m.name;
  actor.ray_namespace = m.ray_namespace;
  actor.metadata = std::move(m.metadata);
  if (!m.name.empty()) actor_names_[key] = aid;
  reply.actor_id = aid;
  reply.metadata = actor.metadata;
  HandleRefForClientLocked(conn, aid);
  conn->Send(MessageType::kActorReply, EncodePayload(reply));

  // The creation task holds its arguments for the actor's whole life.
  HoldSpecRefsLocked(spec);
  std::vector<ObjectID> missing = MissingDependenciesLocked(spec);
  tasks_[spec.task_id] = TaskState{spec, WorkerID::Nil()};
  scheduler_.SubmitTask(std::move(spec), missing);
  ScheduleLocked();
}

void NodeRuntime::OnGetActor(Connection* conn, const GetActorRequest& m) {
  ActorReply reply;
  reply.request_id = m.request_id;
  auto nit = actor_names_.find(std::make_pair(m.ray_namespace, m.name));
  if (nit == actor_names_.end()) {
    reply.code = static_cast<int32_t>(StatusCode::kNotFound);
    reply.message = "Failed to look up actor with name '" + m.name + "' in namespace '" +
                    m.ray_namespace + "'";
  } else {
    reply.actor_id = nit->second;
    reply.metadata = actors_[nit->second].metadata;
    HandleRefForClientLocked(conn, nit->second);
  }
  conn->Send(MessageType::kActorReply, EncodePayload(reply));
}

void NodeRuntime::OnKillActor(const KillActor& m) {
  auto ait = actors_.find(m.actor_id);
  if (ait == actors_.end() || ait->second.state == ActorState::kDead) return;
  ActorState& actor = ait->second;
  actor.killed = true;
  actor.no_restart = m.no_restart;
  if (actor.worker) {
    StopActorWorkerLocked(actor);  // the disconnect decides: restart or dead
  } else if (m.no_restart) {
    ActorDeadLocked(m.actor_id, actor, "The actor was killed by miniray.kill().");
  }
}

void NodeRuntime::FlushActorLocked(const ActorID& id, ActorState& actor) {
  actors_waiting_.erase(id);
  if (actor.state != ActorState::kAlive || !actor.worker) return;
  while (!actor.queue.empty()) {
    auto tit = tasks_.find(actor.queue.front());
    if (tit == tasks_.end()) {
      actor.queue.pop_front();
      continue;
    }
    const TaskSpec& spec = tit->second.spec;
    for (const auto& dep : spec.dependencies) {
      auto oit = objects_.find(dep);
      if (oit != objects_.end() && !oit->second.ready) {
        // Later calls wait too: calls run in submission order.
        actors_waiting_.insert(id);
        return;
      }
    }
    ExecuteTask m;
    for (const auto& dep : spec.dependencies) {
      m.args.push_back(ValueForClientLocked(actor.worker, dep));
    }
    m.spec = spec;
    actor.inflight.push_back(spec.task_id);
    actor.queue.pop_front();
    actor.worker->Send(MessageType::kExecuteTask, EncodePayload(m));
  }
}

void NodeRuntime::ActorWorkerDiedLocked(const ActorID& id, ActorState& actor,
                                        const std::string& cause) {
  if (actor.state == ActorState::kDead) return;
  std::string why;
  if (actor.killed) {
    why = "The actor was killed by miniray.kill().";
  } else if (actor.exiting) {
    why = "The actor exited on purpose (exit_actor() or __ray_terminate__).";
  } else if (actor.handles_gone) {
    why = "The actor was terminated because all its handles went out of scope.";
  } else {
    why = "The actor died unexpectedly: its worker " + cause + ".";
  }
  bool restart = !actor.no_restart && !actor.exiting && !actor.handles_gone &&
                 actor.restarts_left != 0;
  if (!restart) return ActorDeadLocked(id, actor, why);
  if (actor.restarts_left > 0) --actor.restarts_left;
  actor.state = ActorState::kRestarting;
  actor.killed = false;
  Log("restarting actor " + id.Hex().substr(0, 8) + ": " + why);
  // Calls that were running are retried (max_task_retries) or fail.
  std::vector<TaskID> inflight(actor.inflight.begin(), actor.inflight.end());
  actor.inflight.clear();
  std::deque<TaskID> queue;  // retried calls first: submission order holds
  for (const auto& tid : inflight) {
    auto tit = tasks_.find(tid);
    if (tit == tasks_.end()) continue;
    if (tit->second.spec.max_retries != 0) {
      if (tit->second.spec.max_retries > 0) --tit->second.spec.max_retries;
      queue.push_back(tid);
    } else {
      FailTaskLocked(tit->second, ErrorType::kActorDied, why + " The call was running.");
    }
  }
  for (const auto& tid : actor.queue) queue.push_back(tid);
  actor.queue = std::move(queue);
  tasks_[actor.creation.task_id] = TaskState{actor.creation, WorkerID::Nil()};
  scheduler_.SubmitTask(actor.creation, {});
  ScheduleLocked();
}

void NodeRuntime::ActorDeadLocked(const ActorID& id, ActorState& actor,
                                  const std::string& cause) {
  if (actor.state == ActorState::kDead) return;
  actor.state = ActorState::kDead;
  actor.death_cause = cause;
  actors_waiting_.erase(id);
  std::vector<TaskID> doomed(actor.inflight.begin(), actor.inflight.end());
  doomed.insert(doomed.end(), actor.queue.begin(), actor.queue.end());
  actor.inflight.clear();
  actor.queue.clear();
  for (const auto& tid : doomed) {
    auto tit = tasks_.find(tid);
    if (tit != tasks_.end()) FailTaskLocked(tit->second, ErrorType::kActorDied, cause);
  }
  ReleaseSpecRefsLocked(actor.creation);
  if (!actor.name.empty()) {
    auto nit = actor_names_.find(std::make_pair(actor.ray_namespace, actor.name));
    if (nit != actor_names_.end() && nit->second == id) actor_names_.erase(nit);
  }
}

void NodeRuntime::ActorHandlesGoneLocked(const ActorID& id) {
  auto ait = actors_.find(id);
  if (ait == actors_.end() || ait->second.detached) return;
  ActorState& actor = ait->second;
  actor.handles_gone = true;
  if (actor.state == ActorState::kDead) return;
  // Calls already submitted still run; the actor goes once they are done.
  if (!actor.queue.empty() || !actor.inflight.empty()) return;
  if (actor.worker) {
    StopActorWorkerLocked(actor);
  } else {
    ActorDeadLocked(id, actor,
                    "The actor was terminated because all its handles went out of scope.");
  }
}

void NodeRuntime::StopActorWorkerLocked(ActorState& actor) {
  if (actor.worker && actor.worker->pid > 0) kill(actor.worker->pid, SIGKILL);
}

}  // namespace miniray
