// Names of task states as users type and read them ("succeeded").
#ifndef EBATS_LIBS_DOMAIN_TASK_STATE_H_
#define EBATS_LIBS_DOMAIN_TASK_STATE_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ebats/v1/types.pb.h"

namespace ebats::domain {

// "scheduled", "pending", ...; "unspecified" for 0.
absl::string_view TaskStateName(v1::TaskState state);
// The inverse of TaskStateName, case-insensitive; INVALID_ARGUMENT lists the
// accepted names.
absl::StatusOr<v1::TaskState> ParseTaskState(absl::string_view name);
// True for states a task never leaves by itself (succeeded, dead, canceled).
bool IsFinal(v1::TaskState state);

}  // namespace ebats::domain

#endif  // EBATS_LIBS_DOMAIN_TASK_STATE_H_
