// What the validator refuses, one rule at a time, and that well-formed
// messages of every role pass.
#include "node/message_validator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "common/id.h"

namespace miniray {
namespace {

const ClientRole kDriver{true, false, rpc::DRIVER};
const ClientRole kWorker{false, true, rpc::TASK_WORKER};
const ClientRole kNewSocket{false, false, rpc::DRIVER};

rpc::ClientMessage Task() {
  rpc::ClientMessage m;
  auto* spec = m.mutable_submit_task();
  spec->set_task_id(TaskID::FromRandom().Binary());
  spec->set_num_returns(1);
  (*spec->mutable_required_resources())["CPU"] = 1;
  return m;
}

void ExpectRefused(const rpc::ClientMessage& m, const ClientRole& role, const std::string& why) {
  Status s = ValidateClientMessage(m, role);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << m.ShortDebugString();
  EXPECT_NE(s.message().find(why), std::string::npos) << s.message();
}

TEST(MessageValidatorTest, WellFormedMessagesPass) {
  EXPECT_TRUE(ValidateClientMessage(Task(), kDriver).ok());
  EXPECT_TRUE(ValidateClientMessage(Task(), kWorker).ok());
  rpc::ClientMessage reg;
  reg.mutable_register_client()->set_worker_id(WorkerID::FromRandom().Binary());
  EXPECT_TRUE(ValidateClientMessage(reg, kNewSocket).ok());
}

TEST(MessageValidatorTest, AStateClientMayOnlyRead) {
  const ClientRole observer{false, true, rpc::OBSERVER};
  rpc::ClientMessage state;
  state.mutable_get_state()->set_tasks(true);
  EXPECT_TRUE(ValidateClientMessage(state, observer).ok());
  ExpectRefused(Task(), observer, "only reads");
  rpc::ClientMessage put;
  put.mutable_kv_put()->set_key("k");
  ExpectRefused(put, observer, "only reads");
}

TEST(MessageValidatorTest, RolesDecideWhatMaySend) {
  ExpectRefused(Task(), kNewSocket, "register first");
  rpc::ClientMessage reg;
  reg.mutable_register_client()->set_worker_id(WorkerID::FromRandom().Binary());
  ExpectRefused(reg, kWorker, "only once");
  rpc::ClientMessage done;
  done.mutable_task_done()->set_task_id(TaskID::FromRandom().Binary());
  ExpectRefused(done, kDriver, "only a task worker");
  EXPECT_TRUE(ValidateClientMessage(done, kWorker).ok());
}

TEST(MessageValidatorTest, IdsMustHaveTheirSizeAndNotBeNil) {
  rpc::ClientMessage m = Task();
  m.mutable_submit_task()->set_task_id("short");
  ExpectRefused(m, kDriver, "task_id must be 16 bytes");
  m.mutable_submit_task()->set_task_id(TaskID::Nil().Binary());
  ExpectRefused(m, kDriver, "task_id is nil");
  m = Task();
  m.mutable_submit_task()->add_dependencies(std::string(19, 'x'));
  ExpectRefused(m, kDriver, "dependency must be 20 bytes");
  rpc::ClientMessage get;
  get.mutable_get()->add_object_ids(std::string(21, 'x'));
  ExpectRefused(get, kDriver, "20 bytes");
}

TEST(MessageValidatorTest, NumbersMustBeInRange) {
  rpc::ClientMessage m = Task();
  m.mutable_submit_task()->set_num_returns(1u << 31);
  ExpectRefused(m, kDriver, "num_returns");
  for (double bad : {std::nan(""), std::numeric_limits<double>::infinity(), -1.0, 1e300}) {
    m = Task();
    (*m.mutable_submit_task()->mutable_required_resources())["CPU"] = bad;
    ExpectRefused(m, kDriver, "required_resources[CPU]");
  }
  m = Task();
  m.mutable_submit_task()->set_max_retries(-2);
  ExpectRefused(m, kDriver, "max_retries");
  rpc::ClientMessage wait;
  wait.mutable_wait()->add_object_ids(ObjectID::ForPut().Binary());
  wait.mutable_wait()->set_num_returns(2);
  ExpectRefused(wait, kDriver, "more objects than it names");
}

TEST(MessageValidatorTest, ShapesMustHold) {
  rpc::ClientMessage actor;
  auto* spec = actor.mutable_create_actor()->mutable_task_spec();
  spec->set_task_id(TaskID::FromRandom().Binary());
  spec->set_actor_id(ActorID::FromRandom().Binary());
  ExpectRefused(actor, kDriver, "actor creation task");  // not flagged as one
  spec->set_type(rpc::ACTOR_CREATION_TASK);
  EXPECT_TRUE(ValidateClientMessage(actor, kDriver).ok());
  spec->set_num_returns(3);
  ExpectRefused(actor, kDriver, "no returns");

  rpc::ClientMessage creation = Task();
  creation.mutable_submit_task()->set_type(rpc::ACTOR_CREATION_TASK);
  ExpectRefused(creation, kDriver, "submitted with create_actor");
  rpc::ClientMessage call = Task();
  call.mutable_submit_task()->set_type(rpc::ACTOR_TASK);
  ExpectRefused(call, kDriver, "actor_id");

  rpc::ClientMessage put;
  put.mutable_put()->set_object_id(ObjectID::ForPut().Binary());
  ExpectRefused(put, kDriver, "inline bytes");
  put.mutable_put()->mutable_error()->set_message("forged");
  ExpectRefused(put, kDriver, "inline bytes");
  rpc::ClientMessage done;
  done.mutable_task_done()->set_task_id(TaskID::FromRandom().Binary());
  auto* v = done.mutable_task_done()->add_returns();
  v->set_object_id(ObjectID::ForPut().Binary());
  v->mutable_error()->set_message("forged");
  ExpectRefused(done, kWorker, "only the node makes those");
  ExpectRefused(rpc::ClientMessage(), kDriver, "no body");

  // A part of a group that spans nodes: one distinct index per bundle.
  rpc::ClientMessage pg;
  auto* group = pg.mutable_create_placement_group();
  group->set_placement_group_id(PlacementGroupID::FromRandom().Binary());
  for (int i = 0; i < 2; ++i) (*group->add_bundles()->mutable_resources())["CPU"] = 1;
  EXPECT_TRUE(ValidateClientMessage(pg, kDriver).ok());
  group->add_bundle_indices(4);
  ExpectRefused(pg, kDriver, "one index per bundle");
  group->add_bundle_indices(4);
  ExpectRefused(pg, kDriver, "distinct");
  group->set_bundle_indices(1, -1);
  ExpectRefused(pg, kDriver, "distinct");
  group->set_bundle_indices(1, 0);
  EXPECT_TRUE(ValidateClientMessage(pg, kDriver).ok());
}

}  // namespace
}  // namespace miniray
