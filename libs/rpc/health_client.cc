#include "libs/rpc/health_client.h"

#include <vector>

#include "grpcpp/completion_queue.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/byte_buffer.h"
#include "libs/rpc/status.h"

namespace ebats::rpc {

absl::StatusOr<bool> CheckServing(const std::string& address,
                                  absl::Duration timeout,
                                  const ClientTls& tls) {
  auto credentials = MakeChannelCredentials(tls);
  if (!credentials.ok()) return credentials.status();
  auto channel = grpc::CreateChannel(address, *credentials);
  grpc::GenericStub stub(channel);
  // A completion queue of our own, not the callback API: the call completes
  // and is released on this thread. With a callback, a gRPC thread released
  // it after we had returned, so in a short-lived process (ebatsctl health)
  // the channel's teardown could still run during exit (see
  // InitOpenSslWithoutExitCleanup for what that raced with).
  grpc::CompletionQueue queue;
  grpc::ByteBuffer response;
  grpc::Status status;
  void* tag = nullptr;
  bool ok = false;
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         absl::ToChronoMilliseconds(timeout));
    // HealthCheckRequest{service: ""} serializes to zero bytes.
    grpc::Slice empty;
    grpc::ByteBuffer request(&empty, 1);
    auto call = stub.PrepareUnaryCall(&context, "/grpc.health.v1.Health/Check",
                                      request, &queue);
    call->StartCall();
    call->Finish(&response, &status, &status);
    // The only event is the Finish above; the deadline bounds the wait.
    queue.Next(&tag, &ok);
  }
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }
  if (!status.ok()) return FromGrpcStatus(status);
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok())
    return absl::InternalError("health: unreadable response");
  std::string bytes;
  for (const auto& s : slices)
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  // HealthCheckResponse{status = 1 (SERVING)} is the two bytes 0x08 0x01; an
  // absent field means UNKNOWN.
  return bytes.size() >= 2 && bytes[0] == 0x08 && bytes[1] == 0x01;
}

}  // namespace ebats::rpc
