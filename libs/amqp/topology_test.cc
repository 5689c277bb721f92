#include <algorithm>

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

}  // namespace
}  // namespace ebats::amqp
