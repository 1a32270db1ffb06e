// TaskEventTable: the life of each task the node accepted, kept after the
// task ends, for the state API, `miniray list tasks`, the timeline and the
// dashboard (Ray keeps the same in its GCS: GcsTaskManager, fed by each
// worker's TaskEventBuffer; here the node sees every step itself).
//
// One record per task: its latest attempt's state (Ray's TaskStatus names),
// the worker that ran it, and when it was submitted, started and ended.
// Start and end come from the worker's CoreWorker (TaskResult), so queueing
// in the node does not count as running.
//
// Memory is bounded: past `capacity` records the oldest goes (finished or
// not; updates for a dropped task are ignored), as Ray drops task events
// past task_events_max_num_task_in_gcs. Records are plain structs, not
// protobuf messages, to keep the per-task cost to one hash insert.
//
// Thread-safety: none; the node's lock guards it.
#ifndef MINIRAY_NODE_TASK_EVENT_TABLE_H_
#define MINIRAY_NODE_TASK_EVENT_TABLE_H_

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/id.h"
#include "common/task_spec.h"
#include "protobuf/gcs.pb.h"

namespace miniray {

class TaskEventTable {
 public:
  static constexpr size_t kDefaultCapacity = 100000;
  explicit TaskEventTable(size_t capacity = kDefaultCapacity) : capacity_(capacity) {}

  // The task was accepted (or, known already, is being retried: a new
  // attempt). `args_pending`: it waits for arguments.
  void Submitted(const TaskSpecification& spec, const TaskID& parent, bool args_pending,
                 int64_t now_us);
  // The task (or constructor) was handed to a worker to run now: RUNNING.
  // An actor call handed to its actor's worker, which runs calls in its own
  // order: SUBMITTED_TO_WORKER.
  void Dispatched(const TaskID& id, const WorkerID& worker, pid_t pid, bool actor_call,
                  int64_t now_us);
  // Its worker reported it: ran from start to end (worker's clock), and
  // raised an exception or not.
  void Ran(const TaskID& id, int64_t start_us, int64_t end_us, bool raised);
  // It ended without a result from its worker (cancelled, worker or actor
  // died, ...): FAILED with `error_type` (rpc::ErrorType's name).
  void Failed(const TaskID& id, const std::string& error_type, const std::string& message,
              int64_t now_us);

  // The newest `limit` records (0: all), oldest first, as rows.
  std::vector<rpc::TaskEventData> Rows(size_t limit) const;
  size_t size() const { return records_.size(); }
  // Records by state (kept as states change; the state API's counts and
  // the dashboard's metrics without reading every row).
  const std::unordered_map<int, int64_t>& state_counts() const { return counts_; }
  uint64_t num_evicted() const { return first_seq_; }

 private:
  struct Record {
    TaskID task_id, parent;
    JobID job;
    ActorID actor;
    WorkerID worker;
    std::string name;
    rpc::TaskType type = rpc::NORMAL_TASK;
    rpc::TaskStatus state = rpc::NIL;
    int32_t attempt = 0;
    pid_t worker_pid = 0;
    int64_t creation_us = 0, scheduled_us = 0, start_us = 0, end_us = 0;
    std::string error_type, error_message;
    std::vector<std::pair<std::string, double>> resources;
  };
  Record* Find(const TaskID& id);
  void SetState(Record* r, rpc::TaskStatus state);

  const size_t capacity_;
  std::deque<Record> records_;  // in submission order
  uint64_t first_seq_ = 0;      // sequence number of records_.front()
  std::unordered_map<TaskID, uint64_t> index_;  // task -> sequence number
  std::unordered_map<int, int64_t> counts_;     // rpc::TaskStatus -> records
};

}  // namespace miniray

#endif  // MINIRAY_NODE_TASK_EVENT_TABLE_H_
