// ActorManager: the actors of this node (Ray's GcsActorManager and the
// actor part of its raylet, for one node): their names per namespace, their
// state (pending placement, alive, restarting, dead), the worker dedicated
// to each, and each actor's calls, queued and sent, in submission order.
//
// It decides when an actor restarts or dies and why (the text users see in
// ActorDiedError), and what becomes of its calls; the node carries that out
// (processes, objects, the task table).
//
// Thread-safety: none; the node's lock guards it.
#ifndef MINIRAY_NODE_ACTOR_MANAGER_H_
#define MINIRAY_NODE_ACTOR_MANAGER_H_

#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/id.h"
#include "common/status.h"
#include "common/task_spec.h"

namespace miniray {

struct ActorEntry {
  enum State { kPending, kAlive, kRestarting, kDead };
  State state = kPending;
  // Its creation task, kept (with its arguments alive) for restarts.
  TaskSpecification creation;
  int32_t restarts_left = 0;  // -1: forever
  int32_t num_restarts = 0;
  WorkerID worker;            // nil while not placed
  std::deque<TaskID> queue;     // submitted, not sent yet, in order
  // Priorities of queued calls that have one (a miniray extension): a call
  // is queued ahead of calls of lower priority.
  std::unordered_map<TaskID, int32_t> priorities;
  std::deque<TaskID> inflight;  // sent to the worker, in order
  std::string death_cause;      // why it died (for ActorDiedError)
  bool killed = false;          // miniray.kill()
  bool no_restart = false;
  bool exiting = false;       // exit_actor() / __ray_terminate__
  bool handles_gone = false;  // no handle refers to it any more

  const rpc::ActorCreationTaskSpec& options() const {
    return creation.message().actor_creation_task_spec();
  }
};

// What follows from an actor's worker dying.
struct ActorRestart {
  ActorID actor;
  bool restart = false;  // else the actor is dead (see ActorDeath)
  std::string why;
  // Calls that were running: the node retries each within its budget (it
  // goes back to the queue's front, in order) or fails it.
  std::vector<TaskID> interrupted;
};

// What follows from an actor's death.
struct ActorDeath {
  std::string cause;
  std::vector<TaskID> doomed;   // calls queued or running: they fail
  TaskSpecification creation;   // its arguments are released
};

class ActorManager {
 public:
  // Registers the actor whose creation task this is. With a name already
  // taken in its namespace: the existing actor (get_if_exists), else
  // AlreadyExists. `*created` says which.
  StatusOr<ActorID> Register(const TaskSpecification& creation, bool get_if_exists,
                             bool* created);
  // NotFound when no live actor has the name in the namespace.
  StatusOr<ActorID> Lookup(const std::string& name, const std::string& ray_namespace) const;
  // (namespace, name) of each live named actor, in `ray_namespace` only
  // unless it is empty.
  std::vector<std::pair<std::string, std::string>> NamedActors(
      const std::string& ray_namespace) const;
  ActorEntry* Find(const ActorID& id);
  // The actor that `worker` is dedicated to, if any.
  ActorID ActorOf(const WorkerID& worker) const;

  // Its creation task was dispatched to `worker`. False if the actor died
  // meanwhile (the worker is not taken).
  bool Placed(const ActorID& id, const WorkerID& worker);
  // Its constructor returned: calls may be sent.
  void Created(const ActorID& id);

  // Queues a call; FailedPrecondition with the death cause if it is dead,
  // NotFound if there is no such actor.
  Status Enqueue(const ActorID& id, const TaskID& call, int32_t priority = 0);
  // Moves the calls that may be sent now from the queue to in-flight, in
  // order: none while the actor is not alive; the first call whose
  // arguments are not ready (`ready` says) holds back the later ones.
  std::vector<TaskID> TakeSendable(const ActorID& id,
                                   const std::function<bool(const TaskID&)>& ready);
  // Actors whose queue is held back by a call's arguments.
  std::vector<ActorID> Waiting() const { return {waiting_.begin(), waiting_.end()}; }
  // A call ended (or was dropped by the worker). True when the actor should
  // now stop: its handles are gone and it has nothing left to run.
  bool CallEnded(const ActorID& id, const TaskID& call, bool exiting);
  // Removes a call still queued (cancel); false if it is not queued.
  bool DropQueued(const ActorID& id, const TaskID& call);

  // The worker dedicated to an actor died. Unless the actor is dead
  // already (or moved on to another worker: nullopt), it restarts unless
  // killed for good, exiting, without handles, or out of restarts; the
  // restarting actor's queue keeps its calls (the node puts back the
  // interrupted ones it retries).
  std::optional<ActorRestart> WorkerDied(const WorkerID& worker, const std::string& cause);
  void Requeue(const ActorID& id, const std::vector<TaskID>& calls);  // at the front, in order
  // The actor is dead: its name is free again.
  ActorDeath MarkDead(const ActorID& id, const std::string& cause);
  // miniray.kill(): true when its worker must be stopped (the worker's
  // death then decides restart or death); else, with no_restart, it is dead
  // now (`death` filled).
  bool Kill(const ActorID& id, bool no_restart, bool* dead_now);
  // Its last handle went. kStopWorker: stop it now; kDead: it never got a
  // worker and is dead now; kNothing: detached, dead, or calls still to run.
  enum class HandlesGoneAction { kNothing, kStopWorker, kDead };
  HandlesGoneAction HandlesGone(const ActorID& id);

  size_t size() const { return actors_.size(); }
  // The actors created by a job's tasks (or driver).
  std::vector<ActorID> OfJob(const JobID& job) const;
  // Every actor, for the GCS's actor table.
  const std::unordered_map<ActorID, ActorEntry>& all() const { return actors_; }

 private:
  std::unordered_map<ActorID, ActorEntry> actors_;
  std::map<std::pair<std::string, std::string>, ActorID> names_;  // (namespace, name)
  std::unordered_map<WorkerID, ActorID> actor_of_worker_;
  std::set<ActorID> waiting_;
};

}  // namespace miniray

#endif  // MINIRAY_NODE_ACTOR_MANAGER_H_
