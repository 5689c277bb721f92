// A gRPC server with the standard extras every ebats service exposes:
// grpc.health.v1 (overall status "" and each service name) and reflection.
#ifndef EBATS_LIBS_RPC_SERVER_H_
#define EBATS_LIBS_RPC_SERVER_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/server.h"
#include "libs/rpc/security.h"

namespace ebats::rpc {

struct ServerOptions {
  // host:port; port 0 picks a free one (see RunningServer::port()).
  std::string address;
  // Largest accepted request, in bytes.
  int max_receive_bytes = 4 * 1024 * 1024;
  // Plaintext unless a certificate is set.
  ServerTls tls;
};

class RunningServer {
 public:
  // Starts serving `services` (not owned; must outlive the server) with
  // health NOT_SERVING. UNAVAILABLE when the address cannot be bound;
  // INVALID_ARGUMENT for unreadable TLS files.
  static absl::StatusOr<std::unique_ptr<RunningServer>> Start(
      const ServerOptions& options,
      const std::vector<grpc::Service*>& services);

  int port() const { return port_; }
  // Sets health for "" and every registered service.
  void SetServing(bool serving);
  // Reports NOT_SERVING, waits up to `grace` for calls in progress, then
  // stops (closing idle connections at once).
  void Shutdown(absl::Duration grace);

 private:
  std::unique_ptr<grpc::Server> server_;
  std::atomic<int> calls_{0};
  int port_ = 0;
};

}  // namespace ebats::rpc

#endif  // EBATS_LIBS_RPC_SERVER_H_
