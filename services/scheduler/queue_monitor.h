// Exports how many messages wait in ebats' queues and how many consumers
// each has, read from the broker every `interval`:
//   ebats_queue_ready_messages{queue}  messages ready for a consumer
//   ebats_queue_consumers{queue}       consumers attached
// for the scheduler's input, ebats.results, ebats.due, ebats.poison, the
// delay ladder's levels (their sum is how many delayed and retrying tasks
// wait there) and the task and dead-letter queues of every topic the
// scheduler knows (Registrations::Topics()).
//
// The run-time metrics come from workers, so they cannot show tasks that no
// worker takes: when a topic's workers are all gone its tasks pile up with
// nobody to report them, and only the broker knows. While the broker cannot
// be read the series are removed rather than left at stale values
// (ebats_broker_up says why); a queue that does not exist has none.
#ifndef EBATS_SERVICES_SCHEDULER_QUEUE_MONITOR_H_
#define EBATS_SERVICES_SCHEDULER_QUEUE_MONITOR_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "libs/amqp/session.h"
#include "prometheus/registry.h"
#include "services/scheduler/registrations.h"

namespace ebats::scheduler {

class QueueMonitor {
 public:
  // `session` should serve nothing else: each queue read is a round-trip
  // its owner thread waits for (see Session::InspectQueues). `session` and
  // `registrations` must outlive the monitor.
  QueueMonitor(amqp::Session& session, const Registrations& registrations,
               prometheus::Registry& registry, absl::Duration interval);
  ~QueueMonitor();  // Calls Shutdown().
  QueueMonitor(const QueueMonitor&) = delete;
  QueueMonitor& operator=(const QueueMonitor&) = delete;

  // Reads the queues at once, then every `interval`, one round at a time.
  void Start();
  // Stops reading (waits for a round in progress, at most `interval`).
  // Idempotent.
  void Shutdown();

  struct WatchedQueue {
    std::string queue;
    std::string topic;  // empty for ebats' own queues
  };
  // The queues a round reads, in order; with `topic`, only that topic's
  // (none when the scheduler does not know it).
  std::vector<WatchedQueue> Queues(absl::string_view topic = "") const;

  // Reads `queues` from the broker now, rather than the last round's
  // figures; one entry per queue, in order. UNAVAILABLE when not connected;
  // DEADLINE_EXCEEDED when the broker has not answered by `deadline`.
  absl::StatusOr<std::vector<amqp::QueueCounts>> ReadNow(
      const std::vector<WatchedQueue>& queues, absl::Time deadline);

 private:
  struct Series;  // the gauges
  void Run();

  amqp::Session& session_;
  const Registrations& registrations_;
  const absl::Duration interval_;
  std::unique_ptr<Series> series_;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace ebats::scheduler

#endif  // EBATS_SERVICES_SCHEDULER_QUEUE_MONITOR_H_
