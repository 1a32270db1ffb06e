// The object table alone, over a real (small) shared-memory store: no node,
// no processes. Clients are plain ids.
#include "node/object_table.h"

#include <gtest/gtest.h>

#include <cstring>

namespace miniray {
namespace {

constexpr ClientId kDriver = 1;
constexpr ClientId kWorker = 2;

class ObjectTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::move(ObjectStore::Create(4 << 20)).value();
    table_ = std::make_unique<ObjectTable>(store_, "/tmp");
  }

  rpc::ObjectValue Inline(const ObjectID& id, const std::string& data,
                          std::vector<ObjectID> contained = {}) {
    rpc::ObjectValue v;
    v.set_object_id(id.Binary());
    v.set_inline_data(data);
    for (const auto& c : contained) v.add_contained(c.Binary());
    return v;
  }

  // Creates, fills and seals a shared object of `size` bytes put by `client`.
  ObjectID PutShared(ClientId client, uint64_t size, char fill) {
    ObjectID id = ObjectID::ForPut();
    auto offset = table_->Create(client, id, size);
    EXPECT_TRUE(offset.ok()) << offset.status().ToString();
    std::memset(store_->arena()->data() + *offset, fill, size);
    rpc::ObjectValue v;
    v.set_object_id(id.Binary());
    v.mutable_shared()->set_offset(*offset);
    v.mutable_shared()->set_size(size);
    EXPECT_TRUE(table_->Seal(client, v, &events_).ok());
    return id;
  }

  void Remove(ClientId client, const ObjectID& id) {
    rpc::RefDelta d;
    d.add_remove(id.Binary());
    table_->UpdateClientRefs(client, d, &events_);
  }

  std::shared_ptr<ObjectStore> store_;
  std::unique_ptr<ObjectTable> table_;
  ObjectEvents events_;
};

TEST_F(ObjectTableTest, GetWaitsForAPendingObjectAndBlocksItsClient) {
  ObjectID ret = ObjectID::ForTaskReturn(TaskID::FromRandom(), 1);
  table_->AddPendingObject(kDriver, ret);
  table_->Get(kWorker, 5, {ret}, &events_);
  EXPECT_TRUE(events_.replies.empty());
  EXPECT_EQ(events_.blocked, std::vector<ClientId>{kWorker});
  table_->StoreError(ret, rpc::WORKER_DIED, "boom", &events_);
  ASSERT_EQ(events_.replies.size(), 1u);
  EXPECT_EQ(events_.replies[0].first, kWorker);
  EXPECT_EQ(events_.replies[0].second.request_id(), 5u);
  EXPECT_EQ(events_.replies[0].second.get_reply().values(0).error().message(), "boom");
  EXPECT_EQ(events_.unblocked, std::vector<ClientId>{kWorker});
  EXPECT_EQ(events_.ready, std::vector<ObjectID>{ret});
}

TEST_F(ObjectTableTest, AnExpectedObjectIsPendingUntilPutAndGoesWithItsLastReference) {
  // A generator's item: the driver expects it before the worker yields it.
  TaskID task = TaskID::FromRandom();
  ObjectID item = ObjectID::ForTaskReturn(task, 2);
  google::protobuf::RepeatedPtrField<std::string> ids;
  *ids.Add() = item.Binary();
  table_->Expect(kDriver, ids);
  table_->Get(kDriver, 3, {item}, &events_);
  EXPECT_TRUE(events_.replies.empty());  // pending, not lost
  table_->Put(kWorker, Inline(item, "yielded"), &events_);
  ASSERT_EQ(events_.replies.size(), 1u);
  EXPECT_EQ(events_.replies[0].second.get_reply().values(0).inline_data(), "yielded");
  EXPECT_EQ(table_->RefCount(item), 2);  // the driver's and the putter's
  Remove(kWorker, item);
  Remove(kDriver, item);
  EXPECT_EQ(table_->RefCount(item), 0);
  EXPECT_EQ(table_->Stats().num_objects, 0u);

  // Expected, never put, then given up: nothing stays behind.
  ObjectID never = ObjectID::ForTaskReturn(task, 3);
  *ids.Mutable(0) = never.Binary();
  table_->Expect(kDriver, ids);
  EXPECT_EQ(table_->Stats().num_objects, 1u);
  Remove(kDriver, never);
  EXPECT_EQ(table_->Stats().num_objects, 0u);
}

TEST_F(ObjectTableTest, AGeneratorsCompletionHoldsItsItemsEvenIfItFails) {
  TaskID task = TaskID::FromRandom();
  ObjectID completion = ObjectID::ForTaskReturn(task, 1);
  ObjectID item = ObjectID::ForTaskReturn(task, 2);
  table_->AddPendingObject(kDriver, completion);
  table_->Put(kWorker, Inline(item, "yielded"), &events_);
  table_->HoldFor(completion, item);
  table_->HoldFor(completion, item);  // once per item
  EXPECT_EQ(table_->RefCount(item), 2);
  Remove(kWorker, item);  // the worker dies...
  table_->StoreError(completion, rpc::WORKER_DIED, "died", &events_);
  EXPECT_EQ(table_->RefCount(item), 1);  // ...its item lives on in the completion
  Remove(kDriver, completion);
  EXPECT_EQ(table_->Stats().num_objects, 0u);
}

TEST_F(ObjectTableTest, WaitAnswersOnceEnoughAreReadyAndExpireAnswersNow) {
  ObjectID a = ObjectID::ForTaskReturn(TaskID::FromRandom(), 1);
  ObjectID b = ObjectID::ForTaskReturn(TaskID::FromRandom(), 1);
  table_->AddPendingObject(kDriver, a);
  table_->AddPendingObject(kDriver, b);
  table_->Wait(kDriver, 1, {a, b}, 1, &events_);
  EXPECT_TRUE(events_.replies.empty());
  google::protobuf::RepeatedPtrField<rpc::ObjectValue> returns;
  *returns.Add() = Inline(b, "b");
  table_->StoreReturns(kWorker, &returns, &events_);
  ASSERT_EQ(events_.replies.size(), 1u);
  const auto& ready = events_.replies[0].second.wait_reply().ready();
  EXPECT_FALSE(ready[0]);
  EXPECT_TRUE(ready[1]);
  // A Get of a still-pending object, expired: timed out, no values.
  table_->Get(kDriver, 2, {a}, &events_);
  table_->Expire(kDriver, 2, &events_);
  ASSERT_EQ(events_.replies.size(), 2u);
  EXPECT_TRUE(events_.replies[1].second.get_reply().timed_out());
  EXPECT_EQ(events_.replies[1].second.get_reply().values_size(), 0);
}

TEST_F(ObjectTableTest, ContainedObjectsLiveAsLongAsTheirContainer) {
  ObjectID inner = ObjectID::ForPut();
  table_->Put(kDriver, Inline(inner, "inner"), &events_);
  ObjectID outer = ObjectID::ForPut();
  table_->Put(kDriver, Inline(outer, "outer", {inner}), &events_);
  EXPECT_EQ(table_->RefCount(inner), 2);
  Remove(kDriver, inner);  // the driver drops its handle of inner...
  EXPECT_EQ(table_->RefCount(inner), 1);  // ...outer still holds it
  Remove(kDriver, outer);
  EXPECT_EQ(table_->RefCount(outer), 0);
  EXPECT_EQ(table_->RefCount(inner), 0);
  EXPECT_EQ(table_->Stats().num_objects, 0u);
}

TEST_F(ObjectTableTest, TaskArgumentsAreHeldUntilReleased) {
  ObjectID arg = ObjectID::ForPut();
  table_->Put(kDriver, Inline(arg, "x"), &events_);
  table_->AddReferences({arg});  // a submitted task holds it
  Remove(kDriver, arg);
  EXPECT_EQ(table_->Stats().num_objects, 1u);
  table_->RemoveReferences({arg}, &events_);
  EXPECT_EQ(table_->Stats().num_objects, 0u);
}

TEST_F(ObjectTableTest, ADisconnectedClientLeavesNoReferencePinOrUnsealedObject) {
  ObjectID mapped = PutShared(kDriver, 1 << 20, 'm');
  rpc::ObjectValue v = table_->ValueFor(kWorker, mapped);  // pinned for the worker
  ASSERT_TRUE(v.has_shared());
  EXPECT_TRUE(store_->IsPinned(mapped));
  ObjectID unsealed = ObjectID::ForPut();
  ASSERT_TRUE(table_->Create(kWorker, unsealed, 1 << 20).ok());
  rpc::RefDelta borrow;
  borrow.add_add(mapped.Binary());
  table_->UpdateClientRefs(kWorker, borrow, &events_);
  EXPECT_EQ(table_->RefCount(mapped), 2);
  table_->Get(kWorker, 1, {ObjectID::ForTaskReturn(TaskID::FromRandom(), 1)}, &events_);

  table_->DropClient(kWorker, &events_);
  EXPECT_FALSE(store_->IsPinned(mapped));
  EXPECT_EQ(table_->RefCount(mapped), 1);
  EXPECT_EQ(table_->RefCount(unsealed), 0);
  EXPECT_EQ(table_->Stats().num_objects, 1u);
  EXPECT_EQ(table_->Stats().num_requests, 0u);
  EXPECT_EQ(store_->used(), (1u << 20));  // the unsealed object's memory is back
}

TEST_F(ObjectTableTest, TheLargestUnmappedObjectIsSpilledAndRestoredOnRead) {
  ObjectID small = PutShared(kDriver, 1 << 20, 's');
  ObjectID large = PutShared(kDriver, 2 << 20, 'l');
  rpc::ObjectValue pinned = table_->ValueFor(kWorker, small);  // small is mapped
  // 3 MiB used of 4: a new 2 MiB object needs room; only `large` can move.
  ObjectID fresh = PutShared(kDriver, 2 << 20, 'f');
  EXPECT_EQ(table_->Stats().num_spilled, 1u);
  EXPECT_TRUE(store_->Contains(small));
  EXPECT_FALSE(store_->Contains(large));
  // Reading `large` brings it back (spilling `fresh`, which nobody maps).
  rpc::ObjectValue restored = table_->ValueFor(kWorker, large);
  ASSERT_TRUE(restored.has_shared()) << restored.DebugString();
  EXPECT_EQ(store_->arena()->data()[restored.shared().offset() + 12345], 'l');
  EXPECT_FALSE(store_->Contains(fresh));
  EXPECT_EQ(table_->Stats().num_spilled, 1u);
}

TEST_F(ObjectTableTest, NothingSpillsWhileEverythingIsMappedAndCreateFails) {
  ObjectID a = PutShared(kDriver, 3 << 20, 'a');
  rpc::ObjectValue pinned = table_->ValueFor(kWorker, a);
  auto offset = table_->Create(kDriver, ObjectID::ForPut(), 2 << 20);
  EXPECT_EQ(offset.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(table_->Stats().num_spilled, 0u);
  EXPECT_EQ(store_->arena()->data()[pinned.shared().offset()], 'a');
}

TEST_F(ObjectTableTest, TheLastHandleOfAnActorReportsIt) {
  ActorID actor = ActorID::FromRandom();
  table_->AddActorHandleRef(kDriver, actor);
  table_->AddActorHandleRef(kWorker, actor);
  table_->DropClient(kWorker, &events_);
  EXPECT_TRUE(events_.handles_gone.empty());
  Remove(kDriver, ObjectID::ForActorHandle(actor));
  EXPECT_EQ(events_.handles_gone, std::vector<ActorID>{actor});
}

TEST_F(ObjectTableTest, ARetriedAttemptsSharedReturnsAreAbortedAndTheEntryStaysPending) {
  ObjectID ret = ObjectID::ForTaskReturn(TaskID::FromRandom(), 1);
  table_->AddPendingObject(kDriver, ret);
  auto offset = table_->Create(kWorker, ret, 1 << 20);
  ASSERT_TRUE(offset.ok());
  google::protobuf::RepeatedPtrField<rpc::ObjectValue> returns;
  rpc::ObjectValue* v = returns.Add();
  v->set_object_id(ret.Binary());
  v->mutable_shared()->set_offset(*offset);
  v->mutable_shared()->set_size(1 << 20);
  table_->AbortReturns(kWorker, returns);
  EXPECT_EQ(store_->used(), 0u);
  EXPECT_TRUE(table_->IsPending(ret));
}

}  // namespace
}  // namespace miniray
