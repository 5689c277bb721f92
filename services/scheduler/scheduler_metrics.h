// Scheduler metrics (Prometheus):
//   ebats_events_received_total{event}            events taken from the input
//   queue ebats_events_unmatched_total{event}           events that matched no
//   registration ebats_events_duplicate_total                  events whose
//   tasks were all dispatched before ebats_tasks_dispatched_total{topic,task}
//   tasks confirmed on ebats.ntask
//   ebats_task_outcomes_total{topic,task,outcome} outcomes recorded from
//   workers ebats_poison_messages_total{queue}            undecodable messages
//   sent to ebats.poison ebats_store_batch_seconds{op}                 store
//   write time per batch
#ifndef EBATS_SERVICES_SCHEDULER_SCHEDULER_METRICS_H_
#define EBATS_SERVICES_SCHEDULER_SCHEDULER_METRICS_H_

#include <string>

#include "ebats/v1/messages.pb.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
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
  prometheus::Family<prometheus::Counter>& poison;
  prometheus::Family<prometheus::Histogram>& store_batch_seconds;
  prometheus::Histogram& store_insert_seconds;  // op="insert_tasks"
  prometheus::Histogram& store_apply_seconds;   // op="apply_results"
  prometheus::Counter& released;
  prometheus::Counter& due_dropped;
  prometheus::Histogram& release_lateness;
};

}  // namespace ebats::scheduler

#endif  // EBATS_SERVICES_SCHEDULER_SCHEDULER_METRICS_H_
