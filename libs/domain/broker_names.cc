#include "libs/domain/broker_names.h"

#include "absl/strings/str_cat.h"

namespace ebats::domain {

std::string TaskQueueName(absl::string_view topic) {
  return absl::StrCat("ebats.task.", topic);
}

std::string DeadQueueName(absl::string_view topic) {
  return absl::StrCat("ebats.dead.", topic);
}

std::string TaskRequestRoutingKey(absl::string_view topic) {
  return absl::StrCat("#task.", topic);
}

}  // namespace ebats::domain
