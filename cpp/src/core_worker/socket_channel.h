// SocketChannel: a NodeChannel over the node's Unix socket, for worker
// processes and attached drivers. Registration maps the node's arena (its
// fd arrives with the reply); a receiver thread then reads the node's
// messages and hands them on.
#ifndef MINIRAY_CORE_WORKER_SOCKET_CHANNEL_H_
#define MINIRAY_CORE_WORKER_SOCKET_CHANNEL_H_

#include <atomic>
#include <mutex>
#include <string>
#include <thread>

#include "core_worker/node_channel.h"

namespace miniray {

// Thread-safe: Send may be called from any thread.
class SocketChannel : public NodeChannel {
 public:
  // `address`: the node's abstract socket name; `kind`: how this client
  // registers (a task worker, or a driver bringing its `job`).
  SocketChannel(std::string address, rpc::ClientKind kind, rpc::JobConfig job = {})
      : address_(std::move(address)), kind_(kind), job_(std::move(job)) {}
  ~SocketChannel() override;

  StatusOr<Registration> Start(const WorkerID& worker_id, Receiver receiver) override;
  Status Send(rpc::ClientMessage&& message) override;
  void Close() override;
  bool connected() const override { return fd_ >= 0 && !closed_; }

 private:
  void ReceiveLoop(Receiver receiver);

  const std::string address_;
  const rpc::ClientKind kind_;
  const rpc::JobConfig job_;
  int fd_ = -1;
  std::thread receiver_;
  std::mutex send_mu_;  // one frame at a time on the socket
  std::atomic<bool> closed_{false};
};

}  // namespace miniray

#endif  // MINIRAY_CORE_WORKER_SOCKET_CHANNEL_H_
