#include "node/task_manager.h"

namespace miniray {

TaskEntry* TaskManager::Add(TaskSpecification spec, const TaskID& parent, uint64_t owner) {
  TaskID id = spec.TaskId();
  auto [it, inserted] = tasks_.try_emplace(id);
  if (!inserted) return nullptr;
  if (!parent.IsNil() && tasks_.count(parent)) children_[parent].push_back(id);
  TaskEntry& e = it->second;
  e.owner = owner;
  e.parent = parent;
  e.retries_left = spec.message().max_retries();
  e.spec = std::move(spec);
  return &e;
}

std::vector<TaskID> TaskManager::OwnedBy(uint64_t owner) const {
  std::vector<TaskID> owned;
  for (const auto& [id, task] : tasks_) {
    if (task.owner == owner) owned.push_back(id);
  }
  return owned;
}

std::vector<TaskID> TaskManager::OfJob(const JobID& job) const {
  std::vector<TaskID> of_job;
  std::string binary = job.Binary();
  for (const auto& [id, task] : tasks_) {
    if (task.spec.message().job_id() == binary) of_job.push_back(id);
  }
  return of_job;
}

TaskEntry* TaskManager::Find(const TaskID& id) {
  auto it = tasks_.find(id);
  return it == tasks_.end() ? nullptr : &it->second;
}

std::optional<TaskSpecification> TaskManager::Finish(const TaskID& id) {
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return std::nullopt;
  TaskSpecification spec = std::move(it->second.spec);
  tasks_.erase(it);
  children_.erase(id);
  return spec;
}

bool TaskManager::ConsumeRetry(const TaskID& id) {
  TaskEntry* e = Find(id);
  if (!e || e->retries_left == 0) return false;
  if (e->retries_left > 0) --e->retries_left;
  return true;
}

FailureDecision TaskManager::OnWorkerDied(const TaskID& id, const std::string& cause) {
  FailureDecision d;
  TaskEntry* e = Find(id);
  if (!e) return d;
  const std::string& name = e->spec.Name();
  if (e->cancelled) {
    d.error = rpc::TASK_CANCELLED;
    d.message = "Task '" + name + "' was cancelled (its worker was killed).";
  } else if (ConsumeRetry(id)) {
    d.retry = true;
  } else {
    d.error = rpc::WORKER_DIED;
    d.message = "The worker running task '" + name + "' died: " + cause +
                ". No retries left (max_retries).";
  }
  return d;
}

bool TaskManager::ShouldRetryApplicationError(const TaskID& id, bool retry_allowed) {
  TaskEntry* e = Find(id);
  if (!e || e->cancelled || !retry_allowed || !e->spec.message().retry_exceptions()) {
    return false;
  }
  return ConsumeRetry(id);
}

void TaskManager::CollectDescendants(const TaskID& id, std::vector<TaskID>* out) const {
  auto it = children_.find(id);
  if (it == children_.end()) return;
  for (const auto& child : it->second) {
    CollectDescendants(child, out);
    if (tasks_.count(child)) out->push_back(child);
  }
}

std::vector<TaskID> TaskManager::CancelOrder(const TaskID& id, bool recursive) const {
  std::vector<TaskID> order;
  if (recursive) CollectDescendants(id, &order);
  if (tasks_.count(id)) order.push_back(id);
  return order;
}

std::vector<rpc::ObjectValue> TaskManager::ErrorReturns(const TaskSpecification& spec,
                                                        rpc::ErrorType type,
                                                        const std::string& message) {
  std::vector<rpc::ObjectValue> values;
  for (uint32_t i = 0; i < spec.NumReturns(); ++i) {
    rpc::ObjectValue v;
    v.set_object_id(spec.ReturnId(i).Binary());
    v.mutable_error()->set_type(type);
    v.mutable_error()->set_message(message);
    values.push_back(std::move(v));
  }
  return values;
}

}  // namespace miniray
