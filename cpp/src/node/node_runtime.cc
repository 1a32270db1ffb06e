#include "node/node_runtime.h"

#include <errno.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <iostream>

#include "common/socket.h"

namespace miniray {

// A worker process's connection, served by the event loop.
class NodeRuntime::SocketConnection : public Connection {
 public:
  explicit SocketConnection(int fd) : fd_(fd) {}
  ~SocketConnection() override { close(fd_); }
  void Send(MessageType type, const std::string& payload) override {
    // Errors mean the peer is gone; the event loop sees EOF and cleans up.
    (void)SendFrame(fd_, type, payload);
  }
  Status SendWithFd(MessageType type, const std::string& payload, int fd) {
    return SendFrame(fd_, type, payload, fd);
  }
  int fd() const { return fd_; }
  FrameReader reader;

 private:
  const int fd_;
};

namespace {

class LocalConnection : public Connection {
 public:
  explicit LocalConnection(NodeRuntime::Deliver deliver)
      : deliver_(std::move(deliver)) {}
  void Send(MessageType type, const std::string& payload) override {
    deliver_(type, payload);
  }

 private:
  NodeRuntime::Deliver deliver_;
};

void Log(const std::string& line) { std::cerr << "(miniray) " << line << std::endl; }

std::string DescribeExit(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return std::string("was killed by signal ") + std::to_string(WTERMSIG(status)) +
           " (" + strsignal(WTERMSIG(status)) + ")";
  }
  return "ended";
}

}  // namespace

StatusOr<std::unique_ptr<NodeRuntime>> NodeRuntime::Start(NodeOptions options) {
  std::unique_ptr<NodeRuntime> node(new NodeRuntime(std::move(options)));
  Status s = node->Init();
  if (!s.ok()) return s;
  return node;
}

NodeRuntime::NodeRuntime(NodeOptions options)
    : options_(std::move(options)),
      node_id_(NodeID::FromRandom()),
      scheduler_(ResourceSet::FromDemands(options_.resources), options_.max_workers) {}

Status NodeRuntime::Init() {
  auto store = ObjectStore::Create(options_.object_store_memory);
  if (!store.ok()) return store.status();
  store_ = std::move(store).value();
  socket_name_ = "miniray-" + std::to_string(getpid()) + "-" + node_id_.Hex().substr(0, 12);
  auto lfd = ListenAbstract(socket_name_);
  if (!lfd.ok()) return lfd.status();
  listen_fd_ = *lfd;
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (wake_fd_ < 0 || epoll_fd_ < 0) return Status::Internal("eventfd/epoll failed");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &listen_fd_;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
  ev.data.ptr = &wake_fd_;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (options_.prestart_workers > 0) {
      scheduler_.WorkersStarting(options_.prestart_workers);
      SpawnWorkersLocked(options_.prestart_workers);
    }
  }
  loop_ = std::thread([this] { EventLoop(); });
  return Status::OK();
}

NodeRuntime::~NodeRuntime() { Stop(); }

void NodeRuntime::Stop() {
  if (stopping_.exchange(true)) return;
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
  if (loop_.joinable()) loop_.join();
  std::vector<pid_t> pids;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [pid, alive] : children_) {
      if (alive) pids.push_back(pid);
    }
    children_.clear();
    connections_.clear();  // closes every worker socket
    objects_.clear();      // and every spill file
    workers_.clear();
    requests_.clear();
  }
  for (pid_t pid : pids) kill(pid, SIGKILL);
  for (pid_t pid : pids) waitpid(pid, nullptr, 0);
  close(listen_fd_);
  close(wake_fd_);
  close(epoll_fd_);
}

// ---------------------------------------------------------------------------
// Event loop: accepts workers, reads their frames, spawns processes.

void NodeRuntime::EventLoop() {
  epoll_event events[64];
  while (!stopping_) {
    // Wake now and then: to reap children that never registered, and to
    // stop extra workers that have been idle for a while.
    int n = epoll_wait(epoll_fd_, events, 64, 200);
    if (stopping_) break;
    for (int i = 0; i < n; ++i) {
      void* tag = events[i].data.ptr;
      if (tag == &listen_fd_) {
        int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) continue;
        if (!PeerIsSameUser(fd)) {  // abstract sockets are reachable by anyone
          close(fd);
          continue;
        }
        auto conn = std::make_shared<SocketConnection>(fd);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.ptr = conn.get();
        epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
        std::lock_guard<std::mutex> lock(mu_);
        connections_.push_back(std::move(conn));
      } else if (tag == &wake_fd_) {
        uint64_t v;
        (void)!read(wake_fd_, &v, sizeof(v));
        int spawn;
        {
          std::lock_guard<std::mutex> lock(mu_);
          spawn = spawn_pending_;
          spawn_pending_ = 0;
        }
        for (int k = 0; k < spawn && !stopping_; ++k) SpawnOne();
      } else {
        auto* conn = static_cast<SocketConnection*>(tag);
        Status read_status = conn->reader.ReadFrom(conn->fd());
        MessageType type;
        std::string payload;
        {
          std::lock_guard<std::mutex> lock(mu_);
          while (conn->reader.Next(&type, &payload)) {
            HandleLocked(conn, type, payload);
          }
        }
        if (!read_status.ok()) {
          epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, conn->fd(), nullptr);
          std::string cause = "its connection closed";
          pid_t pid;
          {
            std::lock_guard<std::mutex> lock(mu_);
            pid = conn->pid;
          }
          if (pid > 0) {
            // The process is exiting; give it a moment to report how (the
            // reaper below may have collected its status already).
            int status = 0;
            bool known = false;
            for (int tries = 0; tries < 100 && !known; ++tries) {
              {
                std::lock_guard<std::mutex> lock(mu_);
                auto it = exited_.find(pid);
                if (it != exited_.end()) {
                  status = it->second;
                  exited_.erase(it);
                  known = true;
                  break;
                }
              }
              pid_t r = waitpid(pid, &status, WNOHANG);
              if (r == pid) {
                std::lock_guard<std::mutex> lock(mu_);
                children_.erase(pid);
                known = true;
              } else if (r < 0) {
                break;
              } else {
                std::this_thread::sleep_for(std::chrono::milliseconds(2));
              }
            }
            if (known) cause = "process " + std::to_string(pid) + " " + DescribeExit(status);
          }
          std::lock_guard<std::mutex> lock(mu_);
          if (cause == "its connection closed" && pid > 0) {
            cause = "process " + std::to_string(pid) + " closed its connection";
          }
          DisconnectLocked(conn, cause);
        }
      }
    }
    // Reap workers that died before registering (bad interpreter, import
    // error): they will never take a task.
    std::lock_guard<std::mutex> lock(mu_);
    TrimIdleWorkersLocked();
    for (auto it = children_.begin(); it != children_.end();) {
      int status = 0;
      if (waitpid(it->first, &status, WNOHANG) == it->first) {
        bool registered = false;
        for (auto& [wid, c] : workers_) registered |= (c->pid == it->first);
        if (!registered) {
          Log("a worker process failed to start: it " + DescribeExit(status));
          scheduler_.WorkerStartFailed();
        } else {
          exited_[it->first] = status;  // its disconnect will report it
        }
        it = children_.erase(it);
      } else {
        ++it;
      }
    }
  }
}

// Workers started while others were blocked in get() are not needed once
// the burst is over: beyond num_cpus, those idle for a second are stopped.
void NodeRuntime::TrimIdleWorkersLocked() {
  auto now = std::chrono::steady_clock::now();
  if (now - last_trim_ < std::chrono::milliseconds(500)) return;
  last_trim_ = now;
  size_t soft_limit = static_cast<size_t>(std::max(1, options_.prestart_workers));
  for (const auto& wid : scheduler_.TrimIdleWorkers(soft_limit, std::chrono::seconds(1))) {
    auto it = workers_.find(wid);
    if (it != workers_.end() && it->second->pid > 0) kill(it->second->pid, SIGTERM);
  }
}

void NodeRuntime::SpawnWorkersLocked(int n) {
  spawn_pending_ += n;
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
}

void NodeRuntime::SpawnOne() {
  // Everything the child needs is built before vfork: between vfork and
  // exec the child may only make system calls.
  std::vector<std::string> args = options_.worker_argv;
  args.push_back("--address=" + socket_name_);
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env = options_.worker_env;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  if (argv.size() < 2) return;
  pid_t pid = vfork();
  if (pid == 0) {
    // Die with this thread (the node's event loop), even on kill -9 of the
    // driver: no worker outlives its node.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (pid < 0) {
    Log(std::string("could not start a worker: ") + strerror(errno));
    scheduler_.WorkerStartFailed();
    return;
  }
  children_[pid] = true;
}

std::shared_ptr<Connection> NodeRuntime::ConnectLocal(Deliver deliver) {
  auto conn = std::make_shared<LocalConnection>(std::move(deliver));
  std::lock_guard<std::mutex> lock(mu_);
  connections_.push_back(conn);
  return conn;
}

// ---------------------------------------------------------------------------
// Message handling. Handle() runs with mu_ held (event loop) or takes it
// (local client).

void NodeRuntime::Handle(Connection* conn, MessageType type, std::string_view payload) {
  std::lock_guard<std::mutex> lock(mu_);
  HandleLocked(conn, type, payload);
}

void NodeRuntime::HandleLocked(Connection* conn, MessageType type,
                               std::string_view payload) {
  auto bad = [&] {
    Log("dropping a malformed message of type " + std::to_string(static_cast<int>(type)));
  };
#define MINIRAY_DECODE(T, var) \
  T var;                       \
  if (!DecodePayload(payload, &var)) return bad();
  switch (type) {
    case MessageType::kRegister: {
      MINIRAY_DECODE(Register, m);
      return OnRegister(conn, m);
    }
    case MessageType::kSubmitTask: {
      MINIRAY_DECODE(TaskSpec, m);
      return OnSubmitTask(conn, std::move(m));
    }
    case MessageType::kTaskDone: {
      MINIRAY_DECODE(TaskDone, m);
      return OnTaskDone(conn, std::move(m));
    }
    case MessageType::kPut: {
      MINIRAY_DECODE(ObjectValue, m);
      return OnPut(conn, std::move(m));
    }
    case MessageType::kCreate: {
      MINIRAY_DECODE(CreateRequest, m);
      return OnCreate(conn, m);
    }
    case MessageType::kSeal: {
      MINIRAY_DECODE(ObjectValue, m);
      return OnSeal(conn, std::move(m));
    }
    case MessageType::kGet: {
      MINIRAY_DECODE(GetRequest, m);
      return OnGet(conn, std::move(m));
    }
    case MessageType::kWait: {
      MINIRAY_DECODE(WaitRequest, m);
      return OnWait(conn, std::move(m));
    }
    case MessageType::kCancel: {
      MINIRAY_DECODE(Cancel, m);
      return OnCancel(conn, m);
    }
    case MessageType::kRefDelta: {
      MINIRAY_DECODE(RefDelta, m);
      return OnRefDelta(conn, m);
    }
    case MessageType::kRelease: {
      MINIRAY_DECODE(IdList, m);
      return OnRelease(conn, m);
    }
    case MessageType::kKvPut: {
      MINIRAY_DECODE(KvPut, m);
      if (m.overwrite || !kv_.count(m.key)) kv_[m.key] = std::move(m.value);
      return;
    }
    case MessageType::kKvGet: {
      MINIRAY_DECODE(KvGet, m);
      KvReply r;
      r.request_id = m.request_id;
      auto it = kv_.find(m.key);
      if (it != kv_.end()) {
        r.found = true;
        r.value = it->second;
      }
      return conn->Send(MessageType::kKvReply, EncodePayload(r));
    }
    case MessageType::kResources: {
      MINIRAY_DECODE(ResourcesRequest, m);
      ResourcesReply r;
      r.request_id = m.request_id;
      r.total = scheduler_.total().ToDemands();
      r.available = scheduler_.available().ToDemands();
      return conn->Send(MessageType::kResourcesReply, EncodePayload(r));
    }
    case MessageType::kCreateActor: {
      MINIRAY_DECODE(CreateActorRequest, m);
      return OnCreateActor(conn, std::move(m));
    }
    case MessageType::kGetActor: {
      MINIRAY_DECODE(GetActorRequest, m);
      return OnGetActor(conn, m);
    }
    case MessageType::kKillActor: {
      MINIRAY_DECODE(KillActor, m);
      return OnKillActor(m);
    }
    case MessageType::kCancelTask: {
      MINIRAY_DECODE(CancelTask, m);
      return OnCancelTask(m);
    }
    default:
      return bad();
  }
#undef MINIRAY_DECODE
}

void NodeRuntime::OnRegister(Connection* conn, const Register& m) {
  conn->registered_worker = true;
  conn->worker_id = m.worker_id;
  conn->pid = static_cast<pid_t>(m.pid);
  workers_[m.worker_id] = conn;
  RegisterReply r;
  r.node_id = node_id_;
  r.arena_size = store_->arena()->size();
  (void)static_cast<SocketConnection*>(conn)->SendWithFd(
      MessageType::kRegisterReply, EncodePayload(r), store_->arena()->fd());
  scheduler_.AddWorker(m.worker_id);
  ScheduleLocked();
}

std::vector<ObjectID> NodeRuntime::MissingDependenciesLocked(const TaskSpec& spec) const {
  std::vector<ObjectID> missing;
  for (const auto& dep : spec.dependencies) {
    auto it = objects_.find(dep);
    if (it != objects_.end() && !it->second.ready) missing.push_back(dep);
  }
  return missing;
}

// A task holds its arguments (and refs nested in them) until it ends.
void NodeRuntime::HoldSpecRefsLocked(const TaskSpec& spec) {
  for (const auto& dep : spec.dependencies) AddRefLocked(dep);
  for (const auto& id : spec.contained) AddRefLocked(id);
}

void NodeRuntime::OnSubmitTask(Connection* conn, TaskSpec spec) {
  HoldSpecRefsLocked(spec);
  std::vector<ObjectID> missing = MissingDependenciesLocked(spec);
  for (uint32_t i = 0; i < spec.num_returns; ++i) {
    ObjectID rid = spec.ReturnId(i);
    ObjectEntry& e = objects_[rid];
    e.refs += 1;  // the submitter's handle
    conn->refs[rid] += 1;
  }
  TaskID id = spec.task_id;
  if (spec.IsActorTask()) {
    // Method calls bypass the scheduler: they queue on their actor, in order.
    ActorID aid = spec.actor_id;
    tasks_[id] = TaskState{std::move(spec), WorkerID::Nil()};
    auto ait = actors_.find(aid);
    if (ait == actors_.end() || ait->second.state == ActorState::kDead) {
      std::string cause = ait == actors_.end() ? "The actor " + aid.Hex() + " does not exist."
                                               : ait->second.death_cause;
      FailTaskLocked(tasks_[id], ErrorType::kActorDied, cause);
      return;
    }
    ait->second.queue.push_back(id);
    FlushActorLocked(aid, ait->second);
    return;
  }
  tasks_[id] = TaskState{spec, WorkerID::Nil()};
  scheduler_.SubmitTask(std::move(spec), missing);
  ScheduleLocked();
}

void NodeRuntime::ScheduleLocked() {
  Decisions d = scheduler_.Schedule();
  for (const auto& w : d.warnings) Log("warning: " + w);
  if (d.workers_to_start > 0) SpawnWorkersLocked(d.workers_to_start);
  for (auto& dispatch : d.dispatches) {
    auto wit = workers_.find(dispatch.worker);
    auto tit = tasks_.find(dispatch.spec.task_id);
    if (wit == workers_.end() || tit == tasks_.end()) continue;
    tit->second.worker = dispatch.worker;
    Connection* worker = wit->second;
    if (dispatch.spec.actor_creation) {
      auto ait = actors_.find(dispatch.spec.actor_id);
      if (ait == actors_.end() || ait->second.state == ActorState::kDead) {
        scheduler_.TaskFinished(dispatch.worker);  // killed before placement
        tasks_.erase(tit);
        continue;
      }
      ait->second.worker = worker;
      actor_of_worker_[dispatch.worker] = dispatch.spec.actor_id;
    }
    ExecuteTask m;
    for (const auto& dep : dispatch.spec.dependencies) {
      m.args.push_back(ValueForClientLocked(worker, dep));
    }
    m.gpu_ids = std::move(dispatch.gpu_ids);
    m.spec = std::move(dispatch.spec);
    worker->Send(MessageType::kExecuteTask, EncodePayload(m));
  }
}

ObjectValue NodeRuntime::ValueForClientLocked(Connection* conn, const ObjectID& id) {
  auto it = objects_.find(id);
  if (it == objects_.end() || !it->second.ready) {
    ObjectValue lost;
    lost.id = id;
    lost.kind = ObjectValue::kError;
    lost.error = ErrorType::kObjectLost;
    lost.data = "object " + id.Hex() + " was freed: no reference to it remained";
    return lost;
  }
  if (it->second.spilled) {
    Status restored = RestoreLocked(id, it->second);
    if (!restored.ok()) {
      ObjectValue lost;
      lost.id = id;
      lost.kind = ObjectValue::kError;
      lost.error = ErrorType::kObjectLost;
      lost.data = "object " + id.Hex() + " is spilled to disk and could not be restored: " +
                  restored.message();
      return lost;
    }
  }
  ObjectValue v = it->second.value;
  v.contained.clear();
  if (v.kind == ObjectValue::kShared) {
    // The client maps the value in place; it releases this pin when done.
    if (store_->Pin(id).ok()) conn->pins[id] += 1;
  }
  return v;
}

void NodeRuntime::OnTaskDone(Connection* conn, TaskDone m) {
  auto tit = tasks_.find(m.task_id);
  if (tit == tasks_.end()) return;
  TaskSpec& spec = tit->second.spec;
  if (m.cancelled) {  // an actor call the worker dropped before running it
    auto ait = actors_.find(spec.actor_id);
    if (ait != actors_.end()) {
      auto& inflight = ait->second.inflight;
      auto iit = std::find(inflight.begin(), inflight.end(), m.task_id);
      if (iit != inflight.end()) inflight.erase(iit);
    }
    return FailTaskLocked(tit->second, ErrorType::kTaskCancelled,
                          "Task '" + spec.name + "' was cancelled.");
  }
  if (spec.actor_creation) {
    ActorID aid = spec.actor_id;
    tasks_.erase(tit);  // its arguments stay referenced: restarts re-run it
    auto ait = actors_.find(aid);
    if (ait == actors_.end()) return;
    ActorState& actor = ait->second;
    if (m.application_error) {
      scheduler_.ActorCreated(conn->worker_id, ResourceSet());
      ActorDeadLocked(aid, actor,
                      "The actor died because of an error raised in its creation task: " +
                          m.error_message);
      StopActorWorkerLocked(actor);
    } else if (actor.state != ActorState::kDead) {
      scheduler_.ActorCreated(conn->worker_id,
                              ResourceSet::FromDemands(actor.creation.actor_resources));
      actor.state = ActorState::kAlive;
      FlushActorLocked(aid, actor);
    }
    ScheduleLocked();
    return;
  }
  if (spec.IsActorTask()) {
    ActorID aid = spec.actor_id;
    StoreReturnsLocked(conn, std::move(m.returns));
    FinishTaskLocked(m.task_id);
    auto ait = actors_.find(aid);
    if (ait == actors_.end()) return;
    ActorState& actor = ait->second;
    auto iit = std::find(actor.inflight.begin(), actor.inflight.end(), m.task_id);
    if (iit != actor.inflight.end()) actor.inflight.erase(iit);
    if (m.actor_exiting) actor.exiting = true;
    if (actor.handles_gone && actor.queue.empty() && actor.inflight.empty()) {
      ActorHandlesGoneLocked(aid);
    }
    return;
  }
  scheduler_.TaskFinished(conn->worker_id);
  if (m.application_error && spec.retry_exceptions && spec.max_retries != 0 &&
      !tit->second.cancelled) {
    for (const auto& v : m.returns) {
      if (v.kind == ObjectValue::kShared) {
        (void)store_->Abort(v.id);
        conn->creating.erase(v.id);
      }
    }
    if (spec.max_retries > 0) --spec.max_retries;
    ResubmitLocked(spec);
  } else {
    StoreReturnsLocked(conn, std::move(m.returns));
    FinishTaskLocked(m.task_id);
  }
  ScheduleLocked();
}

// A task's results: shared ones were written in place and are sealed now.
void NodeRuntime::StoreReturnsLocked(Connection* conn, std::vector<ObjectValue> returns) {
  for (auto& v : returns) {
    if (v.kind == ObjectValue::kShared) {
      (void)store_->Seal(v.id);
      conn->creating.erase(v.id);
    }
    StoreValueLocked(std::move(v));
  }
}

void NodeRuntime::ResubmitLocked(TaskSpec spec) {
  tasks_[spec.task_id].worker = WorkerID::Nil();
  std::vector<ObjectID> missing = MissingDependenciesLocked(spec);
  scheduler_.SubmitTask(std::move(spec), missing);
}

void NodeRuntime::FinishTaskLocked(const TaskID& task_id) {
  auto it = tasks_.find(task_id);
  if (it == tasks_.end()) return;
  TaskSpec spec = std::move(it->second.spec);
  tasks_.erase(it);
  ReleaseSpecRefsLocked(spec);
}

void NodeRuntime::FailTaskLocked(const TaskState& task, ErrorType error,
                                 const std::string& message) {
  TaskSpec spec = task.spec;
  for (uint32_t i = 0; i < spec.num_returns; ++i) {
    ObjectValue v;
    v.id = spec.ReturnId(i);
    v.kind = ObjectValue::kError;
    v.error = error;
    v.data = message;
    StoreValueLocked(std::move(v));
  }
  FinishTaskLocked(spec.task_id);
}

void NodeRuntime::StoreValueLocked(ObjectValue v) {
  ObjectID id = v.id;
  ObjectEntry& e = objects_[id];
  if (e.ready) return;  // first value wins (a retried task may race)
  for (const auto& inner : v.contained) AddRefLocked(inner);
  e.value = std::move(v);
  e.ready = true;
  scheduler_.ObjectReady(id);
  auto wit = object_waiters_.find(id);
  if (wit != object_waiters_.end()) {
    std::vector<uint64_t> keys = std::move(wit->second);
    object_waiters_.erase(wit);
    for (uint64_t key : keys) {
      auto rit = requests_.find(key);
      if (rit == requests_.end()) continue;
      PendingRequest& r = rit->second;
      --r.remaining;
      size_t ready = r.ids.size() - r.remaining;
      if (r.remaining == 0 || (r.is_wait && ready >= r.num_returns)) {
        ReplyLocked(key, false);
      }
    }
  }
  if (!actors_waiting_.empty()) {
    std::vector<ActorID> waiting(actors_waiting_.begin(), actors_waiting_.end());
    for (const auto& aid : waiting) {
      auto ait = actors_.find(aid);
      if (ait != actors_.end()) FlushActorLocked(aid, ait->second);
    }
  }
  MaybeFreeLocked(id);
}

void NodeRuntime::OnPut(Connection* conn, ObjectValue v) {
  ObjectID id = v.id;
  if (objects_.count(id)) return;  // ids are random: a duplicate is a retry
  objects_[id].refs = 1;  // the putter's handle
  conn->refs[id] += 1;
  StoreValueLocked(std::move(v));
}

void NodeRuntime::OnCreate(Connection* conn, const CreateRequest& m) {
  CreateReply r;
  r.request_id = m.request_id;
  auto loc = CreateObjectLocked(m.id, m.size);
  if (!loc.ok()) {
    r.code = static_cast<int32_t>(loc.status().code());
    r.message = loc.status().message();
  } else {
    r.offset = loc->offset;
    conn->creating.insert(m.id);
    if (!objects_.count(m.id)) {  // a put (task returns already have entries)
      objects_[m.id].refs = 1;
      conn->refs[m.id] += 1;
    }
  }
  conn->Send(MessageType::kCreateReply, EncodePayload(r));
}

StatusOr<ObjectLocation> NodeRuntime::CreateObjectLocked(const ObjectID& id, uint64_t size) {
  auto loc = store_->CreateObject(id, size);
  while (!loc.ok() && loc.status().code() == StatusCode::kResourceExhausted &&
         size <= store_->capacity() && SpillOneLocked()) {
    loc = store_->CreateObject(id, size);
  }
  return loc;
}

// Moves the largest object that no client maps (and that something still
// refers to: unreferenced objects are freed at once) from shared memory to
// an unnamed file. False when nothing can move.
bool NodeRuntime::SpillOneLocked() {
  ObjectEntry* victim = nullptr;
  ObjectID victim_id;
  for (auto& [id, e] : objects_) {
    if (!e.ready || e.value.kind != ObjectValue::kShared || e.spilled ||
        store_->IsPinned(id)) {
      continue;
    }
    if (!victim || e.value.size > victim->value.size) {
      victim = &e;
      victim_id = id;
    }
  }
  if (!victim) return false;
  auto file = SpillFile::Write(options_.spill_dir, store_->arena()->data() + victim->value.offset,
                               victim->value.size);
  if (!file.ok()) {
    Log("cannot spill an object: " + file.status().message());
    return false;
  }
  victim->spilled = std::move(file).value();
  (void)store_->Delete(victim_id);
  return true;
}

Status NodeRuntime::RestoreLocked(const ObjectID& id, ObjectEntry& entry) {
  auto loc = CreateObjectLocked(id, entry.spilled->size());
  if (!loc.ok()) return loc.status();
  Status read = entry.spilled->ReadInto(store_->arena()->data() + loc->offset);
  if (!read.ok()) {
    (void)store_->Abort(id);
    return read;
  }
  (void)store_->Seal(id);
  entry.value.offset = loc->offset;
  entry.spilled.reset();
  return Status::OK();
}

void NodeRuntime::OnSeal(Connection* conn, ObjectValue v) {
  if (!conn->creating.erase(v.id)) return;
  (void)store_->Seal(v.id);
  StoreValueLocked(std::move(v));
}

void NodeRuntime::OnGet(Connection* conn, GetRequest m) {
  AddRequestLocked(PendingRequest{conn, m.request_id, false, std::move(m.ids), 0, 0, false});
}

void NodeRuntime::OnWait(Connection* conn, WaitRequest m) {
  AddRequestLocked(
      PendingRequest{conn, m.request_id, true, std::move(m.ids), m.num_returns, 0, false});
}

// Answers a Get/Wait at once if it can; else it waits for its objects and,
// if a worker asked, the worker lends its CPUs meanwhile.
void NodeRuntime::AddRequestLocked(PendingRequest r) {
  uint64_t key = next_request_key_++;
  for (const auto& id : r.ids) {
    auto it = objects_.find(id);
    if (it != objects_.end() && !it->second.ready) {
      ++r.remaining;
      object_waiters_[id].push_back(key);
    }
  }
  size_t ready = r.ids.size() - r.remaining;
  bool done = r.is_wait ? ready >= r.num_returns : r.remaining == 0;
  r.blocked = !done;
  Connection* conn = r.conn;
  requests_[key] = std::move(r);
  if (done) return ReplyLocked(key, false);
  BlockLocked(conn);
}

// A worker waiting in get()/wait() lends its CPUs to other tasks.
void NodeRuntime::BlockLocked(Connection* conn) {
  if (conn->blocked_requests++ == 0 && conn->registered_worker) {
    scheduler_.WorkerBlocked(conn->worker_id);
    ScheduleLocked();
  }
}

void NodeRuntime::OnCancel(Connection* conn, const Cancel& m) {
  for (auto& [key, r] : requests_) {
    if (r.conn == conn && r.request_id == m.request_id) {
      return ReplyLocked(key, true);
    }
  }
}

void NodeRuntime::ReplyLocked(uint64_t key, bool cancelled) {
  auto it = requests_.find(key);
  PendingRequest r = std::move(it->second);
  requests_.erase(it);
  if (r.blocked && --r.conn->blocked_requests == 0 && r.conn->registered_worker) {
    scheduler_.WorkerUnblocked(r.conn->worker_id);
  }
  if (r.is_wait) {
    WaitReply w;
    w.request_id = r.request_id;
    for (const auto& id : r.ids) {
      auto oit = objects_.find(id);
      w.ready.push_back(oit == objects_.end() || oit->second.ready);
    }
    r.conn->Send(MessageType::kWaitReply, EncodePayload(w));
  } else {
    GetReply g;
    g.request_id = r.request_id;
    if (cancelled && r.remaining > 0) {
      g.code = static_cast<int32_t>(StatusCode::kDeadlineExceeded);
    } else {
      for (const auto& id : r.ids) g.values.push_back(ValueForClientLocked(r.conn, id));
    }
    r.conn->Send(MessageType::kGetReply, EncodePayload(g));
  }
}

void NodeRuntime::OnRefDelta(Connection* conn, const RefDelta& m) {
  for (const auto& id : m.add) {
    conn->refs[id] += 1;
    AddRefLocked(id);
  }
  for (const auto& id : m.remove) {
    auto it = conn->refs.find(id);
    if (it == conn->refs.end()) continue;  // never held: ignore
    if (--it->second == 0) conn->refs.erase(it);
    RemoveRefLocked(id);
  }
}

void NodeRuntime::OnRelease(Connection* conn, const IdList& m) {
  for (const auto& id : m.ids) {
    auto it = conn->pins.find(id);
    if (it == conn->pins.end()) continue;
    if (--it->second == 0) conn->pins.erase(it);
    (void)store_->Release(id);
  }
}

void NodeRuntime::AddRefLocked(const ObjectID& id, int64_t n) {
  auto it = objects_.find(id);
  if (it != objects_.end()) it->second.refs += n;
}

void NodeRuntime::RemoveRefLocked(const ObjectID& id, int64_t n) {
  auto it = objects_.find(id);
  if (it == objects_.end()) return;
  it->second.refs -= n;
  MaybeFreeLocked(id);
}

void NodeRuntime::MaybeFreeLocked(const ObjectID& id) {
  auto it = objects_.find(id);
  if (it == objects_.end() || it->second.refs > 0 || !it->second.ready) return;
  ObjectValue v = std::move(it->second.value);
  bool in_memory = v.kind == ObjectValue::kShared && !it->second.spilled;
  objects_.erase(it);  // a spill file goes with its entry
  // Shared memory is reused only once no client maps it any more.
  if (in_memory) (void)store_->Delete(id);
  for (const auto& inner : v.contained) RemoveRefLocked(inner);
  if (id.IsActorHandle()) ActorHandlesGoneLocked(id.Actor());
}

void NodeRuntime::Disconnect(Connection* conn) {
  std::lock_guard<std::mutex> lock(mu_);
  DisconnectLocked(conn, "its connection closed");
}

void NodeRuntime::DisconnectLocked(Connection* conn, const std::string& cause) {
  // Waits in progress end with the client.
  for (auto it = requests_.begin(); it != requests_.end();) {
    it = it->second.conn == conn ? requests_.erase(it) : std::next(it);
  }
  for (const auto& id : conn->creating) {
    (void)store_->Abort(id);
    // A put that never sealed: drop its entry (task returns stay pending).
    auto oit = objects_.find(id);
    if (oit != objects_.end() && !oit->second.ready && !tasks_.count(id.Task())) {
      objects_.erase(oit);
      conn->refs.erase(id);
    }
  }
  conn->creating.clear();
  for (auto& [id, n] : conn->pins) {
    for (int64_t k = 0; k < n; ++k) (void)store_->Release(id);
  }
  conn->pins.clear();
  auto refs = std::move(conn->refs);
  conn->refs.clear();
  for (auto& [id, n] : refs) RemoveRefLocked(id, n);

  auto actor_it = conn->registered_worker ? actor_of_worker_.find(conn->worker_id)
                                          : actor_of_worker_.end();
  if (actor_it != actor_of_worker_.end()) {
    ActorID aid = actor_it->second;
    actor_of_worker_.erase(actor_it);
    workers_.erase(conn->worker_id);
    scheduler_.RemoveWorker(conn->worker_id);
    auto ait = actors_.find(aid);
    if (ait != actors_.end() && ait->second.worker == conn && !stopping_) {
      ait->second.worker = nullptr;
      ActorWorkerDiedLocked(aid, ait->second, cause);
    }
  } else if (conn->registered_worker) {
    workers_.erase(conn->worker_id);
    std::optional<TaskSpec> task = scheduler_.RemoveWorker(conn->worker_id);
    if (task && !stopping_) {
      auto tit = tasks_.find(task->task_id);
      if (tit != tasks_.end()) {
        TaskSpec& spec = tit->second.spec;
        if (tit->second.cancelled) {
          FailTaskLocked(tit->second, ErrorType::kTaskCancelled,
                         "Task '" + spec.name + "' was cancelled (its worker was killed).");
        } else if (spec.max_retries != 0) {
          if (spec.max_retries > 0) --spec.max_retries;
          Log("worker running task " + spec.name + " died (" + cause + "); retrying");
          ResubmitLocked(spec);
        } else {
          FailTaskLocked(tit->second, ErrorType::kWorkerDied,
                         "The worker running task '" + spec.name + "' died: " + cause +
                             ". No retries left (max_retries).");
        }
      }
    }
  }
  for (auto it = connections_.begin(); it != connections_.end(); ++it) {
    if (it->get() == conn) {
      connections_.erase(it);  // may destroy conn
      break;
    }
  }
  if (!stopping_) ScheduleLocked();
}

// ---------------------------------------------------------------------------
// Actors

void NodeRuntime::HandleRefForClientLocked(Connection* conn, const ActorID& actor) {
  // The client gets one reference to the actor's handle object.
  ObjectID hid = ObjectID::ForActorHandle(actor);
  ObjectEntry& e = objects_[hid];
  if (!e.ready) {
    e.ready = true;
    e.value.id = hid;
  }
  e.refs += 1;
  conn->refs[hid] += 1;
}

void NodeRuntime::OnCreateActor(Connection* conn, CreateActorRequest m) {
  ActorReply reply;
  reply.request_id = m.request_id;
  auto key = std::make_pair(m.ray_namespace, m.name);
  if (!m.name.empty()) {
    auto nit = actor_names_.find(key);
    if (nit != actor_names_.end()) {
      const ActorState& existing = actors_[nit->second];
      if (m.get_if_exists) {
        reply.actor_id = nit->second;
        reply.metadata = existing.metadata;
        HandleRefForClientLocked(conn, nit->second);
      } else {
        reply.code = static_cast<int32_t>(StatusCode::kAlreadyExists);
        reply.message = "Actor with name '" + m.name + "' already exists in the namespace " +
                        m.ray_namespace;
      }
      return conn->Send(MessageType::kActorReply, EncodePayload(reply));
    }
  }
  TaskSpec spec = std::move(m.spec);
  ActorID aid = spec.actor_id;
  ActorState& actor = actors_[aid];
  actor.creation = spec;
  actor.restarts_left = spec.max_restarts;
  actor.detached = m.detached;
  actor.name = m.name;
  actor.ray_namespace = m.ray_namespace;
  actor.metadata = std::move(m.metadata);
  if (!m.name.empty()) actor_names_[key] = aid;
  reply.actor_id = aid;
  reply.metadata = actor.metadata;
  HandleRefForClientLocked(conn, aid);
  conn->Send(MessageType::kActorReply, EncodePayload(reply));

  // The creation task holds its arguments for the actor's whole life.
  HoldSpecRefsLocked(spec);
  std::vector<ObjectID> missing = MissingDependenciesLocked(spec);
  tasks_[spec.task_id] = TaskState{spec, WorkerID::Nil()};
  scheduler_.SubmitTask(std::move(spec), missing);
  ScheduleLocked();
}

void NodeRuntime::OnGetActor(Connection* conn, const GetActorRequest& m) {
  ActorReply reply;
  reply.request_id = m.request_id;
  auto nit = actor_names_.find(std::make_pair(m.ray_namespace, m.name));
  if (nit == actor_names_.end()) {
    reply.code = static_cast<int32_t>(StatusCode::kNotFound);
    reply.message = "Failed to look up actor with name '" + m.name + "' in namespace '" +
                    m.ray_namespace + "'";
  } else {
    reply.actor_id = nit->second;
    reply.metadata = actors_[nit->second].metadata;
    HandleRefForClientLocked(conn, nit->second);
  }
  conn->Send(MessageType::kActorReply, EncodePayload(reply));
}

void NodeRuntime::OnKillActor(const KillActor& m) {
  auto ait = actors_.find(m.actor_id);
  if (ait == actors_.end() || ait->second.state == ActorState::kDead) return;
  ActorState& actor = ait->second;
  actor.killed = true;
  actor.no_restart = m.no_restart;
  if (actor.worker) {
    StopActorWorkerLocked(actor);  // the disconnect decides: restart or dead
  } else if (m.no_restart) {
    ActorDeadLocked(m.actor_id, actor, "The actor was killed by miniray.kill().");
  }
}

void NodeRuntime::OnCancelTask(const CancelTask& m) {
  auto tit = tasks_.find(m.object_id.Task());
  if (tit == tasks_.end()) return;  // finished (or never existed): nothing to do
  TaskState& task = tit->second;
  const std::string why = "Task '" + task.spec.name + "' was cancelled.";
  if (task.spec.actor_creation) return;
  if (task.spec.IsActorTask()) {
    // Calls still queued on the actor are dropped; running ones finish.
    auto ait = actors_.find(task.spec.actor_id);
    if (ait == actors_.end()) return;
    auto& queue = ait->second.queue;
    auto qit = std::find(queue.begin(), queue.end(), tit->first);
    if (qit != queue.end()) {
      queue.erase(qit);
      return FailTaskLocked(task, ErrorType::kTaskCancelled, why);
    }
    // Sent already: the worker drops it if it has not started it.
    if (ait->second.worker) ait->second.worker->Send(MessageType::kCancelTask, EncodePayload(m));
    return;
  }
  if (scheduler_.CancelTask(tit->first)) {
    return FailTaskLocked(task, ErrorType::kTaskCancelled, why);
  }
  auto wit = workers_.find(task.worker);
  if (task.worker.IsNil() || wit == workers_.end()) return;
  task.cancelled = true;
  Connection* worker = wit->second;
  if (m.force) {
    if (worker->pid > 0) kill(worker->pid, SIGKILL);  // the disconnect fails it
    return;
  }
  // The worker records the request, then the signal interrupts the task
  // (a KeyboardInterrupt in its thread, as Ray does).
  worker->Send(MessageType::kCancelTask, EncodePayload(m));
  if (worker->pid > 0) kill(worker->pid, SIGUSR2);
}

void NodeRuntime::FlushActorLocked(const ActorID& id, ActorState& actor) {
  actors_waiting_.erase(id);
  if (actor.state != ActorState::kAlive || !actor.worker) return;
  while (!actor.queue.empty()) {
    auto tit = tasks_.find(actor.queue.front());
    if (tit == tasks_.end()) {
      actor.queue.pop_front();
      continue;
    }
    const TaskSpec& spec = tit->second.spec;
    for (const auto& dep : spec.dependencies) {
      auto oit = objects_.find(dep);
      if (oit != objects_.end() && !oit->second.ready) {
        // Later calls wait too: calls run in submission order.
        actors_waiting_.insert(id);
        return;
      }
    }
    ExecuteTask m;
    for (const auto& dep : spec.dependencies) {
      m.args.push_back(ValueForClientLocked(actor.worker, dep));
    }
    m.spec = spec;
    actor.inflight.push_back(spec.task_id);
    actor.queue.pop_front();
    actor.worker->Send(MessageType::kExecuteTask, EncodePayload(m));
  }
}

void NodeRuntime::ActorWorkerDiedLocked(const ActorID& id, ActorState& actor,
                                        const std::string& cause) {
  if (actor.state == ActorState::kDead) return;
  std::string why;
  if (actor.killed) {
    why = "The actor was killed by miniray.kill().";
  } else if (actor.exiting) {
    why = "The actor exited on purpose (exit_actor() or __ray_terminate__).";
  } else if (actor.handles_gone) {
    why = "The actor was terminated because all its handles went out of scope.";
  } else {
    why = "The actor died unexpectedly: its worker " + cause + ".";
  }
  bool restart = !actor.no_restart && !actor.exiting && !actor.handles_gone &&
                 actor.restarts_left != 0;
  if (!restart) return ActorDeadLocked(id, actor, why);
  if (actor.restarts_left > 0) --actor.restarts_left;
  actor.state = ActorState::kRestarting;
  actor.killed = false;
  Log("restarting actor " + id.Hex().substr(0, 8) + ": " + why);
  // Calls that were running are retried (max_task_retries) or fail.
  std::vector<TaskID> inflight(actor.inflight.begin(), actor.inflight.end());
  actor.inflight.clear();
  std::deque<TaskID> queue;  // retried calls first: submission order holds
  for (const auto& tid : inflight) {
    auto tit = tasks_.find(tid);
    if (tit == tasks_.end()) continue;
    if (tit->second.spec.max_retries != 0) {
      if (tit->second.spec.max_retries > 0) --tit->second.spec.max_retries;
      queue.push_back(tid);
    } else {
      FailTaskLocked(tit->second, ErrorType::kActorDied, why + " The call was running.");
    }
  }
  for (const auto& tid : actor.queue) queue.push_back(tid);
  actor.queue = std::move(queue);
  tasks_[actor.creation.task_id] = TaskState{actor.creation, WorkerID::Nil()};
  scheduler_.SubmitTask(actor.creation, {});
  ScheduleLocked();
}

void NodeRuntime::ActorDeadLocked(const ActorID& id, ActorState& actor,
                                  const std::string& cause) {
  if (actor.state == ActorState::kDead) return;
  actor.state = ActorState::kDead;
  actor.death_cause = cause;
  actors_waiting_.erase(id);
  std::vector<TaskID> doomed(actor.inflight.begin(), actor.inflight.end());
  doomed.insert(doomed.end(), actor.queue.begin(), actor.queue.end());
  actor.inflight.clear();
  actor.queue.clear();
  for (const auto& tid : doomed) {
    auto tit = tasks_.find(tid);
    if (tit != tasks_.end()) FailTaskLocked(tit->second, ErrorType::kActorDied, cause);
  }
  ReleaseSpecRefsLocked(actor.creation);
  if (!actor.name.empty()) {
    auto nit = actor_names_.find(std::make_pair(actor.ray_namespace, actor.name));
    if (nit != actor_names_.end() && nit->second == id) actor_names_.erase(nit);
  }
}

void NodeRuntime::ActorHandlesGoneLocked(const ActorID& id) {
  auto ait = actors_.find(id);
  if (ait == actors_.end() || ait->second.detached) return;
  ActorState& actor = ait->second;
  actor.handles_gone = true;
  if (actor.state == ActorState::kDead) return;
  // Calls already submitted still run; the actor goes once they are done.
  if (!actor.queue.empty() || !actor.inflight.empty()) return;
  if (actor.worker) {
    StopActorWorkerLocked(actor);
  } else {
    ActorDeadLocked(id, actor,
                    "The actor was terminated because all its handles went out of scope.");
  }
}

void NodeRuntime::StopActorWorkerLocked(ActorState& actor) {
  if (actor.worker && actor.worker->pid > 0) kill(actor.worker->pid, SIGKILL);
}

void NodeRuntime::ReleaseSpecRefsLocked(const TaskSpec& spec) {
  for (const auto& dep : spec.dependencies) RemoveRefLocked(dep);
  for (const auto& id : spec.contained) RemoveRefLocked(id);
}

NodeStats NodeRuntime::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  NodeStats s;
  s.num_objects = objects_.size();
  s.num_store_objects = store_->num_objects();
  s.store_used = store_->used();
  s.store_capacity = store_->capacity();
  s.num_workers = workers_.size();
  s.num_pending_tasks = tasks_.size();
  for (const auto& [id, e] : objects_) s.num_spilled += e.spilled != nullptr;
  return s;
}

}  // namespace miniray
