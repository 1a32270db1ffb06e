#include "rpc/node_service.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <vector>

namespace miniray {
namespace {

class VectorSource : public ObjectSource {
 public:
  explicit VectorSource(std::vector<uint8_t> bytes) : bytes_(std::move(bytes)) {}
  const uint8_t* data() const override { return bytes_.data(); }
  uint64_t size() const override { return bytes_.size(); }

 private:
  std::vector<uint8_t> bytes_;
};

// Echoes calls, serves objects named by their body, and records refusals.
class TestHandler : public NodeServiceHandler {
 public:
  StatusOr<std::string> Call(const std::string& method, const std::string& body) override {
    if (body == "bad") return Status::InvalidArgument("not a PeerTaskRequest");
    return method + ":" + body;
  }
  StatusOr<Pulled> Pull(const std::string& body) override {
    Pulled p;
    if (body == "error") {
      p.error = "the object holds an error";
    } else {
      std::vector<uint8_t> bytes(std::stoull(body));
      for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 7);
      p.source = std::make_unique<VectorSource>(std::move(bytes));
    }
    return p;
  }
  void Refused(const std::string& peer, const std::string& why) override {
    std::lock_guard<std::mutex> lock(mu);
    refusals.push_back(why);
  }
  std::mutex mu;
  std::vector<std::string> refusals;
};

std::unique_ptr<NodeServiceServer> StartServer(std::shared_ptr<TestHandler> h,
                                               const std::string& ip = "127.0.0.1") {
  auto s = NodeServiceServer::Start(ip, 0, "secret", std::move(h));
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return std::move(s).value();
}

TEST(NodeServiceTest, UnaryCallsCarryBodiesBothWays) {
  auto h = std::make_shared<TestHandler>();
  auto server = StartServer(h);
  NodeServiceClient client("127.0.0.1:" + std::to_string(server->port()), "secret");
  auto r = client.Call("SubmitTask", std::string("a\0b", 3), 5000);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, std::string("SubmitTask:a\0b", 14));
  for (const char* method : {"FreeObjects", "GetObjects", "CreateActor", "GetActor", "KillActor",
                             "CreatePlacementGroup", "RemovePlacementGroup", "GetLogs"}) {
    auto f = client.Call(method, "x", 5000);
    ASSERT_TRUE(f.ok()) << method;
    EXPECT_EQ(*f, std::string(method) + ":x");
  }
  // The handler's rejection of a body reaches the caller as what it is.
  auto bad = client.Call("SubmitTask", "bad", 5000);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("not a PeerTaskRequest"), std::string::npos);
  EXPECT_EQ(client.Call("Nope", "", 5000).status().code(), StatusCode::kInvalidArgument);
}

TEST(NodeServiceTest, AWrongOrMissingTokenIsRefusedAndReported) {
  auto h = std::make_shared<TestHandler>();
  auto server = StartServer(h);
  std::string address = "127.0.0.1:" + std::to_string(server->port());
  NodeServiceClient wrong(address, "secreT");
  auto r = wrong.Call("SubmitTask", "x", 5000);
  EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated);
  NodeServiceClient none(address, "");
  EXPECT_EQ(none.Call("FreeObjects", "x", 5000).status().code(), StatusCode::kUnauthenticated);
  Status pull = wrong.Pull("10", [](uint64_t) -> uint8_t* { return nullptr; },
                           [](const std::string&) {}, 5000);
  EXPECT_EQ(pull.code(), StatusCode::kUnauthenticated);
  std::lock_guard<std::mutex> lock(h->mu);
  EXPECT_EQ(h->refusals,
            (std::vector<std::string>{"a wrong cluster token", "a wrong cluster token",
                                      "a wrong cluster token"}));
}

TEST(NodeServiceTest, ObjectsArriveWholeInChunks) {
  auto h = std::make_shared<TestHandler>();
  auto server = StartServer(h);
  NodeServiceClient client("127.0.0.1:" + std::to_string(server->port()), "secret");
  for (uint64_t size : {uint64_t{0}, uint64_t{1}, kObjectChunkBytes, 5 * kObjectChunkBytes + 3}) {
    std::vector<uint8_t> dest;
    Status s = client.Pull(
        std::to_string(size),
        [&](uint64_t n) {
          dest.resize(n + 1);  // never a null pointer, even for 0 bytes
          return dest.data();
        },
        [](const std::string&) { FAIL() << "no error expected"; }, 10000);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_EQ(dest.size(), size + 1);
    for (uint64_t i = 0; i < size; ++i) ASSERT_EQ(dest[i], static_cast<uint8_t>(i * 7)) << i;
  }
  std::string error;
  Status s = client.Pull("error", [](uint64_t) -> uint8_t* { return nullptr; },
                         [&](const std::string& e) { error = e; }, 5000);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(error, "the object holds an error");
  // A puller that gives up (no room) ends the stream with Cancelled.
  s = client.Pull("100", [](uint64_t) -> uint8_t* { return nullptr; },
                  [](const std::string&) {}, 5000);
  EXPECT_EQ(s.code(), StatusCode::kCancelled);
}

TEST(NodeServiceTest, ATakenAddressIsAnErrorAndADeadNodeIsUnavailable) {
  auto h = std::make_shared<TestHandler>();
  auto server = StartServer(h);
  auto second = NodeServiceServer::Start("127.0.0.1", server->port(), "secret", h);
  EXPECT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  EXPECT_FALSE(NodeServiceServer::Start("127.0.0.1", 0, "", h).ok());  // no token, no server

  std::string address = "127.0.0.1:" + std::to_string(server->port());
  server->Stop();
  NodeServiceClient client(address, "secret");
  EXPECT_EQ(client.Call("SubmitTask", "x", 2000).status().code(), StatusCode::kUnavailable);
}

TEST(NodeServiceTest, NodesOnOtherLoopbackAddressesAnswer) {
  // As the three-node tests run them: 127.0.0.2 and .3 need no setup.
  auto h = std::make_shared<TestHandler>();
  auto a = StartServer(h, "127.0.0.2");
  auto b = NodeServiceServer::Start("127.0.0.3", a->port(), "secret", h);  // same port, other IP
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  NodeServiceClient ca("127.0.0.2:" + std::to_string(a->port()), "secret");
  NodeServiceClient cb("127.0.0.3:" + std::to_string(a->port()), "secret");
  EXPECT_EQ(*ca.Call("SubmitTask", "2", 5000), "SubmitTask:2");
  EXPECT_EQ(*cb.Call("SubmitTask", "3", 5000), "SubmitTask:3");
}

}  // namespace
}  // namespace miniray
