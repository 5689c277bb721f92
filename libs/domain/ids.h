// Event and task identifiers.
#ifndef EBATS_LIBS_DOMAIN_IDS_H_
#define EBATS_LIBS_DOMAIN_IDS_H_

#include <string>

#include "absl/strings/string_view.h"

namespace ebats::domain {

// A fresh random id: 32 lowercase hex characters. Thread-safe.
std::string NewRandomId();

// The event id for an idempotency key: the same key always gives the same
// id, on any gateway replica, so the scheduler can drop duplicates.
std::string EventIdFromKey(absl::string_view idempotency_key);

// The id of the task that registration (topic, task) creates for an event.
// Deterministic, so a redelivered event yields the same task ids.
// `key_generation` > 0 for a keyed event published again after the
// scheduler's idempotency window had passed: a new event with fresh task ids.
std::string TaskIdFor(absl::string_view event_id, absl::string_view topic,
                      absl::string_view task, int key_generation = 0);

}  // namespace ebats::domain

#endif  // EBATS_LIBS_DOMAIN_IDS_H_
