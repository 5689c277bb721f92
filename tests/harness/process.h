// Child processes for tests: started in their own process group so that
// everything they spawn can be signalled and reaped together.
#ifndef EBATS_TESTS_HARNESS_PROCESS_H_
#define EBATS_TESTS_HARNESS_PROCESS_H_

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace ebats::testing {

class ChildProcess {
 public:
  // Starts argv[0] (looked up in PATH) with the current environment plus
  // `env`; stdout and stderr go to `log_path`.
  static absl::StatusOr<ChildProcess> Start(
      const std::vector<std::string>& argv,
      const std::map<std::string, std::string>& env,
      const std::string& log_path);
  ChildProcess() = default;
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  // Kills the whole process group and reaps the child.
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  // Sends `signal` to the process group.
  void Signal(int signal);
  // Waits up to `timeout` for the child to exit; returns its exit code (or
  // 128 + signal). DEADLINE_EXCEEDED if it is still running.
  absl::StatusOr<int> Wait(absl::Duration timeout);
  // SIGKILL to the group, then reap.
  void Kill();

 private:
  pid_t pid_ = -1;
};

// Makes SIGTERM, SIGINT, SIGHUP and SIGABRT kill every child process group
// still running before the test process dies, so an interrupted or timed-out
// test leaves no broker or service behind. Call once from main.
void KillChildrenOnTermination();

// Runs a command to completion (bounded by `timeout`); returns its exit code.
absl::StatusOr<int> RunCommand(const std::vector<std::string>& argv,
                               const std::map<std::string, std::string>& env,
                               const std::string& log_path,
                               absl::Duration timeout);

// A TCP port on 127.0.0.1 that was free a moment ago, outside the range the
// kernel picks outgoing connections' ports from, and reserved for this
// process until it exits: no other test process gets it from FreePort, and
// this one never gets it twice (PortPicker).
int FreePort();
// The first of `count` consecutive ports, each as FreePort's (for a broker
// whose distribution and epmd ports follow its AMQP port).
int FreePorts(int count);
// The last `lines` lines of a log file (empty when it cannot be read): goes
// into start-up errors, because the temp dir holding the log is removed.
std::string LogTail(const std::string& path, size_t lines = 15);
// True when something accepts TCP connections on 127.0.0.1:port.
bool PortOpen(int port);
// A fresh directory under the test temp dir.
std::string MakeTempDir(const std::string& prefix);

// A fresh directory (MakeTempDir) removed with everything in it on
// destruction, so test runs do not pile up broker data in /tmp. Kept when
// EBATS_KEEP_TEST_DIRS is set, for a post-mortem.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix);
  ~TempDir();
  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&& other) noexcept;
  const std::string& path() const { return path_; }

 private:
  void Remove();
  std::string path_;
};

}  // namespace ebats::testing

#endif  // EBATS_TESTS_HARNESS_PROCESS_H_
