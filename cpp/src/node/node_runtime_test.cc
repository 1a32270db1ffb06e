// The node runtime driven directly: in-process clients send messages as a
// driver would and read the node's answers; raw socket clients check the
// event loop (a client that stops reading holds back no one).
#include "node/node_runtime.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <thread>

#include "common/socket.h"

namespace miniray {
namespace {

// A client that records every message the node sends it.
class FakeClient {
 public:
  explicit FakeClient(NodeRuntime* node) : node_(node) {
    conn_ = node->ConnectLocal([this](rpc::NodeMessage&& m) { messages_.push_back(std::move(m)); });
  }
  void Send(rpc::ClientMessage m) { node_->Handle(conn_.get(), std::move(m)); }
  rpc::NodeMessage Take() {
    EXPECT_FALSE(messages_.empty());
    if (messages_.empty()) return rpc::NodeMessage();
    rpc::NodeMessage m = std::move(messages_.front());
    messages_.pop_front();
    return m;
  }
  bool idle() const { return messages_.empty(); }
  void Disconnect() { node_->Disconnect(conn_.get()); }

 private:
  NodeRuntime* node_;
  std::shared_ptr<ClientConnection> conn_;
  std::deque<rpc::NodeMessage> messages_;
};

std::unique_ptr<NodeRuntime> StartNode(std::map<std::string, double> resources = {{"CPU", 2}},
                                       uint64_t max_backlog = 0) {
  rpc::NodeConfig config;
  for (const auto& [k, v] : resources) (*config.mutable_resources())[k] = v;
  config.set_object_store_memory(1 << 20);
  config.set_max_client_backlog_bytes(max_backlog);
  return std::move(NodeRuntime::Start(config)).value();
}

rpc::ClientMessage KvPut(const std::string& key, const std::string& value, bool overwrite) {
  rpc::ClientMessage m;
  m.mutable_kv_put()->set_key(key);
  m.mutable_kv_put()->set_value(value);
  m.mutable_kv_put()->set_overwrite(overwrite);
  return m;
}

rpc::ClientMessage KvGet(uint64_t request_id, const std::string& key) {
  rpc::ClientMessage m;
  m.set_request_id(request_id);
  m.mutable_kv_get()->set_key(key);
  return m;
}

TEST(NodeRuntimeTest, KeyValueTableKeepsFirstValueWithoutOverwrite) {
  auto node = StartNode();
  FakeClient c(node.get());
  c.Send(KvPut("fn:1", "first", false));
  c.Send(KvPut("fn:1", "second", false));
  c.Send(KvGet(7, "fn:1"));
  rpc::NodeMessage r = c.Take();
  EXPECT_EQ(r.request_id(), 7u);
  EXPECT_TRUE(r.kv_get_reply().found());
  EXPECT_EQ(r.kv_get_reply().value(), "first");
  c.Send(KvGet(8, "missing"));
  EXPECT_FALSE(c.Take().kv_get_reply().found());
}

TEST(NodeRuntimeTest, ReportsTotalAndAvailableResources) {
  auto node = StartNode({{"CPU", 2}, {"disk", 0.5}});
  FakeClient c(node.get());
  rpc::ClientMessage m;
  m.set_request_id(3);
  m.mutable_get_resources();
  c.Send(m);
  rpc::NodeMessage r = c.Take();
  EXPECT_EQ(r.resources_reply().total().at("CPU"), 2);
  EXPECT_EQ(r.resources_reply().total().at("disk"), 0.5);
  EXPECT_EQ(r.resources_reply().available().at("CPU"), 2);
  EXPECT_EQ(r.resources_reply().num_queued(), 0u);
  // A task that could run but has no worker yet (this node starts none)
  // is queued: the node has no room for more, though its CPUs look free.
  rpc::ClientMessage submit;
  auto* spec = submit.mutable_submit_task();
  spec->set_task_id(TaskID::FromRandom().Binary());
  spec->set_num_returns(1);
  (*spec->mutable_required_resources())["CPU"] = 1;
  c.Send(submit);
  c.Send(m);
  r = c.Take();
  EXPECT_EQ(r.resources_reply().num_queued(), 1u);
}

TEST(NodeRuntimeTest, PutObjectIsFreedWhenItsOnlyClientGoes) {
  auto node = StartNode();
  FakeClient c(node.get());
  rpc::ClientMessage m;
  m.mutable_put()->set_object_id(ObjectID::ForPut().Binary());
  m.mutable_put()->set_inline_data("value");
  c.Send(m);
  EXPECT_EQ(node->Stats().num_objects, 1u);
  c.Disconnect();
  EXPECT_EQ(node->Stats().num_objects, 0u);
}

rpc::ClientMessage NewActor(uint64_t request_id, const std::string& name = "",
                            const std::string& ns = "") {
  rpc::ClientMessage m;
  m.set_request_id(request_id);
  auto* spec = m.mutable_create_actor()->mutable_task_spec();
  spec->set_type(rpc::ACTOR_CREATION_TASK);
  spec->set_task_id(TaskID::FromRandom().Binary());
  spec->set_actor_id(ActorID::FromRandom().Binary());
  (*spec->mutable_required_resources())["CPU"] = 1;
  spec->mutable_actor_creation_task_spec()->set_name(name);
  spec->mutable_actor_creation_task_spec()->set_ray_namespace(ns);
  spec->mutable_actor_creation_task_spec()->set_handle_metadata("meta");
  return m;
}

TEST(NodeRuntimeTest, ActorNamesAreUniquePerNamespace) {
  auto node = StartNode();
  FakeClient c(node.get());
  rpc::ClientMessage req = NewActor(1, "counter", "ns");
  std::string actor_id = req.create_actor().task_spec().actor_id();
  c.Send(req);
  rpc::ActorReply created = c.Take().actor_reply();
  EXPECT_EQ(created.status().code(), 0);
  EXPECT_EQ(created.actor_id(), actor_id);

  rpc::ClientMessage again = NewActor(2, "counter", "ns");
  c.Send(again);
  rpc::ActorReply taken = c.Take().actor_reply();
  EXPECT_EQ(taken.status().code(), static_cast<int32_t>(StatusCode::kAlreadyExists));
  EXPECT_NE(taken.status().message().find("counter"), std::string::npos);

  again.set_request_id(3);
  again.mutable_create_actor()->set_get_if_exists(true);
  c.Send(again);
  rpc::ActorReply existing = c.Take().actor_reply();
  EXPECT_EQ(existing.actor_id(), actor_id);
  EXPECT_EQ(existing.handle_metadata(), "meta");

  rpc::ClientMessage get;
  get.set_request_id(4);
  get.mutable_get_actor()->set_name("counter");
  get.mutable_get_actor()->set_ray_namespace("other");
  c.Send(get);
  EXPECT_EQ(c.Take().actor_reply().status().code(), static_cast<int32_t>(StatusCode::kNotFound));
  get.mutable_get_actor()->set_ray_namespace("ns");
  c.Send(get);
  EXPECT_EQ(c.Take().actor_reply().actor_id(), actor_id);
}

TEST(NodeRuntimeTest, CallsToAKilledActorFailWithActorDied) {
  auto node = StartNode();
  FakeClient c(node.get());
  rpc::ClientMessage req = NewActor(1);
  std::string actor_id = req.create_actor().task_spec().actor_id();
  c.Send(req);
  c.Take();
  rpc::ClientMessage kill;
  kill.mutable_kill_actor()->set_actor_id(actor_id);
  kill.mutable_kill_actor()->set_no_restart(true);
  c.Send(kill);

  rpc::ClientMessage call;
  auto* spec = call.mutable_submit_task();
  TaskID task = TaskID::FromRandom();
  spec->set_type(rpc::ACTOR_TASK);
  spec->set_task_id(task.Binary());
  spec->set_actor_id(actor_id);
  spec->set_name("Counter.incr");
  spec->set_num_returns(1);
  c.Send(call);
  rpc::ClientMessage get;
  get.set_request_id(9);
  get.mutable_get()->add_object_ids(ObjectID::ForTaskReturn(task, 1).Binary());
  c.Send(get);
  rpc::GetObjectsReply r = c.Take().get_reply();
  ASSERT_EQ(r.values_size(), 1);
  ASSERT_TRUE(r.values(0).has_error());
  EXPECT_EQ(r.values(0).error().type(), rpc::ACTOR_DIED);
  EXPECT_NE(r.values(0).error().message().find("killed"), std::string::npos);
}

TEST(NodeRuntimeTest, InfeasibleTaskStaysPendingAndItsCancelFailsIt) {
  auto node = StartNode();
  FakeClient c(node.get());
  rpc::ClientMessage submit;
  auto* spec = submit.mutable_submit_task();
  TaskID task = TaskID::FromRandom();
  spec->set_task_id(task.Binary());
  spec->set_name("needs_tpu");
  spec->set_num_returns(1);
  (*spec->mutable_required_resources())["TPU"] = 1;
  c.Send(submit);
  EXPECT_EQ(node->Stats().num_pending_tasks, 1u);
  rpc::ClientMessage cancel;
  cancel.mutable_cancel_task()->set_object_id(ObjectID::ForTaskReturn(task, 1).Binary());
  c.Send(cancel);
  EXPECT_EQ(node->Stats().num_pending_tasks, 0u);
  rpc::ClientMessage get;
  get.mutable_get()->add_object_ids(ObjectID::ForTaskReturn(task, 1).Binary());
  c.Send(get);
  EXPECT_EQ(c.Take().get_reply().values(0).error().type(), rpc::TASK_CANCELLED);
}

// A raw socket client: speaks the frame protocol by hand. It registers as
// a driver unless told not to.
class RawClient {
 public:
  explicit RawClient(const std::string& address, bool do_register = true,
                     rpc::ClientKind kind = rpc::DRIVER) {
    auto fd = ConnectAbstract(address);
    EXPECT_TRUE(fd.ok());
    fd_ = *fd;
    if (!do_register) return;
    rpc::ClientMessage reg;
    reg.mutable_register_client()->set_worker_id(WorkerID::FromRandom().Binary());
    reg.mutable_register_client()->set_kind(kind);
    Send(reg);
    rpc::NodeMessage reply;
    int arena_fd = -1;
    EXPECT_TRUE(RecvFrame(fd_, &reply, &arena_fd).ok());
    EXPECT_TRUE(reply.has_register_reply());
    if (arena_fd >= 0) close(arena_fd);
  }
  ~RawClient() { close(fd_); }
  void Send(const rpc::ClientMessage& m) { ASSERT_TRUE(SendFrame(fd_, m).ok()); }
  bool Recv(rpc::NodeMessage* m) { return RecvFrame(fd_, m).ok(); }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

TEST(NodeRuntimeTest, AClientThatStopsReadingHoldsBackNoOne) {
  auto node = StartNode({{"CPU", 1}}, /*max_backlog=*/64 << 20);
  FakeClient busy(node.get());
  busy.Send(KvPut("big", std::string(256 << 10, 'x'), true));
  // The stalled client asks for the big value again and again and never
  // reads: its socket buffer fills, then its queue on the node grows.
  RawClient stalled(node->socket_name());
  for (int i = 0; i < 200; ++i) stalled.Send(KvGet(i, "big"));
  // Meanwhile another client is served as usual.
  for (int i = 0; i < 1000; ++i) {
    busy.Send(KvGet(1000 + i, "big"));
    ASSERT_EQ(busy.Take().request_id(), 1000u + i);
  }
  // The stalled client is still connected and gets its answers when it reads.
  rpc::NodeMessage m;
  ASSERT_TRUE(stalled.Recv(&m));
  EXPECT_EQ(m.request_id(), 0u);
  EXPECT_EQ(m.kv_get_reply().value().size(), 256u << 10);
}

TEST(NodeRuntimeTest, AClientWhoseBacklogPassesTheBoundIsDisconnected) {
  auto node = StartNode({{"CPU", 1}}, /*max_backlog=*/4 << 20);
  FakeClient c(node.get());
  c.Send(KvPut("big", std::string(256 << 10, 'x'), true));
  RawClient stalled(node->socket_name());
  for (int i = 0; i < 100; ++i) stalled.Send(KvGet(i, "big"));  // 25 MiB of answers
  // The node cuts it off: reading eventually finds the end of the stream.
  rpc::NodeMessage m;
  int received = 0;
  while (stalled.Recv(&m)) ++received;
  EXPECT_LT(received, 100);
  // And still serves others.
  c.Send(KvGet(1, "big"));
  EXPECT_TRUE(c.Take().kv_get_reply().found());
}

TEST(NodeRuntimeTest, AMalformedFrameClosesThatConnectionOnly) {
  auto node = StartNode();
  FakeClient c(node.get());
  RawClient bad(node->socket_name(), /*do_register=*/false);
  const char bytes[] = "\x05\x00\x00\x00\xff\xff\xff\xff\xff";
  std::string garbage(bytes, sizeof(bytes) - 1);
  ASSERT_EQ(write(bad.fd(), garbage.data(), garbage.size()), static_cast<ssize_t>(garbage.size()));
  rpc::NodeMessage m;
  EXPECT_FALSE(bad.Recv(&m));  // closed by the node
  c.Send(KvGet(1, "x"));
  EXPECT_FALSE(c.Take().kv_get_reply().found());  // still serving
}

TEST(NodeRuntimeTest, RegisteredSocketWorkerReceivesTheArena) {
  auto node = StartNode();
  RawClient worker(node->socket_name(), /*do_register=*/false);
  rpc::ClientMessage reg;
  reg.mutable_register_client()->set_worker_id(WorkerID::FromRandom().Binary());
  worker.Send(reg);
  rpc::NodeMessage reply;
  int arena_fd = -1;
  ASSERT_TRUE(RecvFrame(worker.fd(), &reply, &arena_fd).ok());
  EXPECT_EQ(reply.register_reply().node_id(), node->node_id().Binary());
  EXPECT_EQ(reply.register_reply().arena_size(), node->arena()->size());
  EXPECT_GE(arena_fd, 0);
  close(arena_fd);
  // The node counts it as a worker until it goes.
  for (int i = 0; i < 100 && node->Stats().num_workers != 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(node->Stats().num_workers, 1u);
}

// --- hostile clients: each message is refused, its sender cut off, and the
// node's state is what it was ------------------------------------------------

// Reads until the node closes the connection; false if it answers instead.
bool ClosedByNode(RawClient& client) {
  rpc::NodeMessage m;
  return !client.Recv(&m);
}

rpc::ClientMessage Submit(const TaskID& id, std::map<std::string, double> resources) {
  rpc::ClientMessage m;
  auto* spec = m.mutable_submit_task();
  spec->set_task_id(id.Binary());
  spec->set_name("t");
  spec->set_num_returns(1);
  for (const auto& [k, v] : resources) (*spec->mutable_required_resources())[k] = v;
  return m;
}

TEST(NodeRuntimeTest, AHugeCreateIsRefusedWithoutCorruptingTheStore) {
  auto node = StartNode();
  FakeClient c(node.get());
  rpc::ClientMessage create;
  create.set_request_id(1);
  create.mutable_create()->set_object_id(ObjectID::ForPut().Binary());
  create.mutable_create()->set_size(UINT64_MAX);
  c.Send(create);
  EXPECT_EQ(c.Take().create_reply().status().code(),
            static_cast<int32_t>(StatusCode::kResourceExhausted));
  EXPECT_EQ(node->Stats().store_used, 0u);
  create.mutable_create()->set_object_id(ObjectID::ForPut().Binary());
  create.mutable_create()->set_size(1000);
  c.Send(create);
  EXPECT_EQ(c.Take().create_reply().status().code(), 0);
}

TEST(NodeRuntimeTest, AReusedTaskIdCutsTheClientOffAndLeavesResourcesAlone) {
  auto node = StartNode({{"CPU", 2}, {"TPU", 1}});
  RawClient client(node->socket_name());
  TaskID id = TaskID::FromRandom();
  client.Send(Submit(id, {{"CPU", 1}, {"TPU", 2}}));  // infeasible: stays queued
  client.Send(Submit(id, {{"CPU", 1}, {"TPU", 2}}));
  EXPECT_TRUE(ClosedByNode(client));
  FakeClient c(node.get());
  rpc::ClientMessage m;
  m.set_request_id(1);
  m.mutable_get_resources();
  c.Send(m);
  EXPECT_EQ(c.Take().resources_reply().available().at("CPU"), 2);
  // The first task went with its submitter: nothing waits for it.
  EXPECT_EQ(node->Stats().num_pending_tasks, 0u);
}

TEST(NodeRuntimeTest, RegisteringTwiceCutsTheClientOff) {
  auto node = StartNode();
  RawClient client(node->socket_name());
  rpc::ClientMessage reg;
  reg.mutable_register_client()->set_worker_id(WorkerID::FromRandom().Binary());
  client.Send(reg);
  EXPECT_TRUE(ClosedByNode(client));
}

TEST(NodeRuntimeTest, ASealOutsideTheClientsAllocationIsRefused) {
  auto node = StartNode();
  RawClient client(node->socket_name());
  ObjectID id = ObjectID::ForPut();
  rpc::ClientMessage create;
  create.set_request_id(1);
  create.mutable_create()->set_object_id(id.Binary());
  create.mutable_create()->set_size(4096);
  client.Send(create);
  rpc::NodeMessage reply;
  ASSERT_TRUE(client.Recv(&reply));
  rpc::ClientMessage seal;
  seal.mutable_seal()->set_object_id(id.Binary());
  seal.mutable_seal()->mutable_shared()->set_offset(node->arena()->size() - 16);
  seal.mutable_seal()->mutable_shared()->set_size(1 << 30);  // far outside the arena
  client.Send(seal);
  EXPECT_TRUE(ClosedByNode(client));
  // Its allocation went with it; nothing refers to the forged location.
  for (int i = 0; i < 100 && node->Stats().store_used != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(node->Stats().store_used, 0u);
  EXPECT_EQ(node->Stats().num_objects, 0u);
}

TEST(NodeRuntimeTest, AFrameAnnouncingTooManyBytesIsRefusedAtOnce) {
  auto node = StartNode();
  RawClient client(node->socket_name());
  char header[kFrameHeaderSize];
  EncodeFrameHeader(1u << 30, header);
  ASSERT_EQ(write(client.fd(), header, sizeof(header)), static_cast<ssize_t>(sizeof(header)));
  EXPECT_TRUE(ClosedByNode(client));
}

TEST(NodeRuntimeTest, AWorkersResultForATaskItDoesNotRunIsRefused) {
  auto node = StartNode();
  FakeClient driver(node.get());
  TaskID task = TaskID::FromRandom();
  driver.Send(Submit(task, {{"CPU", 1}}));  // queued: no worker has it
  RawClient impostor(node->socket_name(), /*do_register=*/false);
  rpc::ClientMessage reg;
  reg.mutable_register_client()->set_worker_id(WorkerID::FromRandom().Binary());
  reg.mutable_register_client()->set_kind(rpc::TASK_WORKER);
  impostor.Send(reg);
  rpc::NodeMessage m;
  int fd = -1;
  ASSERT_TRUE(RecvFrame(impostor.fd(), &m, &fd).ok());
  close(fd);
  // It is given the task (it is an idle worker)...
  ASSERT_TRUE(impostor.Recv(&m));
  ASSERT_TRUE(m.has_execute_task());
  // ...but reports a result for another task, and a return id not its own.
  rpc::ClientMessage done;
  done.mutable_task_done()->set_task_id(TaskID::FromRandom().Binary());
  impostor.Send(done);  // unknown task: ignored
  done.mutable_task_done()->set_task_id(task.Binary());
  auto* v = done.mutable_task_done()->add_returns();
  v->set_object_id(ObjectID::ForPut().Binary());
  v->set_inline_data("forged");
  impostor.Send(done);
  EXPECT_TRUE(ClosedByNode(impostor));
}

TEST(NodeRuntimeTest, TheNodeSignalsOnlyProcessesItStarted) {
  // A client registers as a task worker from this very process (not one the
  // node started) and is given a task; a forced cancel must not kill us.
  auto node = StartNode();
  FakeClient driver(node.get());
  TaskID task = TaskID::FromRandom();
  driver.Send(Submit(task, {{"CPU", 1}}));
  RawClient worker(node->socket_name(), /*do_register=*/false);
  rpc::ClientMessage reg;
  reg.mutable_register_client()->set_worker_id(WorkerID::FromRandom().Binary());
  reg.mutable_register_client()->set_kind(rpc::TASK_WORKER);
  worker.Send(reg);
  rpc::NodeMessage m;
  int fd = -1;
  ASSERT_TRUE(RecvFrame(worker.fd(), &m, &fd).ok());
  close(fd);
  ASSERT_TRUE(worker.Recv(&m));
  ASSERT_TRUE(m.has_execute_task());
  rpc::ClientMessage cancel;
  cancel.mutable_cancel_task()->set_object_id(ObjectID::ForTaskReturn(task, 1).Binary());
  cancel.mutable_cancel_task()->set_force(true);
  driver.Send(cancel);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  SUCCEED();  // still alive: no SIGKILL reached this process
}

TEST(NodeRuntimeTest, AStateClientReadsTasksWorkersAndObjectsAndCanChangeNothing) {
  auto node = StartNode();
  FakeClient driver(node.get());
  TaskID task = TaskID::FromRandom();
  driver.Send(Submit(task, {{"TPU", 1}}));  // infeasible: stays pending
  rpc::ClientMessage put;
  put.mutable_put()->set_object_id(ObjectID::ForPut().Binary());
  put.mutable_put()->set_inline_data("value");
  driver.Send(put);
  driver.Send(KvPut("metrics:1", "m", true));
  driver.Send(KvPut("fn:1", "f", true));

  RawClient observer(node->socket_name(), true, rpc::OBSERVER);
  rpc::ClientMessage ask;
  ask.set_request_id(5);
  ask.mutable_get_state()->set_kv_prefix("metrics:");
  ask.mutable_get_state()->set_tasks(true);
  ask.mutable_get_state()->set_workers(true);
  ask.mutable_get_state()->set_objects(true);
  observer.Send(ask);
  rpc::NodeMessage m;
  ASSERT_TRUE(observer.Recv(&m));
  const rpc::StateReply& state = m.state_reply();
  ASSERT_EQ(state.tasks_size(), 1);
  EXPECT_EQ(state.tasks(0).task_id(), task.Binary());
  EXPECT_EQ(state.tasks(0).state(), rpc::PENDING_NODE_ASSIGNMENT);
  EXPECT_EQ(state.tasks(0).node_id(), node->node_id().Binary());
  EXPECT_GT(state.tasks(0).creation_time_us(), 0);
  EXPECT_EQ(state.task_state_counts().at("PENDING_NODE_ASSIGNMENT"), 1);
  ASSERT_EQ(state.kv_size(), 1);
  EXPECT_EQ(state.kv(0).key(), "metrics:1");
  EXPECT_EQ(state.snapshot().node().node_id(), node->node_id().Binary());
  ASSERT_EQ(state.workers_size(), 1);  // the in-process driver; not the observer
  EXPECT_EQ(state.workers(0).worker_type(), "DRIVER");
  EXPECT_EQ(state.workers(0).pid(), getpid());
  // The put value and the task's pending return, each held by the driver.
  ASSERT_EQ(state.objects_size(), 2);
  for (const auto& o : state.objects()) {
    EXPECT_TRUE(o.state() == "INLINE" || o.state() == "PENDING") << o.state();
    ASSERT_EQ(o.holder_pids_size(), 1);
    EXPECT_EQ(o.holder_pids(0), getpid());
  }
  // A state client that tries to change something is cut off; nothing changed.
  observer.Send(Submit(TaskID::FromRandom(), {{"CPU", 1}}));
  EXPECT_TRUE(ClosedByNode(observer));
  EXPECT_EQ(node->Stats().num_pending_tasks, 1u);
}

TEST(NodeRuntimeTest, AStringThatIsNotUtf8IsRefusedAtDecoding) {
  auto node = StartNode();
  RawClient client(node->socket_name());
  rpc::ClientMessage m = Submit(TaskID::FromRandom(), {{"CPU", 1}});
  std::string bytes = m.SerializeAsString();
  size_t at = bytes.find("CPU");
  ASSERT_NE(at, std::string::npos);
  bytes[at] = '\xff';  // the resource name is no longer UTF-8
  std::string frame(kFrameHeaderSize, '\0');
  EncodeFrameHeader(static_cast<uint32_t>(bytes.size()), frame.data());
  frame += bytes;
  ASSERT_EQ(write(client.fd(), frame.data(), frame.size()), static_cast<ssize_t>(frame.size()));
  EXPECT_TRUE(ClosedByNode(client));
  EXPECT_EQ(node->Stats().num_pending_tasks, 0u);
}

TEST(NodeRuntimeTest, TheQueuedTasksOfAClientThatWentAwayAreCancelled) {
  auto node = StartNode();
  {
    RawClient client(node->socket_name());
    client.Send(Submit(TaskID::FromRandom(), {{"CPU", 1}, {"TPU", 1}}));  // never runs
    for (int i = 0; i < 100 && node->Stats().num_pending_tasks == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(node->Stats().num_pending_tasks, 1u);
  }
  for (int i = 0; i < 200 && node->Stats().num_pending_tasks != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(node->Stats().num_pending_tasks, 0u);
  EXPECT_EQ(node->Stats().num_objects, 0u);
}

TEST(NodeRuntimeTest, AFloodOfBadMessagesLogsAFewLines) {
  auto node = StartNode();
  testing::internal::CaptureStderr();
  for (int i = 0; i < 200; ++i) {
    RawClient bad(node->socket_name(), /*do_register=*/false);
    bad.Send(KvGet(1, "x"));  // before registering: refused
    EXPECT_TRUE(ClosedByNode(bad));
  }
  std::string log = testing::internal::GetCapturedStderr();
  size_t lines = static_cast<size_t>(std::count(log.begin(), log.end(), '\n'));
  EXPECT_GE(lines, 1u);
  EXPECT_LE(lines, 12u) << log;
}

}  // namespace
}  // namespace miniray
