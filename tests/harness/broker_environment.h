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

// Raises a memory alarm on the test node (a watermark of 0) for its
// lifetime: the broker blocks every connection that publishes, as it does
// when it runs low on memory or disk. Restores the default on destruction.
class ScopedMemoryAlarm {
 public:
  ScopedMemoryAlarm() {
    EXPECT_TRUE(BrokerEnvironment::Node()
                    .Ctl({"set_vm_memory_high_watermark", "0"})
                    .ok());
  }
  ~ScopedMemoryAlarm() {
    EXPECT_TRUE(BrokerEnvironment::Node()
                    .Ctl({"set_vm_memory_high_watermark", "0.4"})
                    .ok());
  }
  ScopedMemoryAlarm(const ScopedMemoryAlarm&) = delete;
  ScopedMemoryAlarm& operator=(const ScopedMemoryAlarm&) = delete;
};

}  // namespace ebats::testing

#endif  // EBATS_TESTS_HARNESS_BROKER_ENVIRONMENT_H_
