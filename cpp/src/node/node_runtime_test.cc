// The node runtime driven directly through an in-process connection: each
// test sends frames as a client would and reads the node's answers.
#include "node/node_runtime.h"

#include <gtest/gtest.h>

#include <deque>

namespace miniray {
namespace {

// A client that records every frame the node sends it.
class FakeClient {
 public:
  explicit FakeClient(NodeRuntime* node) : node_(node) {
    conn_ = node->ConnectLocal([this](MessageType type, std::string payload) {
      frames_.emplace_back(type, std::move(payload));
    });
  }
  template <typename M>
  void Send(MessageType type, const M& m) {
    node_->Handle(conn_.get(), type, EncodePayload(m));
  }
  template <typename M>
  M Take(MessageType expected) {
    EXPECT_FALSE(frames_.empty());
    auto [type, payload] = frames_.front();
    frames_.pop_front();
    EXPECT_EQ(type, expected);
    M m;
    EXPECT_TRUE(DecodePayload(payload, &m));
    return m;
  }
  bool idle() const { return frames_.empty(); }
  void Disconnect() { node_->Disconnect(conn_.get()); }

 private:
  NodeRuntime* node_;
  std::shared_ptr<Connection> conn_;
  std::deque<std::pair<MessageType, std::string>> frames_;
};

std::unique_ptr<NodeRuntime> StartNode(std::vector<ResourceDemand> resources = {{"CPU", 2}}) {
  NodeOptions options;
  options.resources = std::move(resources);
  options.object_store_memory = 1 << 20;
  return std::move(NodeRuntime::Start(options)).value();
}

TEST(NodeRuntimeTest, KeyValueTableKeepsFirstValueWithoutOverwrite) {
  auto node = StartNode();
  FakeClient c(node.get());
  c.Send(MessageType::kKvPut, KvPut{"fn:1", "first", false});
  c.Send(MessageType::kKvPut, KvPut{"fn:1", "second", false});
  c.Send(MessageType::kKvGet, KvGet{7, "fn:1"});
  KvReply r = c.Take<KvReply>(MessageType::kKvReply);
  EXPECT_EQ(r.request_id, 7u);
  EXPECT_TRUE(r.found);
  EXPECT_EQ(r.value, "first");
  c.Send(MessageType::kKvGet, KvGet{8, "missing"});
  EXPECT_FALSE(c.Take<KvReply>(MessageType::kKvReply).found);
}

TEST(NodeRuntimeTest, ReportsTotalAndAvailableResources) {
  auto node = StartNode({{"CPU", 2}, {"disk", 0.5}});
  FakeClient c(node.get());
  c.Send(MessageType::kResources, ResourcesRequest{3});
  ResourcesReply r = c.Take<ResourcesReply>(MessageType::kResourcesReply);
  ASSERT_EQ(r.total.size(), 2u);
  EXPECT_EQ(r.total[0].name, "CPU");
  EXPECT_EQ(r.total[1].amount, 0.5);
}

TEST(NodeRuntimeTest, PutObjectIsFreedWhenItsOnlyClientGoes) {
  auto node = StartNode();
  FakeClient c(node.get());
  ObjectValue v;
  v.id = ObjectID::FromRandom();
  v.data = "value";
  c.Send(MessageType::kPut, v);
  EXPECT_EQ(node->Stats().num_objects, 1u);
  c.Disconnect();
  EXPECT_EQ(node->Stats().num_objects, 0u);
}

CreateActorRequest NewActor(uint64_t request_id) {
  CreateActorRequest req;
  req.request_id = request_id;
  req.spec.task_id = TaskID::FromRandom();
  req.spec.actor_id = ActorID::FromRandom();
  req.spec.actor_creation = true;
  req.spec.resources = {{"CPU", 1}};
  return req;
}

TEST(NodeRuntimeTest, ActorNamesAreUniquePerNamespace) {
  auto node = StartNode();
  FakeClient c(node.get());
  CreateActorRequest req = NewActor(1);
  req.name = "counter";
  req.ray_namespace = "ns";
  req.metadata = "meta";
  c.Send(MessageType::kCreateActor, req);
  ActorReply created = c.Take<ActorReply>(MessageType::kActorReply);
  EXPECT_EQ(created.code, 0);
  EXPECT_EQ(created.actor_id, req.spec.actor_id);

  CreateActorRequest again = req;
  again.request_id = 2;
  again.spec.actor_id = ActorID::FromRandom();
  c.Send(MessageType::kCreateActor, again);
  ActorReply taken = c.Take<ActorReply>(MessageType::kActorReply);
  EXPECT_EQ(taken.code, static_cast<int32_t>(StatusCode::kAlreadyExists));
  EXPECT_NE(taken.message.find("counter"), std::string::npos);

  again.request_id = 3;
  again.get_if_exists = true;
  c.Send(MessageType::kCreateActor, again);
  ActorReply existing = c.Take<ActorReply>(MessageType::kActorReply);
  EXPECT_EQ(existing.actor_id, req.spec.actor_id);
  EXPECT_EQ(existing.metadata, "meta");

  c.Send(MessageType::kGetActor, GetActorRequest{4, "counter", "other"});
  EXPECT_EQ(c.Take<ActorReply>(MessageType::kActorReply).code,
            static_cast<int32_t>(StatusCode::kNotFound));
  c.Send(MessageType::kGetActor, GetActorRequest{5, "counter", "ns"});
  EXPECT_EQ(c.Take<ActorReply>(MessageType::kActorReply).actor_id, req.spec.actor_id);
}

TEST(NodeRuntimeTest, CallsToAKilledActorFailWithActorDied) {
  auto node = StartNode();
  FakeClient c(node.get());
  CreateActorRequest req = NewActor(1);
  c.Send(MessageType::kCreateActor, req);
  c.Take<ActorReply>(MessageType::kActorReply);
  c.Send(MessageType::kKillActor, KillActor{req.spec.actor_id, true});

  TaskSpec call;
  call.task_id = TaskID::FromRandom();
  call.actor_id = req.spec.actor_id;
  call.name = "Counter.incr";
  c.Send(MessageType::kSubmitTask, call);
  c.Send(MessageType::kGet, GetRequest{9, {call.ReturnId(0)}});
  GetReply r = c.Take<GetReply>(MessageType::kGetReply);
  ASSERT_EQ(r.values.size(), 1u);
  EXPECT_EQ(r.values[0].kind, ObjectValue::kError);
  EXPECT_EQ(r.values[0].error, ErrorType::kActorDied);
  EXPECT_NE(r.values[0].data.find("killed"), std::string::npos);
}

TEST(NodeRuntimeTest, MalformedFramesAreDropped) {
  auto node = StartNode();
  FakeClient c(node.get());
  node->Handle(nullptr, MessageType::kGet, "garbage");
  c.Send(MessageType::kKvGet, KvGet{1, "x"});
  EXPECT_FALSE(c.Take<KvReply>(MessageType::kKvReply).found);  // still serving
}

}  // namespace
}  // namespace miniray
