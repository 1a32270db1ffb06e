#include "node/worker_pool.h"

#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

namespace miniray {

WorkerPool::WorkerPool(std::vector<std::string> argv, std::vector<std::string> env)
    : argv_(std::move(argv)), env_(std::move(env)) {}

WorkerPool::~WorkerPool() { KillAll(); }

StatusOr<WorkerPool::Process> WorkerPool::Launch(const std::string& address) const {
  if (argv_.empty()) return Status::FailedPrecondition("no worker command configured");
  // Everything the child needs is built before vfork: between vfork and
  // exec the child may only make system calls.
  std::vector<std::string> args = argv_;
  args.push_back("--address=" + address);
  std::vector<std::string> env = env_;
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = vfork();
  if (pid == 0) {
    // Die with this thread (the node's event loop), even on kill -9 of the
    // driver: no worker outlives its node.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  if (pid < 0) return Status::Unavailable(std::string("could not start a worker: ") + strerror(errno));
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    Status s = Status::Unavailable(std::string("pidfd_open: ") + strerror(errno));
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return s;
  }
  return Process{pid, pidfd};
}

void WorkerPool::Add(const Process& process) {
  children_[process.pid] = Child{process.pidfd, false, WorkerID()};
}

bool WorkerPool::Registered(pid_t pid, const WorkerID& worker) {
  auto it = children_.find(pid);
  if (it == children_.end() || it->second.registered) return false;
  it->second.registered = true;
  it->second.worker = worker;
  return true;
}

std::optional<WorkerPool::Exit> WorkerPool::Reap(pid_t pid) {
  auto it = children_.find(pid);
  if (it == children_.end()) return std::nullopt;
  int status = 0;
  pid_t r = waitpid(pid, &status, WNOHANG);
  if (r == 0) return std::nullopt;  // still running
  // r < 0: someone else in this process reaped it (os.wait in user code);
  // it is gone all the same, how it ended is unknown.
  if (r < 0) status = 0;
  Exit exit{pid, status, it->second.registered, it->second.worker};
  close(it->second.pidfd);
  children_.erase(it);
  if (exit.registered) exit_statuses_[pid] = status;
  return exit;
}

std::optional<int> WorkerPool::TakeExitStatus(pid_t pid) {
  auto it = exit_statuses_.find(pid);
  if (it == exit_statuses_.end()) return std::nullopt;
  int status = it->second;
  exit_statuses_.erase(it);
  return status;
}

void WorkerPool::Signal(pid_t pid, int signal) const {
  if (children_.count(pid)) kill(pid, signal);
}

void WorkerPool::KillAll() {
  for (const auto& [pid, child] : children_) kill(pid, SIGKILL);
  for (const auto& [pid, child] : children_) {
    waitpid(pid, nullptr, 0);
    close(child.pidfd);
  }
  children_.clear();
  exit_statuses_.clear();
}

std::string WorkerPool::DescribeExit(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return "was killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
           strsignal(WTERMSIG(status)) + ")";
  }
  return "ended";
}

}  // namespace miniray
