// ObjectStore: the shared-memory object table of one node (plasma's role in
// Ray). An object's life: Create (space reserved, the creator writes in
// place through the arena mapping) -> Seal (immutable, visible to Get) ->
// Get/Release (readers pin it; a pinned object's memory is never reused) ->
// Delete (freed at once, or when the last pin is released).
//
// The table lives in the creating process; other processes map the same
// arena and address objects by the (offset, size) this table gives them.
#ifndef MINIRAY_OBJECT_STORE_OBJECT_STORE_H_
#define MINIRAY_OBJECT_STORE_OBJECT_STORE_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "common/buffer.h"
#include "common/id.h"
#include "common/status.h"
#include "object_store/allocator.h"
#include "object_store/arena.h"

namespace miniray {

struct ObjectLocation {
  uint64_t offset = 0;
  uint64_t size = 0;
};

// Thread-safe: every method takes mu_.
class ObjectStore : public std::enable_shared_from_this<ObjectStore> {
 public:
  // Creates a store over a new arena of `capacity` bytes.
  static StatusOr<std::shared_ptr<ObjectStore>> Create(uint64_t capacity);

  // Reserves `size` bytes for `id`. ResourceExhausted (ObjectStoreFull) when
  // it does not fit even after nothing else can be freed; AlreadyExists when
  // the id is taken. Existing objects are never touched by a failed Create.
  StatusOr<ObjectLocation> CreateObject(const ObjectID& id, uint64_t size);
  // Makes a created object immutable and readable.
  Status Seal(const ObjectID& id);
  // Frees a created-but-unsealed object (the writer gave up).
  Status Abort(const ObjectID& id);

  // Pins a sealed object and returns where it is. Each Pin needs a Release.
  StatusOr<ObjectLocation> Pin(const ObjectID& id);
  Status Release(const ObjectID& id);
  // Pins and wraps the object in a read-only Buffer that releases the pin
  // and keeps this store's arena mapped while it lives (zero copy).
  // The Buffer keeps the store alive too.
  StatusOr<std::unique_ptr<Buffer>> Get(const ObjectID& id);

  // Deletes the object: now if unpinned, else when the last pin goes.
  Status Delete(const ObjectID& id);
  // True if `id` is sealed (and not deleted).
  bool Contains(const ObjectID& id) const;
  // True if some reader holds a pin on `id` (its memory cannot move).
  bool IsPinned(const ObjectID& id) const;

  uint64_t capacity() const { return allocator_capacity_; }
  uint64_t used() const;
  size_t num_objects() const;
  const std::shared_ptr<Arena>& arena() const { return arena_; }

 private:
  struct Entry {
    ObjectLocation location;
    bool sealed = false;
    bool delete_pending = false;
    int64_t pins = 0;
  };
  explicit ObjectStore(std::shared_ptr<Arena> arena);
  void FreeLocked(std::unordered_map<ObjectID, Entry>::iterator it);

  const std::shared_ptr<Arena> arena_;
  const uint64_t allocator_capacity_;
  mutable std::mutex mu_;
  Allocator allocator_;                         // guarded by mu_
  std::unordered_map<ObjectID, Entry> objects_;  // guarded by mu_
};

}  // namespace miniray

#endif  // MINIRAY_OBJECT_STORE_OBJECT_STORE_H_
