// NodeRuntime: the per-node runtime (Ray's raylet plus the object store's
// server). It wires together the node's components and serves its clients:
//
//   ObjectTable   objects, references, pins, Get/Wait, spilling
//   TaskManager   accepted tasks, retries, failures, cancel order
//   TaskEventTable  each task's states and times, kept after it ends
//   ActorManager  actors, names, restarts, ordered calls
//   Scheduler     which task runs on which worker, when to start workers
//   WorkerPool    worker processes: launch, registration, reaping
//   KvStore       exported functions
//
// NodeRuntime itself keeps the event loop, decodes and dispatches messages
// (protobuf/node.proto), and carries out what the components decide.
//
// Clients: worker processes (and attached drivers) over a Unix socket
// served by the event-loop thread; the embedded driver in-process through
// ConnectLocal (no syscalls, no serialization). miniray.init() starts one
// node inside the driver process; the same class can run as a daemon.
//
// Threads and locking: one mutex (mu_) guards every component; the event
// loop and the in-process client take it per batch of messages. No socket
// write ever happens under mu_: replies are queued on each connection and
// written after the lock is released (or when the socket has room again,
// on EPOLLOUT), so a client that stops reading holds back no one. A client
// whose queued replies exceed the configured bound is disconnected.
#ifndef MINIRAY_NODE_NODE_RUNTIME_H_
#define MINIRAY_NODE_NODE_RUNTIME_H_

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/id.h"
#include "common/status.h"
#include "common/task_spec.h"
#include "node/actor_manager.h"
#include "node/kv_store.h"
#include "node/object_table.h"
#include "node/task_event_table.h"
#include "node/task_manager.h"
#include "node/worker_pool.h"
#include "object_store/object_store.h"
#include "protobuf/gcs.pb.h"
#include "protobuf/node.pb.h"
#include "scheduler/scheduler.h"

namespace miniray {

struct NodeStats {
  size_t num_objects = 0;        // entries in the object table
  size_t num_store_objects = 0;  // objects in shared memory
  uint64_t store_used = 0;       // bytes allocated in shared memory
  uint64_t store_capacity = 0;
  size_t num_workers = 0;        // registered worker processes
  size_t num_pending_tasks = 0;  // accepted, not finished
  size_t num_spilled = 0;        // objects on disk, not in shared memory
};

// One client of the node, as the node sees it. Its fields are guarded by
// the node's lock.
class ClientConnection {
 public:
  explicit ClientConnection(ClientId id) : id(id) {}
  virtual ~ClientConnection() = default;
  // Queues a message for the client; called with the node's lock held,
  // never blocks. A socket client serializes it (leaving it as it was);
  // the in-process client takes it.
  virtual void Send(rpc::NodeMessage&& message) = 0;
  // Sends with a file descriptor attached (the arena's, at registration):
  // only socket clients can receive one, so only they may register.
  virtual bool can_pass_fds() const { return false; }
  virtual void SendWithFd(const rpc::NodeMessage& message, int fd) {}
  // The embedded driver's connection (no socket, no registration).
  virtual bool in_process() const { return false; }

  const ClientId id;
  bool registered = false;
  rpc::ClientKind kind = rpc::DRIVER;
  JobID job;  // a driver's own job; a worker's, the job it runs tasks of
  WorkerID worker_id;
  pid_t pid = 0;        // from the socket's peer credentials; 0 in-process
  TaskID running_task;  // a task worker's task: the parent of what it submits
};

class NodeRuntime {
 public:
  static StatusOr<std::unique_ptr<NodeRuntime>> Start(rpc::NodeConfig config);
  ~NodeRuntime();
  NodeRuntime(const NodeRuntime&) = delete;
  NodeRuntime& operator=(const NodeRuntime&) = delete;

  // Kills the workers, closes every socket, drops every object (the arena
  // is unmapped once nothing maps it). Idempotent.
  void Stop();

  const std::string& socket_name() const { return socket_name_; }
  const NodeID& node_id() const { return node_id_; }
  // The shared-memory arena; null once stopped (the node lets go of it then:
  // it stays mapped only while zero-copy views of it live).
  std::shared_ptr<Arena> arena() const;

  // The in-process client: `deliver` receives the node's messages for it,
  // synchronously, with the node's lock held (so it must not call back).
  using Deliver = std::function<void(rpc::NodeMessage&&)>;
  std::shared_ptr<ClientConnection> ConnectLocal(Deliver deliver);
  // A message from `conn` (the in-process client's path). An invalid one
  // changes nothing and is logged.
  void Handle(ClientConnection* conn, rpc::ClientMessage&& message);
  // `conn` went away: its references, pins and waits go; its task, if it
  // was a worker, is retried or fails.
  void Disconnect(ClientConnection* conn);

  NodeStats Stats() const;

  // The node's runtime messages (warnings such as an infeasible task) go
  // to stderr, or, enabled, to a process-wide queue (the last 1,000 lines)
  // that TakeLogs empties: miniray's Python side logs them with `logging`.
  static void QueueLogs(bool enable);
  static std::vector<std::string> TakeLogs();

  // What this node reports to the GCS: its resources (the daemon adds its
  // address and the rest of its row), its jobs and actors, and the
  // key-value entries written since the last snapshot.
  rpc::NodeSnapshot Snapshot();

 private:
  // A driver's job: the environment its workers start with.
  struct Job {
    std::vector<std::string> worker_env;
    ClientId driver = 0;  // 0: the in-process driver
    bool alive = true;
    int32_t driver_pid = 0;
    int64_t start_time_ms = 0;
    int64_t end_time_ms = 0;
    std::string ray_namespace, entrypoint;
  };
  class SocketConnection;
  class LocalConnection;
  class Locked;
  // A worker whose socket closed, waiting to learn how its process ended.
  struct Closing {
    ClientId client;
    std::chrono::steady_clock::time_point deadline;
  };

  explicit NodeRuntime(rpc::NodeConfig config);
  static void Log(const std::string& line);  // to stderr, "(miniray) ..."
  // With mu_ held: a line written once the lock is released, at most
  // kLogBurst lines per kLogWindow (a flood of bad messages is summed up).
  void LogLimited(const std::string& line);
  Status Init();

  // Event loop (its own thread).
  void EventLoop();
  void AcceptClients();
  void ReadClient(const std::shared_ptr<SocketConnection>& conn);
  void ClientClosed(const std::shared_ptr<SocketConnection>& conn, const std::string& why);
  void LaunchWorkers();
  void ChildExited(pid_t pid);
  void WorkerStderr(pid_t pid);
  void OnTick();

  // All below: call with mu_ held.
  void SettleLocked();  // applies events_ and scheduling until quiet
  void ApplyLocked(ObjectEvents& events);
  // Validates and acts on one message; a non-OK status means the message
  // broke the protocol (nothing was changed) and the client is cut off.
  Status HandleLocked(ClientConnection* conn, rpc::ClientMessage&& m);
  void DisconnectLocked(ClientConnection* conn, const std::string& cause);
  void RegisterLocked(ClientConnection* conn, const rpc::RegisterClientRequest& m);
  Status SubmitTaskLocked(ClientConnection* conn, rpc::TaskSpec&& m);
  Status TaskDoneLocked(ClientConnection* conn, rpc::TaskResult&& m);
  // Workers cannot be started (the environment is broken): the tasks that
  // wait for one fail with RuntimeEnvSetupError instead of waiting forever.
  void FailTasksWaitingForWorkersLocked(const JobID& job, const std::string& why);
  void CreateActorLocked(ClientConnection* conn, uint64_t request_id,
                         rpc::CreateActorRequest&& m);
  void GetActorLocked(ClientConnection* conn, uint64_t request_id,
                      const rpc::GetActorRequest& m);
  void CreatePlacementGroupLocked(ClientConnection* conn,
                                  const rpc::CreatePlacementGroupRequest& m);
  void RemovePlacementGroupLocked(const PlacementGroupID& id);
  void PlacementGroupTableLocked(ClientConnection* conn, uint64_t request_id);
  // The state API's rows: tasks, workers, objects, with the snapshot.
  void GetStateLocked(ClientConnection* conn, uint64_t request_id,
                      const rpc::GetStateRequest& m);
  // The node, its jobs and actors; and with `take_kv`, the key-value
  // entries written since the last snapshot that took them.
  rpc::NodeSnapshot SnapshotLocked(bool take_kv);
  void HoldGeneratorItemLocked(ClientConnection* conn, const ObjectID& item);
  // A task's resources by name, rewritten to its placement group's own if
  // it is placed in one (placement_groups.h).
  static ResourceSet DemandOf(const TaskSpecification& spec,
                              const google::protobuf::Map<std::string, double>& amounts);
  void CancelTaskLocked(const rpc::CancelTaskRequest& m);
  void CancelOneLocked(const TaskID& task, bool force);
  void ScheduleLocked();
  void DispatchLocked(const Dispatch& d);
  void SendTaskLocked(ClientConnection* worker, const TaskEntry& task,
                      std::vector<int64_t> gpu_ids);
  // Queues an accepted task (new, retried, or an actor's restart) for a
  // worker, and records it in the task events.
  void SubmitToSchedulerLocked(const TaskEntry& task);
  void FinishTaskLocked(const TaskID& id);
  void FailTaskLocked(const TaskID& id, rpc::ErrorType type, const std::string& message);
  void FlushActorLocked(const ActorID& id);
  void ActorWorkerDiedLocked(const WorkerID& worker, const std::string& cause);
  void MarkActorDeadLocked(const ActorID& id, const std::string& cause);
  void StopActorWorkerLocked(const ActorID& id);
  void ActorHandlesGoneLocked(const ActorID& id);
  void SignalWorkerLocked(const WorkerID& worker, int signal);
  void SendLocked(ClientId client, rpc::NodeMessage message);
  ClientConnection* WorkerClientLocked(const WorkerID& worker);
  // Starts a job (a driver attached); its workers are started on demand.
  JobID StartJobLocked(Job job);
  // The driver of `job` went away: its tasks are cancelled, its workers
  // and non-detached actors stopped; detached actors live on.
  void EndJobLocked(const JobID& job);
  void LaunchForJobLocked(const JobID& job, int n);

  const rpc::NodeConfig config_;
  const NodeID node_id_;
  std::string socket_name_;
  std::shared_ptr<ObjectStore> store_;  // reset by Stop (under mu_)
  int listen_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: wakes the event loop to launch workers or stop
  int epoll_fd_ = -1;
  std::thread loop_;
  std::atomic<bool> stopping_{false};
  std::atomic<ClientId> next_client_id_{1};

  mutable std::mutex mu_;
  bool stopped_ = false;                                   // guarded by mu_
  Scheduler scheduler_;                                    // guarded by mu_
  std::unique_ptr<ObjectTable> objects_;                   // guarded by mu_
  TaskManager tasks_;                                      // guarded by mu_
  TaskEventTable task_events_;                             // guarded by mu_
  ActorManager actors_;                                    // guarded by mu_
  WorkerPool pool_;                                        // guarded by mu_ (but Launch)
  KvStore kv_;                                             // guarded by mu_
  std::unordered_map<ClientId, std::shared_ptr<ClientConnection>> clients_;  // mu_
  std::unordered_map<WorkerID, ClientId> worker_clients_;  // guarded by mu_
  std::unordered_map<pid_t, Closing> closing_;             // guarded by mu_
  // Connections with bytes queued since the lock was taken: written by
  // whoever releases the lock (see Locked).
  std::vector<std::shared_ptr<SocketConnection>> dirty_;   // guarded by mu_
  ObjectEvents events_;                                    // guarded by mu_
  bool schedule_needed_ = false;                           // guarded by mu_
  std::vector<std::string> pending_logs_;                  // guarded by mu_
  std::chrono::steady_clock::time_point log_window_;       // guarded by mu_
  int logs_in_window_ = 0;                                 // guarded by mu_
  int logs_suppressed_ = 0;                                // guarded by mu_
  std::map<JobID, int> launch_pending_;  // workers to launch; guarded by mu_
  std::map<JobID, Job> jobs_;                              // guarded by mu_
  uint32_t next_job_ = 1;                                  // guarded by mu_
  JobID local_job_;  // the in-process driver's (nil for a daemon); mu_
  std::chrono::steady_clock::time_point last_trim_;        // guarded by mu_
};

}  // namespace miniray

#endif  // MINIRAY_NODE_NODE_RUNTIME_H_
