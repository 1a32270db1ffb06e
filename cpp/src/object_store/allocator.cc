#include "object_store/allocator.h"

#include "common/status.h"

namespace miniray {

Allocator::Allocator(uint64_t capacity)
    : capacity_(capacity / kAlignment * kAlignment) {
  if (capacity_ > 0) free_[0] = capacity_;
}

std::optional<uint64_t> Allocator::Allocate(uint64_t size) {
  // Checked before rounding up: a size near 2^64 would wrap to a tiny one.
  if (size > capacity_) return std::nullopt;
  size = RoundUp(size);
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    if (it->second < size) continue;
    uint64_t offset = it->first;
    uint64_t rest = it->second - size;
    free_.erase(it);
    if (rest > 0) free_[offset + size] = rest;
    allocated_[offset] = size;
    used_ += size;
    return offset;
  }
  return std::nullopt;
}

void Allocator::Free(uint64_t offset) {
  auto a = allocated_.find(offset);
  MINIRAY_CHECK(a != allocated_.end());
  uint64_t size = a->second;
  allocated_.erase(a);
  used_ -= size;
  auto next = free_.lower_bound(offset);
  // Merge with the following free block.
  if (next != free_.end() && offset + size == next->first) {
    size += next->second;
    next = free_.erase(next);
  }
  // Merge with the preceding free block.
  if (next != free_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == offset) {
      prev->second += size;
      return;
    }
  }
  free_[offset] = size;
}

}  // namespace miniray
