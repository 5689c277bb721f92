#include "tests/harness/broker_environment.h"

namespace ebats::testing {

std::unique_ptr<RabbitMqNode> BrokerEnvironment::node_;

void BrokerEnvironment::SetUp() {
  node_ = std::make_unique<RabbitMqNode>();
  absl::Status status = node_->Start();
  ASSERT_TRUE(status.ok()) << status;
}

void BrokerEnvironment::TearDown() { node_.reset(); }

RabbitMqNode& BrokerEnvironment::Node() { return *node_; }

}  // namespace ebats::testing
