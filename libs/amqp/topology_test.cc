#include <algorithm>
#include <map>

#include "gtest/gtest.h"
#include "libs/amqp/ebats_topology.h"

namespace ebats::amqp {
namespace {

const QueueSpec* Find(const Topology& t, const std::string& name) {
  auto it = std::find_if(t.queues.begin(), t.queues.end(),
                         [&](const QueueSpec& q) { return q.name == name; });
  return it == t.queues.end() ? nullptr : &*it;
}

TEST(TopologyTest, QueueTypeParses) {
  EXPECT_EQ(*ParseQueueType("Quorum"), QueueType::kQuorum);
  EXPECT_EQ(*ParseQueueType("classic"), QueueType::kClassic);
  EXPECT_FALSE(ParseQueueType("stream").ok());
}

TEST(TopologyTest, QueuesCarryTheirType) {
  Topology t = SchedulerTopology(QueueType::kClassic);
  const QueueSpec* input = Find(t, "ebats.scheduler");
  ASSERT_NE(input, nullptr);
  ASSERT_FALSE(input->arguments.empty());
  EXPECT_EQ(input->arguments[0].first, "x-queue-type");
  EXPECT_EQ(std::get<std::string>(input->arguments[0].second), "classic");
  ASSERT_EQ(input->bindings.size(), 1u);
  EXPECT_EQ(input->bindings[0].routing_key, "#");
}

TEST(TopologyTest, WorkerDeclaresEachTopicOnce) {
  Topology t = WorkerTopology(QueueType::kQuorum, {"demo", "mail", "demo"});
  ASSERT_NE(Find(t, "ebats.task.demo"), nullptr);
  ASSERT_NE(Find(t, "ebats.dead.mail"), nullptr);
  EXPECT_EQ(std::count_if(
                t.queues.begin(), t.queues.end(),
                [](const QueueSpec& q) { return q.name == "ebats.task.demo"; }),
            1);
  EXPECT_EQ(std::count_if(
                t.exchanges.begin(), t.exchanges.end(),
                [](const ExchangeSpec& e) { return e.name == "ebats.ntask"; }),
            1);
}

TEST(TopologyTest, QuorumTaskQueuesStopAtTheDeliveryLimit) {
  Topology quorum = TopicTopology(QueueType::kQuorum, "mail", 7);
  const QueueSpec* tasks = Find(quorum, "ebats.task.mail");
  ASSERT_NE(tasks, nullptr);
  std::map<std::string, FieldValue> args(tasks->arguments.begin(),
                                         tasks->arguments.end());
  EXPECT_EQ(std::get<int64_t>(args["x-delivery-limit"]), 7);
  EXPECT_EQ(std::get<std::string>(args["x-dead-letter-routing-key"]),
            "ebats.dead.mail");
  EXPECT_EQ(std::get<std::string>(args["x-dead-letter-strategy"]),
            "at-least-once");
  // Classic queues have no delivery count; the worker counts instead.
  Topology classic = TopicTopology(QueueType::kClassic, "mail", 7);
  for (const auto& [key, value] : Find(classic, "ebats.task.mail")->arguments)
    EXPECT_NE(key, "x-delivery-limit");
}

}  // namespace
}  // namespace ebats::amqp
