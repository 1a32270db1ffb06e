// Scheduler: decides which task runs on which worker, and when to start
// more workers. It is pure bookkeeping, with no sockets or processes: the
// node runtime feeds it events (task submitted, object ready, worker
// registered / finished / blocked / gone) and calls Schedule(), which
// returns the decisions for the node to carry out.
//
// Rules (as Ray's raylet):
//  - A task waits until all its top-level ObjectRef arguments are ready.
//  - Ready tasks are grouped by resource shape (a "scheduling class") and
//    run first-in first-out within a class; a class whose head does not fit
//    does not hold back other classes.
//  - A task's priority (a miniray extension, from the design document;
//    default 0) is part of its class: among ready tasks that fit, classes
//    of higher priority are served first.
//  - A task runs when its resources fit in what is free and a worker is
//    idle; the resources are held until it finishes.
//  - A worker blocked in get()/wait() gives its CPUs back while it waits, so
//    nested tasks can run; more workers start when tasks fit but none is idle.
//  - A task that can never fit on this node stays pending, with a warning
//    naming the missing resource.
//  - Placement groups (placement_groups.h) reserve their bundles before any
//    task is dispatched, oldest first, once all of a group's bundles fit.
//  - Workers belong to a job (the driver that caused them to start: its
//    code and environment) and run only that job's tasks.
#ifndef MINIRAY_SCHEDULER_SCHEDULER_H_
#define MINIRAY_SCHEDULER_SCHEDULER_H_

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/id.h"
#include "scheduler/placement_groups.h"
#include "scheduler/resources.h"

namespace miniray {

struct Dispatch {
  WorkerID worker;
  TaskID task_id;
  std::vector<int64_t> gpu_ids;  // GPU instances assigned to the task
};

struct Decisions {
  std::vector<Dispatch> dispatches;
  // Worker processes to start, per job.
  std::map<JobID, int> workers_to_start;
  std::vector<std::string> warnings;  // to log once each

  int total_workers_to_start() const {
    int n = 0;
    for (const auto& [job, count] : workers_to_start) n += count;
    return n;
  }
};

// Thread-safe: every public method takes mu_. Never calls out.
class Scheduler {
 public:
  // `total`: the node's resources; GPU instances are numbered 0..GPU-1.
  // `max_workers`: a hard cap on worker processes that can run tasks
  // (actors' dedicated workers, and workers blocked in get(), do not count).
  Scheduler(ResourceSet total, int max_workers);

  // A new task of `job` asking for `demand`; `missing` are its dependencies
  // that are not ready yet. `name` is for the infeasible-task warning.
  void SubmitTask(const TaskID& task, const std::string& name, ResourceSet demand,
                  const std::vector<ObjectID>& missing, const JobID& job = JobID::Nil(),
                  int32_t priority = 0);
  // Removes a task that is not running yet; false if it is not queued here.
  bool CancelTask(const TaskID& task);
  // Removes and returns every task of `job` that is ready to run but waits
  // for a worker or resources (when no worker can be started for them).
  std::vector<TaskID> DrainReady(const JobID& job = JobID::Nil());
  // An object became ready: tasks waiting only on it become runnable.
  // True when some did (a Schedule() may dispatch them).
  bool ObjectReady(const ObjectID& id);

  // Worker lifecycle.
  void WorkersStarting(int n, const JobID& job = JobID::Nil());  // the node launched n
  void WorkerStartFailed(const JobID& job = JobID::Nil());  // one never registered
  // Registered and idle; it runs tasks of `job` only.
  void AddWorker(const WorkerID& worker, const JobID& job = JobID::Nil());
  // The worker's process is gone; returns the task it was running, if any.
  std::optional<TaskID> RemoveWorker(const WorkerID& worker);
  // The worker finished its task and is idle again.
  void TaskFinished(const WorkerID& worker);
  // The worker ran an actor's creation task: it now belongs to the actor,
  // never takes other tasks, and holds `keep` until it is removed.
  void ActorCreated(const WorkerID& worker, const ResourceSet& keep);
  void WorkerBlocked(const WorkerID& worker);
  void WorkerUnblocked(const WorkerID& worker);

  Decisions Schedule();

  // Placement groups: added pending (false if the id is taken); reserved by
  // Schedule(). Removing one returns the workers whose task or actor holds
  // some of its resources (they are to be stopped, as Ray does); false if
  // there is no such group.
  bool AddPlacementGroup(PlacementGroup group);
  bool RemovePlacementGroup(const std::string& id_hex, std::vector<WorkerID>* holders);
  std::vector<PlacementGroup> PlacementGroupTable() const;

  // Workers idle for at least `idle_for` beyond the first `soft_limit`
  // plain (non-actor) workers: removed from the pool and returned, for the
  // node to stop (extra workers started while others were blocked in get).
  std::vector<WorkerID> TrimIdleWorkers(size_t soft_limit, std::chrono::milliseconds idle_for);

  ResourceSet total() const;
  ResourceSet available() const;
  size_t num_waiting() const;   // waiting for dependencies
  size_t num_ready() const;     // runnable, waiting for resources/worker
  size_t num_workers() const;

 private:
  struct Worker {
    enum State { kIdle, kBusy, kBlocked, kActor } state = kIdle;
    JobID job;
    ResourceSet held;
    std::vector<int64_t> gpu_ids;
    std::optional<TaskID> task;
    std::chrono::steady_clock::time_point idle_since = std::chrono::steady_clock::now();
  };
  struct QueuedTask {
    TaskID id;
    std::string name;
    ResourceSet demand;
    JobID job;
    int32_t priority = 0;
  };
  // A queue of ready tasks: one job's tasks of one priority and resource
  // shape. The map orders higher priorities first.
  struct ClassKey {
    int32_t priority;
    JobID job;
    std::string shape;
    bool operator<(const ClassKey& o) const {
      if (priority != o.priority) return priority > o.priority;
      if (job != o.job) return job < o.job;
      return shape < o.shape;
    }
  };
  struct Waiting {
    QueuedTask task;
    size_t missing = 0;
  };
  void MakeReadyLocked(QueuedTask task);
  bool AssignGpusLocked(double amount, std::vector<int64_t>* ids);
  void ReleaseWorkerLocked(Worker& w);
  void FreeGpusLocked(Worker& w);

  mutable std::mutex mu_;
  ResourceSet total_;  // grows and shrinks with placement groups; guarded by mu_
  const int max_workers_;
  ResourceSet available_;                                  // guarded by mu_
  std::vector<int64_t> gpu_free_;  // per GPU, fixed point; guarded by mu_
  std::unordered_map<WorkerID, Worker> workers_;           // guarded by mu_
  // Idle workers per job; may hold stale entries. Guarded by mu_.
  std::unordered_map<JobID, std::vector<WorkerID>> idle_;
  std::unordered_map<JobID, int> starting_;                // guarded by mu_
  std::unordered_map<TaskID, Waiting> waiting_;            // guarded by mu_
  std::unordered_map<ObjectID, std::vector<TaskID>> waiters_;  // guarded by mu_
  std::map<ClassKey, std::deque<QueuedTask>> ready_;       // guarded by mu_
  size_t num_ready_ = 0;                                   // guarded by mu_
  std::set<std::string> warned_;  // resource shapes warned of; guarded by mu_
  PlacementGroups groups_;         // guarded by mu_
  void ReservePlacementGroupsLocked(Decisions& d);
};

}  // namespace miniray

#endif  // MINIRAY_SCHEDULER_SCHEDULER_H_
