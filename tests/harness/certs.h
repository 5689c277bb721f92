// Throwaway X.509 material for TLS tests, made with the openssl command:
// a CA, a server certificate for localhost / 127.0.0.1 signed by it, a
// client certificate signed by it, and an unrelated second CA.
#ifndef EBATS_TESTS_HARNESS_CERTS_H_
#define EBATS_TESTS_HARNESS_CERTS_H_

#include <string>

#include "absl/status/statusor.h"

namespace ebats::testing {

struct TestCerts {
  std::string ca_cert;
  std::string server_cert, server_key;
  std::string client_cert, client_key;
  std::string other_ca_cert;  // signed nothing here
};

// Writes the files into `dir` (EC P-256 keys, valid for two days).
absl::StatusOr<TestCerts> MakeTestCerts(const std::string& dir);

}  // namespace ebats::testing

#endif  // EBATS_TESTS_HARNESS_CERTS_H_
