#include "scheduler/scheduler.h"

#include <cmath>

#include "common/status.h"

namespace miniray {

Scheduler::Scheduler(ResourceSet total, int max_workers)
    : total_(std::move(total)), max_workers_(max_workers), available_(total_) {
  int gpus = static_cast<int>(total_.Get("GPU"));
  gpu_free_.assign(gpus, ResourceSet::kUnit);
}

void Scheduler::SubmitTask(const TaskID& task, const std::string& name, ResourceSet demand,
                           const std::vector<ObjectID>& missing, const JobID& job,
                           int32_t priority) {
  std::lock_guard<std::mutex> lock(mu_);
  QueuedTask queued{task, name, std::move(demand), job, priority};
  if (missing.empty()) {
    MakeReadyLocked(std::move(queued));
    return;
  }
  for (const auto& dep : missing) waiters_[dep].push_back(task);
  waiting_[task] = Waiting{std::move(queued), missing.size()};
}

bool Scheduler::CancelTask(const TaskID& task) {
  std::lock_guard<std::mutex> lock(mu_);
  if (waiting_.erase(task)) return true;  // stale entries in waiters_ are skipped
  for (auto& [key, queue] : ready_) {
    for (auto it = queue.begin(); it != queue.end(); ++it) {
      if (it->id == task) {
        queue.erase(it);
        --num_ready_;
        return true;
      }
    }
  }
  return false;
}

std::vector<TaskID> Scheduler::DrainReady(const JobID& job) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<TaskID> drained;
  for (auto it = ready_.begin(); it != ready_.end();) {
    if (it->first.job != job) {
      ++it;
      continue;
    }
    for (auto& task : it->second) drained.push_back(task.id);
    num_ready_ -= it->second.size();
    it = ready_.erase(it);
  }
  return drained;
}

bool Scheduler::ObjectReady(const ObjectID& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = waiters_.find(id);
  if (it == waiters_.end()) return false;
  bool runnable = false;
  std::vector<TaskID> tasks = std::move(it->second);
  waiters_.erase(it);
  for (const auto& t : tasks) {
    auto w = waiting_.find(t);
    if (w == waiting_.end()) continue;
    if (--w->second.missing == 0) {
      QueuedTask task = std::move(w->second.task);
      waiting_.erase(w);
      MakeReadyLocked(std::move(task));
      runnable = true;
    }
  }
  return runnable;
}

void Scheduler::MakeReadyLocked(QueuedTask task) {
  ClassKey key{task.priority, task.job, task.demand.Key()};  // the scheduling class
  ready_[key].push_back(std::move(task));
  ++num_ready_;
}

void Scheduler::WorkersStarting(int n, const JobID& job) {
  std::lock_guard<std::mutex> lock(mu_);
  starting_[job] += n;
}

void Scheduler::WorkerStartFailed(const JobID& job) {
  std::lock_guard<std::mutex> lock(mu_);
  if (starting_[job] > 0) --starting_[job];
}

void Scheduler::AddWorker(const WorkerID& worker, const JobID& job) {
  std::lock_guard<std::mutex> lock(mu_);
  if (starting_[job] > 0) --starting_[job];
  Worker w;
  w.job = job;
  workers_[worker] = w;
  idle_[job].push_back(worker);
}

std::optional<TaskID> Scheduler::RemoveWorker(const WorkerID& worker) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = workers_.find(worker);
  if (it == workers_.end()) return std::nullopt;
  ReleaseWorkerLocked(it->second);
  std::optional<TaskID> task = it->second.task;
  workers_.erase(it);
  return task;
}

void Scheduler::ReleaseWorkerLocked(Worker& w) {
  ResourceSet held = w.held;
  if (w.state == Worker::kBlocked) {
    // Its CPUs were already given back when it blocked.
    held.Subtract(held.CpuPart());
  }
  // Resources of a placement group removed meanwhile are gone for good.
  available_.Add(held.Restricted(total_));
  FreeGpusLocked(w);
  w.held = ResourceSet();
}

void Scheduler::FreeGpusLocked(Worker& w) {
  // Fractional GPU tasks hold part of one GPU; whole ones hold all of it.
  double amount = w.held.Get("GPU");
  int64_t part = amount >= 1 ? ResourceSet::kUnit
                             : static_cast<int64_t>(std::llround(amount * ResourceSet::kUnit));
  for (int64_t g : w.gpu_ids) gpu_free_[g] += part;
  w.gpu_ids.clear();
}

void Scheduler::TaskFinished(const WorkerID& worker) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = workers_.find(worker);
  if (it == workers_.end() || it->second.state == Worker::kActor) return;
  ReleaseWorkerLocked(it->second);
  it->second.task.reset();
  it->second.state = Worker::kIdle;
  it->second.idle_since = std::chrono::steady_clock::now();
  idle_[it->second.job].push_back(worker);
}

std::vector<WorkerID> Scheduler::TrimIdleWorkers(size_t soft_limit,
                                                 std::chrono::milliseconds idle_for) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<WorkerID> trimmed;
  size_t plain = 0;
  for (const auto& [id, w] : workers_) plain += w.state != Worker::kActor;
  if (plain <= soft_limit || num_ready_ > 0) return trimmed;
  auto cutoff = std::chrono::steady_clock::now() - idle_for;
  for (auto it = workers_.begin(); it != workers_.end() && plain > soft_limit;) {
    if (it->second.state == Worker::kIdle && !it->second.task &&
        it->second.idle_since <= cutoff) {
      trimmed.push_back(it->first);
      it = workers_.erase(it);  // stale entries in idle_ are skipped
      --plain;
    } else {
      ++it;
    }
  }
  return trimmed;
}

void Scheduler::ActorCreated(const WorkerID& worker, const ResourceSet& keep) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = workers_.find(worker);
  if (it == workers_.end()) return;
  Worker& w = it->second;
  // Give back what placement needed beyond what the actor keeps.
  ResourceSet give_back = w.held;
  if (w.state == Worker::kBlocked) give_back.Subtract(give_back.CpuPart());
  give_back.Subtract(keep);
  available_.Add(give_back);
  if (keep.Get("GPU") == 0) FreeGpusLocked(w);
  w.held = keep;
  w.state = Worker::kActor;
  w.task.reset();
}

void Scheduler::WorkerBlocked(const WorkerID& worker) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = workers_.find(worker);
  if (it == workers_.end() || it->second.state != Worker::kBusy) return;
  it->second.state = Worker::kBlocked;
  available_.Add(it->second.held.CpuPart());
}

void Scheduler::WorkerUnblocked(const WorkerID& worker) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = workers_.find(worker);
  if (it == workers_.end() || it->second.state != Worker::kBlocked) return;
  it->second.state = Worker::kBusy;
  // Take the CPUs back even if that oversubscribes the node for a while:
  // the task was already running and must finish.
  available_.Subtract(it->second.held.CpuPart());
}

bool Scheduler::AssignGpusLocked(double amount, std::vector<int64_t>* ids) {
  if (amount <= 0) return true;
  if (amount < 1) {
    int64_t part = static_cast<int64_t>(std::llround(amount * ResourceSet::kUnit));
    for (size_t g = 0; g < gpu_free_.size(); ++g) {
      if (gpu_free_[g] >= part) {
        gpu_free_[g] -= part;
        ids->push_back(static_cast<int64_t>(g));
        return true;
      }
    }
    return false;
  }
  size_t need = static_cast<size_t>(std::ceil(amount));
  std::vector<int64_t> chosen;
  for (size_t g = 0; g < gpu_free_.size() && chosen.size() < need; ++g) {
    if (gpu_free_[g] == ResourceSet::kUnit) chosen.push_back(static_cast<int64_t>(g));
  }
  if (chosen.size() < need) return false;
  for (int64_t g : chosen) gpu_free_[g] = 0;
  *ids = std::move(chosen);
  return true;
}

Decisions Scheduler::Schedule() {
  std::lock_guard<std::mutex> lock(mu_);
  Decisions d;
  ReservePlacementGroupsLocked(d);
  std::map<JobID, int> need_workers;
  int need_total = 0;
  for (auto& [key, queue] : ready_) {
    const JobID& job = key.job;
    std::vector<WorkerID>& idle = idle_[job];
    // Tasks of this class that fit but found no idle worker are counted
    // against a simulated copy of the free resources.
    ResourceSet simulated;
    bool simulating = false;
    for (size_t i = 0; i < queue.size();) {
      const ResourceSet& demand = queue[i].demand;
      if (!total_.Contains(demand)) {
        std::string missing = total_.FirstMissing(demand).value_or("?");
        std::optional<std::string> group = PlacementGroups::GroupOf(missing);
        PlacementGroup* g = group ? groups_.Find(*group) : nullptr;
        bool group_pending = g && g->state == PlacementGroup::kPending;
        if (!group_pending && warned_.insert(key.shape).second) {  // (pending: it waits)
          d.warnings.push_back(
              "task " + queue[i].name + " requires " + demand.ToString() +
              " but this node has " + total_.ToString() + " (no '" + missing +
              "' to satisfy it" +
              (group ? std::string(": its placement group is not there") : std::string()) +
              "); it stays pending until the resource exists");
        }
        break;
      }
      if (simulating) {
        if (!simulated.Contains(demand) || need_total > 64) break;
        simulated.Subtract(demand);
        ++need_workers[job];
        ++need_total;
        ++i;
        continue;
      }
      if (!available_.Contains(demand)) break;
      // Pop an idle worker of the job, skipping stale entries.
      WorkerID wid;
      bool found = false;
      while (!idle.empty()) {
        wid = idle.back();
        idle.pop_back();
        auto w = workers_.find(wid);
        if (w != workers_.end() && w->second.state == Worker::kIdle &&
            !w->second.task) {
          found = true;
          break;
        }
      }
      if (!found) {
        simulating = true;
        simulated = available_;
        continue;
      }
      std::vector<int64_t> gpus;
      if (!AssignGpusLocked(demand.Get("GPU"), &gpus)) {
        idle.push_back(wid);
        break;
      }
      Worker& w = workers_[wid];
      w.state = Worker::kBusy;
      w.held = demand;
      w.gpu_ids = gpus;
      w.task = queue[i].id;
      available_.Subtract(demand);
      d.dispatches.push_back(Dispatch{wid, queue[i].id, std::move(gpus)});
      queue.erase(queue.begin() + static_cast<long>(i));
      --num_ready_;
    }
  }
  for (auto it = ready_.begin(); it != ready_.end();) {
    it = it->second.empty() ? ready_.erase(it) : std::next(it);
  }
  // The cap is on workers that can run tasks: each actor has its own
  // process, and a worker blocked in get() waits for tasks that need other
  // workers (counting it would let a deep tree of nested tasks block every
  // worker with none left for the leaves, as Ray's pool never does).
  int live = 0;
  for (const auto& [job, n] : starting_) live += n;
  for (const auto& [id, w] : workers_) {
    live += w.state != Worker::kActor && w.state != Worker::kBlocked;
  }
  for (const auto& [job, need] : need_workers) {
    int& starting = starting_[job];
    int to_start = std::min(need - starting, max_workers_ - live);
    if (to_start <= 0) continue;
    starting += to_start;
    live += to_start;
    d.workers_to_start[job] = to_start;
  }
  return d;
}

ResourceSet Scheduler::total() const {
  std::lock_guard<std::mutex> lock(mu_);
  return total_;
}

bool Scheduler::AddPlacementGroup(PlacementGroup group) {
  std::lock_guard<std::mutex> lock(mu_);
  return groups_.Add(std::move(group));
}

void Scheduler::ReservePlacementGroupsLocked(Decisions& d) {
  for (PlacementGroup* g : groups_.Pending()) {
    if (!PlacementGroups::Feasible(*g, total_)) {
      if (warned_.insert("pg:" + g->id_hex).second) {
        d.warnings.push_back("placement group " + g->id_hex + " can never be placed on this "
                             "node (it has " + total_.ToString() + "); it stays pending");
      }
      continue;
    }
    ResourceSet demand = PlacementGroups::Demand(*g);
    if (!available_.Contains(demand)) break;  // oldest first: no overtaking
    available_.Subtract(demand);
    ResourceSet own = PlacementGroups::GroupResources(*g);
    total_.Add(own);
    available_.Add(own);
    g->state = PlacementGroup::kCreated;
  }
}

bool Scheduler::RemovePlacementGroup(const std::string& id_hex, std::vector<WorkerID>* holders) {
  std::lock_guard<std::mutex> lock(mu_);
  PlacementGroup* g = groups_.Find(id_hex);
  if (!g || g->state == PlacementGroup::kRemoved) return false;
  if (g->state == PlacementGroup::kCreated) {
    ResourceSet own = PlacementGroups::GroupResources(*g);
    for (const auto& [name, amount] : own.ToMap()) {
      total_.Erase(name);
      available_.Erase(name);
    }
    available_.Add(PlacementGroups::Demand(*g));
    for (const auto& [id, w] : workers_) {
      if (!w.held.Restricted(own).empty()) holders->push_back(id);
    }
  }
  g->state = PlacementGroup::kRemoved;
  return true;
}

std::vector<PlacementGroup> Scheduler::PlacementGroupTable() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<PlacementGroup> out;
  for (const PlacementGroup* g : groups_.All()) out.push_back(*g);
  return out;
}

ResourceSet Scheduler::available() const {
  std::lock_guard<std::mutex> lock(mu_);
  return available_;
}

size_t Scheduler::num_waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return waiting_.size();
}

size_t Scheduler::num_ready() const {
  std::lock_guard<std::mutex> lock(mu_);
  return num_ready_;
}

size_t Scheduler::num_workers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return workers_.size();
}

}  // namespace miniray
