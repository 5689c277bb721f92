// Broker connection metrics every service exports:
//   ebats_broker_up{service}                1 while connected, else 0
//   ebats_broker_reconnects_total{service}  reconnections after the first
#ifndef EBATS_LIBS_METRICS_BROKER_METRICS_H_
#define EBATS_LIBS_METRICS_BROKER_METRICS_H_

#include <string>

#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace ebats::metrics {

class BrokerMetrics {
 public:
  BrokerMetrics(prometheus::Registry& registry, const std::string& service);
  // Call on every up/down transition. Thread-safe.
  void OnState(bool up);
  // Call when the broker blocks or unblocks publishing. Thread-safe.
  void OnBlocked(bool blocked);

 private:
  prometheus::Gauge& up_;
  prometheus::Gauge& blocked_;
  prometheus::Counter& reconnects_;
  bool ever_up_ = false;
};

}  // namespace ebats::metrics

#endif  // EBATS_LIBS_METRICS_BROKER_METRICS_H_
