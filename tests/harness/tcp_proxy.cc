#include "tests/harness/tcp_proxy.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tests/harness/loopback.h"
#include "tests/harness/process.h"

namespace ebats::testing {
namespace {

// One proxied connection: bytes read from one side are written to the other.
struct Pair {
  int client = -1;
  int upstream = -1;
};

// Moves what `from` has to `to`; false when either side is done.
bool Pump(int from, int to) {
  std::array<char, 16384> buffer;
  const ssize_t n = read(from, buffer.data(), buffer.size());
  if (n <= 0) return false;
  for (ssize_t sent = 0; sent < n;) {
    const ssize_t w = write(to, buffer.data() + sent, n - sent);
    if (w <= 0) return false;
    sent += w;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TcpProxy>> TcpProxy::Start(int upstream_port) {
  const int port = FreePort();
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || !BindLoopback(fd, port) || listen(fd, 64)) {
    const int error = errno;
    if (fd >= 0) close(fd);
    return absl::UnavailableError(
        absl::StrCat("proxy on port ", port, ": ", std::strerror(error)));
  }
  const int wake = eventfd(0, EFD_CLOEXEC);
  if (wake < 0) {
    const int error = errno;
    close(fd);
    return absl::UnavailableError(
        absl::StrCat("proxy: eventfd: ", std::strerror(error)));
  }
  return std::unique_ptr<TcpProxy>(new TcpProxy(fd, port, upstream_port, wake));
}

TcpProxy::TcpProxy(int listen_fd, int port, int upstream_port, int wake_fd)
    : listen_fd_(listen_fd),
      port_(port),
      upstream_port_(upstream_port),
      wake_fd_(wake_fd) {
  thread_ = std::thread([this] { Run(); });
}

TcpProxy::~TcpProxy() {
  stopping_ = true;
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
  close(listen_fd_);
  close(wake_fd_);
}

void TcpProxy::Freeze() {
  frozen_ = true;
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
}

void TcpProxy::Run() {
  std::vector<Pair> pairs;
  std::vector<int> held;
  while (!stopping_) {
    std::vector<pollfd> fds = {{wake_fd_, POLLIN, 0}};
    if (!frozen_) {
      fds.push_back({listen_fd_, POLLIN, 0});
      for (const Pair& p : pairs) {
        fds.push_back({p.client, POLLIN, 0});
        fds.push_back({p.upstream, POLLIN, 0});
      }
    }
    if (poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents & POLLIN) {
      uint64_t count;
      [[maybe_unused]] ssize_t n = read(wake_fd_, &count, sizeof(count));
      continue;  // frozen or stopping: look again
    }
    if (fds.size() == 1) continue;
    if (fds[1].revents & POLLIN) {
      const int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client >= 0) accepted_.fetch_add(1);
      if (client >= 0 && upstream_port_ == 0) {
        held.push_back(client);  // never read: the peer hangs
        continue;
      }
      const int upstream = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (client >= 0 && upstream >= 0 &&
          ConnectLoopback(upstream, upstream_port_)) {
        pairs.push_back({client, upstream});
      } else {
        if (client >= 0) close(client);
        if (upstream >= 0) close(upstream);
      }
    }
    // Pairs polled this turn: fds[2 + 2i] and fds[3 + 2i] (new ones wait).
    std::vector<Pair> open;
    const size_t polled = (fds.size() - 2) / 2;
    for (size_t i = 0; i < pairs.size(); ++i) {
      Pair& p = pairs[i];
      bool alive = true;
      if (i < polled) {
        const short from_client = fds[2 + 2 * i].revents;
        const short from_upstream = fds[3 + 2 * i].revents;
        if (from_client) alive = Pump(p.client, p.upstream);
        if (alive && from_upstream) alive = Pump(p.upstream, p.client);
      }
      if (alive) {
        open.push_back(p);
      } else {
        close(p.client);
        close(p.upstream);
      }
    }
    pairs.swap(open);
  }
  for (const Pair& p : pairs) {
    close(p.client);
    close(p.upstream);
  }
  for (int fd : held) close(fd);
}

}  // namespace ebats::testing
