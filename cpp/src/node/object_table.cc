#include "node/object_table.h"

#include <algorithm>
#include <string>


namespace miniray {
namespace {

rpc::ObjectValue LostValue(const ObjectID& id, const std::string& why) {
  rpc::ObjectValue v;
  v.set_object_id(id.Binary());
  v.mutable_error()->set_type(rpc::OBJECT_LOST);
  v.mutable_error()->set_message("object " + id.Hex() + " " + why);
  return v;
}

}  // namespace

ObjectTable::ObjectTable(std::shared_ptr<ObjectStore> store, std::string spill_dir)
    : store_(std::move(store)), spill_dir_(std::move(spill_dir)) {}

ObjectTable::~ObjectTable() = default;

// ---------------------------------------------------------------------------
// References

void ObjectTable::AddPendingObject(ClientId owner, const ObjectID& id) {
  objects_[id].refs += 1;
  clients_[owner].refs[id] += 1;
}

void ObjectTable::AddActorHandleRef(ClientId client, const ActorID& actor) {
  ObjectID hid = ObjectID::ForActorHandle(actor);
  Entry& e = objects_[hid];
  if (!e.ready) {  // the handle object carries no value; it only counts
    e.ready = true;
    e.value.set_object_id(hid.Binary());
  }
  e.refs += 1;
  clients_[client].refs[hid] += 1;
}

void ObjectTable::AddReferences(const std::vector<ObjectID>& ids) {
  for (const auto& id : ids) AddRef(id);
}

void ObjectTable::RemoveReferences(const std::vector<ObjectID>& ids, ObjectEvents* events) {
  for (const auto& id : ids) RemoveRef(id, events);
}

void ObjectTable::UpdateClientRefs(ClientId client, const rpc::RefDelta& delta,
                                   ObjectEvents* events) {
  ClientState& c = clients_[client];
  for (const auto& b : delta.add()) {
    ObjectID id = ObjectID::FromBinary(b);
    c.refs[id] += 1;
    AddRef(id);
  }
  for (const auto& b : delta.remove()) {
    ObjectID id = ObjectID::FromBinary(b);
    auto it = c.refs.find(id);
    if (it == c.refs.end()) continue;  // never held: ignore
    if (--it->second == 0) c.refs.erase(it);
    RemoveRef(id, events);
  }
}

void ObjectTable::Expect(ClientId client,
                         const google::protobuf::RepeatedPtrField<std::string>& ids) {
  ClientState& c = clients_[client];
  for (const auto& b : ids) {
    ObjectID id = ObjectID::FromBinary(b);
    auto [it, created] = objects_.try_emplace(id);
    if (created) it->second.expected = true;
    it->second.refs += 1;
    c.refs[id] += 1;
  }
}

void ObjectTable::HoldFor(const ObjectID& holder, const ObjectID& item) {
  auto hit = objects_.find(holder);
  if (hit == objects_.end() || hit->second.ready || !objects_.count(item)) return;
  if (!held_items_.insert(item).second) return;
  AddRef(item);
  held_for_[holder].push_back(item);
}

void ObjectTable::AddRef(const ObjectID& id) {
  auto it = objects_.find(id);
  if (it != objects_.end()) it->second.refs += 1;
}

void ObjectTable::RemoveRef(const ObjectID& id, ObjectEvents* events) {
  auto it = objects_.find(id);
  if (it == objects_.end()) return;
  it->second.refs -= 1;
  MaybeFree(id, events);
}

void ObjectTable::MaybeFree(const ObjectID& id, ObjectEvents* events) {
  auto it = objects_.find(id);
  if (it == objects_.end() || it->second.refs > 0) return;
  if (!it->second.ready) {
    if (it->second.expected) objects_.erase(it);  // nobody will want it now
    return;
  }
  rpc::ObjectValue v = std::move(it->second.value);
  bool in_memory = v.has_shared() && !it->second.spilled;
  objects_.erase(it);  // a spill file goes with its entry
  // Shared memory is reused only once no client maps it any more.
  if (in_memory) (void)store_->Delete(id);
  for (const auto& inner : v.contained()) RemoveRef(ObjectID::FromBinary(inner), events);
  if (id.IsActorHandle()) events->handles_gone.push_back(id.Actor());
}

std::vector<ObjectID> ObjectTable::Missing(const std::vector<ObjectID>& ids) const {
  std::vector<ObjectID> missing;
  for (const auto& id : ids) {
    if (IsPending(id)) missing.push_back(id);
  }
  return missing;
}

bool ObjectTable::IsPending(const ObjectID& id) const {
  auto it = objects_.find(id);
  return it != objects_.end() && !it->second.ready;
}

int64_t ObjectTable::RefCount(const ObjectID& id) const {
  auto it = objects_.find(id);
  return it == objects_.end() ? 0 : it->second.refs;
}

// ---------------------------------------------------------------------------
// Values

void ObjectTable::StoreValue(rpc::ObjectValue v, ObjectEvents* events) {
  ObjectID id = ObjectID::FromBinary(v.object_id());
  Entry& e = objects_[id];
  if (e.ready) return;  // first value wins (a retried task may race)
  for (const auto& inner : v.contained()) AddRef(ObjectID::FromBinary(inner));
  auto held = held_for_.find(id);
  if (held != held_for_.end()) {  // its references become contained ones
    for (const auto& item : held->second) {
      v.add_contained(item.Binary());
      held_items_.erase(item);
    }
    held_for_.erase(held);
  }
  e.value = std::move(v);
  e.ready = true;
  events->ready.push_back(id);
  auto wit = waiters_.find(id);
  if (wit != waiters_.end()) {
    std::vector<uint64_t> keys = std::move(wit->second);
    waiters_.erase(wit);
    for (uint64_t key : keys) {
      auto rit = requests_.find(key);
      if (rit == requests_.end()) continue;
      Request& r = rit->second;
      --r.remaining;
      size_t ready = r.ids.size() - r.remaining;
      if (r.remaining == 0 || (r.is_wait && ready >= r.num_returns)) Reply(key, false, events);
    }
  }
  MaybeFree(id, events);
}

void ObjectTable::Put(ClientId client, rpc::ObjectValue value, ObjectEvents* events) {
  ObjectID id = ObjectID::FromBinary(value.object_id());
  auto it = objects_.find(id);
  // Ids are random: a duplicate is a retry, unless an Expect made the entry.
  if (it != objects_.end() && !(it->second.expected && !it->second.ready)) return;
  Entry& entry = objects_[id];
  entry.expected = false;
  entry.refs += 1;  // the putter's handle
  clients_[client].refs[id] += 1;
  StoreValue(std::move(value), events);
}

StatusOr<uint64_t> ObjectTable::Create(ClientId client, const ObjectID& id, uint64_t size) {
  auto loc = Allocate(id, size);
  if (!loc.ok()) return loc.status();
  // Task returns already have entries; expected objects are filled by puts.
  auto existing = objects_.find(id);
  bool is_put = existing == objects_.end() ||
                (existing->second.expected && !existing->second.ready);
  clients_[client].creating[id] = ClientState::Creating{*loc, is_put};
  if (is_put) {
    Entry& entry = objects_[id];
    entry.expected = false;
    entry.refs += 1;  // the putter's handle
    clients_[client].refs[id] += 1;
  }
  return loc->offset;
}

Status ObjectTable::CheckCreated(ClientId client, const rpc::ObjectValue& value) const {
  ObjectID id = ObjectID::FromBinary(value.object_id());
  auto cit = clients_.find(client);
  const ClientState::Creating* created = nullptr;
  if (cit != clients_.end()) {
    auto it = cit->second.creating.find(id);
    if (it != cit->second.creating.end()) created = &it->second;
  }
  if (!created) {
    return Status::FailedPrecondition("object " + id.Hex() + " was not created by this client");
  }
  if (value.shared().offset() != created->location.offset ||
      value.shared().size() != created->location.size) {
    return Status::FailedPrecondition("object " + id.Hex() +
                                      " is not where it was created (offset " +
                                      std::to_string(value.shared().offset()) + ", size " +
                                      std::to_string(value.shared().size()) + ")");
  }
  return Status::OK();
}

Status ObjectTable::Seal(ClientId client, rpc::ObjectValue value, ObjectEvents* events) {
  if (!value.has_shared()) return Status::FailedPrecondition("a seal names a shared value");
  MINIRAY_RETURN_IF_ERROR(CheckCreated(client, value));
  ObjectID id = ObjectID::FromBinary(value.object_id());
  clients_[client].creating.erase(id);
  (void)store_->Seal(id);
  StoreValue(std::move(value), events);
  return Status::OK();
}

Status ObjectTable::CheckReturns(
    ClientId client, const google::protobuf::RepeatedPtrField<rpc::ObjectValue>& returns) const {
  for (const auto& v : returns) {
    if (v.has_shared()) MINIRAY_RETURN_IF_ERROR(CheckCreated(client, v));
  }
  return Status::OK();
}

void ObjectTable::StoreReturns(ClientId client,
                               google::protobuf::RepeatedPtrField<rpc::ObjectValue>* returns,
                               ObjectEvents* events) {
  ClientState& c = clients_[client];
  for (auto& v : *returns) {
    ObjectID id = ObjectID::FromBinary(v.object_id());
    auto created = c.creating.find(id);
    if (created != c.creating.end()) {
      // Sealed if the return lies there; freed if it came another way.
      (void)(v.has_shared() ? store_->Seal(id) : store_->Abort(id));
      c.creating.erase(created);
    }
    StoreValue(std::move(v), events);
  }
}

void ObjectTable::AbortReturns(ClientId client,
                               const google::protobuf::RepeatedPtrField<rpc::ObjectValue>& returns) {
  ClientState& c = clients_[client];
  for (const auto& v : returns) {
    ObjectID id = ObjectID::FromBinary(v.object_id());
    if (c.creating.erase(id)) (void)store_->Abort(id);
  }
}

void ObjectTable::StoreError(const ObjectID& id, rpc::ErrorType type, const std::string& message,
                             ObjectEvents* events) {
  rpc::ObjectValue v;
  v.set_object_id(id.Binary());
  v.mutable_error()->set_type(type);
  v.mutable_error()->set_message(message);
  StoreValue(std::move(v), events);
}

rpc::ObjectValue ObjectTable::ValueFor(ClientId client, const ObjectID& id) {
  auto it = objects_.find(id);
  if (it == objects_.end() || !it->second.ready) {
    return LostValue(id, "was freed: no reference to it remained");
  }
  if (it->second.spilled) {
    Status restored = Restore(id, it->second);
    if (restored.code() == StatusCode::kResourceExhausted) {
      rpc::ObjectValue full;
      full.set_object_id(id.Binary());
      full.mutable_error()->set_type(rpc::OBJECT_STORE_FULL);
      full.mutable_error()->set_message("object " + id.Hex() +
                                        " is spilled to disk and cannot be read back now: " +
                                        restored.message());
      return full;
    }
    if (!restored.ok()) {
      return LostValue(id, "is spilled to disk and could not be restored: " + restored.message());
    }
  }
  rpc::ObjectValue v = it->second.value;
  v.clear_contained();  // the receiver counts what it deserializes itself
  if (v.has_shared()) {
    // The client maps the value in place; it releases this pin when done.
    if (store_->Pin(id).ok()) clients_[client].pins[id] += 1;
  }
  return v;
}

void ObjectTable::Release(ClientId client, const rpc::ReleaseObjects& release) {
  ClientState& c = clients_[client];
  for (const auto& b : release.object_ids()) {
    ObjectID id = ObjectID::FromBinary(b);
    auto it = c.pins.find(id);
    if (it == c.pins.end()) continue;
    if (--it->second == 0) c.pins.erase(it);
    (void)store_->Release(id);
  }
}

// ---------------------------------------------------------------------------
// Shared memory: allocation, spilling, restoring

StatusOr<ObjectLocation> ObjectTable::Allocate(const ObjectID& id, uint64_t size) {
  auto loc = store_->CreateObject(id, size);
  while (!loc.ok() && loc.status().code() == StatusCode::kResourceExhausted &&
         size <= store_->capacity() && SpillOne()) {
    loc = store_->CreateObject(id, size);
  }
  return loc;
}

// Moves the largest object that no client maps (and that something still
// refers to: unreferenced objects are freed at once) from shared memory to
// an unnamed file. False when nothing can move.
bool ObjectTable::SpillOne() {
  Entry* victim = nullptr;
  ObjectID victim_id;
  for (auto& [id, e] : objects_) {
    if (!e.ready || !e.value.has_shared() || e.spilled || store_->IsPinned(id)) continue;
    if (!victim || e.value.shared().size() > victim->value.shared().size()) {
      victim = &e;
      victim_id = id;
    }
  }
  if (!victim) return false;
  const rpc::SharedLocation& loc = victim->value.shared();
  auto file = SpillFile::Write(spill_dir_, store_->arena()->data() + loc.offset(), loc.size());
  if (!file.ok()) return false;
  victim->spilled = std::move(file).value();
  (void)store_->Delete(victim_id);
  return true;
}

Status ObjectTable::Restore(const ObjectID& id, Entry& entry) {
  auto loc = Allocate(id, entry.spilled->size());
  if (!loc.ok()) return loc.status();
  Status read = entry.spilled->ReadInto(store_->arena()->data() + loc->offset);
  if (!read.ok()) {
    (void)store_->Abort(id);
    return read;
  }
  (void)store_->Seal(id);
  entry.value.mutable_shared()->set_offset(loc->offset);
  entry.spilled.reset();
  return Status::OK();
}

// ---------------------------------------------------------------------------
// Get / Wait

void ObjectTable::Get(ClientId client, uint64_t request_id, std::vector<ObjectID> ids,
                      ObjectEvents* events) {
  AddRequest(Request{client, request_id, false, std::move(ids), 0, 0, false}, events);
}

void ObjectTable::Wait(ClientId client, uint64_t request_id, std::vector<ObjectID> ids,
                       uint32_t num_returns, ObjectEvents* events) {
  AddRequest(Request{client, request_id, true, std::move(ids), num_returns, 0, false}, events);
}

// Answers a Get/Wait at once if it can; else it waits for its objects.
void ObjectTable::AddRequest(Request r, ObjectEvents* events) {
  uint64_t key = next_request_key_++;
  for (const auto& id : r.ids) {
    if (IsPending(id)) {
      ++r.remaining;
      waiters_[id].push_back(key);
    }
  }
  size_t ready = r.ids.size() - r.remaining;
  bool done = r.is_wait ? ready >= r.num_returns : r.remaining == 0;
  r.blocked = !done;
  ClientId client = r.client;
  requests_[key] = std::move(r);
  if (done) return Reply(key, false, events);
  if (clients_[client].blocked_requests++ == 0) events->blocked.push_back(client);
}

void ObjectTable::Expire(ClientId client, uint64_t request_id, ObjectEvents* events) {
  for (auto& [key, r] : requests_) {
    if (r.client == client && r.request_id == request_id) return Reply(key, true, events);
  }
}

void ObjectTable::Reply(uint64_t key, bool expired, ObjectEvents* events) {
  auto it = requests_.find(key);
  Request r = std::move(it->second);
  requests_.erase(it);
  if (r.blocked && --clients_[r.client].blocked_requests == 0) {
    events->unblocked.push_back(r.client);
  }
  rpc::NodeMessage m;
  m.set_request_id(r.request_id);
  if (r.is_wait) {
    auto* w = m.mutable_wait_reply();
    for (const auto& id : r.ids) w->add_ready(!IsPending(id));
  } else {
    auto* g = m.mutable_get_reply();
    if (expired && r.remaining > 0) {
      g->set_timed_out(true);
    } else {
      for (const auto& id : r.ids) *g->add_values() = ValueFor(r.client, id);
    }
  }
  events->replies.emplace_back(r.client, std::move(m));
}

// ---------------------------------------------------------------------------
// Clients

void ObjectTable::DropClient(ClientId client, ObjectEvents* events) {
  auto cit = clients_.find(client);
  // Waits in progress end with the client (nothing is waiting for an answer).
  for (auto it = requests_.begin(); it != requests_.end();) {
    it = it->second.client == client ? requests_.erase(it) : std::next(it);
  }
  if (cit == clients_.end()) return;
  ClientState c = std::move(cit->second);
  clients_.erase(cit);
  for (const auto& [id, created] : c.creating) {
    (void)store_->Abort(id);
    // A put that never sealed: drop its entry (task returns stay pending).
    auto oit = objects_.find(id);
    if (created.is_put && oit != objects_.end() && !oit->second.ready) {
      objects_.erase(oit);
      c.refs.erase(id);
    }
  }
  for (const auto& [id, n] : c.pins) {
    for (int64_t k = 0; k < n; ++k) (void)store_->Release(id);
  }
  for (const auto& [id, n] : c.refs) {
    for (int64_t k = 0; k < n; ++k) RemoveRef(id, events);
  }
}

ObjectTableStats ObjectTable::Stats() const {
  ObjectTableStats s;
  s.num_objects = objects_.size();
  for (const auto& [id, e] : objects_) {
    if (!e.spilled) continue;
    ++s.num_spilled;
    s.spilled_bytes += e.spilled->size();
  }
  s.num_requests = requests_.size();
  return s;
}

std::vector<rpc::ObjectStateData> ObjectTable::States(
    size_t limit, const std::function<int32_t(ClientId)>& pid_of) const {
  size_t n = limit == 0 ? objects_.size() : std::min(limit, objects_.size());
  std::vector<rpc::ObjectStateData> rows;
  rows.reserve(n);
  std::unordered_map<ObjectID, size_t> row_of;
  for (const auto& [id, e] : objects_) {
    if (rows.size() == n) break;
    rpc::ObjectStateData row;
    row.set_object_id(id.Binary());
    row.set_reference_count(e.refs);
    if (!e.ready) {
      row.set_state("PENDING");
    } else if (e.value.has_error()) {
      row.set_state("ERROR");
      row.set_error_type(rpc::ErrorType_Name(e.value.error().type()));
    } else if (e.spilled) {
      row.set_state("SPILLED");
      row.set_size(e.spilled->size());
    } else if (e.value.has_shared()) {
      row.set_state("SHARED_MEMORY");
      row.set_size(e.value.shared().size());
    } else {
      row.set_state("INLINE");
      row.set_size(e.value.inline_data().size());
    }
    row_of[id] = rows.size();
    rows.push_back(std::move(row));
  }
  // Who holds what: each client's handles and the shared values it maps.
  for (const auto& [client, state] : clients_) {
    int32_t pid = pid_of(client);
    for (const auto& [id, count] : state.refs) {
      auto it = row_of.find(id);
      if (it == row_of.end() || count <= 0) continue;
      rows[it->second].add_holder_pids(pid);
      rows[it->second].add_holder_counts(count);
    }
    for (const auto& [id, count] : state.pins) {
      auto it = row_of.find(id);
      if (it != row_of.end() && count > 0) rows[it->second].add_pinned_by_pids(pid);
    }
  }
  return rows;
}

}  // namespace miniray
