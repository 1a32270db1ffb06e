// Every message of the node protocol survives a trip through a frame: each
// body of ClientMessage and NodeMessage, with every field (recursively) set
// to a value that is not its default.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/message_differencer.h>

#include "common/socket.h"
#include "protobuf/node.pb.h"

namespace miniray {
namespace {

namespace pb = google::protobuf;

// Sets every field of `m` to a non-default value (one element per list,
// one entry per map, one member per oneof: the last one set).
void Fill(pb::Message* m, int depth) {
  const pb::Descriptor* d = m->GetDescriptor();
  const pb::Reflection* r = m->GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const pb::FieldDescriptor* f = d->field(i);
    bool rep = f->is_repeated();
    switch (f->cpp_type()) {
      case pb::FieldDescriptor::CPPTYPE_INT32:
        rep ? r->AddInt32(m, f, -7 - i) : r->SetInt32(m, f, -7 - i);
        break;
      case pb::FieldDescriptor::CPPTYPE_INT64:
        rep ? r->AddInt64(m, f, -(1ll << 40) - i) : r->SetInt64(m, f, -(1ll << 40) - i);
        break;
      case pb::FieldDescriptor::CPPTYPE_UINT32:
        rep ? r->AddUInt32(m, f, 0xfffffff0u + i) : r->SetUInt32(m, f, 0xfffffff0u + i);
        break;
      case pb::FieldDescriptor::CPPTYPE_UINT64:
        rep ? r->AddUInt64(m, f, (1ull << 63) + i) : r->SetUInt64(m, f, (1ull << 63) + i);
        break;
      case pb::FieldDescriptor::CPPTYPE_DOUBLE:
        rep ? r->AddDouble(m, f, 0.25 + i) : r->SetDouble(m, f, 0.25 + i);
        break;
      case pb::FieldDescriptor::CPPTYPE_FLOAT:
        rep ? r->AddFloat(m, f, 0.5f + i) : r->SetFloat(m, f, 0.5f + i);
        break;
      case pb::FieldDescriptor::CPPTYPE_BOOL:
        rep ? r->AddBool(m, f, true) : r->SetBool(m, f, true);
        break;
      case pb::FieldDescriptor::CPPTYPE_ENUM: {
        const pb::EnumValueDescriptor* v = f->enum_type()->value(f->enum_type()->value_count() - 1);
        rep ? r->AddEnum(m, f, v) : r->SetEnum(m, f, v);
        break;
      }
      case pb::FieldDescriptor::CPPTYPE_STRING: {
        std::string s = f->name() + std::string("\0\xff", 2);
        if (f->type() == pb::FieldDescriptor::TYPE_STRING) s = f->name() + " \xc3\xa9";
        rep ? r->AddString(m, f, s) : r->SetString(m, f, s);
        break;
      }
      case pb::FieldDescriptor::CPPTYPE_MESSAGE:
        if (depth > 0) Fill(rep ? r->AddMessage(m, f) : r->MutableMessage(m, f), depth - 1);
        break;
    }
  }
}

// Serializes `m` into a frame, sends it over a socket and reads it back.
template <typename Envelope>
void ExpectRoundTrip(const Envelope& m) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  std::string frame = SerializeFrame(m);
  ASSERT_EQ(write(sv[0], frame.data(), frame.size()), static_cast<ssize_t>(frame.size()));
  FrameReader reader(1u << 30);
  ASSERT_TRUE(reader.ReadFrom(sv[1]).ok());
  std::string_view payload;
  ASSERT_TRUE(reader.Next(&payload));
  Envelope back;
  ASSERT_TRUE(back.ParseFromArray(payload.data(), static_cast<int>(payload.size())));
  EXPECT_TRUE(pb::util::MessageDifferencer::Equals(m, back))
      << "before: " << m.ShortDebugString() << "\nafter: " << back.ShortDebugString();
  close(sv[0]);
  close(sv[1]);
}

template <typename Envelope>
int RoundTripEveryBody() {
  const pb::OneofDescriptor* body = Envelope::descriptor()->FindOneofByName("body");
  for (int i = 0; i < body->field_count(); ++i) {
    Envelope m;
    m.set_request_id(1ull << 50);
    const pb::FieldDescriptor* f = body->field(i);
    Fill(m.GetReflection()->MutableMessage(&m, f), 4);
    SCOPED_TRACE(f->name());
    ExpectRoundTrip(m);
  }
  return body->field_count();
}

TEST(NodeProtoTest, EveryClientMessageRoundTripsThroughAFrame) {
  EXPECT_EQ(RoundTripEveryBody<rpc::ClientMessage>(), 24);
}

TEST(NodeProtoTest, EveryNodeMessageRoundTripsThroughAFrame) {
  EXPECT_EQ(RoundTripEveryBody<rpc::NodeMessage>(), 12);
}

TEST(NodeProtoTest, ConfigRoundTrips) {
  rpc::NodeConfig config;
  Fill(&config, 2);
  ExpectRoundTrip(config);
}

}  // namespace
}  // namespace miniray
