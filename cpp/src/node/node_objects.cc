// NodeRuntime: the object table (values, reference counts, Get/Wait
// requests, pins, spilling).
// (node_runtime.h documents the class; node_runtime.cc holds its life
// cycle, event loop and message dispatch.) Everything here runs with mu_ held.
#include <signal.h>

#include <algorithm>
#include <string>

#include "node/node_runtime.h"

namespace miniray {

ObjectValue NodeRuntime::ValueForClientLocked(Connection* conn, const ObjectID& id) {
  auto it = objects_.find(id);
  if (it == objects_.end() || !it->second.ready) {
    ObjectValue lost;
    lost.id = id;
    lost.kind = ObjectValue::kError;
    lost.error = ErrorType::kObjectLost;
    lost.data = "object " + id.Hex() + " was freed: no reference to it remained";
    return lost;
  }
  if (it->second.spilled) {
    Status restored = RestoreLocked(id, it->second);
    if (!restored.ok()) {
      ObjectValue lost;
      lost.id = id;
      lost.kind = ObjectValue::kError;
      lost.error = ErrorType::kObjectLost;
      lost.data = "object " + id.Hex() + " is spilled to disk and could not be restored: " +
                  restored.message();
      return lost;
    }
  }
  ObjectValue v = it->second.value;
  v.contained.clear();
  if (v.kind == ObjectValue::kShared) {
    // The client maps the value in place; it releases this pin when done.
    if (store_->Pin(id).ok()) conn->pins[id] += 1;
  }
  return v;
}

void NodeRuntime::StoreValueLocked(ObjectValue v) {
  ObjectID id = v.id;
  ObjectEntry& e = objects_[id];
  if (e.ready) return;  // first value wins (a retried task may race)
  for (const auto& inner : v.contained) AddRefLocked(inner);
  e.value = std::move(v);
  e.ready = true;
  scheduler_.ObjectReady(id);
  auto wit = object_waiters_.find(id);
  if (wit != object_waiters_.end()) {
    std::vector<uint64_t> keys = std::move(wit->second);
    object_waiters_.erase(wit);
    for (uint64_t key : keys) {
      auto rit = requests_.find(key);
      if (rit == requests_.end()) continue;
      PendingRequest& r = rit->second;
      --r.remaining;
      size_t ready = r.ids.size() - r.remaining;
      if (r.remaining == 0 || (r.is_wait && ready >= r.num_returns)) {
        ReplyLocked(key, false);
      }
    }
  }
  if (!actors_waiting_.empty()) {
    std::vector<ActorID> waiting(actors_waiting_.begin(), actors_waiting_.end());
    for (const auto& aid : waiting) {
      auto ait = actors_.find(aid);
      if (ait != actors_.end()) FlushActorLocked(aid, ait->second);
    }
  }
  MaybeFreeLocked(id);
}

void NodeRuntime::OnPut(Connection* conn, ObjectValue v) {
  ObjectID id = v.id;
  if (objects_.count(id)) return;  // ids are random: a duplicate is a retry
  objects_[id].refs = 1;  // the putter's handle
  conn->refs[id] += 1;
  StoreValueLocked(std::move(v));
}

void NodeRuntime::OnCreate(Connection* conn, const CreateRequest& m) {
  CreateReply r;
  r.request_id = m.request_id;
  auto loc = CreateObjectLocked(m.id, m.size);
  if (!loc.ok()) {
    r.code = static_cast<int32_t>(loc.status().code());
    r.message = loc.status().message();
  } else {
    r.offset = loc->offset;
    conn->creating.insert(m.id);
    if (!objects_.count(m.id)) {  // a put (task returns already have entries)
      objects_[m.id].refs = 1;
      conn->refs[m.id] += 1;
    }
  }
  conn->Send(MessageType::kCreateReply, EncodePayload(r));
}

StatusOr<ObjectLocation> NodeRuntime::CreateObjectLocked(const ObjectID& id, uint64_t size) {
  auto loc = store_->CreateObject(id, size);
  while (!loc.ok() && loc.status().code() == StatusCode::kResourceExhausted &&
         size <= store_->capacity() && SpillOneLocked()) {
    loc = store_->CreateObject(id, size);
  }
  return loc;
}

// Moves the largest object that no client maps (and that something still
// refers to: unreferenced objects are freed at once) from shared memory to
// an unnamed file. False when nothing can move.
bool NodeRuntime::SpillOneLocked() {
  ObjectEntry* victim = nullptr;
  ObjectID victim_id;
  for (auto& [id, e] : objects_) {
    if (!e.ready || e.value.kind != ObjectValue::kShared || e.spilled ||
        store_->IsPinned(id)) {
      continue;
    }
    if (!victim || e.value.size > victim->value.size) {
      victim = &e;
      victim_id = id;
    }
  }
  if (!victim) return false;
  auto file = SpillFile::Write(options_.spill_dir, store_->arena()->data() + victim->value.offset,
                               victim->value.size);
  if (!file.ok()) {
    Log("cannot spill an object: " + file.status().message());
    return false;
  }
  victim->spilled = std::move(file).value();
  (void)store_->Delete(victim_id);
  return true;
}

Status NodeRuntime::RestoreLocked(const ObjectID& id, ObjectEntry& entry) {
  auto loc = CreateObjectLocked(id, entry.spilled->size());
  if (!loc.ok()) return loc.status();
  Status read = entry.spilled->ReadInto(store_->arena()->data() + loc->offset);
  if (!read.ok()) {
    (void)store_->Abort(id);
    return read;
  }
  (void)store_->Seal(id);
  entry.value.offset = loc->offset;
  entry.spilled.reset();
  return Status::OK();
}

void NodeRuntime::OnSeal(Connection* conn, ObjectValue v) {
  if (!conn->creating.erase(v.id)) return;
  (void)store_->Seal(v.id);
  StoreValueLocked(std::move(v));
}

void NodeRuntime::OnGet(Connection* conn, GetRequest m) {
  AddRequestLocked(PendingRequest{conn, m.request_id, false, std::move(m.ids), 0, 0, false});
}

void NodeRuntime::OnWait(Connection* conn, WaitRequest m) {
  AddRequestLocked(
      PendingRequest{conn, m.request_id, true, std::move(m.ids), m.num_returns, 0, false});
}

// Answers a Get/Wait at once if it can; else it waits for its objects and,
// if a worker asked, the worker lends its CPUs meanwhile.
void NodeRuntime::AddRequestLocked(PendingRequest r) {
  uint64_t key = next_request_key_++;
  for (const auto& id : r.ids) {
    auto it = objects_.find(id);
    if (it != objects_.end() && !it->second.ready) {
      ++r.remaining;
      object_waiters_[id].push_back(key);
    }
  }
  size_t ready = r.ids.size() - r.remaining;
  bool done = r.is_wait ? ready >= r.num_returns : r.remaining == 0;
  r.blocked = !done;
  Connection* conn = r.conn;
  requests_[key] = std::move(r);
  if (done) return ReplyLocked(key, false);
  BlockLocked(conn);
}

// A worker waiting in get()/wait() lends its CPUs to other tasks.
void NodeRuntime::BlockLocked(Connection* conn) {
  if (conn->blocked_requests++ == 0 && conn->registered_worker) {
    scheduler_.WorkerBlocked(conn->worker_id);
    ScheduleLocked();
  }
}

void NodeRuntime::OnCancel(Connection* conn, const Cancel& m) {
  for (auto& [key, r] : requests_) {
    if (r.conn == conn && r.request_id == m.request_id) {
      return ReplyLocked(key, true);
    }
  }
}

void NodeRuntime::ReplyLocked(uint64_t key, bool cancelled) {
  auto it = requests_.find(key);
  PendingRequest r = std::move(it->second);
  requests_.erase(it);
  if (r.blocked && --r.conn->blocked_requests == 0 && r.conn->registered_worker) {
    scheduler_.WorkerUnblocked(r.conn->worker_id);
  }
  if (r.is_wait) {
    WaitReply w;
    w.request_id = r.request_id;
    for (const auto& id : r.ids) {
      auto oit = objects_.find(id);
      w.ready.push_back(oit == objects_.end() || oit->second.ready);
    }
    r.conn->Send(MessageType::kWaitReply, EncodePayload(w));
  } else {
    GetReply g;
    g.request_id = r.request_id;
    if (cancelled && r.remaining > 0) {
      g.code = static_cast<int32_t>(StatusCode::kDeadlineExceeded);
    } else {
      for (const auto& id : r.ids) g.values.push_back(ValueForClientLocked(r.conn, id));
    }
    r.conn->Send(MessageType::kGetReply, EncodePayload(g));
  }
}

void NodeRuntime::OnRefDelta(Connection* conn, const RefDelta& m) {
  for (const auto& id : m.add) {
    conn->refs[id] += 1;
    AddRefLocked(id);
  }
  for (const auto& id : m.remove) {
    auto it = conn->refs.find(id);
    if (it == conn->refs.end()) continue;  // never held: ignore
    if (--it->second == 0) conn->refs.erase(it);
    RemoveRefLocked(id);
  }
}

void NodeRuntime::OnRelease(Connection* conn, const IdList& m) {
  for (const auto& id : m.ids) {
    auto it = conn->pins.find(id);
    if (it == conn->pins.end()) continue;
    if (--it->second == 0) conn->pins.erase(it);
    (void)store_->Release(id);
  }
}

void NodeRuntime::AddRefLocked(const ObjectID& id, int64_t n) {
  auto it = objects_.find(id);
  if (it != objects_.end()) it->second.refs += n;
}

void NodeRuntime::RemoveRefLocked(const ObjectID& id, int64_t n) {
  auto it = objects_.find(id);
  if (it == objects_.end()) return;
  it->second.refs -= n;
  MaybeFreeLocked(id);
}

void NodeRuntime::MaybeFreeLocked(const ObjectID& id) {
  auto it = objects_.find(id);
  if (it == objects_.end() || it->second.refs > 0 || !it->second.ready) return;
  ObjectValue v = std::move(it->second.value);
  bool in_memory = v.kind == ObjectValue::kShared && !it->second.spilled;
  objects_.erase(it);  // a spill file goes with its entry
  // Shared memory is reused only once no client maps it any more.
  if (in_memory) (void)store_->Delete(id);
  for (const auto& inner : v.contained) RemoveRefLocked(inner);
  if (id.IsActorHandle()) ActorHandlesGoneLocked(id.Actor());
}

}  // namespace miniray
