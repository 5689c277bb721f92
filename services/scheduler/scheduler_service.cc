#include "services/scheduler/scheduler_service.h"

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/codec/message_codec.h"
#include "libs/domain/dispatch_plan.h"
#include "libs/domain/ids.h"
#include "libs/domain/names.h"
#include "libs/rpc/status.h"

namespace ebats::scheduler {
namespace {

// Workers heartbeat this often; ListWorkers shows the last time.
constexpr int64_t kHeartbeatIntervalMs = 5000;
// A worker silent this long is lost (crashed, partitioned or killed):
// ListWorkers leaves it out unless asked. Three intervals, so one late or
// lost heartbeat does not flap it.
constexpr int64_t kLostAfterMs = 3 * kHeartbeatIntervalMs;
// A worker silent this long is forgotten: never listed again, and deleted
// at the next registration (which keeps the table from growing).
constexpr int64_t kForgetAfterMs = 24 * 3600 * 1000;

using rpc::ToGrpcStatus;

}  // namespace

SchedulerService::SchedulerService(store::Store& store,
                                   Registrations& registrations,
                                   amqp::Session& session, const Clock& clock)
    : store_(store),
      registrations_(registrations),
      session_(session),
      clock_(clock) {}

grpc::Status SchedulerService::RegisterTask(
    grpc::ServerContext* context, const v1::RegisterTaskRequest* request,
    v1::RegisterTaskResponse* response) {
  if (grpc::Status denied = token_.Check(*context); !denied.ok()) return denied;
  auto created = registrations_.Put(request->registration());
  if (!created.ok()) return ToGrpcStatus(created.status());
  *response->mutable_registration() = request->registration();
  response->set_created(*created);
  return grpc::Status::OK;
}

grpc::Status SchedulerService::UnregisterTask(
    grpc::ServerContext* context, const v1::UnregisterTaskRequest* request,
    v1::UnregisterTaskResponse*) {
  if (grpc::Status denied = token_.Check(*context); !denied.ok()) return denied;
  for (absl::Status s : {domain::ValidateEventName(request->event()),
                         domain::ValidateTopicName(request->topic()),
                         domain::ValidateTaskName(request->task())}) {
    if (!s.ok()) return ToGrpcStatus(s);
  }
  return ToGrpcStatus(registrations_.Delete(request->event(), request->topic(),
                                            request->task()));
}

grpc::Status SchedulerService::ListRegistrations(
    grpc::ServerContext* context, const v1::ListRegistrationsRequest* request,
    v1::ListRegistrationsResponse* response) {
  if (grpc::Status denied = token_.Check(*context); !denied.ok()) return denied;
  if (!request->event().empty()) {
    if (absl::Status s = domain::ValidateEventName(request->event()); !s.ok()) {
      return ToGrpcStatus(s);
    }
  }
  auto list = store_.ListRegistrations(request->event());
  if (!list.ok()) return ToGrpcStatus(list.status());
  for (auto& r : *list) *response->add_registrations() = std::move(r);
  return grpc::Status::OK;
}

grpc::Status SchedulerService::GetTask(grpc::ServerContext* context,
                                       const v1::GetTaskRequest* request,
                                       v1::GetTaskResponse* response) {
  if (grpc::Status denied = token_.Check(*context); !denied.ok()) return denied;
  if (absl::Status s = domain::ValidateId(request->task_id(), "task id");
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  auto task = FindTask(*context, request->task_id());
  if (!task.ok()) return ToGrpcStatus(task.status());
  *response->mutable_task() = *std::move(task);
  return grpc::Status::OK;
}

grpc::Status SchedulerService::ListTasks(grpc::ServerContext* context,
                                         const v1::ListTasksRequest* request,
                                         v1::ListTasksResponse* response) {
  if (grpc::Status denied = token_.Check(*context); !denied.ok()) return denied;
  store::TaskFilter filter;
  filter.event_id = request->event_id();
  filter.topic = request->topic();
  filter.state = request->state();
  if (request->page_size() < 0) {
    return ToGrpcStatus(
        absl::InvalidArgumentError("page_size must not be negative"));
  }
  auto page =
      store_.ListTasks(filter, request->page_size(), request->page_token());
  if (!page.ok()) return ToGrpcStatus(page.status());
  for (auto& t : page->tasks) *response->add_tasks() = std::move(t);
  response->set_next_page_token(page->next_page_token);
  return grpc::Status::OK;
}

grpc::Status SchedulerService::CancelTask(grpc::ServerContext* context,
                                          const v1::CancelTaskRequest* request,
                                          v1::CancelTaskResponse* response) {
  if (grpc::Status denied = token_.Check(*context); !denied.ok()) return denied;
  if (absl::Status s = domain::ValidateId(request->task_id(), "task id");
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  if (auto recorded = FindTask(*context, request->task_id()); !recorded.ok())
    return ToGrpcStatus(recorded.status());
  auto task = store_.CancelTask(request->task_id());
  if (!task.ok()) return ToGrpcStatus(task.status());
  *response->mutable_task() = *std::move(task);
  return grpc::Status::OK;
}

absl::StatusOr<v1::Task> SchedulerService::FindTask(
    const grpc::ServerContext& context, const std::string& task_id) {
  const std::optional<int64_t> made_ms = domain::TimeOfId(task_id);
  const int64_t age_ms = made_ms.has_value() ? clock_.NowMs() - *made_ms : 0;
  const bool recent =
      made_ms.has_value() &&
      absl::AbsDuration(absl::Milliseconds(age_ms)) <= kRecentIdWindow;
  // One lookup either way: a deadline in the past makes it a plain read.
  auto task = store_.AwaitTask(
      task_id, recent ? std::min(absl::Now() + kRecordWait,
                                 absl::FromChrono(context.deadline()))
                      : absl::InfinitePast());
  if (!recent || !absl::IsNotFound(task.status())) return task;
  return absl::UnavailableError(absl::StrCat(
      "task ", task_id, " is not recorded yet: its id was made ", age_ms,
      " ms ago and its request may still be waiting in the scheduler's "
      "input queue; retry (an id older than ",
      absl::FormatDuration(kRecentIdWindow), " that is unknown is NOT_FOUND)"));
}

absl::Status SchedulerService::ReplayOne(const std::string& task_id) {
  auto dead = store_.GetTask(task_id);
  if (!dead.ok()) return dead.status();
  auto task = store_.PrepareReplay(task_id, clock_.NowMs());
  if (!task.ok()) return task.status();
  absl::Status published = registrations_.EnsureTopic(task->topic());
  if (published.ok()) {
    published =
        session_.PublishAndWait(codec::EncodeTask(domain::FirstRun(*task)));
  }
  if (!published.ok()) {
    store_.RestoreDead(task_id, dead->dead_reason()).IgnoreError();
    return absl::UnavailableError(
        absl::StrCat("scheduler.ReplayTasks: task ", task_id,
                     " not sent: ", published.message()));
  }
  return absl::OkStatus();
}

grpc::Status SchedulerService::ReplayTasks(
    grpc::ServerContext* context, const v1::ReplayTasksRequest* request,
    v1::ReplayTasksResponse* response) {
  if (grpc::Status denied = token_.Check(*context); !denied.ok()) return denied;
  if (request->task_id().empty() == request->topic().empty()) {
    return ToGrpcStatus(
        absl::InvalidArgumentError("give exactly one of task_id and topic"));
  }
  if (!request->task_id().empty()) {
    if (absl::Status s = domain::ValidateId(request->task_id(), "task id");
        !s.ok()) {
      return ToGrpcStatus(s);
    }
    if (absl::Status s = ReplayOne(request->task_id()); !s.ok())
      return ToGrpcStatus(s);
    response->add_task_ids(request->task_id());
    return grpc::Status::OK;
  }
  if (absl::Status s = domain::ValidateTopicName(request->topic()); !s.ok()) {
    return ToGrpcStatus(s);
  }
  store::TaskFilter dead;
  dead.topic = request->topic();
  dead.state = v1::TASK_STATE_DEAD;
  // Replayed tasks leave the DEAD state, so the first page is always fresh.
  for (;;) {
    auto page = store_.ListTasks(dead, 1000, "");
    if (!page.ok()) return ToGrpcStatus(page.status());
    if (page->tasks.empty()) break;
    for (const auto& task : page->tasks) {
      if (absl::Status s = ReplayOne(task.id()); !s.ok())
        return ToGrpcStatus(s);
      response->add_task_ids(task.id());
    }
  }
  return grpc::Status::OK;
}

grpc::Status SchedulerService::RegisterWorker(
    grpc::ServerContext* context, const v1::RegisterWorkerRequest* request,
    v1::RegisterWorkerResponse* response) {
  if (grpc::Status denied = token_.Check(*context); !denied.ok()) return denied;
  v1::Worker worker = request->worker();
  if (worker.id().empty()) worker.set_id(domain::NewRandomId());
  if (absl::Status s = domain::ValidateId(worker.id(), "worker id"); !s.ok()) {
    return ToGrpcStatus(s);
  }
  for (const auto& topic : worker.topics()) {
    if (absl::Status s = domain::ValidateTopicName(topic); !s.ok())
      return ToGrpcStatus(s);
  }
  worker.set_last_heartbeat_ms(clock_.NowMs());
  worker.clear_in_flight();
  worker.clear_lost();
  if (absl::Status s = store_.PutWorker(worker); !s.ok())
    return ToGrpcStatus(s);
  // Workers come and go with deployments; keep the list from growing.
  if (auto forgotten =
          store_.ForgetWorkers(worker.last_heartbeat_ms() - kForgetAfterMs);
      !forgotten.ok()) {
    return ToGrpcStatus(forgotten.status());
  }
  response->set_worker_id(worker.id());
  response->set_heartbeat_interval_ms(kHeartbeatIntervalMs);
  return grpc::Status::OK;
}

grpc::Status SchedulerService::Heartbeat(grpc::ServerContext* context,
                                         const v1::HeartbeatRequest* request,
                                         v1::HeartbeatResponse*) {
  if (grpc::Status denied = token_.Check(*context); !denied.ok()) return denied;
  if (absl::Status s = domain::ValidateId(request->worker_id(), "worker id");
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  return ToGrpcStatus(store_.TouchWorker(request->worker_id(), clock_.NowMs(),
                                         request->in_flight()));
}

grpc::Status SchedulerService::UnregisterWorker(
    grpc::ServerContext* context, const v1::UnregisterWorkerRequest* request,
    v1::UnregisterWorkerResponse*) {
  if (grpc::Status denied = token_.Check(*context); !denied.ok()) return denied;
  if (absl::Status s = domain::ValidateId(request->worker_id(), "worker id");
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  return ToGrpcStatus(store_.DeleteWorker(request->worker_id()));
}

grpc::Status SchedulerService::ListWorkers(
    grpc::ServerContext* context, const v1::ListWorkersRequest* request,
    v1::ListWorkersResponse* response) {
  if (grpc::Status denied = token_.Check(*context); !denied.ok()) return denied;
  auto workers = store_.ListWorkers();
  if (!workers.ok()) return ToGrpcStatus(workers.status());
  const int64_t now_ms = clock_.NowMs();
  for (auto& w : *workers) {
    const int64_t silent_ms = now_ms - w.last_heartbeat_ms();
    w.set_lost(silent_ms > kLostAfterMs);
    if (silent_ms >= kForgetAfterMs) continue;
    if (w.lost() && !request->include_lost()) continue;
    *response->add_workers() = std::move(w);
  }
  return grpc::Status::OK;
}

}  // namespace ebats::scheduler
