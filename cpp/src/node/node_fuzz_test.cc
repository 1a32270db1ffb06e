// A seeded, mutation-based fuzzer of the node's decoder, validator and
// dispatcher, run as a GoogleTest (a property-based harness: no libFuzzer
// needed). Seeds are valid messages of every kind; mutations flip bits,
// overwrite, insert and delete bytes, truncate, and splice two seeds. Each
// mutated frame goes where a client's frame goes: through the node's
// socket (parse, validate, dispatch, or cut the client off) for a socket
// client, or straight into Handle for the in-process driver.
//
// The node must not crash (the sanitizer configs run this too), must keep
// serving, and once every fuzzing client is gone must be back where it
// started: no object, no allocation, no pending task, every CPU free.
//
// MINIRAY_FUZZ_SECONDS sets the time budget (2 s by default; CI runs a
// minute), MINIRAY_FUZZ_SEED the seed.
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <thread>

#include "common/socket.h"
#include "node/node_runtime.h"

namespace miniray {
namespace {

double EnvNumber(const char* name, double fallback) {
  const char* v = std::getenv(name);
  return v ? std::atof(v) : fallback;
}

// Valid messages of every kind, over a few shared ids so that mutated
// messages refer to things that exist.
std::vector<std::string> Seeds() {
  std::vector<rpc::ClientMessage> seeds;
  TaskID task = TaskID::FromRandom();
  ObjectID object = ObjectID::ForPut(), ret = ObjectID::ForTaskReturn(task, 1);
  ActorID actor = ActorID::FromRandom();
  auto add = [&](auto fill) {
    rpc::ClientMessage m;
    m.set_request_id(seeds.size() + 1);
    fill(m);
    seeds.push_back(m);
  };
  add([&](auto& m) {
    auto* s = m.mutable_submit_task();
    s->set_task_id(task.Binary());
    s->set_name("f");
    s->set_num_returns(2);
    s->add_dependencies(object.Binary());
    (*s->mutable_required_resources())["CPU"] = 1;
  });
  add([&](auto& m) {
    auto* s = m.mutable_submit_task();
    s->set_type(rpc::ACTOR_TASK);
    s->set_task_id(TaskID::FromRandom().Binary());
    s->set_actor_id(actor.Binary());
    s->set_num_returns(1);
  });
  add([&](auto& m) {
    auto* s = m.mutable_create_actor()->mutable_task_spec();
    s->set_type(rpc::ACTOR_CREATION_TASK);
    s->set_task_id(TaskID::FromRandom().Binary());
    s->set_actor_id(actor.Binary());
    s->mutable_actor_creation_task_spec()->set_name("a");
    (*s->mutable_required_resources())["CPU"] = 1;
  });
  add([&](auto& m) {
    m.mutable_put()->set_object_id(object.Binary());
    m.mutable_put()->set_inline_data("value");
    m.mutable_put()->add_contained(ret.Binary());
  });
  add([&](auto& m) {
    m.mutable_create()->set_object_id(ObjectID::ForPut().Binary());
    m.mutable_create()->set_size(4096);
  });
  add([&](auto& m) {
    m.mutable_seal()->set_object_id(object.Binary());
    m.mutable_seal()->mutable_shared()->set_offset(64);
    m.mutable_seal()->mutable_shared()->set_size(4096);
  });
  add([&](auto& m) { m.mutable_get()->add_object_ids(object.Binary()); });
  add([&](auto& m) {
    m.mutable_wait()->add_object_ids(ret.Binary());
    m.mutable_wait()->add_object_ids(object.Binary());
    m.mutable_wait()->set_num_returns(1);
  });
  add([&](auto& m) { m.mutable_expire()->set_request_id(7); });
  add([&](auto& m) {
    m.mutable_ref_delta()->add_add(object.Binary());
    m.mutable_ref_delta()->add_remove(ret.Binary());
  });
  add([&](auto& m) { m.mutable_release()->add_object_ids(object.Binary()); });
  add([&](auto& m) {
    m.mutable_kv_put()->set_key("fn:1");
    m.mutable_kv_put()->set_value("pickled");
  });
  add([&](auto& m) { m.mutable_kv_get()->set_key("fn:1"); });
  add([&](auto& m) { m.mutable_get_resources(); });
  add([&](auto& m) { m.mutable_get_actor()->set_name("a"); });
  add([&](auto& m) { m.mutable_list_named_actors()->set_all_namespaces(true); });
  const std::string pg = PlacementGroupID::FromRandom().Binary();
  add([&](auto& m) {
    auto* g = m.mutable_create_placement_group();
    g->set_placement_group_id(pg);
    (*g->add_bundles()->mutable_resources())["CPU"] = 1;
  });
  add([&](auto& m) {
    auto* s = m.mutable_submit_task();
    s->set_task_id(TaskID::FromRandom().Binary());
    s->set_num_returns(1);
    s->set_placement_group_id(pg);
    s->set_placement_group_bundle_index(0);
  });
  add([&](auto& m) { m.mutable_placement_group_table(); });
  add([&](auto& m) {
    m.mutable_get_state()->set_tasks(true);
    m.mutable_get_state()->set_workers(true);
    m.mutable_get_state()->set_objects(true);
  });
  add([&](auto& m) {
    m.mutable_expect_objects()->add_object_ids(ObjectID::ForTaskReturn(task, 7).Binary());
  });
  add([&](auto& m) { m.mutable_remove_placement_group()->set_placement_group_id(pg); });
  add([&](auto& m) { m.mutable_kill_actor()->set_actor_id(actor.Binary()); });
  add([&](auto& m) { m.mutable_cancel_task()->set_object_id(ret.Binary()); });
  add([&](auto& m) {
    auto* d = m.mutable_task_done();
    d->set_task_id(task.Binary());
    d->add_returns()->set_object_id(ret.Binary());
  });
  std::vector<std::string> out;
  for (const auto& m : seeds) out.push_back(m.SerializeAsString());
  return out;
}

std::string Mutate(std::mt19937_64& rng, const std::vector<std::string>& seeds) {
  std::string s = seeds[rng() % seeds.size()];
  int rounds = 1 + static_cast<int>(rng() % 4);
  for (int r = 0; r < rounds; ++r) {
    size_t n = s.size();
    switch (rng() % 6) {
      case 0:  // flip a bit
        if (n) s[rng() % n] ^= static_cast<char>(1 << (rng() % 8));
        break;
      case 1:  // overwrite a byte with an interesting value
        if (n) s[rng() % n] = static_cast<char>("\x00\x01\x7f\x80\xff\x08\x10\x12"[rng() % 8]);
        break;
      case 2:  // insert random bytes
        s.insert(n ? rng() % n : 0, std::string(1 + rng() % 8, static_cast<char>(rng())));
        break;
      case 3:  // delete a range
        if (n) s.erase(rng() % n, 1 + rng() % 8);
        break;
      case 4:  // truncate
        if (n) s.resize(rng() % n);
        break;
      case 5: {  // splice with another seed
        const std::string& other = seeds[rng() % seeds.size()];
        s = s.substr(0, n ? rng() % n : 0) + other.substr(rng() % (other.size() + 1));
        break;
      }
    }
  }
  return s;
}

// A socket client that registers as a driver or a task worker.
class SocketClient {
 public:
  SocketClient(const std::string& address, rpc::ClientKind kind) {
    fd_ = *ConnectAbstract(address);
    rpc::ClientMessage reg;
    reg.mutable_register_client()->set_worker_id(WorkerID::FromRandom().Binary());
    reg.mutable_register_client()->set_kind(kind);
    EXPECT_TRUE(SendFrame(fd_, reg).ok());
    rpc::NodeMessage reply;
    int arena_fd = -1;
    EXPECT_TRUE(RecvFrame(fd_, &reply, &arena_fd).ok());
    if (arena_fd >= 0) close(arena_fd);
  }
  ~SocketClient() { close(fd_); }

  // Sends raw payload bytes as one frame, then a ping; true while the node
  // keeps the connection (it answered the ping).
  bool SendAndPing(const std::string& payload) {
    std::string frame(kFrameHeaderSize, '\0');
    EncodeFrameHeader(static_cast<uint32_t>(payload.size()), frame.data());
    frame += payload;
    rpc::ClientMessage ping;
    ping.set_request_id(kPing);
    ping.mutable_kv_get()->set_key("ping");
    frame += SerializeFrame(ping);
    if (write(fd_, frame.data(), frame.size()) != static_cast<ssize_t>(frame.size())) return false;
    rpc::NodeMessage m;
    while (RecvFrame(fd_, &m).ok()) {
      if (m.request_id() == kPing && m.has_kv_get_reply()) return true;
    }
    return false;  // cut off
  }

 private:
  static constexpr uint64_t kPing = 0xfeedfacecafe;
  int fd_ = -1;
};

TEST(NodeFuzzTest, MutatedMessagesNeverCrashOrCorruptTheNode) {
  rpc::NodeConfig config;
  (*config.mutable_resources())["CPU"] = 4;
  config.set_object_store_memory(8 << 20);
  config.set_max_workers(0);  // no processes: tasks stay queued
  auto node = std::move(NodeRuntime::Start(config)).value();
  std::vector<std::string> seeds = Seeds();
  std::mt19937_64 rng(static_cast<uint64_t>(EnvNumber("MINIRAY_FUZZ_SEED", 20261127)));
  auto budget = std::chrono::duration<double>(EnvNumber("MINIRAY_FUZZ_SECONDS", 2));
  auto deadline = std::chrono::steady_clock::now() + budget;

  size_t in_process = 0, over_sockets = 0, cut_off = 0;
  std::unique_ptr<SocketClient> socket_client;
  std::shared_ptr<ClientConnection> local =
      node->ConnectLocal([](rpc::NodeMessage&&) {});
  while (std::chrono::steady_clock::now() < deadline) {
    std::string payload = Mutate(rng, seeds);
    if (rng() % 4 == 0) {  // through the socket, as a driver or a worker
      if (!socket_client) {
        socket_client = std::make_unique<SocketClient>(
            node->socket_name(), rng() % 2 ? rpc::TASK_WORKER : rpc::DRIVER);
      }
      if (!socket_client->SendAndPing(payload)) {
        socket_client.reset();
        ++cut_off;
      }
      ++over_sockets;
    } else {  // the embedded driver's path: decoded, then handled
      rpc::ClientMessage m;
      if (m.ParseFromString(payload)) node->Handle(local.get(), std::move(m));
      ++in_process;
    }
    if (in_process % 5000 == 4999) {  // a fresh driver now and then
      node->Disconnect(local.get());
      local = node->ConnectLocal([](rpc::NodeMessage&&) {});
    }
  }
  std::cout << "fuzzed " << in_process << " in-process and " << over_sockets
            << " socket messages; " << cut_off << " socket clients cut off" << std::endl;
  EXPECT_GT(in_process + over_sockets, 100u);

  // Still serving a well-behaved client.
  rpc::NodeMessage answer;
  auto probe = node->ConnectLocal([&](rpc::NodeMessage&& m) { answer = std::move(m); });
  rpc::ClientMessage get;
  get.set_request_id(42);
  get.mutable_get_resources();
  node->Handle(probe.get(), std::move(get));
  EXPECT_EQ(answer.request_id(), 42u);

  // Every fuzzing client gone: the node is back where it started.
  socket_client.reset();
  node->Disconnect(local.get());
  node->Disconnect(probe.get());
  for (int i = 0; i < 200 && node->Stats().num_objects != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  NodeStats stats = node->Stats();
  EXPECT_EQ(stats.num_objects, 0u);
  EXPECT_EQ(stats.store_used, 0u);
  EXPECT_EQ(stats.num_pending_tasks, 0u);
  // Placement groups are reservations that may outlive their clients (the
  // detached ones, by design): once removed, every CPU is free again.
  auto admin = node->ConnectLocal([&](rpc::NodeMessage&& m) { answer = std::move(m); });
  rpc::ClientMessage table;
  table.set_request_id(43);
  table.mutable_placement_group_table();
  node->Handle(admin.get(), std::move(table));
  ASSERT_EQ(answer.request_id(), 43u);
  rpc::PlacementGroupTableReply groups = answer.placement_group_table_reply();
  for (const auto& g : groups.groups()) {
    rpc::ClientMessage remove;
    remove.mutable_remove_placement_group()->set_placement_group_id(g.placement_group_id());
    node->Handle(admin.get(), std::move(remove));
  }
  rpc::ClientMessage resources;
  resources.set_request_id(44);
  resources.mutable_get_resources();
  node->Handle(admin.get(), std::move(resources));
  ASSERT_EQ(answer.request_id(), 44u);
  EXPECT_EQ(answer.resources_reply().available().at("CPU"), 4);
  node->Disconnect(admin.get());
}

}  // namespace
}  // namespace miniray
