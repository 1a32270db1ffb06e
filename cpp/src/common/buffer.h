// Buffer: a view of bytes owned elsewhere (shared memory, a message) plus a
// release action run when the view is dropped. The object store hands out
// Buffers for zero-copy reads: the release action unpins the object and
// keeps the memory mapping alive for as long as the Buffer lives.
#ifndef MINIRAY_COMMON_BUFFER_H_
#define MINIRAY_COMMON_BUFFER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>

namespace miniray {

class Buffer {
 public:
  Buffer(uint8_t* data, size_t size, bool writable,
         std::function<void()> on_release)
      : data_(data),
        size_(size),
        writable_(writable),
        on_release_(std::move(on_release)) {}
  ~Buffer() {
    if (on_release_) on_release_();
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool writable() const { return writable_; }

 private:
  uint8_t* data_;
  size_t size_;
  bool writable_;
  std::function<void()> on_release_;
};

}  // namespace miniray

#endif  // MINIRAY_COMMON_BUFFER_H_
