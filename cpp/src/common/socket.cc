#include "common/socket.h"

#include <errno.h>
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

}  // namespace

StatusOr<int> ListenAbstract(const std::string& name) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket");
  sockaddr_un addr;
  socklen_t len = AbstractAddress(name, &addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      listen(fd, 128) != 0) {
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

bool PeerIsSameUser(int fd) {
  ucred cred;
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
  return cred.uid == getuid();
}

Status SendFrame(int fd, MessageType type, std::string_view payload,
                 int pass_fd) {
  char header[kFrameHeaderSize];
  EncodeFrameHeader(static_cast<uint32_t>(payload.size()), type, header);
  iovec iov[2] = {{header, kFrameHeaderSize},
                  {const_cast<char*>(payload.data()), payload.size()}};
  size_t total = kFrameHeaderSize + payload.size();
  size_t sent = 0;
  int iov_index = 0;
  while (sent < total) {
    msghdr msg;
    std::memset(&msg, 0, sizeof(msg));
    msg.msg_iov = iov + iov_index;
    msg.msg_iovlen = 2 - iov_index;
    char control[CMSG_SPACE(sizeof(int))];
    if (pass_fd >= 0 && sent == 0) {
      std::memset(control, 0, sizeof(control));
      msg.msg_control = control;
      msg.msg_controllen = sizeof(control);
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
    }
    ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        // Non-blocking peer buffer full: wait until writable.
        fd_set w;
        FD_ZERO(&w);
        FD_SET(fd, &w);
        select(fd + 1, nullptr, &w, nullptr, nullptr);
        continue;
      }
      return Errno("send");
    }
    sent += static_cast<size_t>(n);
    // Advance the iovecs past what was written.
    size_t left = static_cast<size_t>(n);
    while (left > 0 && iov_index < 2) {
      if (left >= iov[iov_index].iov_len) {
        left -= iov[iov_index].iov_len;
        iov[iov_index].iov_len = 0;
        ++iov_index;
      } else {
        iov[iov_index].iov_base = static_cast<char*>(iov[iov_index].iov_base) + left;
        iov[iov_index].iov_len -= left;
        left = 0;
      }
    }
    while (iov_index < 2 && iov[iov_index].iov_len == 0) ++iov_index;
  }
  return Status::OK();
}

static Status ReadExactly(int fd, char* out, size_t n, int* received_fd) {
  size_t got = 0;
  while (got < n) {
    iovec iov = {out + got, n - got};
    msghdr msg;
    std::memset(&msg, 0, sizeof(msg));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    char control[CMSG_SPACE(sizeof(int))];
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

Status RecvFrame(int fd, MessageType* type, std::string* payload,
                 int* received_fd) {
  if (received_fd) *received_fd = -1;
  char header[kFrameHeaderSize];
  MINIRAY_RETURN_IF_ERROR(ReadExactly(fd, header, kFrameHeaderSize, received_fd));
  uint32_t size;
  std::memcpy(&size, header, 4);
  *type = static_cast<MessageType>(header[4]);
  payload->resize(size);
  return ReadExactly(fd, payload->data(), size, nullptr);
}

Status FrameReader::ReadFrom(int fd) {
  if (start_ > 0 && start_ == buf_.size()) {
    buf_.clear();
    start_ = 0;
  }
  char chunk[64 * 1024];
  while (true) {
    ssize_t r = read(fd, chunk, sizeof(chunk));
    if (r > 0) {
      buf_.append(chunk, static_cast<size_t>(r));
      if (static_cast<size_t>(r) < sizeof(chunk)) return Status::OK();
      continue;
    }
    if (r == 0) return Status::Unavailable("connection closed");
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Status::OK();
    return Errno("read");
  }
}

bool FrameReader::Next(MessageType* type, std::string* payload) {
  size_t avail = buf_.size() - start_;
  if (avail < kFrameHeaderSize) {
    if (start_ > 0) {  // compact
      buf_.erase(0, start_);
      start_ = 0;
    }
    return false;
  }
  uint32_t size;
  std::memcpy(&size, buf_.data() + start_, 4);
  if (avail < kFrameHeaderSize + size) {
    if (start_ > 0) {
      buf_.erase(0, start_);
      start_ = 0;
    }
    return false;
  }
  *type = static_cast<MessageType>(buf_[start_ + 4]);
  payload->assign(buf_, start_ + kFrameHeaderSize, size);
  start_ += kFrameHeaderSize + size;
  return true;
}

}  // namespace miniray
