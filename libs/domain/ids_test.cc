#include "libs/domain/ids.h"

#include "gtest/gtest.h"
#include "libs/domain/names.h"

namespace ebats::domain {
namespace {

TEST(IdsTest, SameKeySameEventId) {
  EXPECT_EQ(EventIdFromKey("k1"), EventIdFromKey("k1"));
  EXPECT_NE(EventIdFromKey("k1"), EventIdFromKey("k2"));
}

TEST(IdsTest, TaskIdIsDeterministicPerEventTopicTask) {
  EXPECT_EQ(TaskIdFor("e", "demo", "t"), TaskIdFor("e", "demo", "t"));
  EXPECT_NE(TaskIdFor("e", "demo", "t"), TaskIdFor("e", "demo", "u"));
  EXPECT_NE(TaskIdFor("e", "demo", "t"), TaskIdFor("e", "other", "t"));
  EXPECT_NE(TaskIdFor("e1", "demo", "t"), TaskIdFor("e2", "demo", "t"));
}

TEST(IdsTest, IdsAreValidIds) {
  EXPECT_TRUE(ValidateId(NewRandomId(), "id").ok());
  EXPECT_TRUE(ValidateId(TaskIdFor("e", "demo", "t"), "id").ok());
  EXPECT_EQ(NewRandomId().size(), 32u);
  EXPECT_NE(NewRandomId(), NewRandomId());
}

}  // namespace
}  // namespace ebats::domain
