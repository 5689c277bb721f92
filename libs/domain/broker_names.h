// The one place that names RabbitMQ exchanges, queues and routing keys.
// See DESIGN.md "RabbitMQ topology".
#ifndef EBATS_LIBS_DOMAIN_BROKER_NAMES_H_
#define EBATS_LIBS_DOMAIN_BROKER_NAMES_H_

#include <string>

#include "absl/strings/string_view.h"

namespace ebats::domain {

// Topic exchange for events and task requests; routing key = event name.
inline constexpr char kEventsExchange[] = "ebats.events";
// The scheduler's input queue, bound to kEventsExchange with "#".
inline constexpr char kSchedulerQueue[] = "ebats.scheduler";
// Direct exchange for ready tasks; routing key = topic.
inline constexpr char kReadyTaskExchange[] = "ebats.ntask";
// The delay ladder's names are in delay_ladder.h.
// Outcomes reported by workers; published through the default exchange.
inline constexpr char kResultsQueue[] = "ebats.results";
// Messages that could not be decoded, with the reason in a header.
inline constexpr char kPoisonQueue[] = "ebats.poison";

// "ebats.task.<topic>": the queue workers of `topic` consume.
std::string TaskQueueName(absl::string_view topic);
// "ebats.dead.<topic>": dead tasks of `topic`.
std::string DeadQueueName(absl::string_view topic);
// Routing key of a task request (EventGateway.CreateTask) on kEventsExchange.
// Event names cannot start with '#', so it never equals an event's key.
std::string TaskRequestRoutingKey(absl::string_view topic);

// AMQP `type` property values that tell the scheduler's inputs apart.
inline constexpr char kTypeEvent[] = "ebats.event";
inline constexpr char kTypeEventBatch[] = "ebats.event_batch";
inline constexpr char kTypeTaskRequestBatch[] = "ebats.task_request_batch";
inline constexpr char kTypeTaskRequest[] = "ebats.task_request";
inline constexpr char kTypeTask[] = "ebats.task";
inline constexpr char kTypeResult[] = "ebats.result";
inline constexpr char kTypeResultBatch[] = "ebats.result_batch";

// AMQP header names.
inline constexpr char kHeaderTaskId[] = "x-ebats-task-id";
inline constexpr char kHeaderAttempt[] = "x-ebats-attempt";
inline constexpr char kHeaderPublishTime[] = "x-ebats-publish-ms";
inline constexpr char kHeaderDueTime[] = "x-ebats-due-ms";
inline constexpr char kHeaderPoisonReason[] = "x-ebats-poison-reason";

}  // namespace ebats::domain

#endif  // EBATS_LIBS_DOMAIN_BROKER_NAMES_H_
