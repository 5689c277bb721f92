#include "libs/metrics/broker_metrics.h"

namespace ebats::metrics {

BrokerMetrics::BrokerMetrics(prometheus::Registry& registry,
                             const std::string& service)
    : up_(prometheus::BuildGauge()
              .Name("ebats_broker_up")
              .Help("1 while the service is connected to RabbitMQ")
              .Register(registry)
              .Add({{"service", service}})),
      blocked_(prometheus::BuildGauge()
                   .Name("ebats_broker_blocked")
                   .Help("1 while RabbitMQ blocks this service's publishes "
                         "(a memory or disk alarm)")
                   .Register(registry)
                   .Add({{"service", service}})),
      reconnects_(
          prometheus::BuildCounter()
              .Name("ebats_broker_reconnects_total")
              .Help("Connections to RabbitMQ established after the first")
              .Register(registry)
              .Add({{"service", service}})) {}

void BrokerMetrics::OnState(bool up) {
  // Called from the Session's single owner thread, so ever_up_ needs no lock.
  if (up && ever_up_) reconnects_.Increment();
  if (up) ever_up_ = true;
  up_.Set(up ? 1 : 0);
}

void BrokerMetrics::OnBlocked(bool blocked) { blocked_.Set(blocked ? 1 : 0); }

}  // namespace ebats::metrics
