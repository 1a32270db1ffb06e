#include "rpc/node_service.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <iostream>
#include <unordered_map>
#include <utility>

#include "protobuf/node_service.grpc.pb.h"

namespace miniray {
namespace {

constexpr char kTokenKey[] = "authorization";
// Task bodies carry their arguments inline; large values travel as objects.
constexpr int kMaxCallBytes = 64 << 20;

// Compares without stopping at the first difference, so the time a refusal
// takes does not tell how much of a guessed token was right.
bool SameToken(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

grpc::Status ToGrpc(const Status& s) {
  grpc::StatusCode code = grpc::StatusCode::UNKNOWN;
  switch (s.code()) {
    case StatusCode::kOk: return grpc::Status::OK;
    case StatusCode::kCancelled: code = grpc::StatusCode::CANCELLED; break;
    case StatusCode::kInvalidArgument: code = grpc::StatusCode::INVALID_ARGUMENT; break;
    case StatusCode::kDeadlineExceeded: code = grpc::StatusCode::DEADLINE_EXCEEDED; break;
    case StatusCode::kNotFound: code = grpc::StatusCode::NOT_FOUND; break;
    case StatusCode::kAlreadyExists: code = grpc::StatusCode::ALREADY_EXISTS; break;
    case StatusCode::kResourceExhausted: code = grpc::StatusCode::RESOURCE_EXHAUSTED; break;
    case StatusCode::kFailedPrecondition: code = grpc::StatusCode::FAILED_PRECONDITION; break;
    case StatusCode::kInternal: code = grpc::StatusCode::INTERNAL; break;
    case StatusCode::kUnavailable: code = grpc::StatusCode::UNAVAILABLE; break;
    case StatusCode::kUnauthenticated: code = grpc::StatusCode::UNAUTHENTICATED; break;
  }
  return grpc::Status(code, s.message());
}

Status FromGrpc(const grpc::Status& s, const std::string& address) {
  std::string where = "node " + address + ": " + s.error_message();
  switch (s.error_code()) {
    case grpc::StatusCode::OK: return Status::OK();
    case grpc::StatusCode::UNAUTHENTICATED: return Status::Unauthenticated(where);
    case grpc::StatusCode::INVALID_ARGUMENT: return Status::InvalidArgument(where);
    case grpc::StatusCode::DEADLINE_EXCEEDED: return Status::DeadlineExceeded(where);
    case grpc::StatusCode::NOT_FOUND: return Status::NotFound(where);
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return Status::ResourceExhausted(where);
    case grpc::StatusCode::UNAVAILABLE: return Status::Unavailable(where);
    default: return Status::Internal(where);
  }
}

}  // namespace

// The generated service, each method checking the token before anything.
class NodeServiceServer::Service final : public rpc::NodeService::Service {
 public:
  Service(std::string token, std::shared_ptr<NodeServiceHandler> handler)
      : expected_("Bearer " + std::move(token)), handler_(std::move(handler)) {}

  grpc::Status SubmitTask(grpc::ServerContext* ctx, const rpc::PeerCall* req,
                          rpc::PeerCall* reply) override {
    return Unary(ctx, "SubmitTask", *req, reply);
  }
  grpc::Status FreeObjects(grpc::ServerContext* ctx, const rpc::PeerCall* req,
                           rpc::PeerCall* reply) override {
    return Unary(ctx, "FreeObjects", *req, reply);
  }
  grpc::Status CreateActor(grpc::ServerContext* ctx, const rpc::PeerCall* req,
                           rpc::PeerCall* reply) override {
    return Unary(ctx, "CreateActor", *req, reply);
  }
  grpc::Status GetObjects(grpc::ServerContext* ctx, const rpc::PeerCall* req,
                          rpc::PeerCall* reply) override {
    return Unary(ctx, "GetObjects", *req, reply);
  }
  grpc::Status GetActor(grpc::ServerContext* ctx, const rpc::PeerCall* req,
                        rpc::PeerCall* reply) override {
    return Unary(ctx, "GetActor", *req, reply);
  }
  grpc::Status KillActor(grpc::ServerContext* ctx, const rpc::PeerCall* req,
                         rpc::PeerCall* reply) override {
    return Unary(ctx, "KillActor", *req, reply);
  }
  grpc::Status CreatePlacementGroup(grpc::ServerContext* ctx, const rpc::PeerCall* req,
                                    rpc::PeerCall* reply) override {
    return Unary(ctx, "CreatePlacementGroup", *req, reply);
  }
  grpc::Status RemovePlacementGroup(grpc::ServerContext* ctx, const rpc::PeerCall* req,
                                    rpc::PeerCall* reply) override {
    return Unary(ctx, "RemovePlacementGroup", *req, reply);
  }
  grpc::Status GetLogs(grpc::ServerContext* ctx, const rpc::PeerCall* req,
                       rpc::PeerCall* reply) override {
    return Unary(ctx, "GetLogs", *req, reply);
  }
  grpc::Status PullObject(grpc::ServerContext* ctx, const rpc::PeerCall* req,
                          grpc::ServerWriter<rpc::ObjectChunk>* writer) override {
    grpc::Status refused = Authorize(ctx);
    if (!refused.ok()) return refused;
    StatusOr<NodeServiceHandler::Pulled> pulled = handler_->Pull(req->body());
    if (!pulled.ok()) return ToGrpc(pulled.status());
    rpc::ObjectChunk chunk;
    if (!pulled->source) {
      chunk.set_error(pulled->error);
      writer->Write(chunk);
      return grpc::Status::OK;
    }
    const ObjectSource& src = *pulled->source;
    chunk.set_total_size(src.size());
    uint64_t offset = 0;
    do {  // at least one message, even for an empty object
      uint64_t n = std::min<uint64_t>(kObjectChunkBytes, src.size() - offset);
      chunk.set_data(src.data() + offset, n);
      if (!writer->Write(chunk)) return grpc::Status(grpc::StatusCode::CANCELLED, "reader gone");
      offset += n;
      chunk.clear_total_size();
    } while (offset < src.size());
    return grpc::Status::OK;
  }

 private:
  grpc::Status Authorize(grpc::ServerContext* ctx) {
    const auto& md = ctx->client_metadata();
    auto it = md.find(kTokenKey);
    std::string why;
    if (it == md.end()) {
      why = "no cluster token";
    } else if (!SameToken(std::string(it->second.data(), it->second.size()), expected_)) {
      why = "a wrong cluster token";
    } else {
      return grpc::Status::OK;
    }
    handler_->Refused(ctx->peer(), why);
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "refused: " + why);
  }

  grpc::Status Unary(grpc::ServerContext* ctx, const std::string& method, const rpc::PeerCall& req,
                     rpc::PeerCall* reply) {
    grpc::Status refused = Authorize(ctx);
    if (!refused.ok()) return refused;
    StatusOr<std::string> body = handler_->Call(method, req.body());
    if (!body.ok()) return ToGrpc(body.status());
    reply->set_body(std::move(body).value());
    return grpc::Status::OK;
  }

  const std::string expected_;
  const std::shared_ptr<NodeServiceHandler> handler_;
};

StatusOr<std::unique_ptr<NodeServiceServer>> NodeServiceServer::Start(
    const std::string& ip, int port, const std::string& token,
    std::shared_ptr<NodeServiceHandler> handler) {
  if (token.empty()) return Status::InvalidArgument("a NodeService needs the cluster token");
  std::unique_ptr<NodeServiceServer> s(new NodeServiceServer());
  s->service_ = std::make_unique<Service>(token, std::move(handler));
  grpc::ServerBuilder builder;
  // gRPC turns SO_REUSEPORT on by default: a second server on a taken
  // address would start and silently share its connections.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(kMaxCallBytes);
  builder.SetMaxSendMessageSize(kMaxCallBytes);
  std::string address = (ip.find(':') != std::string::npos ? "[" + ip + "]" : ip) + ":" +
                        std::to_string(port);
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &s->port_);
  builder.RegisterService(s->service_.get());
  s->server_ = builder.BuildAndStart();
  if (!s->server_ || s->port_ == 0) {
    return Status::Unavailable("cannot listen on " + address + " (taken, or not this machine's)");
  }
  return s;
}

NodeServiceServer::~NodeServiceServer() { Stop(0); }

void NodeServiceServer::Stop(int64_t grace_ms) {
  if (!server_) return;
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(grace_ms));
  server_->Wait();
  server_.reset();
}

NodeServiceClient::NodeServiceClient(const std::string& address, const std::string& token)
    : address_(address), token_("Bearer " + token) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxCallBytes);
  args.SetMaxSendMessageSize(kMaxCallBytes);
  channel_ = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

NodeServiceClient::~NodeServiceClient() = default;

namespace {
void Prepare(grpc::ClientContext* ctx, const std::string& token, int64_t timeout_ms) {
  ctx->AddMetadata(kTokenKey, token);
  if (timeout_ms >= 0) {
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  }
}
}  // namespace

StatusOr<std::string> NodeServiceClient::Call(const std::string& method, const std::string& body,
                                              int64_t timeout_ms) {
  rpc::NodeService::Stub stub(channel_);
  grpc::ClientContext ctx;
  Prepare(&ctx, token_, timeout_ms);
  rpc::PeerCall req, reply;
  req.set_body(body);
  using Method = grpc::Status (rpc::NodeService::Stub::*)(
      grpc::ClientContext*, const rpc::PeerCall&, rpc::PeerCall*);
  static const std::unordered_map<std::string, Method> kMethods = {
      {"SubmitTask", &rpc::NodeService::Stub::SubmitTask},
      {"FreeObjects", &rpc::NodeService::Stub::FreeObjects},
      {"CreateActor", &rpc::NodeService::Stub::CreateActor},
      {"GetActor", &rpc::NodeService::Stub::GetActor},
      {"GetObjects", &rpc::NodeService::Stub::GetObjects},
      {"KillActor", &rpc::NodeService::Stub::KillActor},
      {"CreatePlacementGroup", &rpc::NodeService::Stub::CreatePlacementGroup},
      {"RemovePlacementGroup", &rpc::NodeService::Stub::RemovePlacementGroup},
      {"GetLogs", &rpc::NodeService::Stub::GetLogs},
  };
  auto it = kMethods.find(method);
  if (it == kMethods.end()) {
    return Status::InvalidArgument("NodeService has no unary method '" + method + "'");
  }
  grpc::Status s = (stub.*(it->second))(&ctx, req, &reply);
  if (!s.ok()) return FromGrpc(s, address_);
  return std::move(*reply.mutable_body());
}

Status NodeServiceClient::Pull(const std::string& body,
                               const std::function<uint8_t*(uint64_t)>& allocate,
                               const std::function<void(const std::string&)>& on_error,
                               int64_t timeout_ms) {
  rpc::NodeService::Stub stub(channel_);
  grpc::ClientContext ctx;
  Prepare(&ctx, token_, timeout_ms);
  rpc::PeerCall req;
  req.set_body(body);
  auto reader = stub.PullObject(&ctx, req);
  rpc::ObjectChunk chunk;
  uint8_t* dest = nullptr;
  uint64_t total = 0, received = 0;
  bool first = true;
  Status bad;
  while (reader->Read(&chunk)) {
    if (first) {
      first = false;
      if (!chunk.error().empty()) {
        on_error(chunk.error());
        continue;
      }
      total = chunk.total_size();
      dest = allocate(total);
      if (dest == nullptr) {
        ctx.TryCancel();
        bad = Status(StatusCode::kCancelled, "pull of a " + std::to_string(total) + "-byte object given up");
        break;
      }
    }
    if (dest == nullptr) continue;  // after an error: nothing more is expected
    if (chunk.data().size() > total - received) {
      ctx.TryCancel();
      bad = Status::Internal("node " + address_ + " sent more bytes than the object has");
      break;
    }
    memcpy(dest + received, chunk.data().data(), chunk.data().size());
    received += chunk.data().size();
  }
  grpc::Status s = reader->Finish();
  if (!bad.ok()) return bad;
  if (!s.ok()) return FromGrpc(s, address_);
  if (first) return Status::Internal("node " + address_ + " sent nothing for the object");
  if (dest != nullptr && received != total) {
    return Status::Internal("node " + address_ + " sent " + std::to_string(received) + " of " +
                            std::to_string(total) + " bytes");
  }
  return Status::OK();
}

}  // namespace miniray
