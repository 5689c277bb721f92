// One private RabbitMQ node per test binary, started before the first test
// and stopped after the last. Register with
//   ::testing::AddGlobalTestEnvironment(new BrokerEnvironment);
// (tests/harness/broker_main.cc does this).
#ifndef EBATS_TESTS_HARNESS_BROKER_ENVIRONMENT_H_
#define EBATS_TESTS_HARNESS_BROKER_ENVIRONMENT_H_

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/harness/rabbitmq_node.h"

namespace ebats::testing {

class BrokerEnvironment : public ::testing::Environment {
 public:
  void SetUp() override;
  void TearDown() override;
  // The node; valid between SetUp and TearDown.
  static RabbitMqNode& Node();
  // Before SetUp: the node also listens for amqps (see
  // RabbitMqNode::EnableTls).
  static void EnableTls(std::string ca_file, std::string cert_file,
                        std::string key_file);

 private:
  static std::unique_ptr<RabbitMqNode> node_;
  static std::vector<std::string> tls_;  // ca, cert, key when enabled
};

}  // namespace ebats::testing

#endif  // EBATS_TESTS_HARNESS_BROKER_ENVIRONMENT_H_
