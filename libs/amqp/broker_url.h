// Broker addresses: amqp://user:pass@host:port/vhost, comma-separated lists.
#ifndef EBATS_LIBS_AMQP_BROKER_URL_H_
#define EBATS_LIBS_AMQP_BROKER_URL_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ebats::amqp {

struct BrokerUrl {
  std::string host;
  int port = 5672;
  std::string user = "guest";
  std::string password = "guest";
  std::string vhost = "/";
  bool tls = false;

  // The URL with the password masked, for logs and errors.
  std::string Redacted() const;
};

// Parses one amqp:// or amqps:// URL (percent-decoding, default port and
// vhost as in the AMQP URI spec). INVALID_ARGUMENT says what is wrong.
absl::StatusOr<BrokerUrl> ParseBrokerUrl(absl::string_view url);

// Parses a comma-separated list; at least one URL. Services fail over
// between them in order.
absl::StatusOr<std::vector<BrokerUrl>> ParseBrokerUrls(absl::string_view urls);

}  // namespace ebats::amqp

#endif  // EBATS_LIBS_AMQP_BROKER_URL_H_
