#include "services/scheduler/scheduler_service.h"

#include <algorithm>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/time/clock.h"
#include "libs/codec/message_codec.h"
#include "libs/common/status_macros.h"
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
// A topic's dead tasks are replayed this many at a time: one store page, its
// publishes pipelined, then their confirms awaited.
constexpr int kReplayPage = 1000;
// ReplayTasks lists at most this many ids (a topic can have millions of
// dead tasks); `replayed` counts them all.
constexpr int kListedReplays = 10000;

// ListQueues waits this long at most for the broker's counts.
constexpr absl::Duration kQueueReadWait = absl::Seconds(10);

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

absl::Status SchedulerService::ReplayOne(const std::string& task_id,
                                         v1::ReplayTasksResponse* response) {
  EBATS_ASSIGN_OR_RETURN(v1::Task dead, store_.GetTask(task_id));
  EBATS_RETURN_IF_ERROR(registrations_.EnsureTopic(dead.topic()));
  EBATS_ASSIGN_OR_RETURN(v1::Task task,
                         store_.PrepareReplay(task_id, clock_.NowMs()));
  return SendReplays({{std::move(task), dead.dead_reason()}}, response);
}

grpc::Status SchedulerService::ReplayTopic(const grpc::ServerContext& context,
                                           const std::string& topic,
                                           v1::ReplayTasksResponse* response) {
  store::TaskFilter dead;
  dead.topic = topic;
  dead.state = v1::TASK_STATE_DEAD;
  // From the newest dead task down, by the page token: a task replayed here
  // that fails again is dead again above the cursor, so it is not sent
  // twice. (Reading the first page until it came back empty sent such tasks
  // over and over, for as long as their handler kept failing.)
  std::string token;
  bool topic_ready = false;
  const auto stopped = [&](const absl::Status& why) {
    return ToGrpcStatus(absl::Status(
        why.code(), absl::StrCat(why.message(), "; ", response->replayed(),
                                 " task(s) of topic ", topic,
                                 " were replayed before, the rest are still "
                                 "dead")));
  };
  do {
    if (context.IsCancelled()) {
      return stopped(absl::CancelledError(
          "scheduler.ReplayTasks: the caller's deadline passed or it gave up"));
    }
    auto page = store_.ListTasks(dead, kReplayPage, token);
    if (!page.ok()) return stopped(page.status());
    if (page->tasks.empty()) break;
    // Only now: a topic without dead tasks (a typo) gets no queue.
    if (!topic_ready) {
      if (absl::Status s = registrations_.EnsureTopic(topic); !s.ok())
        return stopped(s);
      topic_ready = true;
    }
    std::vector<std::string> ids;
    absl::flat_hash_map<std::string, std::string> reasons;
    for (const v1::Task& task : page->tasks) {
      ids.push_back(task.id());
      reasons[task.id()] = task.dead_reason();
    }
    // One store transaction per round; a task no longer dead (replayed
    // meanwhile by another call) is left out.
    auto pending = store_.PrepareReplays(ids, clock_.NowMs());
    if (!pending.ok()) return stopped(pending.status());
    std::vector<PreparedReplay> prepared;
    for (v1::Task& task : *pending) {
      std::string reason = reasons[task.id()];
      prepared.push_back({std::move(task), std::move(reason)});
    }
    if (absl::Status sent = SendReplays(prepared, response); !sent.ok())
      return stopped(sent);
    token = page->next_page_token;
  } while (!token.empty());
  return grpc::Status::OK;
}

absl::Status SchedulerService::SendReplays(
    const std::vector<PreparedReplay>& replays,
    v1::ReplayTasksResponse* response) {
  std::vector<absl::Status> outcomes(replays.size());
  absl::BlockingCounter confirmed(static_cast<int>(replays.size()));
  for (size_t i = 0; i < replays.size(); ++i) {
    session_.Publish(codec::EncodeTask(domain::FirstRun(replays[i].task)),
                     [&outcomes, &confirmed, i](absl::Status status) {
                       outcomes[i] = std::move(status);
                       confirmed.DecrementCount();
                     });
  }
  confirmed.Wait();
  const PreparedReplay* first_unsent = nullptr;
  absl::Status first_error;
  int unsent = 0;
  for (size_t i = 0; i < replays.size(); ++i) {
    const std::string& id = replays[i].task.id();
    if (outcomes[i].ok()) {
      response->set_replayed(response->replayed() + 1);
      if (response->task_ids_size() < kListedReplays)
        response->add_task_ids(id);
      continue;
    }
    store_.RestoreDead(id, replays[i].dead_reason).IgnoreError();
    if (unsent++ == 0) {
      first_unsent = &replays[i];
      first_error = outcomes[i];
    }
  }
  if (unsent == 0) return absl::OkStatus();
  return absl::UnavailableError(
      absl::StrCat("scheduler.ReplayTasks: task ", first_unsent->task.id(),
                   unsent > 1 ? absl::StrCat(" and ", unsent - 1, " more") : "",
                   " not sent (still dead): ", first_error.message()));
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
    return ToGrpcStatus(ReplayOne(request->task_id(), response));
  }
  if (absl::Status s = domain::ValidateTopicName(request->topic()); !s.ok()) {
    return ToGrpcStatus(s);
  }
  return ReplayTopic(*context, request->topic(), response);
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
  // So that ListQueues and the queue gauges show the topics workers take,
  // also before any task goes to them.
  for (const auto& topic : worker.topics()) registrations_.RememberTopic(topic);
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

grpc::Status SchedulerService::ListQueues(grpc::ServerContext* context,
                                          const v1::ListQueuesRequest* request,
                                          v1::ListQueuesResponse* response) {
  if (grpc::Status denied = token_.Check(*context); !denied.ok()) return denied;
  if (queue_monitor_ == nullptr) {
    return ToGrpcStatus(absl::UnavailableError(
        "scheduler.ListQueues: this scheduler does not read queue counts"));
  }
  std::vector<QueueMonitor::WatchedQueue> watched =
      queue_monitor_->Queues(request->topic());
  if (watched.empty()) {
    return ToGrpcStatus(absl::NotFoundError(
        absl::StrCat("scheduler.ListQueues: topic ", request->topic(),
                     " is not known here: no registration, task or worker "
                     "has used it")));
  }
  auto counts = queue_monitor_->ReadNow(
      watched, std::min(absl::FromChrono(context->deadline()),
                        absl::Now() + kQueueReadWait));
  if (!counts.ok()) {
    return ToGrpcStatus(absl::Status(
        counts.status().code(),
        absl::StrCat("scheduler.ListQueues: cannot read the queues: ",
                     counts.status().message())));
  }
  for (size_t i = 0; i < counts->size() && i < watched.size(); ++i) {
    const amqp::QueueCounts& queue = (*counts)[i];
    if (!queue.exists) continue;
    v1::QueueInfo* info = response->add_queues();
    info->set_queue(queue.queue);
    info->set_topic(watched[i].topic);
    info->set_ready_messages(queue.ready_messages);
    info->set_consumers(queue.consumers);
  }
  return grpc::Status::OK;
}

}  // namespace ebats::scheduler
