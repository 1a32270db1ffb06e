// ObjectTable: the node's table of objects (Ray's reference counter and
// object directory for one node, plus plasma's per-client bookkeeping).
//
// Every object a process can name has an entry: pending (a task will make
// it) or ready (inline bytes, a place in the shared arena, a spill file, or
// an error). An entry lives while something refers to it: handles held by
// clients, a pending task's arguments, an object that contains it. When
// the last reference goes the entry and its shared memory are freed (the
// memory is reused once no client maps it any more).
//
// It also answers Get and Wait requests, counts the pins clients hold on
// shared values they map, and when the arena is full moves shared values
// that nobody maps to unnamed files, reading them back on demand.
//
// Clients are named by a ClientId the node assigns; the table keeps, per
// client, the references and pins it holds and the objects it is writing,
// so a client that goes away (DropClient) leaves nothing behind.
//
// Thread-safety: none; the node's lock guards it. It never calls out: what
// its callers must act on comes back in ObjectEvents.
#ifndef MINIRAY_NODE_OBJECT_TABLE_H_
#define MINIRAY_NODE_OBJECT_TABLE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/id.h"
#include "common/status.h"
#include "object_store/object_store.h"
#include "object_store/spill_file.h"
#include "protobuf/node.pb.h"

namespace miniray {

using ClientId = uint64_t;

// What the node must do after an ObjectTable call; calls append to it.
struct ObjectEvents {
  // Answers to Get/Wait requests, to send to their clients.
  std::vector<std::pair<ClientId, rpc::NodeMessage>> replies;
  // Objects that became ready: tasks and actor calls waiting on them may run.
  std::vector<ObjectID> ready;
  // Actors whose handle object lost its last reference.
  std::vector<ActorID> handles_gone;
  // Clients whose Get/Wait now waits (a blocked worker lends its CPU), and
  // clients whose last waiting Get/Wait was answered.
  std::vector<ClientId> blocked;
  std::vector<ClientId> unblocked;

  bool empty() const {
    return replies.empty() && ready.empty() && handles_gone.empty() && blocked.empty() &&
           unblocked.empty();
  }
};

struct ObjectTableStats {
  size_t num_objects = 0;  // entries
  size_t num_spilled = 0;  // on disk, not in shared memory
  uint64_t spilled_bytes = 0;
  size_t num_requests = 0;  // Get/Wait requests still waiting
};

class ObjectTable {
 public:
  ObjectTable(std::shared_ptr<ObjectStore> store, std::string spill_dir);
  ~ObjectTable();
  ObjectTable(const ObjectTable&) = delete;
  ObjectTable& operator=(const ObjectTable&) = delete;

  // --- references ------------------------------------------------------
  // An object a task will make (a return): a pending entry with one
  // reference, held by `owner` (the submitter's handle).
  void AddPendingObject(ClientId owner, const ObjectID& id);
  // One more reference to the actor's handle object, held by `client`.
  void AddActorHandleRef(ClientId client, const ActorID& actor);
  // References held by a task (its arguments) rather than a client.
  void AddReferences(const std::vector<ObjectID>& ids);
  void RemoveReferences(const std::vector<ObjectID>& ids, ObjectEvents* events);
  // A client's handles appearing (add) and going (remove).
  void UpdateClientRefs(ClientId client, const rpc::RefDelta& delta, ObjectEvents* events);
  // `client` holds a reference to each id, whether it exists yet or not (a
  // generator's items): an unknown one becomes pending until put.
  void Expect(ClientId client, const google::protobuf::RepeatedPtrField<std::string>& ids);
  // `holder` (a generator task's completion, pending) keeps `item` (one of
  // its yielded objects) alive: now, and once it is stored, as one of the
  // objects it contains; so items yielded before a worker died stay
  // readable. Once per item.
  void HoldFor(const ObjectID& holder, const ObjectID& item);

  // Those of `ids` that have an entry that is not ready yet.
  std::vector<ObjectID> Missing(const std::vector<ObjectID>& ids) const;
  bool IsPending(const ObjectID& id) const;

  // --- values ---------------------------------------------------------------
  // An inline value put by `client` (which then holds one reference).
  void Put(ClientId client, rpc::ObjectValue value, ObjectEvents* events);
  // Reserves `size` bytes of shared memory for `id`, spilling if needed;
  // the offset, or ResourceExhausted when nothing can make room.
  StatusOr<uint64_t> Create(ClientId client, const ObjectID& id, uint64_t size);
  // Publishes a value `client` wrote after Create (a put). Its location
  // must be the one Create gave: else FailedPrecondition, nothing changed.
  Status Seal(ClientId client, rpc::ObjectValue value, ObjectEvents* events);
  // Checks a task's returns from the worker `client` before they are
  // stored: each shared one must be an allocation the worker Created, at
  // the location Create gave.
  Status CheckReturns(ClientId client,
                      const google::protobuf::RepeatedPtrField<rpc::ObjectValue>& returns) const;
  // Stores checked returns: shared ones are sealed now. Allocations the
  // worker made for a return it then sent inline (or as an error) are
  // freed: nothing leaks when a later return failed to serialize.
  void StoreReturns(ClientId client, google::protobuf::RepeatedPtrField<rpc::ObjectValue>* returns,
                    ObjectEvents* events);
  // Frees shared returns a worker created for an attempt that is retried.
  void AbortReturns(ClientId client,
                    const google::protobuf::RepeatedPtrField<rpc::ObjectValue>& returns);
  // Makes `id` ready with a runtime error.
  void StoreError(const ObjectID& id, rpc::ErrorType type, const std::string& message,
                  ObjectEvents* events);
  // The value to send to `client`: a shared one is restored from disk if
  // spilled and pinned for the client (which releases it with Release);
  // an OBJECT_LOST error if the object is gone.
  rpc::ObjectValue ValueFor(ClientId client, const ObjectID& id);
  void Release(ClientId client, const rpc::ReleaseObjects& release);

  // --- Get / Wait -------------------------------------------------------
  // Answered (into events) once all objects are ready, or at once.
  void Get(ClientId client, uint64_t request_id, std::vector<ObjectID> ids,
           ObjectEvents* events);
  // Answered once num_returns of the objects are ready, or at once.
  void Wait(ClientId client, uint64_t request_id, std::vector<ObjectID> ids,
            uint32_t num_returns, ObjectEvents* events);
  // The client gave up waiting: answer its request now (a Get times out).
  void Expire(ClientId client, uint64_t request_id, ObjectEvents* events);

  // The client went away: its requests, pins, unsealed objects and
  // references go.
  void DropClient(ClientId client, ObjectEvents* events);

  ObjectTableStats Stats() const;
  // The state API's rows (`limit` at most, 0: all), each with the pids
  // (`pid_of` a client) of the processes holding handles to it or mapping it.
  std::vector<rpc::ObjectStateData> States(
      size_t limit, const std::function<int32_t(ClientId)>& pid_of) const;
  // Test hooks: references to `id` (0 when it has no entry).
  int64_t RefCount(const ObjectID& id) const;

 private:
  struct Entry {
    bool ready = false;
    rpc::ObjectValue value;  // set when ready
    int64_t refs = 0;        // handles + task arguments + containing objects
    // A shared value moved to disk to make room; restored when read.
    std::unique_ptr<SpillFile> spilled;
    // Made by Expect, not by a task or put: the first Put/Create fills it,
    // and it goes when its last reference does, filled or not.
    bool expected = false;
  };
  struct Request {
    ClientId client;
    uint64_t request_id;
    bool is_wait;
    std::vector<ObjectID> ids;
    uint32_t num_returns;  // waits
    size_t remaining;      // ids not ready yet
    bool blocked;          // counted in its client's blocked_requests
  };
  struct ClientState {
    std::unordered_map<ObjectID, int64_t> refs;  // references it holds
    std::unordered_map<ObjectID, int64_t> pins;  // shared values it maps
    // Created, not yet sealed: where, and whether it is a put (whose entry
    // goes with it if never sealed) or a task return (whose entry stays).
    struct Creating {
      ObjectLocation location;
      bool is_put = false;
    };
    std::unordered_map<ObjectID, Creating> creating;
    int blocked_requests = 0;
  };

  void StoreValue(rpc::ObjectValue value, ObjectEvents* events);
  // OK when `value` (shared) lies where `client` created it.
  Status CheckCreated(ClientId client, const rpc::ObjectValue& value) const;
  void AddRef(const ObjectID& id);
  void RemoveRef(const ObjectID& id, ObjectEvents* events);
  void MaybeFree(const ObjectID& id, ObjectEvents* events);
  void AddRequest(Request r, ObjectEvents* events);
  void Reply(uint64_t key, bool expired, ObjectEvents* events);
  StatusOr<ObjectLocation> Allocate(const ObjectID& id, uint64_t size);
  bool SpillOne();
  Status Restore(const ObjectID& id, Entry& entry);

  const std::shared_ptr<ObjectStore> store_;
  const std::string spill_dir_;
  std::unordered_map<ObjectID, Entry> objects_;
  // HoldFor: the items each pending holder keeps, and every held item.
  std::unordered_map<ObjectID, std::vector<ObjectID>> held_for_;
  std::unordered_set<ObjectID> held_items_;
  std::unordered_map<uint64_t, Request> requests_;  // by an internal key
  std::unordered_map<ObjectID, std::vector<uint64_t>> waiters_;  // id -> request keys
  uint64_t next_request_key_ = 1;
  std::unordered_map<ClientId, ClientState> clients_;
};

}  // namespace miniray

#endif  // MINIRAY_NODE_OBJECT_TABLE_H_
