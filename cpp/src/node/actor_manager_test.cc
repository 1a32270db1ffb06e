// The actor manager alone: names, ordered calls, restarts, deaths.
#include "node/actor_manager.h"

#include <gtest/gtest.h>

namespace miniray {
namespace {

TaskSpecification Creation(const std::string& name = "", int32_t max_restarts = 0,
                           bool detached = false) {
  rpc::TaskSpec m;
  m.set_type(rpc::ACTOR_CREATION_TASK);
  m.set_task_id(TaskID::FromRandom().Binary());
  m.set_actor_id(ActorID::FromRandom().Binary());
  m.mutable_actor_creation_task_spec()->set_name(name);
  m.mutable_actor_creation_task_spec()->set_ray_namespace("ns");
  m.mutable_actor_creation_task_spec()->set_max_actor_restarts(max_restarts);
  m.mutable_actor_creation_task_spec()->set_is_detached(detached);
  return TaskSpecification(m);
}

ActorID Alive(ActorManager& actors, const TaskSpecification& creation, const WorkerID& worker) {
  bool created = false;
  ActorID id = *actors.Register(creation, false, &created);
  EXPECT_TRUE(actors.Placed(id, worker));
  actors.Created(id);
  return id;
}

TEST(ActorManagerTest, NamesAreUniqueUntilTheActorDies) {
  ActorManager actors;
  bool created = false;
  TaskSpecification a = Creation("counter");
  ASSERT_TRUE(actors.Register(a, false, &created).ok());
  EXPECT_TRUE(created);
  TaskSpecification b = Creation("counter");
  EXPECT_EQ(actors.Register(b, false, &created).status().code(), StatusCode::kAlreadyExists);
  auto existing = actors.Register(b, /*get_if_exists=*/true, &created);
  EXPECT_FALSE(created);
  EXPECT_EQ(*existing, a.ActorId());
  EXPECT_EQ(*actors.Lookup("counter", "ns"), a.ActorId());
  EXPECT_EQ(actors.Lookup("counter", "other").status().code(), StatusCode::kNotFound);
  actors.MarkDead(a.ActorId(), "gone");
  EXPECT_FALSE(actors.Lookup("counter", "ns").ok());
  EXPECT_TRUE(actors.Register(b, false, &created).ok());
}

TEST(ActorManagerTest, CallsAreSentInOrderAndAnUnreadyCallHoldsBackLaterOnes) {
  ActorManager actors;
  ActorID id = Alive(actors, Creation(), WorkerID::FromRandom());
  TaskID c1 = TaskID::FromRandom(), c2 = TaskID::FromRandom(), c3 = TaskID::FromRandom();
  for (const auto& c : {c1, c2, c3}) ASSERT_TRUE(actors.Enqueue(id, c).ok());
  auto sent = actors.TakeSendable(id, [&](const TaskID& t) { return t != c2; });
  EXPECT_EQ(sent, std::vector<TaskID>{c1});
  EXPECT_EQ(actors.Waiting(), std::vector<ActorID>{id});
  sent = actors.TakeSendable(id, [](const TaskID&) { return true; });
  EXPECT_EQ(sent, (std::vector<TaskID>{c2, c3}));
  EXPECT_TRUE(actors.Waiting().empty());
}

TEST(ActorManagerTest, QueuedCallsOfHigherPriorityGoFirstAndEqualOnesKeepTheirOrder) {
  ActorManager actors;
  bool created = false;
  TaskSpecification creation = Creation();
  ActorID id = *actors.Register(creation, false, &created);  // not placed yet: calls queue
  TaskID low1 = TaskID::FromRandom(), low2 = TaskID::FromRandom();
  TaskID high = TaskID::FromRandom(), mid = TaskID::FromRandom();
  ASSERT_TRUE(actors.Enqueue(id, low1).ok());
  ASSERT_TRUE(actors.Enqueue(id, low2).ok());
  ASSERT_TRUE(actors.Enqueue(id, mid, 1).ok());
  ASSERT_TRUE(actors.Enqueue(id, high, 5).ok());
  ASSERT_TRUE(actors.Placed(id, WorkerID::FromRandom()));
  actors.Created(id);
  auto sent = actors.TakeSendable(id, [](const TaskID&) { return true; });
  EXPECT_EQ(sent, (std::vector<TaskID>{high, mid, low1, low2}));
}

TEST(ActorManagerTest, AWorkerDeathRestartsWithinTheBudgetReturningTheRunningCalls) {
  ActorManager actors;
  WorkerID w1 = WorkerID::FromRandom();
  ActorID id = Alive(actors, Creation("", /*max_restarts=*/1), w1);
  TaskID running = TaskID::FromRandom(), queued = TaskID::FromRandom();
  ASSERT_TRUE(actors.Enqueue(id, running).ok());
  actors.TakeSendable(id, [](const TaskID&) { return true; });
  ASSERT_TRUE(actors.Enqueue(id, queued).ok());
  auto r = actors.WorkerDied(w1, "exited with code 1");
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->restart);
  EXPECT_EQ(r->interrupted, std::vector<TaskID>{running});
  EXPECT_NE(r->why.find("exited with code 1"), std::string::npos);
  actors.Requeue(id, r->interrupted);
  EXPECT_EQ(actors.Find(id)->queue, (std::deque<TaskID>{running, queued}));
  // Nothing is sent while it restarts; then the order holds.
  EXPECT_TRUE(actors.TakeSendable(id, [](const TaskID&) { return true; }).empty());
  WorkerID w2 = WorkerID::FromRandom();
  ASSERT_TRUE(actors.Placed(id, w2));
  actors.Created(id);
  EXPECT_EQ(actors.TakeSendable(id, [](const TaskID&) { return true; }),
            (std::vector<TaskID>{running, queued}));
  // Out of restarts: the next death is final.
  auto final_death = actors.WorkerDied(w2, "was killed by signal 9");
  ASSERT_TRUE(final_death.has_value());
  EXPECT_FALSE(final_death->restart);
  ActorDeath death = actors.MarkDead(id, final_death->why);
  EXPECT_EQ(death.doomed, (std::vector<TaskID>{running, queued}));
  EXPECT_EQ(actors.Enqueue(id, TaskID::FromRandom()).code(), StatusCode::kFailedPrecondition);
}

TEST(ActorManagerTest, KilledOrExitingActorsDoNotRestart) {
  ActorManager actors;
  WorkerID w = WorkerID::FromRandom();
  ActorID id = Alive(actors, Creation("", -1), w);
  bool dead_now = false;
  EXPECT_TRUE(actors.Kill(id, /*no_restart=*/true, &dead_now));  // stop its worker
  auto r = actors.WorkerDied(w, "was killed by signal 9");
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->restart);
  EXPECT_NE(r->why.find("miniray.kill()"), std::string::npos);

  WorkerID w2 = WorkerID::FromRandom();
  ActorID exiting = Alive(actors, Creation("", -1), w2);
  TaskID call = TaskID::FromRandom();
  ASSERT_TRUE(actors.Enqueue(exiting, call).ok());
  actors.TakeSendable(exiting, [](const TaskID&) { return true; });
  actors.CallEnded(exiting, call, /*exiting=*/true);
  EXPECT_FALSE(actors.WorkerDied(w2, "exited with code 0")->restart);
}

TEST(ActorManagerTest, LosingItsLastHandleStopsAnIdleActorButNotADetachedOne) {
  ActorManager actors;
  WorkerID w = WorkerID::FromRandom();
  ActorID id = Alive(actors, Creation(), w);
  TaskID call = TaskID::FromRandom();
  ASSERT_TRUE(actors.Enqueue(id, call).ok());
  actors.TakeSendable(id, [](const TaskID&) { return true; });
  // A call is still running: the actor goes once it ends.
  EXPECT_EQ(actors.HandlesGone(id), ActorManager::HandlesGoneAction::kNothing);
  EXPECT_TRUE(actors.CallEnded(id, call, false));

  ActorID detached = Alive(actors, Creation("d", 0, /*detached=*/true), WorkerID::FromRandom());
  EXPECT_EQ(actors.HandlesGone(detached), ActorManager::HandlesGoneAction::kNothing);

  bool created;
  ActorID unplaced = *actors.Register(Creation(), false, &created);
  EXPECT_EQ(actors.HandlesGone(unplaced), ActorManager::HandlesGoneAction::kDead);
}

TEST(ActorManagerTest, AStaleWorkersDeathIsIgnored) {
  ActorManager actors;
  WorkerID old_worker = WorkerID::FromRandom();
  ActorID id = Alive(actors, Creation("", 1), old_worker);
  ASSERT_TRUE(actors.WorkerDied(old_worker, "x")->restart);
  ASSERT_TRUE(actors.Placed(id, WorkerID::FromRandom()));
  EXPECT_FALSE(actors.WorkerDied(old_worker, "x").has_value());
  EXPECT_EQ(actors.Find(id)->state, ActorEntry::kRestarting);
}

}  // namespace
}  // namespace miniray
