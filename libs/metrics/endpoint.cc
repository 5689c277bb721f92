#include "libs/metrics/endpoint.h"

#include <exception>

#include "absl/strings/str_cat.h"

namespace ebats::metrics {

absl::StatusOr<std::unique_ptr<Endpoint>> Endpoint::Start(
    const std::string& address,
    std::shared_ptr<prometheus::Registry> registry) {
  auto endpoint = std::unique_ptr<Endpoint>(new Endpoint());
  // prometheus-cpp (civetweb) reports bind failures by throwing.
  try {
    endpoint->exposer_ = std::make_unique<prometheus::Exposer>(address, 2);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("metrics: cannot listen on ", address, ": ", e.what()));
  }
  endpoint->exposer_->RegisterCollectable(registry);
  auto ports = endpoint->exposer_->GetListeningPorts();
  endpoint->port_ = ports.empty() ? 0 : ports.front();
  return endpoint;
}

}  // namespace ebats::metrics
