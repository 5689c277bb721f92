#include "libs/domain/delay_ladder.h"

#include <vector>

#include "gtest/gtest.h"

namespace ebats::domain {
namespace {

// Walks a delay through the ladder as the bindings route it: enter at the
// top level, wait where the bit is 1, pass where it is 0. Returns the wait.
int64_t Walk(int64_t delay) {
  int64_t waited = 0;
  for (int level = LadderTopLevel(delay); level >= 0; --level) {
    if (LadderBit(delay, level)) waited += LadderLevelTtlMs(level);
  }
  return waited;
}

TEST(DelayLadderTest, NamesAreStable) {
  EXPECT_EQ(LadderLevelExchange(7), "ebats.dtask.l07");
  EXPECT_EQ(LadderLevelQueue(34), "ebats.delay.l34");
  EXPECT_EQ(LadderBitHeader(3), "ebats-b03");
  EXPECT_EQ(LadderLevelTtlMs(10), 1024);
}

TEST(DelayLadderTest, TopLevelIsTheHighestSetBit) {
  EXPECT_EQ(LadderTopLevel(0), -1);
  EXPECT_EQ(LadderTopLevel(1), 0);
  EXPECT_EQ(LadderTopLevel(5), 2);
  EXPECT_EQ(LadderTopLevel(1024), 10);
  EXPECT_EQ(LadderTopLevel(kMaxLadderDelayMs), kLadderLevels - 1);
}

TEST(DelayLadderTest, EveryDelayWaitsExactlyItsLength) {
  for (int64_t delay : std::vector<int64_t>{
           0, 1, 2, 3, 100, 1000, 999'983, 3'600'000, 86'400'000,
           365LL * 86'400'000, kMaxLadderDelayMs}) {
    EXPECT_EQ(Walk(delay), delay) << delay;
  }
}

TEST(DelayLadderTest, DelaysAreClamped) {
  EXPECT_EQ(Walk(-5), 0);
  EXPECT_EQ(Walk(kMaxLadderDelayMs + 10), kMaxLadderDelayMs);
}

TEST(DelayLadderTest, LadderDoesTheCoarsePartAndLeavesALead) {
  EXPECT_EQ(LadderDelayMs(-5), 0);
  EXPECT_EQ(LadderDelayMs(0), 0);
  EXPECT_EQ(LadderDelayMs(3000), 0);  // the due stage holds it directly
  EXPECT_EQ(LadderDelayMs(kLadderLeadMs + 4095), 0);
  EXPECT_EQ(LadderDelayMs(kLadderLeadMs + 4096), 4096);
  for (int64_t d : {1, 50, 1000, 5000, 9999, 3'600'000, 86'400'000}) {
    const int64_t ladder = LadderDelayMs(d);
    EXPECT_EQ(ladder % 4096, 0) << d;
    // Early by at least the lead, and held at most lead + one unit.
    if (ladder > 0) {
      EXPECT_GE(d - ladder, kLadderLeadMs) << d;
    }
    EXPECT_LT(d - ladder, kLadderLeadMs + 4096) << d;
  }
  // Only the coarse levels are ever used.
  EXPECT_GE(LadderTopLevel(LadderDelayMs(3'600'000)), kLadderFloorLevel);
}

}  // namespace
}  // namespace ebats::domain
