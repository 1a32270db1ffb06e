// Arena: one shared-memory region, created by the node runtime with
// memfd_create and mapped by every process of the session. Because the
// memory is an anonymous file, nothing is left in /dev/shm when processes
// die: the kernel frees it when the last fd and mapping go away. Other
// processes receive the fd over a Unix socket (SCM_RIGHTS) and Map() it.
#ifndef MINIRAY_OBJECT_STORE_ARENA_H_
#define MINIRAY_OBJECT_STORE_ARENA_H_

#include <cstdint>
#include <memory>

#include "common/status.h"

namespace miniray {

// Owns one mapping and (optionally) its fd. Thread-safe: immutable after
// construction. Shared by shared_ptr so that zero-copy views keep it mapped.
class Arena {
 public:
  // Creates a new memfd of `size` bytes and maps it read-write.
  static StatusOr<std::shared_ptr<Arena>> Create(uint64_t size);
  // Maps an existing arena fd (received from the node); takes ownership.
  static StatusOr<std::shared_ptr<Arena>> Map(int fd, uint64_t size);
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  int fd() const { return fd_; }

 private:
  Arena(int fd, uint8_t* data, uint64_t size)
      : fd_(fd), data_(data), size_(size) {}
  int fd_;
  uint8_t* data_;
  uint64_t size_;
};

}  // namespace miniray

#endif  // MINIRAY_OBJECT_STORE_ARENA_H_
