#include "node/worker_pool.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

namespace miniray {

WorkerPool::WorkerPool(std::vector<std::string> argv) : argv_(std::move(argv)) {}

WorkerPool::~WorkerPool() { KillAll(); }

StatusOr<WorkerPool::Process> WorkerPool::Launch(const std::string& address, const JobID& job,
                                                 const std::vector<std::string>& job_env) const {
  if (argv_.empty()) return Status::FailedPrecondition("no worker command configured");
  // Everything the child needs is built before vfork: between vfork and
  // exec the child may only make system calls.
  std::vector<std::string> args = argv_;
  args.push_back("--address=" + address);
  std::vector<std::string> env = job_env;
  env.push_back("MINIRAY_STDERR_FD=3");
  env.push_back("MINIRAY_JOB_ID=" + job.Hex());
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  int err[2];
  if (pipe2(err, O_CLOEXEC) != 0) {
    return Status::Unavailable(std::string("could not start a worker: pipe: ") + strerror(errno));
  }
  pid_t pid = vfork();
  if (pid == 0) {
    // Die with this thread (the node's event loop), even on kill -9 of the
    // driver: no worker outlives its node.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(2, 3);       // the node's stderr, for the worker to take back
    dup2(err[1], 2);  // until then, what it says goes to the pool
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  int saved_errno = errno;
  close(err[1]);
  if (pid < 0) {
    close(err[0]);
    return Status::Unavailable(std::string("could not start a worker: ") + strerror(saved_errno));
  }
  fcntl(err[0], F_SETFL, O_NONBLOCK);
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    Status s = Status::Unavailable(std::string("pidfd_open: ") + strerror(errno));
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    close(err[0]);
    return s;
  }
  return Process{pid, pidfd, err[0]};
}

void WorkerPool::CloseStderr(Child& child) {
  if (child.stderr_fd >= 0) close(child.stderr_fd);
  child.stderr_fd = -1;
}

void WorkerPool::ReadStderr(pid_t pid) {
  auto it = children_.find(pid);
  if (it == children_.end() || it->second.stderr_fd < 0) return;
  Child& child = it->second;
  char buf[4096];
  while (true) {
    ssize_t n = read(child.stderr_fd, buf, sizeof(buf));
    if (n > 0) {
      child.stderr_tail.append(buf, static_cast<size_t>(n));
      if (child.stderr_tail.size() > kStderrTail) {
        child.stderr_tail.erase(0, child.stderr_tail.size() - kStderrTail);
      }
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    return CloseStderr(child);  // EOF: it exited, or took back the node's stderr
  }
}

void WorkerPool::Add(const Process& process, const JobID& job) {
  Child& child = children_[process.pid];
  child.job = job;
  child.pidfd = process.pidfd;
  child.stderr_fd = process.stderr_fd;
}

JobID WorkerPool::JobOf(pid_t pid) const {
  auto it = children_.find(pid);
  return it == children_.end() ? JobID::Nil() : it->second.job;
}

bool WorkerPool::Registered(pid_t pid, const WorkerID& worker) {
  auto it = children_.find(pid);
  if (it == children_.end() || it->second.registered) return false;
  it->second.registered = true;
  it->second.worker = worker;
  start_failures_ = 0;
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
  ReadStderr(pid);  // everything it wrote is in the pipe by now
  Child& child = it->second;
  Exit exit{pid, child.job, status, child.registered, child.worker,
            std::move(child.stderr_tail)};
  close(child.pidfd);
  CloseStderr(child);
  children_.erase(it);
  if (exit.registered) {
    exit_statuses_[pid] = status;
  } else if (r > 0 && WIFEXITED(status) && WEXITSTATUS(status) != 0) {
    ++start_failures_;
  }
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
  for (auto& [pid, child] : children_) {
    waitpid(pid, nullptr, 0);
    close(child.pidfd);
    CloseStderr(child);
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
