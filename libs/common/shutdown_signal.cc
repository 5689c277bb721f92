#include "libs/common/shutdown_signal.h"

#include <pthread.h>
#include <signal.h>

namespace ebats {
namespace {

sigset_t ShutdownSet() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

void BlockShutdownSignals() {
  signal(SIGPIPE, SIG_IGN);
  sigset_t set = ShutdownSet();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int WaitForShutdownSignal() {
  sigset_t set = ShutdownSet();
  int signal = 0;
  sigwait(&set, &signal);
  return signal;
}

}  // namespace ebats
