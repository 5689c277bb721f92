#include "libs/domain/delay_ladder.h"

#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace ebats::domain {
namespace {

// Matches a RabbitMQ topic pattern ('*' one word, '#' zero or more) against
// a routing key, so the tests check the bindings as the broker applies them.
bool TopicMatch(const std::vector<std::string>& p, size_t i,
                const std::vector<std::string>& k, size_t j) {
  if (i == p.size()) return j == k.size();
  if (p[i] == "#") {
    for (size_t skip = j; skip <= k.size(); ++skip) {
      if (TopicMatch(p, i + 1, k, skip)) return true;
    }
    return false;
  }
  if (j == k.size()) return false;
  return (p[i] == "*" || p[i] == k[j]) && TopicMatch(p, i + 1, k, j + 1);
}

bool Matches(const std::string& pattern, const std::string& key) {
  return TopicMatch(absl::StrSplit(pattern, '.'), 0, absl::StrSplit(key, '.'),
                    0);
}

// Walks a key through the ladder as the broker would; returns the total wait.
int64_t Walk(const std::string& key) {
  int64_t waited = 0;
  for (int level = kLadderLevels - 1; level >= 0; --level) {
    bool one = Matches(LadderBindingPattern(level, true), key);
    bool zero = Matches(LadderBindingPattern(level, false), key);
    EXPECT_NE(one, zero) << "level " << level << " key " << key;
    if (one) waited += LadderLevelTtlMs(level);
  }
  return waited;
}

TEST(DelayLadderTest, NamesAreStable) {
  EXPECT_EQ(LadderLevelExchange(7), "ebats.dtask.l07");
  EXPECT_EQ(LadderLevelQueue(34), "ebats.delay.l34");
  EXPECT_EQ(LadderLevelTtlMs(10), 1024);
}

TEST(DelayLadderTest, RoutingKeySpellsTheDelay) {
  std::string key = LadderRoutingKey(5, "demo");
  EXPECT_EQ(key.substr(key.size() - 10), "1.0.1.demo");
  EXPECT_EQ(std::vector<std::string>(absl::StrSplit(key, '.')).size(), 36u);
}

TEST(DelayLadderTest, EveryDelayWaitsExactlyItsLength) {
  for (int64_t delay : std::vector<int64_t>{
           0, 1, 2, 3, 100, 1000, 999'983, 3'600'000, 86'400'000,
           365LL * 86'400'000, kMaxLadderDelayMs}) {
    EXPECT_EQ(Walk(LadderRoutingKey(delay, "demo")), delay) << delay;
  }
}

TEST(DelayLadderTest, DelaysAreClamped) {
  EXPECT_EQ(Walk(LadderRoutingKey(-5, "t")), 0);
  EXPECT_EQ(Walk(LadderRoutingKey(kMaxLadderDelayMs + 10, "t")),
            kMaxLadderDelayMs);
}

TEST(DelayLadderTest, MarginCoversTheHopsAndIsNeverNegative) {
  EXPECT_EQ(LadderDelayMs(0), 0);
  EXPECT_EQ(LadderDelayMs(5), 0);  // the due stage holds short delays itself
  EXPECT_EQ(LadderMarginMs(1024), 13);
  EXPECT_EQ(LadderDelayMs(1000), 1000 - LadderMarginMs(1000));
  for (int64_t d : {1, 50, 1000, 3'600'000}) {
    EXPECT_GE(LadderDelayMs(d), 0);
    EXPECT_LE(LadderDelayMs(d), d);
  }
}

}  // namespace
}  // namespace ebats::domain
