// WorkerPool: the worker processes a node starts (Ray's WorkerPool). It
// launches them, matches each with its registration, reaps each when it
// exits and says how it ended (for WorkerCrashedError), and stops them.
//
// Each process is launched with vfork+exec and watched through a pidfd,
// which becomes readable when the process exits: the node's event loop
// learns of exits from epoll, with no polling, sleeping or signal handler.
// Until it registers, a worker's stderr goes to a pipe the pool reads, so a
// worker that cannot start (a broken interpreter or environment) leaves the
// tail of what it said; once registered, the worker takes back the node's
// own stderr (passed as fd 3, MINIRAY_STDERR_FD).
// Each worker dies with the thread that launched it (PR_SET_PDEATHSIG; the
// node's event loop), so none outlives its node, even after kill -9.
//
// Thread-safety: Launch() reads only the pool's fixed configuration and
// may run without the node's lock (it forks); every other method needs it.
#ifndef MINIRAY_NODE_WORKER_POOL_H_
#define MINIRAY_NODE_WORKER_POOL_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/id.h"
#include "common/status.h"

namespace miniray {

class WorkerPool {
 public:
  struct Process {
    pid_t pid = 0;
    int pidfd = -1;      // readable once the process exits; the pool owns it
    int stderr_fd = -1;  // its stderr until it registers; the pool owns it
  };
  struct Exit {
    pid_t pid = 0;
    JobID job;       // the job it was started for
    int status = 0;  // as waitpid reports it
    bool registered = false;
    WorkerID worker;          // when registered
    std::string stderr_tail;  // the last of what it wrote before registering
  };
  static constexpr size_t kStderrTail = 4096;

  // `argv`: the worker command ("--address=<socket>" is appended).
  explicit WorkerPool(std::vector<std::string> argv);
  ~WorkerPool();  // kills and reaps what is still running
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Starts one worker process for `job`, with the whole environment `env`
  // ("KEY=VALUE"), that will connect to `address`.
  StatusOr<Process> Launch(const std::string& address, const JobID& job,
                           const std::vector<std::string>& env) const;
  // Tracks a launched process (with the node's lock).
  void Add(const Process& process, const JobID& job);
  // The job a running process of the pool was started for (nil if none).
  JobID JobOf(pid_t pid) const;
  // A connection whose peer is `pid` registered as `worker`: true if `pid`
  // is a process of this pool (and not registered before).
  bool Registered(pid_t pid, const WorkerID& worker);
  // Reads what `pid` wrote to its stderr pipe so far; closes the pipe at
  // its end. (Call when the pipe is readable.)
  void ReadStderr(pid_t pid);
  // Workers in a row that exited by themselves before registering (a worker
  // killed by a signal does not count: that says nothing of the
  // environment). A registration resets it.
  int consecutive_start_failures() const { return start_failures_; }
  void ResetStartFailures() { start_failures_ = 0; }
  // `pid`'s pidfd became readable: reaps it. Nullopt for an unknown pid or
  // a process that has not exited.
  std::optional<Exit> Reap(pid_t pid);
  // The status of a registered worker reaped before its connection closed;
  // taken once by the disconnect that reports it.
  std::optional<int> TakeExitStatus(pid_t pid);
  bool IsRunning(pid_t pid) const { return children_.count(pid) > 0; }
  // Signals a running process of this pool (never any other pid).
  void Signal(pid_t pid, int signal) const;
  // Kills every process and waits for each (shutdown).
  void KillAll();
  size_t num_running() const { return children_.size(); }

  // "exited with code 3", "was killed by signal 9 (Killed)".
  static std::string DescribeExit(int status);

 private:
  struct Child {
    JobID job;
    int pidfd = -1;
    int stderr_fd = -1;
    bool registered = false;
    WorkerID worker;
    std::string stderr_tail;
  };
  static void CloseStderr(Child& child);

  const std::vector<std::string> argv_;
  std::unordered_map<pid_t, Child> children_;
  std::unordered_map<pid_t, int> exit_statuses_;  // reaped, disconnect to come
  int start_failures_ = 0;
};

}  // namespace miniray

#endif  // MINIRAY_NODE_WORKER_POOL_H_
