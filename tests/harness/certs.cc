#include "tests/harness/certs.h"

#include <fstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/harness/process.h"

namespace ebats::testing {
namespace {

absl::Status Openssl(const std::string& dir, std::vector<std::string> args) {
  args.insert(args.begin(), "openssl");
  auto code = RunCommand(args, {}, dir + "/openssl.log", absl::Seconds(30));
  if (!code.ok()) return code.status();
  if (*code != 0) {
    return absl::InternalError(absl::StrCat(
        "openssl ", args[1], " failed; see ", dir, "/openssl.log"));
  }
  return absl::OkStatus();
}

// A key and a self-signed CA certificate.
absl::Status MakeCa(const std::string& dir, const std::string& name) {
  return Openssl(dir,
                 {"req", "-x509", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                  dir + "/" + name + ".key", "-out", dir + "/" + name + ".pem",
                  "-days", "2", "-subj", "/CN=ebats test " + name});
}

// A key and a certificate for `cn` signed by the CA "ca", with `extensions`.
absl::Status MakeLeaf(const std::string& dir, const std::string& name,
                      const std::string& cn, const std::string& extensions) {
  const std::string base = dir + "/" + name;
  std::ofstream(base + ".ext") << extensions << "\n";
  if (absl::Status s = Openssl(
          dir, {"req", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                base + ".key", "-out", base + ".csr", "-subj", "/CN=" + cn});
      !s.ok()) {
    return s;
  }
  return Openssl(
      dir, {"x509", "-req", "-in", base + ".csr", "-CA", dir + "/ca.pem",
            "-CAkey", dir + "/ca.key", "-CAcreateserial", "-out", base + ".pem",
            "-days", "2", "-extfile", base + ".ext"});
}

}  // namespace

absl::StatusOr<TestCerts> MakeTestCerts(const std::string& dir) {
  for (const auto& step :
       {MakeCa(dir, "ca"), MakeCa(dir, "other-ca"),
        MakeLeaf(dir, "server", "localhost",
                 "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                 "extendedKeyUsage=serverAuth"),
        MakeLeaf(dir, "client", "ebats-test-client",
                 "extendedKeyUsage=clientAuth")}) {
    if (!step.ok()) return step;
  }
  TestCerts certs;
  certs.ca_cert = dir + "/ca.pem";
  certs.other_ca_cert = dir + "/other-ca.pem";
  certs.server_cert = dir + "/server.pem";
  certs.server_key = dir + "/server.key";
  certs.client_cert = dir + "/client.pem";
  certs.client_key = dir + "/client.key";
  return certs;
}

}  // namespace ebats::testing
