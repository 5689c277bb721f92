// OpenSSL's process-wide set-up, shared by gRPC's TLS, rabbitmq-c's amqps and
// the id hashing.
#ifndef EBATS_LIBS_COMMON_OPENSSL_INIT_H_
#define EBATS_LIBS_COMMON_OPENSSL_INIT_H_

namespace ebats {

// Initializes OpenSSL without its exit handler (OPENSSL_INIT_NO_ATEXIT).
//
// Why: by default OpenSSL frees its global state from an atexit handler,
// while gRPC (1.51) may still be releasing a TLS channel's objects on one of
// its own threads when main returns. The two race: now and then a process
// died at exit with "double free or corruption" (exit code 134), or, under
// LeakSanitizer, reported leaked OpenSSL objects; seen with `ebatsctl health`
// over TLS. gRPC itself stopped registering the handler in 1.83. The kernel
// frees the memory at exit anyway.
//
// Call first in main, before anything uses OpenSSL: the first initialization
// decides, and a call after it changes nothing. Safe to call more than once.
void InitOpenSslWithoutExitCleanup();

}  // namespace ebats

#endif  // EBATS_LIBS_COMMON_OPENSSL_INIT_H_
