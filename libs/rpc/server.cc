#include "libs/rpc/server.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/support/server_interceptor.h"

namespace ebats::rpc {
namespace {

// Counts calls in progress: gRPC creates one interceptor per call and
// destroys it when the call is over.
class CallCounter : public grpc::experimental::Interceptor {
 public:
  explicit CallCounter(std::atomic<int>& count) : count_(count) { ++count_; }
  ~CallCounter() override { --count_; }
  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    methods->Proceed();
  }

 private:
  std::atomic<int>& count_;
};

class CallCounterFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit CallCounterFactory(std::atomic<int>& count) : count_(count) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo*) override {
    return new CallCounter(count_);
  }

 private:
  std::atomic<int>& count_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<RunningServer>> RunningServer::Start(
    const ServerOptions& options, const std::vector<grpc::Service*>& services) {
  auto credentials = MakeServerCredentials(options.tls);
  if (!credentials.ok()) return credentials.status();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  auto running = std::unique_ptr<RunningServer>(new RunningServer());
  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default: a second service started on a busy
  // port would bind and silently take half its connections. Refuse instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(options.address, *credentials, &running->port_);
  builder.SetMaxReceiveMessageSize(options.max_receive_bytes);
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      counters;
  counters.push_back(std::make_unique<CallCounterFactory>(running->calls_));
  builder.experimental().SetInterceptorCreators(std::move(counters));
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
  // Wait for calls in progress ourselves: gRPC's own deadline would also wait
  // for idle client connections to go away, which clients that are not
  // polling (most of them, between calls) only notice seconds later.
  const absl::Time deadline = absl::Now() + grace;
  while (calls_.load() > 0 && absl::Now() < deadline)
    absl::SleepFor(absl::Milliseconds(5));
  server_->Shutdown(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(100));
  server_->Wait();
  server_.reset();
}

}  // namespace ebats::rpc
