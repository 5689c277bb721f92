#include "libs/amqp/ebats_topology.h"

#include "libs/domain/broker_names.h"
#include "libs/domain/delay_ladder.h"

namespace ebats::amqp {

namespace names = ::ebats::domain;

Topology GatewayTopology(QueueType type) {
  Topology t;
  t.exchanges.push_back({names::kEventsExchange, "topic"});
  QueueSpec input = DurableQueue(names::kSchedulerQueue, type);
  input.bindings.push_back({names::kEventsExchange, "#", {}});
  t.queues.push_back(std::move(input));
  t.queues.push_back(DurableQueue(names::kPoisonQueue, type));
  return t;
}

Topology SchedulerTopology(QueueType type) {
  Topology t = GatewayTopology(type);
  t.exchanges.push_back({names::kReadyTaskExchange, "direct"});
  t.queues.push_back(DurableQueue(names::kResultsQueue, type));
  t.Merge(DelayLadderTopology(type));
  return t;
}

Topology DelayLadderTopology(QueueType type) {
  Topology t;
  t.exchanges.push_back({names::kLadderEntryExchange, "headers"});
  t.exchanges.push_back({names::kLadderExitExchange, "fanout"});
  const int top = names::kLadderLevels - 1;
  t.exchange_bindings.push_back({names::kLadderEntryExchange,
                                 names::LadderLevelExchange(top),
                                 "",
                                 {{"x-match", std::string("all")}}});
  for (int level = top; level >= 0; --level) {
    const std::string exchange = names::LadderLevelExchange(level);
    const std::string next = level > 0 ? names::LadderLevelExchange(level - 1)
                                       : names::kLadderExitExchange;
    const std::string bit = names::LadderBitHeader(level);
    t.exchanges.push_back({exchange, "headers"});
    QueueSpec queue = DurableQueue(names::LadderLevelQueue(level), type);
    queue.arguments.emplace_back("x-message-ttl",
                                 names::LadderLevelTtlMs(level));
    queue.arguments.emplace_back("x-dead-letter-exchange", next);
    if (type == QueueType::kQuorum) {
      queue.arguments.emplace_back("x-dead-letter-strategy",
                                   std::string("at-least-once"));
      queue.arguments.emplace_back("x-overflow", std::string("reject-publish"));
    }
    queue.bindings.push_back(
        {exchange, "", {{"x-match", std::string("all")}, {bit, int64_t{1}}}});
    t.queues.push_back(std::move(queue));
    t.exchange_bindings.push_back(
        {exchange,
         next,
         "",
         {{"x-match", std::string("all")}, {bit, int64_t{0}}}});
  }
  QueueSpec due = DurableQueue(names::kDueQueue, type);
  due.bindings.push_back({names::kLadderExitExchange, "", {}});
  t.queues.push_back(std::move(due));
  return t;
}

Topology TopicTopology(QueueType type, const std::string& topic,
                       int delivery_limit) {
  Topology t;
  t.exchanges.push_back({names::kReadyTaskExchange, "direct"});
  QueueSpec tasks = DurableQueue(names::TaskQueueName(topic), type);
  tasks.bindings.push_back({names::kReadyTaskExchange, topic, {}});
  if (type == QueueType::kQuorum) {
    // Task queues had no delivery limit before; the worker still stops a
    // task at the limit (it reads x-delivery-count), only the broker-side
    // backstop is missing on such a queue.
    tasks.legacy_arguments = tasks.arguments;
    tasks.arguments.emplace_back("x-delivery-limit", int64_t{delivery_limit});
    tasks.arguments.emplace_back("x-dead-letter-exchange", std::string(""));
    tasks.arguments.emplace_back("x-dead-letter-routing-key",
                                 names::DeadQueueName(topic));
    tasks.arguments.emplace_back("x-dead-letter-strategy",
                                 std::string("at-least-once"));
    tasks.arguments.emplace_back("x-overflow", std::string("reject-publish"));
  }
  t.queues.push_back(std::move(tasks));
  t.queues.push_back(DurableQueue(names::DeadQueueName(topic), type));
  return t;
}

Topology WorkerTopology(QueueType type, const std::vector<std::string>& topics,
                        int delivery_limit) {
  Topology t;
  t.exchanges.push_back({names::kReadyTaskExchange, "direct"});
  t.queues.push_back(DurableQueue(names::kResultsQueue, type));
  t.queues.push_back(DurableQueue(names::kPoisonQueue, type));
  t.Merge(DelayLadderTopology(type));
  for (const auto& topic : topics)
    t.Merge(TopicTopology(type, topic, delivery_limit));
  return t;
}

}  // namespace ebats::amqp
