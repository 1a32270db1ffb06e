// NodeChannel: how a CoreWorker reaches its node, whatever carries the
// messages. Worker processes and attached drivers use the node's Unix
// socket (SocketChannel); the embedded driver calls the node in its own
// process (node/local_channel.h). The CoreWorker depends on this interface
// only, so the client does not link the server.
#ifndef MINIRAY_CORE_WORKER_NODE_CHANNEL_H_
#define MINIRAY_CORE_WORKER_NODE_CHANNEL_H_

#include <functional>
#include <memory>

#include "common/id.h"
#include "common/status.h"
#include "object_store/arena.h"
#include "protobuf/node.pb.h"

namespace miniray {

class NodeChannel {
 public:
  // Receives each message the node sends this client, in order.
  using Receiver = std::function<void(rpc::NodeMessage&&)>;
  // What the node told the client when it connected.
  struct Registration {
    NodeID node_id;
    JobID job_id;                  // the job this client belongs to
    std::shared_ptr<Arena> arena;  // the node's shared memory, mapped here
  };

  virtual ~NodeChannel() = default;
  // Connects, registers as `worker_id`, and from then on hands the node's
  // messages to `receiver` (on a thread of the channel's, or from inside
  // the node). Called once.
  virtual StatusOr<Registration> Start(const WorkerID& worker_id, Receiver receiver) = 0;
  // Sends one message; Unavailable once the node is gone or after Close.
  virtual Status Send(rpc::ClientMessage&& message) = 0;
  // Disconnects. No message is delivered after Close returns.
  virtual void Close() = 0;
  // False once the node went away (or after Close).
  virtual bool connected() const = 0;
};

}  // namespace miniray

#endif  // MINIRAY_CORE_WORKER_NODE_CHANNEL_H_
