// ebats-gateway: the gRPC entry point for publishing events and creating
// tasks. See services/gateway/gateway_service.h.
#include <algorithm>
#include <cstdint>
#include <limits>

#include "absl/flags/flag.h"
#include "libs/amqp/ebats_topology.h"
#include "libs/common/env.h"
#include "libs/common/shutdown_signal.h"
#include "libs/service/service_runtime.h"
#include "services/gateway/gateway_service.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, listen,
          ebats::EnvOr("EBATS_GATEWAY_ADDR", "127.0.0.1:7401"),
          "gRPC address [EBATS_GATEWAY_ADDR]");
ABSL_FLAG(std::string, metrics_addr,
          ebats::EnvOr("EBATS_GATEWAY_METRICS_ADDR", "127.0.0.1:9401"),
          "Prometheus /metrics address; port 0 picks one "
          "[EBATS_GATEWAY_METRICS_ADDR]");
ABSL_FLAG(int64_t, max_params_bytes, 256 * 1024,
          "largest accepted params text; larger is INVALID_ARGUMENT");
ABSL_FLAG(int64_t, max_request_bytes, 16 * 1024 * 1024,
          "largest accepted gRPC request (a PublishEvents batch must fit); "
          "larger is RESOURCE_EXHAUSTED; at least max_params_bytes + 64 KiB");

int main(int argc, char** argv) {
  using namespace ebats;
  service::Init(argc, argv, "ebats-gateway",
                "ebats-gateway: publish events and create tasks over gRPC");
  auto broker = service::BrokerConfigFromFlags();
  auto security = service::SecurityFromFlags();
  if (!security.ok()) {
    spdlog::critical("{}", security.status().ToString());
    return 2;
  }
  if (!broker.ok()) {
    spdlog::critical("{}", broker.status().ToString());
    return 2;
  }
  // "{}" is the smallest params; gRPC messages stay below 2 GiB.
  if (absl::Status s = service::FirstError(
          {service::CheckFlagRange("max_params_bytes",
                                   absl::GetFlag(FLAGS_max_params_bytes), 2,
                                   int64_t{1} << 30),
           service::CheckFlagRange("max_request_bytes",
                                   absl::GetFlag(FLAGS_max_request_bytes), 1,
                                   std::numeric_limits<int32_t>::max())});
      !s.ok()) {
    spdlog::critical("{}", s.ToString());
    return 2;
  }
  auto runtime =
      service::Runtime::Create("gateway", absl::GetFlag(FLAGS_metrics_addr));
  if (!runtime.ok()) {
    spdlog::critical("{}", runtime.status().ToString());
    return 1;
  }

  amqp::SessionOptions session_options;
  session_options.brokers = broker->brokers;
  session_options.connection_name = "ebats-gateway";
  session_options.topology = amqp::GatewayTopology(broker->queue_type);
  session_options.tls = broker->tls;
  amqp::Session session(session_options);
  (*runtime)->TrackBroker(session);
  session.Start();

  gateway::GatewayOptions options;
  options.max_params_bytes =
      static_cast<size_t>(absl::GetFlag(FLAGS_max_params_bytes));
  options.token = security->token;
  gateway::GatewayService gateway_service(session, options,
                                          (*runtime)->registry());
  rpc::ServerOptions server_options;
  server_options.address = absl::GetFlag(FLAGS_listen);
  server_options.tls = security->server;
  // One event with the largest params always fits, whatever the flags say.
  server_options.max_receive_bytes = static_cast<int>(
      std::max<int64_t>(absl::GetFlag(FLAGS_max_request_bytes),
                        absl::GetFlag(FLAGS_max_params_bytes) + 64 * 1024));
  auto server = rpc::RunningServer::Start(server_options, {&gateway_service});
  if (!server.ok()) {
    spdlog::critical("{}", server.status().ToString());
    return 1;
  }
  (*runtime)->SetServer(server->get());
  spdlog::info("gateway listening on port {} (metrics on {})",
               (*server)->port(), (*runtime)->metrics_port());

  int signal = WaitForShutdownSignal();
  // Shutdown order: health NOT_SERVING, stop accepting calls and let running
  // ones get their confirms, then close the broker connection.
  spdlog::info("gateway: signal {}, shutting down", signal);
  (*runtime)->SetServer(nullptr);
  (*server)->Shutdown(absl::Seconds(10));
  session.Shutdown();
  spdlog::info("gateway: stopped");
  return 0;
}
