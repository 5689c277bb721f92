// The Scheduler gRPC service: proto <-> store and status mapping only.
// Calls are short local SQLite reads and writes, so it uses the synchronous
// API on gRPC's thread pool.
#ifndef EBATS_SERVICES_SCHEDULER_SCHEDULER_SERVICE_H_
#define EBATS_SERVICES_SCHEDULER_SCHEDULER_SERVICE_H_

#include "ebats/v1/scheduler.grpc.pb.h"
#include "libs/common/clock.h"
#include "libs/store/store.h"
#include "services/scheduler/registrations.h"

namespace ebats::scheduler {

// Thread-safe. Arguments must outlive the service.
class SchedulerService final : public v1::Scheduler::Service {
 public:
  SchedulerService(store::Store& store, Registrations& registrations,
                   const Clock& clock = Clock::Real());

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
  grpc::Status RegisterWorker(grpc::ServerContext*,
                              const v1::RegisterWorkerRequest* request,
                              v1::RegisterWorkerResponse* response) override;
  grpc::Status Heartbeat(grpc::ServerContext*,
                         const v1::HeartbeatRequest* request,
                         v1::HeartbeatResponse* response) override;
  grpc::Status ListWorkers(grpc::ServerContext*,
                           const v1::ListWorkersRequest* request,
                           v1::ListWorkersResponse* response) override;

 private:
  store::Store& store_;
  Registrations& registrations_;
  const Clock& clock_;
};

}  // namespace ebats::scheduler

#endif  // EBATS_SERVICES_SCHEDULER_SCHEDULER_SERVICE_H_
