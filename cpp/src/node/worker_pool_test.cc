// The worker pool with real processes (small shell commands stand in for
// workers): launch, reap through the pidfd, exit descriptions.
#include "node/worker_pool.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace miniray {
namespace {

// Waits until the process's pidfd says it exited.
void AwaitExit(const WorkerPool::Process& p) {
  pollfd fd{p.pidfd, POLLIN, 0};
  ASSERT_EQ(poll(&fd, 1, 10000), 1);
}

std::vector<std::string> Env() { return {"PATH=/usr/bin:/bin"}; }

TEST(WorkerPoolTest, AnExitIsReportedThroughThePidfdWithItsStatus) {
  WorkerPool pool({"/bin/sh", "-c", "exit 3", "sh"});
  auto p = pool.Launch("unused", JobID::FromInt(1), Env());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  pool.Add(*p, JobID::FromInt(1));
  EXPECT_TRUE(pool.IsRunning(p->pid));
  AwaitExit(*p);
  auto exit = pool.Reap(p->pid);
  ASSERT_TRUE(exit.has_value());
  EXPECT_FALSE(exit->registered);
  EXPECT_EQ(WorkerPool::DescribeExit(exit->status), "exited with code 3");
  EXPECT_FALSE(pool.IsRunning(p->pid));
  EXPECT_FALSE(pool.Reap(p->pid).has_value());
}

TEST(WorkerPoolTest, ARegisteredWorkersStatusWaitsForItsDisconnect) {
  WorkerPool pool({"/bin/sh", "-c", "sleep 30", "sh"});
  auto p = pool.Launch("unused", JobID::FromInt(1), Env());
  ASSERT_TRUE(p.ok());
  pool.Add(*p, JobID::FromInt(1));
  WorkerID worker = WorkerID::FromRandom();
  EXPECT_TRUE(pool.Registered(p->pid, worker));
  EXPECT_FALSE(pool.Registered(p->pid, worker));  // once
  EXPECT_FALSE(pool.Registered(getpid(), worker));  // not a process of the pool
  EXPECT_FALSE(pool.Reap(p->pid).has_value());    // still running
  pool.Signal(p->pid, SIGKILL);
  AwaitExit(*p);
  auto exit = pool.Reap(p->pid);
  ASSERT_TRUE(exit.has_value());
  EXPECT_TRUE(exit->registered);
  EXPECT_EQ(exit->worker, worker);
  auto status = pool.TakeExitStatus(p->pid);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(WorkerPool::DescribeExit(*status), "was killed by signal 9 (Killed)");
  EXPECT_FALSE(pool.TakeExitStatus(p->pid).has_value());
}

TEST(WorkerPoolTest, AnUnstartableCommandExitsWith127) {
  WorkerPool pool({"/nonexistent/python"});
  auto p = pool.Launch("unused", JobID::FromInt(1), Env());
  ASSERT_TRUE(p.ok());
  pool.Add(*p, JobID::FromInt(1));
  AwaitExit(*p);
  EXPECT_EQ(WorkerPool::DescribeExit(pool.Reap(p->pid)->status), "exited with code 127");
}

TEST(WorkerPoolTest, AWorkerThatCannotStartLeavesTheTailOfItsStderr) {
  WorkerPool pool({"/bin/sh", "-c", "echo 'Fatal Python error: no encodings' >&2; exit 1", "sh"});
  for (int i = 1; i <= 3; ++i) {
    auto p = pool.Launch("unused", JobID::FromInt(1), Env());
    ASSERT_TRUE(p.ok());
    pool.Add(*p, JobID::FromInt(1));
    AwaitExit(*p);
    auto exit = pool.Reap(p->pid);
    ASSERT_TRUE(exit.has_value());
    EXPECT_NE(exit->stderr_tail.find("Fatal Python error: no encodings"), std::string::npos);
    EXPECT_EQ(pool.consecutive_start_failures(), i);
  }
  // A worker killed while it starts says nothing about the environment.
  WorkerPool slow({"/bin/sh", "-c", "sleep 30", "sh"});
  auto p = slow.Launch("unused", JobID::FromInt(1), Env());
  ASSERT_TRUE(p.ok());
  slow.Add(*p, JobID::FromInt(1));
  slow.Signal(p->pid, SIGKILL);
  AwaitExit(*p);
  ASSERT_TRUE(slow.Reap(p->pid).has_value());
  EXPECT_EQ(slow.consecutive_start_failures(), 0);
}

TEST(WorkerPoolTest, KillAllLeavesNoProcess) {
  std::vector<pid_t> pids;
  {
    WorkerPool pool({"/bin/sh", "-c", "sleep 30", "sh"});
    for (int i = 0; i < 3; ++i) {
      auto p = pool.Launch("unused", JobID::FromInt(1), Env());
      ASSERT_TRUE(p.ok());
      pool.Add(*p, JobID::FromInt(1));
      pids.push_back(p->pid);
    }
    pool.KillAll();
    EXPECT_EQ(pool.num_running(), 0u);
  }
  for (pid_t pid : pids) EXPECT_NE(kill(pid, 0), 0);  // reaped: no such process
}

TEST(WorkerPoolTest, SignalNeverReachesAProcessOutsideThePool) {
  WorkerPool pool({"/bin/true"});
  pid_t outsider = fork();
  if (outsider == 0) {
    pause();
    _exit(0);
  }
  pool.Signal(outsider, SIGKILL);
  usleep(50 * 1000);
  int status = 0;
  EXPECT_EQ(waitpid(outsider, &status, WNOHANG), 0);  // still running
  kill(outsider, SIGKILL);
  waitpid(outsider, &status, 0);
}

}  // namespace
}  // namespace miniray
