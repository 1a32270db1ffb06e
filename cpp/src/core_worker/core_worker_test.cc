// Drives a real NodeRuntime with a driver CoreWorker (in-process) and a
// worker CoreWorker (over the Unix socket, on a thread standing in for a
// worker process), checking the protocol end to end without Python.
#include "core_worker/core_worker.h"

#include <gtest/gtest.h>

#include <cstring>
#include <thread>

namespace miniray {
namespace {

std::unique_ptr<NodeRuntime> StartNode() {
  NodeOptions options;
  options.resources = {{"CPU", 1}};
  options.object_store_memory = 4 << 20;
  auto node = NodeRuntime::Start(options);
  EXPECT_TRUE(node.ok()) << node.status().ToString();
  return std::move(node).value();
}

GetReply GetNow(CoreWorker& cw, const std::vector<ObjectID>& ids) {
  auto rid = cw.StartGet(ids);
  EXPECT_TRUE(rid.ok());
  auto payload = cw.PollReply(*rid, 5000);
  EXPECT_TRUE(payload.ok() && payload->has_value());
  GetReply reply;
  EXPECT_TRUE(DecodePayload(**payload, &reply));
  return reply;
}

TEST(CoreWorkerTest, TaskRunsOnAWorkerAndItsResultComesBack) {
  auto node = StartNode();
  auto driver = CoreWorker::ConnectLocal(node.get());
  auto worker = CoreWorker::Connect(node->socket_name());
  ASSERT_TRUE(worker.ok()) << worker.status().ToString();

  TaskSpec spec;
  spec.task_id = TaskID::FromRandom();
  spec.name = "echo";
  spec.args = "payload";
  spec.resources = {{"CPU", 1}};
  ObjectID ret = spec.ReturnId(0);
  driver->AddOwnedRef(ret);
  ASSERT_TRUE(driver->SubmitTask(spec).ok());

  auto task = (*worker)->NextTask(5000);
  ASSERT_TRUE(task.ok() && task->has_value());
  EXPECT_EQ((*task)->spec.args, "payload");
  TaskDone done;
  done.task_id = spec.task_id;
  ObjectValue v;
  v.id = ret;
  v.data = "result";
  done.returns.push_back(v);
  ASSERT_TRUE((*worker)->TaskDone(done).ok());

  GetReply reply = GetNow(*driver, {ret});
  ASSERT_EQ(reply.values.size(), 1u);
  EXPECT_EQ(reply.values[0].data, "result");
  driver->RemoveLocalRef(ret);
  EXPECT_EQ(node->Stats().num_objects, 0u);
  (*worker)->Shutdown();
  driver->Shutdown();
  node->Stop();
}

TEST(CoreWorkerTest, SharedObjectIsReadInPlaceAndFreedWhenUnreferenced) {
  auto node = StartNode();
  auto driver = CoreWorker::ConnectLocal(node.get());
  auto worker = *CoreWorker::Connect(node->socket_name());
  // The worker puts a large object through shared memory...
  ObjectID id = ObjectID::FromRandom();
  auto buf = worker->Create(id, 1 << 20);
  ASSERT_TRUE(buf.ok());
  std::memset((*buf)->data(), 7, 1 << 20);
  worker->AddOwnedRef(id);
  ASSERT_TRUE(worker->Seal(id, {}).ok());
  // A round trip: the node has handled everything the worker sent before.
  ASSERT_TRUE(worker->KvGet("barrier").ok());
  // ...the driver borrows and reads it without a copy.
  driver->AddBorrowedRef(id);
  GetReply reply = GetNow(*driver, {id});
  ASSERT_EQ(reply.values[0].kind, ObjectValue::kShared);
  auto view = driver->MapShared(reply.values[0]);
  EXPECT_EQ(view->data(), (*buf)->data() - (*buf)->data() + node->arena()->data() +
                              reply.values[0].offset);
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
  auto driver = CoreWorker::ConnectLocal(node.get());
  ObjectID keep = ObjectID::FromRandom();
  auto buf = driver->Create(keep, 3 << 20);
  ASSERT_TRUE(buf.ok());
  std::memset((*buf)->data(), 9, 3 << 20);
  driver->AddOwnedRef(keep);
  ASSERT_TRUE(driver->Seal(keep, {}).ok());
  // A client maps it: it can be neither moved nor spilled.
  GetReply got = GetNow(*driver, {keep});
  auto view = driver->MapShared(got.values[0]);
  auto too_big = driver->Create(ObjectID::FromRandom(), 2 << 20);
  EXPECT_EQ(too_big.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(view->data()[(3 << 20) - 1], 9);
  // Larger than the whole store: no spilling can help.
  EXPECT_EQ(driver->Create(ObjectID::FromRandom(), 8 << 20).status().code(),
            StatusCode::kResourceExhausted);
  driver->Shutdown();
}

TEST(CoreWorkerTest, UnmappedObjectsSpillToDiskAndComeBackOnGet) {
  auto node = StartNode();  // 4 MiB of shared memory
  auto driver = CoreWorker::ConnectLocal(node.get());
  std::vector<ObjectID> ids;
  for (int i = 0; i < 4; ++i) {  // 12 MiB of objects
    ObjectID id = ObjectID::FromRandom();
    auto buf = driver->Create(id, 3 << 20);
    ASSERT_TRUE(buf.ok()) << buf.status().ToString();
    std::memset((*buf)->data(), 'a' + i, 3 << 20);
    driver->AddOwnedRef(id);
    ASSERT_TRUE(driver->Seal(id, {}).ok());
    ids.push_back(id);
  }
  EXPECT_EQ(node->Stats().num_spilled, 3u);
  for (int i = 0; i < 4; ++i) {
    GetReply got = GetNow(*driver, {ids[i]});
    ASSERT_EQ(got.values[0].kind, ObjectValue::kShared);
    auto view = driver->MapShared(got.values[0]);
    EXPECT_EQ(view->data()[0], 'a' + i);
    EXPECT_EQ(view->data()[(3 << 20) - 1], 'a' + i);
  }
  for (const auto& id : ids) driver->RemoveLocalRef(id);
  EXPECT_EQ(node->Stats().num_objects, 0u);
  EXPECT_EQ(node->Stats().num_spilled, 0u);
  EXPECT_EQ(node->Stats().store_used, 0u);
  driver->Shutdown();
}

TEST(CoreWorkerTest, GetTimesOutByCancelAndWaitReportsReadiness) {
  auto node = StartNode();
  auto driver = CoreWorker::ConnectLocal(node.get());
  TaskSpec spec;
  spec.task_id = TaskID::FromRandom();
  spec.resources = {{"CPU", 1}};
  ObjectID pending = spec.ReturnId(0);
  driver->AddOwnedRef(pending);
  ASSERT_TRUE(driver->SubmitTask(spec).ok());  // no worker: stays pending
  ObjectID ready = ObjectID::FromRandom();
  driver->AddOwnedRef(ready);
  ASSERT_TRUE(driver->PutInline(ready, "x", {}).ok());

  auto rid = driver->StartGet({pending});
  auto none = driver->PollReply(*rid, 10);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  auto cancelled = driver->CancelAndTakeReply(*rid);
  GetReply g;
  ASSERT_TRUE(DecodePayload(*cancelled, &g));
  EXPECT_EQ(g.code, static_cast<int32_t>(StatusCode::kDeadlineExceeded));

  auto wid = driver->StartWait({pending, ready}, 1);
  auto w = driver->PollReply(*wid, 1000);
  WaitReply wr;
  ASSERT_TRUE(DecodePayload(**w, &wr));
  EXPECT_EQ(wr.ready, (std::vector<uint8_t>{0, 1}));
  driver->Shutdown();
}

TEST(CoreWorkerTest, DeadWorkerFailsItsTaskWhenNoRetriesLeft) {
  auto node = StartNode();
  auto driver = CoreWorker::ConnectLocal(node.get());
  auto worker = *CoreWorker::Connect(node->socket_name());
  TaskSpec spec;
  spec.task_id = TaskID::FromRandom();
  spec.name = "doomed";
  spec.resources = {{"CPU", 1}};
  spec.max_retries = 0;
  driver->AddOwnedRef(spec.ReturnId(0));
  ASSERT_TRUE(driver->SubmitTask(spec).ok());
  auto task = worker->NextTask(5000);
  ASSERT_TRUE(task.ok() && task->has_value());
  worker->Shutdown();  // the worker goes away mid-task
  GetReply reply = GetNow(*driver, {spec.ReturnId(0)});
  ASSERT_EQ(reply.values[0].kind, ObjectValue::kError);
  EXPECT_EQ(reply.values[0].error, ErrorType::kWorkerDied);
  EXPECT_NE(reply.values[0].data.find("doomed"), std::string::npos);
  driver->Shutdown();
}

}  // namespace
}  // namespace miniray
