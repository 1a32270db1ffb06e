#include "core_worker/core_worker.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "common/clock.h"

namespace miniray {
namespace {
constexpr uint64_t kPrefaultBytes = 1 << 20;
constexpr int kMadvPopulateWrite = 23;  // MADV_POPULATE_WRITE, Linux 5.14

Status FromProto(const rpc::StatusProto& s) {
  return s.code() == 0 ? Status::OK() : Status(static_cast<StatusCode>(s.code()), s.message());
}

template <typename Repeated>
void AddIds(const std::vector<ObjectID>& ids, Repeated* out) {
  out->Reserve(static_cast<int>(ids.size()));
  for (const auto& id : ids) out->Add(id.Binary());
}
}  // namespace

StatusOr<std::shared_ptr<CoreWorker>> CoreWorker::Connect(std::unique_ptr<NodeChannel> channel) {
  std::shared_ptr<CoreWorker> cw(new CoreWorker());
  cw->worker_id_ = WorkerID::FromRandom();
  // The channel may deliver before Start returns; the CoreWorker outlives
  // the channel's deliveries (Shutdown closes it first).
  CoreWorker* raw = cw.get();
  cw->channel_ = std::move(channel);
  auto reg = cw->channel_->Start(cw->worker_id_, [raw](rpc::NodeMessage&& m) {
    raw->OnMessage(std::move(m));
  });
  if (!reg.ok()) {
    cw->disconnected_ = true;
    return reg.status();
  }
  cw->node_id_ = reg->node_id;
  cw->job_id_ = reg->job_id;
  cw->arena_ = std::move(reg->arena);
  return cw;
}

CoreWorker::~CoreWorker() { Shutdown(); }

void CoreWorker::Shutdown() {
  if (disconnected_.exchange(true)) return;
  if (channel_) channel_->Close();
  std::lock_guard<std::mutex> lock(mu_);
  arena_.reset();
  cv_.notify_all();
}

std::shared_ptr<Arena> CoreWorker::arena() const {
  std::lock_guard<std::mutex> lock(mu_);
  return arena_;
}

void CoreWorker::OnMessage(rpc::NodeMessage&& m) {
  switch (m.body_case()) {
    case rpc::NodeMessage::kExecuteTask: {
      std::lock_guard<std::mutex> lock(mu_);
      // An actor's calls wait here in arrival order, except that a call of
      // higher priority (a miniray extension) goes ahead of lower ones.
      int32_t priority = m.execute_task().task_spec().priority();
      auto at = tasks_.end();
      while (at != tasks_.begin() && std::prev(at)->task_spec().priority() < priority) --at;
      tasks_.insert(at, std::move(*m.mutable_execute_task()));
      cv_.notify_all();
      return;
    }
    case rpc::NodeMessage::kCancelTask: {
      TaskID task = ObjectID::FromBinary(m.cancel_task().object_id()).Task();
      bool dropped = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        for (auto it = tasks_.begin(); it != tasks_.end(); ++it) {
          if (it->task_spec().task_id() == task.Binary()) {  // queued here: drop it
            tasks_.erase(it);
            dropped = true;
            break;
          }
        }
        if (!dropped) {  // running (or about to): see TakeCancelRequest
          cancel_requests_.insert(task);
          if (cancel_notices_enabled_) {
            cancel_notices_.push_back(task);
            cv_.notify_all();
          }
        }
      }
      int signo = cancel_signal_.load();
      if (!dropped && signo != 0) {
        // The main thread's tid is the process id.
        (void)syscall(SYS_tgkill, getpid(), getpid(), signo);
      }
      if (dropped) {
        rpc::ClientMessage done;
        done.mutable_task_done()->set_task_id(task.Binary());
        done.mutable_task_done()->set_cancelled(true);
        (void)Send(std::move(done));
      }
      return;
    }
    case rpc::NodeMessage::BODY_NOT_SET: {  // the channel closed: the node is gone
      disconnected_ = true;
      std::lock_guard<std::mutex> lock(mu_);
      cv_.notify_all();
      return;
    }
    default: {  // a reply
      std::lock_guard<std::mutex> lock(mu_);
      uint64_t id = m.request_id();
      replies_[id] = std::move(m);
      cv_.notify_all();
      return;
    }
  }
}

Status CoreWorker::Send(rpc::ClientMessage&& message) {
  if (disconnected_) return Status::Unavailable("not connected to the miniray node");
  return channel_->Send(std::move(message));
}

StatusOr<rpc::NodeMessage> CoreWorker::Call(rpc::ClientMessage&& message) {
  uint64_t request_id = next_request_id_++;
  message.set_request_id(request_id);
  MINIRAY_RETURN_IF_ERROR(Send(std::move(message)));
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return disconnected_ || replies_.count(request_id); });
  auto it = replies_.find(request_id);
  if (it == replies_.end()) return Status::Unavailable("the miniray node went away");
  rpc::NodeMessage reply = std::move(it->second);
  replies_.erase(it);
  return reply;
}

StatusOr<std::vector<ObjectID>> CoreWorker::SubmitTask(rpc::TaskSpec spec) {
  TaskID task = TaskID::FromRandom();
  spec.set_task_id(task.Binary());
  std::vector<ObjectID> returns;
  returns.reserve(spec.num_returns());
  for (uint32_t i = 0; i < spec.num_returns(); ++i) {
    returns.push_back(ObjectID::ForTaskReturn(task, i + 1));
    AddOwnedRef(returns.back());
  }
  rpc::ClientMessage m;
  *m.mutable_submit_task() = std::move(spec);
  MINIRAY_RETURN_IF_ERROR(Send(std::move(m)));
  return returns;
}

Status CoreWorker::PutInline(const ObjectID& id, std::string data,
                             std::vector<ObjectID> contained) {
  rpc::ClientMessage m;
  auto* v = m.mutable_put();
  v->set_object_id(id.Binary());
  v->set_inline_data(std::move(data));
  AddIds(contained, v->mutable_contained());
  AddOwnedRef(id);
  return Send(std::move(m));
}

StatusOr<std::unique_ptr<Buffer>> CoreWorker::Create(const ObjectID& id, uint64_t size) {
  rpc::ClientMessage m;
  m.mutable_create()->set_object_id(id.Binary());
  m.mutable_create()->set_size(size);
  auto reply = Call(std::move(m));
  if (!reply.ok()) return reply.status();
  MINIRAY_RETURN_IF_ERROR(FromProto(reply->create_reply().status()));
  uint64_t offset = reply->create_reply().offset();
  std::shared_ptr<Arena> arena = this->arena();
  if (!arena) return Status::Unavailable("not connected to the miniray node");
  if (offset > arena->size() || size > arena->size() - offset) {
    return Status::Internal("the node answered a create with a location outside the arena");
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    creating_[id] = ObjectLocation{offset, size};
  }
  uint8_t* data = arena->data() + offset;
  uint64_t end = offset + size;
  uint64_t fresh_from = populated_end_.load();
  if (size >= kPrefaultBytes && end > fresh_from) {
    // Pages this process has never touched: fault them in with one call
    // instead of one trap per 4 KiB page during the copy (first-touch
    // writes go ~1.4x faster). Pages below the mark are mapped already.
    // Best effort: older kernels lack MADV_POPULATE_WRITE.
    uint64_t from = std::max<uint64_t>(offset, fresh_from);
    uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    uintptr_t begin = reinterpret_cast<uintptr_t>(arena->data() + from) & ~(page - 1);
    (void)madvise(reinterpret_cast<void*>(begin),
                  reinterpret_cast<uintptr_t>(data) + size - begin, kMadvPopulateWrite);
    uint64_t seen = fresh_from;
    while (end > seen && !populated_end_.compare_exchange_weak(seen, end)) {
    }
  }
  return std::make_unique<Buffer>(data, size, /*writable=*/true, [arena] {});
}

Status CoreWorker::Seal(const ObjectID& id, std::vector<ObjectID> contained) {
  rpc::ClientMessage m;
  auto* v = m.mutable_seal();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = creating_.find(id);
    if (it == creating_.end()) {
      return Status::FailedPrecondition("object " + id.Hex() + " was not created here");
    }
    v->mutable_shared()->set_offset(it->second.offset);
    v->mutable_shared()->set_size(it->second.size);
    creating_.erase(it);
  }
  v->set_object_id(id.Binary());
  AddIds(contained, v->mutable_contained());
  AddOwnedRef(id);
  return Send(std::move(m));
}

StatusOr<uint64_t> CoreWorker::StartGet(const std::vector<ObjectID>& ids) {
  rpc::ClientMessage m;
  uint64_t request_id = next_request_id_++;
  m.set_request_id(request_id);
  AddIds(ids, m.mutable_get()->mutable_object_ids());
  MINIRAY_RETURN_IF_ERROR(Send(std::move(m)));
  return request_id;
}

StatusOr<uint64_t> CoreWorker::StartWait(const std::vector<ObjectID>& ids,
                                         uint32_t num_returns) {
  rpc::ClientMessage m;
  uint64_t request_id = next_request_id_++;
  m.set_request_id(request_id);
  AddIds(ids, m.mutable_wait()->mutable_object_ids());
  m.mutable_wait()->set_num_returns(num_returns);
  MINIRAY_RETURN_IF_ERROR(Send(std::move(m)));
  return request_id;
}

StatusOr<std::optional<rpc::NodeMessage>> CoreWorker::PollReply(uint64_t request_id,
                                                                int64_t timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  auto ready = [&] { return disconnected_ || replies_.count(request_id); };
  if (timeout_ms < 0) {
    cv_.wait(lock, ready);
  } else {
    cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), ready);
  }
  auto it = replies_.find(request_id);
  if (it != replies_.end()) {
    rpc::NodeMessage reply = std::move(it->second);
    replies_.erase(it);
    return std::optional<rpc::NodeMessage>(std::move(reply));
  }
  if (disconnected_) return Status::Unavailable("the miniray node went away");
  return std::optional<rpc::NodeMessage>();
}

StatusOr<rpc::NodeMessage> CoreWorker::ExpireAndTakeReply(uint64_t request_id) {
  rpc::ClientMessage m;
  m.mutable_expire()->set_request_id(request_id);
  MINIRAY_RETURN_IF_ERROR(Send(std::move(m)));
  auto reply = PollReply(request_id, -1);
  if (!reply.ok()) return reply.status();
  return std::move(**reply);
}

StatusOr<std::unique_ptr<Buffer>> CoreWorker::MapShared(const rpc::ObjectValue& value) {
  std::weak_ptr<CoreWorker> weak = weak_from_this();
  std::shared_ptr<Arena> arena = this->arena();  // the mapping outlives the view
  if (!arena) return Status::Unavailable("not connected to the miniray node");
  uint64_t offset = value.shared().offset(), size = value.shared().size();
  if (offset > arena->size() || size > arena->size() - offset) {
    return Status::Internal("the node sent a location outside the arena");
  }
  ObjectID id = ObjectID::FromBinary(value.object_id());
  return std::make_unique<Buffer>(arena->data() + offset, size,
                                  /*writable=*/false, [weak, arena, id] {
                                    auto self = weak.lock();
                                    if (!self || self->disconnected_) return;
                                    rpc::ClientMessage m;
                                    m.mutable_release()->add_object_ids(id.Binary());
                                    (void)self->Send(std::move(m));
                                  });
}

void CoreWorker::AddOwnedRef(const ObjectID& id) {
  std::lock_guard<std::mutex> lock(mu_);
  ++local_refs_[id];
}

void CoreWorker::AddBorrowedRef(const ObjectID& id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (local_refs_[id]++ > 0) return;
  }
  rpc::ClientMessage m;
  m.mutable_ref_delta()->add_add(id.Binary());
  (void)Send(std::move(m));
}

void CoreWorker::ExpectObject(const ObjectID& id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (local_refs_[id]++ > 0) return;  // the node counts this process once
  }
  rpc::ClientMessage m;
  m.mutable_expect_objects()->add_object_ids(id.Binary());
  (void)Send(std::move(m));
}

void CoreWorker::RemoveLocalRef(const ObjectID& id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = local_refs_.find(id);
    if (it == local_refs_.end()) return;
    if (--it->second > 0) return;
    local_refs_.erase(it);
  }
  rpc::ClientMessage m;
  m.mutable_ref_delta()->add_remove(id.Binary());
  (void)Send(std::move(m));
}

size_t CoreWorker::num_local_refs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return local_refs_.size();
}

Status CoreWorker::KvPut(const std::string& key, std::string value, bool overwrite) {
  rpc::ClientMessage m;
  m.mutable_kv_put()->set_key(key);
  m.mutable_kv_put()->set_value(std::move(value));
  m.mutable_kv_put()->set_overwrite(overwrite);
  return Send(std::move(m));
}

StatusOr<std::optional<std::string>> CoreWorker::KvGet(const std::string& key) {
  rpc::ClientMessage m;
  m.mutable_kv_get()->set_key(key);
  auto reply = Call(std::move(m));
  if (!reply.ok()) return reply.status();
  if (!reply->kv_get_reply().found()) return std::optional<std::string>();
  return std::optional<std::string>(std::move(*reply->mutable_kv_get_reply()->mutable_value()));
}

StatusOr<rpc::GetResourcesReply> CoreWorker::Resources() {
  rpc::ClientMessage m;
  m.mutable_get_resources();
  auto reply = Call(std::move(m));
  if (!reply.ok()) return reply.status();
  return std::move(*reply->mutable_resources_reply());
}

StatusOr<rpc::ActorReply> CoreWorker::CreateActor(rpc::TaskSpec creation, bool get_if_exists) {
  creation.set_type(rpc::ACTOR_CREATION_TASK);
  creation.set_actor_id(ActorID::FromRandom().Binary());
  creation.set_task_id(TaskID::FromRandom().Binary());
  creation.set_num_returns(0);
  rpc::ClientMessage m;
  *m.mutable_create_actor()->mutable_task_spec() = std::move(creation);
  m.mutable_create_actor()->set_get_if_exists(get_if_exists);
  auto reply = Call(std::move(m));
  if (!reply.ok()) return reply.status();
  MINIRAY_RETURN_IF_ERROR(FromProto(reply->actor_reply().status()));
  AddOwnedRef(ObjectID::ForActorHandle(ActorID::FromBinary(reply->actor_reply().actor_id())));
  return std::move(*reply->mutable_actor_reply());
}

StatusOr<rpc::ActorReply> CoreWorker::GetActor(const std::string& name,
                                               const std::string& ray_namespace) {
  rpc::ClientMessage m;
  m.mutable_get_actor()->set_name(name);
  m.mutable_get_actor()->set_ray_namespace(ray_namespace);
  auto reply = Call(std::move(m));
  if (!reply.ok()) return reply.status();
  MINIRAY_RETURN_IF_ERROR(FromProto(reply->actor_reply().status()));
  AddOwnedRef(ObjectID::ForActorHandle(ActorID::FromBinary(reply->actor_reply().actor_id())));
  return std::move(*reply->mutable_actor_reply());
}

Status CoreWorker::CreatePlacementGroup(rpc::CreatePlacementGroupRequest request) {
  rpc::ClientMessage m;
  *m.mutable_create_placement_group() = std::move(request);
  return Send(std::move(m));
}

Status CoreWorker::RemovePlacementGroup(const std::string& placement_group_id) {
  rpc::ClientMessage m;
  m.mutable_remove_placement_group()->set_placement_group_id(placement_group_id);
  return Send(std::move(m));
}

StatusOr<rpc::PlacementGroupTableReply> CoreWorker::PlacementGroupTable() {
  rpc::ClientMessage m;
  m.mutable_placement_group_table();
  auto reply = Call(std::move(m));
  if (!reply.ok()) return reply.status();
  return std::move(*reply->mutable_placement_group_table_reply());
}

StatusOr<rpc::StateReply> CoreWorker::GetState(const rpc::GetStateRequest& request) {
  rpc::ClientMessage m;
  *m.mutable_get_state() = request;
  auto reply = Call(std::move(m));
  if (!reply.ok()) return reply.status();
  return std::move(*reply->mutable_state_reply());
}

StatusOr<rpc::NamedActorsReply> CoreWorker::ListNamedActors(const std::string& ray_namespace,
                                                             bool all_namespaces) {
  rpc::ClientMessage m;
  m.mutable_list_named_actors()->set_ray_namespace(ray_namespace);
  m.mutable_list_named_actors()->set_all_namespaces(all_namespaces);
  auto reply = Call(std::move(m));
  if (!reply.ok()) return reply.status();
  return std::move(*reply->mutable_named_actors_reply());
}

Status CoreWorker::KillActor(const ActorID& actor, bool no_restart) {
  rpc::ClientMessage m;
  m.mutable_kill_actor()->set_actor_id(actor.Binary());
  m.mutable_kill_actor()->set_no_restart(no_restart);
  return Send(std::move(m));
}

Status CoreWorker::CancelTask(const ObjectID& object_id, bool force, bool recursive) {
  rpc::ClientMessage m;
  m.mutable_cancel_task()->set_object_id(object_id.Binary());
  m.mutable_cancel_task()->set_force(force);
  m.mutable_cancel_task()->set_recursive(recursive);
  return Send(std::move(m));
}

bool CoreWorker::TakeCancelRequest(const TaskID& task) {
  std::lock_guard<std::mutex> lock(mu_);
  return cancel_requests_.erase(task) > 0;
}

bool CoreWorker::CancelRequested(const TaskID& task) const {
  std::lock_guard<std::mutex> lock(mu_);
  return cancel_requests_.count(task) > 0;
}

void CoreWorker::EnableCancelNotices() {
  std::lock_guard<std::mutex> lock(mu_);
  cancel_notices_enabled_ = true;
}

std::optional<TaskID> CoreWorker::NextCancelNotice(int64_t timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  auto ready = [&] { return disconnected_ || !cancel_notices_.empty(); };
  if (timeout_ms < 0) {
    cv_.wait(lock, ready);
  } else {
    cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), ready);
  }
  if (cancel_notices_.empty()) return std::nullopt;
  TaskID task = cancel_notices_.front();
  cancel_notices_.pop_front();
  return task;
}

StatusOr<std::optional<rpc::ExecuteTaskRequest>> CoreWorker::NextTask(int64_t timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  auto ready = [&] { return disconnected_ || !tasks_.empty(); };
  if (timeout_ms < 0) {
    cv_.wait(lock, ready);
  } else {
    cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), ready);
  }
  if (!tasks_.empty()) {
    rpc::ExecuteTaskRequest t = std::move(tasks_.front());
    tasks_.pop_front();
    started_us_[TaskID::FromBinary(t.task_spec().task_id())] = NowMicros();
    return std::optional<rpc::ExecuteTaskRequest>(std::move(t));
  }
  if (disconnected_) return Status::Unavailable("the miniray node went away");
  return std::optional<rpc::ExecuteTaskRequest>();
}

Status CoreWorker::TaskDone(rpc::TaskResult result) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    // When it ran, for the node's task events (the state API, timeline).
    auto started = started_us_.find(TaskID::FromBinary(result.task_id()));
    if (started != started_us_.end()) {
      result.set_start_time_us(started->second);
      result.set_end_time_us(NowMicros());
      started_us_.erase(started);
    }
    for (auto& v : *result.mutable_returns()) {
      if (v.value_case() != rpc::ObjectValue::VALUE_NOT_SET) continue;
      // No value set: written into shared memory after Create.
      ObjectID id = ObjectID::FromBinary(v.object_id());
      auto it = creating_.find(id);
      if (it == creating_.end()) {
        return Status::FailedPrecondition("return " + id.Hex() + " was not created");
      }
      v.mutable_shared()->set_offset(it->second.offset);
      v.mutable_shared()->set_size(it->second.size);
      creating_.erase(it);
    }
  }
  rpc::ClientMessage m;
  *m.mutable_task_done() = std::move(result);
  return Send(std::move(m));
}

}  // namespace miniray
