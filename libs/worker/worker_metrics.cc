#include "libs/worker/worker_metrics.h"

namespace ebats::worker {
namespace {

// From 0.5 ms to ~1 min: task runs and waits both span that range.
const prometheus::Histogram::BucketBoundaries& Buckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
      0.25,   0.5,   1,      2.5,   5,    10,    30,   60};
  return *buckets;
}

std::string OutcomeLabel(v1::Outcome outcome) {
  switch (outcome) {
    case v1::OUTCOME_SUCCEEDED:
      return "succeeded";
    case v1::OUTCOME_RETRY:
      return "retry";
    case v1::OUTCOME_FAILED:
      return "failed";
    default:
      return "unknown";
  }
}

}  // namespace

WorkerMetrics::WorkerMetrics(prometheus::Registry& registry)
    : processed_(prometheus::BuildCounter()
                     .Name("ebats_tasks_processed_total")
                     .Help("Task runs finished, by outcome")
                     .Register(registry)),
      run_seconds_(prometheus::BuildHistogram()
                       .Name("ebats_task_run_seconds")
                       .Help("Handler run time")
                       .Register(registry)),
      queue_wait_(prometheus::BuildHistogram()
                      .Name("ebats_task_queue_wait_seconds")
                      .Help("Time from publish to the start of a run")
                      .Register(registry)),
      lateness_(prometheus::BuildHistogram()
                    .Name("ebats_task_lateness_seconds")
                    .Help("Time from a task's due time to the start of its run")
                    .Register(registry)),
      dead_(prometheus::BuildCounter()
                .Name("ebats_tasks_dead_total")
                .Help("Tasks sent to dead letters, by reason")
                .Register(registry)),
      retried_(prometheus::BuildCounter()
                   .Name("ebats_tasks_retried_total")
                   .Help("Retries scheduled")
                   .Register(registry)),
      in_flight_(prometheus::BuildGauge()
                     .Name("ebats_tasks_in_flight")
                     .Help("Task runs in progress on this worker")
                     .Register(registry)
                     .Add({})),
      overdue_runs_(prometheus::BuildGauge()
                        .Name("ebats_worker_overdue_runs")
                        .Help("Handlers still running past their task's "
                              "timeout (the run was reported as a retry; "
                              "what they return is dropped); each holds a "
                              "thread")
                        .Register(registry)
                        .Add({})) {}

void WorkerMetrics::Started(const std::string& topic, absl::Duration queue_wait,
                            absl::Duration lateness) {
  std::pair<prometheus::Histogram*, prometheus::Histogram*> h;
  {
    absl::MutexLock lock(&mu_);
    auto it = topic_cache_.find(topic);
    if (it == topic_cache_.end()) {
      it = topic_cache_
               .emplace(topic,
                        std::make_pair(
                            &queue_wait_.Add({{"topic", topic}}, Buckets()),
                            &lateness_.Add({{"topic", topic}}, Buckets())))
               .first;
    }
    h = it->second;
  }
  h.first->Observe(
      absl::ToDoubleSeconds(std::max(queue_wait, absl::ZeroDuration())));
  h.second->Observe(
      absl::ToDoubleSeconds(std::max(lateness, absl::ZeroDuration())));
}

void WorkerMetrics::Finished(const std::string& topic, const std::string& task,
                             v1::Outcome outcome, absl::Duration run_time) {
  prometheus::Counter* counter;
  prometheus::Histogram* histogram;
  {
    absl::MutexLock lock(&mu_);
    auto& c = processed_cache_[{topic, task, outcome}];
    if (c == nullptr) {
      c = &processed_.Add({{"topic", topic},
                           {"task", task},
                           {"outcome", OutcomeLabel(outcome)}});
    }
    auto& h = run_cache_[{topic, task}];
    if (h == nullptr)
      h = &run_seconds_.Add({{"topic", topic}, {"task", task}}, Buckets());
    counter = c;
    histogram = h;
  }
  counter->Increment();
  histogram->Observe(absl::ToDoubleSeconds(run_time));
}

void WorkerMetrics::Dead(const std::string& topic, const std::string& reason) {
  dead_.Add({{"topic", topic}, {"reason", reason}}).Increment();
}

void WorkerMetrics::Retried(const std::string& topic, const std::string& task) {
  retried_.Add({{"topic", topic}, {"task", task}}).Increment();
}

}  // namespace ebats::worker
