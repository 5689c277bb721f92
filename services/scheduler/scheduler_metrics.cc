#include "services/scheduler/scheduler_metrics.h"

namespace ebats::scheduler {
namespace {

const prometheus::Histogram::BucketBoundaries& StoreBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5};
  return *buckets;
}

}  // namespace

SchedulerMetrics::SchedulerMetrics(prometheus::Registry& registry)
    : events_received(prometheus::BuildCounter()
                          .Name("ebats_events_received_total")
                          .Help("Events taken from the scheduler's input queue")
                          .Register(registry)),
      events_unmatched(prometheus::BuildCounter()
                           .Name("ebats_events_unmatched_total")
                           .Help("Events that matched no registration")
                           .Register(registry)),
      events_duplicate(
          prometheus::BuildCounter()
              .Name("ebats_events_duplicate_total")
              .Help("Events (and task requests) whose tasks had all been "
                    "dispatched before")
              .Register(registry)
              .Add({})),
      tasks_dispatched(prometheus::BuildCounter()
                           .Name("ebats_tasks_dispatched_total")
                           .Help("Tasks confirmed on ebats.ntask")
                           .Register(registry)),
      outcomes(prometheus::BuildCounter()
                   .Name("ebats_task_outcomes_total")
                   .Help("Task outcomes recorded from workers")
                   .Register(registry)),
      poison(prometheus::BuildCounter()
                 .Name("ebats_poison_messages_total")
                 .Help("Undecodable messages sent to ebats.poison")
                 .Register(registry)),
      store_batch_seconds(prometheus::BuildHistogram()
                              .Name("ebats_store_batch_seconds")
                              .Help("Store write time per batch")
                              .Register(registry)),
      store_insert_seconds(
          store_batch_seconds.Add({{"op", "insert_tasks"}}, StoreBuckets())),
      store_apply_seconds(
          store_batch_seconds.Add({{"op", "apply_results"}}, StoreBuckets())),
      released(prometheus::BuildCounter()
                   .Name("ebats_tasks_released_total")
                   .Help("Delayed tasks and retries released by the due stage")
                   .Register(registry)
                   .Add({})),
      due_dropped(
          prometheus::BuildCounter()
              .Name("ebats_tasks_due_dropped_total")
              .Help("Due tasks not run because they were canceled or finished")
              .Register(registry)
              .Add({})),
      release_lateness(prometheus::BuildHistogram()
                           .Name("ebats_due_release_lateness_seconds")
                           .Help("Release time minus due time at the due stage")
                           .Register(registry)
                           .Add({},
                                prometheus::Histogram::BucketBoundaries{
                                    0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01,
                                    0.025, 0.05, 0.1, 0.5, 1, 5})),
      dispatch_in_flight(
          prometheus::BuildGauge()
              .Name("ebats_dispatch_in_flight_tasks")
              .Help("Tasks published and not yet recorded as dispatched; new "
                    "input waits while it is at --dispatch_max_in_flight")
              .Register(registry)
              .Add({})) {}

void SchedulerMetrics::Outcome(const std::string& topic,
                               const std::string& task, v1::Outcome outcome) {
  const char* label = outcome == v1::OUTCOME_SUCCEEDED ? "succeeded"
                      : outcome == v1::OUTCOME_RETRY   ? "retry"
                      : outcome == v1::OUTCOME_FAILED  ? "failed"
                                                       : "started";
  outcomes_by_label.Get({{"topic", topic}, {"task", task}, {"outcome", label}})
      .Increment();
}

}  // namespace ebats::scheduler
