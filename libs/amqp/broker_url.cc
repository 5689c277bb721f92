#include "libs/amqp/broker_url.h"

#include <amqp.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace ebats::amqp {

std::string BrokerUrl::Redacted() const {
  return absl::StrCat(tls ? "amqps" : "amqp", "://", user, ":***@", host, ":",
                      port, vhost == "/" ? "/" : absl::StrCat("/", vhost));
}

absl::StatusOr<BrokerUrl> ParseBrokerUrl(absl::string_view url) {
  std::string text(absl::StripAsciiWhitespace(url));
  std::string buffer = text;  // amqp_parse_url decodes in place.
  amqp_connection_info info;
  amqp_default_connection_info(&info);
  if (amqp_parse_url(buffer.data(), &info) != AMQP_STATUS_OK) {
    return absl::InvalidArgumentError(absl::StrCat(
        "broker URL \"", text,
        "\" is not of the form amqp://user:password@host:port/vhost"));
  }
  BrokerUrl parsed;
  parsed.host = info.host;
  parsed.port = info.port;
  parsed.user = info.user;
  parsed.password = info.password;
  // The URI spec makes "amqp://h/" mean vhost "", which no broker has by
  // default; everyone means "/".
  parsed.vhost =
      (info.vhost == nullptr || *info.vhost == '\0') ? "/" : info.vhost;
  parsed.tls = info.ssl != 0;
  if (parsed.host.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("broker URL \"", text, "\" has no host"));
  }
  return parsed;
}

absl::StatusOr<std::vector<BrokerUrl>> ParseBrokerUrls(absl::string_view urls) {
  std::vector<BrokerUrl> parsed;
  for (absl::string_view part :
       absl::StrSplit(urls, ',', absl::SkipWhitespace())) {
    auto url = ParseBrokerUrl(part);
    if (!url.ok()) return url.status();
    parsed.push_back(*std::move(url));
  }
  if (parsed.empty()) return absl::InvalidArgumentError("no broker URL given");
  return parsed;
}

}  // namespace ebats::amqp
