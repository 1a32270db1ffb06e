// The GCS client against a real redis-server.
#include "gcs/gcs_client.h"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <chrono>
#include <thread>

#include "gcs/redis_test_server.h"

namespace miniray {
namespace {

rpc::NodeSnapshot Snapshot(const NodeID& node, double cpus_free) {
  rpc::NodeSnapshot s;
  s.mutable_node()->set_node_id(node.Binary());
  s.mutable_node()->set_node_manager_address("127.0.0.1");
  (*s.mutable_node()->mutable_resources_total())["CPU"] = 2;
  (*s.mutable_node()->mutable_resources_available())["CPU"] = cpus_free;
  return s;
}

TEST(GcsClientTest, AWrongTokenOrNoServerIsAClearError) {
  RedisTestServer redis;
  ASSERT_TRUE(redis.ok());
  auto wrong = GcsClient::Connect("127.0.0.1", redis.port(), "not-the-token");
  EXPECT_EQ(wrong.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(wrong.status().message().find("refused the token"), std::string::npos);
  int port = redis.port();
  redis.Stop();
  auto none = GcsClient::Connect("127.0.0.1", port, "x", 500);
  EXPECT_EQ(none.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(none.status().message().find("127.0.0.1:" + std::to_string(port)), std::string::npos);
}

TEST(GcsClientTest, ReportsFillTheTables) {
  RedisTestServer redis;
  ASSERT_TRUE(redis.ok());
  auto gcs = std::move(GcsClient::Connect("127.0.0.1", redis.port(), redis.password())).value();
  NodeID node = NodeID::FromRandom();
  rpc::NodeSnapshot s = Snapshot(node, 1.5);
  auto* job = s.add_jobs();
  job->set_job_id(JobID::FromInt(1).Binary());
  job->set_driver_pid(42);
  auto* actor = s.add_actors();
  actor->set_actor_id(ActorID::FromRandom().Binary());
  actor->set_name("counter");
  actor->set_state("ALIVE");
  auto* kv = s.add_kv();
  kv->set_key("fn:abc");
  kv->set_value(std::string("\0pickled", 8));
  ASSERT_TRUE(gcs->Report(s).ok());

  auto nodes = gcs->GetAllNodes();
  ASSERT_TRUE(nodes.ok());
  ASSERT_EQ(nodes->size(), 1u);
  EXPECT_TRUE((*nodes)[0].alive());
  EXPECT_GT((*nodes)[0].last_heartbeat_ms(), 0);
  EXPECT_EQ((*nodes)[0].resources_available().at("CPU"), 1.5);
  auto jobs = gcs->GetAllJobs();
  auto actors = gcs->GetAllActors();
  auto value = gcs->KvGet("fn:abc");
  EXPECT_EQ(jobs->at(0).driver_pid(), 42);
  EXPECT_EQ(actors->at(0).name(), "counter");
  EXPECT_EQ(**value, std::string("\0pickled", 8));
  EXPECT_FALSE(gcs->KvGet("missing")->has_value());
}

// Job ids are counted per node: two nodes' job 1 are two jobs.
TEST(GcsClientTest, TwoNodesJobsWithTheSameNumberKeepRowsOfTheirOwn) {
  RedisTestServer redis;
  ASSERT_TRUE(redis.ok());
  auto gcs = std::move(GcsClient::Connect("127.0.0.1", redis.port(), redis.password())).value();
  for (bool dead : {true, false}) {
    rpc::NodeSnapshot s = Snapshot(NodeID::FromRandom(), 1);
    auto* job = s.add_jobs();
    job->set_job_id(JobID::FromInt(1).Binary());
    job->set_node_id(s.node().node_id());
    job->set_is_dead(dead);
    ASSERT_TRUE(gcs->Report(s).ok());
  }
  auto jobs = gcs->GetAllJobs();
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 2u);
  EXPECT_NE(jobs->at(0).is_dead(), jobs->at(1).is_dead());
}

// Reports run the cached script (EVALSHA); a Redis that lost its script
// cache (restarted, SCRIPT FLUSH) still gets every report.
TEST(GcsClientTest, ReportsSurviveALostScriptCache) {
  RedisTestServer redis;
  ASSERT_TRUE(redis.ok());
  auto gcs = std::move(GcsClient::Connect("127.0.0.1", redis.port(), redis.password())).value();
  NodeID node = NodeID::FromRandom();
  ASSERT_TRUE(gcs->Report(Snapshot(node, 1)).ok());
  redisContext* raw = redisConnect("127.0.0.1", redis.port());
  ASSERT_TRUE(raw && !raw->err);
  for (const char* cmd : {"AUTH %s", "SCRIPT FLUSH"}) {
    auto* reply = static_cast<redisReply*>(redisCommand(raw, cmd, redis.password().c_str()));
    ASSERT_NE(reply, nullptr);
    EXPECT_NE(reply->type, REDIS_REPLY_ERROR) << reply->str;
    freeReplyObject(reply);
  }
  redisFree(raw);
  ASSERT_TRUE(gcs->Report(Snapshot(node, 0.5)).ok());
  EXPECT_EQ(gcs->GetAllNodes()->at(0).resources_available().at("CPU"), 0.5);
}

// The liveness check reads only the silent nodes (the heartbeat set), and
// declares each dead once.
TEST(GcsClientTest, OnlyTheSilentNodeIsDeclaredDeadAndOnlyOnce) {
  RedisTestServer redis;
  ASSERT_TRUE(redis.ok());
  auto gcs = std::move(GcsClient::Connect("127.0.0.1", redis.port(), redis.password())).value();
  NodeID quiet = NodeID::FromRandom(), busy = NodeID::FromRandom();
  ASSERT_TRUE(gcs->Report(Snapshot(quiet, 2)).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  ASSERT_TRUE(gcs->Report(Snapshot(busy, 2)).ok());
  auto dead = gcs->MarkSilentNodesDead(NowMs(), 200);
  ASSERT_TRUE(dead.ok());
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ((*dead)[0], quiet);
  auto again = gcs->MarkSilentNodesDead(NowMs(), 200);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty());  // quiet is dead already, busy spoke recently
  auto nodes = gcs->GetAllNodes();
  ASSERT_TRUE(nodes.ok());
  ASSERT_EQ(nodes->size(), 2u);
  for (const auto& n : *nodes) {
    EXPECT_EQ(n.alive(), NodeID::FromBinary(n.node_id()) == busy);
  }
}

TEST(GcsClientTest, ASilentNodeIsDeclaredDeadAndCannotComeBack) {
  RedisTestServer redis;
  ASSERT_TRUE(redis.ok());
  auto gcs = std::move(GcsClient::Connect("127.0.0.1", redis.port(), redis.password())).value();
  NodeID quiet = NodeID::FromRandom(), busy = NodeID::FromRandom();
  ASSERT_TRUE(gcs->Report(Snapshot(quiet, 2)).ok());
  ASSERT_TRUE(gcs->Report(Snapshot(busy, 2)).ok());
  // Ten seconds later, neither has reported again.
  int64_t later = NowMs() + 10000;
  auto dead = gcs->MarkSilentNodesDead(later, 5000);
  ASSERT_TRUE(dead.ok());
  EXPECT_EQ(dead->size(), 2u);  // both silent by then
  // A report from a node declared dead is refused.
  Status again = gcs->Report(Snapshot(quiet, 2));
  EXPECT_EQ(again.code(), StatusCode::kFailedPrecondition);
  auto nodes = gcs->GetAllNodes();
  ASSERT_TRUE(nodes.ok());
  for (const auto& n : *nodes) {
    EXPECT_FALSE(n.alive());
    EXPECT_NE(n.death_reason().find("no heartbeat"), std::string::npos);
  }
}

}  // namespace
}  // namespace miniray
