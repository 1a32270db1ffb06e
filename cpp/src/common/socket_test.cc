#include "common/socket.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "protobuf/node.pb.h"

namespace miniray {
namespace {

TEST(SocketTest, FramesRoundTripWithAPassedFd) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  rpc::NodeMessage sent;
  sent.set_request_id(7);
  sent.mutable_register_reply()->set_arena_size(4096);
  ASSERT_TRUE(SendFrame(sv[0], sent, pipefd[1]).ok());
  rpc::NodeMessage got;
  int fd = -1;
  ASSERT_TRUE(RecvFrame(sv[1], &got, &fd).ok());
  EXPECT_EQ(got.request_id(), 7u);
  EXPECT_EQ(got.register_reply().arena_size(), 4096u);
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

TEST(SocketTest, FrameHeaderIsLittleEndian) {
  char header[kFrameHeaderSize];
  EncodeFrameHeader(0x01020304u, header);
  EXPECT_EQ(header[0], 0x04);
  EXPECT_EQ(header[3], 0x01);
  EXPECT_EQ(DecodeFrameHeader(header), 0x01020304u);
}

TEST(SocketTest, FrameReaderSplitsAStream) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  rpc::ClientMessage small;
  small.mutable_kv_get()->set_key("a");
  ASSERT_TRUE(SendFrame(sv[0], small).ok());
  FrameReader reader;
  std::string_view payload;
  ASSERT_TRUE(reader.ReadFrom(sv[1]).ok());
  ASSERT_TRUE(reader.Next(&payload));
  rpc::ClientMessage back;
  ASSERT_TRUE(back.ParseFromArray(payload.data(), static_cast<int>(payload.size())));
  EXPECT_EQ(back.kv_get().key(), "a");
  EXPECT_FALSE(reader.Next(&payload));
  // A frame larger than the socket buffer arrives in pieces.
  rpc::ClientMessage big;
  big.mutable_kv_put()->set_value(std::string(200000, 'b'));
  std::thread writer([&] { ASSERT_TRUE(SendFrame(sv[0], big).ok()); });
  bool got = false;
  while (!got) {
    ASSERT_TRUE(reader.ReadFrom(sv[1]).ok());
    got = reader.Next(&payload);
  }
  writer.join();
  ASSERT_TRUE(back.ParseFromArray(payload.data(), static_cast<int>(payload.size())));
  EXPECT_EQ(back.kv_put().value().size(), 200000u);
  close(sv[0]);
  EXPECT_FALSE(reader.ReadFrom(sv[1]).ok());  // EOF
  close(sv[1]);
}

TEST(SocketTest, FrameReaderRefusesAnOversizedLengthBeforeBufferingIt) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  FrameReader reader(1024);
  rpc::ClientMessage ok;
  ok.mutable_kv_get()->set_key("k");
  std::string bytes = SerializeFrame(ok);
  char header[kFrameHeaderSize];
  EncodeFrameHeader(1u << 30, header);
  bytes.append(header, kFrameHeaderSize);
  ASSERT_EQ(write(sv[0], bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  Status s = reader.ReadFrom(sv[1]);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  close(sv[0]);
  close(sv[1]);
}

TEST(SocketTest, AbstractListenConnectReportsPeerCredentials) {
  std::string name = "miniray-test-" + std::to_string(getpid());
  auto lfd = ListenAbstract(name);
  ASSERT_TRUE(lfd.ok());
  auto cfd = ConnectAbstract(name);
  ASSERT_TRUE(cfd.ok());
  int sfd = accept4(*lfd, nullptr, nullptr, 0);
  ASSERT_GE(sfd, 0);
  auto cred = GetPeerCredentials(sfd);
  ASSERT_TRUE(cred.ok());
  EXPECT_EQ(cred->pid, getpid());
  EXPECT_EQ(cred->uid, getuid());
  EXPECT_FALSE(ConnectAbstract(name + "-missing").ok());
  close(sfd);
  close(*cfd);
  close(*lfd);
}

}  // namespace
}  // namespace miniray
