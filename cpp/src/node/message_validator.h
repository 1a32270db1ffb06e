// ValidateClientMessage: what every message from a client must satisfy
// before the node acts on it, checked in one place, right after decoding.
//
//   - the message is one the sender's role may send (a socket client must
//     register first, and only once; only task workers report results);
//   - IDs have their exact sizes, and are not nil where one is required;
//   - numbers are in range: counts (num_returns), retries, resource amounts
//     (finite, not negative, not absurd), object sizes;
//   - shapes hold: an actor creation is flagged as one, a submitted task is
//     a plain task or an actor call, a put carries inline bytes.
//
// Strings are valid UTF-8: protobuf refuses to parse proto3 strings that
// are not. Checks that need the node's state (a task id already in use, a
// result from a worker not running that task, a seal of an object the
// client did not create) are made by the handlers, before they change
// anything. A message that fails closes its client's connection.
#ifndef MINIRAY_NODE_MESSAGE_VALIDATOR_H_
#define MINIRAY_NODE_MESSAGE_VALIDATOR_H_

#include <cstdint>

#include "common/status.h"
#include "protobuf/node.pb.h"

namespace miniray {

// Bounds on what one message may ask for.
constexpr uint32_t kMaxNumReturns = 100000;
constexpr double kMaxResourceAmount = 1e15;

// Who sent a message.
struct ClientRole {
  bool in_process = false;  // the embedded driver
  bool registered = false;  // socket clients register first
  rpc::ClientKind kind = rpc::DRIVER;
};

// OK, or InvalidArgument saying what is wrong.
Status ValidateClientMessage(const rpc::ClientMessage& message, const ClientRole& role);

// The checks on a TaskSpec alone (also used for actor creation tasks).
Status ValidateTaskSpec(const rpc::TaskSpec& spec);

}  // namespace miniray

#endif  // MINIRAY_NODE_MESSAGE_VALIDATOR_H_
