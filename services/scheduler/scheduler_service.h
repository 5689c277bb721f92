// The Scheduler gRPC service: proto <-> store and status mapping, plus the
// replay publish. Calls are short local SQLite reads and writes (and, for
// replay, confirmed publishes; a lookup of a task not recorded yet waits up
// to kRecordWait), so it uses the synchronous API on gRPC's thread pool,
// which adds threads while calls wait.
#ifndef EBATS_SERVICES_SCHEDULER_SCHEDULER_SERVICE_H_
#define EBATS_SERVICES_SCHEDULER_SCHEDULER_SERVICE_H_

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "ebats/v1/scheduler.grpc.pb.h"
#include "libs/amqp/session.h"
#include "libs/common/clock.h"
#include "libs/rpc/security.h"
#include "libs/store/store.h"
#include "services/scheduler/queue_monitor.h"
#include "services/scheduler/registrations.h"

namespace ebats::scheduler {

// Thread-safe. Arguments must outlive the service.
//
// GetTask and CancelTask read their own writes: the gateway answers
// CreateTask (and PublishEvent) once the broker holds the request, and this
// scheduler records the task a moment later. For an unknown task id made
// within kRecentIdWindow of now (ids carry their creation time, see
// domain::TimeOfId) they wait up to kRecordWait, or the call's deadline if
// sooner, for the record; if it is still missing they answer UNAVAILABLE
// (retry: the request may still be queued behind a backlog), not NOT_FOUND.
// Older ids and ids without a time are NOT_FOUND at once.
class SchedulerService final : public v1::Scheduler::Service {
 public:
  static constexpr absl::Duration kRecordWait = absl::Seconds(2);
  static constexpr absl::Duration kRecentIdWindow = absl::Seconds(60);

  SchedulerService(store::Store& store, Registrations& registrations,
                   amqp::Session& session, const Clock& clock = Clock::Real());
  // Every call must carry this bearer token (see rpc::TokenCheck); set before
  // the server starts.
  void set_token_check(rpc::TokenCheck check) { token_ = std::move(check); }
  // Where ListQueues reads the queues; without one it is UNAVAILABLE. Set
  // before the server starts; must outlive the service.
  void set_queue_monitor(QueueMonitor* monitor) { queue_monitor_ = monitor; }

  grpc::Status RegisterTask(grpc::ServerContext*,
                            const v1::RegisterTaskRequest* request,
                            v1::RegisterTaskResponse* response) override;
  grpc::Status UnregisterTask(grpc::ServerContext*,
                              const v1::UnregisterTaskRequest* request,
                              v1::UnregisterTaskResponse* response) override;
  grpc::Status ListRegistrations(
      grpc::ServerContext*, const v1::ListRegistrationsRequest* request,
      v1::ListRegistrationsResponse* response) override;
  grpc::Status GetTask(grpc::ServerContext*, const v1::GetTaskRequest* request,
                       v1::GetTaskResponse* response) override;
  grpc::Status ListTasks(grpc::ServerContext*,
                         const v1::ListTasksRequest* request,
                         v1::ListTasksResponse* response) override;
  grpc::Status CancelTask(grpc::ServerContext*,
                          const v1::CancelTaskRequest* request,
                          v1::CancelTaskResponse* response) override;
  grpc::Status ReplayTasks(grpc::ServerContext*,
                           const v1::ReplayTasksRequest* request,
                           v1::ReplayTasksResponse* response) override;
  grpc::Status RegisterWorker(grpc::ServerContext*,
                              const v1::RegisterWorkerRequest* request,
                              v1::RegisterWorkerResponse* response) override;
  grpc::Status Heartbeat(grpc::ServerContext*,
                         const v1::HeartbeatRequest* request,
                         v1::HeartbeatResponse* response) override;
  grpc::Status UnregisterWorker(grpc::ServerContext*,
                                const v1::UnregisterWorkerRequest* request,
                                v1::UnregisterWorkerResponse*) override;
  grpc::Status ListWorkers(grpc::ServerContext*,
                           const v1::ListWorkersRequest* request,
                           v1::ListWorkersResponse* response) override;
  grpc::Status ListQueues(grpc::ServerContext*,
                          const v1::ListQueuesRequest* request,
                          v1::ListQueuesResponse* response) override;

 private:
  // A task marked PENDING for a replay, and the reason it was dead for.
  struct PreparedReplay {
    v1::Task task;
    std::string dead_reason;
  };
  // Replays one dead task: store first, then a confirmed publish; undone in
  // the store when the publish fails.
  absl::Status ReplayOne(const std::string& task_id,
                         v1::ReplayTasksResponse* response);
  // Replays every dead task of `topic` once, a page at a time.
  grpc::Status ReplayTopic(const grpc::ServerContext& context,
                           const std::string& topic,
                           v1::ReplayTasksResponse* response);
  // Publishes `replays` pipelined and waits for every confirm. A task whose
  // publish failed is DEAD again, with its reason, and UNAVAILABLE names it;
  // the ones sent are counted (and listed) in `response`.
  absl::Status SendReplays(const std::vector<PreparedReplay>& replays,
                           v1::ReplayTasksResponse* response);
  // The record of `task_id`, waiting for a recent id's record (see above).
  absl::StatusOr<v1::Task> FindTask(const grpc::ServerContext& context,
                                    const std::string& task_id);

  store::Store& store_;
  Registrations& registrations_;
  amqp::Session& session_;
  const Clock& clock_;
  rpc::TokenCheck token_;
  QueueMonitor* queue_monitor_ = nullptr;
};

}  // namespace ebats::scheduler

#endif  // EBATS_SERVICES_SCHEDULER_SCHEDULER_SERVICE_H_
