// Event and task identifiers.
#ifndef EBATS_LIBS_DOMAIN_IDS_H_
#define EBATS_LIBS_DOMAIN_IDS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace ebats::domain {

// A fresh random id: 32 lowercase hex characters. Thread-safe.
std::string NewRandomId();

// A fresh time-ordered id for events and created tasks: `now_ms` as 12 hex
// digits, '-', then 20 random hex digits (80 bits), e.g.
// "019ac0c3e0a1-5f0e4c2b9d8a7f6e1c3b". Later ids sort after earlier ones (as
// far as the clocks of the gateways agree), so the scheduler's store appends
// them to its indexes: inserting random ids at random places in indexes of a
// few hundred thousand entries cost it about 3 times as much. Thread-safe.
std::string NewTimeOrderedId(int64_t now_ms);

// The time (Unix ms) a time-ordered id was made: NewTimeOrderedId's ids and
// the task ids TaskIdFor makes from them. nullopt for an id of any other
// form (random, digest), which carries no time.
std::optional<int64_t> TimeOfId(absl::string_view id);

// The event id for an idempotency key: the same key always gives the same
// id, on any gateway replica, so the scheduler can drop duplicates.
std::string EventIdFromKey(absl::string_view idempotency_key);

// The id of the task that registration (topic, task) creates for an event.
// Deterministic, so a redelivered event yields the same task ids. A
// time-ordered event id gives a task id with the same time prefix and 20 hex
// digits of a digest; any other event id (derived from an idempotency key, or
// made before time-ordered ids existed) gives 32 hex digits of a digest, the
// form every task id had before, so events in flight across an upgrade keep
// their task ids.
// `key_generation` > 0 for a keyed event published again after the
// scheduler's idempotency window had passed: a new event with fresh task ids.
std::string TaskIdFor(absl::string_view event_id, absl::string_view topic,
                      absl::string_view task, int key_generation = 0);

}  // namespace ebats::domain

#endif  // EBATS_LIBS_DOMAIN_IDS_H_
