// The README's first command, scripts/up.sh, as a user runs it: the whole
// stack comes up with the demo registrations, both demo tasks succeed, and
// Ctrl-C (SIGINT to its process group, as a terminal sends it) stops
// everything it started, the worker first; so does a Ctrl-C during start-up,
// whatever it was starting, and one with a broker that no longer responds.
// Runs this build's binaries
// (EBATS_BUILD_DIR) with its data, logs and ports of its own.
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/harness/process.h"
#include "tests/harness/wait.h"

namespace ebats::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Processes whose environment carries EBATS_LOCAL_DIR=`dir`: everything
// up.sh started (it exports the variable), whatever session it is in.
std::vector<pid_t> StartedFrom(const std::string& dir) {
  const std::string mark = absl::StrCat("EBATS_LOCAL_DIR=", dir);
  std::vector<pid_t> pids;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return pids;
  while (dirent* entry = readdir(proc)) {
    const pid_t pid = static_cast<pid_t>(atoi(entry->d_name));
    if (pid <= 0) continue;
    std::string environ =
        ReadFile(absl::StrCat("/proc/", entry->d_name, "/environ"));
    for (size_t start = 0; start < environ.size();) {
      size_t end = environ.find('\0', start);
      if (end == std::string::npos) end = environ.size();
      if (environ.compare(start, end - start, mark) == 0) {
        pids.push_back(pid);
        break;
      }
      start = end + 1;
    }
  }
  closedir(proc);
  return pids;
}

// " pid: command line" for each of `pids`.
std::string CommandLines(const std::vector<pid_t>& pids) {
  std::string out;
  for (pid_t pid : pids) {
    std::string cmdline = ReadFile(absl::StrCat("/proc/", pid, "/cmdline"));
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    absl::StrAppend(&out, " ", pid, ": ", cmdline, ";");
  }
  return out;
}

class UpScriptTest : public ::testing::Test {
 protected:
  void TearDown() override {
    // Whatever a failed run left behind.
    for (pid_t pid : StartedFrom(dir_)) kill(pid, SIGKILL);
  }

  // scripts/up.sh (or `script`) as a user runs it, with this build and ports
  // of its own.
  absl::StatusOr<ChildProcess> StartUp(
      const std::string& script = absl::StrCat(EBATS_SOURCE_DIR,
                                               "/scripts/up.sh")) {
    const std::map<std::string, std::string> env = {
        {"EBATS_BUILD_DIR", EBATS_BUILD_DIR},
        {"EBATS_LOCAL_DIR", dir_},
        // rabbitmq-local.sh puts distribution and epmd on the next two.
        {"EBATS_LOCAL_AMQP_PORT", absl::StrCat(FreePorts(3))},
        {"EBATS_GATEWAY_ADDR", absl::StrCat("127.0.0.1:", FreePort())},
        {"EBATS_SCHEDULER_ADDR", absl::StrCat("127.0.0.1:", FreePort())},
        {"EBATS_WORKER_ADDR", absl::StrCat("127.0.0.1:", FreePort())},
        {"EBATS_GATEWAY_METRICS_ADDR", "127.0.0.1:0"},
        {"EBATS_SCHEDULER_METRICS_ADDR", "127.0.0.1:0"},
        {"EBATS_WORKER_METRICS_ADDR", "127.0.0.1:0"},
    };
    return ChildProcess::Start({"bash", script}, env, log_);
  }

  // Until up.sh says its broker is up.
  void WaitForTheBroker() {
    ASSERT_TRUE(WaitFor(
        [&] {
          return absl::StrContains(ReadFile(log_), "rabbitmq-local: node");
        },
        absl::Minutes(3)))
        << ReadFile(log_);
  }

  // Ctrl-C; then up.sh exits as interrupted (130), says "stopped.", and
  // nothing it started is left: services, RabbitMQ, epmd.
  void InterruptAndExpectEverythingStopped(ChildProcess& up) {
    up.Signal(SIGINT);
    ExpectEverythingStopped(up);
  }

  void ExpectEverythingStopped(ChildProcess& up) {
    auto code = up.Wait(absl::Minutes(2));
    ASSERT_TRUE(code.ok()) << code.status() << "\n" << ReadFile(log_);
    const std::string stopped = ReadFile(log_);
    EXPECT_EQ(*code, 130) << stopped;
    EXPECT_TRUE(absl::StrContains(stopped, "stopped.")) << stopped;
    EXPECT_TRUE(
        WaitFor([&] { return StartedFrom(dir_).empty(); }, absl::Seconds(30)))
        << "left running:" << CommandLines(StartedFrom(dir_)) << "\n"
        << stopped;
  }

  TempDir temp_{"ebats-up-"};
  const std::string dir_ = temp_.path();
  const std::string log_ = dir_ + "/up.log";
};

TEST_F(UpScriptTest, ShowsTasksRunningAndCtrlCStopsEverything) {
  ASSERT_FALSE(dir_.empty());
  auto up = StartUp();
  ASSERT_TRUE(up.ok()) << up.status();

  ASSERT_TRUE(
      WaitFor([&] { return absl::StrContains(ReadFile(log_), "ebats is up"); },
              absl::Minutes(3)))
      << ReadFile(log_);
  const std::string shown = ReadFile(log_);
  // virtualShipping at once, closeOrder 10 s after its event: both ran.
  EXPECT_TRUE(absl::StrContains(shown, "succeeded  demo/virtualShipping"))
      << shown;
  EXPECT_TRUE(absl::StrContains(shown, "succeeded  demo/closeOrder")) << shown;
  // The demo worker was up before the registrations, which it handles.
  EXPECT_FALSE(absl::StrContains(shown, "no live worker")) << shown;
  EXPECT_FALSE(StartedFrom(dir_).empty());

  InterruptAndExpectEverythingStopped(*up);
  // The worker stopped first, so it could still leave the scheduler's list.
  const std::string worker = ReadFile(dir_ + "/logs/worker.log");
  EXPECT_TRUE(absl::StrContains(worker, "worker: stopped")) << worker;
  EXPECT_FALSE(absl::StrContains(worker, "cannot unregister")) << worker;
}

// Ctrl-C while the broker is still booting: it has no pid file yet and does
// not answer rabbitmqctl, and must still be stopped.
TEST_F(UpScriptTest, CtrlCWhileTheBrokerStartsStopsEverything) {
  ASSERT_FALSE(dir_.empty());
  auto up = StartUp();
  ASSERT_TRUE(up.ok()) << up.status();
  ASSERT_TRUE(WaitFor(
      [&] {
        return absl::StrContains(CommandLines(StartedFrom(dir_)), "beam.smp");
      },
      absl::Minutes(1)))
      << ReadFile(log_);
  InterruptAndExpectEverythingStopped(*up);
}

// Ctrl-C once the broker is up, while the services start and the demo runs.
TEST_F(UpScriptTest, CtrlCWhileTheServicesStartStopsEverything) {
  ASSERT_FALSE(dir_.empty());
  auto up = StartUp();
  ASSERT_TRUE(up.ok()) << up.status();
  ASSERT_NO_FATAL_FAILURE(WaitForTheBroker());
  InterruptAndExpectEverythingStopped(*up);
}

// Ctrl-C with a broker that no longer responds (its VM frozen with
// SIGSTOP, as a wedged node): rabbitmqctl cannot stop it and it does not act
// on TERM, so rabbitmq-local.sh's stop must end it with KILL once its wait
// runs out. The services, whose broker connection hangs, must stop too.
TEST_F(UpScriptTest, CtrlCWithAFrozenBrokerStillStopsEverything) {
  ASSERT_FALSE(dir_.empty());
  auto up = StartUp();
  ASSERT_TRUE(up.ok()) << up.status();
  ASSERT_NO_FATAL_FAILURE(WaitForTheBroker());
  int frozen = 0;
  for (pid_t pid : StartedFrom(dir_)) {
    if (absl::StartsWith(ReadFile(absl::StrCat("/proc/", pid, "/comm")),
                         "beam.smp")) {
      frozen += kill(pid, SIGSTOP) == 0;
    }
  }
  ASSERT_EQ(frozen, 1) << CommandLines(StartedFrom(dir_));
  InterruptAndExpectEverythingStopped(*up);
}

// A Ctrl-C right after a service started, before up.sh recorded its pid:
// the test puts it there deterministically, with a copy of the scripts whose
// up.sh interrupts itself on the line after it starts the gateway. Before,
// that gateway was left running (seen once in a full run, by timing).
TEST_F(UpScriptTest, CtrlCRightAfterAServiceStartedStopsItToo) {
  ASSERT_FALSE(dir_.empty());
  const std::string scripts = dir_ + "/scripts";
  ASSERT_EQ(mkdir(scripts.c_str(), 0755), 0);
  for (const char* name : {"lib.sh", "rabbitmq-local.sh"}) {
    const std::string copy = absl::StrCat(scripts, "/", name);
    std::ofstream(copy) << ReadFile(
        absl::StrCat(EBATS_SOURCE_DIR, "/scripts/", name));
    ASSERT_EQ(chmod(copy.c_str(), 0755), 0);
  }
  std::string up_sh =
      ReadFile(absl::StrCat(EBATS_SOURCE_DIR, "/scripts/up.sh"));
  const size_t gateway = up_sh.find("/ebats-gateway\" >");
  ASSERT_NE(gateway, std::string::npos) << "up.sh no longer starts the gateway";
  up_sh.insert(up_sh.find('\n', gateway) + 1, "kill -INT $$\n");
  std::ofstream(scripts + "/up.sh") << up_sh;

  auto up = StartUp(scripts + "/up.sh");
  ASSERT_TRUE(up.ok()) << up.status();
  ExpectEverythingStopped(*up);
}

}  // namespace
}  // namespace ebats::testing
