#include "object_store/object_store.h"

#include <string>

namespace miniray {

StatusOr<std::shared_ptr<ObjectStore>> ObjectStore::Create(uint64_t capacity) {
  auto arena = Arena::Create(capacity);
  if (!arena.ok()) return arena.status();
  return std::shared_ptr<ObjectStore>(new ObjectStore(std::move(arena).value()));
}

ObjectStore::ObjectStore(std::shared_ptr<Arena> arena)
    : arena_(std::move(arena)),
      allocator_capacity_(Allocator(arena_->size()).capacity()),
      allocator_(arena_->size()) {}

StatusOr<ObjectLocation> ObjectStore::CreateObject(const ObjectID& id,
                                                   uint64_t size) {
  std::lock_guard<std::mutex> lock(mu_);
  if (objects_.count(id)) {
    return Status::AlreadyExists("object " + id.Hex() + " already exists");
  }
  auto offset = allocator_.Allocate(size);
  if (!offset) {
    return Status::ResourceExhausted(
        "object store is full: cannot allocate " + std::to_string(size) +
        " bytes (capacity " + std::to_string(allocator_.capacity()) +
        ", in use " + std::to_string(allocator_.used()) + ", " +
        std::to_string(objects_.size()) + " objects)");
  }
  Entry e;
  e.location = {*offset, size};
  objects_.emplace(id, e);
  return e.location;
}

Status ObjectStore::Seal(const ObjectID& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = objects_.find(id);
  if (it == objects_.end()) return Status::NotFound("no object " + id.Hex());
  if (it->second.sealed) {
    return Status::FailedPrecondition("object " + id.Hex() + " already sealed");
  }
  it->second.sealed = true;
  return Status::OK();
}

Status ObjectStore::Abort(const ObjectID& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = objects_.find(id);
  if (it == objects_.end()) return Status::NotFound("no object " + id.Hex());
  if (it->second.sealed) {
    return Status::FailedPrecondition("object " + id.Hex() + " is sealed");
  }
  FreeLocked(it);
  return Status::OK();
}

StatusOr<ObjectLocation> ObjectStore::Pin(const ObjectID& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = objects_.find(id);
  if (it == objects_.end() || !it->second.sealed || it->second.delete_pending) {
    return Status::NotFound("no sealed object " + id.Hex());
  }
  ++it->second.pins;
  return it->second.location;
}

Status ObjectStore::Release(const ObjectID& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = objects_.find(id);
  if (it == objects_.end() || it->second.pins == 0) {
    return Status::FailedPrecondition("object " + id.Hex() + " is not pinned");
  }
  if (--it->second.pins == 0 && it->second.delete_pending) FreeLocked(it);
  return Status::OK();
}

StatusOr<std::unique_ptr<Buffer>> ObjectStore::Get(const ObjectID& id) {
  auto loc = Pin(id);
  if (!loc.ok()) return loc.status();
  std::shared_ptr<ObjectStore> self = shared_from_this();
  return std::make_unique<Buffer>(arena_->data() + loc->offset, loc->size,
                                  /*writable=*/false,
                                  [self, id] { (void)self->Release(id); });
}

Status ObjectStore::Delete(const ObjectID& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = objects_.find(id);
  if (it == objects_.end() || it->second.delete_pending) {
    return Status::NotFound("no object " + id.Hex());
  }
  if (it->second.pins > 0) {
    it->second.delete_pending = true;
  } else {
    FreeLocked(it);
  }
  return Status::OK();
}

bool ObjectStore::Contains(const ObjectID& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = objects_.find(id);
  return it != objects_.end() && it->second.sealed && !it->second.delete_pending;
}

bool ObjectStore::IsPinned(const ObjectID& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = objects_.find(id);
  return it != objects_.end() && it->second.pins > 0;
}

uint64_t ObjectStore::used() const {
  std::lock_guard<std::mutex> lock(mu_);
  return allocator_.used();
}

size_t ObjectStore::num_objects() const {
  std::lock_guard<std::mutex> lock(mu_);
  return objects_.size();
}

void ObjectStore::FreeLocked(std::unordered_map<ObjectID, Entry>::iterator it) {
  allocator_.Free(it->second.location.offset);
  objects_.erase(it);
}

}  // namespace miniray
