#include "tests/harness/port_picker.h"

#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <optional>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "tests/harness/loopback.h"
#include "tests/harness/process.h"

namespace ebats::testing {
namespace {

// Each case works on ports FreePort reserved for this process, one at a
// time, so the pickers under test never race other test processes for them.
class PortPickerTest : public ::testing::Test {
 protected:
  std::string LockPath() const { return dir_.path() + "/ports.lock"; }

  TempDir dir_{"port-picker-test-"};
};

TEST_F(PortPickerTest, NeverHandsOutTheSamePortTwice) {
  const int port = FreePort();
  PortPicker picker(LockPath(), port, port);
  EXPECT_EQ(picker.Pick().value_or(0), port);
  EXPECT_EQ(picker.Pick().status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST_F(PortPickerTest, SkipsAPortAnotherPickerHoldsUntilThatPickerEnds) {
  const int port = FreePort();
  std::optional<PortPicker> first(std::in_place, LockPath(), port, port);
  ASSERT_EQ(first->Pick().value_or(0), port);
  PortPicker second(LockPath(), port, port);
  EXPECT_EQ(second.Pick().status().code(),
            absl::StatusCode::kResourceExhausted);
  first.reset();
  EXPECT_EQ(second.Pick().value_or(0), port);
}

TEST_F(PortPickerTest, APortHeldByAnotherProcessIsFreeAgainWhenItExits) {
  const int port = FreePort();
  int to_parent[2];
  int to_child[2];
  ASSERT_EQ(pipe(to_parent), 0);
  ASSERT_EQ(pipe(to_child), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Holds the port until the parent writes, then exits without clean-up:
    // the kernel must drop the lock.
    PortPicker picker(LockPath(), port, port);
    const char picked = picker.Pick().value_or(0) == port ? 'y' : 'n';
    char go;
    if (write(to_parent[1], &picked, 1) != 1 || read(to_child[0], &go, 1) < 0) {
      _exit(2);
    }
    _exit(0);
  }
  char picked = 0;
  ASSERT_EQ(read(to_parent[0], &picked, 1), 1);
  ASSERT_EQ(picked, 'y');
  PortPicker picker(LockPath(), port, port);
  EXPECT_EQ(picker.Pick().status().code(),
            absl::StatusCode::kResourceExhausted);
  ASSERT_EQ(write(to_child[1], "x", 1), 1);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(picker.Pick().value_or(0), port);
  for (int fd : {to_parent[0], to_parent[1], to_child[0], to_child[1]}) {
    close(fd);
  }
}

TEST_F(PortPickerTest, ARunOfPortsIsHeldWholeAndNeedsEveryPortFree) {
  const int first = FreePorts(3);
  PortPicker run(LockPath(), first, first + 2);
  ASSERT_EQ(run.Pick(3).value_or(0), first);
  PortPicker other(LockPath(), first, first + 2);
  EXPECT_EQ(other.Pick().status().code(), absl::StatusCode::kResourceExhausted);

  // With the middle port held elsewhere, no run of two fits.
  PortPicker middle(LockPath() + ".2", first + 1, first + 1);
  ASSERT_EQ(middle.Pick().value_or(0), first + 1);
  PortPicker pair(LockPath() + ".2", first, first + 2);
  EXPECT_EQ(pair.Pick(2).status().code(), absl::StatusCode::kResourceExhausted);
  // The failed attempts released what they took: both ends are free.
  EXPECT_TRUE(pair.Pick().ok());
  EXPECT_TRUE(pair.Pick().ok());
}

TEST_F(PortPickerTest, SkipsAPortSomethingElseIsBoundTo) {
  const int port = FreePort();
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_TRUE(BindLoopback(fd, port));
  ASSERT_FALSE(PortBinds(port));
  PortPicker picker(LockPath(), port, port);
  EXPECT_EQ(picker.Pick().status().code(),
            absl::StatusCode::kResourceExhausted);
  close(fd);
}

TEST(FreePortTest, GivesDistinctPortsThatBind) {
  absl::flat_hash_set<int> ports;
  for (int i = 0; i < 200; ++i) {
    const int port = FreePort();
    EXPECT_TRUE(ports.insert(port).second) << port << " handed out twice";
    EXPECT_TRUE(PortBinds(port)) << port;
  }
}

}  // namespace
}  // namespace ebats::testing
