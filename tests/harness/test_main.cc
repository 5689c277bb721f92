// main() for test binaries that start their own processes (no shared
// broker): children are killed if the test process is interrupted.
#include "gtest/gtest.h"
#include "tests/harness/process.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ebats::testing::KillChildrenOnTermination();
  return RUN_ALL_TESTS();
}
