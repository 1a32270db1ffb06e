#include "core_worker/socket_channel.h"

#include <sys/socket.h>
#include <unistd.h>

#include <limits>
#include <string_view>

#include "common/socket.h"

namespace miniray {

SocketChannel::~SocketChannel() {
  Close();
  if (fd_ >= 0) close(fd_);
}

StatusOr<NodeChannel::Registration> SocketChannel::Start(const WorkerID& worker_id,
                                                         Receiver receiver) {
  auto fd = ConnectAbstract(address_);
  if (!fd.ok()) {
    return Status::Unavailable("cannot reach the miniray node at '" + address_ +
                               "': " + fd.status().message());
  }
  fd_ = *fd;
  rpc::ClientMessage reg;
  reg.mutable_register_client()->set_worker_id(worker_id.Binary());
  reg.mutable_register_client()->set_kind(kind_);
  if (kind_ == rpc::DRIVER) *reg.mutable_register_client()->mutable_job_config() = job_;
  MINIRAY_RETURN_IF_ERROR(SendFrame(fd_, reg));
  // The reply carries the arena's fd; read it before the receiver starts.
  rpc::NodeMessage reply;
  int arena_fd = -1;
  MINIRAY_RETURN_IF_ERROR(RecvFrame(fd_, &reply, &arena_fd));
  if (!reply.has_register_reply() || arena_fd < 0) {
    if (arena_fd >= 0) close(arena_fd);
    return Status::Internal("bad registration reply from the node");
  }
  auto arena = Arena::Map(arena_fd, reply.register_reply().arena_size());
  if (!arena.ok()) return arena.status();
  Registration r{NodeID::FromBinary(reply.register_reply().node_id()),
                 JobID::FromBinary(reply.register_reply().job_id()), std::move(arena).value()};
  receiver_ = std::thread([this, receiver = std::move(receiver)] { ReceiveLoop(receiver); });
  return r;
}

void SocketChannel::ReceiveLoop(Receiver receiver) {
  // One read per wake-up, however many frames it brings (rather than a
  // header read and a body read per frame). The node is trusted: its
  // frames have no size limit but the frame format's.
  FrameReader reader(std::numeric_limits<uint32_t>::max());
  rpc::NodeMessage m;
  std::string_view payload;
  bool ok = true;
  while (ok && reader.ReadFrom(fd_).ok()) {
    while (reader.Next(&payload)) {
      if (!m.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
        ok = false;  // not the node's protocol: treat as gone
        break;
      }
      receiver(std::move(m));
      m.Clear();
    }
  }
  closed_ = true;
  receiver(rpc::NodeMessage());  // no body: the node is gone
}

Status SocketChannel::Send(rpc::ClientMessage&& message) {
  if (!connected()) return Status::Unavailable("not connected to the miniray node");
  std::lock_guard<std::mutex> lock(send_mu_);
  return SendFrame(fd_, message);
}

void SocketChannel::Close() {
  closed_ = true;
  if (fd_ >= 0) shutdown(fd_, SHUT_RDWR);  // wakes the receiver
  if (receiver_.joinable() && receiver_.get_id() != std::this_thread::get_id()) {
    receiver_.join();
  }
}

}  // namespace miniray
