// Sends a worker's reports (STARTED and outcomes) to ebats.results in batches:
// one AMQP message carries many TaskResults, so under load a task costs the
// broker one report message per batch instead of two per task.
//
// No timer and no added latency when idle: a report goes out at once when
// no batch is waiting for its confirm; while one is, reports gather and leave
// together when it is confirmed (or when `max_batch` are waiting). Each
// report's `done` runs with its batch's confirm outcome.
#ifndef EBATS_LIBS_WORKER_REPORT_BATCHER_H_
#define EBATS_LIBS_WORKER_REPORT_BATCHER_H_

#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "ebats/v1/messages.pb.h"
#include "libs/amqp/session.h"

namespace ebats::worker {

class ReportBatcher {
 public:
  // `session` must outlive the batcher.
  explicit ReportBatcher(amqp::Session& session, int max_batch = 256,
                         int max_in_flight = 2)
      : session_(session),
        max_batch_(max_batch),
        max_in_flight_(max_in_flight) {}

  // Thread-safe. `done` may run on the session thread or, when not
  // connected, on the caller's.
  void Add(v1::TaskResult report, amqp::Session::Completion done);

 private:
  struct Pending {
    std::vector<v1::TaskResult> reports;
    std::vector<amqp::Session::Completion> done;
  };
  // Takes the pending reports if a batch may leave now.
  bool TakeLocked(Pending* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Send(Pending batch);

  amqp::Session& session_;
  const int max_batch_;
  const int max_in_flight_;
  absl::Mutex mu_;
  Pending pending_ ABSL_GUARDED_BY(mu_);
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace ebats::worker

#endif  // EBATS_LIBS_WORKER_REPORT_BATCHER_H_
