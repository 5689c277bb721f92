#include "libs/service/service_runtime.h"

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "libs/amqp/ebats_topology.h"
#include "libs/common/env.h"
#include "libs/common/logging.h"
#include "libs/common/openssl_init.h"
#include "libs/common/shutdown_signal.h"
#include "libs/common/status_macros.h"

ABSL_FLAG(std::string, amqp_url,
          ebats::EnvOr("EBATS_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"),
          "RabbitMQ URL(s), comma-separated for failover [EBATS_AMQP_URL]");
ABSL_FLAG(std::string, queue_type, ebats::EnvOr("EBATS_QUEUE_TYPE", "quorum"),
          "quorum (replicated, at-least-once dead-lettering) or classic "
          "[EBATS_QUEUE_TYPE]");
ABSL_FLAG(std::string, delivery_limit,
          ebats::EnvOr("EBATS_DELIVERY_LIMIT",
                       std::to_string(ebats::amqp::kDefaultDeliveryLimit)),
          "deliveries of a task without an outcome (its worker crashed each "
          "time) before it is dead with reason poison; the same for every "
          "service, as it is a task queue argument [EBATS_DELIVERY_LIMIT]");
ABSL_FLAG(std::string, amqp_ca, ebats::EnvOr("EBATS_AMQP_CA", ""),
          "PEM CA of the broker's certificate for amqps:// URLs; empty: the "
          "system's trust store [EBATS_AMQP_CA]");
ABSL_FLAG(std::string, amqp_cert, ebats::EnvOr("EBATS_AMQP_CERT", ""),
          "PEM client certificate for amqps:// [EBATS_AMQP_CERT]");
ABSL_FLAG(std::string, amqp_key, ebats::EnvOr("EBATS_AMQP_KEY", ""),
          "PEM key of --amqp_cert [EBATS_AMQP_KEY]");
ABSL_FLAG(std::string, tls_cert, ebats::EnvOr("EBATS_TLS_CERT", ""),
          "PEM certificate (chain): serve gRPC over TLS [EBATS_TLS_CERT]");
ABSL_FLAG(std::string, tls_key, ebats::EnvOr("EBATS_TLS_KEY", ""),
          "PEM private key of --tls_cert [EBATS_TLS_KEY]");
ABSL_FLAG(std::string, tls_client_ca, ebats::EnvOr("EBATS_TLS_CLIENT_CA", ""),
          "PEM CA: require gRPC clients to present a certificate it signed "
          "[EBATS_TLS_CLIENT_CA]");
ABSL_FLAG(std::string, tls_ca, ebats::EnvOr("EBATS_TLS_CA", ""),
          "PEM CA that signed the other services' certificates: call them "
          "over TLS [EBATS_TLS_CA]");
ABSL_FLAG(std::string, tls_client_cert,
          ebats::EnvOr("EBATS_TLS_CLIENT_CERT", ""),
          "PEM client certificate for calls to other services "
          "[EBATS_TLS_CLIENT_CERT]");
ABSL_FLAG(std::string, tls_client_key, ebats::EnvOr("EBATS_TLS_CLIENT_KEY", ""),
          "PEM key of --tls_client_cert [EBATS_TLS_CLIENT_KEY]");
ABSL_FLAG(std::string, token_file, ebats::EnvOr("EBATS_TOKEN_FILE", ""),
          "file holding the bearer token the gateway and scheduler require "
          "(and the worker sends); EBATS_TOKEN gives it directly "
          "[EBATS_TOKEN_FILE]");
ABSL_FLAG(std::string, log_level, ebats::EnvOr("EBATS_LOG_LEVEL", "info"),
          "trace, debug, info, warn, error [EBATS_LOG_LEVEL]");

namespace ebats::service {

void Init(int argc, char** argv, const std::string& program,
          const std::string& usage) {
  InitOpenSslWithoutExitCleanup();
  // Abseil's deadlock detection (on in Debian's build) keeps a lock graph
  // on every Mutex operation; a few percent of CPU in a running service.
  // Tests keep it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  BlockShutdownSignals();
  absl::SetProgramUsageMessage(usage);
  absl::ParseCommandLine(argc, argv);
  InitLogging(program, absl::GetFlag(FLAGS_log_level));
}

absl::StatusOr<BrokerConfig> BrokerConfigFromFlags() {
  BrokerConfig config;
  EBATS_ASSIGN_OR_RETURN(config.brokers,
                         amqp::ParseBrokerUrls(absl::GetFlag(FLAGS_amqp_url)));
  EBATS_ASSIGN_OR_RETURN(config.queue_type,
                         amqp::ParseQueueType(absl::GetFlag(FLAGS_queue_type)));
  config.tls = {absl::GetFlag(FLAGS_amqp_ca), absl::GetFlag(FLAGS_amqp_cert),
                absl::GetFlag(FLAGS_amqp_key)};
  const std::string limit = absl::GetFlag(FLAGS_delivery_limit);
  if (!absl::SimpleAtoi(limit, &config.delivery_limit) ||
      config.delivery_limit < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--delivery_limit (EBATS_DELIVERY_LIMIT) must be a whole number of "
        "at least 1, not \"",
        limit, "\""));
  }
  return config;
}

absl::Status CheckFlagRange(const std::string& flag, int64_t value, int64_t min,
                            int64_t max) {
  if (value >= min && value <= max) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "--", flag, " must be between ", min, " and ", max, ", not ", value));
}

absl::Status CheckFlagRange(const std::string& flag, absl::Duration value,
                            absl::Duration min, absl::Duration max) {
  if (value >= min && value <= max) return absl::OkStatus();
  if (min == absl::ZeroDuration() && max == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, " must not be negative, not ",
                     absl::FormatDuration(value)));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--", flag, " must be between ", absl::FormatDuration(min), " and ",
      absl::FormatDuration(max), ", not ", absl::FormatDuration(value)));
}

absl::Status FirstError(std::initializer_list<absl::Status> statuses) {
  for (const absl::Status& s : statuses) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<SecurityConfig> SecurityFromFlags() {
  SecurityConfig config;
  config.server.cert_file = absl::GetFlag(FLAGS_tls_cert);
  config.server.key_file = absl::GetFlag(FLAGS_tls_key);
  config.server.client_ca_file = absl::GetFlag(FLAGS_tls_client_ca);
  config.client.ca_file = absl::GetFlag(FLAGS_tls_ca);
  config.client.cert_file = absl::GetFlag(FLAGS_tls_client_cert);
  config.client.key_file = absl::GetFlag(FLAGS_tls_client_key);
  EBATS_ASSIGN_OR_RETURN(config.token,
                         rpc::LoadToken(absl::GetFlag(FLAGS_token_file),
                                        EnvOr("EBATS_TOKEN", "")));
  return config;
}

absl::StatusOr<std::unique_ptr<Runtime>> Runtime::Create(
    const std::string& service, const std::string& metrics_address) {
  std::unique_ptr<Runtime> runtime(new Runtime());
  runtime->service_ = service;
  runtime->registry_ = std::make_shared<prometheus::Registry>();
  EBATS_ASSIGN_OR_RETURN(
      runtime->endpoint_,
      metrics::Endpoint::Start(metrics_address, runtime->registry_));
  runtime->broker_metrics_ =
      std::make_unique<metrics::BrokerMetrics>(*runtime->registry_, service);
  return runtime;
}

amqp::Session::StateHandler Runtime::BrokerStateHandler() {
  absl::MutexLock lock(&mu_);
  ++connections_;
  ++connections_down_;
  return [this, was_up = false](bool up, const absl::Status&) mutable {
    absl::MutexLock lock(&mu_);
    if (up == was_up) return;
    was_up = up;
    connections_down_ += up ? -1 : 1;
    // The service changes only with the last connection up or the first down.
    if (connections_down_ != (up ? 0 : 1)) return;
    broker_metrics_->OnState(up);
    if (server_ != nullptr) server_->SetServing(up);
  };
}

amqp::Session::BlockedHandler Runtime::BrokerBlockedHandler() {
  return [this, was_blocked = false](bool blocked, const std::string&) mutable {
    absl::MutexLock lock(&mu_);
    if (blocked == was_blocked) return;
    was_blocked = blocked;
    connections_blocked_ += blocked ? 1 : -1;
    if (connections_blocked_ == (blocked ? 1 : 0))
      broker_metrics_->OnBlocked(blocked);
  };
}

void Runtime::SetServer(rpc::RunningServer* server) {
  absl::MutexLock lock(&mu_);
  server_ = server;
  if (server_ != nullptr)
    server_->SetServing(connections_ > 0 && connections_down_ == 0);
}

}  // namespace ebats::service
