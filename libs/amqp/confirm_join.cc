#include "libs/amqp/confirm_join.h"

#include <atomic>
#include <memory>
#include <utility>

#include "absl/synchronization/mutex.h"

namespace ebats::amqp {
namespace {

struct JoinState {
  JoinState(int n, Session::Completion done)
      : remaining(n), done(std::move(done)) {}
  std::atomic<int> remaining;
  const Session::Completion done;
  absl::Mutex mu;
  absl::Status first_error ABSL_GUARDED_BY(mu);
};

}  // namespace

Session::Completion JoinConfirms(int n, Session::Completion done) {
  if (n <= 0) {
    done(absl::OkStatus());
    return nullptr;
  }
  auto state = std::make_shared<JoinState>(n, std::move(done));
  return [state](absl::Status status) {
    if (!status.ok()) {
      absl::MutexLock lock(&state->mu);
      if (state->first_error.ok()) state->first_error = std::move(status);
    }
    // The last caller sees every earlier caller's error: their writes
    // happen before their decrement (acq_rel), and the mutex orders them.
    if (state->remaining.fetch_sub(1, std::memory_order_acq_rel) > 1) return;
    absl::Status result;
    {
      absl::MutexLock lock(&state->mu);
      result = state->first_error;
    }
    state->done(std::move(result));
  };
}

}  // namespace ebats::amqp
