// absl::Status <-> grpc::Status. gRPC 1.51 has no conversion of its own.
#ifndef EBATS_LIBS_RPC_STATUS_H_
#define EBATS_LIBS_RPC_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace ebats::rpc {

// Same code (the enums agree numerically) and message.
grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace ebats::rpc

#endif  // EBATS_LIBS_RPC_STATUS_H_
