// What a task handler sees and returns. See Worker for how handlers run.
#ifndef EBATS_LIBS_WORKER_HANDLER_H_
#define EBATS_LIBS_WORKER_HANDLER_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/time/time.h"
#include "ebats/v1/messages.pb.h"

namespace ebats::worker {

// The task being run. Handlers should be idempotent: a task can run more
// than once (at-least-once delivery); `task_id` and `attempt` say which run.
struct TaskContext {
  std::string task_id;
  std::string event_id;  // empty for a task created without an event
  std::string event;
  std::string topic;
  std::string task;
  std::string params;  // the JSON object text exactly as published
  int attempt = 1;     // 1 for the first run
  int max_attempts = 1;
  int64_t publish_time_ms = 0;
  int64_t due_time_ms = 0;
};

// How a run ended.
class Result {
 public:
  static Result Success(std::string message = "") {
    return Result(v1::OUTCOME_SUCCEEDED, std::move(message),
                  absl::ZeroDuration());
  }
  // Transient failure: run again later. `retry_after` > 0 replaces the next
  // interval of the retry policy.
  static Result Retry(std::string message,
                      absl::Duration retry_after = absl::ZeroDuration()) {
    return Result(v1::OUTCOME_RETRY, std::move(message), retry_after);
  }
  // Permanent failure: the task is dead at once.
  static Result Fail(std::string message) {
    return Result(v1::OUTCOME_FAILED, std::move(message), absl::ZeroDuration());
  }

  v1::Outcome outcome() const { return outcome_; }
  const std::string& message() const { return message_; }
  absl::Duration retry_after() const { return retry_after_; }

 private:
  Result(v1::Outcome outcome, std::string message, absl::Duration retry_after)
      : outcome_(outcome),
        message_(std::move(message)),
        retry_after_(retry_after) {}
  v1::Outcome outcome_;
  std::string message_;
  absl::Duration retry_after_;
};

// Runs on a worker pool thread. An exception escaping it counts as Retry.
using Handler = std::function<Result(const TaskContext&)>;

// Reported after a run's outcome is confirmed by the broker: the original
// design's result callback (topic, task id, task name, params, time used,
// message) plus the outcome and attempt.
struct TaskReport {
  std::string topic;
  std::string task_id;
  std::string task;
  std::string params;
  absl::Duration time_used;
  std::string message;
  v1::Outcome outcome = v1::OUTCOME_UNSPECIFIED;
  int attempt = 1;
  // Set when the task went to dead letters (failed, exhausted, ...).
  std::string dead_reason;
};

// Runs on the broker thread: keep it short and never block.
using ReportCallback = std::function<void(const TaskReport&)>;

}  // namespace ebats::worker

#endif  // EBATS_LIBS_WORKER_HANDLER_H_
