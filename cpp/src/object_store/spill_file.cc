#include "object_store/spill_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstring>

namespace miniray {
namespace {

Status Errno(const std::string& what) {
  return Status::Internal(what + ": " + strerror(errno));
}

int OpenUnnamed(const std::string& dir) {
  int fd = open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) return fd;
  // Filesystems without O_TMPFILE: a named file, unlinked at once.
  std::string path = dir + "/miniray-spill-XXXXXX";
  fd = mkostemp(path.data(), O_CLOEXEC);
  if (fd >= 0) unlink(path.c_str());
  return fd;
}

}  // namespace

StatusOr<std::unique_ptr<SpillFile>> SpillFile::Write(const std::string& dir,
                                                      const uint8_t* data, uint64_t size) {
  int fd = OpenUnnamed(dir);
  if (fd < 0) return Errno("cannot create a spill file in " + dir);
  std::unique_ptr<SpillFile> file(new SpillFile(fd, size));
  uint64_t done = 0;
  while (done < size) {
    ssize_t n = pwrite(fd, data + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Errno("cannot write a spill file (disk full?)");
    done += static_cast<uint64_t>(n);
  }
  return file;
}

SpillFile::~SpillFile() { close(fd_); }

Status SpillFile::ReadInto(uint8_t* dest) const {
  uint64_t done = 0;
  while (done < size_) {
    ssize_t n = pread(fd_, dest + done, size_ - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Errno("cannot read a spill file");
    done += static_cast<uint64_t>(n);
  }
  return Status::OK();
}

}  // namespace miniray
