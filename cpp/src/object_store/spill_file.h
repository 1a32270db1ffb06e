// SpillFile: an object's bytes moved out of shared memory onto disk when the
// arena is full, and read back on demand. The file has no name (O_TMPFILE,
// or a temporary file unlinked at once), so nothing is left on disk when the
// process exits, however it exits.
#ifndef MINIRAY_OBJECT_STORE_SPILL_FILE_H_
#define MINIRAY_OBJECT_STORE_SPILL_FILE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"

namespace miniray {

// Not thread-safe; owned by one object table entry.
class SpillFile {
 public:
  // Writes `size` bytes from `data` to a new unnamed file under `dir`.
  static StatusOr<std::unique_ptr<SpillFile>> Write(const std::string& dir,
                                                    const uint8_t* data, uint64_t size);
  ~SpillFile();
  SpillFile(const SpillFile&) = delete;
  SpillFile& operator=(const SpillFile&) = delete;

  // Reads the whole file into `dest` (size() bytes).
  Status ReadInto(uint8_t* dest) const;
  uint64_t size() const { return size_; }

 private:
  SpillFile(int fd, uint64_t size) : fd_(fd), size_(size) {}
  int fd_;
  uint64_t size_;
};

}  // namespace miniray

#endif  // MINIRAY_OBJECT_STORE_SPILL_FILE_H_
