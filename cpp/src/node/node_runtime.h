// NodeRuntime: the per-node runtime (Ray's raylet plus the object store's
// server). It owns the shared-memory ObjectStore, the Scheduler, the object
// table with reference counts, a small key-value table (exported functions),
// and the worker processes. Clients reach it through a Connection: worker
// processes over a Unix socket served by the runtime's event-loop thread,
// the driver in-process through a LocalConnection (no syscalls).
//
// miniray.init() starts one inside the driver process: no daemon, so start
// up is fast. The same class would run as a standalone daemon per machine.
//
// Thread-safety: one mutex (mu_) guards all of its state; the event loop
// and the local client take it per batch of frames. The implementation is
// split by concern: node_runtime.cc (life cycle, event loop, processes,
// message dispatch), node_tasks.cc, node_objects.cc (object table, Get/Wait,
// pins, spilling) and node_actors.cc.
#ifndef MINIRAY_NODE_NODE_RUNTIME_H_
#define MINIRAY_NODE_NODE_RUNTIME_H_

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/id.h"
#include "common/message.h"
#include "common/status.h"
#include "object_store/object_store.h"
#include "object_store/spill_file.h"
#include "scheduler/scheduler.h"

namespace miniray {

struct NodeOptions {
  std::vector<ResourceDemand> resources;  // totals: CPU, GPU, custom
  uint64_t object_store_memory = 256ull << 20;
  int prestart_workers = 0;
  int max_workers = 64;
  // The worker command; "--address=<socket name>" is appended.
  std::vector<std::string> worker_argv;
  std::vector<std::string> worker_env;  // "KEY=VALUE", the whole environment
  // Where objects go when shared memory is full (unnamed files).
  std::string spill_dir = "/tmp";
};

struct NodeStats {
  size_t num_objects = 0;         // entries in the object table
  size_t num_store_objects = 0;   // objects in shared memory
  uint64_t store_used = 0;        // bytes allocated in shared memory
  uint64_t store_capacity = 0;
  size_t num_workers = 0;
  size_t num_pending_tasks = 0;   // submitted, not finished
  size_t num_spilled = 0;         // objects on disk, not in shared memory
};

// One client of the node. Its bookkeeping is guarded by the node's mutex.
class Connection {
 public:
  virtual ~Connection() = default;
  // Delivers a node->client frame. Called with the node's mutex held.
  virtual void Send(MessageType type, const std::string& payload) = 0;

 private:
  friend class NodeRuntime;
  bool registered_worker = false;
  WorkerID worker_id;
  pid_t pid = 0;
  int blocked_requests = 0;  // Gets/Waits in progress
  TaskID running_task;       // a task worker's current task (parent of what it submits)
  std::unordered_map<ObjectID, int64_t> refs;  // references it holds
  std::unordered_map<ObjectID, int64_t> pins;  // shared values it maps
  std::set<ObjectID> creating;                 // created, not yet sealed
};

class NodeRuntime {
 public:
  static StatusOr<std::unique_ptr<NodeRuntime>> Start(NodeOptions options);
  ~NodeRuntime();
  NodeRuntime(const NodeRuntime&) = delete;
  NodeRuntime& operator=(const NodeRuntime&) = delete;

  // Kills the workers, closes every socket, frees the arena (once nothing
  // maps it). Idempotent.
  void Stop();

  const std::string& socket_name() const { return socket_name_; }
  const NodeID& node_id() const { return node_id_; }
  const std::shared_ptr<Arena>& arena() const { return store_->arena(); }

  // The in-process client: `deliver` receives the node's frames for it,
  // synchronously, with the node's mutex held (so it must not call back).
  using Deliver = std::function<void(MessageType, std::string)>;
  std::shared_ptr<Connection> ConnectLocal(Deliver deliver);
  // A client->node frame from `conn` (the local client's path).
  void Handle(Connection* conn, MessageType type, std::string_view payload);
  // `conn` went away: drop its references, pins, waits; fail or retry its
  // task if it was a worker.
  void Disconnect(Connection* conn);

  NodeStats Stats() const;

 private:
  struct ObjectEntry {
    bool ready = false;
    ObjectValue value;  // set when ready (kInline, kShared or kError)
    int64_t refs = 0;   // handles + task arguments + containing objects
    // A kShared value moved to disk to make room; restored when read.
    std::unique_ptr<SpillFile> spilled;
  };
  struct PendingRequest {
    Connection* conn;
    uint64_t request_id;
    bool is_wait;
    std::vector<ObjectID> ids;
    uint32_t num_returns;  // for waits
    size_t remaining;      // ids not ready yet
    bool blocked;          // counted in conn->blocked_requests
  };
  struct TaskState {
    TaskSpec spec;
    WorkerID worker;    // the worker running it, if dispatched
    bool cancelled = false;  // ray.cancel() reached it while it ran
  };
  // An actor: its creation task (kept for restarts, with its arguments
  // alive), its dedicated worker, and the calls waiting for or running on it.
  struct ActorState {
    enum State { kPending, kAlive, kRestarting, kDead } state = kPending;
    TaskSpec creation;
    int32_t restarts_left = 0;  // -1: forever
    bool detached = false;
    std::string name, ray_namespace, metadata;
    Connection* worker = nullptr;
    std::deque<TaskID> queue;  // submitted, not sent yet, in order
    std::deque<TaskID> inflight;  // sent to the worker, in order
    std::string death_cause;    // why it died (for ActorDiedError)
    bool killed = false;        // miniray.kill()
    bool no_restart = false;
    bool exiting = false;       // exit_actor() / __ray_terminate__
    bool handles_gone = false;  // no handle refers to it any more
  };
  class SocketConnection;

  explicit NodeRuntime(NodeOptions options);
  static void Log(const std::string& line);  // to stderr, "(miniray) ..."
  Status Init();
  void EventLoop();
  void SpawnWorkersLocked(int n);
  void TrimIdleWorkersLocked();
  void SpawnOne();

  // All below: call with mu_ held.
  void HandleLocked(Connection* conn, MessageType type, std::string_view payload);
  void DisconnectLocked(Connection* conn, const std::string& cause);
  void OnRegister(Connection* conn, const Register& m);
  void OnSubmitTask(Connection* conn, TaskSpec spec);
  void OnTaskDone(Connection* conn, TaskDone m);
  void OnPut(Connection* conn, ObjectValue v);
  void OnCreate(Connection* conn, const CreateRequest& m);
  void OnSeal(Connection* conn, ObjectValue v);
  void OnGet(Connection* conn, GetRequest m);
  void OnWait(Connection* conn, WaitRequest m);
  void OnCancel(Connection* conn, const Cancel& m);
  void OnRefDelta(Connection* conn, const RefDelta& m);
  void OnRelease(Connection* conn, const IdList& m);
  void OnCreateActor(Connection* conn, CreateActorRequest m);
  void OnGetActor(Connection* conn, const GetActorRequest& m);
  void OnKillActor(const KillActor& m);
  void OnCancelTask(const CancelTask& m);

  // Actors (mu_ held).
  void HandleRefForClientLocked(Connection* conn, const ActorID& actor);
  void FlushActorLocked(const ActorID& id, ActorState& actor);
  void ActorWorkerDiedLocked(const ActorID& id, ActorState& actor, const std::string& cause);
  void ActorDeadLocked(const ActorID& id, ActorState& actor, const std::string& cause);
  void ActorHandlesGoneLocked(const ActorID& id);
  void StopActorWorkerLocked(ActorState& actor);
  void ReleaseSpecRefsLocked(const TaskSpec& spec);

  void StoreValueLocked(ObjectValue v);  // makes an object ready
  // Reserves shared memory, spilling unpinned objects to disk if needed.
  StatusOr<ObjectLocation> CreateObjectLocked(const ObjectID& id, uint64_t size);
  bool SpillOneLocked();
  Status RestoreLocked(const ObjectID& id, ObjectEntry& entry);
  void StoreReturnsLocked(Connection* conn, std::vector<ObjectValue> returns);
  void AddRequestLocked(PendingRequest r);
  std::vector<ObjectID> MissingDependenciesLocked(const TaskSpec& spec) const;
  void HoldSpecRefsLocked(const TaskSpec& spec);
  void AddRefLocked(const ObjectID& id, int64_t n = 1);
  void RemoveRefLocked(const ObjectID& id, int64_t n = 1);
  void MaybeFreeLocked(const ObjectID& id);
  void FinishTaskLocked(const TaskID& task_id);
  void FailTaskLocked(const TaskState& task, ErrorType error,
                      const std::string& message);
  void ResubmitLocked(TaskSpec spec);
  ObjectValue ValueForClientLocked(Connection* conn, const ObjectID& id);
  void ReplyLocked(uint64_t key, bool cancelled);
  void ScheduleLocked();
  void BlockLocked(Connection* conn);

  const NodeOptions options_;
  const NodeID node_id_;
  std::string socket_name_;
  std::shared_ptr<ObjectStore> store_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: wakes the event loop to spawn/stop
  int epoll_fd_ = -1;
  std::thread loop_;
  std::atomic<bool> stopping_{false};

  mutable std::mutex mu_;
  Scheduler scheduler_;
  std::unordered_map<ObjectID, ObjectEntry> objects_;  // guarded by mu_
  std::unordered_map<TaskID, TaskState> tasks_;        // guarded by mu_
  std::unordered_map<WorkerID, Connection*> workers_;  // guarded by mu_
  std::unordered_map<uint64_t, PendingRequest> requests_;  // guarded by mu_
  std::unordered_map<ObjectID, std::vector<uint64_t>> object_waiters_;  // mu_
  uint64_t next_request_key_ = 1;                      // guarded by mu_
  std::unordered_map<std::string, std::string> kv_;    // guarded by mu_
  std::unordered_map<ActorID, ActorState> actors_;     // guarded by mu_
  std::map<std::pair<std::string, std::string>, ActorID> actor_names_;  // mu_
  std::unordered_map<WorkerID, ActorID> actor_of_worker_;  // guarded by mu_
  std::set<ActorID> actors_waiting_;  // queue head awaits an object; mu_
  // Unfinished tasks -> the tasks they submitted (for recursive cancel); mu_
  std::unordered_map<TaskID, std::vector<TaskID>> submitted_by_;
  std::vector<std::shared_ptr<Connection>> connections_;  // guarded by mu_
  int spawn_pending_ = 0;                              // guarded by mu_
  std::chrono::steady_clock::time_point last_trim_;    // guarded by mu_
  std::unordered_map<pid_t, bool> children_;  // pid -> alive; guarded by mu_
  std::unordered_map<pid_t, int> exited_;  // reaped, exit status; guarded by mu_
};

}  // namespace miniray

#endif  // MINIRAY_NODE_NODE_RUNTIME_H_
