// Wall-clock time as miniray records it: microseconds (or milliseconds)
// since the Unix epoch, as Ray's state API and timelines report times.
// Processes of one machine share the clock, so a worker's stamps and its
// node's compare directly.
#ifndef MINIRAY_COMMON_CLOCK_H_
#define MINIRAY_COMMON_CLOCK_H_

#include <chrono>
#include <cstdint>

namespace miniray {

inline int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline int64_t NowMillis() { return NowMicros() / 1000; }

}  // namespace miniray

#endif  // MINIRAY_COMMON_CLOCK_H_
