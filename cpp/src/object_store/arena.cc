#include "object_store/arena.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <string>

namespace miniray {

StatusOr<std::shared_ptr<Arena>> Arena::Create(uint64_t size) {
  if (size == 0) return Status::InvalidArgument("arena size must be > 0");
  int fd = memfd_create("miniray_object_store", MFD_CLOEXEC);
  if (fd < 0) {
    return Status::Internal(std::string("memfd_create: ") + strerror(errno));
  }
  // ftruncate gives a sparse file: pages are allocated when first written.
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
    int err = errno;
    close(fd);
    return Status::Internal(std::string("ftruncate: ") + strerror(err));
  }
  return Map(fd, size);
}

StatusOr<std::shared_ptr<Arena>> Arena::Map(int fd, uint64_t size) {
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    int err = errno;
    close(fd);
    return Status::Internal(std::string("mmap: ") + strerror(err));
  }
  return std::shared_ptr<Arena>(new Arena(fd, static_cast<uint8_t*>(p), size));
}

Arena::~Arena() {
  munmap(data_, size_);
  close(fd_);
}

}  // namespace miniray
