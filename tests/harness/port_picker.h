// Free loopback ports for test brokers and services, reserved across every
// test process on the machine.
//
// Checking that a port binds is not enough when test binaries run in
// parallel: two processes can both find the same port free and hand it to
// two children, and the second child cannot bind. So each pick also takes a
// lock on the port's byte in a shared lock file (an open-file-description
// lock, F_OFD_SETLK); the lock lasts as long as the picker, and the kernel
// drops it when the process exits, however it exits. Processes that do not
// use a picker are still covered only by the bind check.
#ifndef EBATS_TESTS_HARNESS_PORT_PICKER_H_
#define EBATS_TESTS_HARNESS_PORT_PICKER_H_

#include <random>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace ebats::testing {

class PortPicker {
 public:
  // Picks from [lowest, highest]. Lock file: `lock_path`, created if
  // missing; it is never removed (an empty file), since removing a lock file
  // others may have open would split them onto two files.
  PortPicker(std::string lock_path, int lowest, int highest);
  ~PortPicker();
  PortPicker(const PortPicker&) = delete;
  PortPicker& operator=(const PortPicker&) = delete;

  // The first of `count` consecutive ports, each of which binds on
  // 127.0.0.1 now, is held by no other picker on the same lock file, and has
  // not been handed out by this picker before (two ports picked before
  // either is bound are both free). Scans the range from a random start, so
  // parallel pickers seldom contend. RESOURCE_EXHAUSTED when no run in the
  // range qualifies; UNAVAILABLE when the lock file cannot be opened.
  absl::StatusOr<int> Pick(int count = 1);

 private:
  // Locks (or with F_UNLCK unlocks) the bytes [first, first + count).
  bool Lock(int first, int count, short type)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string lock_path_;
  const int lowest_;
  const int highest_;
  absl::Mutex mu_;
  std::mt19937 random_ ABSL_GUARDED_BY(mu_){std::random_device{}()};
  int lock_fd_ ABSL_GUARDED_BY(mu_) = -1;
  absl::flat_hash_set<int> handed_out_ ABSL_GUARDED_BY(mu_);
};

// True when `port` binds on 127.0.0.1 at this moment.
bool PortBinds(int port);

}  // namespace ebats::testing

#endif  // EBATS_TESTS_HARNESS_PORT_PICKER_H_
