#include <gtest/gtest.h>

#include <unordered_set>

#include "common/buffer.h"
#include "common/id.h"
#include "common/message.h"
#include "common/status.h"

namespace miniray {
namespace {

TEST(IdTest, RandomIdsAreDistinctAndNotNil) {
  std::unordered_set<ObjectID> seen;
  for (int i = 0; i < 1000; ++i) {
    ObjectID id = ObjectID::FromRandom();
    EXPECT_FALSE(id.IsNil());
    EXPECT_TRUE(seen.insert(id).second);
  }
  EXPECT_TRUE(ObjectID::Nil().IsNil());
}

TEST(IdTest, BinaryAndHexRoundTrip) {
  TaskID t = TaskID::FromRandom();
  EXPECT_EQ(TaskID::FromBinary(t.Binary()), t);
  EXPECT_EQ(t.Binary().size(), TaskID::kSize);
  EXPECT_EQ(t.Hex().size(), 2 * TaskID::kSize);
  EXPECT_EQ(ObjectID().Hex(), std::string(40, '0'));
}

TEST(IdTest, ReturnIdsDeriveFromTheTask) {
  TaskID t = TaskID::FromRandom();
  ObjectID r1 = ObjectID::ForTaskReturn(t, 1);
  ObjectID r2 = ObjectID::ForTaskReturn(t, 2);
  EXPECT_NE(r1, r2);
  EXPECT_NE(r1.Hash(), r2.Hash());
  EXPECT_EQ(r1.Task(), t);
  EXPECT_EQ(r2.Index(), 2u);
}

TEST(StatusTest, CarriesCodeAndMessage) {
  Status s = Status::ResourceExhausted("store full");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(s.ToString(), "RESOURCE_EXHAUSTED: store full");
  StatusOr<int> v = 7;
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 7);
  StatusOr<int> e = Status::NotFound("x");
  EXPECT_EQ(e.status().code(), StatusCode::kNotFound);
}

TEST(BufferTest, ReleaseRunsWhenDropped) {
  int released = 0;
  uint8_t bytes[4] = {1, 2, 3, 4};
  {
    Buffer b(bytes, 4, false, [&] { ++released; });
    EXPECT_EQ(b.data()[2], 3);
    EXPECT_EQ(released, 0);
  }
  EXPECT_EQ(released, 1);
}

TEST(MessageTest, TaskSpecRoundTrips) {
  TaskSpec s;
  s.task_id = TaskID::FromRandom();
  s.name = "add";
  s.function_id = "fn";
  s.args = std::string("\x00\x01pickle", 8);
  s.dependencies = {ObjectID::FromRandom()};
  s.num_returns = 2;
  s.resources = {{"CPU", 1.0}, {"GPU", 0.5}};
  s.max_retries = 3;
  ExecuteTask e;
  e.spec = s;
  ObjectValue v;
  v.id = s.dependencies[0];
  v.kind = ObjectValue::kShared;
  v.offset = 64;
  v.size = 1 << 20;
  e.args = {v};
  e.gpu_ids = {0};
  ExecuteTask back;
  ASSERT_TRUE(DecodePayload(EncodePayload(e), &back));
  EXPECT_EQ(back.spec.task_id, s.task_id);
  EXPECT_EQ(back.spec.args, s.args);
  EXPECT_EQ(back.spec.ReturnId(1), ObjectID::ForTaskReturn(s.task_id, 2));
  EXPECT_EQ(back.spec.resources[1].name, "GPU");
  EXPECT_EQ(back.spec.resources[1].amount, 0.5);
  EXPECT_EQ(back.args[0].offset, 64u);
  EXPECT_EQ(back.gpu_ids, std::vector<int64_t>{0});
}

TEST(MessageTest, TruncatedPayloadIsRejected) {
  GetRequest g;
  g.request_id = 9;
  g.ids = {ObjectID::FromRandom(), ObjectID::FromRandom()};
  std::string p = EncodePayload(g);
  GetRequest back;
  EXPECT_TRUE(DecodePayload(p, &back));
  EXPECT_FALSE(DecodePayload(std::string_view(p).substr(0, p.size() - 1), &back));
  EXPECT_FALSE(DecodePayload(p + "x", &back));
}

}  // namespace
}  // namespace miniray
