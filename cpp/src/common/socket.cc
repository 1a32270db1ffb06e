#include "common/socket.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

namespace miniray {
namespace {

socklen_t AbstractAddress(const std::string& name, sockaddr_un* addr) {
  std::memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  size_t n = std::min(name.size(), sizeof(addr->sun_path) - 1);
  std::memcpy(addr->sun_path + 1, name.data(), n);  // sun_path[0] = '\0'
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + n);
}

Status Errno(const char* what) {
  return Status::Unavailable(std::string(what) + ": " + strerror(errno));
}

// Reads exactly `n` bytes (blocking), collecting a passed fd if asked.
Status ReadExactly(int fd, char* out, size_t n, int* received_fd) {
  size_t got = 0;
  while (got < n) {
    iovec iov = {out + got, n - got};
    msghdr msg;
    std::memset(&msg, 0, sizeof(msg));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    if (received_fd) {
      msg.msg_control = control;
      msg.msg_controllen = sizeof(control);
    }
    ssize_t r = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    if (r < 0) {
      if (errno == EINTR) continue;
      return Errno("recv");
    }
    if (r == 0) return Status::Unavailable("connection closed");
    if (received_fd) {
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
          std::memcpy(received_fd, CMSG_DATA(c), sizeof(int));
        }
      }
    }
    got += static_cast<size_t>(r);
  }
  return Status::OK();
}

}  // namespace

StatusOr<int> ListenAbstract(const std::string& name) {
  // Non-blocking: the event loop accepts until the backlog is empty.
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Errno("socket");
  sockaddr_un addr;
  socklen_t len = AbstractAddress(name, &addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(fd, 128) != 0) {
    Status s = Errno("bind/listen");
    close(fd);
    return s;
  }
  return fd;
}

StatusOr<int> ConnectAbstract(const std::string& name) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket");
  sockaddr_un addr;
  socklen_t len = AbstractAddress(name, &addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    Status s = Errno("connect");
    close(fd);
    return s;
  }
  return fd;
}

StatusOr<PeerCredentials> GetPeerCredentials(int fd) {
  ucred cred;
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return Errno("SO_PEERCRED");
  }
  return PeerCredentials{cred.pid, cred.uid};
}

void AttachFd(msghdr* msg, FdControl* control, int fd) {
  std::memset(control->bytes, 0, sizeof(control->bytes));
  msg->msg_control = control->bytes;
  msg->msg_controllen = sizeof(control->bytes);
  cmsghdr* c = CMSG_FIRSTHDR(msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
}

void EncodeFrameHeader(uint32_t payload_size, char* out) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>((payload_size >> (8 * i)) & 0xff);
}

uint32_t DecodeFrameHeader(const char* in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(in[i])) << (8 * i);
  return v;
}

std::string SerializeFrame(const google::protobuf::MessageLite& message) {
  size_t size = message.ByteSizeLong();
  std::string frame(kFrameHeaderSize + size, '\0');
  EncodeFrameHeader(static_cast<uint32_t>(size), frame.data());
  message.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(frame.data()) +
                                          kFrameHeaderSize);
  return frame;
}

Status SendFrame(int fd, const google::protobuf::MessageLite& message, int pass_fd) {
  std::string frame = SerializeFrame(message);
  size_t sent = 0;
  while (sent < frame.size()) {
    iovec iov = {frame.data() + sent, frame.size() - sent};
    msghdr msg;
    std::memset(&msg, 0, sizeof(msg));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    FdControl control;
    if (pass_fd >= 0 && sent == 0) AttachFd(&msg, &control, pass_fd);
    ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {  // a non-blocking socket that is full: wait
        pollfd p{fd, POLLOUT, 0};
        (void)poll(&p, 1, -1);
        continue;
      }
      return Errno("send");
    }
    sent += static_cast<size_t>(n);
  }
  return Status::OK();
}

Status RecvFrame(int fd, google::protobuf::MessageLite* message, int* received_fd) {
  if (received_fd) *received_fd = -1;
  char header[kFrameHeaderSize];
  MINIRAY_RETURN_IF_ERROR(ReadExactly(fd, header, kFrameHeaderSize, received_fd));
  uint32_t size = DecodeFrameHeader(header);
  std::string payload(size, '\0');
  MINIRAY_RETURN_IF_ERROR(ReadExactly(fd, payload.data(), size, nullptr));
  if (!message->ParseFromString(payload)) return Status::InvalidArgument("malformed message");
  return Status::OK();
}

Status FrameReader::ReadFrom(int fd) {
  if (start_ > 0) {  // drop consumed frames before reading more
    buf_.erase(0, start_);
    checked_ -= start_;
    start_ = 0;
  }
  char chunk[64 * 1024];
  while (true) {
    ssize_t r = read(fd, chunk, sizeof(chunk));
    if (r > 0) {
      buf_.append(chunk, static_cast<size_t>(r));
      // Check each new frame's announced length before buffering its body.
      while (buf_.size() - checked_ >= kFrameHeaderSize) {
        uint32_t size = DecodeFrameHeader(buf_.data() + checked_);
        if (size > max_frame_bytes_) {
          return Status::InvalidArgument("a frame announced " + std::to_string(size) +
                                         " bytes, over the limit of " +
                                         std::to_string(max_frame_bytes_));
        }
        if (buf_.size() - checked_ < kFrameHeaderSize + size) break;
        checked_ += kFrameHeaderSize + size;
      }
      if (static_cast<size_t>(r) < sizeof(chunk)) return Status::OK();
      continue;
    }
    if (r == 0) return Status::Unavailable("connection closed");
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Status::OK();
    return Errno("read");
  }
}

bool FrameReader::Next(std::string_view* payload) {
  size_t avail = buf_.size() - start_;
  if (avail < kFrameHeaderSize) return false;
  uint32_t size = DecodeFrameHeader(buf_.data() + start_);
  if (size > max_frame_bytes_) return false;  // ReadFrom reports it
  if (avail < kFrameHeaderSize + size) return false;
  *payload = std::string_view(buf_.data() + start_ + kFrameHeaderSize, size);
  start_ += kFrameHeaderSize + size;
  return true;
}

}  // namespace miniray
