#include "node/actor_manager.h"

#include <algorithm>

namespace miniray {

StatusOr<ActorID> ActorManager::Register(const TaskSpecification& creation, bool get_if_exists,
                                         bool* created) {
  *created = false;
  const auto& options = creation.message().actor_creation_task_spec();
  auto key = std::make_pair(options.ray_namespace(), options.name());
  if (!options.name().empty()) {
    auto nit = names_.find(key);
    if (nit != names_.end()) {
      if (get_if_exists) return nit->second;
      return Status::AlreadyExists("Actor with name '" + options.name() +
                                   "' already exists in the namespace " +
                                   options.ray_namespace());
    }
  }
  ActorID id = creation.ActorId();
  if (actors_.count(id)) return Status::AlreadyExists("actor " + id.Hex() + " exists");
  ActorEntry& actor = actors_[id];
  actor.creation = creation;
  actor.restarts_left = options.max_actor_restarts();
  if (!options.name().empty()) names_[key] = id;
  *created = true;
  return id;
}

StatusOr<ActorID> ActorManager::Lookup(const std::string& name,
                                       const std::string& ray_namespace) const {
  auto nit = names_.find(std::make_pair(ray_namespace, name));
  if (nit == names_.end()) {
    return Status::NotFound("Failed to look up actor with name '" + name + "' in namespace '" +
                            ray_namespace + "'");
  }
  return nit->second;
}

std::vector<ActorID> ActorManager::OfJob(const JobID& job) const {
  std::vector<ActorID> of_job;
  std::string binary = job.Binary();
  for (const auto& [id, actor] : actors_) {
    if (actor.creation.message().job_id() == binary) of_job.push_back(id);
  }
  return of_job;
}

ActorEntry* ActorManager::Find(const ActorID& id) {
  auto it = actors_.find(id);
  return it == actors_.end() ? nullptr : &it->second;
}

ActorID ActorManager::ActorOf(const WorkerID& worker) const {
  auto it = actor_of_worker_.find(worker);
  return it == actor_of_worker_.end() ? ActorID::Nil() : it->second;
}

bool ActorManager::Placed(const ActorID& id, const WorkerID& worker) {
  ActorEntry* actor = Find(id);
  if (!actor || actor->state == ActorEntry::kDead) return false;
  actor->worker = worker;
  actor_of_worker_[worker] = id;
  return true;
}

void ActorManager::Created(const ActorID& id) {
  ActorEntry* actor = Find(id);
  if (actor && actor->state != ActorEntry::kDead) actor->state = ActorEntry::kAlive;
}

Status ActorManager::Enqueue(const ActorID& id, const TaskID& call, int32_t priority) {
  ActorEntry* actor = Find(id);
  if (!actor) return Status::NotFound("The actor " + id.Hex() + " does not exist.");
  if (actor->state == ActorEntry::kDead) return Status::FailedPrecondition(actor->death_cause);
  auto priority_of = [&](const TaskID& t) {
    auto it = actor->priorities.find(t);
    return it == actor->priorities.end() ? 0 : it->second;
  };
  auto at = actor->queue.end();
  while (at != actor->queue.begin() && priority_of(*std::prev(at)) < priority) --at;
  actor->queue.insert(at, call);
  if (priority != 0) actor->priorities[call] = priority;
  return Status::OK();
}

std::vector<TaskID> ActorManager::TakeSendable(
    const ActorID& id, const std::function<bool(const TaskID&)>& ready) {
  std::vector<TaskID> sendable;
  waiting_.erase(id);
  ActorEntry* actor = Find(id);
  if (!actor || actor->state != ActorEntry::kAlive || actor->worker.IsNil()) return sendable;
  while (!actor->queue.empty()) {
    const TaskID& call = actor->queue.front();
    if (!ready(call)) {
      // Later calls wait too: calls run in submission order.
      waiting_.insert(id);
      break;
    }
    sendable.push_back(call);
    actor->inflight.push_back(call);
    actor->priorities.erase(call);
    actor->queue.pop_front();
  }
  return sendable;
}

bool ActorManager::CallEnded(const ActorID& id, const TaskID& call, bool exiting) {
  ActorEntry* actor = Find(id);
  if (!actor) return false;
  auto it = std::find(actor->inflight.begin(), actor->inflight.end(), call);
  if (it != actor->inflight.end()) actor->inflight.erase(it);
  if (exiting) actor->exiting = true;
  return actor->handles_gone && actor->state != ActorEntry::kDead && actor->queue.empty() &&
         actor->inflight.empty();
}

std::vector<std::pair<std::string, std::string>> ActorManager::NamedActors(
    const std::string& ray_namespace) const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [key, id] : names_) {
    if (!ray_namespace.empty() && key.first != ray_namespace) continue;
    auto it = actors_.find(id);
    if (it != actors_.end() && it->second.state != ActorEntry::kDead) out.push_back(key);
  }
  return out;
}

bool ActorManager::DropQueued(const ActorID& id, const TaskID& call) {
  ActorEntry* actor = Find(id);
  if (!actor) return false;
  auto it = std::find(actor->queue.begin(), actor->queue.end(), call);
  if (it == actor->queue.end()) return false;
  actor->queue.erase(it);
  actor->priorities.erase(call);
  return true;
}

std::optional<ActorRestart> ActorManager::WorkerDied(const WorkerID& worker,
                                                    const std::string& cause) {
  auto wit = actor_of_worker_.find(worker);
  if (wit == actor_of_worker_.end()) return std::nullopt;
  ActorID actor_id = wit->second;
  ActorEntry* actor = Find(actor_id);
  actor_of_worker_.erase(wit);
  if (!actor || actor->worker != worker || actor->state == ActorEntry::kDead) {
    return std::nullopt;
  }
  actor->worker = WorkerID::Nil();
  ActorRestart r;
  r.actor = actor_id;
  if (actor->killed) {
    r.why = "The actor was killed by miniray.kill().";
  } else if (actor->exiting) {
    r.why = "The actor exited on purpose (exit_actor() or __ray_terminate__).";
  } else if (actor->handles_gone) {
    r.why = "The actor was terminated because all its handles went out of scope.";
  } else {
    r.why = "The actor died unexpectedly: its worker " + cause + ".";
  }
  r.restart = !actor->no_restart && !actor->exiting && !actor->handles_gone &&
              actor->restarts_left != 0;
  if (!r.restart) return r;
  if (actor->restarts_left > 0) --actor->restarts_left;
  ++actor->num_restarts;
  actor->state = ActorEntry::kRestarting;
  actor->killed = false;
  r.interrupted.assign(actor->inflight.begin(), actor->inflight.end());
  actor->inflight.clear();
  return r;
}

void ActorManager::Requeue(const ActorID& id, const std::vector<TaskID>& calls) {
  ActorEntry* actor = Find(id);
  if (!actor) return;
  actor->queue.insert(actor->queue.begin(), calls.begin(), calls.end());
}

ActorDeath ActorManager::MarkDead(const ActorID& id, const std::string& cause) {
  ActorDeath death;
  ActorEntry* actor = Find(id);
  if (!actor || actor->state == ActorEntry::kDead) return death;
  actor->state = ActorEntry::kDead;
  actor->death_cause = cause;
  waiting_.erase(id);
  death.cause = cause;
  death.doomed.assign(actor->inflight.begin(), actor->inflight.end());
  death.doomed.insert(death.doomed.end(), actor->queue.begin(), actor->queue.end());
  actor->inflight.clear();
  actor->queue.clear();
  actor->priorities.clear();
  death.creation = actor->creation;
  const auto& options = actor->options();
  if (!options.name().empty()) {
    auto nit = names_.find(std::make_pair(options.ray_namespace(), options.name()));
    if (nit != names_.end() && nit->second == id) names_.erase(nit);
  }
  return death;
}

bool ActorManager::Kill(const ActorID& id, bool no_restart, bool* dead_now) {
  *dead_now = false;
  ActorEntry* actor = Find(id);
  if (!actor || actor->state == ActorEntry::kDead) return false;
  actor->killed = true;
  actor->no_restart = no_restart;
  if (!actor->worker.IsNil()) return true;  // its death decides: restart or dead
  *dead_now = no_restart;
  return false;
}

ActorManager::HandlesGoneAction ActorManager::HandlesGone(const ActorID& id) {
  ActorEntry* actor = Find(id);
  if (!actor || actor->options().is_detached()) return HandlesGoneAction::kNothing;
  actor->handles_gone = true;
  if (actor->state == ActorEntry::kDead) return HandlesGoneAction::kNothing;
  // Calls already submitted still run; the actor goes once they are done.
  if (!actor->queue.empty() || !actor->inflight.empty()) return HandlesGoneAction::kNothing;
  return actor->worker.IsNil() ? HandlesGoneAction::kDead : HandlesGoneAction::kStopWorker;
}

}  // namespace miniray
