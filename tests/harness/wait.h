// Bounded waits on a condition: tests never sleep a fixed time.
#ifndef EBATS_TESTS_HARNESS_WAIT_H_
#define EBATS_TESTS_HARNESS_WAIT_H_

#include <functional>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace ebats::testing {

// Polls `condition` every 10 ms until it holds (true) or `timeout` passes.
inline bool WaitFor(const std::function<bool()>& condition,
                    absl::Duration timeout = absl::Seconds(20)) {
  absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

}  // namespace ebats::testing

#endif  // EBATS_TESTS_HARNESS_WAIT_H_
