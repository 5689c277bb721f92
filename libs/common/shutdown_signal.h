// SIGTERM/SIGINT handling for service mains, without async-signal hazards:
// the signals are blocked in every thread and taken synchronously.
#ifndef EBATS_LIBS_COMMON_SHUTDOWN_SIGNAL_H_
#define EBATS_LIBS_COMMON_SHUTDOWN_SIGNAL_H_

namespace ebats {

// Blocks SIGTERM and SIGINT (and ignores SIGPIPE). Call first thing in main,
// before any thread starts, so every thread inherits the mask.
void BlockShutdownSignals();

// Waits for SIGTERM or SIGINT; returns the signal number.
int WaitForShutdownSignal();

}  // namespace ebats

#endif  // EBATS_LIBS_COMMON_SHUTDOWN_SIGNAL_H_
