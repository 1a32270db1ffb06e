#include "common/id.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <random>

namespace miniray {

void FillRandom(uint8_t* out, size_t n) {
  // Seeded per thread from the OS, the pid and the clock: after a fork the
  // child reseeds on its first use in a new thread, and the pid differs.
  thread_local std::mt19937_64 gen([] {
    std::random_device rd;
    uint64_t seed = (static_cast<uint64_t>(rd()) << 32) ^ rd();
    seed ^= static_cast<uint64_t>(getpid()) << 17;
    seed ^= static_cast<uint64_t>(syscall(SYS_gettid));
    seed ^= static_cast<uint64_t>(
        std::chrono::high_resolution_clock::now().time_since_epoch().count());
    return seed;
  }());
  size_t i = 0;
  while (i < n) {
    uint64_t r = gen();
    for (int k = 0; k < 8 && i < n; ++k, ++i) {
      out[i] = static_cast<uint8_t>(r >> (8 * k));
    }
  }
}

}  // namespace miniray
