// A client for grpc.health.v1.Health/Check. Debian's gRPC ships no
// generated health stubs, and the message is tiny, so it is encoded by hand.
#ifndef EBATS_LIBS_RPC_HEALTH_CLIENT_H_
#define EBATS_LIBS_RPC_HEALTH_CLIENT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/rpc/security.h"

namespace ebats::rpc {

// True when the server at `address` reports SERVING for the overall status;
// false for NOT_SERVING; an error (UNAVAILABLE, DEADLINE_EXCEEDED, ...) when
// it cannot be asked. Health needs no token; `tls` for a TLS server.
absl::StatusOr<bool> CheckServing(const std::string& address,
                                  absl::Duration timeout,
                                  const ClientTls& tls = {});

}  // namespace ebats::rpc

#endif  // EBATS_LIBS_RPC_HEALTH_CLIENT_H_
