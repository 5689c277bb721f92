#include "libs/domain/task_state.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace ebats::domain {

absl::string_view TaskStateName(v1::TaskState state) {
  switch (state) {
    case v1::TASK_STATE_SCHEDULED:
      return "scheduled";
    case v1::TASK_STATE_PENDING:
      return "pending";
    case v1::TASK_STATE_RUNNING:
      return "running";
    case v1::TASK_STATE_RETRYING:
      return "retrying";
    case v1::TASK_STATE_SUCCEEDED:
      return "succeeded";
    case v1::TASK_STATE_DEAD:
      return "dead";
    case v1::TASK_STATE_CANCELED:
      return "canceled";
    default:
      return "unspecified";
  }
}

absl::StatusOr<v1::TaskState> ParseTaskState(absl::string_view name) {
  std::string lower = absl::AsciiStrToLower(name);
  for (int s = v1::TaskState_MIN; s <= v1::TaskState_MAX; ++s) {
    auto state = static_cast<v1::TaskState>(s);
    if (state != v1::TASK_STATE_UNSPECIFIED && TaskStateName(state) == lower) {
      return state;
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown task state \"", name,
                   "\"; one of scheduled, pending, running, retrying, "
                   "succeeded, dead, canceled"));
}

bool IsFinal(v1::TaskState state) {
  return state == v1::TASK_STATE_SUCCEEDED || state == v1::TASK_STATE_DEAD ||
         state == v1::TASK_STATE_CANCELED;
}

}  // namespace ebats::domain
