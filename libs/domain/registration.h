// Rules for registrations and retry policies.
#ifndef EBATS_LIBS_DOMAIN_REGISTRATION_H_
#define EBATS_LIBS_DOMAIN_REGISTRATION_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "ebats/v1/types.pb.h"

namespace ebats::domain {

// Longest accepted delay, in milliseconds: what the 35-level delay ladder
// reaches, 2^35 - 1 ms (about 397 days).
inline constexpr int64_t kMaxDelayMs = (int64_t{1} << 35) - 1;

// The default retry intervals (the original system's): 5 s, 5 min, 10 min,
// 1 h, 2 h.
const std::vector<int64_t>& DefaultRetryIntervalsMs();

// Upper bound of a run's timeout: RabbitMQ closes a channel that holds a
// delivery unacked for its consumer_timeout (30 min by default), so a longer
// run could not be reported as timed out.
inline constexpr int64_t kMaxTaskTimeoutMs = 25 * 60 * 1000;

// Checks intervals (each 1 ms..kMaxDelayMs), max_attempts (>= 0) and timeout
// (0..kMaxTaskTimeoutMs). INVALID_ARGUMENT names the bad field.
absl::Status ValidateRetryPolicy(const v1::RetryPolicy& policy);

// Checks names, delay and retry policy. INVALID_ARGUMENT names the bad field.
absl::Status ValidateRegistration(const v1::Registration& registration);

// Runs allowed in total: max_attempts, or (intervals or default) + 1.
int32_t EffectiveMaxAttempts(const v1::RetryPolicy& policy);

// How long to wait before the run after `attempt` (1-based) when a handler
// asked for a retry: `retry_after_ms` when positive, else the policy's wait
// for that attempt (the last interval repeats; exponential grows to its
// cap). `random01` in [0, 1) spreads an exponential wait by its jitter; it
// is a parameter so this stays a pure function.
int64_t RetryDelayMs(const v1::RetryPolicy& policy, int32_t attempt,
                     int64_t retry_after_ms, double random01 = 0.5);

// True when two registrations of the same (event, topic, task) have the same
// settings, so registering again is a no-op rather than ALREADY_EXISTS.
bool SameSettings(const v1::Registration& a, const v1::Registration& b);

}  // namespace ebats::domain

#endif  // EBATS_LIBS_DOMAIN_REGISTRATION_H_
