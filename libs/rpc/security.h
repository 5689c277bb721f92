// TLS and bearer tokens for ebats' gRPC endpoints.
//
// Servers: TLS when a certificate is configured, optionally requiring client
// certificates signed by a given CA. The gateway and the scheduler check a
// bearer token ("authorization: Bearer <token>") on every call of their own
// services when one is configured; grpc.health.v1 and reflection stay open,
// so probes need no secret.
#ifndef EBATS_LIBS_RPC_SECURITY_H_
#define EBATS_LIBS_RPC_SECURITY_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_context.h"

namespace ebats::rpc {

// PEM file paths for a server.
struct ServerTls {
  std::string cert_file;  // empty: plaintext
  std::string key_file;
  // When set, clients must present a certificate signed by this CA.
  std::string client_ca_file;
  bool enabled() const { return !cert_file.empty(); }
};

// PEM file paths for a client.
struct ClientTls {
  std::string ca_file;    // empty: plaintext; set: TLS, verifying the server
  std::string cert_file;  // optional client certificate
  std::string key_file;
  bool enabled() const { return !ca_file.empty(); }
};

// INVALID_ARGUMENT when a file cannot be read or a key lacks its
// certificate.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTls& tls);
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>>
MakeChannelCredentials(const ClientTls& tls);

// The token from `file` (surrounding whitespace trimmed) when it is set,
// else `value`. INVALID_ARGUMENT when the file cannot be read or is empty.
absl::StatusOr<std::string> LoadToken(const std::string& file,
                                      const std::string& value);

// The metadata key and value a client sends with `token`.
inline constexpr char kAuthorizationHeader[] = "authorization";
std::string BearerValue(const std::string& token);

// Checks calls against a bearer token; an empty token lets every call in.
class TokenCheck {
 public:
  explicit TokenCheck(std::string token = "") : token_(std::move(token)) {}
  // OK, or UNAUTHENTICATED saying whether the token was missing or wrong.
  // Compares in constant time.
  grpc::Status Check(const grpc::ServerContextBase& context) const;
  bool enabled() const { return !token_.empty(); }

 private:
  std::string token_;
};

}  // namespace ebats::rpc

#endif  // EBATS_LIBS_RPC_SECURITY_H_
