#include "libs/common/openssl_init.h"

#include <openssl/crypto.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include "gtest/gtest.h"

namespace ebats {
namespace {

// Runs a child that initializes OpenSSL (with InitOpenSslWithoutExitCleanup
// first, or not) the way gRPC does, then exits. An exit handler registered
// before OpenSSL's runs after it and reports whether OpenSSL was cleaned up
// by then: once OPENSSL_cleanup has run, OPENSSL_init_crypto fails. Returns
// the child's exit code: 0 still usable, 1 cleaned up.
int ExitCodeOfChild(bool init_without_exit_cleanup) {
  const pid_t pid = fork();
  if (pid == 0) {
    std::atexit([] { _exit(OPENSSL_init_crypto(0, nullptr) == 1 ? 0 : 1); });
    if (init_without_exit_cleanup) InitOpenSslWithoutExitCleanup();
    // As gRPC's first TLS channel does (OPENSSL_init_ssl); options of 0
    // would return at once without initializing anything.
    OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CRYPTO_STRINGS, nullptr);
    std::exit(2);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
    return -1;
  return WEXITSTATUS(status);
}

TEST(OpenSslInitTest, OpenSslIsNotCleanedUpAtExit) {
  EXPECT_EQ(ExitCodeOfChild(/*init_without_exit_cleanup=*/true), 0);
}

// The control: without it, OpenSSL's own exit handler frees its state (what
// raced gRPC's threads), so the check above can tell the two apart.
TEST(OpenSslInitTest, WithoutItOpenSslCleansUpAtExit) {
  EXPECT_EQ(ExitCodeOfChild(/*init_without_exit_cleanup=*/false), 1);
}

}  // namespace
}  // namespace ebats
