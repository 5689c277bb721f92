#include "libs/domain/registration.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/message_differencer.h"
#include "libs/common/status_macros.h"
#include "libs/domain/names.h"

namespace ebats::domain {

const std::vector<int64_t>& DefaultRetryIntervalsMs() {
  static const auto* intervals =
      new std::vector<int64_t>{5'000, 300'000, 600'000, 3'600'000, 7'200'000};
  return *intervals;
}

absl::Status ValidateRetryPolicy(const v1::RetryPolicy& policy) {
  for (int i = 0; i < policy.intervals_ms_size(); ++i) {
    int64_t v = policy.intervals_ms(i);
    if (v < 1 || v > kMaxDelayMs) {
      return absl::InvalidArgumentError(absl::StrCat(
          "retry.intervals_ms[", i, "] = ", v, "; must be 1..", kMaxDelayMs));
    }
  }
  if (policy.max_attempts() < 0) {
    return absl::InvalidArgumentError(
        "retry.max_attempts must not be negative");
  }
  if (policy.timeout_ms() < 0 || policy.timeout_ms() > kMaxTaskTimeoutMs) {
    return absl::InvalidArgumentError(absl::StrCat(
        "retry.timeout_ms = ", policy.timeout_ms(), "; must be 0..",
        kMaxTaskTimeoutMs, " (25 min, below RabbitMQ's consumer_timeout)"));
  }
  if (policy.has_exponential()) {
    const v1::ExponentialBackoff& e = policy.exponential();
    if (e.initial_ms() < 1 || e.initial_ms() > kMaxDelayMs) {
      return absl::InvalidArgumentError(absl::StrCat(
          "retry.exponential.initial_ms must be 1..", kMaxDelayMs));
    }
    if (e.multiplier() < 0 || (e.multiplier() > 0 && e.multiplier() < 1)) {
      return absl::InvalidArgumentError(
          "retry.exponential.multiplier must be >= 1 (0 = 2)");
    }
    if (e.max_ms() < 0 || e.max_ms() > kMaxDelayMs) {
      return absl::InvalidArgumentError(
          absl::StrCat("retry.exponential.max_ms must be 0..", kMaxDelayMs));
    }
    if (e.jitter() < 0 || e.jitter() > 1) {
      return absl::InvalidArgumentError(
          "retry.exponential.jitter must be 0..1");
    }
    if (policy.intervals_ms_size() > 0) {
      return absl::InvalidArgumentError(
          "retry: give intervals_ms or exponential, not both");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateRegistration(const v1::Registration& registration) {
  EBATS_RETURN_IF_ERROR(ValidateEventName(registration.event()));
  EBATS_RETURN_IF_ERROR(ValidateTopicName(registration.topic()));
  EBATS_RETURN_IF_ERROR(ValidateTaskName(registration.task()));
  if (registration.delay_ms() < 0 || registration.delay_ms() > kMaxDelayMs) {
    return absl::InvalidArgumentError(absl::StrCat(
        "delay_ms = ", registration.delay_ms(), "; must be 0..", kMaxDelayMs));
  }
  return ValidateRetryPolicy(registration.retry());
}

int32_t EffectiveMaxAttempts(const v1::RetryPolicy& policy) {
  if (policy.max_attempts() > 0) return policy.max_attempts();
  size_t intervals = policy.intervals_ms_size() > 0
                         ? policy.intervals_ms_size()
                         : DefaultRetryIntervalsMs().size();
  return static_cast<int32_t>(intervals) + 1;
}

int64_t RetryDelayMs(const v1::RetryPolicy& policy, int32_t attempt,
                     int64_t retry_after_ms, double random01) {
  if (retry_after_ms > 0) return std::min(retry_after_ms, kMaxDelayMs);
  if (policy.has_exponential()) {
    const v1::ExponentialBackoff& e = policy.exponential();
    const double multiplier = e.multiplier() > 0 ? e.multiplier() : 2.0;
    const double cap =
        static_cast<double>(e.max_ms() > 0 ? e.max_ms() : kMaxDelayMs);
    double wait = static_cast<double>(e.initial_ms());
    for (int i = 1; i < attempt && wait < cap; ++i) wait *= multiplier;
    wait = std::min(wait, cap);
    // Spread evenly over [wait * (1 - jitter), wait * (1 + jitter)].
    const double jitter = std::clamp(e.jitter(), 0.0, 1.0);
    wait *= 1.0 + jitter * (2.0 * random01 - 1.0);
    return std::clamp<int64_t>(static_cast<int64_t>(wait), 1, kMaxDelayMs);
  }
  const auto& intervals =
      policy.intervals_ms_size() > 0
          ? std::vector<int64_t>(policy.intervals_ms().begin(),
                                 policy.intervals_ms().end())
          : DefaultRetryIntervalsMs();
  size_t index = attempt < 1 ? 0 : static_cast<size_t>(attempt - 1);
  return intervals[std::min(index, intervals.size() - 1)];
}

bool SameSettings(const v1::Registration& a, const v1::Registration& b) {
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

}  // namespace ebats::domain
