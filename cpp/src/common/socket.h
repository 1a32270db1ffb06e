// Unix-domain socket helpers shared by the node runtime (server) and the
// CoreWorker (client): abstract-namespace listen/connect with a peer-uid
// check, framed messages (see message.h), and passing the arena's fd.
//
// Abstract sockets (a name starting with NUL) leave no file behind when a
// process dies and have no 107-byte path problem in deep test directories;
// since any local process can reach one, the server checks SO_PEERCRED.
#ifndef MINIRAY_COMMON_SOCKET_H_
#define MINIRAY_COMMON_SOCKET_H_

#include <string>
#include <string_view>

#include "common/message.h"
#include "common/status.h"

namespace miniray {

// Listens on the abstract socket `name` (without the leading NUL).
StatusOr<int> ListenAbstract(const std::string& name);
// Connects to the abstract socket `name`.
StatusOr<int> ConnectAbstract(const std::string& name);
// True when the peer of `fd` runs as the same uid as this process.
bool PeerIsSameUser(int fd);

// Writes one frame (header and payload) with a single writev, retrying on
// short writes. If `pass_fd` >= 0 it travels with the frame (SCM_RIGHTS).
Status SendFrame(int fd, MessageType type, std::string_view payload,
                 int pass_fd = -1);
// Blocking read of exactly one frame. If `received_fd` is non-null, a file
// descriptor sent with the frame is stored there (else -1).
Status RecvFrame(int fd, MessageType* type, std::string* payload,
                 int* received_fd = nullptr);

// Accumulates bytes from a non-blocking stream and cuts them into frames.
class FrameReader {
 public:
  // Reads what is available from `fd`. Returns Unavailable on EOF or error.
  Status ReadFrom(int fd);
  // Takes the next complete frame; false when none is buffered.
  bool Next(MessageType* type, std::string* payload);

 private:
  std::string buf_;
  size_t start_ = 0;
};

}  // namespace miniray

#endif  // MINIRAY_COMMON_SOCKET_H_
