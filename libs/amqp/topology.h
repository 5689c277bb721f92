// Declarations of exchanges, queues and bindings, as data. A Session
// declares them (idempotently) at every connect.
#ifndef EBATS_LIBS_AMQP_TOPOLOGY_H_
#define EBATS_LIBS_AMQP_TOPOLOGY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ebats::amqp {

// Quorum queues are replicated and dead-letter at-least-once; classic queues
// are faster but lose dead-lettered messages when the broker is hard-killed.
enum class QueueType { kQuorum, kClassic };

// "quorum" or "classic" (case-insensitive); INVALID_ARGUMENT otherwise.
absl::StatusOr<QueueType> ParseQueueType(absl::string_view name);
absl::string_view QueueTypeName(QueueType type);

// A value of a queue argument or message header.
using FieldValue = std::variant<std::string, int64_t>;
using FieldTable = std::vector<std::pair<std::string, FieldValue>>;

struct ExchangeSpec {
  std::string name;
  std::string type;  // "direct", "topic", "fanout", "headers"
};

struct BindingSpec {
  std::string exchange;
  std::string routing_key;
  // Binding arguments (for headers exchanges: x-match and the headers).
  FieldTable arguments;
};

struct QueueSpec {
  std::string name;
  // x-queue-type and further x- arguments, in declaration order.
  FieldTable arguments;
  std::vector<BindingSpec> bindings;
  // The arguments an earlier ebats version declared this queue with, if
  // they differ. RabbitMQ cannot change a queue's arguments, so a queue
  // that already exists with these is used as it is (with a warning)
  // instead of refusing to start.
  std::optional<FieldTable> legacy_arguments;
};

// Routes messages of `source` matching `routing_key` on to `destination`.
struct ExchangeBindingSpec {
  std::string source;
  std::string destination;
  std::string routing_key;
  FieldTable arguments;
};

// Declared in this order: exchanges, queues (with their bindings), then
// exchange-to-exchange bindings.
struct Topology {
  std::vector<ExchangeSpec> exchanges;
  std::vector<QueueSpec> queues;
  std::vector<ExchangeBindingSpec> exchange_bindings;

  // Appends `other`'s items that are not already here (by name).
  void Merge(const Topology& other);
};

// A durable queue of `type` with no further arguments.
QueueSpec DurableQueue(std::string name, QueueType type);

}  // namespace ebats::amqp

#endif  // EBATS_LIBS_AMQP_TOPOLOGY_H_
