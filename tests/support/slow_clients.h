// Raw TCP clients for the HTTP servers' limits (issue 14 item 2): connections from a chosen
// loopback source address (any 127/8 address is local on Linux, so one test can play several
// peers), slow clients that send their request headers one byte a second and never finish
// them, and a check that the server closed a connection. Header-only, so unit tests (which
// do not link the harnesses) can use it too.
// Thread-safety: SlowClients runs one thread of its own; the rest are plain functions.
#ifndef LAYERSEAL_TESTS_SUPPORT_SLOW_CLIENTS_H_
#define LAYERSEAL_TESTS_SUPPORT_SLOW_CLIENTS_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace layerseal::testing {

// A TCP connection from `source` to 127.0.0.1:port, or -1.
inline int ConnectFrom(const char* source, int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  inet_pton(AF_INET, source, &from.sin_addr);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof(from)) != 0 ||
      connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// True when the server closed `fd` (EOF or reset) within `wait`; data it sends is skipped.
inline bool ClosedWithin(int fd, std::chrono::milliseconds wait) {
  pollfd p{fd, POLLIN, 0};
  auto end = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < end) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    if (poll(&p, 1, static_cast<int>(std::max<int64_t>(left.count(), 1))) != 1) continue;
    char buf[512];
    if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0) return true;
  }
  return false;
}

// `count` connections from `source` to port, each sent one more byte of an unfinished GET
// every second for `seconds` (then the thread stops by itself); closed on destruction.
class SlowClients {
 public:
  SlowClients(const char* source, int port, int count, int seconds) {
    for (int i = 0; i < count; ++i) fds_.push_back(ConnectFrom(source, port));
    thread_ = std::thread([this, seconds] { Drip(seconds); });
  }
  ~SlowClients() {
    stop_ = true;
    thread_.join();
    for (int fd : fds_) {
      if (fd >= 0) close(fd);
    }
  }
  SlowClients(const SlowClients&) = delete;
  SlowClients& operator=(const SlowClients&) = delete;

  // -1 for a connection that could not be made.
  const std::vector<int>& fds() const { return fds_; }

 private:
  void Drip(int seconds) {
    const std::string line = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
    for (int s = 0; s < seconds && !stop_.load(); ++s) {
      for (int fd : fds_) {
        if (fd >= 0) send(fd, &line[s % line.size()], 1, MSG_NOSIGNAL);
      }
      for (int t = 0; t < 10 && !stop_.load(); ++t) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  }

  std::vector<int> fds_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace layerseal::testing

#endif  // LAYERSEAL_TESTS_SUPPORT_SLOW_CLIENTS_H_
