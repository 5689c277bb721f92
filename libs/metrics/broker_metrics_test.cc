// The broker metrics as Prometheus scrapes them from the /metrics endpoint:
// the names and labels that deploy/prometheus/alerts.yml relies on.
#include "libs/metrics/broker_metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "libs/metrics/endpoint.h"

namespace ebats::metrics {
namespace {

// GET /metrics over plain HTTP/1.0; the whole response, or "" on error.
std::string Scrape(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string request = "GET /metrics HTTP/1.0\r\n\r\n";
    if (write(fd, request.data(), request.size()) ==
        static_cast<ssize_t>(request.size())) {
      char buffer[4096];
      for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) > 0;)
        response.append(buffer, static_cast<size_t>(n));
    }
  }
  close(fd);
  return response;
}

// `line` is one whole sample line of the exposition `text`.
bool HasSample(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

TEST(BrokerMetricsTest, UpBlockedAndReconnectsAreServed) {
  auto registry = std::make_shared<prometheus::Registry>();
  BrokerMetrics metrics(*registry, "gateway");
  auto endpoint = Endpoint::Start("127.0.0.1:0", registry);
  ASSERT_TRUE(endpoint.ok()) << endpoint.status();

  metrics.OnState(true);
  metrics.OnBlocked(true);
  std::string text = Scrape((*endpoint)->port());
  EXPECT_TRUE(HasSample(text, "ebats_broker_up{service=\"gateway\"} 1"))
      << text;
  EXPECT_TRUE(HasSample(text, "ebats_broker_blocked{service=\"gateway\"} 1"))
      << text;

  // A lost connection, then a new one: one reconnect, no longer blocked.
  metrics.OnBlocked(false);
  metrics.OnState(false);
  metrics.OnState(true);
  text = Scrape((*endpoint)->port());
  EXPECT_TRUE(HasSample(text, "ebats_broker_blocked{service=\"gateway\"} 0"))
      << text;
  EXPECT_TRUE(
      HasSample(text, "ebats_broker_reconnects_total{service=\"gateway\"} 1"))
      << text;
}

}  // namespace
}  // namespace ebats::metrics
