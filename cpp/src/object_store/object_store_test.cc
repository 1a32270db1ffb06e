#include "object_store/object_store.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "common/socket.h"
#include "protobuf/node.pb.h"

namespace miniray {
namespace {

ObjectID PutBytes(ObjectStore& store, const std::string& bytes) {
  ObjectID id = ObjectID::FromRandom();
  auto loc = store.CreateObject(id, bytes.size());
  EXPECT_TRUE(loc.ok()) << loc.status().ToString();
  std::memcpy(store.arena()->data() + loc->offset, bytes.data(), bytes.size());
  EXPECT_TRUE(store.Seal(id).ok());
  return id;
}

TEST(ObjectStoreTest, SealMakesObjectVisibleToGet) {
  auto store = ObjectStore::Create(1 << 20);
  ASSERT_TRUE(store.ok());
  ObjectID id = ObjectID::FromRandom();
  ASSERT_TRUE((*store)->CreateObject(id, 5).ok());
  EXPECT_FALSE((*store)->Contains(id));
  EXPECT_FALSE((*store)->Get(id).ok());
  ASSERT_TRUE((*store)->Seal(id).ok());
  EXPECT_TRUE((*store)->Contains(id));
  EXPECT_TRUE((*store)->Get(id).ok());
  EXPECT_EQ((*store)->Seal(id).code(), StatusCode::kFailedPrecondition);
}

TEST(ObjectStoreTest, GetIsZeroCopyAndPinsUntilReleased) {
  auto store = *ObjectStore::Create(1 << 20);
  ObjectID id = PutBytes(*store, "hello");
  {
    auto buf = store->Get(id);
    ASSERT_TRUE(buf.ok());
    EXPECT_EQ(std::string(reinterpret_cast<char*>((*buf)->data()), (*buf)->size()),
              "hello");
    // The view points into the arena itself: no copy was made.
    EXPECT_GE((*buf)->data(), store->arena()->data());
    EXPECT_LT((*buf)->data(), store->arena()->data() + store->arena()->size());
    // Deleting a pinned object defers the free until the view is dropped.
    ASSERT_TRUE(store->Delete(id).ok());
    EXPECT_FALSE(store->Contains(id));
    EXPECT_GT(store->used(), 0u);
    EXPECT_EQ(store->num_objects(), 1u);
  }
  EXPECT_EQ(store->used(), 0u);
  EXPECT_EQ(store->num_objects(), 0u);
}

TEST(ObjectStoreTest, DuplicateIdAndUnknownIdAreErrors) {
  auto store = *ObjectStore::Create(1 << 20);
  ObjectID id = PutBytes(*store, "x");
  EXPECT_EQ(store->CreateObject(id, 1).status().code(), StatusCode::kAlreadyExists);
  ObjectID other = ObjectID::FromRandom();
  EXPECT_EQ(store->Delete(other).code(), StatusCode::kNotFound);
  EXPECT_EQ(store->Release(other).code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(store->CreateObject(other, 10).ok());
  ASSERT_TRUE(store->Abort(other).ok());
  EXPECT_FALSE(store->Contains(other));
}

TEST(ObjectStoreTest, FillingToCapacityGivesObjectStoreFullAndKeepsObjects) {
  const uint64_t capacity = 1 << 20;
  auto store = *ObjectStore::Create(capacity);
  std::vector<ObjectID> ids;
  std::string chunk(64 * 1024, 'z');
  while (true) {
    ObjectID id = ObjectID::FromRandom();
    auto loc = store->CreateObject(id, chunk.size());
    if (!loc.ok()) {
      EXPECT_EQ(loc.status().code(), StatusCode::kResourceExhausted);
      EXPECT_NE(loc.status().message().find("object store is full"),
                std::string::npos);
      break;
    }
    std::memcpy(store->arena()->data() + loc->offset, chunk.data(), chunk.size());
    ASSERT_TRUE(store->Seal(id).ok());
    ids.push_back(id);
  }
  EXPECT_EQ(ids.size(), capacity / chunk.size());
  EXPECT_EQ(store->used(), capacity);
  // Everything stored before the failure is intact.
  for (const auto& id : ids) {
    auto buf = store->Get(id);
    ASSERT_TRUE(buf.ok());
    EXPECT_EQ((*buf)->data()[chunk.size() - 1], 'z');
  }
  // Freeing one object makes room again.
  ASSERT_TRUE(store->Delete(ids[0]).ok());
  EXPECT_TRUE(store->CreateObject(ObjectID::FromRandom(), chunk.size()).ok());
}

// A second process receives the arena's fd over a Unix socket, asks the
// owner where an object is by ID, and reads it in place from its own
// mapping of the same memory.
TEST(ObjectStoreTest, SecondProcessReadsSealedObjectByIdWithoutCopy) {
  auto store = *ObjectStore::Create(8 << 20);
  std::string payload(3 << 20, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 7);
  ObjectID id = PutBytes(*store, payload);

  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(sv[0]);
    rpc::NodeMessage reply;
    int fd = -1;
    if (!RecvFrame(sv[1], &reply, &fd).ok() || fd < 0) _exit(2);
    auto arena = Arena::Map(fd, reply.register_reply().arena_size());
    if (!arena.ok()) _exit(3);
    // Ask for the object by ID; the owner answers with its location.
    rpc::ClientMessage get;
    get.mutable_get()->add_object_ids(id.Binary());
    if (!SendFrame(sv[1], get).ok()) _exit(4);
    if (!RecvFrame(sv[1], &reply).ok()) _exit(5);
    const rpc::SharedLocation& where = reply.get_reply().values(0).shared();
    uint64_t offset = where.offset(), size = where.size();
    const uint8_t* data = (*arena)->data() + offset;  // in place, no copy
    if (size != payload.size()) _exit(6);
    if (std::memcmp(data, payload.data(), size) != 0) _exit(7);
    // Write a marker the parent must see: the same physical memory.
    (*arena)->data()[(*arena)->size() - 1] = 42;
    _exit(0);
  }
  close(sv[1]);
  rpc::NodeMessage reg;
  reg.mutable_register_reply()->set_arena_size(store->arena()->size());
  ASSERT_TRUE(SendFrame(sv[0], reg, store->arena()->fd()).ok());
  rpc::ClientMessage get;
  ASSERT_TRUE(RecvFrame(sv[0], &get).ok());
  ObjectID asked = ObjectID::FromBinary(get.get().object_ids(0));
  auto loc = store->Pin(asked);
  ASSERT_TRUE(loc.ok());
  rpc::NodeMessage reply;
  auto* shared = reply.mutable_get_reply()->add_values()->mutable_shared();
  shared->set_offset(loc->offset);
  shared->set_size(loc->size);
  ASSERT_TRUE(SendFrame(sv[0], reply).ok());
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(store->arena()->data()[store->arena()->size() - 1], 42);
  ASSERT_TRUE(store->Release(id).ok());
  close(sv[0]);
}

}  // namespace
}  // namespace miniray
