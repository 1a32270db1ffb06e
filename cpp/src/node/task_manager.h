// TaskManager: the tasks this node accepted and that have not ended (Ray's
// TaskManager): plain tasks, actor calls and actor creation tasks. It keeps
// each task's spec (to dispatch it, retry it, or turn its returns into
// errors), the worker running it, its retry budget, and which task
// submitted which, so a cancel can reach a task's descendants.
//
// It decides what happens when an attempt fails (retry, or fail with which
// error) and leaves doing it to the node: it owns no objects or workers.
//
// Thread-safety: none; the node's lock guards it.
#ifndef MINIRAY_NODE_TASK_MANAGER_H_
#define MINIRAY_NODE_TASK_MANAGER_H_

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/id.h"
#include "common/task_spec.h"
#include "protobuf/common.pb.h"

namespace miniray {

struct TaskEntry {
  TaskSpecification spec;
  uint64_t owner = 0;       // the client that submitted it
  TaskID parent;            // the task that submitted it (nil: a driver)
  WorkerID worker;          // running it, if dispatched
  bool cancelled = false;   // miniray.cancel() reached it while it ran
  int32_t retries_left = 0;  // -1: forever
};

// What to do with a task whose attempt failed.
struct FailureDecision {
  bool retry = false;
  rpc::ErrorType error = rpc::ERROR_TYPE_UNSPECIFIED;  // when not retried
  std::string message;
};

class TaskManager {
 public:
  // Accepts a task submitted while `parent` ran (nil for a driver) and
  // returns its entry; null, changing nothing, when a task with this id is
  // already known.
  TaskEntry* Add(TaskSpecification spec, const TaskID& parent, uint64_t owner);
  bool Contains(const TaskID& id) const { return tasks_.count(id) > 0; }
  // The unfinished tasks that client `owner` submitted.
  std::vector<TaskID> OwnedBy(uint64_t owner) const;
  // The unfinished tasks of a job.
  std::vector<TaskID> OfJob(const JobID& job) const;
  TaskEntry* Find(const TaskID& id);

  // The task ended; returns its spec (whose references the node releases).
  std::optional<TaskSpecification> Finish(const TaskID& id);

  // Its worker died while running it: retried within its budget, unless it
  // was cancelled.
  FailureDecision OnWorkerDied(const TaskID& id, const std::string& cause);
  // It raised: retried when the task asked for it (retry_exceptions and an
  // exception the allowlist admits) within its budget.
  bool ShouldRetryApplicationError(const TaskID& id, bool retry_allowed);
  // Takes one retry from the budget; false when none is left.
  bool ConsumeRetry(const TaskID& id);

  // The tasks a cancel of `id` reaches, descendants first (they must not
  // outlive their parent's cancel), `id` last if it is known.
  std::vector<TaskID> CancelOrder(const TaskID& id, bool recursive) const;

  // Error values for every return of `spec`.
  static std::vector<rpc::ObjectValue> ErrorReturns(const TaskSpecification& spec,
                                                    rpc::ErrorType type,
                                                    const std::string& message);
  size_t size() const { return tasks_.size(); }

 private:
  void CollectDescendants(const TaskID& id, std::vector<TaskID>* out) const;

  std::unordered_map<TaskID, TaskEntry> tasks_;
  // Unfinished tasks -> the tasks they submitted.
  std::unordered_map<TaskID, std::vector<TaskID>> children_;
};

}  // namespace miniray

#endif  // MINIRAY_NODE_TASK_MANAGER_H_
