// Scheduler metrics (Prometheus):
//   ebats_events_received_total{event}   events taken from the input queue
//   ebats_events_unmatched_total{event}  events matching no registration
//   ebats_events_duplicate_total         events all of whose tasks had been
//                                        dispatched before
//   ebats_tasks_dispatched_total{topic,task}  tasks confirmed on ebats.ntask
//   ebats_task_outcomes_total{topic,task,outcome}  outcomes from workers
//   ebats_poison_messages_total{queue}   undecodable messages -> ebats.poison
//   ebats_store_batch_seconds{op}        store write time per batch
//   ebats_tasks_released_total           delayed tasks released when due
//   ebats_tasks_due_dropped_total        due tasks not run: canceled/finished
//   ebats_due_release_lateness_seconds   release time - due time
//   ebats_dispatch_in_flight_tasks       tasks published and not yet
//                                        recorded as dispatched
#ifndef EBATS_SERVICES_SCHEDULER_SCHEDULER_METRICS_H_
#define EBATS_SERVICES_SCHEDULER_SCHEDULER_METRICS_H_

#include <string>

#include "ebats/v1/messages.pb.h"
#include "libs/metrics/counter_cache.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace ebats::scheduler {

// Thread-safe (prometheus-cpp families are).
struct SchedulerMetrics {
  explicit SchedulerMetrics(prometheus::Registry& registry);

  void Outcome(const std::string& topic, const std::string& task,
               v1::Outcome outcome);

  prometheus::Family<prometheus::Counter>& events_received;
  prometheus::Family<prometheus::Counter>& events_unmatched;
  prometheus::Counter& events_duplicate;
  prometheus::Family<prometheus::Counter>& tasks_dispatched;
  prometheus::Family<prometheus::Counter>& outcomes;
  // Per-message label lookups go through these.
  metrics::CounterCache received_by_event{events_received};
  metrics::CounterCache dispatched_by_task{tasks_dispatched};
  metrics::CounterCache outcomes_by_label{outcomes};
  prometheus::Family<prometheus::Counter>& poison;
  prometheus::Family<prometheus::Histogram>& store_batch_seconds;
  prometheus::Histogram& store_insert_seconds;  // op="insert_tasks"
  prometheus::Histogram& store_apply_seconds;   // op="apply_results"
  prometheus::Counter& released;
  prometheus::Counter& due_dropped;
  prometheus::Histogram& release_lateness;
  prometheus::Gauge& dispatch_in_flight;
};

}  // namespace ebats::scheduler

#endif  // EBATS_SERVICES_SCHEDULER_SCHEDULER_METRICS_H_
