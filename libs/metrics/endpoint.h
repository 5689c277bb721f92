// The /metrics endpoint of one process (prometheus-cpp's Exposer).
#ifndef EBATS_LIBS_METRICS_ENDPOINT_H_
#define EBATS_LIBS_METRICS_ENDPOINT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "prometheus/exposer.h"
#include "prometheus/registry.h"

namespace ebats::metrics {

class Endpoint {
 public:
  // Serves `registry` at http://<address>/metrics. address "host:0" picks a
  // free port. UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<Endpoint>> Start(
      const std::string& address,
      std::shared_ptr<prometheus::Registry> registry);

  int port() const { return port_; }

 private:
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
};

}  // namespace ebats::metrics

#endif  // EBATS_LIBS_METRICS_ENDPOINT_H_
