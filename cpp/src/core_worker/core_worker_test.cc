// Drives a real NodeRuntime with a driver CoreWorker (in-process) and a
// worker CoreWorker (over the Unix socket, on a thread standing in for a
// worker process), checking the protocol end to end without Python.
#include "core_worker/core_worker.h"

#include <gtest/gtest.h>

#include <cstring>
#include <thread>

#include "core_worker/socket_channel.h"
#include "node/local_channel.h"
#include "node/node_runtime.h"

namespace miniray {
namespace {

std::unique_ptr<NodeRuntime> StartNode() {
  rpc::NodeConfig config;
  (*config.mutable_resources())["CPU"] = 1;
  config.set_object_store_memory(4 << 20);
  auto node = NodeRuntime::Start(config);
  EXPECT_TRUE(node.ok()) << node.status().ToString();
  return std::move(node).value();
}

std::shared_ptr<CoreWorker> Driver(NodeRuntime* node) {
  return std::move(CoreWorker::Connect(std::make_unique<LocalChannel>(node))).value();
}

StatusOr<std::shared_ptr<CoreWorker>> Worker(NodeRuntime* node) {
  return CoreWorker::Connect(std::make_unique<SocketChannel>(node->socket_name(), rpc::TASK_WORKER));
}

rpc::GetObjectsReply GetNow(CoreWorker& cw, const std::vector<ObjectID>& ids) {
  auto rid = cw.StartGet(ids);
  EXPECT_TRUE(rid.ok());
  auto reply = cw.PollReply(*rid, 5000);
  EXPECT_TRUE(reply.ok() && reply->has_value());
  return (*reply)->get_reply();
}

rpc::TaskSpec CpuTask(const std::string& name) {
  rpc::TaskSpec spec;
  spec.set_name(name);
  spec.set_num_returns(1);
  (*spec.mutable_required_resources())["CPU"] = 1;
  return spec;
}

TEST(CoreWorkerTest, TaskRunsOnAWorkerAndItsResultComesBack) {
  auto node = StartNode();
  auto driver = Driver(node.get());
  auto worker = Worker(node.get());
  ASSERT_TRUE(worker.ok()) << worker.status().ToString();

  rpc::TaskSpec spec = CpuTask("echo");
  spec.set_args("payload");
  auto returns = driver->SubmitTask(spec);
  ASSERT_TRUE(returns.ok());
  ASSERT_EQ(returns->size(), 1u);
  ObjectID ret = (*returns)[0];

  auto task = (*worker)->NextTask(5000);
  ASSERT_TRUE(task.ok() && task->has_value());
  EXPECT_EQ((*task)->task_spec().args(), "payload");
  EXPECT_EQ(ObjectID::ForTaskReturn(TaskID::FromBinary((*task)->task_spec().task_id()), 1), ret);
  rpc::TaskResult done;
  done.set_task_id((*task)->task_spec().task_id());
  auto* v = done.add_returns();
  v->set_object_id(ret.Binary());
  v->set_inline_data("result");
  ASSERT_TRUE((*worker)->TaskDone(done).ok());

  rpc::GetObjectsReply reply = GetNow(*driver, {ret});
  ASSERT_EQ(reply.values_size(), 1);
  EXPECT_EQ(reply.values(0).inline_data(), "result");
  driver->RemoveLocalRef(ret);
  EXPECT_EQ(node->Stats().num_objects, 0u);
  (*worker)->Shutdown();
  driver->Shutdown();
  node->Stop();
}

TEST(CoreWorkerTest, SharedObjectIsReadInPlaceAndFreedWhenUnreferenced) {
  auto node = StartNode();
  auto driver = Driver(node.get());
  auto worker = *Worker(node.get());
  // The worker puts a large object through shared memory...
  ObjectID id = ObjectID::ForPut();
  auto buf = worker->Create(id, 1 << 20);
  ASSERT_TRUE(buf.ok());
  std::memset((*buf)->data(), 7, 1 << 20);
  ASSERT_TRUE(worker->Seal(id, {}).ok());
  // A round trip: the node has handled everything the worker sent before.
  ASSERT_TRUE(worker->KvGet("barrier").ok());
  // ...the driver borrows and reads it without a copy.
  driver->AddBorrowedRef(id);
  rpc::GetObjectsReply reply = GetNow(*driver, {id});
  ASSERT_TRUE(reply.values(0).has_shared());
  auto view = std::move(driver->MapShared(reply.values(0))).value();
  EXPECT_EQ(view->data(), node->arena()->data() + reply.values(0).shared().offset());
  EXPECT_EQ(view->data()[12345], 7);
  worker->RemoveLocalRef(id);
  ASSERT_TRUE(worker->KvGet("barrier").ok());
  driver->RemoveLocalRef(id);
  EXPECT_GT(node->Stats().store_used, 0u);  // still mapped by the view
  view.reset();
  EXPECT_EQ(node->Stats().store_used, 0u);
  EXPECT_EQ(node->Stats().num_objects, 0u);
  worker->Shutdown();
  driver->Shutdown();
}

TEST(CoreWorkerTest, FullStoreOfMappedObjectsIsReportedAndTheyStayIntact) {
  auto node = StartNode();
  auto driver = Driver(node.get());
  ObjectID keep = ObjectID::ForPut();
  auto buf = driver->Create(keep, 3 << 20);
  ASSERT_TRUE(buf.ok());
  std::memset((*buf)->data(), 9, 3 << 20);
  ASSERT_TRUE(driver->Seal(keep, {}).ok());
  // A client maps it: it can be neither moved nor spilled.
  rpc::GetObjectsReply got = GetNow(*driver, {keep});
  auto view = std::move(driver->MapShared(got.values(0))).value();
  auto too_big = driver->Create(ObjectID::ForPut(), 2 << 20);
  EXPECT_EQ(too_big.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(view->data()[(3 << 20) - 1], 9);
  // Larger than the whole store: no spilling can help.
  EXPECT_EQ(driver->Create(ObjectID::ForPut(), 8 << 20).status().code(),
            StatusCode::kResourceExhausted);
  driver->Shutdown();
}

TEST(CoreWorkerTest, UnmappedObjectsSpillToDiskAndComeBackOnGet) {
  auto node = StartNode();  // 4 MiB of shared memory
  auto driver = Driver(node.get());
  std::vector<ObjectID> ids;
  for (int i = 0; i < 4; ++i) {  // 12 MiB of objects
    ObjectID id = ObjectID::ForPut();
    auto buf = driver->Create(id, 3 << 20);
    ASSERT_TRUE(buf.ok()) << buf.status().ToString();
    std::memset((*buf)->data(), 'a' + i, 3 << 20);
    ASSERT_TRUE(driver->Seal(id, {}).ok());
    ids.push_back(id);
  }
  EXPECT_EQ(node->Stats().num_spilled, 3u);
  for (int i = 0; i < 4; ++i) {
    rpc::GetObjectsReply got = GetNow(*driver, {ids[i]});
    ASSERT_TRUE(got.values(0).has_shared());
    auto view = std::move(driver->MapShared(got.values(0))).value();
    EXPECT_EQ(view->data()[0], 'a' + i);
    EXPECT_EQ(view->data()[(3 << 20) - 1], 'a' + i);
  }
  for (const auto& id : ids) driver->RemoveLocalRef(id);
  EXPECT_EQ(node->Stats().num_objects, 0u);
  EXPECT_EQ(node->Stats().num_spilled, 0u);
  EXPECT_EQ(node->Stats().store_used, 0u);
  driver->Shutdown();
}

TEST(CoreWorkerTest, GetTimesOutByExpiryAndWaitReportsReadiness) {
  auto node = StartNode();
  auto driver = Driver(node.get());
  auto returns = driver->SubmitTask(CpuTask("never"));  // no worker: stays pending
  ASSERT_TRUE(returns.ok());
  ObjectID pending = (*returns)[0];
  ObjectID ready = ObjectID::ForPut();
  ASSERT_TRUE(driver->PutInline(ready, "x", {}).ok());

  auto rid = driver->StartGet({pending});
  auto none = driver->PollReply(*rid, 10);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  auto expired = driver->ExpireAndTakeReply(*rid);
  ASSERT_TRUE(expired.ok());
  EXPECT_TRUE(expired->get_reply().timed_out());

  auto wid = driver->StartWait({pending, ready}, 1);
  auto w = driver->PollReply(*wid, 1000);
  ASSERT_TRUE(w.ok() && w->has_value());
  const auto& flags = (*w)->wait_reply().ready();
  EXPECT_EQ(std::vector<bool>(flags.begin(), flags.end()), (std::vector<bool>{false, true}));
  driver->Shutdown();
}

TEST(CoreWorkerTest, DeadWorkerFailsItsTaskWhenNoRetriesLeft) {
  auto node = StartNode();
  auto driver = Driver(node.get());
  auto worker = *Worker(node.get());
  rpc::TaskSpec spec = CpuTask("doomed");
  spec.set_max_retries(0);
  auto returns = driver->SubmitTask(spec);
  auto task = worker->NextTask(5000);
  ASSERT_TRUE(task.ok() && task->has_value());
  worker->Shutdown();  // the worker goes away mid-task
  rpc::GetObjectsReply reply = GetNow(*driver, {(*returns)[0]});
  ASSERT_TRUE(reply.values(0).has_error());
  EXPECT_EQ(reply.values(0).error().type(), rpc::WORKER_DIED);
  EXPECT_NE(reply.values(0).error().message().find("doomed"), std::string::npos);
  driver->Shutdown();
}

TEST(CoreWorkerTest, NodeGoingAwayFailsPendingCalls) {
  auto node = StartNode();
  auto worker = *Worker(node.get());
  node->Stop();
  auto next = worker->NextTask(5000);
  EXPECT_EQ(next.status().code(), StatusCode::kUnavailable);
  EXPECT_FALSE(worker->connected());
  EXPECT_EQ(worker->KvGet("x").status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace miniray
