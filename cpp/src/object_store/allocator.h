// Allocator: hands out byte ranges of the arena. First fit over a free list
// kept sorted by offset, so freeing merges a block with its free neighbours
// and the arena does not fragment into unusable slivers. Every block is
// 64-byte aligned (a cache line; numpy needs far less).
#ifndef MINIRAY_OBJECT_STORE_ALLOCATOR_H_
#define MINIRAY_OBJECT_STORE_ALLOCATOR_H_

#include <cstdint>
#include <map>
#include <optional>

namespace miniray {

// Not thread-safe: ObjectStore calls it under its own mutex.
class Allocator {
 public:
  static constexpr uint64_t kAlignment = 64;

  explicit Allocator(uint64_t capacity);

  // Returns the offset of a block of at least `size` bytes, or nullopt if no
  // free block is large enough. Allocate(0) returns a 64-byte block.
  std::optional<uint64_t> Allocate(uint64_t size);
  // Returns a block from Allocate to the free list.
  void Free(uint64_t offset);

  uint64_t capacity() const { return capacity_; }
  uint64_t used() const { return used_; }
  // The size Allocate(size) really reserves.
  static uint64_t RoundUp(uint64_t size) {
    if (size == 0) size = 1;
    return (size + kAlignment - 1) / kAlignment * kAlignment;
  }

 private:
  uint64_t capacity_;
  uint64_t used_ = 0;
  std::map<uint64_t, uint64_t> free_;  // offset -> size
  std::map<uint64_t, uint64_t> allocated_;  // offset -> size
};

}  // namespace miniray

#endif  // MINIRAY_OBJECT_STORE_ALLOCATOR_H_
