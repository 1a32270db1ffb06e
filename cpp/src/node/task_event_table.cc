#include "node/task_event_table.h"

namespace miniray {

TaskEventTable::Record* TaskEventTable::Find(const TaskID& id) {
  auto it = index_.find(id);
  if (it == index_.end()) return nullptr;
  return &records_[it->second - first_seq_];
}

void TaskEventTable::SetState(Record* r, rpc::TaskStatus state) {
  --counts_[r->state];
  ++counts_[state];
  r->state = state;
}

void TaskEventTable::Submitted(const TaskSpecification& spec, const TaskID& parent,
                               bool args_pending, int64_t now_us) {
  rpc::TaskStatus state = args_pending ? rpc::PENDING_ARGS_AVAIL
                          : spec.IsActorTask() ? rpc::SUBMITTED_TO_WORKER
                                               : rpc::PENDING_NODE_ASSIGNMENT;
  if (Record* r = Find(spec.TaskId())) {  // a retry (or an actor's restart)
    ++r->attempt;
    SetState(r, state);
    r->worker = WorkerID::Nil();
    r->worker_pid = 0;
    r->scheduled_us = r->start_us = r->end_us = 0;
    r->error_type.clear();
    r->error_message.clear();
    return;
  }
  if (capacity_ == 0) return;
  if (records_.size() >= capacity_) {
    auto it = index_.find(records_.front().task_id);
    if (it != index_.end() && it->second == first_seq_) index_.erase(it);
    --counts_[records_.front().state];
    records_.pop_front();
    ++first_seq_;
  }
  Record r;
  r.task_id = spec.TaskId();
  r.parent = parent;
  r.job = JobID::FromBinary(spec.message().job_id());
  r.actor = spec.ActorId();
  r.name = spec.Name();
  r.type = spec.message().type();
  r.state = state;
  r.creation_us = now_us;
  for (const auto& [name, amount] : spec.message().required_resources()) {
    r.resources.emplace_back(name, amount);
  }
  ++counts_[state];
  index_[r.task_id] = first_seq_ + records_.size();
  records_.push_back(std::move(r));
}

void TaskEventTable::Dispatched(const TaskID& id, const WorkerID& worker, pid_t pid,
                                bool actor_call, int64_t now_us) {
  Record* r = Find(id);
  if (!r) return;
  SetState(r, actor_call ? rpc::SUBMITTED_TO_WORKER : rpc::RUNNING);
  r->worker = worker;
  r->worker_pid = pid;
  r->scheduled_us = now_us;
}

void TaskEventTable::Ran(const TaskID& id, int64_t start_us, int64_t end_us, bool raised) {
  Record* r = Find(id);
  if (!r) return;
  r->start_us = start_us;
  r->end_us = end_us;
  SetState(r, raised ? rpc::FAILED : rpc::FINISHED);
  if (raised) r->error_type = "TASK_EXECUTION_EXCEPTION";
}

void TaskEventTable::Failed(const TaskID& id, const std::string& error_type,
                            const std::string& message, int64_t now_us) {
  Record* r = Find(id);
  if (!r || r->state == rpc::FINISHED || r->state == rpc::FAILED) return;
  SetState(r, rpc::FAILED);
  r->end_us = now_us;
  r->error_type = error_type;
  r->error_message = message.substr(0, 1024);
}

std::vector<rpc::TaskEventData> TaskEventTable::Rows(size_t limit) const {
  size_t n = records_.size();
  size_t first = (limit == 0 || limit >= n) ? 0 : n - limit;
  std::vector<rpc::TaskEventData> rows;
  rows.reserve(n - first);
  for (size_t i = first; i < n; ++i) {
    const Record& r = records_[i];
    rpc::TaskEventData row;
    row.set_task_id(r.task_id.Binary());
    row.set_attempt_number(r.attempt);
    row.set_name(r.name);
    row.set_type(r.type);
    row.set_job_id(r.job.Binary());
    if (!r.actor.IsNil()) row.set_actor_id(r.actor.Binary());
    if (!r.parent.IsNil()) row.set_parent_task_id(r.parent.Binary());
    row.set_state(r.state);
    if (!r.worker.IsNil()) row.set_worker_id(r.worker.Binary());
    row.set_worker_pid(r.worker_pid);
    row.set_creation_time_us(r.creation_us);
    row.set_scheduled_time_us(r.scheduled_us);
    row.set_start_time_us(r.start_us);
    row.set_end_time_us(r.end_us);
    row.set_error_type(r.error_type);
    row.set_error_message(r.error_message);
    for (const auto& [name, amount] : r.resources) (*row.mutable_required_resources())[name] = amount;
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace miniray
