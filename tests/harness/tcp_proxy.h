// A loopback TCP proxy that can stop moving bytes, to stand for a peer (a
// broker) that hangs without closing its connections: the kernel still
// accepts and keeps connections, and nothing ever answers. One thread
// forwards with blocking writes: enough for a test's few connections, not a
// general proxy.
#ifndef EBATS_TESTS_HARNESS_TCP_PROXY_H_
#define EBATS_TESTS_HARNESS_TCP_PROXY_H_

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"

namespace ebats::testing {

class TcpProxy {
 public:
  // Listens on 127.0.0.1:port() and forwards every connection to
  // 127.0.0.1:`upstream_port`; with 0, accepts connections and never
  // answers, as a peer that hangs from the start.
  static absl::StatusOr<std::unique_ptr<TcpProxy>> Start(int upstream_port);
  ~TcpProxy();  // Closes every connection.
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  int port() const { return port_; }
  // From now on neither reads nor writes, and accepts nothing more; open
  // connections stay open. Thread-safe.
  void Freeze();
  // Connections accepted so far.
  int accepted() const { return accepted_.load(); }

 private:
  TcpProxy(int listen_fd, int port, int upstream_port, int wake_fd);
  void Run();

  const int listen_fd_;
  const int port_;
  const int upstream_port_;
  const int wake_fd_;  // eventfd: Freeze() and the destructor
  std::atomic<bool> frozen_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

}  // namespace ebats::testing

#endif  // EBATS_TESTS_HARNESS_TCP_PROXY_H_
