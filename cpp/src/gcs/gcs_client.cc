#include "gcs/gcs_client.h"

#include <hiredis/hiredis.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

namespace miniray {

namespace {
constexpr char kNodes[] = "miniray:nodes";
constexpr char kJobs[] = "miniray:jobs";
constexpr char kActors[] = "miniray:actors";
constexpr char kKv[] = "miniray:kv";
constexpr char kDeadNodes[] = "miniray:dead_nodes";  // a set: never alive again
// A sorted set: each live node's last report time (ms), so the liveness
// check reads only the silent ones, not the whole node table.
constexpr char kHeartbeats[] = "miniray:heartbeats";

// Writes a node's row and its heartbeat unless the node was declared dead:
// a node the head gave up on (a partition, a stall) must not come back by
// reporting.
constexpr char kReportNode[] = R"lua(
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
return 1
)lua";
}  // namespace

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void GcsClient::ReplyDeleter::operator()(redisReply* r) const {
  if (r) freeReplyObject(r);
}

StatusOr<std::unique_ptr<GcsClient>> GcsClient::Connect(const std::string& host, int port,
                                                        const std::string& token,
                                                        int timeout_ms) {
  std::string address = host + ":" + std::to_string(port);
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  redisContext* c = redisConnectWithTimeout(host.c_str(), port, tv);
  if (!c || c->err) {
    std::string why = c ? c->errstr : "out of memory";
    if (c) redisFree(c);
    return Status::Unavailable("cannot reach the miniray cluster (GCS) at " + address + ": " +
                               why);
  }
  redisSetTimeout(c, tv);  // no call waits for ever on a dead Redis
  std::unique_ptr<GcsClient> client(new GcsClient(c, address));
  auto auth = client->Run({{"AUTH", token}});
  if (!auth.ok()) {
    if (auth.status().code() == StatusCode::kInvalidArgument) {
      return Status::InvalidArgument("the miniray cluster at " + address +
                                     " refused the token: " + auth.status().message());
    }
    return auth.status();
  }
  auto sha = client->Run({{"SCRIPT", "LOAD", kReportNode}});
  if (!sha.ok()) return sha.status();
  const redisReply* r = (*sha)[0].get();
  if (r->type == REDIS_REPLY_STRING) client->report_sha_.assign(r->str, r->len);
  return client;
}

GcsClient::GcsClient(redisContext* context, std::string address)
    : context_(context), address_(std::move(address)) {}

GcsClient::~GcsClient() { redisFree(context_); }

StatusOr<std::vector<GcsClient::Reply>> GcsClient::Run(
    const std::vector<std::vector<std::string>>& commands) {
  std::lock_guard<std::mutex> lock(mu_);
  return RunLocked(commands);
}

StatusOr<std::vector<GcsClient::Reply>> GcsClient::RunLocked(
    const std::vector<std::vector<std::string>>& commands) {
  for (const auto& args : commands) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    if (redisAppendCommandArgv(context_, static_cast<int>(argv.size()), argv.data(),
                               lens.data()) != REDIS_OK) {
      return Status::Internal("cannot queue a Redis command");
    }
  }
  std::vector<Reply> replies;
  Status first_error;
  for (size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(context_, &raw) != REDIS_OK || !raw) {
      return Status::Unavailable("lost the miniray cluster (GCS) at " + address_ + ": " +
                                 context_->errstr);
    }
    Reply reply(static_cast<redisReply*>(raw));
    if (reply->type == REDIS_REPLY_ERROR && first_error.ok()) {
      first_error = Status::InvalidArgument(std::string(reply->str, reply->len));
    }
    replies.push_back(std::move(reply));
  }
  if (!first_error.ok()) return first_error;
  return replies;
}

template <typename M>
StatusOr<std::vector<M>> GcsClient::ReadTable(const std::string& table) {
  auto replies = Run({{"HVALS", table}});
  if (!replies.ok()) return replies.status();
  const redisReply* r = (*replies)[0].get();
  std::vector<M> rows;
  if (r->type != REDIS_REPLY_ARRAY) return rows;
  for (size_t i = 0; i < r->elements; ++i) {
    M row;
    const redisReply* e = r->element[i];
    if (e->type == REDIS_REPLY_STRING && row.ParseFromArray(e->str, static_cast<int>(e->len))) {
      rows.push_back(std::move(row));
    }
  }
  return rows;
}

Status GcsClient::Report(const rpc::NodeSnapshot& snapshot) {
  rpc::GcsNodeInfo node = snapshot.node();
  node.set_alive(true);
  node.set_last_heartbeat_ms(NowMs());
  std::vector<std::vector<std::string>> commands;
  // EVALSHA: the script from Redis's cache (EVAL sends it, if Redis lost it).
  const bool cached = !report_sha_.empty();
  commands.push_back({cached ? "EVALSHA" : "EVAL", cached ? report_sha_ : kReportNode, "3",
                      kNodes, kDeadNodes, kHeartbeats, NodeID::FromBinary(node.node_id()).Hex(),
                      node.SerializeAsString(), std::to_string(node.last_heartbeat_ms())});
  // A job's id is its node's counter: keyed by node and job, so that the
  // jobs of different nodes with the same number keep rows of their own.
  const std::string node_hex = NodeID::FromBinary(node.node_id()).Hex();
  for (const auto& job : snapshot.jobs()) {
    commands.push_back({"HSET", kJobs, node_hex + ":" + JobID::FromBinary(job.job_id()).Hex(),
                        job.SerializeAsString()});
  }
  for (const auto& actor : snapshot.actors()) {
    commands.push_back(
        {"HSET", kActors, ActorID::FromBinary(actor.actor_id()).Hex(), actor.SerializeAsString()});
  }
  for (const auto& kv : snapshot.kv()) commands.push_back({"HSET", kKv, kv.key(), kv.value()});
  auto replies = Run(commands);
  if (!replies.ok() && cached && replies.status().message().rfind("NOSCRIPT", 0) == 0) {
    // Redis restarted or flushed its script cache: send the script itself.
    commands[0][0] = "EVAL";
    commands[0][1] = kReportNode;
    replies = Run(commands);
  }
  if (!replies.ok()) return replies.status();
  const redisReply* r = (*replies)[0].get();
  if (r->type == REDIS_REPLY_INTEGER && r->integer == 0) {
    return Status::FailedPrecondition("the cluster declared this node dead");
  }
  return Status::OK();
}

Status GcsClient::MarkNodeDead(const NodeID& node, const std::string& reason, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  auto got = RunLocked({{"HGET", kNodes, node.Hex()}});
  if (!got.ok()) return got.status();
  const redisReply* r = (*got)[0].get();
  rpc::GcsNodeInfo info;
  if (r->type != REDIS_REPLY_STRING || !info.ParseFromArray(r->str, static_cast<int>(r->len))) {
    return Status::NotFound("no node " + node.Hex() + " in the GCS");
  }
  info.set_alive(false);
  info.set_end_time_ms(now_ms);
  info.set_death_reason(reason);
  return RunLocked({{"SADD", kDeadNodes, node.Hex()},
                    {"HSET", kNodes, node.Hex(), info.SerializeAsString()},
                    {"ZREM", kHeartbeats, node.Hex()}})
      .status();
}

StatusOr<std::vector<rpc::GcsNodeInfo>> GcsClient::GetAllNodes() {
  return ReadTable<rpc::GcsNodeInfo>(kNodes);
}

StatusOr<std::vector<rpc::JobTableData>> GcsClient::GetAllJobs() {
  return ReadTable<rpc::JobTableData>(kJobs);
}

StatusOr<std::vector<rpc::ActorTableData>> GcsClient::GetAllActors() {
  return ReadTable<rpc::ActorTableData>(kActors);
}

StatusOr<std::optional<std::string>> GcsClient::KvGet(const std::string& key) {
  auto replies = Run({{"HGET", kKv, key}});
  if (!replies.ok()) return replies.status();
  const redisReply* r = (*replies)[0].get();
  if (r->type != REDIS_REPLY_STRING) return std::optional<std::string>();
  return std::optional<std::string>(std::string(r->str, r->len));
}

Status GcsClient::KvPut(const std::string& key, const std::string& value) {
  return Run({{"HSET", kKv, key, value}}).status();
}

StatusOr<std::vector<NodeID>> GcsClient::MarkSilentNodesDead(int64_t now_ms,
                                                              int64_t timeout_ms) {
  // Only the nodes whose last report is older than the timeout: a range of
  // the heartbeat set, O(log nodes + silent nodes), not a scan of the table.
  auto silent = Run({{"ZRANGEBYSCORE", kHeartbeats, "-inf",
                      "(" + std::to_string(now_ms - timeout_ms), "WITHSCORES"}});
  if (!silent.ok()) return silent.status();
  const redisReply* r = (*silent)[0].get();
  std::vector<std::pair<NodeID, int64_t>> found;
  for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
    const redisReply* id = r->element[i];
    const redisReply* score = r->element[i + 1];
    if (id->type != REDIS_REPLY_STRING || score->type != REDIS_REPLY_STRING) continue;
    found.emplace_back(NodeID::FromHex(std::string_view(id->str, id->len)),
                       static_cast<int64_t>(std::strtod(std::string(score->str, score->len).c_str(),
                                                        nullptr)));
  }
  std::vector<NodeID> dead;
  for (const auto& [id, last_ms] : found) {
    Status s = MarkNodeDead(id, "no heartbeat for " + std::to_string(now_ms - last_ms) + " ms",
                            now_ms);
    if (s.code() == StatusCode::kNotFound) {  // its row is gone: forget its heartbeat
      MINIRAY_RETURN_IF_ERROR(Run({{"ZREM", kHeartbeats, id.Hex()}}).status());
      continue;
    }
    MINIRAY_RETURN_IF_ERROR(s);
    dead.push_back(id);
  }
  return dead;
}

}  // namespace miniray
