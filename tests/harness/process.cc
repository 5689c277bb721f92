#include "tests/harness/process.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "tests/harness/loopback.h"
#include "tests/harness/port_picker.h"

extern char** environ;

namespace ebats::testing {
namespace {

// Process groups of running children, for the termination handler (which
// may only touch lock-free atomics).
constexpr int kMaxChildren = 256;
std::atomic<pid_t> g_children[kMaxChildren];

void Track(pid_t pid) {
  for (auto& slot : g_children) {
    pid_t empty = 0;
    if (slot.compare_exchange_strong(empty, pid)) return;
  }
}

void Untrack(pid_t pid) {
  for (auto& slot : g_children) {
    pid_t expected = pid;
    if (slot.compare_exchange_strong(expected, 0)) return;
  }
}

void OnTermination(int signal) {
  for (auto& slot : g_children) {
    pid_t pid = slot.load();
    if (pid > 0) kill(-pid, SIGKILL);
  }
  ::signal(signal, SIG_DFL);
  raise(signal);
}

}  // namespace

void KillChildrenOnTermination() {
  // SIGABRT too: a sanitizer report ends in abort() (abort_on_error=1).
  for (int signal : {SIGTERM, SIGINT, SIGHUP, SIGABRT})
    ::signal(signal, OnTermination);
}

absl::StatusOr<ChildProcess> ChildProcess::Start(
    const std::vector<std::string>& argv,
    const std::map<std::string, std::string>& env,
    const std::string& log_path) {
  int log =
      open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0)
    return absl::InternalError(
        absl::StrCat("open ", log_path, ": ", strerror(errno)));
  pid_t pid = fork();
  if (pid < 0)
    return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  if (pid == 0) {
    setpgid(0, 0);
    // Die with the test process, even if it is killed.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(log, 1);
    dup2(log, 2);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(log);
  setpgid(pid, pid);  // Also from the parent, to win the race with Signal().
  Track(pid);
  ChildProcess child;
  child.pid_ = pid;
  return child;
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept : pid_(other.pid_) {
  other.pid_ = -1;
}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    Kill();
    pid_ = other.pid_;
    other.pid_ = -1;
  }
  return *this;
}

ChildProcess::~ChildProcess() { Kill(); }

void ChildProcess::Signal(int signal) {
  if (pid_ > 0) kill(-pid_, signal);
}

absl::StatusOr<int> ChildProcess::Wait(absl::Duration timeout) {
  if (pid_ <= 0) return absl::FailedPreconditionError("no process");
  absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      Untrack(pid_);
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError("process still running");
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
}

void ChildProcess::Kill() {
  if (pid_ <= 0) return;
  kill(-pid_, SIGKILL);
  int status;
  waitpid(pid_, &status, 0);
  Untrack(pid_);
  pid_ = -1;
}

absl::StatusOr<int> RunCommand(const std::vector<std::string>& argv,
                               const std::map<std::string, std::string>& env,
                               const std::string& log_path,
                               absl::Duration timeout) {
  auto child = ChildProcess::Start(argv, env, log_path);
  if (!child.ok()) return child.status();
  auto code = child->Wait(timeout);
  if (!code.ok()) child->Kill();
  return code;
}

int FreePort() { return FreePorts(1); }

int FreePorts(int count) {
  // Below the kernel's ephemeral range: a port the kernel handed out (port 0)
  // is also what it hands to the next outgoing connection of any process, and
  // with many tests connecting in parallel one of them took a node's port
  // between our check and the node's bind.
  static PortPicker* picker = [] {
    int ephemeral_low = 32768;
    if (std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
        !(range >> ephemeral_low)) {
      ephemeral_low = 32768;
    }
    constexpr int kLowest = 10000;
    // One lock file per user, shared by every test process of that user.
    return new PortPicker(
        absl::StrCat("/tmp/ebats-test-ports-", getuid(), ".lock"), kLowest,
        std::max(kLowest, ephemeral_low - 1));
  }();
  absl::StatusOr<int> port = picker->Pick(count);
  if (!port.ok()) {
    // A port of 0 would surface as a confusing bind or connect error later.
    std::fprintf(stderr, "FreePort: %s\n", port.status().ToString().c_str());
    std::abort();
  }
  return *port;
}

std::string LogTail(const std::string& path, size_t lines) {
  std::ifstream in(path);
  std::deque<std::string> tail;
  for (std::string line; std::getline(in, line);) {
    tail.push_back(std::move(line));
    if (tail.size() > lines) tail.pop_front();
  }
  return absl::StrJoin(tail, "\n");
}

bool PortOpen(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  const bool open = ConnectLoopback(fd, port);
  close(fd);
  return open;
}

std::string MakeTempDir(const std::string& prefix) {
  const char* base = getenv("TEST_TMPDIR");
  std::string tmpl =
      absl::StrCat(base && *base ? base : "/tmp", "/", prefix, "XXXXXX");
  char* dir = mkdtemp(tmpl.data());
  return dir ? std::string(dir) : std::string();
}

TempDir::TempDir(const std::string& prefix) : path_(MakeTempDir(prefix)) {}

TempDir::~TempDir() { Remove(); }

TempDir::TempDir(TempDir&& other) noexcept : path_(std::move(other.path_)) {
  other.path_.clear();
}

TempDir& TempDir::operator=(TempDir&& other) noexcept {
  if (this != &other) {
    Remove();
    path_ = std::move(other.path_);
    other.path_.clear();
  }
  return *this;
}

void TempDir::Remove() {
  const char* keep = getenv("EBATS_KEEP_TEST_DIRS");
  if (path_.empty() || (keep != nullptr && *keep != '\0')) return;
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

}  // namespace ebats::testing
