// The floor under any CRI proxy: a relay that copies bytes between a unix socket and the
// runtime's socket and understands nothing (no HTTP/2, no gRPC). One thread, one epoll set,
// a read and a write per chunk each way. agent_bench runs it in place of the agent to show
// what one more user-space hop costs on the machine at hand, whatever the proxy does.
// Not part of layerseal: a benchmark baseline only (docs/performance.md, "Node agent").
//
// Usage: byte_relay LISTEN_SOCKET UPSTREAM_SOCKET
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

namespace {

constexpr size_t kChunk = 64 << 10;

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "byte_relay: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

sockaddr_un Address(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof(a.sun_path)) {
    std::fprintf(stderr, "byte_relay: socket path too long: %s\n", path.c_str());
    std::exit(1);
  }
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  return a;
}

// Writes all of `data`, waiting for the socket when it is full (messages here are small).
bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = write(fd, data, size);
    if (n > 0) {
      data += n;
      size -= static_cast<size_t>(n);
    } else if (n < 0 && errno == EAGAIN) {
      pollfd p{.fd = fd, .events = POLLOUT, .revents = 0};
      poll(&p, 1, 1000);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: byte_relay LISTEN_SOCKET UPSTREAM_SOCKET\n");
    return 2;
  }
  const std::string upstream_path = argv[2];
  unlink(argv[1]);
  int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_un listen_addr = Address(argv[1]);
  if (listener < 0 || bind(listener, reinterpret_cast<sockaddr*>(&listen_addr), sizeof(listen_addr)) != 0 ||
      listen(listener, 128) != 0) {
    Die("listen");
  }
  int ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{.events = EPOLLIN, .data = {.fd = listener}};
  if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev) != 0) Die("epoll");

  std::map<int, int> peer;  // each relayed socket -> the other end
  static char buffer[kChunk];
  auto close_pair = [&](int fd) {
    auto it = peer.find(fd);
    if (it == peer.end()) return;
    int other = it->second;
    peer.erase(fd);
    peer.erase(other);
    close(fd);
    close(other);
  };
  epoll_event events[64];
  for (;;) {
    int n = epoll_wait(ep, events, 64, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) Die("epoll_wait");
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == listener) {
        int client = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (client < 0) continue;
        int upstream = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un up = Address(upstream_path);
        if (upstream < 0 || connect(upstream, reinterpret_cast<sockaddr*>(&up), sizeof(up)) != 0) {
          close(client);
          if (upstream >= 0) close(upstream);
          continue;
        }
        fcntl(upstream, F_SETFL, fcntl(upstream, F_GETFL) | O_NONBLOCK);
        peer[client] = upstream;
        peer[upstream] = client;
        for (int s : {client, upstream}) {
          epoll_event e{.events = EPOLLIN, .data = {.fd = s}};
          epoll_ctl(ep, EPOLL_CTL_ADD, s, &e);
        }
        continue;
      }
      if (peer.count(fd) == 0) continue;  // closed earlier in this round
      ssize_t got = read(fd, buffer, sizeof(buffer));
      if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (got <= 0 || !WriteAll(peer[fd], buffer, static_cast<size_t>(got))) close_pair(fd);
    }
  }
}
