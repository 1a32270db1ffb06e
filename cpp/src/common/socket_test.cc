#include "common/socket.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

namespace miniray {
namespace {

TEST(SocketTest, FramesRoundTripWithAPassedFd) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  ASSERT_TRUE(SendFrame(sv[0], MessageType::kRegisterReply, "hello", pipefd[1]).ok());
  MessageType type;
  std::string payload;
  int fd = -1;
  ASSERT_TRUE(RecvFrame(sv[1], &type, &payload, &fd).ok());
  EXPECT_EQ(type, MessageType::kRegisterReply);
  EXPECT_EQ(payload, "hello");
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "x", 1), 1);  // the received fd is the pipe's write end
  char c = 0;
  ASSERT_EQ(read(pipefd[0], &c, 1), 1);
  EXPECT_EQ(c, 'x');
  close(fd);
  close(pipefd[0]);
  close(pipefd[1]);
  close(sv[0]);
  close(sv[1]);
}

TEST(SocketTest, FrameReaderSplitsAStream) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  std::string big(200000, 'b');
  ASSERT_TRUE(SendFrame(sv[0], MessageType::kPut, "a").ok());
  FrameReader reader;
  MessageType type;
  std::string payload;
  ASSERT_TRUE(reader.ReadFrom(sv[1]).ok());
  ASSERT_TRUE(reader.Next(&type, &payload));
  EXPECT_EQ(payload, "a");
  EXPECT_FALSE(reader.Next(&type, &payload));
  // A frame larger than the socket buffer arrives in pieces.
  std::thread writer([&] { ASSERT_TRUE(SendFrame(sv[0], MessageType::kPut, big).ok()); });
  bool got = false;
  while (!got) {
    ASSERT_TRUE(reader.ReadFrom(sv[1]).ok());
    got = reader.Next(&type, &payload);
  }
  writer.join();
  EXPECT_EQ(payload, big);
  close(sv[0]);
  EXPECT_FALSE(reader.ReadFrom(sv[1]).ok());  // EOF
  close(sv[1]);
}

TEST(SocketTest, AbstractListenConnectChecksPeer) {
  std::string name = "miniray-test-" + std::to_string(getpid());
  auto lfd = ListenAbstract(name);
  ASSERT_TRUE(lfd.ok());
  auto cfd = ConnectAbstract(name);
  ASSERT_TRUE(cfd.ok());
  int sfd = accept(*lfd, nullptr, nullptr);
  ASSERT_GE(sfd, 0);
  EXPECT_TRUE(PeerIsSameUser(sfd));
  EXPECT_FALSE(ConnectAbstract(name + "-missing").ok());
  close(sfd);
  close(*cfd);
  close(*lfd);
}

}  // namespace
}  // namespace miniray
