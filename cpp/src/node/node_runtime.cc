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

std::string DescribeExit(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return std::string("was killed by signal ") + std::to_string(WTERMSIG(status)) +
           " (" + strsignal(WTERMSIG(status)) + ")";
  }
  return "ended";
}

}  // namespace

void NodeRuntime::Log(const std::string& line) {
  std::cerr << "(miniray) " << line << std::endl;
}

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
