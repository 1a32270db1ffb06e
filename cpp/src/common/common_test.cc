#include <gtest/gtest.h>

#include <unordered_set>

#include "common/buffer.h"
#include "common/id.h"
#include "common/status.h"
#include "common/task_spec.h"

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

TEST(IdTest, IndexIsLittleEndianAndPutsUseIndexZero) {
  TaskID t = TaskID::FromRandom();
  std::string b = ObjectID::ForTaskReturn(t, 0x0102).Binary();
  EXPECT_EQ(b[16], 0x02);
  EXPECT_EQ(b[17], 0x01);
  EXPECT_EQ(ObjectID::ForPut().Index(), 0u);
  ObjectID parsed;
  EXPECT_FALSE(ObjectID::Parse("short", &parsed));
  EXPECT_TRUE(ObjectID::Parse(b, &parsed));
  EXPECT_EQ(parsed.Index(), 0x0102u);
}

TEST(TaskSpecificationTest, DerivesReturnIdsAndHeldReferences) {
  rpc::TaskSpec m;
  TaskID t = TaskID::FromRandom();
  ObjectID dep = ObjectID::FromRandom(), inner = ObjectID::FromRandom();
  m.set_task_id(t.Binary());
  m.add_dependencies(dep.Binary());
  m.add_contained(inner.Binary());
  m.set_type(rpc::ACTOR_TASK);
  TaskSpecification spec(m);
  EXPECT_EQ(spec.TaskId(), t);
  EXPECT_EQ(spec.ReturnId(1), ObjectID::ForTaskReturn(t, 2));
  EXPECT_TRUE(spec.IsActorTask());
  EXPECT_EQ(spec.HeldReferences(), (std::vector<ObjectID>{dep, inner}));
}

}  // namespace
}  // namespace miniray
