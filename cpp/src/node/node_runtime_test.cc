// The node runtime driven directly: in-process clients send messages as a
// driver would and read the node's answers; raw socket clients check the
// event loop (a client that stops reading holds back no one).
#include "node/node_runtime.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

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

// A raw socket client: speaks the frame protocol by hand.
class RawClient {
 public:
  explicit RawClient(const std::string& address) {
    auto fd = ConnectAbstract(address);
    EXPECT_TRUE(fd.ok());
    fd_ = *fd;
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
  RawClient bad(node->socket_name());
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
  RawClient worker(node->socket_name());
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

}  // namespace
}  // namespace miniray
