#include "libs/domain/dispatch_plan.h"

#include "libs/domain/ids.h"
#include "libs/domain/registration.h"

namespace ebats::domain {

std::vector<v1::Task> PlanTasks(
    const v1::EventMessage& event,
    const std::vector<v1::Registration>& registrations, int64_t now_ms,
    int key_generation) {
  std::vector<v1::Task> tasks;
  tasks.reserve(registrations.size());
  for (const v1::Registration& r : registrations) {
    v1::Task& t = tasks.emplace_back();
    t.set_id(TaskIdFor(event.event_id(), r.topic(), r.task(), key_generation));
    t.set_event_id(event.event_id());
    t.set_event(event.event());
    t.set_topic(r.topic());
    t.set_task(r.task());
    t.set_params(event.params());
    t.set_publish_time_ms(event.publish_time_ms());
    t.set_due_time_ms(event.publish_time_ms() + r.delay_ms());
    t.set_state(t.due_time_ms() > now_ms ? v1::TASK_STATE_SCHEDULED
                                         : v1::TASK_STATE_PENDING);
    *t.mutable_retry() = r.retry();
    t.set_max_attempts(EffectiveMaxAttempts(r.retry()));
  }
  return tasks;
}

KeyGeneration NextKeyGeneration(bool known, int generation, int64_t started_ms,
                                int64_t publish_time_ms, int64_t window_ms) {
  if (!known) return {0, publish_time_ms, true};
  if (publish_time_ms - started_ms < window_ms) {
    return {generation, started_ms, false};
  }
  return {generation + 1, publish_time_ms, true};
}

v1::Task TaskFromRequest(const v1::TaskRequest& request, int64_t now_ms) {
  v1::Task t;
  t.set_id(request.task_id());
  t.set_topic(request.topic());
  t.set_task(request.task());
  t.set_params(request.params());
  t.set_publish_time_ms(request.publish_time_ms());
  t.set_due_time_ms(request.due_time_ms() > 0 ? request.due_time_ms()
                                              : request.publish_time_ms());
  t.set_state(t.due_time_ms() > now_ms ? v1::TASK_STATE_SCHEDULED
                                       : v1::TASK_STATE_PENDING);
  *t.mutable_retry() = request.retry();
  t.set_max_attempts(EffectiveMaxAttempts(request.retry()));
  return t;
}

v1::TaskMessage FirstRun(const v1::Task& task) {
  v1::TaskMessage m;
  m.set_task_id(task.id());
  m.set_event_id(task.event_id());
  m.set_event(task.event());
  m.set_topic(task.topic());
  m.set_task(task.task());
  m.set_params(task.params());
  m.set_attempt(1);
  m.set_max_attempts(task.max_attempts());
  m.set_publish_time_ms(task.publish_time_ms());
  m.set_due_time_ms(task.due_time_ms());
  *m.mutable_retry() = task.retry();
  return m;
}

}  // namespace ebats::domain
