#include "node/message_validator.h"

#include <cmath>
#include <set>
#include <string>

#include "common/id.h"

namespace miniray {
namespace {

Status Bad(const std::string& what) { return Status::InvalidArgument(what); }

template <typename ID>
Status CheckId(const std::string& bytes, const char* what, bool allow_nil = false) {
  ID id;
  if (!ID::Parse(bytes, &id)) {
    return Bad(std::string(what) + " must be " + std::to_string(ID::kSize) + " bytes, got " +
               std::to_string(bytes.size()));
  }
  if (!allow_nil && id.IsNil()) return Bad(std::string(what) + " is nil");
  return Status::OK();
}

template <typename Repeated>
Status CheckObjectIds(const Repeated& ids, const char* what) {
  for (const auto& b : ids) MINIRAY_RETURN_IF_ERROR(CheckId<ObjectID>(b, what));
  return Status::OK();
}

template <typename Map>
Status CheckResources(const Map& resources, const char* what) {
  for (const auto& [name, amount] : resources) {
    if (name.empty()) return Bad(std::string(what) + " has an empty resource name");
    if (!std::isfinite(amount) || amount < 0 || amount > kMaxResourceAmount) {
      return Bad(std::string(what) + "[" + name + "] = " + std::to_string(amount) +
                 " is not a finite amount in [0, 1e15]");
    }
  }
  return Status::OK();
}

constexpr int kMaxBundles = 1000;

Status CheckPlacementGroupId(const std::string& id, bool allow_empty) {
  if (allow_empty && id.empty()) return Status::OK();
  return CheckId<PlacementGroupID>(id, "placement_group_id");
}

Status CheckRetries(int32_t n, const char* what) {
  if (n < -1) return Bad(std::string(what) + " must be >= -1, got " + std::to_string(n));
  return Status::OK();
}

Status CheckValue(const rpc::ObjectValue& v, const char* what) {
  MINIRAY_RETURN_IF_ERROR(CheckId<ObjectID>(v.object_id(), what));
  if (v.has_error()) return Bad(std::string(what) + " carries an error: only the node makes those");
  return CheckObjectIds(v.contained(), "a contained object id");
}

}  // namespace

Status ValidateTaskSpec(const rpc::TaskSpec& spec) {
  MINIRAY_RETURN_IF_ERROR(CheckId<TaskID>(spec.task_id(), "task_id"));
  MINIRAY_RETURN_IF_ERROR(CheckObjectIds(spec.dependencies(), "a dependency"));
  MINIRAY_RETURN_IF_ERROR(CheckObjectIds(spec.contained(), "a contained object id"));
  if (spec.num_returns() > kMaxNumReturns) {
    return Bad("num_returns = " + std::to_string(spec.num_returns()) + " exceeds " +
               std::to_string(kMaxNumReturns));
  }
  MINIRAY_RETURN_IF_ERROR(CheckResources(spec.required_resources(), "required_resources"));
  MINIRAY_RETURN_IF_ERROR(CheckRetries(spec.max_retries(), "max_retries"));
  if (spec.type() != rpc::NORMAL_TASK) {
    MINIRAY_RETURN_IF_ERROR(CheckId<ActorID>(spec.actor_id(), "actor_id"));
  }
  MINIRAY_RETURN_IF_ERROR(CheckPlacementGroupId(spec.placement_group_id(), true));
  if (spec.placement_group_bundle_index() < -1 ||
      spec.placement_group_bundle_index() >= kMaxBundles) {
    return Bad("placement_group_bundle_index out of range");
  }
  if (spec.type() == rpc::ACTOR_CREATION_TASK) {
    const auto& actor = spec.actor_creation_task_spec();
    if (spec.num_returns() != 0) return Bad("an actor creation task has no returns");
    MINIRAY_RETURN_IF_ERROR(CheckRetries(actor.max_actor_restarts(), "max_actor_restarts"));
    if (actor.max_concurrency() < 0) return Bad("max_concurrency must be >= 0");
    MINIRAY_RETURN_IF_ERROR(CheckResources(actor.lifetime_resources(), "lifetime_resources"));
  }
  return Status::OK();
}

Status ValidateClientMessage(const rpc::ClientMessage& m, const ClientRole& role) {
  using M = rpc::ClientMessage;
  if (!role.in_process) {
    bool registering = m.body_case() == M::kRegisterClient;
    if (!role.registered && !registering) return Bad("a client must register first");
    if (role.registered && registering) return Bad("a client registers only once");
    // A state client reads: it may change nothing.
    if (role.registered && role.kind == rpc::OBSERVER) {
      switch (m.body_case()) {
        case M::kGetState:
        case M::kGetResources:
        case M::kPlacementGroupTable:
        case M::kListNamedActors:
        case M::kKvGet:
          break;
        default:
          return Bad("a state client (OBSERVER) only reads the node's state");
      }
    }
  }
  switch (m.body_case()) {
    case M::kRegisterClient:
      if (role.in_process) return Bad("the in-process client does not register");
      return CheckId<WorkerID>(m.register_client().worker_id(), "worker_id");
    case M::kSubmitTask:
      if (m.submit_task().type() == rpc::ACTOR_CREATION_TASK) {
        return Bad("an actor creation task is submitted with create_actor");
      }
      return ValidateTaskSpec(m.submit_task());
    case M::kTaskDone: {
      if (role.in_process || role.kind != rpc::TASK_WORKER) {
        return Bad("only a task worker reports task results");
      }
      MINIRAY_RETURN_IF_ERROR(CheckId<TaskID>(m.task_done().task_id(), "task_id"));
      if (static_cast<uint32_t>(m.task_done().returns_size()) > kMaxNumReturns) {
        return Bad("too many returns");
      }
      for (const auto& v : m.task_done().returns()) {
        MINIRAY_RETURN_IF_ERROR(CheckValue(v, "a return's object id"));
      }
      return Status::OK();
    }
    case M::kPut:
      if (!m.put().has_inline_data()) return Bad("a put carries inline bytes");
      return CheckValue(m.put(), "the put's object id");
    case M::kCreate:
      return CheckId<ObjectID>(m.create().object_id(), "the created object's id");
    case M::kSeal:
      return CheckValue(m.seal(), "the sealed object's id");
    case M::kGet:
      return CheckObjectIds(m.get().object_ids(), "an object id to get");
    case M::kWait:
      MINIRAY_RETURN_IF_ERROR(CheckObjectIds(m.wait().object_ids(), "an object id to wait for"));
      if (m.wait().num_returns() > static_cast<uint32_t>(m.wait().object_ids_size())) {
        return Bad("wait asks for more objects than it names");
      }
      return Status::OK();
    case M::kExpire:
      return Status::OK();
    case M::kRefDelta:
      MINIRAY_RETURN_IF_ERROR(CheckObjectIds(m.ref_delta().add(), "a referenced object id"));
      return CheckObjectIds(m.ref_delta().remove(), "a dereferenced object id");
    case M::kRelease:
      return CheckObjectIds(m.release().object_ids(), "a released object id");
    case M::kKvPut:
      if (m.kv_put().key().empty()) return Bad("an empty key");
      return Status::OK();
    case M::kKvGet:
      if (m.kv_get().key().empty()) return Bad("an empty key");
      return Status::OK();
    case M::kGetResources:
      return Status::OK();
    case M::kCreateActor:
      if (m.create_actor().task_spec().type() != rpc::ACTOR_CREATION_TASK) {
        return Bad("create_actor needs an actor creation task");
      }
      return ValidateTaskSpec(m.create_actor().task_spec());
    case M::kGetActor:
      if (m.get_actor().name().empty()) return Bad("an empty actor name");
      return Status::OK();
    case M::kListNamedActors:
      return Status::OK();
    case M::kCreatePlacementGroup: {
      const auto& pg = m.create_placement_group();
      MINIRAY_RETURN_IF_ERROR(CheckPlacementGroupId(pg.placement_group_id(), false));
      if (pg.bundles_size() == 0 || pg.bundles_size() > kMaxBundles) {
        return Bad("a placement group has 1 to 1000 bundles");
      }
      for (const auto& b : pg.bundles()) {
        MINIRAY_RETURN_IF_ERROR(CheckResources(b.resources(), "a bundle"));
        for (const auto& [name, amount] : b.resources()) {
          if (name.find("_group_") != std::string::npos) {
            return Bad("a bundle asks for a placement group's own resource " + name);
          }
        }
      }
      if (pg.bundle_indices_size() != 0) {
        if (pg.bundle_indices_size() != pg.bundles_size()) {
          return Bad("bundle_indices must give one index per bundle");
        }
        std::set<int32_t> seen;
        for (int32_t index : pg.bundle_indices()) {
          if (index < 0 || index >= kMaxBundles || !seen.insert(index).second) {
            return Bad("bundle_indices must be distinct, from 0 to 999");
          }
        }
      }
      return Status::OK();
    }
    case M::kRemovePlacementGroup:
      return CheckPlacementGroupId(m.remove_placement_group().placement_group_id(), false);
    case M::kPlacementGroupTable:
      return Status::OK();
    case M::kExpectObjects:
      if (m.expect_objects().object_ids_size() > 1000) return Bad("too many expected objects");
      return CheckObjectIds(m.expect_objects().object_ids(), "an expected object id");
    case M::kKillActor:
      return CheckId<ActorID>(m.kill_actor().actor_id(), "actor_id");
    case M::kCancelTask:
      return CheckId<ObjectID>(m.cancel_task().object_id(), "object_id");
    case M::kGetState:
      return Status::OK();
    case M::BODY_NOT_SET:
      return Bad("a message with no body");
  }
  return Bad("an unknown message");
}

}  // namespace miniray
