#include "libs/domain/broker_names.h"

#include "gtest/gtest.h"
#include "libs/domain/names.h"

namespace ebats::domain {
namespace {

TEST(BrokerNamesTest, PerTopicQueues) {
  EXPECT_EQ(TaskQueueName("demo"), "ebats.task.demo");
  EXPECT_EQ(DeadQueueName("demo"), "ebats.dead.demo");
}

TEST(BrokerNamesTest, TaskRequestKeyCannotBeAnEventName) {
  EXPECT_FALSE(ValidateEventName(TaskRequestRoutingKey("demo")).ok());
}

}  // namespace
}  // namespace ebats::domain
