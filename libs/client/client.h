// A C++ client for the ebats gRPC APIs: the gateway (publish events, create
// tasks) and the scheduler (registrations, tasks, workers). Every call has a
// deadline and returns absl::Status with the server's code and message;
// UNAVAILABLE and DEADLINE_EXCEEDED also name the service and address
// ("gateway at 127.0.0.1:7401: ...").
//
// Thread-safe; one Client can be shared by many threads. Connections are made
// lazily, so constructing a Client never fails (unreadable TLS files make
// every call fail with INVALID_ARGUMENT saying so).
#ifndef EBATS_LIBS_CLIENT_CLIENT_H_
#define EBATS_LIBS_CLIENT_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "ebats/v1/gateway.grpc.pb.h"
#include "ebats/v1/scheduler.grpc.pb.h"
#include "libs/rpc/security.h"

namespace ebats::client {

struct ClientOptions {
  std::string gateway_address = "127.0.0.1:7401";
  std::string scheduler_address = "127.0.0.1:7402";
  // Deadline of each call.
  absl::Duration timeout = absl::Seconds(10);
  // TLS toward both services (plaintext when tls.ca_file is empty).
  rpc::ClientTls tls;
  // Bearer token sent with every call; empty: none.
  std::string token;
};

class Client {
 public:
  explicit Client(ClientOptions options);

  // Gateway.
  absl::StatusOr<v1::PublishEventResponse> PublishEvent(
      const v1::PublishEventRequest& request);
  absl::StatusOr<v1::PublishEventsResponse> PublishEvents(
      const v1::PublishEventsRequest& request);
  absl::StatusOr<v1::CreateTaskResponse> CreateTask(
      const v1::CreateTaskRequest& request);

  // Scheduler.
  absl::StatusOr<v1::RegisterTaskResponse> RegisterTask(
      const v1::RegisterTaskRequest& request);
  absl::Status UnregisterTask(const v1::UnregisterTaskRequest& request);
  absl::StatusOr<v1::ListRegistrationsResponse> ListRegistrations(
      const v1::ListRegistrationsRequest& request);
  absl::StatusOr<v1::Task> GetTask(const std::string& task_id);
  absl::StatusOr<v1::ListTasksResponse> ListTasks(
      const v1::ListTasksRequest& request);
  absl::StatusOr<v1::CancelTaskResponse> CancelTask(
      const v1::CancelTaskRequest& request);
  absl::StatusOr<v1::ReplayTasksResponse> ReplayTasks(
      const v1::ReplayTasksRequest& request);
  absl::StatusOr<v1::RegisterWorkerResponse> RegisterWorker(
      const v1::RegisterWorkerRequest& request);
  absl::Status Heartbeat(const v1::HeartbeatRequest& request);
  absl::Status UnregisterWorker(absl::string_view worker_id);
  // Live workers; with `include_lost` also those that stopped heartbeating.
  absl::StatusOr<v1::ListWorkersResponse> ListWorkers(
      bool include_lost = false);
  // The broker's counts of ebats' queues; with `topic`, only its queues.
  absl::StatusOr<v1::ListQueuesResponse> ListQueues(
      absl::string_view topic = "");

 private:
  template <typename Stub, typename Request, typename Response>
  absl::StatusOr<Response> Call(
      Stub& stub,
      grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                   Response*),
      const Request& request);

  const ClientOptions options_;
  std::unique_ptr<v1::EventGateway::Stub> gateway_;
  std::unique_ptr<v1::Scheduler::Stub> scheduler_;
  absl::Status setup_;
};

}  // namespace ebats::client

#endif  // EBATS_LIBS_CLIENT_CLIENT_H_
