// The EventGateway gRPC service: validates input, stamps the publish time,
// publishes to ebats.events and answers OK only once RabbitMQ confirmed the
// message. Stateless: any number of gateways can run side by side.
//
// Events of concurrent PublishEvent calls (and task requests of concurrent
// CreateTask calls, one message per topic) that arrive while earlier ones
// wait for their confirms travel together (amqp::PublishBatcher, one
// message per event name): no added latency when idle, a fraction of a
// broker message per event under load.
//
// Status codes: INVALID_ARGUMENT for bad names, params or settings (nothing
// is published); UNAVAILABLE when the broker did not accept the message (not
// connected, connection lost before the confirm, nacked, unroutable).
#ifndef EBATS_SERVICES_GATEWAY_GATEWAY_SERVICE_H_
#define EBATS_SERVICES_GATEWAY_GATEWAY_SERVICE_H_

#include <cstddef>

#include "ebats/v1/gateway.grpc.pb.h"
#include "ebats/v1/messages.pb.h"
#include "libs/amqp/publish_batcher.h"
#include "libs/amqp/session.h"
#include "libs/common/clock.h"
#include "libs/domain/params.h"
#include "libs/metrics/counter_cache.h"
#include "libs/rpc/security.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace ebats::gateway {

struct GatewayOptions {
  size_t max_params_bytes = domain::kDefaultMaxParamsBytes;
  // Every call must carry this bearer token; empty: no token needed.
  std::string token;
};

// Thread-safe. `session`, `registry` and `clock` must outlive the service.
class GatewayService final : public v1::EventGateway::CallbackService {
 public:
  GatewayService(amqp::Session& session, GatewayOptions options,
                 prometheus::Registry& registry,
                 const Clock& clock = Clock::Real());

  grpc::ServerUnaryReactor* PublishEvent(
      grpc::CallbackServerContext* context,
      const v1::PublishEventRequest* request,
      v1::PublishEventResponse* response) override;
  grpc::ServerUnaryReactor* PublishEvents(
      grpc::CallbackServerContext* context,
      const v1::PublishEventsRequest* request,
      v1::PublishEventsResponse* response) override;
  grpc::ServerUnaryReactor* CreateTask(
      grpc::CallbackServerContext* context,
      const v1::CreateTaskRequest* request,
      v1::CreateTaskResponse* response) override;

 private:
  // Finishes `reactor` with the broker's decision on its message(s): OK, or
  // UNAVAILABLE (counted in ebats_gateway_rejected_total).
  amqp::Session::Completion FinishWhenConfirmed(
      grpc::ServerUnaryReactor* reactor, const char* method);
  // Counts `count` events named `event` as published when confirmed, then
  // passes the outcome on to `then`.
  amqp::Session::Completion CountPublished(std::string event, size_t count,
                                           amqp::Session::Completion then);
  // UNAVAILABLE, with the broker's reason, while the broker blocks
  // publishing: a caller learns at once instead of waiting out its deadline
  // for an alarm that may last minutes.
  absl::Status CheckNotBlocked(const char* method) const;
  grpc::ServerUnaryReactor* Reject(grpc::CallbackServerContext* context,
                                   const absl::Status& status,
                                   const char* method);

  amqp::Session& session_;
  const GatewayOptions options_;
  const rpc::TokenCheck token_;
  const Clock& clock_;
  prometheus::Family<prometheus::Counter>& published_;
  metrics::CounterCache published_by_event_{published_};
  prometheus::Family<prometheus::Counter>& rejected_;
  prometheus::Histogram& publish_seconds_;
  amqp::PublishBatcher<v1::EventMessage> events_;
  amqp::PublishBatcher<v1::TaskRequest> task_requests_;
};

}  // namespace ebats::gateway

#endif  // EBATS_SERVICES_GATEWAY_GATEWAY_SERVICE_H_
