// Naming rules of DESIGN.md "Names". Each check returns OK or
// INVALID_ARGUMENT with a message that says which rule was broken.
#ifndef EBATS_LIBS_DOMAIN_NAMES_H_
#define EBATS_LIBS_DOMAIN_NAMES_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace ebats::domain {

// [A-Za-z0-9_.:-], 1-128 characters.
absl::Status ValidateEventName(absl::string_view name);
// [A-Za-z0-9_-], 1-64 characters (no dots: routing keys use them).
absl::Status ValidateTopicName(absl::string_view name);
// Same rule as topics.
absl::Status ValidateTaskName(absl::string_view name);
// Task ids, event ids and idempotency keys: printable ASCII, 1-64 characters.
// `what` names the field in the error ("task id").
absl::Status ValidateId(absl::string_view id, absl::string_view what);

}  // namespace ebats::domain

#endif  // EBATS_LIBS_DOMAIN_NAMES_H_
