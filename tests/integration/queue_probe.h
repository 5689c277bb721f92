// Test helper: consumes queues on a real broker and keeps what arrives.
#ifndef EBATS_TESTS_INTEGRATION_QUEUE_PROBE_H_
#define EBATS_TESTS_INTEGRATION_QUEUE_PROBE_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "libs/amqp/ebats_topology.h"
#include "libs/amqp/session.h"
#include "tests/harness/broker_environment.h"
#include "tests/harness/wait.h"

namespace ebats::testing {

// Session options for the test broker.
inline amqp::SessionOptions TestSessionOptions(amqp::Topology topology = {}) {
  amqp::SessionOptions options;
  options.brokers = *amqp::ParseBrokerUrls(BrokerEnvironment::Node().url());
  options.topology = std::move(topology);
  options.prefetch = 1000;
  return options;
}

// Consumes `queues` (declared with `topology`), acks everything, keeps it.
class QueueProbe {
 public:
  QueueProbe(const std::vector<std::string>& queues, amqp::Topology topology)
      : session_(TestSessionOptions(std::move(topology))) {
    for (const auto& q : queues) {
      session_.AddConsumer(q, [this](amqp::Delivery d) {
        session_.Ack(d);
        absl::MutexLock lock(&mu_);
        deliveries_.push_back(std::move(d));
      });
    }
    session_.Start();
  }
  bool WaitUp() {
    return WaitFor([&] { return session_.IsUp(); });
  }
  // Deliveries matching `pred` so far.
  std::vector<amqp::Delivery> Matching(
      const std::function<bool(const amqp::Delivery&)>& pred) {
    absl::MutexLock lock(&mu_);
    std::vector<amqp::Delivery> out;
    for (const auto& d : deliveries_) {
      if (pred(d)) out.push_back(d);
    }
    return out;
  }
  // Waits until `count` deliveries match; returns them.
  std::vector<amqp::Delivery> WaitMatching(
      const std::function<bool(const amqp::Delivery&)>& pred, size_t count,
      absl::Duration timeout = absl::Seconds(20)) {
    std::vector<amqp::Delivery> out;
    WaitFor(
        [&] {
          out = Matching(pred);
          return out.size() >= count;
        },
        timeout);
    return out;
  }
  amqp::Session& session() { return session_; }

 private:
  amqp::Session session_;
  absl::Mutex mu_;
  std::vector<amqp::Delivery> deliveries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ebats::testing

#endif  // EBATS_TESTS_INTEGRATION_QUEUE_PROBE_H_
