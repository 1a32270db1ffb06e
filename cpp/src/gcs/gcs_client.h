// GcsClient: the cluster's tables (the GCS, Ray's Global Control Store),
// kept in Redis through hiredis. Every node daemon reports its row (and the
// jobs, actors and exported functions it owns) with each heartbeat; the
// head decides which nodes are alive; drivers, the CLI and the state API
// read the tables. Any process with the cluster token can.
//
// Layout in Redis: one hash per table, a row per field, each value one
// serialized message of protobuf/gcs.proto:
//
//   miniray:nodes    node id (hex)  -> GcsNodeInfo
//   miniray:jobs     job id (hex)   -> JobTableData
//   miniray:actors   actor id (hex) -> ActorTableData
//   miniray:kv       key            -> value (exported functions, ...)
//
// The token is Redis's password: a client without it, or with a wrong
// one, is refused at Connect.
//
// Thread-safety: every method takes the client's mutex (one connection).
#ifndef MINIRAY_GCS_GCS_CLIENT_H_
#define MINIRAY_GCS_GCS_CLIENT_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/id.h"
#include "common/status.h"
#include "protobuf/gcs.pb.h"

struct redisContext;
struct redisReply;

namespace miniray {

class GcsClient {
 public:
  // Connects to Redis at host:port and authenticates with `token`.
  // Unavailable (naming the address) when nothing answers within
  // `timeout_ms`; PermissionDenied-like InvalidArgument for a wrong token.
  static StatusOr<std::unique_ptr<GcsClient>> Connect(const std::string& host, int port,
                                                      const std::string& token,
                                                      int timeout_ms = 3000);
  ~GcsClient();
  GcsClient(const GcsClient&) = delete;
  GcsClient& operator=(const GcsClient&) = delete;

  // Writes a node's report: its row (now alive, heartbeat now), and the
  // rows of its jobs, actors and new key-value entries, in one round trip.
  Status Report(const rpc::NodeSnapshot& snapshot);
  // Marks a node dead (its daemon stopped, or the head decided it is).
  Status MarkNodeDead(const NodeID& node, const std::string& reason, int64_t now_ms);

  StatusOr<std::vector<rpc::GcsNodeInfo>> GetAllNodes();
  StatusOr<std::vector<rpc::JobTableData>> GetAllJobs();
  StatusOr<std::vector<rpc::ActorTableData>> GetAllActors();
  StatusOr<std::optional<std::string>> KvGet(const std::string& key);
  Status KvPut(const std::string& key, const std::string& value);

  // The head's liveness decision: every node that is alive in the table
  // but has not reported for `timeout_ms` is marked dead. Returns them.
  StatusOr<std::vector<NodeID>> MarkSilentNodesDead(int64_t now_ms, int64_t timeout_ms);

  const std::string& address() const { return address_; }

 private:
  struct ReplyDeleter {
    void operator()(redisReply* r) const;
  };
  using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

  GcsClient(redisContext* context, std::string address);
  // Runs commands (arguments binary-safe) in one round trip, with mu_ held;
  // an error reply is a non-OK status.
  StatusOr<std::vector<Reply>> RunLocked(const std::vector<std::vector<std::string>>& commands);
  StatusOr<std::vector<Reply>> Run(const std::vector<std::vector<std::string>>& commands);
  // Every value of a table's hash, parsed as M.
  template <typename M>
  StatusOr<std::vector<M>> ReadTable(const std::string& table);

  std::mutex mu_;
  redisContext* context_;  // guarded by mu_
  const std::string address_;
  // The report script's SHA1 in Redis's script cache (SCRIPT LOAD at
  // connect): each report then sends EVALSHA and 40 bytes, not the script.
  std::string report_sha_;
};

// Milliseconds since the epoch (the tables' clock).
int64_t NowMs();

}  // namespace miniray

#endif  // MINIRAY_GCS_GCS_CLIENT_H_
