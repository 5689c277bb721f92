// The three ebats services as child processes on free loopback ports,
// against the test binary's private RabbitMQ node.
#ifndef EBATS_TESTS_E2E_EBATS_STACK_H_
#define EBATS_TESTS_E2E_EBATS_STACK_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "libs/client/client.h"
#include "tests/harness/process.h"

namespace ebats::testing {

class EbatsStack {
 public:
  // `queue_type` is passed to every service ("quorum" or "classic").
  explicit EbatsStack(std::string amqp_url, std::string queue_type = "quorum");
  ~EbatsStack();  // SIGKILLs whatever still runs.

  // Starts scheduler, gateway and one worker; waits until each one's gRPC
  // health says SERVING.
  absl::Status Start();
  absl::Status StartScheduler(const std::vector<std::string>& extra_flags = {});
  absl::Status StartGateway();
  // Another gateway replica on a port of its own; returns its address.
  absl::StatusOr<std::string> StartGatewayReplica();
  // Starts a worker on topic "demo" plus `extra_flags`; its service name is
  // then last_worker().
  absl::Status StartWorker(const std::vector<std::string>& extra_flags = {});
  const std::string& last_worker() const { return last_worker_; }
  // By default Start* waits for SERVING; with false only for the gRPC
  // health service to answer (a service whose broker is down is
  // NOT_SERVING but up).
  void set_wait_serving(bool wait) { wait_serving_ = wait; }
  // TLS and token for the stack's own client and health checks.
  void set_client_security(rpc::ClientTls tls, std::string token) {
    client_tls_ = std::move(tls);
    token_ = std::move(token);
    NewClient();
  }
  // Flags every service started from now on gets.
  void set_common_flags(std::vector<std::string> flags) {
    common_flags_ = std::move(flags);
  }
  // True while the service's process has not exited.
  bool Running(const std::string& name);
  // SIGTERM to every service; returns the first non-zero exit code as an
  // error.
  absl::Status StopAll();
  // SIGTERM to one service ("scheduler", "gateway"); error unless it exits 0.
  absl::Status Stop(const std::string& name);
  // SIGKILL to one service.
  absl::Status Kill(const std::string& name);

  client::Client& client() { return *client_; }
  const std::string& dir() const { return dir_.path(); }
  std::string gateway_address() const;
  std::string scheduler_address() const;

 private:
  void NewClient();
  absl::Status StartService(const std::string& name, const std::string& binary,
                            std::vector<std::string> flags, int grpc_port);
  // The error for a service that did not exit 0 on SIGTERM, with its log's end.
  absl::Status NotStopped(const std::string& name,
                          const absl::StatusOr<int>& code) const;

  std::string amqp_url_;
  std::string queue_type_;
  TempDir dir_;  // before services_, so that it goes after them
  int gateway_port_, scheduler_port_;
  std::map<std::string, ChildProcess> services_;
  std::string last_worker_;
  bool wait_serving_ = true;
  std::vector<std::string> common_flags_;
  rpc::ClientTls client_tls_;
  std::string token_;
  std::unique_ptr<client::Client> client_;
};

// True once grpc.health.v1 at `address` answers SERVING (within `timeout`).
bool WaitServing(const std::string& address, absl::Duration timeout,
                 const rpc::ClientTls& tls = {});
// True once grpc.health.v1 at `address` answers at all, SERVING or not.
bool WaitAnswering(const std::string& address, absl::Duration timeout,
                   const rpc::ClientTls& tls = {});

}  // namespace ebats::testing

#endif  // EBATS_TESTS_E2E_EBATS_STACK_H_
