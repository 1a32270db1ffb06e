// NodeRuntime: life cycle, the event loop, connections and their outbound
// queues. What each message does is in node_handlers.cc.
#include "node/node_runtime.h"

#include <errno.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstring>
#include <deque>
#include <iostream>

#include <google/protobuf/stubs/logging.h>

#include "common/clock.h"
#include "common/socket.h"

namespace miniray {
namespace {

// epoll tags: the kind in the top byte, an id (client id or pid) below.
constexpr uint64_t kTagShift = 56;
enum Tag : uint64_t { kListenTag = 1, kWakeTag = 2, kClientTag = 3, kChildTag = 4, kStderrTag = 5 };
uint64_t MakeTag(Tag tag, uint64_t id) { return (static_cast<uint64_t>(tag) << kTagShift) | id; }

constexpr auto kTick = std::chrono::milliseconds(200);
// How long a worker whose socket closed may take to exit before the node
// stops waiting for its exit status (and kills it).
constexpr auto kExitGrace = std::chrono::seconds(2);
constexpr uint64_t kDefaultMaxBacklog = 256ull << 20;
constexpr int kLogBurst = 10;
// Workers that exit by themselves before registering, in a row, before the
// tasks waiting for a worker fail instead of waiting for ever.
constexpr int kMaxStartFailures = 3;
constexpr auto kLogWindow = std::chrono::seconds(10);

}  // namespace

// ---------------------------------------------------------------------------
// Connections

// A client over the Unix socket. Messages for it are serialized into an
// outbound queue under the node's lock and written without it: by the
// thread that releases the lock, or by the event loop when the socket has
// room again.
class NodeRuntime::SocketConnection : public ClientConnection,
                                      public std::enable_shared_from_this<SocketConnection> {
 public:
  SocketConnection(ClientId id, int fd, NodeRuntime* node, uint64_t max_backlog)
      : ClientConnection(id), fd_(fd), node_(node), max_backlog_(max_backlog) {}
  ~SocketConnection() override { close(fd_); }

  void Send(rpc::NodeMessage&& message) override { Queue(SerializeFrame(message), -1); }
  bool can_pass_fds() const override { return true; }
  void SendWithFd(const rpc::NodeMessage& message, int pass_fd) override {
    Queue(SerializeFrame(message), pass_fd);
  }

  // Writes what is queued until done or the socket is full; while bytes
  // remain, the event loop watches the socket for room (EPOLLOUT).
  void Flush() {
    std::lock_guard<std::mutex> lock(out_mu_);
    WriteLocked();
    bool more = !outbox_.empty();
    if (more != watching_out_) {
      watching_out_ = more;
      epoll_event ev{};
      ev.events = more ? (EPOLLIN | EPOLLOUT) : EPOLLIN;
      ev.data.u64 = MakeTag(kClientTag, id);
      epoll_ctl(node_->epoll_fd_, EPOLL_CTL_MOD, fd_, &ev);
    }
  }

  int fd() const { return fd_; }
  FrameReader reader;    // event-loop thread only
  std::string overflow;  // why it was cut off; guarded by the node's lock

 private:
  struct Chunk {
    std::string data;
    size_t sent = 0;
    int pass_fd = -1;
  };

  void WriteLocked() {
    while (!outbox_.empty()) {
      iovec iov[64];
      int n = 0;
      int pass_fd = -1;
      for (auto& chunk : outbox_) {
        if (n == 64) break;
        if (chunk.pass_fd >= 0 && chunk.sent == 0) {
          if (n > 0) break;  // an fd travels with the first byte of its frame
          pass_fd = chunk.pass_fd;
        }
        iov[n++] = {chunk.data.data() + chunk.sent, chunk.data.size() - chunk.sent};
        if (pass_fd >= 0) break;
      }
      msghdr msg;
      std::memset(&msg, 0, sizeof(msg));
      msg.msg_iov = iov;
      msg.msg_iovlen = static_cast<size_t>(n);
      FdControl control;
      if (pass_fd >= 0) AttachFd(&msg, &control, pass_fd);
      ssize_t w = sendmsg(fd_, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        // The peer is gone: the read side sees EOF and disconnects it.
        outbox_.clear();
        backlog_ = 0;
        return;
      }
      size_t left = static_cast<size_t>(w);
      backlog_ -= left;
      while (left > 0) {
        Chunk& front = outbox_.front();
        size_t rest = front.data.size() - front.sent;
        if (left >= rest) {
          left -= rest;
          outbox_.pop_front();
        } else {
          front.sent += left;
          left = 0;
        }
      }
    }
  }

  // With the node's lock held.
  void Queue(std::string bytes, int pass_fd) {
    if (!overflow.empty()) return;
    bool was_empty;
    {
      std::lock_guard<std::mutex> lock(out_mu_);
      was_empty = outbox_.empty();
      backlog_ += bytes.size();
      if (backlog_ > max_backlog_) {
        // It stopped reading: cut it off rather than buffer without bound.
        overflow = "it stopped reading (" + std::to_string(backlog_) +
                   " bytes of messages queued for it)";
        outbox_.clear();
        backlog_ = 0;
        shutdown(fd_, SHUT_RDWR);  // the event loop sees EOF and disconnects it
        return;
      }
      outbox_.push_back(Chunk{std::move(bytes), 0, pass_fd});
    }
    if (was_empty) node_->dirty_.push_back(shared_from_this());
  }

  const int fd_;
  NodeRuntime* const node_;
  const uint64_t max_backlog_;
  std::mutex out_mu_;
  std::deque<Chunk> outbox_;  // guarded by out_mu_
  uint64_t backlog_ = 0;      // queued bytes; guarded by out_mu_
  bool watching_out_ = false;  // EPOLLOUT requested; guarded by out_mu_
};

// The embedded driver: messages are handed over in-process.
class NodeRuntime::LocalConnection : public ClientConnection {
 public:
  LocalConnection(ClientId id, Deliver deliver) : ClientConnection(id), deliver_(std::move(deliver)) {}
  void Send(rpc::NodeMessage&& message) override { deliver_(std::move(message)); }
  bool in_process() const override { return true; }

 private:
  Deliver deliver_;
};

// Holds the node's lock. Before releasing it, carries out what the
// handlers left to do (object events, scheduling); after releasing it,
// writes the bytes queued for sockets meanwhile.
class NodeRuntime::Locked {
 public:
  explicit Locked(NodeRuntime* node) : node_(node), lock_(node->mu_) {}
  ~Locked() {
    node_->SettleLocked();
    std::vector<std::shared_ptr<SocketConnection>> dirty;
    dirty.swap(node_->dirty_);
    std::vector<std::string> logs;
    logs.swap(node_->pending_logs_);
    lock_.unlock();
    for (auto& conn : dirty) conn->Flush();
    for (const auto& line : logs) Log(line);
  }
  Locked(const Locked&) = delete;
  Locked& operator=(const Locked&) = delete;

 private:
  NodeRuntime* node_;
  std::unique_lock<std::mutex> lock_;
};

// ---------------------------------------------------------------------------
// Life cycle

namespace {
// Where the node's runtime messages go: stderr, or (once a driver asks) a
// queue its Python side drains into the `logging` module. A plain queue,
// not a callback: lines are logged with the node's lock held, where calling
// into Python (and taking the GIL) could deadlock.
std::mutex log_mu;
bool log_to_queue = false;              // guarded by log_mu
std::deque<std::string> log_queue;      // guarded by log_mu
constexpr size_t kMaxQueuedLogs = 1000;
}  // namespace

void NodeRuntime::Log(const std::string& line) {
  {
    std::lock_guard<std::mutex> lock(log_mu);
    if (log_to_queue) {
      if (log_queue.size() >= kMaxQueuedLogs) log_queue.pop_front();
      log_queue.push_back(line);
      return;
    }
  }
  std::cerr << "(miniray) " << line << std::endl;
}

void NodeRuntime::QueueLogs(bool enable) {
  std::lock_guard<std::mutex> lock(log_mu);
  log_to_queue = enable;
}

std::vector<std::string> NodeRuntime::TakeLogs() {
  std::lock_guard<std::mutex> lock(log_mu);
  std::vector<std::string> out(log_queue.begin(), log_queue.end());
  log_queue.clear();
  return out;
}

void NodeRuntime::LogLimited(const std::string& line) {
  auto now = std::chrono::steady_clock::now();
  if (now - log_window_ > kLogWindow) {
    if (logs_suppressed_ > 0) {
      pending_logs_.push_back("(" + std::to_string(logs_suppressed_) +
                              " similar messages suppressed)");
    }
    log_window_ = now;
    logs_in_window_ = 0;
    logs_suppressed_ = 0;
  }
  if (logs_in_window_++ < kLogBurst) {
    pending_logs_.push_back(line);
  } else {
    ++logs_suppressed_;
  }
}

StatusOr<std::unique_ptr<NodeRuntime>> NodeRuntime::Start(rpc::NodeConfig config) {
  std::unique_ptr<NodeRuntime> node(new NodeRuntime(std::move(config)));
  Status s = node->Init();
  if (!s.ok()) return s;
  return node;
}

NodeRuntime::NodeRuntime(rpc::NodeConfig config)
    : config_(std::move(config)),
      node_id_(NodeID::FromRandom()),
      scheduler_(ResourceSet::FromMap(config_.resources()), config_.max_workers()),
      pool_({config_.worker_argv().begin(), config_.worker_argv().end()}) {}

// protobuf logs each message it cannot parse (invalid UTF-8, say) to
// stderr; the node reports a bad client once, rate-limited, instead.
static void QuietProtobufLog(google::protobuf::LogLevel level, const char* filename, int line,
                      const std::string& message) {
  if (level == google::protobuf::LOGLEVEL_FATAL) {
    std::cerr << "[libprotobuf FATAL " << filename << ":" << line << "] " << message << std::endl;
  }
}

Status NodeRuntime::Init() {
  google::protobuf::SetLogHandler(QuietProtobufLog);
  auto store = ObjectStore::Create(config_.object_store_memory());
  if (!store.ok()) return store.status();
  store_ = std::move(store).value();
  objects_ = std::make_unique<ObjectTable>(
      store_, config_.spill_dir().empty() ? "/tmp" : config_.spill_dir());
  socket_name_ = "miniray-" + std::to_string(getpid()) + "-" + node_id_.Hex().substr(0, 12);
  auto lfd = ListenAbstract(socket_name_);
  if (!lfd.ok()) return lfd.status();
  listen_fd_ = *lfd;
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (wake_fd_ < 0 || epoll_fd_ < 0) return Status::Internal("eventfd/epoll failed");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = MakeTag(kListenTag, 0);
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
  ev.data.u64 = MakeTag(kWakeTag, 0);
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  if (config_.local_job()) {
    std::lock_guard<std::mutex> lock(mu_);
    Job job;
    job.worker_env.assign(config_.worker_env().begin(), config_.worker_env().end());
    job.driver_pid = getpid();
    job.ray_namespace = config_.local_job_config().ray_namespace();
    job.entrypoint = config_.local_job_config().entrypoint();
    local_job_ = StartJobLocked(std::move(job));
  }
  loop_ = std::thread([this] { EventLoop(); });
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
  return Status::OK();
}

NodeRuntime::~NodeRuntime() { Stop(); }

void NodeRuntime::Stop() {
  if (stopping_.exchange(true)) return;
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
  if (loop_.joinable()) loop_.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    pool_.KillAll();
    clients_.clear();  // closes every worker socket
    worker_clients_.clear();
    closing_.clear();
    dirty_.clear();
    events_ = ObjectEvents();
    objects_.reset();  // every entry, and every spill file
    store_.reset();
  }
  close(listen_fd_);
  close(wake_fd_);
  close(epoll_fd_);
}

std::shared_ptr<Arena> NodeRuntime::arena() const {
  std::lock_guard<std::mutex> lock(mu_);
  return store_ ? store_->arena() : nullptr;
}

std::shared_ptr<ClientConnection> NodeRuntime::ConnectLocal(Deliver deliver) {
  auto conn = std::make_shared<LocalConnection>(next_client_id_++, std::move(deliver));
  std::lock_guard<std::mutex> lock(mu_);
  conn->job = local_job_;
  clients_[conn->id] = conn;
  return conn;
}

JobID NodeRuntime::StartJobLocked(Job job) {
  JobID id = JobID::FromInt(next_job_++);
  job.start_time_ms = NowMillis();
  jobs_[id] = std::move(job);
  // Workers for it start now, so its first tasks find them warm.
  LaunchForJobLocked(id, config_.prestart_workers());
  return id;
}

void NodeRuntime::LaunchForJobLocked(const JobID& job, int n) {
  if (n <= 0) return;
  scheduler_.WorkersStarting(n, job);
  launch_pending_[job] += n;
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));  // the event loop launches them
}

void NodeRuntime::Handle(ClientConnection* conn, rpc::ClientMessage&& message) {
  Locked locked(this);
  if (stopped_) return;
  Status s = HandleLocked(conn, std::move(message));
  if (!s.ok()) LogLimited("dropped an invalid message from the driver: " + s.message());
}

void NodeRuntime::Disconnect(ClientConnection* conn) {
  Locked locked(this);
  if (stopped_) return;
  DisconnectLocked(conn, "its connection closed");
}

rpc::NodeSnapshot NodeRuntime::Snapshot() {
  std::lock_guard<std::mutex> lock(mu_);
  return SnapshotLocked(/*take_kv=*/true);
}

rpc::NodeSnapshot NodeRuntime::SnapshotLocked(bool take_kv) {
  rpc::NodeSnapshot s;
  if (stopped_) return s;
  auto* node = s.mutable_node();
  node->set_node_id(node_id_.Binary());
  node->set_socket_name(socket_name_);
  node->set_pid(getpid());
  node->set_object_store_used(store_->used());

  node->set_num_workers(static_cast<int32_t>(worker_clients_.size()));
  node->set_num_pending_tasks(static_cast<int32_t>(tasks_.size()));
  node->set_object_store_capacity(store_->arena()->size());
  ObjectTableStats object_stats = objects_->Stats();
  node->set_num_objects(static_cast<int32_t>(object_stats.num_objects));
  node->set_num_spilled_objects(static_cast<int32_t>(object_stats.num_spilled));
  node->set_spilled_bytes(object_stats.spilled_bytes);
  for (const auto& [k, v] : scheduler_.total().ToMap()) (*node->mutable_resources_total())[k] = v;
  for (const auto& [k, v] : scheduler_.available().ToMap()) {
    (*node->mutable_resources_available())[k] = v;
  }
  for (const auto& [id, job] : jobs_) {
    auto* row = s.add_jobs();
    row->set_job_id(id.Binary());
    row->set_node_id(node_id_.Binary());
    row->set_driver_pid(job.driver_pid);
    row->set_is_dead(!job.alive);
    row->set_start_time_ms(job.start_time_ms);
    row->set_end_time_ms(job.end_time_ms);
    row->set_ray_namespace(job.ray_namespace);
    row->set_entrypoint(job.entrypoint);
  }
  static const char* kStates[] = {"PENDING_CREATION", "ALIVE", "RESTARTING", "DEAD"};
  for (const auto& [id, actor] : actors_.all()) {
    auto* row = s.add_actors();
    const auto& options = actor.options();
    row->set_actor_id(id.Binary());
    row->set_job_id(actor.creation.message().job_id());
    row->set_name(options.name());
    row->set_ray_namespace(options.ray_namespace());
    std::string class_name = actor.creation.Name();
    row->set_class_name(class_name.substr(0, class_name.rfind(".__init__")));
    row->set_state(kStates[actor.state]);
    row->set_node_id(node_id_.Binary());
    if (ClientConnection* worker = actor.worker.IsNil() ? nullptr : WorkerClientLocked(actor.worker)) {
      row->set_pid(worker->pid);
    }
    row->set_num_restarts(actor.num_restarts);
    row->set_is_detached(options.is_detached());
    row->set_death_cause(actor.death_cause);
  }
  if (!take_kv) return s;
  for (const auto& key : kv_.TakeChanged()) {
    const std::string* value = kv_.Get(key);
    if (!value) continue;
    auto* entry = s.add_kv();
    entry->set_key(key);
    entry->set_value(*value);
  }
  return s;
}

NodeStats NodeRuntime::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  NodeStats s;
  if (stopped_) return s;
  ObjectTableStats o = objects_->Stats();
  s.num_objects = o.num_objects;
  s.num_spilled = o.num_spilled;
  s.num_store_objects = store_->num_objects();
  s.store_used = store_->used();
  s.store_capacity = store_->capacity();
  s.num_workers = worker_clients_.size();
  s.num_pending_tasks = tasks_.size();
  return s;
}

// ---------------------------------------------------------------------------
// Event loop: accepts clients, reads their messages, writes what their
// sockets could not take at once, launches and reaps worker processes.

void NodeRuntime::EventLoop() {
  epoll_event events[64];
  while (!stopping_) {
    int n = epoll_wait(epoll_fd_, events, 64, static_cast<int>(kTick.count()));
    if (stopping_) break;
    for (int i = 0; i < n; ++i) {
      uint64_t tag = events[i].data.u64;
      uint64_t id = tag & ((1ull << kTagShift) - 1);
      switch (tag >> kTagShift) {
        case kListenTag:
          AcceptClients();
          break;
        case kWakeTag: {
          uint64_t v;
          (void)!read(wake_fd_, &v, sizeof(v));
          LaunchWorkers();
          break;
        }
        case kChildTag:
          ChildExited(static_cast<pid_t>(id));
          break;
        case kStderrTag:
          WorkerStderr(static_cast<pid_t>(id));
          break;
        case kClientTag: {
          std::shared_ptr<SocketConnection> conn;
          {
            std::lock_guard<std::mutex> lock(mu_);
            auto it = clients_.find(id);
            if (it != clients_.end()) {
              conn = std::static_pointer_cast<SocketConnection>(it->second);
            }
          }
          if (!conn) break;
          if (events[i].events & EPOLLOUT) conn->Flush();
          if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) ReadClient(conn);
          break;
        }
      }
    }
    OnTick();
  }
}

void NodeRuntime::AcceptClients() {
  while (true) {
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    auto cred = GetPeerCredentials(fd);
    if (!cred.ok() || cred->uid != getuid()) {  // abstract sockets are reachable by anyone
      close(fd);
      continue;
    }
    uint64_t backlog = config_.max_client_backlog_bytes();
    auto conn = std::make_shared<SocketConnection>(next_client_id_++, fd, this,
                                                   backlog ? backlog : kDefaultMaxBacklog);
    conn->pid = cred->pid;
    {
      std::lock_guard<std::mutex> lock(mu_);
      clients_[conn->id] = conn;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = MakeTag(kClientTag, conn->id);
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  }
}

void NodeRuntime::ReadClient(const std::shared_ptr<SocketConnection>& conn) {
  // Read and decode without the lock; handle the whole batch under it.
  Status read_status = conn->reader.ReadFrom(conn->fd());
  std::vector<rpc::ClientMessage> messages;
  std::string_view payload;
  bool malformed = false;
  while (conn->reader.Next(&payload)) {
    rpc::ClientMessage m;
    if (!m.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
      malformed = true;
      break;
    }
    messages.push_back(std::move(m));
  }
  std::string violation;
  if (!messages.empty()) {
    Locked locked(this);
    if (stopped_) return;
    for (auto& m : messages) {
      Status s = HandleLocked(conn.get(), std::move(m));
      if (!s.ok()) {  // the rest of the batch is not acted on either
        violation = "it sent an invalid message: " + s.message();
        break;
      }
    }
  }
  if (!violation.empty()) return ClientClosed(conn, violation);
  if (malformed) return ClientClosed(conn, "it sent a malformed message");
  if (read_status.code() == StatusCode::kInvalidArgument) {
    return ClientClosed(conn, read_status.message());
  }
  if (!read_status.ok()) ClientClosed(conn, "");
}

// The socket is done (EOF, error, or the node cut it off). A worker's
// disconnect waits for its process's exit status, to say how it died.
void NodeRuntime::ClientClosed(const std::shared_ptr<SocketConnection>& conn,
                               const std::string& why) {
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, conn->fd(), nullptr);
  Locked locked(this);
  if (stopped_ || !clients_.count(conn->id)) return;
  std::string reason = !conn->overflow.empty() ? conn->overflow : why;
  if (!reason.empty()) {
    LogLimited("disconnecting client pid " + std::to_string(conn->pid) + ": " + reason);
  }
  pid_t pid = conn->pid;
  if (reason.empty() && conn->registered && pool_.IsRunning(pid)) {
    closing_[pid] = Closing{conn->id, std::chrono::steady_clock::now() + kExitGrace};
    return;  // ChildExited finishes it
  }
  std::string cause = "its connection closed";
  if (auto status = pool_.TakeExitStatus(pid)) {
    cause = "process " + std::to_string(pid) + " " + WorkerPool::DescribeExit(*status);
  } else if (!reason.empty()) {
    cause = "was disconnected: " + reason;
    pool_.Signal(pid, SIGKILL);
  } else if (pid > 0) {
    cause = "process " + std::to_string(pid) + " closed its connection";
  }
  DisconnectLocked(conn.get(), cause);
}

void NodeRuntime::LaunchWorkers() {
  std::vector<std::pair<JobID, std::vector<std::string>>> launches;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [job, n] : launch_pending_) {
      auto it = jobs_.find(job);
      for (int k = 0; k < n; ++k) {
        if (it != jobs_.end() && it->second.alive) {
          launches.emplace_back(job, it->second.worker_env);
        } else {
          scheduler_.WorkerStartFailed(job);  // its driver is gone
        }
      }
    }
    launch_pending_.clear();
  }
  for (const auto& [job, env] : launches) {
    if (stopping_) break;
    auto process = pool_.Launch(socket_name_, job, env);  // forks: not under the lock
    Locked locked(this);
    if (!process.ok()) {
      Log(process.status().message());
      scheduler_.WorkerStartFailed(job);
      continue;
    }
    pool_.Add(*process, job);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = MakeTag(kChildTag, static_cast<uint64_t>(process->pid));
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, process->pidfd, &ev);
    ev.data.u64 = MakeTag(kStderrTag, static_cast<uint64_t>(process->pid));
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, process->stderr_fd, &ev);
  }
}

void NodeRuntime::WorkerStderr(pid_t pid) {
  Locked locked(this);
  if (!stopped_) pool_.ReadStderr(pid);
}

void NodeRuntime::ChildExited(pid_t pid) {
  Locked locked(this);
  if (stopped_) return;
  auto exit = pool_.Reap(pid);
  if (!exit) return;
  if (!exit->registered) {
    // It never took a task (bad interpreter, import error, killed early):
    // another is started for the tasks that wait, unless they keep failing.
    std::string why = "a worker process failed to start: it " +
                      WorkerPool::DescribeExit(exit->status);
    if (!exit->stderr_tail.empty()) why += "; its stderr ended with:\n" + exit->stderr_tail;
    LogLimited(why);
    scheduler_.WorkerStartFailed(exit->job);
    schedule_needed_ = true;
    if (pool_.consecutive_start_failures() >= kMaxStartFailures) {
      pool_.ResetStartFailures();
      FailTasksWaitingForWorkersLocked(
          exit->job,
          std::to_string(kMaxStartFailures) + " worker processes in a row failed to start. " +
          "The last one: " + why);
    }
    return;
  }
  auto cit = closing_.find(pid);
  if (cit == closing_.end()) return;  // its socket's EOF will report the status
  ClientId client = cit->second.client;
  closing_.erase(cit);
  (void)pool_.TakeExitStatus(pid);
  auto conn = clients_.find(client);
  if (conn == clients_.end()) return;
  DisconnectLocked(conn->second.get(),
                   "process " + std::to_string(pid) + " " + WorkerPool::DescribeExit(exit->status));
}

void NodeRuntime::OnTick() {
  Locked locked(this);
  if (stopped_) return;
  auto now = std::chrono::steady_clock::now();
  for (auto it = closing_.begin(); it != closing_.end();) {
    if (it->second.deadline > now) {
      ++it;
      continue;
    }
    pid_t pid = it->first;
    ClientId client = it->second.client;
    it = closing_.erase(it);
    pool_.Signal(pid, SIGKILL);
    auto conn = clients_.find(client);
    if (conn != clients_.end()) {
      DisconnectLocked(conn->second.get(),
                       "process " + std::to_string(pid) + " closed its connection");
    }
  }
  // Workers started while others were blocked in get() are not needed once
  // the burst is over: beyond num_cpus, those idle for a second are stopped.
  if (now - last_trim_ < std::chrono::milliseconds(500)) return;
  last_trim_ = now;
  size_t soft_limit = static_cast<size_t>(std::max(1, config_.prestart_workers()));
  for (const auto& wid : scheduler_.TrimIdleWorkers(soft_limit, std::chrono::seconds(1))) {
    SignalWorkerLocked(wid, SIGTERM);
  }
}

}  // namespace miniray
