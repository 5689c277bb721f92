#include "libs/client/client.h"

#include <type_traits>

#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "libs/rpc/status.h"

namespace ebats::client {

Client::Client(ClientOptions options) : options_(std::move(options)) {
  auto credentials = rpc::MakeChannelCredentials(options_.tls);
  if (!credentials.ok()) {
    setup_ = credentials.status();
    credentials = grpc::InsecureChannelCredentials();  // never used
  }
  gateway_ = v1::EventGateway::NewStub(
      grpc::CreateChannel(options_.gateway_address, *credentials));
  scheduler_ = v1::Scheduler::NewStub(
      grpc::CreateChannel(options_.scheduler_address, *credentials));
}

template <typename Stub, typename Request, typename Response>
absl::StatusOr<Response> Client::Call(
    Stub& stub,
    grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                 Response*),
    const Request& request) {
  if (!setup_.ok()) return setup_;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoMilliseconds(options_.timeout));
  if (!options_.token.empty()) {
    context.AddMetadata(rpc::kAuthorizationHeader,
                        rpc::BearerValue(options_.token));
  }
  Response response;
  grpc::Status status = (stub.*method)(&context, request, &response);
  if (status.ok()) return response;
  absl::Status error = rpc::FromGrpcStatus(status);
  // A call that did not get through says where it went, so that
  // "connection refused" names the address to check.
  if (error.code() == absl::StatusCode::kUnavailable ||
      error.code() == absl::StatusCode::kDeadlineExceeded) {
    const bool to_gateway = std::is_same_v<Stub, v1::EventGateway::Stub>;
    error = absl::Status(
        error.code(), absl::StrCat(to_gateway ? "gateway at " : "scheduler at ",
                                   to_gateway ? options_.gateway_address
                                              : options_.scheduler_address,
                                   ": ", error.message()));
  }
  return error;
}

absl::StatusOr<v1::PublishEventResponse> Client::PublishEvent(
    const v1::PublishEventRequest& request) {
  return Call(*gateway_, &v1::EventGateway::Stub::PublishEvent, request);
}

absl::StatusOr<v1::PublishEventsResponse> Client::PublishEvents(
    const v1::PublishEventsRequest& request) {
  return Call(*gateway_, &v1::EventGateway::Stub::PublishEvents, request);
}

absl::StatusOr<v1::CreateTaskResponse> Client::CreateTask(
    const v1::CreateTaskRequest& request) {
  return Call(*gateway_, &v1::EventGateway::Stub::CreateTask, request);
}

absl::StatusOr<v1::RegisterTaskResponse> Client::RegisterTask(
    const v1::RegisterTaskRequest& request) {
  return Call(*scheduler_, &v1::Scheduler::Stub::RegisterTask, request);
}

absl::Status Client::UnregisterTask(const v1::UnregisterTaskRequest& request) {
  return Call(*scheduler_, &v1::Scheduler::Stub::UnregisterTask, request)
      .status();
}

absl::StatusOr<v1::ListRegistrationsResponse> Client::ListRegistrations(
    const v1::ListRegistrationsRequest& request) {
  return Call(*scheduler_, &v1::Scheduler::Stub::ListRegistrations, request);
}

absl::StatusOr<v1::Task> Client::GetTask(const std::string& task_id) {
  v1::GetTaskRequest request;
  request.set_task_id(task_id);
  auto response = Call(*scheduler_, &v1::Scheduler::Stub::GetTask, request);
  if (!response.ok()) return response.status();
  return response->task();
}

absl::StatusOr<v1::ListTasksResponse> Client::ListTasks(
    const v1::ListTasksRequest& request) {
  return Call(*scheduler_, &v1::Scheduler::Stub::ListTasks, request);
}

absl::StatusOr<v1::CancelTaskResponse> Client::CancelTask(
    const v1::CancelTaskRequest& request) {
  return Call(*scheduler_, &v1::Scheduler::Stub::CancelTask, request);
}

absl::StatusOr<v1::ReplayTasksResponse> Client::ReplayTasks(
    const v1::ReplayTasksRequest& request) {
  return Call(*scheduler_, &v1::Scheduler::Stub::ReplayTasks, request);
}

absl::StatusOr<v1::RegisterWorkerResponse> Client::RegisterWorker(
    const v1::RegisterWorkerRequest& request) {
  return Call(*scheduler_, &v1::Scheduler::Stub::RegisterWorker, request);
}

absl::Status Client::Heartbeat(const v1::HeartbeatRequest& request) {
  return Call(*scheduler_, &v1::Scheduler::Stub::Heartbeat, request).status();
}

absl::Status Client::UnregisterWorker(absl::string_view worker_id) {
  v1::UnregisterWorkerRequest request;
  request.set_worker_id(std::string(worker_id));
  return Call(*scheduler_, &v1::Scheduler::Stub::UnregisterWorker, request)
      .status();
}

absl::StatusOr<v1::ListWorkersResponse> Client::ListWorkers(bool include_lost) {
  v1::ListWorkersRequest request;
  request.set_include_lost(include_lost);
  return Call(*scheduler_, &v1::Scheduler::Stub::ListWorkers, request);
}

absl::StatusOr<v1::ListQueuesResponse> Client::ListQueues(
    absl::string_view topic) {
  v1::ListQueuesRequest request;
  request.set_topic(std::string(topic));
  return Call(*scheduler_, &v1::Scheduler::Stub::ListQueues, request);
}

}  // namespace ebats::client
