// Unique IDs for every entity miniray names: objects, tasks, actors, workers,
// nodes and jobs. One template gives them all the same operations (random,
// nil, binary and hex round trip, hashing), as Ray's src/ray/common/id.h.
// An ObjectID is derived from the TaskID that creates it plus an index, so a
// task's return IDs are known before the task runs.
#ifndef MINIRAY_COMMON_ID_H_
#define MINIRAY_COMMON_ID_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>

namespace miniray {

// Fills `out` with `n` random bytes (a per-thread generator seeded from the
// OS, so IDs from different processes and threads do not collide).
void FillRandom(uint8_t* out, size_t n);

template <typename T, size_t N>
class BaseID {
 public:
  static constexpr size_t kSize = N;

  // The nil ID (all zero bytes).
  BaseID() { bytes_.fill(0); }

  static T Nil() { return T(); }
  static T FromRandom() {
    T id;
    FillRandom(id.bytes_.data(), N);
    return id;
  }
  // `binary` should hold exactly kSize bytes (shorter input is padded with
  // zeros); messages from clients are checked with Parse first.
  static T FromBinary(std::string_view binary) {
    T id;
    std::memcpy(id.bytes_.data(), binary.data(),
                binary.size() < N ? binary.size() : N);
    return id;
  }
  // The inverse of Hex(); the nil ID unless `hex` is 2 * kSize hex digits.
  static T FromHex(std::string_view hex) {
    T id;
    if (hex.size() != 2 * N) return id;
    auto digit = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    for (size_t i = 0; i < N; ++i) {
      int hi = digit(hex[2 * i]), lo = digit(hex[2 * i + 1]);
      if (hi < 0 || lo < 0) return T();
      id.bytes_[i] = static_cast<uint8_t>(hi << 4 | lo);
    }
    return id;
  }
  // False (leaving `out` alone) unless `binary` holds exactly kSize bytes.
  static bool Parse(std::string_view binary, T* out) {
    if (binary.size() != N) return false;
    std::memcpy(out->bytes_.data(), binary.data(), N);
    return true;
  }

  bool IsNil() const {
    for (uint8_t b : bytes_) {
      if (b != 0) return false;
    }
    return true;
  }
  std::string Binary() const {
    return std::string(reinterpret_cast<const char*>(bytes_.data()), N);
  }
  std::string Hex() const {
    static const char kDigits[] = "0123456789abcdef";
    std::string out(2 * N, '0');
    for (size_t i = 0; i < N; ++i) {
      out[2 * i] = kDigits[bytes_[i] >> 4];
      out[2 * i + 1] = kDigits[bytes_[i] & 0xf];
    }
    return out;
  }
  // FNV-1a over all bytes: derived IDs share prefixes, so use every byte.
  size_t Hash() const {
    uint64_t h = 1469598103934665603ull;
    for (uint8_t b : bytes_) {
      h = (h ^ b) * 1099511628211ull;
    }
    return static_cast<size_t>(h);
  }
  const uint8_t* data() const { return bytes_.data(); }

  bool operator==(const BaseID& o) const { return bytes_ == o.bytes_; }
  bool operator!=(const BaseID& o) const { return bytes_ != o.bytes_; }
  bool operator<(const BaseID& o) const { return bytes_ < o.bytes_; }

 protected:
  std::array<uint8_t, N> bytes_;
};

// Jobs are numbered by the node (cluster) they start on: 1, 2, ...
class JobID : public BaseID<JobID, 4> {
 public:
  static JobID FromInt(uint32_t n) {
    JobID id;
    for (size_t i = 0; i < 4; ++i) id.bytes_[i] = (n >> (8 * (3 - i))) & 0xff;  // big endian
    return id;
  }
  uint32_t ToInt() const {
    uint32_t n = 0;
    for (size_t i = 0; i < 4; ++i) n = (n << 8) | bytes_[i];
    return n;
  }
};
class NodeID : public BaseID<NodeID, 16> {};
class WorkerID : public BaseID<WorkerID, 16> {};
class ActorID : public BaseID<ActorID, 16> {};
class TaskID : public BaseID<TaskID, 16> {};
class PlacementGroupID : public BaseID<PlacementGroupID, 16> {};

// TaskID (16 bytes) followed by a 4-byte little-endian index. Index 0 is
// never a task return: puts use a random prefix and index 0, task returns
// 1..n, and an actor's handle object 0xffffffff.
class ObjectID : public BaseID<ObjectID, 20> {
 public:
  static ObjectID ForPut() { return ForTaskReturn(TaskID::FromRandom(), 0); }
  static ObjectID ForTaskReturn(const TaskID& task, uint32_t index) {
    ObjectID id;
    std::memcpy(id.bytes_.data(), task.data(), TaskID::kSize);
    for (size_t i = 0; i < 4; ++i) id.bytes_[TaskID::kSize + i] = (index >> (8 * i)) & 0xff;
    return id;
  }
  // The object standing for an actor's handles: while any process, task or
  // value refers to it, the actor stays alive (unless it is detached).
  static constexpr uint32_t kActorHandleIndex = 0xffffffffu;
  static ObjectID ForActorHandle(const ActorID& actor) {
    ObjectID id;
    std::memcpy(id.bytes_.data(), actor.data(), ActorID::kSize);
    for (size_t i = 0; i < 4; ++i) id.bytes_[ActorID::kSize + i] = 0xff;
    return id;
  }
  bool IsActorHandle() const { return Index() == kActorHandleIndex; }
  ActorID Actor() const {
    return ActorID::FromBinary(std::string_view(
        reinterpret_cast<const char*>(bytes_.data()), ActorID::kSize));
  }
  TaskID Task() const {
    return TaskID::FromBinary(std::string_view(
        reinterpret_cast<const char*>(bytes_.data()), TaskID::kSize));
  }
  uint32_t Index() const {
    uint32_t index = 0;
    for (size_t i = 0; i < 4; ++i) index |= static_cast<uint32_t>(bytes_[TaskID::kSize + i]) << (8 * i);
    return index;
  }
};

// Lets IDs key std::unordered_map / std::unordered_set.
template <typename T>
struct IDHash {
  size_t operator()(const T& id) const { return id.Hash(); }
};

}  // namespace miniray

namespace std {
template <>
struct hash<miniray::ObjectID> : miniray::IDHash<miniray::ObjectID> {};
template <>
struct hash<miniray::TaskID> : miniray::IDHash<miniray::TaskID> {};
template <>
struct hash<miniray::WorkerID> : miniray::IDHash<miniray::WorkerID> {};
template <>
struct hash<miniray::ActorID> : miniray::IDHash<miniray::ActorID> {};
template <>
struct hash<miniray::NodeID> : miniray::IDHash<miniray::NodeID> {};
template <>
struct hash<miniray::JobID> : miniray::IDHash<miniray::JobID> {};
}  // namespace std

#endif  // MINIRAY_COMMON_ID_H_
