// LocalChannel: the embedded driver's NodeChannel. Messages go to the node
// in this process by a function call, unserialized, and its answers come
// back the same way (from under the node's lock), with no syscall.
#ifndef MINIRAY_NODE_LOCAL_CHANNEL_H_
#define MINIRAY_NODE_LOCAL_CHANNEL_H_

#include <atomic>
#include <memory>

#include "core_worker/node_channel.h"
#include "node/node_runtime.h"

namespace miniray {

// Thread-safe. The node must outlive the channel's use (Close first).
class LocalChannel : public NodeChannel {
 public:
  explicit LocalChannel(NodeRuntime* node) : node_(node) {}
  ~LocalChannel() override { Close(); }

  StatusOr<Registration> Start(const WorkerID& worker_id, Receiver receiver) override {
    std::shared_ptr<Arena> arena = node_->arena();
    if (!arena) return Status::Unavailable("the miniray node is stopped");
    conn_ = node_->ConnectLocal(std::move(receiver));
    return Registration{node_->node_id(), conn_->job, std::move(arena)};
  }
  Status Send(rpc::ClientMessage&& message) override {
    if (closed_) return Status::Unavailable("not connected to the miniray node");
    node_->Handle(conn_.get(), std::move(message));
    return Status::OK();
  }
  void Close() override {
    if (closed_.exchange(true) || !conn_) return;
    node_->Disconnect(conn_.get());
  }
  bool connected() const override { return !closed_; }

 private:
  NodeRuntime* const node_;
  std::shared_ptr<ClientConnection> conn_;
  std::atomic<bool> closed_{false};
};

}  // namespace miniray

#endif  // MINIRAY_NODE_LOCAL_CHANNEL_H_
