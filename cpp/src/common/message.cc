#include "common/message.h"

namespace miniray {
namespace {

void EncodeValues(Writer& w, const std::vector<ObjectValue>& values) {
  w.U32(static_cast<uint32_t>(values.size()));
  for (const auto& v : values) v.Encode(w);
}

std::vector<ObjectValue> DecodeValues(Reader& r) {
  uint32_t n = r.U32();
  std::vector<ObjectValue> out;
  for (uint32_t i = 0; i < n && r.ok(); ++i) out.push_back(ObjectValue::Decode(r));
  return out;
}

void EncodeResources(Writer& w, const std::vector<ResourceDemand>& rs) {
  w.U32(static_cast<uint32_t>(rs.size()));
  for (const auto& d : rs) {
    w.Bytes(d.name);
    w.F64(d.amount);
  }
}

std::vector<ResourceDemand> DecodeResources(Reader& r) {
  uint32_t n = r.U32();
  std::vector<ResourceDemand> out;
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    ResourceDemand d;
    d.name = r.Bytes();
    d.amount = r.F64();
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace

void ObjectValue::Encode(Writer& w) const {
  w.Id(id);
  w.U8(kind);
  w.Bytes(data);
  w.U64(offset);
  w.U64(size);
  w.U8(static_cast<uint8_t>(error));
  w.Ids(contained);
}

ObjectValue ObjectValue::Decode(Reader& r) {
  ObjectValue v;
  v.id = r.Id<ObjectID>();
  v.kind = static_cast<Kind>(r.U8());
  v.data = r.Bytes();
  v.offset = r.U64();
  v.size = r.U64();
  v.error = static_cast<ErrorType>(r.U8());
  v.contained = r.Ids<ObjectID>();
  return v;
}

void TaskSpec::Encode(Writer& w) const {
  w.Id(task_id);
  w.Bytes(name);
  w.Bytes(function_id);
  w.Bytes(args);
  w.Ids(dependencies);
  w.Ids(contained);
  w.U32(num_returns);
  EncodeResources(w, resources);
  w.I64(max_retries);
  w.U8(retry_exceptions);
  w.Bytes(runtime_env);
  w.Id(actor_id);
  w.U8(actor_creation);
  EncodeResources(w, actor_resources);
  w.I64(max_restarts);
}

TaskSpec TaskSpec::Decode(Reader& r) {
  TaskSpec s;
  s.task_id = r.Id<TaskID>();
  s.name = r.Bytes();
  s.function_id = r.Bytes();
  s.args = r.Bytes();
  s.dependencies = r.Ids<ObjectID>();
  s.contained = r.Ids<ObjectID>();
  s.num_returns = r.U32();
  s.resources = DecodeResources(r);
  s.max_retries = static_cast<int32_t>(r.I64());
  s.retry_exceptions = r.U8() != 0;
  s.runtime_env = r.Bytes();
  s.actor_id = r.Id<ActorID>();
  s.actor_creation = r.U8() != 0;
  s.actor_resources = DecodeResources(r);
  s.max_restarts = static_cast<int32_t>(r.I64());
  return s;
}

void Register::Encode(Writer& w) const {
  w.Id(worker_id);
  w.I64(pid);
}
Register Register::Decode(Reader& r) {
  Register m;
  m.worker_id = r.Id<WorkerID>();
  m.pid = r.I64();
  return m;
}

void RegisterReply::Encode(Writer& w) const {
  w.Id(node_id);
  w.U64(arena_size);
}
RegisterReply RegisterReply::Decode(Reader& r) {
  RegisterReply m;
  m.node_id = r.Id<NodeID>();
  m.arena_size = r.U64();
  return m;
}

void ExecuteTask::Encode(Writer& w) const {
  spec.Encode(w);
  EncodeValues(w, args);
  w.U32(static_cast<uint32_t>(gpu_ids.size()));
  for (int64_t g : gpu_ids) w.I64(g);
}
ExecuteTask ExecuteTask::Decode(Reader& r) {
  ExecuteTask m;
  m.spec = TaskSpec::Decode(r);
  m.args = DecodeValues(r);
  uint32_t n = r.U32();
  for (uint32_t i = 0; i < n && r.ok(); ++i) m.gpu_ids.push_back(r.I64());
  return m;
}

void TaskDone::Encode(Writer& w) const {
  w.Id(task_id);
  w.U8(application_error);
  EncodeValues(w, returns);
  w.Bytes(error_message);
  w.U8(actor_exiting);
  w.U8(cancelled);
}
TaskDone TaskDone::Decode(Reader& r) {
  TaskDone m;
  m.task_id = r.Id<TaskID>();
  m.application_error = r.U8() != 0;
  m.returns = DecodeValues(r);
  m.error_message = r.Bytes();
  m.actor_exiting = r.U8() != 0;
  m.cancelled = r.U8() != 0;
  return m;
}

void CreateRequest::Encode(Writer& w) const {
  w.U64(request_id);
  w.Id(id);
  w.U64(size);
}
CreateRequest CreateRequest::Decode(Reader& r) {
  CreateRequest m;
  m.request_id = r.U64();
  m.id = r.Id<ObjectID>();
  m.size = r.U64();
  return m;
}

void CreateReply::Encode(Writer& w) const {
  w.U64(request_id);
  w.I64(code);
  w.Bytes(message);
  w.U64(offset);
}
CreateReply CreateReply::Decode(Reader& r) {
  CreateReply m;
  m.request_id = r.U64();
  m.code = static_cast<int32_t>(r.I64());
  m.message = r.Bytes();
  m.offset = r.U64();
  return m;
}

void GetRequest::Encode(Writer& w) const {
  w.U64(request_id);
  w.Ids(ids);
}
GetRequest GetRequest::Decode(Reader& r) {
  GetRequest m;
  m.request_id = r.U64();
  m.ids = r.Ids<ObjectID>();
  return m;
}

void GetReply::Encode(Writer& w) const {
  w.U64(request_id);
  w.I64(code);
  EncodeValues(w, values);
}
GetReply GetReply::Decode(Reader& r) {
  GetReply m;
  m.request_id = r.U64();
  m.code = static_cast<int32_t>(r.I64());
  m.values = DecodeValues(r);
  return m;
}

void WaitRequest::Encode(Writer& w) const {
  w.U64(request_id);
  w.Ids(ids);
  w.U32(num_returns);
}
WaitRequest WaitRequest::Decode(Reader& r) {
  WaitRequest m;
  m.request_id = r.U64();
  m.ids = r.Ids<ObjectID>();
  m.num_returns = r.U32();
  return m;
}

void WaitReply::Encode(Writer& w) const {
  w.U64(request_id);
  w.Bytes(std::string_view(reinterpret_cast<const char*>(ready.data()),
                           ready.size()));
}
WaitReply WaitReply::Decode(Reader& r) {
  WaitReply m;
  m.request_id = r.U64();
  std::string flags = r.Bytes();
  m.ready.assign(flags.begin(), flags.end());
  return m;
}

void Cancel::Encode(Writer& w) const { w.U64(request_id); }
Cancel Cancel::Decode(Reader& r) {
  Cancel m;
  m.request_id = r.U64();
  return m;
}

void RefDelta::Encode(Writer& w) const {
  w.Ids(add);
  w.Ids(remove);
}
RefDelta RefDelta::Decode(Reader& r) {
  RefDelta m;
  m.add = r.Ids<ObjectID>();
  m.remove = r.Ids<ObjectID>();
  return m;
}

void IdList::Encode(Writer& w) const { w.Ids(ids); }
IdList IdList::Decode(Reader& r) {
  IdList m;
  m.ids = r.Ids<ObjectID>();
  return m;
}

void KvPut::Encode(Writer& w) const {
  w.Bytes(key);
  w.Bytes(value);
  w.U8(overwrite);
}
KvPut KvPut::Decode(Reader& r) {
  KvPut m;
  m.key = r.Bytes();
  m.value = r.Bytes();
  m.overwrite = r.U8() != 0;
  return m;
}

void KvGet::Encode(Writer& w) const {
  w.U64(request_id);
  w.Bytes(key);
}
KvGet KvGet::Decode(Reader& r) {
  KvGet m;
  m.request_id = r.U64();
  m.key = r.Bytes();
  return m;
}

void KvReply::Encode(Writer& w) const {
  w.U64(request_id);
  w.U8(found);
  w.Bytes(value);
}
KvReply KvReply::Decode(Reader& r) {
  KvReply m;
  m.request_id = r.U64();
  m.found = r.U8() != 0;
  m.value = r.Bytes();
  return m;
}

void ResourcesRequest::Encode(Writer& w) const { w.U64(request_id); }
ResourcesRequest ResourcesRequest::Decode(Reader& r) {
  ResourcesRequest m;
  m.request_id = r.U64();
  return m;
}

void ResourcesReply::Encode(Writer& w) const {
  w.U64(request_id);
  EncodeResources(w, total);
  EncodeResources(w, available);
}
ResourcesReply ResourcesReply::Decode(Reader& r) {
  ResourcesReply m;
  m.request_id = r.U64();
  m.total = DecodeResources(r);
  m.available = DecodeResources(r);
  return m;
}

void CreateActorRequest::Encode(Writer& w) const {
  w.U64(request_id);
  spec.Encode(w);
  w.Bytes(name);
  w.Bytes(ray_namespace);
  w.U8(get_if_exists);
  w.U8(detached);
  w.Bytes(metadata);
}
CreateActorRequest CreateActorRequest::Decode(Reader& r) {
  CreateActorRequest m;
  m.request_id = r.U64();
  m.spec = TaskSpec::Decode(r);
  m.name = r.Bytes();
  m.ray_namespace = r.Bytes();
  m.get_if_exists = r.U8() != 0;
  m.detached = r.U8() != 0;
  m.metadata = r.Bytes();
  return m;
}

void GetActorRequest::Encode(Writer& w) const {
  w.U64(request_id);
  w.Bytes(name);
  w.Bytes(ray_namespace);
}
GetActorRequest GetActorRequest::Decode(Reader& r) {
  GetActorRequest m;
  m.request_id = r.U64();
  m.name = r.Bytes();
  m.ray_namespace = r.Bytes();
  return m;
}

void ActorReply::Encode(Writer& w) const {
  w.U64(request_id);
  w.I64(code);
  w.Bytes(message);
  w.Id(actor_id);
  w.Bytes(metadata);
}
ActorReply ActorReply::Decode(Reader& r) {
  ActorReply m;
  m.request_id = r.U64();
  m.code = static_cast<int32_t>(r.I64());
  m.message = r.Bytes();
  m.actor_id = r.Id<ActorID>();
  m.metadata = r.Bytes();
  return m;
}

void CancelTask::Encode(Writer& w) const {
  w.Id(object_id);
  w.U8(force);
  w.U8(recursive);
}
CancelTask CancelTask::Decode(Reader& r) {
  CancelTask m;
  m.object_id = r.Id<ObjectID>();
  m.force = r.U8() != 0;
  m.recursive = r.U8() != 0;
  return m;
}

void KillActor::Encode(Writer& w) const {
  w.Id(actor_id);
  w.U8(no_restart);
}
KillActor KillActor::Decode(Reader& r) {
  KillActor m;
  m.actor_id = r.Id<ActorID>();
  m.no_restart = r.U8() != 0;
  return m;
}

}  // namespace miniray
