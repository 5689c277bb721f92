// What the scheduler creates for an event or a task request: pure functions,
// no I/O.
#ifndef EBATS_LIBS_DOMAIN_DISPATCH_PLAN_H_
#define EBATS_LIBS_DOMAIN_DISPATCH_PLAN_H_

#include <cstdint>
#include <vector>

#include "ebats/v1/messages.pb.h"
#include "ebats/v1/types.pb.h"

namespace ebats::domain {

// One task per registration, with ids derived from (event id, topic, task),
// due at publish time + the registration's delay. State is SCHEDULED when the
// task is due later than `now_ms`, else PENDING. `key_generation`: see
// TaskIdFor.
std::vector<v1::Task> PlanTasks(
    const v1::EventMessage& event,
    const std::vector<v1::Registration>& registrations, int64_t now_ms,
    int key_generation = 0);

// Which generation of its idempotency key a keyed event belongs to, given
// the key's current generation (`generation`, started at `started_ms`; no
// current generation when `known` is false). Events within `window_ms` of
// a generation's start are that generation (duplicates); a later one starts
// the next. A redelivered event carries its original publish time, so it
// lands in the generation it started or joined.
struct KeyGeneration {
  int generation = 0;
  int64_t started_ms = 0;
  bool changed = false;  // the store must record the new generation
};
KeyGeneration NextKeyGeneration(bool known, int generation, int64_t started_ms,
                                int64_t publish_time_ms, int64_t window_ms);

// The task a CreateTask request asked for.
v1::Task TaskFromRequest(const v1::TaskRequest& request, int64_t now_ms);

// The message that carries `task`'s first run to a worker.
v1::TaskMessage FirstRun(const v1::Task& task);

}  // namespace ebats::domain

#endif  // EBATS_LIBS_DOMAIN_DISPATCH_PLAN_H_
