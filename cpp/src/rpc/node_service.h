// NodeService over gRPC (protobuf/node_service.proto): the server a node
// runs on its --node-ip-address for the other nodes of its cluster, and the
// client they call it with. This layer moves bytes and checks the cluster
// token; what a call means is the handler's business (the node daemon's,
// miniray/_private/node_network.py), which parses and validates the bodies.
//
// Ray: src/ray/rpc/grpc_server.h, node_manager/node_manager_client.h.
#ifndef MINIRAY_RPC_NODE_SERVICE_H_
#define MINIRAY_RPC_NODE_SERVICE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"

namespace grpc {
class Server;
class Channel;
}  // namespace grpc

namespace miniray {

// The bytes of an object being sent, kept valid by the source until it is
// destroyed (a pinned view of shared memory, say).
class ObjectSource {
 public:
  virtual ~ObjectSource() = default;
  virtual const uint8_t* data() const = 0;
  virtual uint64_t size() const = 0;
};

// What the server does with each call. Called on gRPC's threads, several
// at once; may block (a pull waits for its object).
class NodeServiceHandler {
 public:
  virtual ~NodeServiceHandler() = default;
  // A unary call ("SubmitTask", "FreeObjects", "GetObjects", "CreateActor",
  // "GetActor", "KillActor", "CreatePlacementGroup", "RemovePlacementGroup",
  // "GetLogs"):
  // the reply's body, or an
  // error (InvalidArgument for a body that is not what the method takes).
  virtual StatusOr<std::string> Call(const std::string& method, const std::string& body) = 0;
  // A pull: either the object's bytes, or `error` (a serialized
  // ObjectError: the object holds an error, or it is not here).
  struct Pulled {
    std::unique_ptr<ObjectSource> source;
    std::string error;
  };
  virtual StatusOr<Pulled> Pull(const std::string& body) = 0;
  // A call refused for its token: who called, and why.
  virtual void Refused(const std::string& peer, const std::string& why) = 0;
};

class NodeServiceServer {
 public:
  // Listens on ip:port (0: a free port) and serves `handler` until Stop.
  // Another server already on that address is an error (gRPC would
  // otherwise share the port silently: SO_REUSEPORT is off here).
  static StatusOr<std::unique_ptr<NodeServiceServer>> Start(const std::string& ip, int port,
                                                           const std::string& token,
                                                           std::shared_ptr<NodeServiceHandler> handler);
  ~NodeServiceServer();
  int port() const { return port_; }
  // Stops taking calls and waits for those under way (at most `grace_ms`,
  // then they are cancelled). Idempotent.
  void Stop(int64_t grace_ms = 1000);

 private:
  class Service;
  NodeServiceServer() = default;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

// Largest piece of an object in one message (see ObjectChunk).
constexpr uint64_t kObjectChunkBytes = 4 << 20;

class NodeServiceClient {
 public:
  // A client of the node at "IP:PORT"; connects on first use (one channel,
  // reused by every call: a new one costs ~1.5 ms).
  NodeServiceClient(const std::string& address, const std::string& token);
  ~NodeServiceClient();
  const std::string& address() const { return address_; }

  // A unary call; Unavailable when the node cannot be reached,
  // Unauthenticated when it refused the token.
  StatusOr<std::string> Call(const std::string& method, const std::string& body,
                             int64_t timeout_ms);
  // Pulls an object: `allocate(size)` gives where its bytes go (or null to
  // give up); `on_error` receives an ObjectError the node sent instead.
  Status Pull(const std::string& body, const std::function<uint8_t*(uint64_t)>& allocate,
              const std::function<void(const std::string&)>& on_error, int64_t timeout_ms);

 private:
  const std::string address_;
  const std::string token_;
  std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace miniray

#endif  // MINIRAY_RPC_NODE_SERVICE_H_
