// The wire format between a CoreWorker and the node runtime, defined here
// and nowhere else. A frame is
//
//   [u32 payload length, little endian][u8 MessageType][payload]
//
// and each payload is one of the structs below, encoded field by field with
// Writer and decoded with Reader (fixed-width little-endian integers,
// length-prefixed bytes). Python payloads (pickled functions, arguments and
// values) are opaque bytes here: the C++ core never parses a pickle.
#ifndef MINIRAY_COMMON_MESSAGE_H_
#define MINIRAY_COMMON_MESSAGE_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/id.h"

namespace miniray {

enum class MessageType : uint8_t {
  // worker -> node
  kRegister = 1,     // Register
  kSubmitTask = 2,   // TaskSpec
  kTaskDone = 3,     // TaskDone
  kPut = 4,          // ObjectValue (inline)
  kCreate = 5,       // CreateRequest -> kCreateReply
  kSeal = 6,         // ObjectValue (shared, already written)
  kGet = 7,          // GetRequest -> kGetReply
  kWait = 8,         // WaitRequest -> kWaitReply
  kCancel = 9,       // Cancel: answer a pending Get/Wait now
  kRefDelta = 10,    // RefDelta: add / remove references
  kRelease = 11,     // IdList: drop pins on shared objects
  kKvPut = 12,       // KvPut
  kKvGet = 13,       // KvGet -> kKvReply
  kResources = 14,   // Empty request -> kResourcesReply
  kCreateActor = 15,  // CreateActorRequest -> kActorReply
  kGetActor = 16,     // GetActorRequest -> kActorReply
  kKillActor = 17,    // KillActor
  kCancelTask = 18,   // CancelTask (client -> node, and node -> worker)
  // node -> worker
  kRegisterReply = 64,  // RegisterReply (+ the arena's fd, SCM_RIGHTS)
  kExecuteTask = 65,    // ExecuteTask
  kCreateReply = 66,    // CreateReply
  kGetReply = 67,       // GetReply
  kWaitReply = 68,      // WaitReply
  kKvReply = 69,        // KvReply
  kResourcesReply = 70,  // ResourcesReply
  kActorReply = 71,      // ActorReply
};

// Appends fields to a byte string.
class Writer {
 public:
  void U8(uint8_t v) { buf_.push_back(static_cast<char>(v)); }
  void U32(uint32_t v) { Raw(&v, sizeof(v)); }
  void U64(uint64_t v) { Raw(&v, sizeof(v)); }
  void I64(int64_t v) { Raw(&v, sizeof(v)); }
  void F64(double v) { Raw(&v, sizeof(v)); }
  void Bytes(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    buf_.append(s.data(), s.size());
  }
  template <typename ID>
  void Id(const ID& id) {
    Raw(id.data(), ID::kSize);
  }
  template <typename ID>
  void Ids(const std::vector<ID>& ids) {
    U32(static_cast<uint32_t>(ids.size()));
    for (const auto& id : ids) Id(id);
  }
  std::string& str() { return buf_; }

 private:
  void Raw(const void* p, size_t n) {
    buf_.append(static_cast<const char*>(p), n);
  }
  std::string buf_;
};

// Reads fields back; any read past the end sets ok() to false and returns
// zeros, so a decoder checks ok() once at the end.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  uint8_t U8() {
    uint8_t v = 0;
    Raw(&v, 1);
    return v;
  }
  uint32_t U32() {
    uint32_t v = 0;
    Raw(&v, sizeof(v));
    return v;
  }
  uint64_t U64() {
    uint64_t v = 0;
    Raw(&v, sizeof(v));
    return v;
  }
  int64_t I64() {
    int64_t v = 0;
    Raw(&v, sizeof(v));
    return v;
  }
  double F64() {
    double v = 0;
    Raw(&v, sizeof(v));
    return v;
  }
  std::string Bytes() {
    uint32_t n = U32();
    if (!ok_ || data_.size() - pos_ < n) {
      ok_ = false;
      return {};
    }
    std::string s(data_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  template <typename ID>
  ID Id() {
    if (!ok_ || data_.size() - pos_ < ID::kSize) {
      ok_ = false;
      return ID();
    }
    ID id = ID::FromBinary(data_.substr(pos_, ID::kSize));
    pos_ += ID::kSize;
    return id;
  }
  template <typename ID>
  std::vector<ID> Ids() {
    uint32_t n = U32();
    std::vector<ID> out;
    if (!ok_ || (data_.size() - pos_) / ID::kSize < n) {
      ok_ = false;
      return out;
    }
    out.reserve(n);
    for (uint32_t i = 0; i < n; ++i) out.push_back(Id<ID>());
    return out;
  }
  bool ok() const { return ok_; }
  bool done() const { return ok_ && pos_ == data_.size(); }

 private:
  void Raw(void* p, size_t n) {
    if (!ok_ || data_.size() - pos_ < n) {
      ok_ = false;
      return;
    }
    std::memcpy(p, data_.data() + pos_, n);
    pos_ += n;
  }
  std::string_view data_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// Why an object holds an error made by the node rather than a value.
enum class ErrorType : uint8_t {
  kNone = 0,
  kWorkerDied = 1,     // WorkerCrashedError
  kObjectLost = 2,     // ObjectLostError
  kTaskCancelled = 3,  // TaskCancelledError
  kActorDied = 4,      // ActorDiedError
};

// An object's value as it travels: inline bytes, a location in the shared
// arena, or an error made by the node.
struct ObjectValue {
  enum Kind : uint8_t { kInline = 0, kShared = 1, kError = 2 };
  ObjectID id;
  Kind kind = kInline;
  std::string data;  // kInline: the bytes; kError: the message
  uint64_t offset = 0;  // kShared
  uint64_t size = 0;    // kShared
  ErrorType error = ErrorType::kNone;
  // ObjectRefs serialized inside the value: they live as long as it does.
  std::vector<ObjectID> contained;

  void Encode(Writer& w) const;
  static ObjectValue Decode(Reader& r);
};

// One resource demand, in Ray's units (CPU, GPU, memory, custom names).
struct ResourceDemand {
  std::string name;
  double amount = 0;
};

// Everything the scheduler and a worker need to run one task.
struct TaskSpec {
  TaskID task_id;
  std::string name;         // for logs and errors, e.g. "add"
  std::string function_id;  // key of the exported function in the node's KV
  std::string args;         // serialized (args, kwargs); opaque
  // Top-level ObjectRef arguments: the task waits for them; their values
  // are sent with the task. The serialized args refer to them by position.
  std::vector<ObjectID> dependencies;
  // ObjectRefs nested inside the args: kept alive until the task ends.
  std::vector<ObjectID> contained;
  uint32_t num_returns = 1;
  std::vector<ResourceDemand> resources;
  int32_t max_retries = 0;  // -1: forever
  bool retry_exceptions = false;
  std::string runtime_env;  // opaque (JSON from Python)

  // Actors. A creation task (actor_creation) starts the actor on a worker
  // that is then dedicated to it; a method call names the actor and runs
  // on that worker in submission order.
  ActorID actor_id;  // nil for plain tasks
  bool actor_creation = false;
  // Creation only: what the actor holds while alive (`resources` is what
  // it needs to be placed), and how often it is restarted (-1: forever).
  std::vector<ResourceDemand> actor_resources;
  int32_t max_restarts = 0;

  bool IsActorTask() const { return !actor_id.IsNil() && !actor_creation; }
  ObjectID ReturnId(uint32_t i) const {
    return ObjectID::ForTaskReturn(task_id, i + 1);
  }
  void Encode(Writer& w) const;
  static TaskSpec Decode(Reader& r);
};

struct Register {
  WorkerID worker_id;
  int64_t pid = 0;
  void Encode(Writer& w) const;
  static Register Decode(Reader& r);
};

struct RegisterReply {
  NodeID node_id;
  uint64_t arena_size = 0;
  void Encode(Writer& w) const;
  static RegisterReply Decode(Reader& r);
};

// A task sent to a worker, with the values of its dependencies (each shared
// value carries one pin that the worker releases when it drops the value).
struct ExecuteTask {
  TaskSpec spec;
  std::vector<ObjectValue> args;
  std::vector<int64_t> gpu_ids;
  void Encode(Writer& w) const;
  static ExecuteTask Decode(Reader& r);
};

struct TaskDone {
  TaskID task_id;
  bool application_error = false;  // the function raised
  std::vector<ObjectValue> returns;
  // A failed actor constructor's error, as text: the actor's death cause.
  std::string error_message;
  // The actor is exiting on purpose (exit_actor, __ray_terminate__).
  bool actor_exiting = false;
  // Cancelled before it started (an actor call still queued in the worker).
  bool cancelled = false;
  void Encode(Writer& w) const;
  static TaskDone Decode(Reader& r);
};

struct CreateRequest {
  uint64_t request_id = 0;
  ObjectID id;
  uint64_t size = 0;
  void Encode(Writer& w) const;
  static CreateRequest Decode(Reader& r);
};

struct CreateReply {
  uint64_t request_id = 0;
  int32_t code = 0;  // StatusCode
  std::string message;
  uint64_t offset = 0;
  void Encode(Writer& w) const;
  static CreateReply Decode(Reader& r);
};

struct GetRequest {
  uint64_t request_id = 0;
  std::vector<ObjectID> ids;
  void Encode(Writer& w) const;
  static GetRequest Decode(Reader& r);
};

struct GetReply {
  uint64_t request_id = 0;
  int32_t code = 0;  // kDeadlineExceeded when cancelled before ready
  std::vector<ObjectValue> values;
  void Encode(Writer& w) const;
  static GetReply Decode(Reader& r);
};

struct WaitRequest {
  uint64_t request_id = 0;
  std::vector<ObjectID> ids;
  uint32_t num_returns = 1;
  void Encode(Writer& w) const;
  static WaitRequest Decode(Reader& r);
};

struct WaitReply {
  uint64_t request_id = 0;
  std::vector<uint8_t> ready;  // one flag per requested id
  void Encode(Writer& w) const;
  static WaitReply Decode(Reader& r);
};

struct Cancel {
  uint64_t request_id = 0;
  void Encode(Writer& w) const;
  static Cancel Decode(Reader& r);
};

// Reference count changes, batched: +1 for each id in `add`, -1 in `remove`.
struct RefDelta {
  std::vector<ObjectID> add;
  std::vector<ObjectID> remove;
  void Encode(Writer& w) const;
  static RefDelta Decode(Reader& r);
};

struct IdList {
  std::vector<ObjectID> ids;
  void Encode(Writer& w) const;
  static IdList Decode(Reader& r);
};

struct KvPut {
  std::string key;
  std::string value;
  bool overwrite = true;
  void Encode(Writer& w) const;
  static KvPut Decode(Reader& r);
};

struct KvGet {
  uint64_t request_id = 0;
  std::string key;
  void Encode(Writer& w) const;
  static KvGet Decode(Reader& r);
};

struct KvReply {
  uint64_t request_id = 0;
  bool found = false;
  std::string value;
  void Encode(Writer& w) const;
  static KvReply Decode(Reader& r);
};

struct ResourcesRequest {
  uint64_t request_id = 0;
  void Encode(Writer& w) const;
  static ResourcesRequest Decode(Reader& r);
};

struct ResourcesReply {
  uint64_t request_id = 0;
  std::vector<ResourceDemand> total;
  std::vector<ResourceDemand> available;
  void Encode(Writer& w) const;
  static ResourcesReply Decode(Reader& r);
};

// Creates an actor: registers its name (if any) and submits its creation
// task. With get_if_exists, an actor already holding the name is returned.
struct CreateActorRequest {
  uint64_t request_id = 0;
  TaskSpec spec;  // the creation task
  std::string name;
  std::string ray_namespace;
  bool get_if_exists = false;
  bool detached = false;
  std::string metadata;  // opaque: what a handle needs (class, methods)
  void Encode(Writer& w) const;
  static CreateActorRequest Decode(Reader& r);
};

struct GetActorRequest {
  uint64_t request_id = 0;
  std::string name;
  std::string ray_namespace;
  void Encode(Writer& w) const;
  static GetActorRequest Decode(Reader& r);
};

struct ActorReply {
  uint64_t request_id = 0;
  int32_t code = 0;  // StatusCode: kAlreadyExists, kNotFound
  std::string message;
  ActorID actor_id;
  std::string metadata;
  void Encode(Writer& w) const;
  static ActorReply Decode(Reader& r);
};

// Cancels the task that creates `object_id` (as ray.cancel): a queued task
// is dropped, a running one interrupted (or its worker killed with force).
// The node forwards it to the worker running the task.
struct CancelTask {
  ObjectID object_id;
  bool force = false;
  bool recursive = true;  // also the tasks it submitted, and theirs
  void Encode(Writer& w) const;
  static CancelTask Decode(Reader& r);
};

struct KillActor {
  ActorID actor_id;
  bool no_restart = true;
  void Encode(Writer& w) const;
  static KillActor Decode(Reader& r);
};

// Encodes `msg` as a payload string.
template <typename M>
std::string EncodePayload(const M& msg) {
  Writer w;
  msg.Encode(w);
  return std::move(w.str());
}

// Decodes a whole payload; false when it is malformed or has trailing bytes.
template <typename M>
bool DecodePayload(std::string_view payload, M* out) {
  Reader r(payload);
  *out = M::Decode(r);
  return r.done();
}

// Frame header: payload length and type.
constexpr size_t kFrameHeaderSize = 5;
inline void EncodeFrameHeader(uint32_t payload_size, MessageType type,
                              char* out) {
  std::memcpy(out, &payload_size, 4);
  out[4] = static_cast<char>(type);
}

}  // namespace miniray

#endif  // MINIRAY_COMMON_MESSAGE_H_
