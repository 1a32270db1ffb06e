// CoreWorker: the per-process client of the node runtime (one in the driver,
// one in each worker process), as Ray's core_worker. It submits tasks, puts
// and gets objects, waits, counts this process's references to objects, and
// on a worker receives the tasks to run.
//
// Requests that expect an answer (Create, Get, Wait, KvGet, Resources) carry
// a request id; answers are matched by it. Get and Wait are split into
// Start / Poll / Cancel so the Python layer can wait in short slices and let
// signal handlers (Ctrl-C, alarms) run in between.
//
// Transport: a worker talks over the node's Unix socket, with a receiver
// thread; the driver calls its in-process node directly (LocalConnection).
#ifndef MINIRAY_CORE_WORKER_CORE_WORKER_H_
#define MINIRAY_CORE_WORKER_CORE_WORKER_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <set>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/buffer.h"
#include "common/id.h"
#include "common/message.h"
#include "common/status.h"
#include "node/node_runtime.h"
#include "object_store/arena.h"

namespace miniray {

// Thread-safe. Invariant that prevents deadlock with an in-process node:
// mu_ is never held while sending to the node (which may answer at once,
// into OnFrame, from under the node's own mutex).
class CoreWorker : public std::enable_shared_from_this<CoreWorker> {
 public:
  // The driver's CoreWorker, attached to the node in this process. The node
  // must outlive it (Shutdown first).
  static std::shared_ptr<CoreWorker> ConnectLocal(NodeRuntime* node);
  // A worker process's CoreWorker: connects, registers, maps the arena.
  static StatusOr<std::shared_ptr<CoreWorker>> Connect(const std::string& address);
  ~CoreWorker();

  const WorkerID& worker_id() const { return worker_id_; }
  const NodeID& node_id() const { return node_id_; }
  bool connected() const { return !disconnected_; }
  // Disconnects; pending and later calls fail with Unavailable.
  void Shutdown();

  // --- tasks and objects -------------------------------------------------
  Status SubmitTask(const TaskSpec& spec);
  Status PutInline(const ObjectID& id, std::string data,
                   std::vector<ObjectID> contained);
  // Reserves `size` bytes of shared memory for `id` and returns a writable
  // view of them (ObjectStoreFull -> ResourceExhausted).
  StatusOr<std::unique_ptr<Buffer>> Create(const ObjectID& id, uint64_t size);
  // Publishes an object written after Create.
  Status Seal(const ObjectID& id, std::vector<ObjectID> contained);

  StatusOr<uint64_t> StartGet(const std::vector<ObjectID>& ids);
  StatusOr<uint64_t> StartWait(const std::vector<ObjectID>& ids, uint32_t num_returns);
  // The answer's payload if it arrived within `timeout_ms`, else nullopt.
  StatusOr<std::optional<std::string>> PollReply(uint64_t request_id, int64_t timeout_ms);
  // Asks the node to answer now (a Get then reports DEADLINE_EXCEEDED if not
  // all objects are ready; a Wait reports what is ready) and returns it.
  StatusOr<std::string> CancelAndTakeReply(uint64_t request_id);
  // A read-only zero-copy view of a shared value from a reply; dropping it
  // releases the value's pin.
  std::unique_ptr<Buffer> MapShared(const ObjectValue& value);

  // References held by this process: the node frees an object once no
  // process, pending task or containing object refers to it.
  void AddOwnedRef(const ObjectID& id);     // created here: node counted it
  void AddBorrowedRef(const ObjectID& id);  // received: tell the node
  void RemoveLocalRef(const ObjectID& id);
  size_t num_local_refs() const;

  // --- key-value table (exported functions) ---------------------------------
  Status KvPut(const std::string& key, std::string value, bool overwrite);
  StatusOr<std::optional<std::string>> KvGet(const std::string& key);
  StatusOr<ResourcesReply> Resources();

  // --- actors ------------------------------------------------------------------
  // Registers the actor (its name, if any) and submits its creation task.
  // The reply names the actor (an existing one with get_if_exists); AlreadyExists
  // when the name is taken. Either way this process now holds a handle ref.
  StatusOr<ActorReply> CreateActor(CreateActorRequest request);
  // NotFound when no live actor has that name in that namespace.
  StatusOr<ActorReply> GetActor(const std::string& name, const std::string& ray_namespace);
  Status KillActor(const ActorID& actor, bool no_restart);
  // Asks the node to cancel the task that creates `object_id`.
  Status CancelTask(const ObjectID& object_id, bool force, bool recursive);
  // Worker side: true (once) if the node asked to cancel `task`.
  bool TakeCancelRequest(const TaskID& task);

  // --- worker side -----------------------------------------------------------
  // The next task to run; nullopt after `timeout_ms`; Unavailable once the
  // node is gone.
  StatusOr<std::optional<ExecuteTask>> NextTask(int64_t timeout_ms);
  // Reports a finished task. Shared returns must have been Create()d; their
  // offset and size are filled in here.
  Status TaskDone(TaskDone done);

 private:
  CoreWorker() = default;
  Status Send(MessageType type, const std::string& payload);
  // Called for every node->client frame (receiver thread, or the node).
  void OnFrame(MessageType type, std::string payload);
  StatusOr<std::string> Call(MessageType type, uint64_t request_id,
                             const std::string& payload);
  void ReceiveLoop();

  WorkerID worker_id_;
  NodeID node_id_;
  std::shared_ptr<Arena> arena_;
  NodeRuntime* node_ = nullptr;             // local mode
  std::shared_ptr<Connection> local_conn_;  // local mode
  int fd_ = -1;                             // socket mode
  std::thread receiver_;                    // socket mode
  std::mutex send_mu_;                      // serializes socket writes
  std::atomic<bool> disconnected_{false};
  std::atomic<uint64_t> next_request_id_{1};
  std::atomic<uint64_t> populated_end_{0};  // arena prefix this process mapped

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<uint64_t, std::string> replies_;  // guarded by mu_
  std::deque<ExecuteTask> tasks_;                      // guarded by mu_
  std::unordered_map<ObjectID, int64_t> local_refs_;   // guarded by mu_
  std::unordered_map<ObjectID, ObjectLocation> creating_;  // guarded by mu_
  std::set<TaskID> cancel_requests_;                   // guarded by mu_
};

}  // namespace miniray

#endif  // MINIRAY_CORE_WORKER_CORE_WORKER_H_
