// main() for test binaries that need RabbitMQ: starts one private node.
#include "gtest/gtest.h"
#include "tests/harness/broker_environment.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ebats::testing::KillChildrenOnTermination();
  ::testing::AddGlobalTestEnvironment(new ebats::testing::BrokerEnvironment);
  return RUN_ALL_TESTS();
}
