// Start-up and shutdown shared by the service mains: flags every service
// takes (--amqp_url, --queue_type, --log_level, each defaulting to its
// environment variable), logging, signals, the metrics endpoint, and health
// that follows the broker connection.
#ifndef EBATS_LIBS_SERVICE_SERVICE_RUNTIME_H_
#define EBATS_LIBS_SERVICE_SERVICE_RUNTIME_H_

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/amqp/broker_url.h"
#include "libs/amqp/ebats_topology.h"
#include "libs/amqp/session.h"
#include "libs/amqp/topology.h"
#include "libs/metrics/broker_metrics.h"
#include "libs/metrics/endpoint.h"
#include "libs/rpc/security.h"
#include "libs/rpc/server.h"
#include "prometheus/registry.h"

namespace ebats::service {

// Parses flags, sets up logging and blocks shutdown signals. Call first in
// main, before any thread starts.
void Init(int argc, char** argv, const std::string& program,
          const std::string& usage);

// The broker settings from --amqp_url and --queue_type; INVALID_ARGUMENT for
// a malformed URL list or queue type.
struct BrokerConfig {
  std::vector<amqp::BrokerUrl> brokers;
  amqp::QueueType queue_type = amqp::QueueType::kQuorum;
  int delivery_limit = amqp::kDefaultDeliveryLimit;
  // For amqps:// URLs (--amqp_ca, --amqp_cert, --amqp_key).
  amqp::AmqpTls tls;
};
absl::StatusOr<BrokerConfig> BrokerConfigFromFlags();

// OK when a numeric flag's `value` is within [min, max]; else
// INVALID_ARGUMENT naming the flag and the range. Out-of-range values are
// refused at start rather than clamped or wrapped (an AMQP prefetch of 0
// means no limit at all, and 65536 wraps to 0).
absl::Status CheckFlagRange(const std::string& flag, int64_t value, int64_t min,
                            int64_t max);
// The same for a duration flag; an infinite `max` reads "must not be
// negative" when `min` is zero.
absl::Status CheckFlagRange(const std::string& flag, absl::Duration value,
                            absl::Duration min, absl::Duration max);
// The first of `statuses` that is not OK; OK if none.
absl::Status FirstError(std::initializer_list<absl::Status> statuses);

// gRPC security from --tls_cert/--tls_key/--tls_client_ca (this service's
// endpoint), --tls_ca/--tls_client_cert/--tls_client_key (calls to other
// ebats services) and --token_file or EBATS_TOKEN (the bearer token the
// gateway and scheduler require and the worker sends). INVALID_ARGUMENT for
// an unreadable or empty token file.
struct SecurityConfig {
  rpc::ServerTls server;
  rpc::ClientTls client;
  std::string token;
};
absl::StatusOr<SecurityConfig> SecurityFromFlags();

// A service's shared pieces: the metrics registry and endpoint, and broker
// metrics. Health of `server` follows the session's connection.
class Runtime {
 public:
  // UNAVAILABLE when the metrics address cannot be bound.
  static absl::StatusOr<std::unique_ptr<Runtime>> Create(
      const std::string& service, const std::string& metrics_address);
  prometheus::Registry& registry() { return *registry_; }
  std::shared_ptr<prometheus::Registry> shared_registry() { return registry_; }
  int metrics_port() const { return endpoint_->port(); }

  // Wires `session` so that health of `server` (set later with SetServer)
  // and ebats_broker_up follow the connection, and ebats_broker_blocked the
  // broker's resource alarms. Call before session->Start(). A service with
  // several sessions tracks each: it is up (and serving) while all of them
  // are connected, and blocked while any of them is.
  void TrackBroker(amqp::Session& session) {
    session.SetStateHandler(BrokerStateHandler());
    session.SetBlockedHandler(BrokerBlockedHandler());
  }
  // The same, for a session owned by someone else (e.g. a worker::Worker).
  // Each call tracks one more connection.
  amqp::Session::StateHandler BrokerStateHandler();
  amqp::Session::BlockedHandler BrokerBlockedHandler();
  // The server whose health follows the broker; may be set after
  // TrackBroker. Not owned.
  void SetServer(rpc::RunningServer* server);

 private:
  Runtime() = default;
  std::string service_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<metrics::Endpoint> endpoint_;
  std::unique_ptr<metrics::BrokerMetrics> broker_metrics_;
  absl::Mutex mu_;
  rpc::RunningServer* server_ ABSL_GUARDED_BY(mu_) = nullptr;
  // Tracked connections, and how many of them are down and blocked.
  int connections_ ABSL_GUARDED_BY(mu_) = 0;
  int connections_down_ ABSL_GUARDED_BY(mu_) = 0;
  int connections_blocked_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace ebats::service

#endif  // EBATS_LIBS_SERVICE_SERVICE_RUNTIME_H_
