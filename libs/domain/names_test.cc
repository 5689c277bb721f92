#include "libs/domain/names.h"

#include <string>

#include "gtest/gtest.h"

namespace ebats::domain {
namespace {

TEST(NamesTest, EventNamesAcceptTheirCharacterSet) {
  EXPECT_TRUE(ValidateEventName("order_paid").ok());
  EXPECT_TRUE(ValidateEventName("shop.order:paid-v2").ok());
  EXPECT_TRUE(ValidateEventName(std::string(128, 'e')).ok());
}

TEST(NamesTest, EventNamesRejectEmptyLongAndForeignCharacters) {
  EXPECT_EQ(ValidateEventName("").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateEventName(std::string(129, 'e')).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateEventName("order paid").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateEventName("order#").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateEventName("caf\xc3\xa9").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(NamesTest, TopicAndTaskNamesRejectDots) {
  EXPECT_TRUE(ValidateTopicName("demo").ok());
  EXPECT_TRUE(ValidateTaskName("virtualShipping").ok());
  EXPECT_EQ(ValidateTopicName("de.mo").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateTaskName("a.b").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateTaskName(std::string(65, 't')).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(NamesTest, ErrorSaysWhichRuleBroke) {
  absl::Status s = ValidateTopicName("de.mo");
  EXPECT_NE(s.message().find("topic name"), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find("[A-Za-z0-9_-]"), absl::string_view::npos) << s;
}

TEST(NamesTest, IdsArePrintableAndShort) {
  EXPECT_TRUE(ValidateId("abc-123", "task id").ok());
  EXPECT_EQ(ValidateId("", "task id").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateId(std::string(65, 'x'), "task id").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateId("a\nb", "task id").code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ebats::domain
