// What each ebats service declares on the broker (DESIGN.md "RabbitMQ
// topology"). Every service declares what it publishes to or consumes, so
// any of them can start first.
#ifndef EBATS_LIBS_AMQP_EBATS_TOPOLOGY_H_
#define EBATS_LIBS_AMQP_EBATS_TOPOLOGY_H_

#include <string>
#include <vector>

#include "libs/amqp/topology.h"

namespace ebats::amqp {

// How many times a task may be delivered without an outcome (its worker
// crashed or lost the connection each time) before it is dead with reason
// "poison". Every service must use the same value: it is an argument of
// each task queue.
inline constexpr int kDefaultDeliveryLimit = 10;

// ebats.events, the scheduler's input queue, ebats.poison.
Topology GatewayTopology(QueueType type);
// The gateway's part plus ebats.ntask, ebats.results and the delay ladder.
Topology SchedulerTopology(QueueType type);
// ebats.ntask, ebats.results, ebats.poison, the delay ladder (for retries)
// and the task and dead queues of `topics`.
Topology WorkerTopology(QueueType type, const std::vector<std::string>& topics,
                        int delivery_limit = kDefaultDeliveryLimit);
// ebats.task.<topic> bound to ebats.ntask with key <topic>, and
// ebats.dead.<topic>. Quorum task queues get x-delivery-limit =
// `delivery_limit` and dead-letter (at-least-once) to ebats.dead.<topic>: a
// backstop, since the worker itself stops a task at its last allowed delivery
// and records why. Classic queues have no such argument; the worker counts.
Topology TopicTopology(QueueType type, const std::string& topic,
                       int delivery_limit = kDefaultDeliveryLimit);
// The delay ladder (see libs/domain/delay_ladder.h): the entry and exit
// exchanges, 35 level exchanges and queues, and ebats.due. Quorum level
// queues dead-letter at-least-once (which needs overflow=reject-publish);
// classic ones dead-letter at-most-once.
Topology DelayLadderTopology(QueueType type);

}  // namespace ebats::amqp

#endif  // EBATS_LIBS_AMQP_EBATS_TOPOLOGY_H_
