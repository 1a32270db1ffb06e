// The task event table alone: states through a task's life, retries as
// attempts, the bound on memory.
#include "node/task_event_table.h"

#include <gtest/gtest.h>

namespace miniray {
namespace {

TaskSpecification Spec(const std::string& name, rpc::TaskType type = rpc::NORMAL_TASK) {
  rpc::TaskSpec m;
  m.set_task_id(TaskID::FromRandom().Binary());
  m.set_name(name);
  m.set_type(type);
  (*m.mutable_required_resources())["CPU"] = 1;
  return TaskSpecification(m);
}

TEST(TaskEventTableTest, ATaskGoesFromPendingToRunningToFinishedWithItsWorkersTimes) {
  TaskEventTable table;
  TaskSpecification spec = Spec("f");
  table.Submitted(spec, TaskID::Nil(), /*args_pending=*/true, 100);
  ASSERT_EQ(table.Rows(0).size(), 1u);
  EXPECT_EQ(table.Rows(0)[0].state(), rpc::PENDING_ARGS_AVAIL);
  WorkerID worker = WorkerID::FromRandom();
  table.Dispatched(spec.TaskId(), worker, 4242, false, 120);
  EXPECT_EQ(table.Rows(0)[0].state(), rpc::RUNNING);
  table.Ran(spec.TaskId(), 150, 180, /*raised=*/false);
  rpc::TaskEventData row = table.Rows(0)[0];
  EXPECT_EQ(row.state(), rpc::FINISHED);
  EXPECT_EQ(row.name(), "f");
  EXPECT_EQ(row.worker_id(), worker.Binary());
  EXPECT_EQ(row.worker_pid(), 4242);
  EXPECT_EQ(row.creation_time_us(), 100);
  EXPECT_EQ(row.scheduled_time_us(), 120);
  EXPECT_EQ(row.start_time_us(), 150);
  EXPECT_EQ(row.end_time_us(), 180);
  EXPECT_EQ(row.required_resources().at("CPU"), 1.0);
  // A later failure report (a late cancel) does not rewrite a finished task.
  table.Failed(spec.TaskId(), "TASK_CANCELLED", "late", 200);
  EXPECT_EQ(table.Rows(0)[0].state(), rpc::FINISHED);
}

TEST(TaskEventTableTest, ARetryIsANewAttemptAndFailuresSayWhy) {
  TaskEventTable table;
  TaskSpecification spec = Spec("flaky");
  table.Submitted(spec, TaskID::Nil(), false, 1);
  EXPECT_EQ(table.Rows(0)[0].state(), rpc::PENDING_NODE_ASSIGNMENT);
  table.Dispatched(spec.TaskId(), WorkerID::FromRandom(), 1, false, 1);
  table.Submitted(spec, TaskID::Nil(), false, 2);  // its worker died: retried
  EXPECT_EQ(table.Rows(0)[0].attempt_number(), 1);
  EXPECT_EQ(table.Rows(0)[0].worker_pid(), 0);
  table.Failed(spec.TaskId(), "WORKER_DIED", "killed", 3);
  rpc::TaskEventData row = table.Rows(0)[0];
  EXPECT_EQ(row.state(), rpc::FAILED);
  EXPECT_EQ(row.error_type(), "WORKER_DIED");
  EXPECT_EQ(row.end_time_us(), 3);
  TaskSpecification raises = Spec("raises");
  table.Submitted(raises, spec.TaskId(), false, 4);
  table.Ran(raises.TaskId(), 5, 6, /*raised=*/true);
  row = table.Rows(0)[1];
  EXPECT_EQ(row.error_type(), "TASK_EXECUTION_EXCEPTION");
  EXPECT_EQ(row.parent_task_id(), spec.TaskId().Binary());
}

TEST(TaskEventTableTest, ActorCallsWaitAtTheirActorUntilTheyRan) {
  TaskEventTable table;
  TaskSpecification call = Spec("Counter.incr", rpc::ACTOR_TASK);
  table.Submitted(call, TaskID::Nil(), false, 1);
  EXPECT_EQ(table.Rows(0)[0].state(), rpc::SUBMITTED_TO_WORKER);
  table.Dispatched(call.TaskId(), WorkerID::FromRandom(), 7, /*actor_call=*/true, 2);
  EXPECT_EQ(table.Rows(0)[0].state(), rpc::SUBMITTED_TO_WORKER);
  table.Ran(call.TaskId(), 2, 3, false);
  EXPECT_EQ(table.Rows(0)[0].state(), rpc::FINISHED);
}

TEST(TaskEventTableTest, TheOldestRecordsGoPastTheCapacityAndLimitKeepsTheNewest) {
  TaskEventTable table(3);
  std::vector<TaskSpecification> specs;
  for (int i = 0; i < 5; ++i) {
    specs.push_back(Spec("t" + std::to_string(i)));
    table.Submitted(specs.back(), TaskID::Nil(), false, i);
  }
  EXPECT_EQ(table.size(), 3u);
  EXPECT_EQ(table.num_evicted(), 2u);
  // Updates for a dropped task are ignored; the kept ones still update.
  table.Ran(specs[0].TaskId(), 1, 2, false);
  table.Ran(specs[4].TaskId(), 1, 2, false);
  auto rows = table.Rows(0);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].name(), "t2");
  EXPECT_EQ(rows[2].state(), rpc::FINISHED);
  EXPECT_EQ(table.state_counts().at(rpc::FINISHED), 1);
  EXPECT_EQ(table.state_counts().at(rpc::PENDING_NODE_ASSIGNMENT), 2);
  auto newest = table.Rows(2);
  ASSERT_EQ(newest.size(), 2u);
  EXPECT_EQ(newest[0].name(), "t3");
  EXPECT_EQ(newest[1].name(), "t4");
}

}  // namespace
}  // namespace miniray
