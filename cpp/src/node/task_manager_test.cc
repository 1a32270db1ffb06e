// The task manager alone: retry budgets, failure decisions, cancel order.
#include "node/task_manager.h"

#include <gtest/gtest.h>

namespace miniray {
namespace {

TaskSpecification Spec(const std::string& name, int32_t max_retries, bool retry_exceptions = false,
                       uint32_t num_returns = 1) {
  rpc::TaskSpec m;
  m.set_task_id(TaskID::FromRandom().Binary());
  m.set_name(name);
  m.set_max_retries(max_retries);
  m.set_retry_exceptions(retry_exceptions);
  m.set_num_returns(num_returns);
  return TaskSpecification(m);
}

TEST(TaskManagerTest, AWorkerDeathIsRetriedWithinTheBudgetThenFails) {
  TaskManager tasks;
  TaskSpecification spec = Spec("flaky", 2);
  ASSERT_TRUE(tasks.Add(spec, TaskID::Nil(), 1));
  EXPECT_TRUE(tasks.OnWorkerDied(spec.TaskId(), "exited with code 1").retry);
  EXPECT_TRUE(tasks.OnWorkerDied(spec.TaskId(), "exited with code 1").retry);
  FailureDecision last = tasks.OnWorkerDied(spec.TaskId(), "was killed by signal 9");
  EXPECT_FALSE(last.retry);
  EXPECT_EQ(last.error, rpc::WORKER_DIED);
  EXPECT_NE(last.message.find("flaky"), std::string::npos);
  EXPECT_NE(last.message.find("signal 9"), std::string::npos);
}

TEST(TaskManagerTest, ForeverRetriesNeverRunOutAndCancelledTasksAreNotRetried) {
  TaskManager tasks;
  TaskSpecification forever = Spec("forever", -1);
  ASSERT_TRUE(tasks.Add(forever, TaskID::Nil(), 1));
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(tasks.OnWorkerDied(forever.TaskId(), "x").retry);
  tasks.Find(forever.TaskId())->cancelled = true;
  FailureDecision d = tasks.OnWorkerDied(forever.TaskId(), "x");
  EXPECT_FALSE(d.retry);
  EXPECT_EQ(d.error, rpc::TASK_CANCELLED);
}

TEST(TaskManagerTest, ApplicationErrorsAreRetriedOnlyWhenAskedAndAllowed) {
  TaskManager tasks;
  TaskSpecification plain = Spec("plain", 3);
  TaskSpecification retrying = Spec("retrying", 1, /*retry_exceptions=*/true);
  ASSERT_TRUE(tasks.Add(plain, TaskID::Nil(), 1));
  ASSERT_TRUE(tasks.Add(retrying, TaskID::Nil(), 1));
  EXPECT_FALSE(tasks.ShouldRetryApplicationError(plain.TaskId(), true));
  EXPECT_FALSE(tasks.ShouldRetryApplicationError(retrying.TaskId(), /*allowed=*/false));
  EXPECT_TRUE(tasks.ShouldRetryApplicationError(retrying.TaskId(), true));
  EXPECT_FALSE(tasks.ShouldRetryApplicationError(retrying.TaskId(), true));  // budget spent
}

TEST(TaskManagerTest, ATaskIdIsAcceptedOnce) {
  TaskManager tasks;
  TaskSpecification spec = Spec("f", 0);
  EXPECT_NE(tasks.Add(spec, TaskID::Nil(), 1), nullptr);
  EXPECT_EQ(tasks.Add(spec, TaskID::Nil(), 1), nullptr);
  EXPECT_EQ(tasks.size(), 1u);
  EXPECT_TRUE(tasks.Finish(spec.TaskId()).has_value());
  EXPECT_FALSE(tasks.Finish(spec.TaskId()).has_value());
}

TEST(TaskManagerTest, CancelReachesDescendantsFirstAndSkipsFinishedOnes) {
  TaskManager tasks;
  TaskSpecification parent = Spec("parent", 0), child = Spec("child", 0),
                    grandchild = Spec("grandchild", 0), done = Spec("done", 0);
  tasks.Add(parent, TaskID::Nil(), 1);
  tasks.Add(child, parent.TaskId(), 1);
  tasks.Add(done, parent.TaskId(), 1);
  tasks.Add(grandchild, child.TaskId(), 1);
  tasks.Finish(done.TaskId());
  std::vector<TaskID> order = tasks.CancelOrder(parent.TaskId(), /*recursive=*/true);
  EXPECT_EQ(order, (std::vector<TaskID>{grandchild.TaskId(), child.TaskId(), parent.TaskId()}));
  EXPECT_EQ(tasks.CancelOrder(parent.TaskId(), false), std::vector<TaskID>{parent.TaskId()});
}

TEST(TaskManagerTest, ErrorReturnsCoverEveryReturn) {
  TaskSpecification spec = Spec("three", 0, false, 3);
  auto values = TaskManager::ErrorReturns(spec, rpc::ACTOR_DIED, "gone");
  ASSERT_EQ(values.size(), 3u);
  EXPECT_EQ(values[2].object_id(), spec.ReturnId(2).Binary());
  EXPECT_EQ(values[2].error().type(), rpc::ACTOR_DIED);
}

}  // namespace
}  // namespace miniray
