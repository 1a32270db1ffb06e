// Unix-domain socket helpers shared by the node runtime (server) and the
// clients' channels: abstract-namespace listen/connect, the peer's
// credentials, frames, and passing the arena's fd.
//
// A frame is [u32 payload length, little endian][payload], and the payload
// is one serialized protobuf message (protobuf/node.proto). The node refuses
// client frames longer than kMaxClientFrameBytes.
//
// Abstract sockets (a name starting with NUL) leave no file behind when a
// process dies and have no 107-byte path problem in deep test directories;
// since any local process can reach one, the server checks SO_PEERCRED.
#ifndef MINIRAY_COMMON_SOCKET_H_
#define MINIRAY_COMMON_SOCKET_H_

#include <sys/socket.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include <google/protobuf/message_lite.h>

#include "common/status.h"

namespace miniray {

constexpr size_t kFrameHeaderSize = 4;
// Far above any message a client sends (values over 100 KiB travel in
// shared memory), small enough that a hostile length cannot grow the
// node's buffers without bound. The node's replies (a Get of many inline
// values) may be larger; clients accept any length.
constexpr uint32_t kMaxClientFrameBytes = 64u << 20;

// Listens on the abstract socket `name` (without the leading NUL); the
// listening socket is non-blocking.
StatusOr<int> ListenAbstract(const std::string& name);
// Connects to the abstract socket `name`.
StatusOr<int> ConnectAbstract(const std::string& name);

// Who is at the other end of a Unix socket (SO_PEERCRED): set by the
// kernel when the peer connected, so a client cannot lie about it.
struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
};
StatusOr<PeerCredentials> GetPeerCredentials(int fd);

// Room for one passed file descriptor in a message's control data.
struct FdControl {
  alignas(cmsghdr) char bytes[CMSG_SPACE(sizeof(int))];
};
// Makes `msg` carry `fd` (SCM_RIGHTS) in `control`, which must outlive the
// sendmsg call.
void AttachFd(msghdr* msg, FdControl* control, int fd);

// The 4-byte little-endian length header of a frame.
void EncodeFrameHeader(uint32_t payload_size, char* out);
uint32_t DecodeFrameHeader(const char* in);
// Header plus serialized `message`: one whole frame.
std::string SerializeFrame(const google::protobuf::MessageLite& message);

// Blocking write of a whole frame, retrying on short writes (clients; the
// node never blocks on a socket). `pass_fd` >= 0 travels with it.
Status SendFrame(int fd, const google::protobuf::MessageLite& message, int pass_fd = -1);
// Blocking read of exactly one frame into `message`. If `received_fd` is
// non-null, a file descriptor sent with the frame is stored there (else -1).
Status RecvFrame(int fd, google::protobuf::MessageLite* message, int* received_fd = nullptr);

// Accumulates bytes from a non-blocking stream and cuts them into frames.
class FrameReader {
 public:
  explicit FrameReader(uint32_t max_frame_bytes = kMaxClientFrameBytes)
      : max_frame_bytes_(max_frame_bytes) {}
  // Reads what is available from `fd`. Unavailable on EOF or error;
  // InvalidArgument when a frame announces more than the limit.
  Status ReadFrom(int fd);
  // The next complete frame's payload; false when none is buffered.
  bool Next(std::string_view* payload);

 private:
  const uint32_t max_frame_bytes_;
  std::string buf_;
  size_t start_ = 0;    // bytes before start_ were consumed by Next
  size_t checked_ = 0;  // frame headers before checked_ are within the limit
};

}  // namespace miniray

#endif  // MINIRAY_COMMON_SOCKET_H_
