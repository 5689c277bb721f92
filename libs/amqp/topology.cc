#include "libs/amqp/topology.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace ebats::amqp {

absl::StatusOr<QueueType> ParseQueueType(absl::string_view name) {
  std::string lower = absl::AsciiStrToLower(name);
  if (lower == "quorum" || lower.empty()) return QueueType::kQuorum;
  if (lower == "classic") return QueueType::kClassic;
  return absl::InvalidArgumentError(
      absl::StrCat("queue type \"", name, "\" is neither quorum nor classic"));
}

absl::string_view QueueTypeName(QueueType type) {
  return type == QueueType::kQuorum ? "quorum" : "classic";
}

void Topology::Merge(const Topology& other) {
  for (const auto& exchange : other.exchanges) {
    if (std::none_of(
            exchanges.begin(), exchanges.end(),
            [&](const ExchangeSpec& e) { return e.name == exchange.name; })) {
      exchanges.push_back(exchange);
    }
  }
  for (const auto& queue : other.queues) {
    if (std::none_of(queues.begin(), queues.end(), [&](const QueueSpec& q) {
          return q.name == queue.name;
        })) {
      queues.push_back(queue);
    }
  }
  for (const auto& binding : other.exchange_bindings) {
    if (std::none_of(exchange_bindings.begin(), exchange_bindings.end(),
                     [&](const ExchangeBindingSpec& b) {
                       return b.source == binding.source &&
                              b.destination == binding.destination &&
                              b.routing_key == binding.routing_key;
                     })) {
      exchange_bindings.push_back(binding);
    }
  }
}

QueueSpec DurableQueue(std::string name, QueueType type) {
  QueueSpec spec;
  spec.name = std::move(name);
  spec.arguments.emplace_back("x-queue-type", std::string(QueueTypeName(type)));
  return spec;
}

}  // namespace ebats::amqp
