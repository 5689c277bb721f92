#include "libs/common/openssl_init.h"

#include <openssl/crypto.h>

namespace ebats {

void InitOpenSslWithoutExitCleanup() {
  // A failure here leaves OpenSSL uninitialized; its next user initializes it
  // (with the handler) and reports its own errors.
  OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, nullptr);
}

}  // namespace ebats
