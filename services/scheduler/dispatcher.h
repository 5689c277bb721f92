// Consumes the scheduler's input queue (events and task requests), records
// one task per matching registration and publishes it to ebats.ntask. An
// input message is acked only after every task it produced is confirmed, so
// a crash at any point means it is processed again; task ids are
// deterministic and tasks the store knows as dispatched are not sent again.
#ifndef EBATS_SERVICES_SCHEDULER_DISPATCHER_H_
#define EBATS_SERVICES_SCHEDULER_DISPATCHER_H_

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "libs/amqp/session.h"
#include "libs/common/clock.h"
#include "libs/store/store.h"
#include "services/scheduler/batch_queue.h"
#include "services/scheduler/registrations.h"
#include "services/scheduler/scheduler_metrics.h"

namespace ebats::scheduler {

struct DispatcherOptions {
  // Events with the same idempotency key within this window of the key's
  // first event are one event: their tasks are created and run once.
  absl::Duration idempotency_window = absl::Hours(24);
  // New input waits (in the dispatcher's queue, then in the broker) while
  // at least this many tasks are published and not yet recorded as
  // dispatched. It bounds the scheduler's memory: without it, prefetched
  // batches of events with a wide fan-out were all planned at once
  // (40,000 events x 10 tasks took the scheduler to 700 MB; 416 MB with
  // 100,000). One input is always planned whole, so the count can pass
  // the bound by one input's tasks.
  size_t max_in_flight_tasks = 100000;
};

class Dispatcher {
 public:
  // All arguments must outlive the Dispatcher.
  Dispatcher(amqp::Session& session, store::Store& store,
             Registrations& registrations, SchedulerMetrics& metrics,
             const Clock& clock = Clock::Real(),
             DispatcherOptions options = {});
  ~Dispatcher();

  // The session's delivery handler for the input queue; never blocks.
  void OnDelivery(amqp::Delivery delivery) { queue_.Push(std::move(delivery)); }
  void Start();
  // Processes what was already taken, then stops. Unacked input returns to
  // the queue when the session closes.
  void Shutdown();

 private:
  void Run();
  // Waits while too many tasks await their confirms (see
  // DispatcherOptions::max_in_flight_tasks); returns how many more may be
  // planned.
  size_t WaitForRoom();
  void ProcessBatch(std::vector<amqp::Delivery> batch);
  // Sends an undecodable delivery to ebats.poison, then acks it.
  void Poison(const amqp::Delivery& delivery, const absl::Status& why);
  void FlushDispatched();

  amqp::Session& session_;
  store::Store& store_;
  Registrations& registrations_;
  SchedulerMetrics& metrics_;
  const Clock& clock_;
  const int64_t idempotency_window_ms_;
  const size_t max_in_flight_;
  BatchQueue<amqp::Delivery> queue_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  // Tasks planned per input message in the last batch (dispatcher thread).
  size_t tasks_per_input_ = 1;
  absl::Mutex mu_;
  // Confirmed tasks waiting to be marked dispatched in the store.
  std::vector<std::string> dispatched_ ABSL_GUARDED_BY(mu_);
  // Tasks published and not yet recorded as dispatched. A duplicate event
  // (same idempotency key) arriving meanwhile must not send them again; the
  // first event's input stays unacked until they are confirmed, so a failure
  // brings that one back.
  absl::flat_hash_set<std::string> in_flight_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ebats::scheduler

#endif  // EBATS_SERVICES_SCHEDULER_DISPATCHER_H_
