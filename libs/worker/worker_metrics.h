// Worker metrics (Prometheus):
//   ebats_tasks_processed_total{topic,task,outcome}  runs by outcome
//   ebats_task_run_seconds{topic,task}       handler run time
//   ebats_task_queue_wait_seconds{topic}     publish -> start
//   ebats_task_lateness_seconds{topic}       due -> start
//   ebats_tasks_in_flight                    runs in progress
//   ebats_worker_overdue_runs                handlers running past their
//                                            timeout (each holds a thread)
//   ebats_tasks_dead_total{topic,reason}     tasks sent to dead letters
//   ebats_tasks_retried_total{topic,task}    retries scheduled
#ifndef EBATS_LIBS_WORKER_WORKER_METRICS_H_
#define EBATS_LIBS_WORKER_WORKER_METRICS_H_

#include <map>
#include <string>
#include <tuple>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "ebats/v1/messages.pb.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace ebats::worker {

// Thread-safe. Children are created once per label set and cached, since
// Family::Add is slow on a hot path.
class WorkerMetrics {
 public:
  explicit WorkerMetrics(prometheus::Registry& registry);

  void Started(const std::string& topic, absl::Duration queue_wait,
               absl::Duration lateness);
  void Finished(const std::string& topic, const std::string& task,
                v1::Outcome outcome, absl::Duration run_time);
  void Dead(const std::string& topic, const std::string& reason);
  void Retried(const std::string& topic, const std::string& task);
  prometheus::Gauge& in_flight() { return in_flight_; }
  prometheus::Gauge& overdue_runs() { return overdue_runs_; }

 private:
  prometheus::Family<prometheus::Counter>& processed_;
  prometheus::Family<prometheus::Histogram>& run_seconds_;
  prometheus::Family<prometheus::Histogram>& queue_wait_;
  prometheus::Family<prometheus::Histogram>& lateness_;
  prometheus::Family<prometheus::Counter>& dead_;
  prometheus::Family<prometheus::Counter>& retried_;
  prometheus::Gauge& in_flight_;
  prometheus::Gauge& overdue_runs_;

  absl::Mutex mu_;
  std::map<std::tuple<std::string, std::string, int>, prometheus::Counter*>
      processed_cache_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<std::string, std::string>, prometheus::Histogram*>
      run_cache_ ABSL_GUARDED_BY(mu_);
  std::map<std::string,
           std::pair<prometheus::Histogram*, prometheus::Histogram*>>
      topic_cache_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ebats::worker

#endif  // EBATS_LIBS_WORKER_WORKER_METRICS_H_
