#include "scheduler/scheduler.h"

#include <gtest/gtest.h>

#include <map>
#include <thread>

namespace miniray {
namespace {

ResourceSet Res(std::map<std::string, double> d) { return ResourceSet::FromMap(d); }

// Names of the tasks submitted by Submit, to read dispatches back.
std::map<TaskID, std::string>& Names() {
  static std::map<TaskID, std::string> names;
  return names;
}

struct Task {
  explicit Task(const std::string& name, std::map<std::string, double> res = {{"CPU", 1}})
      : id(TaskID::FromRandom()), name(name), demand(Res(std::move(res))) {
    Names()[id] = name;
  }
  TaskID id;
  std::string name;
  ResourceSet demand;
};

void Submit(Scheduler& s, const Task& t, const std::vector<ObjectID>& missing) {
  s.SubmitTask(t.id, t.name, t.demand, missing);
}

std::string NameOf(const Dispatch& d) { return Names()[d.task_id]; }

TEST(ResourceSetTest, KeysAreEqualExactlyForEqualSets) {
  EXPECT_EQ(Res({{"CPU", 1}, {"GPU", 0.5}}).Key(), Res({{"GPU", 0.5}, {"CPU", 1}}).Key());
  EXPECT_NE(Res({{"CPU", 1}}).Key(), Res({{"CPU", 1.0001}}).Key());
  EXPECT_EQ(Res({{"CPU", 1}, {"GPU", 0.5}}).ToString(), "{CPU: 1, GPU: 0.5}");
}

TEST(ResourceSetTest, FractionsAddUpExactly) {
  ResourceSet total = Res({{"GPU", 1}});
  ResourceSet quarter = Res({{"GPU", 0.25}});
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(total.Contains(quarter));
    total.Subtract(quarter);
  }
  EXPECT_FALSE(total.Contains(quarter));
  EXPECT_EQ(total.Get("GPU"), 0.0);
  EXPECT_EQ(Res({{"CPU", 2}}).FirstMissing(Res({{"CPU", 1}, {"TPU", 1}})), "TPU");
}

TEST(SchedulerTest, RunsAtMostAsManyCpuTasksAsCpus) {
  Scheduler s(Res({{"CPU", 2}}), 8);
  WorkerID w[3] = {WorkerID::FromRandom(), WorkerID::FromRandom(), WorkerID::FromRandom()};
  for (auto& id : w) s.AddWorker(id);
  for (int i = 0; i < 5; ++i) Submit(s, Task("f"), {});
  Decisions d = s.Schedule();
  EXPECT_EQ(d.dispatches.size(), 2u);
  EXPECT_EQ(d.total_workers_to_start(), 0);
  EXPECT_EQ(s.num_ready(), 3u);
  s.TaskFinished(d.dispatches[0].worker);
  d = s.Schedule();
  EXPECT_EQ(d.dispatches.size(), 1u);
}

TEST(SchedulerTest, FifoWithinAClass) {
  Scheduler s(Res({{"CPU", 1}}), 8);
  WorkerID w = WorkerID::FromRandom();
  s.AddWorker(w);
  std::vector<std::string> order;
  for (int i = 0; i < 5; ++i) Submit(s, Task("t" + std::to_string(i)), {});
  for (int i = 0; i < 5; ++i) {
    Decisions d = s.Schedule();
    ASSERT_EQ(d.dispatches.size(), 1u);
    order.push_back(NameOf(d.dispatches[0]));
    s.TaskFinished(w);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"t0", "t1", "t2", "t3", "t4"}));
}

TEST(SchedulerTest, HigherPriorityRunsFirstAndFifoWithinAPriority) {
  Scheduler s(Res({{"CPU", 1}}), 8);
  std::vector<std::pair<std::string, int32_t>> submitted = {
      {"low1", 0}, {"high1", 9}, {"low2", 0}, {"high2", 9}, {"mid", 3}, {"negative", -1}};
  for (const auto& [name, priority] : submitted) {
    Task t(name);
    s.SubmitTask(t.id, t.name, t.demand, {}, JobID::Nil(), priority);
  }
  WorkerID w = WorkerID::FromRandom();
  s.AddWorker(w);  // one worker, one CPU: one task at a time
  std::vector<std::string> order;
  for (size_t i = 0; i < submitted.size(); ++i) {
    Decisions d = s.Schedule();
    ASSERT_EQ(d.dispatches.size(), 1u);
    order.push_back(NameOf(d.dispatches[0]));
    s.TaskFinished(w);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"high1", "high2", "mid", "low1", "low2",
                                             "negative"}));
}

TEST(SchedulerTest, TaskWaitsForItsDependencies) {
  Scheduler s(Res({{"CPU", 1}}), 8);
  s.AddWorker(WorkerID::FromRandom());
  ObjectID a = ObjectID::FromRandom(), b = ObjectID::FromRandom();
  Submit(s, Task("needs_ab"), {a, b});
  EXPECT_TRUE(s.Schedule().dispatches.empty());
  EXPECT_EQ(s.num_waiting(), 1u);
  s.ObjectReady(a);
  EXPECT_TRUE(s.Schedule().dispatches.empty());
  s.ObjectReady(b);
  EXPECT_EQ(s.Schedule().dispatches.size(), 1u);
}

TEST(SchedulerTest, BlockedWorkerLendsItsCpuAndMoreWorkersStart) {
  Scheduler s(Res({{"CPU", 1}}), 8);
  WorkerID parent = WorkerID::FromRandom();
  s.AddWorker(parent);
  Submit(s, Task("parent"), {});
  ASSERT_EQ(s.Schedule().dispatches.size(), 1u);
  Submit(s, Task("child"), {});
  EXPECT_TRUE(s.Schedule().dispatches.empty());  // no CPU free
  s.WorkerBlocked(parent);                       // parent waits in get()
  Decisions d = s.Schedule();
  EXPECT_TRUE(d.dispatches.empty());
  EXPECT_EQ(d.total_workers_to_start(), 1);  // CPU free but no idle worker
  EXPECT_EQ(s.Schedule().total_workers_to_start(), 0);  // already starting
  WorkerID child = WorkerID::FromRandom();
  s.AddWorker(child);
  d = s.Schedule();
  ASSERT_EQ(d.dispatches.size(), 1u);
  EXPECT_EQ(d.dispatches[0].worker, child);
  s.TaskFinished(child);
  s.WorkerUnblocked(parent);
  EXPECT_EQ(s.available().Get("CPU"), 0.0);
  s.TaskFinished(parent);
  EXPECT_EQ(s.available().Get("CPU"), 1.0);
}

TEST(SchedulerTest, InfeasibleTaskStaysPendingWithAWarningOnce) {
  Scheduler s(Res({{"CPU", 2}}), 8);
  s.AddWorker(WorkerID::FromRandom());
  Submit(s, Task("needs_tpu", {{"CPU", 1}, {"TPU", 1}}), {});
  Submit(s, Task("ok"), {});
  Decisions d = s.Schedule();
  ASSERT_EQ(d.warnings.size(), 1u);
  EXPECT_NE(d.warnings[0].find("TPU"), std::string::npos);
  ASSERT_EQ(d.dispatches.size(), 1u);  // the feasible class still runs
  EXPECT_EQ(NameOf(d.dispatches[0]), "ok");
  EXPECT_TRUE(s.Schedule().warnings.empty());
  EXPECT_EQ(s.num_ready(), 1u);
}

TEST(SchedulerTest, GpuInstancesAreAssignedAndReturned) {
  Scheduler s(Res({{"CPU", 4}, {"GPU", 2}}), 8);
  for (int i = 0; i < 3; ++i) s.AddWorker(WorkerID::FromRandom());
  Submit(s, Task("g1", {{"GPU", 1}}), {});
  Submit(s, Task("g2", {{"GPU", 1}}), {});
  Submit(s, Task("g3", {{"GPU", 1}}), {});
  Decisions d = s.Schedule();
  ASSERT_EQ(d.dispatches.size(), 2u);
  EXPECT_NE(d.dispatches[0].gpu_ids, d.dispatches[1].gpu_ids);
  s.TaskFinished(d.dispatches[1].worker);
  d = s.Schedule();
  ASSERT_EQ(d.dispatches.size(), 1u);
  EXPECT_EQ(d.dispatches[0].gpu_ids.size(), 1u);
}

TEST(SchedulerTest, RemovedWorkerReturnsItsTaskAndResources) {
  Scheduler s(Res({{"CPU", 1}}), 8);
  WorkerID w = WorkerID::FromRandom();
  s.AddWorker(w);
  Submit(s, Task("crashy"), {});
  ASSERT_EQ(s.Schedule().dispatches.size(), 1u);
  auto task = s.RemoveWorker(w);
  ASSERT_TRUE(task.has_value());
  EXPECT_EQ(Names()[*task], "crashy");
  EXPECT_EQ(s.available().Get("CPU"), 1.0);
  EXPECT_EQ(s.num_workers(), 0u);
}

TEST(SchedulerTest, ActorWorkerKeepsOnlyItsLifetimeResources) {
  Scheduler s(Res({{"CPU", 2}, {"GPU", 1}}), 8);
  WorkerID a = WorkerID::FromRandom(), b = WorkerID::FromRandom();
  s.AddWorker(a);
  s.AddWorker(b);
  Submit(s, Task("Actor.__init__", {{"CPU", 1}, {"GPU", 1}}), {});
  Decisions d = s.Schedule();
  ASSERT_EQ(d.dispatches.size(), 1u);
  WorkerID actor = d.dispatches[0].worker;
  s.ActorCreated(actor, Res({{"GPU", 1}}));
  EXPECT_EQ(s.available().Get("CPU"), 2.0);  // placement CPU given back
  EXPECT_EQ(s.available().Get("GPU"), 0.0);  // the GPU stays with the actor
  // The actor's worker takes no plain tasks.
  s.TaskFinished(actor);
  Submit(s, Task("f"), {});
  Submit(s, Task("g"), {});
  d = s.Schedule();
  ASSERT_EQ(d.dispatches.size(), 1u);
  EXPECT_NE(d.dispatches[0].worker, actor);
  EXPECT_EQ(d.total_workers_to_start(), 1);
  s.RemoveWorker(actor);
  EXPECT_EQ(s.available().Get("GPU"), 1.0);
}

// A tree of tasks where each parent waits for its children (Ray's "nested
// tasks" pattern) blocks a worker per inner node. Were blocked workers
// counted toward the cap, a deep enough tree would block every worker and
// no leaf could ever run.
TEST(SchedulerTest, BlockedWorkersDoNotCountTowardsTheWorkerCap) {
  Scheduler s(Res({{"CPU", 1}}), 2);
  for (int depth = 0; depth < 5; ++depth) {
    Submit(s, Task("level" + std::to_string(depth)), {});
    Decisions d = s.Schedule();
    ASSERT_EQ(d.total_workers_to_start(), 1) << "depth " << depth;
    WorkerID w = WorkerID::FromRandom();
    s.AddWorker(w);
    d = s.Schedule();
    ASSERT_EQ(d.dispatches.size(), 1u);
    s.WorkerBlocked(w);  // it now waits in get() for the next level
  }
  // The parents lent their CPU: one leaf at a time fits, so one worker
  // starts for the two leaves.
  Submit(s, Task("leaf1"), {});
  Submit(s, Task("leaf2"), {});
  EXPECT_EQ(s.Schedule().total_workers_to_start(), 1);
}

PlacementGroup Group(const std::string& id, std::vector<std::map<std::string, double>> bundles,
                     PlacementStrategy strategy = PlacementStrategy::kPack) {
  PlacementGroup g;
  g.id_hex = id;
  g.strategy = strategy;
  for (auto& b : bundles) g.bundles.push_back(Res(b));
  return g;
}

TEST(SchedulerTest, APlacementGroupReservesItsBundlesForItsTasks) {
  Scheduler s(Res({{"CPU", 4}}), 8);
  ASSERT_TRUE(s.AddPlacementGroup(Group("aa", {{{"CPU", 1}}, {{"CPU", 2}}})));
  EXPECT_FALSE(s.AddPlacementGroup(Group("aa", {{{"CPU", 1}}})));  // id taken
  Decisions d = s.Schedule();
  EXPECT_TRUE(d.warnings.empty());
  EXPECT_EQ(s.available().Get("CPU"), 1.0);  // 3 of 4 reserved
  EXPECT_EQ(s.total().Get("CPU_group_aa"), 3.0);
  EXPECT_EQ(s.total().Get("CPU_group_1_aa"), 2.0);
  EXPECT_EQ(s.PlacementGroupTable()[0].state, PlacementGroup::kCreated);

  // A task in bundle 1 takes the group's CPUs, not the free one.
  WorkerID w = WorkerID::FromRandom();
  s.AddWorker(w);
  Task in_group("in_group");
  s.SubmitTask(in_group.id, in_group.name,
               PlacementGroups::Rewrite(Res({{"CPU", 2}}), "aa", 1), {});
  d = s.Schedule();
  ASSERT_EQ(d.dispatches.size(), 1u);
  EXPECT_EQ(s.available().Get("CPU_group_1_aa"), 0.0);
  EXPECT_EQ(s.available().Get("CPU"), 1.0);

  // Removing the group returns the worker using it and gives the CPUs back;
  // that worker's release later adds nothing that no longer exists.
  std::vector<WorkerID> holders;
  ASSERT_TRUE(s.RemovePlacementGroup("aa", &holders));
  EXPECT_EQ(holders, std::vector<WorkerID>{w});
  EXPECT_EQ(s.available().Get("CPU"), 4.0);
  EXPECT_EQ(s.total().Get("CPU_group_aa"), 0.0);
  s.RemoveWorker(w);
  EXPECT_EQ(s.available().Get("CPU_group_1_aa"), 0.0);
  EXPECT_EQ(s.available().Get("CPU"), 4.0);
  EXPECT_FALSE(s.RemovePlacementGroup("aa", &holders));
}

TEST(SchedulerTest, APartOfAGroupThatSpansNodesNamesItsBundlesByTheGroupsIndices) {
  // This node holds bundles 1 and 3 of a STRICT_SPREAD group of four (its
  // driver put the others elsewhere): each is feasible here, and a task
  // for bundle 3 finds CPU_group_3_cc.
  Scheduler s(Res({{"CPU", 2}}), 8);
  PlacementGroup part = Group("cc", {{{"CPU", 1}}}, PlacementStrategy::kStrictSpread);
  part.bundle_indices = {3};
  ASSERT_TRUE(s.AddPlacementGroup(part));
  EXPECT_TRUE(s.Schedule().warnings.empty());
  EXPECT_EQ(s.PlacementGroupTable()[0].state, PlacementGroup::kCreated);
  EXPECT_EQ(s.total().Get("CPU_group_3_cc"), 1.0);
  EXPECT_EQ(s.total().Get("CPU_group_0_cc"), 0.0);
  EXPECT_EQ(s.total().Get("CPU_group_cc"), 1.0);
  WorkerID w = WorkerID::FromRandom();
  s.AddWorker(w);
  Task in_bundle("in_bundle");
  s.SubmitTask(in_bundle.id, in_bundle.name,
               PlacementGroups::Rewrite(Res({{"CPU", 1}}), "cc", 3), {});
  ASSERT_EQ(s.Schedule().dispatches.size(), 1u);
  EXPECT_EQ(s.available().Get("CPU"), 1.0);  // the other CPU stays free
}

TEST(SchedulerTest, APlacementGroupWaitsForRoomAndItsTasksWaitWithoutAWarning) {
  Scheduler s(Res({{"CPU", 2}}), 8);
  WorkerID w = WorkerID::FromRandom();
  s.AddWorker(w);
  Submit(s, Task("hog", {{"CPU", 2}}), {});
  ASSERT_EQ(s.Schedule().dispatches.size(), 1u);  // both CPUs busy
  ASSERT_TRUE(s.AddPlacementGroup(Group("bb", {{{"CPU", 1}}})));
  Task waiting("waiting");
  s.SubmitTask(waiting.id, waiting.name, PlacementGroups::Rewrite(Res({{"CPU", 1}}), "bb", -1),
               {});
  Decisions d = s.Schedule();
  EXPECT_TRUE(d.dispatches.empty());
  EXPECT_TRUE(d.warnings.empty());  // the group is pending, not missing
  EXPECT_EQ(s.PlacementGroupTable()[0].state, PlacementGroup::kPending);
  s.TaskFinished(w);  // the hog is done: the group is reserved, its task runs
  d = s.Schedule();
  ASSERT_EQ(d.dispatches.size(), 1u);
  EXPECT_EQ(NameOf(d.dispatches[0]), "waiting");
}

TEST(SchedulerTest, AWorkerBlockedInAGroupLendsTheGroupsCpus) {
  Scheduler s(Res({{"CPU", 2}}), 8);
  ASSERT_TRUE(s.AddPlacementGroup(Group("ee", {{{"CPU", 1}}})));
  (void)s.Schedule();
  WorkerID parent = WorkerID::FromRandom();
  s.AddWorker(parent);
  Task outer("outer"), inner("inner");
  s.SubmitTask(outer.id, outer.name, PlacementGroups::Rewrite(Res({{"CPU", 1}}), "ee", -1), {});
  ASSERT_EQ(s.Schedule().dispatches.size(), 1u);
  s.SubmitTask(inner.id, inner.name, PlacementGroups::Rewrite(Res({{"CPU", 1}}), "ee", -1), {});
  s.WorkerBlocked(parent);  // waits for `inner`, which needs the group's only CPU
  s.AddWorker(WorkerID::FromRandom());
  Decisions d = s.Schedule();
  ASSERT_EQ(d.dispatches.size(), 1u);
  EXPECT_EQ(NameOf(d.dispatches[0]), "inner");
}

TEST(SchedulerTest, StrictSpreadOfSeveralBundlesCannotBePlacedOnOneNode) {
  Scheduler s(Res({{"CPU", 4}}), 8);
  ASSERT_TRUE(s.AddPlacementGroup(
      Group("cc", {{{"CPU", 1}}, {{"CPU", 1}}}, PlacementStrategy::kStrictSpread)));
  ASSERT_TRUE(s.AddPlacementGroup(Group("dd", {{{"CPU", 1}}})));  // not held back by it
  Decisions d = s.Schedule();
  ASSERT_EQ(d.warnings.size(), 1u);
  EXPECT_NE(d.warnings[0].find("never be placed"), std::string::npos);
  auto table = s.PlacementGroupTable();
  EXPECT_EQ(table[0].state, PlacementGroup::kPending);
  EXPECT_EQ(table[1].state, PlacementGroup::kCreated);
  EXPECT_EQ(s.available().Get("CPU"), 3.0);
}

TEST(SchedulerTest, ActorWorkersDoNotCountTowardsTheWorkerCap) {
  Scheduler s(Res({{"CPU", 1}}), 2);
  for (int i = 0; i < 5; ++i) {
    WorkerID w = WorkerID::FromRandom();
    s.AddWorker(w);
    Submit(s, Task("Actor.__init__"), {});
    ASSERT_EQ(s.Schedule().dispatches.size(), 1u);
    s.ActorCreated(w, ResourceSet());
  }
  Submit(s, Task("Actor.__init__"), {});
  EXPECT_EQ(s.Schedule().total_workers_to_start(), 1);  // 5 actors, still room
}

TEST(SchedulerTest, CancelledTasksNeverRun) {
  Scheduler s(Res({{"CPU", 1}}), 8);
  Task waiting("waiting"), ready("ready"), kept("kept");
  Submit(s, waiting, {ObjectID::FromRandom()});
  Submit(s, ready, {});
  Submit(s, kept, {});
  EXPECT_TRUE(s.CancelTask(waiting.id));
  EXPECT_TRUE(s.CancelTask(ready.id));
  EXPECT_FALSE(s.CancelTask(ready.id));
  EXPECT_EQ(s.num_waiting(), 0u);
  s.AddWorker(WorkerID::FromRandom());
  Decisions d = s.Schedule();
  ASSERT_EQ(d.dispatches.size(), 1u);
  EXPECT_EQ(NameOf(d.dispatches[0]), "kept");
}

TEST(SchedulerTest, WorkersRunOnlyTheirJobsTasks) {
  Scheduler s(Res({{"CPU", 4}}), 8);
  JobID job1 = JobID::FromInt(1), job2 = JobID::FromInt(2);
  WorkerID w1 = WorkerID::FromRandom();
  s.AddWorker(w1, job1);
  Task a("a"), b("b");
  s.SubmitTask(a.id, a.name, a.demand, {}, job2);
  Decisions d = s.Schedule();
  EXPECT_TRUE(d.dispatches.empty());  // job1's idle worker does not take it
  ASSERT_EQ(d.workers_to_start.size(), 1u);
  EXPECT_EQ(d.workers_to_start.at(job2), 1);
  s.SubmitTask(b.id, b.name, b.demand, {}, job1);
  d = s.Schedule();
  ASSERT_EQ(d.dispatches.size(), 1u);
  EXPECT_EQ(d.dispatches[0].worker, w1);
  EXPECT_EQ(d.dispatches[0].task_id, b.id);
  WorkerID w2 = WorkerID::FromRandom();
  s.AddWorker(w2, job2);
  d = s.Schedule();
  ASSERT_EQ(d.dispatches.size(), 1u);
  EXPECT_EQ(d.dispatches[0].worker, w2);
}

TEST(SchedulerTest, DrainReadyTakesOnlyRunnableTasks) {
  Scheduler s(Res({{"CPU", 1}}), 8);
  Task ready("ready"), waiting("waiting");
  Submit(s, ready, {});
  Submit(s, waiting, {ObjectID::FromRandom()});
  EXPECT_EQ(s.DrainReady(), std::vector<TaskID>{ready.id});
  EXPECT_EQ(s.num_ready(), 0u);
  EXPECT_EQ(s.num_waiting(), 1u);
}

TEST(SchedulerTest, ExtraIdleWorkersAreTrimmedToTheSoftLimit) {
  Scheduler s(Res({{"CPU", 1}}), 8);
  WorkerID a = WorkerID::FromRandom(), b = WorkerID::FromRandom();
  s.AddWorker(a);
  s.AddWorker(b);
  EXPECT_TRUE(s.TrimIdleWorkers(2, std::chrono::milliseconds(0)).empty());
  auto trimmed = s.TrimIdleWorkers(1, std::chrono::milliseconds(0));
  ASSERT_EQ(trimmed.size(), 1u);
  EXPECT_EQ(s.num_workers(), 1u);
  // The remaining worker still takes tasks; a trimmed one is never picked.
  Submit(s, Task("f"), {});
  Decisions d = s.Schedule();
  ASSERT_EQ(d.dispatches.size(), 1u);
  EXPECT_NE(d.dispatches[0].worker, trimmed[0]);
  // Workers that were not idle long enough stay.
  s.AddWorker(WorkerID::FromRandom());
  EXPECT_TRUE(s.TrimIdleWorkers(1, std::chrono::hours(1)).empty());
}

TEST(SchedulerTest, ConcurrentEventsKeepAccountsConsistent) {
  Scheduler s(Res({{"CPU", 2}}), 8);
  std::vector<WorkerID> workers;
  for (int i = 0; i < 2; ++i) {
    workers.push_back(WorkerID::FromRandom());
    s.AddWorker(workers.back());
  }
  std::thread submitter([&] {
    for (int i = 0; i < 2000; ++i) Submit(s, Task("f"), {});
  });
  int done = 0;
  while (done < 2000) {
    for (auto& d : s.Schedule().dispatches) {
      s.TaskFinished(d.worker);
      ++done;
    }
  }
  submitter.join();
  EXPECT_EQ(s.available().Get("CPU"), 2.0);
  EXPECT_EQ(s.num_ready(), 0u);
}

}  // namespace
}  // namespace miniray
