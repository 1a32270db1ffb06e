// RedisTestServer: a real redis-server (Debian's) for tests, on a free port
// of 127.0.0.1, with a password, no persistence, its files in a temporary
// directory; it dies with the test (PR_SET_PDEATHSIG) and is stopped when
// the object goes.
#ifndef MINIRAY_GCS_REDIS_TEST_SERVER_H_
#define MINIRAY_GCS_REDIS_TEST_SERVER_H_

#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "gcs/gcs_client.h"

namespace miniray {

class RedisTestServer {
 public:
  explicit RedisTestServer(std::string password = "test-token") : password_(std::move(password)) {
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir_ = std::string(tmp ? tmp : "/tmp");
    for (int attempt = 0; attempt < 5 && pid_ <= 0; ++attempt) {
      port_ = FreePort();
      pid_ = Spawn();
      if (!WaitReady()) Stop();
    }
  }
  ~RedisTestServer() { Stop(); }

  bool ok() const { return pid_ > 0; }
  int port() const { return port_; }
  const std::string& password() const { return password_; }
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  static int FreePort() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    close(fd);
    return ntohs(addr.sin_port);
  }

  pid_t Spawn() {
    std::string port = std::to_string(port_);
    std::string log = dir_ + "/redis-" + port + ".log";
    pid_t pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      execlp("redis-server", "redis-server", "--bind", "127.0.0.1", "--port", port.c_str(),
             "--requirepass", password_.c_str(), "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--dir", dir_.c_str(), "--logfile", log.c_str(),
             "--loglevel", "warning", static_cast<char*>(nullptr));
      _exit(127);
    }
    return pid;
  }

  bool WaitReady() {
    for (int i = 0; i < 250; ++i) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {  // exited: port taken meanwhile
        pid_ = -1;
        return false;
      }
      if (GcsClient::Connect("127.0.0.1", port_, password_, 200).ok()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  std::string password_;
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace miniray

#endif  // MINIRAY_GCS_REDIS_TEST_SERVER_H_
