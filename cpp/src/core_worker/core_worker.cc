#include "core_worker/core_worker.h"

#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "common/socket.h"

namespace miniray {
namespace {
constexpr uint64_t kPrefaultBytes = 1 << 20;
constexpr int kMadvPopulateWrite = 23;  // MADV_POPULATE_WRITE, Linux 5.14
}  // namespace

std::shared_ptr<CoreWorker> CoreWorker::ConnectLocal(NodeRuntime* node) {
  std::shared_ptr<CoreWorker> cw(new CoreWorker());
  cw->worker_id_ = WorkerID::FromRandom();
  cw->node_id_ = node->node_id();
  cw->arena_ = node->arena();
  cw->node_ = node;
  std::weak_ptr<CoreWorker> weak = cw;
  cw->local_conn_ = node->ConnectLocal([weak](MessageType type, std::string payload) {
    if (auto self = weak.lock()) self->OnFrame(type, std::move(payload));
  });
  return cw;
}

StatusOr<std::shared_ptr<CoreWorker>> CoreWorker::Connect(const std::string& address) {
  auto fd = ConnectAbstract(address);
  if (!fd.ok()) return fd.status();
  std::shared_ptr<CoreWorker> cw(new CoreWorker());
  cw->fd_ = *fd;
  cw->worker_id_ = WorkerID::FromRandom();
  Register reg;
  reg.worker_id = cw->worker_id_;
  reg.pid = getpid();
  MINIRAY_RETURN_IF_ERROR(SendFrame(cw->fd_, MessageType::kRegister, EncodePayload(reg)));
  // The reply carries the arena's fd; read it before the receiver starts.
  MessageType type;
  std::string payload;
  int arena_fd = -1;
  MINIRAY_RETURN_IF_ERROR(RecvFrame(cw->fd_, &type, &payload, &arena_fd));
  RegisterReply reply;
  if (type != MessageType::kRegisterReply || !DecodePayload(payload, &reply) ||
      arena_fd < 0) {
    return Status::Internal("bad registration reply from the node");
  }
  cw->node_id_ = reply.node_id;
  auto arena = Arena::Map(arena_fd, reply.arena_size);
  if (!arena.ok()) return arena.status();
  cw->arena_ = std::move(arena).value();
  cw->receiver_ = std::thread([raw = cw.get()] { raw->ReceiveLoop(); });
  return cw;
}

CoreWorker::~CoreWorker() {
  Shutdown();
  if (receiver_.joinable()) receiver_.join();
  if (fd_ >= 0) close(fd_);
}

void CoreWorker::Shutdown() {
  if (disconnected_.exchange(true)) return;
  if (fd_ >= 0) shutdown(fd_, SHUT_RDWR);  // wakes the receiver
  if (node_ && local_conn_) node_->Disconnect(local_conn_.get());
  local_conn_.reset();
  node_ = nullptr;
  std::lock_guard<std::mutex> lock(mu_);
  cv_.notify_all();
}

void CoreWorker::ReceiveLoop() {
  MessageType type;
  std::string payload;
  while (RecvFrame(fd_, &type, &payload).ok()) OnFrame(type, std::move(payload));
  disconnected_ = true;
  std::lock_guard<std::mutex> lock(mu_);
  cv_.notify_all();
}

void CoreWorker::OnFrame(MessageType type, std::string payload) {
  if (type == MessageType::kExecuteTask) {
    ExecuteTask task;
    if (!DecodePayload(payload, &task)) return;
    std::lock_guard<std::mutex> lock(mu_);
    tasks_.push_back(std::move(task));
    cv_.notify_all();
    return;
  }
  if (type == MessageType::kCancelTask) {
    struct CancelTask m;
    if (!DecodePayload(payload, &m)) return;
    TaskID task = m.object_id.Task();
    bool dropped = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto it = tasks_.begin(); it != tasks_.end(); ++it) {
        if (it->spec.task_id == task) {  // queued here, not started: drop it
          tasks_.erase(it);
          dropped = true;
          break;
        }
      }
      if (!dropped) cancel_requests_.insert(task);  // running: see TakeCancelRequest
    }
    if (dropped) {
      struct TaskDone done;
      done.task_id = task;
      done.cancelled = true;
      (void)Send(MessageType::kTaskDone, EncodePayload(done));
    }
    return;
  }
  // Every reply starts with its request id.
  Reader r(payload);
  uint64_t request_id = r.U64();
  if (!r.ok()) return;
  std::lock_guard<std::mutex> lock(mu_);
  replies_[request_id] = std::move(payload);
  cv_.notify_all();
}

Status CoreWorker::Send(MessageType type, const std::string& payload) {
  if (disconnected_) return Status::Unavailable("not connected to the miniray node");
  if (node_) {
    node_->Handle(local_conn_.get(), type, payload);
    return Status::OK();
  }
  std::lock_guard<std::mutex> lock(send_mu_);
  return SendFrame(fd_, type, payload);
}

StatusOr<std::string> CoreWorker::Call(MessageType type, uint64_t request_id,
                                       const std::string& payload) {
  MINIRAY_RETURN_IF_ERROR(Send(type, payload));
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return disconnected_ || replies_.count(request_id); });
  auto it = replies_.find(request_id);
  if (it == replies_.end()) return Status::Unavailable("the miniray node went away");
  std::string reply = std::move(it->second);
  replies_.erase(it);
  return reply;
}

Status CoreWorker::SubmitTask(const TaskSpec& spec) {
  return Send(MessageType::kSubmitTask, EncodePayload(spec));
}

Status CoreWorker::PutInline(const ObjectID& id, std::string data,
                             std::vector<ObjectID> contained) {
  ObjectValue v;
  v.id = id;
  v.kind = ObjectValue::kInline;
  v.data = std::move(data);
  v.contained = std::move(contained);
  return Send(MessageType::kPut, EncodePayload(v));
}

StatusOr<std::unique_ptr<Buffer>> CoreWorker::Create(const ObjectID& id, uint64_t size) {
  CreateRequest req;
  req.request_id = next_request_id_++;
  req.id = id;
  req.size = size;
  auto reply_payload = Call(MessageType::kCreate, req.request_id, EncodePayload(req));
  if (!reply_payload.ok()) return reply_payload.status();
  CreateReply reply;
  if (!DecodePayload(*reply_payload, &reply)) return Status::Internal("bad create reply");
  if (reply.code != 0) return Status(static_cast<StatusCode>(reply.code), reply.message);
  {
    std::lock_guard<std::mutex> lock(mu_);
    creating_[id] = ObjectLocation{reply.offset, size};
  }
  uint8_t* data = arena_->data() + reply.offset;
  uint64_t end = reply.offset + size;
  uint64_t fresh_from = populated_end_.load();
  if (size >= kPrefaultBytes && end > fresh_from) {
    // Pages this process has never mapped: fault them in with one call
    // instead of one trap per 4 KiB page during the copy (first-touch
    // writes go ~1.4x faster). Pages below the mark are mapped already, and
    // populating them again would only cost time. Best effort: older
    // kernels lack MADV_POPULATE_WRITE.
    uint64_t from = std::max<uint64_t>(reply.offset, fresh_from);
    uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    uintptr_t begin = reinterpret_cast<uintptr_t>(arena_->data() + from) & ~(page - 1);
    (void)madvise(reinterpret_cast<void*>(begin),
                  reinterpret_cast<uintptr_t>(data) + size - begin, kMadvPopulateWrite);
    uint64_t seen = fresh_from;
    while (end > seen && !populated_end_.compare_exchange_weak(seen, end)) {
    }
  }
  std::shared_ptr<Arena> arena = arena_;
  return std::make_unique<Buffer>(data, size, /*writable=*/true, [arena] {});
}

Status CoreWorker::Seal(const ObjectID& id, std::vector<ObjectID> contained) {
  ObjectValue v;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = creating_.find(id);
    if (it == creating_.end()) {
      return Status::FailedPrecondition("object " + id.Hex() + " was not created here");
    }
    v.offset = it->second.offset;
    v.size = it->second.size;
    creating_.erase(it);
  }
  v.id = id;
  v.kind = ObjectValue::kShared;
  v.contained = std::move(contained);
  return Send(MessageType::kSeal, EncodePayload(v));
}

StatusOr<uint64_t> CoreWorker::StartGet(const std::vector<ObjectID>& ids) {
  GetRequest req;
  req.request_id = next_request_id_++;
  req.ids = ids;
  MINIRAY_RETURN_IF_ERROR(Send(MessageType::kGet, EncodePayload(req)));
  return req.request_id;
}

StatusOr<uint64_t> CoreWorker::StartWait(const std::vector<ObjectID>& ids,
                                         uint32_t num_returns) {
  WaitRequest req;
  req.request_id = next_request_id_++;
  req.ids = ids;
  req.num_returns = num_returns;
  MINIRAY_RETURN_IF_ERROR(Send(MessageType::kWait, EncodePayload(req)));
  return req.request_id;
}

StatusOr<std::optional<std::string>> CoreWorker::PollReply(uint64_t request_id,
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
    std::string reply = std::move(it->second);
    replies_.erase(it);
    return std::optional<std::string>(std::move(reply));
  }
  if (disconnected_) return Status::Unavailable("the miniray node went away");
  return std::optional<std::string>();
}

StatusOr<std::string> CoreWorker::CancelAndTakeReply(uint64_t request_id) {
  Cancel c;
  c.request_id = request_id;
  return Call(MessageType::kCancel, request_id, EncodePayload(c));
}

std::unique_ptr<Buffer> CoreWorker::MapShared(const ObjectValue& value) {
  std::weak_ptr<CoreWorker> weak = weak_from_this();
  std::shared_ptr<Arena> arena = arena_;  // the mapping outlives the view
  ObjectID id = value.id;
  return std::make_unique<Buffer>(arena_->data() + value.offset, value.size,
                                  /*writable=*/false, [weak, arena, id] {
                                    auto self = weak.lock();
                                    if (!self || self->disconnected_) return;
                                    IdList release;
                                    release.ids = {id};
                                    (void)self->Send(MessageType::kRelease,
                                                     EncodePayload(release));
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
  RefDelta d;
  d.add = {id};
  (void)Send(MessageType::kRefDelta, EncodePayload(d));
}

void CoreWorker::RemoveLocalRef(const ObjectID& id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = local_refs_.find(id);
    if (it == local_refs_.end()) return;
    if (--it->second > 0) return;
    local_refs_.erase(it);
  }
  RefDelta d;
  d.remove = {id};
  (void)Send(MessageType::kRefDelta, EncodePayload(d));
}

size_t CoreWorker::num_local_refs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return local_refs_.size();
}

Status CoreWorker::KvPut(const std::string& key, std::string value, bool overwrite) {
  struct KvPut m;
  m.key = key;
  m.value = std::move(value);
  m.overwrite = overwrite;
  return Send(MessageType::kKvPut, EncodePayload(m));
}

StatusOr<std::optional<std::string>> CoreWorker::KvGet(const std::string& key) {
  struct KvGet m;
  m.request_id = next_request_id_++;
  m.key = key;
  auto payload = Call(MessageType::kKvGet, m.request_id, EncodePayload(m));
  if (!payload.ok()) return payload.status();
  KvReply reply;
  if (!DecodePayload(*payload, &reply)) return Status::Internal("bad kv reply");
  if (!reply.found) return std::optional<std::string>();
  return std::optional<std::string>(std::move(reply.value));
}

StatusOr<ResourcesReply> CoreWorker::Resources() {
  ResourcesRequest m;
  m.request_id = next_request_id_++;
  auto payload = Call(MessageType::kResources, m.request_id, EncodePayload(m));
  if (!payload.ok()) return payload.status();
  ResourcesReply reply;
  if (!DecodePayload(*payload, &reply)) return Status::Internal("bad resources reply");
  return reply;
}

namespace {
StatusOr<ActorReply> DecodeActorReply(StatusOr<std::string> payload) {
  if (!payload.ok()) return payload.status();
  ActorReply reply;
  if (!DecodePayload(*payload, &reply)) return Status::Internal("bad actor reply");
  if (reply.code != 0) return Status(static_cast<StatusCode>(reply.code), reply.message);
  return reply;
}
}  // namespace

StatusOr<ActorReply> CoreWorker::CreateActor(CreateActorRequest request) {
  request.request_id = next_request_id_++;
  auto reply = DecodeActorReply(
      Call(MessageType::kCreateActor, request.request_id, EncodePayload(request)));
  if (reply.ok()) AddOwnedRef(ObjectID::ForActorHandle(reply->actor_id));
  return reply;
}

StatusOr<ActorReply> CoreWorker::GetActor(const std::string& name,
                                          const std::string& ray_namespace) {
  GetActorRequest request;
  request.request_id = next_request_id_++;
  request.name = name;
  request.ray_namespace = ray_namespace;
  auto reply = DecodeActorReply(
      Call(MessageType::kGetActor, request.request_id, EncodePayload(request)));
  if (reply.ok()) AddOwnedRef(ObjectID::ForActorHandle(reply->actor_id));
  return reply;
}

Status CoreWorker::KillActor(const ActorID& actor, bool no_restart) {
  struct KillActor m;
  m.actor_id = actor;
  m.no_restart = no_restart;
  return Send(MessageType::kKillActor, EncodePayload(m));
}

Status CoreWorker::CancelTask(const ObjectID& object_id, bool force, bool recursive) {
  struct CancelTask m;
  m.object_id = object_id;
  m.force = force;
  m.recursive = recursive;
  return Send(MessageType::kCancelTask, EncodePayload(m));
}

bool CoreWorker::TakeCancelRequest(const TaskID& task) {
  std::lock_guard<std::mutex> lock(mu_);
  return cancel_requests_.erase(task) > 0;
}

StatusOr<std::optional<ExecuteTask>> CoreWorker::NextTask(int64_t timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  auto ready = [&] { return disconnected_ || !tasks_.empty(); };
  if (timeout_ms < 0) {
    cv_.wait(lock, ready);
  } else {
    cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), ready);
  }
  if (!tasks_.empty()) {
    ExecuteTask t = std::move(tasks_.front());
    tasks_.pop_front();
    return std::optional<ExecuteTask>(std::move(t));
  }
  if (disconnected_) return Status::Unavailable("the miniray node went away");
  return std::optional<ExecuteTask>();
}

Status CoreWorker::TaskDone(struct TaskDone done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& v : done.returns) {
      if (v.kind != ObjectValue::kShared) continue;
      auto it = creating_.find(v.id);
      if (it == creating_.end()) {
        return Status::FailedPrecondition("return " + v.id.Hex() + " was not created");
      }
      v.offset = it->second.offset;
      v.size = it->second.size;
      creating_.erase(it);
    }
  }
  return Send(MessageType::kTaskDone, EncodePayload(done));
}

}  // namespace miniray
