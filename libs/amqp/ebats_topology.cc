#include "libs/amqp/ebats_topology.h"

#include "libs/domain/broker_names.h"

namespace ebats::amqp {

namespace names = ::ebats::domain;

Topology GatewayTopology(QueueType type) {
  Topology t;
  t.exchanges.push_back({names::kEventsExchange, "topic"});
  QueueSpec input = DurableQueue(names::kSchedulerQueue, type);
  input.bindings.push_back({names::kEventsExchange, "#"});
  t.queues.push_back(std::move(input));
  t.queues.push_back(DurableQueue(names::kPoisonQueue, type));
  return t;
}

Topology SchedulerTopology(QueueType type) {
  Topology t = GatewayTopology(type);
  t.exchanges.push_back({names::kReadyTaskExchange, "direct"});
  t.queues.push_back(DurableQueue(names::kResultsQueue, type));
  return t;
}

Topology TopicTopology(QueueType type, const std::string& topic) {
  Topology t;
  t.exchanges.push_back({names::kReadyTaskExchange, "direct"});
  QueueSpec tasks = DurableQueue(names::TaskQueueName(topic), type);
  tasks.bindings.push_back({names::kReadyTaskExchange, topic});
  t.queues.push_back(std::move(tasks));
  t.queues.push_back(DurableQueue(names::DeadQueueName(topic), type));
  return t;
}

Topology WorkerTopology(QueueType type,
                        const std::vector<std::string>& topics) {
  Topology t;
  t.exchanges.push_back({names::kReadyTaskExchange, "direct"});
  t.queues.push_back(DurableQueue(names::kResultsQueue, type));
  t.queues.push_back(DurableQueue(names::kPoisonQueue, type));
  for (const auto& topic : topics) t.Merge(TopicTopology(type, topic));
  return t;
}

}  // namespace ebats::amqp
