#include "libs/rpc/server.h"

#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace ebats::rpc {

absl::StatusOr<std::unique_ptr<RunningServer>> RunningServer::Start(
    const ServerOptions& options, const std::vector<grpc::Service*>& services) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  auto running = std::unique_ptr<RunningServer>(new RunningServer());
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.address, grpc::InsecureServerCredentials(),
                           &running->port_);
  builder.SetMaxReceiveMessageSize(options.max_receive_bytes);
  for (grpc::Service* service : services) builder.RegisterService(service);
  running->server_ = builder.BuildAndStart();
  if (!running->server_ || running->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("grpc: cannot listen on ", options.address, " (in use?)"));
  }
  running->SetServing(false);
  return running;
}

void RunningServer::SetServing(bool serving) {
  auto* health = server_->GetHealthCheckService();
  if (health != nullptr) health->SetServingStatus(serving);
}

void RunningServer::Shutdown(absl::Duration grace) {
  if (!server_) return;
  SetServing(false);
  server_->Shutdown(std::chrono::system_clock::now() +
                    absl::ToChronoMilliseconds(grace));
  server_->Wait();
  server_.reset();
}

}  // namespace ebats::rpc
