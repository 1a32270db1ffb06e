// TaskSpecification: typed access to an rpc::TaskSpec (protobuf/common.proto),
// as Ray's TaskSpecification. The message is the data; this wrapper only
// turns its bytes fields into IDs and answers questions about its type.
#ifndef MINIRAY_COMMON_TASK_SPEC_H_
#define MINIRAY_COMMON_TASK_SPEC_H_

#include <string>
#include <utility>
#include <vector>

#include "common/id.h"
#include "protobuf/common.pb.h"

namespace miniray {

// A value type: copyable, movable, not thread-safe.
class TaskSpecification {
 public:
  TaskSpecification() = default;
  explicit TaskSpecification(rpc::TaskSpec message) : message_(std::move(message)) {}

  const rpc::TaskSpec& message() const { return message_; }
  rpc::TaskSpec& mutable_message() { return message_; }

  TaskID TaskId() const { return TaskID::FromBinary(message_.task_id()); }
  ActorID ActorId() const { return ActorID::FromBinary(message_.actor_id()); }
  const std::string& Name() const { return message_.name(); }
  uint32_t NumReturns() const { return message_.num_returns(); }

  bool IsNormalTask() const { return message_.type() == rpc::NORMAL_TASK; }
  bool IsActorCreationTask() const { return message_.type() == rpc::ACTOR_CREATION_TASK; }
  bool IsActorTask() const { return message_.type() == rpc::ACTOR_TASK; }

  // The i-th return (0-based); its ObjectID index is i + 1.
  ObjectID ReturnId(uint32_t i) const { return ObjectID::ForTaskReturn(TaskId(), i + 1); }
  std::vector<ObjectID> Dependencies() const { return ToIds(message_.dependencies()); }
  // Everything the task keeps alive until it ends: its top-level arguments
  // and the refs nested in them.
  std::vector<ObjectID> HeldReferences() const {
    std::vector<ObjectID> ids = ToIds(message_.dependencies());
    for (const auto& b : message_.contained()) ids.push_back(ObjectID::FromBinary(b));
    return ids;
  }

  template <typename Repeated>
  static std::vector<ObjectID> ToIds(const Repeated& bytes) {
    std::vector<ObjectID> ids;
    ids.reserve(static_cast<size_t>(bytes.size()));
    for (const auto& b : bytes) ids.push_back(ObjectID::FromBinary(b));
    return ids;
  }

 private:
  rpc::TaskSpec message_;
};

}  // namespace miniray

#endif  // MINIRAY_COMMON_TASK_SPEC_H_
