// CoreWorker: the per-process client of the node runtime (one in the driver,
// one in each worker process), as Ray's core_worker. It submits tasks, puts
// and gets objects, waits, counts this process's references to objects, and
// on a worker receives the tasks to run. Messages are protobuf/node.proto's.
//
// Requests that expect an answer (Create, Get, Wait, KvGet, resources,
// actors) carry a request id; answers are matched by it. Get and Wait are
// split into Start / Poll / Expire so the Python layer can wait in short
// slices and let signal handlers (Ctrl-C, alarms) run in between.
//
// Transport: a NodeChannel (core_worker/node_channel.h): the node's Unix
// socket for workers, an in-process call for the embedded driver.
#ifndef MINIRAY_CORE_WORKER_CORE_WORKER_H_
#define MINIRAY_CORE_WORKER_CORE_WORKER_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/buffer.h"
#include "common/id.h"
#include "common/status.h"
#include "core_worker/node_channel.h"
#include "object_store/arena.h"
#include "object_store/object_store.h"
#include "protobuf/node.pb.h"

namespace miniray {

// Thread-safe. Invariant that prevents deadlock with an in-process node:
// mu_ is never held while sending to the node (which may answer at once,
// into OnMessage, from under the node's own lock).
class CoreWorker : public std::enable_shared_from_this<CoreWorker> {
 public:
  // Connects through `channel` and registers this process.
  static StatusOr<std::shared_ptr<CoreWorker>> Connect(std::unique_ptr<NodeChannel> channel);
  ~CoreWorker();

  const WorkerID& worker_id() const { return worker_id_; }
  const NodeID& node_id() const { return node_id_; }
  const JobID& job_id() const { return job_id_; }
  bool connected() const { return !disconnected_; }
  // Disconnects; pending and later calls fail with Unavailable.
  void Shutdown();

  // --- tasks and objects -------------------------------------------------
  // Submits a task (or actor call) described by `spec`; its task id is
  // assigned here. Returns its return ids, each already referenced by
  // this process.
  StatusOr<std::vector<ObjectID>> SubmitTask(rpc::TaskSpec spec);
  Status PutInline(const ObjectID& id, std::string data, std::vector<ObjectID> contained);
  // Reserves `size` bytes of shared memory for `id` and returns a writable
  // view of them (store full -> ResourceExhausted).
  StatusOr<std::unique_ptr<Buffer>> Create(const ObjectID& id, uint64_t size);
  // Publishes an object written after Create.
  Status Seal(const ObjectID& id, std::vector<ObjectID> contained);

  StatusOr<uint64_t> StartGet(const std::vector<ObjectID>& ids);
  StatusOr<uint64_t> StartWait(const std::vector<ObjectID>& ids, uint32_t num_returns);
  // The answer if it arrived within `timeout_ms` (< 0: forever), else nullopt.
  StatusOr<std::optional<rpc::NodeMessage>> PollReply(uint64_t request_id, int64_t timeout_ms);
  // Asks the node to answer now (a Get then reports timed_out unless every
  // object is ready; a Wait reports what is ready) and returns the answer.
  StatusOr<rpc::NodeMessage> ExpireAndTakeReply(uint64_t request_id);
  // A read-only zero-copy view of a shared value from a reply; dropping it
  // releases the value's pin. Unavailable after Shutdown.
  StatusOr<std::unique_ptr<Buffer>> MapShared(const rpc::ObjectValue& value);

  // References held by this process: the node frees an object once no
  // process, pending task or containing object refers to it.
  void AddOwnedRef(const ObjectID& id);     // created here: node counted it
  void AddBorrowedRef(const ObjectID& id);  // received: tell the node
  // A reference to an object that may not exist yet (a generator's next
  // item): the node makes it pending, so Get/Wait wait for it.
  void ExpectObject(const ObjectID& id);
  void RemoveLocalRef(const ObjectID& id);
  size_t num_local_refs() const;

  // --- key-value table (exported functions) ------------------------------
  Status KvPut(const std::string& key, std::string value, bool overwrite);
  StatusOr<std::optional<std::string>> KvGet(const std::string& key);
  StatusOr<rpc::GetResourcesReply> Resources();

  // --- actors ---------------------------------------------------------------
  // Registers the actor whose creation task is `creation` (actor and task
  // ids are assigned here) and submits that task. The reply names the actor
  // (an existing one with get_if_exists); AlreadyExists when the name is
  // taken. Either way this process now holds a handle reference.
  StatusOr<rpc::ActorReply> CreateActor(rpc::TaskSpec creation, bool get_if_exists);
  // NotFound when no live actor has that name in that namespace.
  StatusOr<rpc::ActorReply> GetActor(const std::string& name, const std::string& ray_namespace);
  Status KillActor(const ActorID& actor, bool no_restart);
  // Placement groups: reserve (the group is pending until it fits), remove,
  // and the node's table of them.
  Status CreatePlacementGroup(rpc::CreatePlacementGroupRequest request);
  Status RemovePlacementGroup(const std::string& placement_group_id);
  StatusOr<rpc::PlacementGroupTableReply> PlacementGroupTable();
  // The node's state (the state API, the CLI, the dashboard).
  StatusOr<rpc::StateReply> GetState(const rpc::GetStateRequest& request);
  // Live named actors in `ray_namespace`, or in every namespace.
  StatusOr<rpc::NamedActorsReply> ListNamedActors(const std::string& ray_namespace,
                                                  bool all_namespaces);
  // Asks the node to cancel the task that creates `object_id`.
  Status CancelTask(const ObjectID& object_id, bool force, bool recursive);
  // Worker side: true (once) if the node asked to cancel `task`.
  bool TakeCancelRequest(const TaskID& task);
  // Worker side: once a cancel request for a task that is no longer queued
  // here is recorded, send `signo` to this process's main thread (0: none).
  // Its handler interrupts the task if it is running; a task about to start
  // finds the request (recorded first) before it runs. So the request and
  // the interrupt cannot miss each other, as a signal from the node could.
  void SetCancelSignal(int signo) { cancel_signal_ = signo; }
  // Worker side: whether a cancel request for `task` is recorded (and not
  // taken yet): get_runtime_context().is_canceled().
  bool CancelRequested(const TaskID& task) const;
  // Worker side, for async actors (whose main thread waits in NextTask):
  // from now on each recorded request is also a notice NextCancelNotice
  // returns, so a watcher can cancel the call on the event loop.
  void EnableCancelNotices();
  // The next notice; nullopt after `timeout_ms` (< 0: forever) or once the
  // node is gone.
  std::optional<TaskID> NextCancelNotice(int64_t timeout_ms);

  // --- worker side ------------------------------------------------------------
  // The next task to run; nullopt after `timeout_ms`; Unavailable once the
  // node is gone.
  StatusOr<std::optional<rpc::ExecuteTaskRequest>> NextTask(int64_t timeout_ms);
  // Reports a finished task. Shared returns must have been Create()d; their
  // locations are filled in here.
  Status TaskDone(rpc::TaskResult result);

 private:
  CoreWorker() = default;
  Status Send(rpc::ClientMessage&& message);
  // Sends a request and waits for its answer.
  StatusOr<rpc::NodeMessage> Call(rpc::ClientMessage&& message);
  // Every message from the node (the channel's thread, or the node).
  void OnMessage(rpc::NodeMessage&& message);

  // The node's arena while connected (null after Shutdown: zero-copy views
  // keep their own reference, so an old session's memory is unmapped once
  // the last view goes, whatever ObjectRefs remain).
  std::shared_ptr<Arena> arena() const;

  WorkerID worker_id_;
  NodeID node_id_;
  JobID job_id_;
  std::shared_ptr<Arena> arena_;  // guarded by mu_
  std::unique_ptr<NodeChannel> channel_;
  std::atomic<bool> disconnected_{false};
  std::atomic<uint64_t> next_request_id_{1};
  std::atomic<uint64_t> populated_end_{0};  // arena prefix this process touched

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<uint64_t, rpc::NodeMessage> replies_;  // guarded by mu_
  std::deque<rpc::ExecuteTaskRequest> tasks_;               // guarded by mu_
  std::unordered_map<ObjectID, int64_t> local_refs_;        // guarded by mu_
  std::unordered_map<ObjectID, ObjectLocation> creating_;   // guarded by mu_
  std::set<TaskID> cancel_requests_;                        // guarded by mu_
  // Tasks handed to this process and not reported done: when each was
  // handed over (its start time in TaskResult).
  std::unordered_map<TaskID, int64_t> started_us_;          // guarded by mu_
  std::atomic<int> cancel_signal_{0};
  bool cancel_notices_enabled_ = false;                     // guarded by mu_
  std::deque<TaskID> cancel_notices_;                       // guarded by mu_
};

}  // namespace miniray

#endif  // MINIRAY_CORE_WORKER_CORE_WORKER_H_
