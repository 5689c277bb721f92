// Test helper: the scheduler's due stage alone (with an in-memory store), so
// that delayed messages and retries come back out of the delay ladder.
#ifndef EBATS_TESTS_INTEGRATION_DUE_PATH_H_
#define EBATS_TESTS_INTEGRATION_DUE_PATH_H_

#include <memory>

#include "libs/amqp/ebats_topology.h"
#include "libs/domain/delay_ladder.h"
#include "prometheus/registry.h"
#include "services/scheduler/due_stage.h"
#include "tests/integration/queue_probe.h"

namespace ebats::testing {

class DuePath {
 public:
  explicit DuePath(amqp::QueueType type = amqp::QueueType::kQuorum)
      : store_(*store::Store::Open(":memory:")),
        session_(TestSessionOptions(amqp::SchedulerTopology(type))),
        metrics_(registry_),
        registrations_(*store_, session_, type),
        due_stage_(session_, *store_, registrations_, metrics_) {
    session_.AddConsumer(
        domain::kDueQueue,
        [this](amqp::Delivery d) { due_stage_.OnDelivery(std::move(d)); },
        30000);
    due_stage_.Start();
    session_.Start();
  }
  ~DuePath() {
    due_stage_.Shutdown();
    session_.Shutdown();
  }
  bool WaitUp() {
    return WaitFor([&] { return session_.IsUp(); });
  }

 private:
  prometheus::Registry registry_;
  std::unique_ptr<store::Store> store_;
  amqp::Session session_;
  scheduler::SchedulerMetrics metrics_;
  scheduler::Registrations registrations_;
  scheduler::DueStage due_stage_;
};

}  // namespace ebats::testing

#endif  // EBATS_TESTS_INTEGRATION_DUE_PATH_H_
