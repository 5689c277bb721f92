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

TEST(IdsTest, TimeOrderedIdsSortByTime) {
  const std::string id = NewTimeOrderedId(0x019ac0c3e0a1);
  ASSERT_EQ(id.size(), 33u);
  EXPECT_EQ(id.substr(0, 13), "019ac0c3e0a1-");
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef", 13), std::string::npos);
  EXPECT_TRUE(ValidateId(id, "id").ok());
  EXPECT_NE(NewTimeOrderedId(5), NewTimeOrderedId(5));
  EXPECT_LT(NewTimeOrderedId(999), NewTimeOrderedId(1000));
  EXPECT_LT(NewTimeOrderedId(0x0fffffffffff), NewTimeOrderedId(0x100000000000));
}

TEST(IdsTest, TaskIdsOfATimeOrderedEventShareItsTimePrefix) {
  const std::string event = NewTimeOrderedId(1700000000000);
  const std::string task = TaskIdFor(event, "demo", "t");
  ASSERT_EQ(task.size(), 33u);
  EXPECT_EQ(task.substr(0, 13), event.substr(0, 13));
  EXPECT_EQ(task, TaskIdFor(event, "demo", "t"));
  EXPECT_NE(task, TaskIdFor(event, "demo", "u"));
  EXPECT_NE(task, TaskIdFor(event, "demo", "t", 1));
  EXPECT_NE(task, event);
  EXPECT_LT(task, TaskIdFor(NewTimeOrderedId(1700000000001), "demo", "t"));
}

TEST(IdsTest, OtherEventIdsKeepTheDigestForm) {
  // Pinned: these are the ids stores already hold for such events.
  EXPECT_EQ(TaskIdFor("e", "demo", "t"), "79fe8534c2371be1f590742a6bdc6665");
  const std::string keyed = TaskIdFor(EventIdFromKey("k1"), "demo", "t");
  EXPECT_EQ(keyed.size(), 32u);
  EXPECT_EQ(keyed.find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST(IdsTest, TimeOfIdReadsTheTimeOfTimeOrderedIdsOnly) {
  const int64_t ms = 1700000000123;
  const std::string event = NewTimeOrderedId(ms);
  EXPECT_EQ(TimeOfId(event), ms);
  EXPECT_EQ(TimeOfId(TaskIdFor(event, "demo", "t")), ms);
  EXPECT_EQ(TimeOfId(NewTimeOrderedId(0)), 0);
  EXPECT_EQ(TimeOfId(NewRandomId()), std::nullopt);
  EXPECT_EQ(TimeOfId(TaskIdFor("e", "demo", "t")), std::nullopt);
  EXPECT_EQ(TimeOfId("nope"), std::nullopt);
  // The right length and dash, but not hex.
  EXPECT_EQ(TimeOfId("0198c0c3e0aX-5f0e4c2b9d8a7f6e1c3b"), std::nullopt);
  EXPECT_EQ(TimeOfId("018bcfe56800-5f0e4c2b9d8a7f6e1cZb"), std::nullopt);
}

}  // namespace
}  // namespace ebats::domain
