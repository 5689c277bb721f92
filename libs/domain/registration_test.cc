#include "libs/domain/registration.h"

#include "gtest/gtest.h"

namespace ebats::domain {
namespace {

v1::Registration Make(const char* event, const char* topic, const char* task) {
  v1::Registration r;
  r.set_event(event);
  r.set_topic(topic);
  r.set_task(task);
  return r;
}

TEST(RegistrationTest, ValidRegistrationPasses) {
  auto r = Make("order_created", "demo", "closeOrder");
  r.set_delay_ms(10'000);
  EXPECT_TRUE(ValidateRegistration(r).ok());
}

TEST(RegistrationTest, BadFieldsAreNamed) {
  EXPECT_FALSE(ValidateRegistration(Make("", "demo", "t")).ok());
  EXPECT_FALSE(ValidateRegistration(Make("e", "de.mo", "t")).ok());
  auto r = Make("e", "demo", "t");
  r.set_delay_ms(-1);
  EXPECT_NE(ValidateRegistration(r).message().find("delay_ms"),
            absl::string_view::npos);
  r.set_delay_ms(0);
  r.mutable_retry()->add_intervals_ms(0);
  EXPECT_NE(ValidateRegistration(r).message().find("intervals_ms[0]"),
            absl::string_view::npos);
  // A timeout the worker could not honour is refused, not cut down.
  r.mutable_retry()->clear_intervals_ms();
  r.mutable_retry()->set_timeout_ms(kMaxTaskTimeoutMs);
  EXPECT_TRUE(ValidateRegistration(r).ok());
  r.mutable_retry()->set_timeout_ms(kMaxTaskTimeoutMs + 1);
  EXPECT_NE(ValidateRegistration(r).message().find("retry.timeout_ms"),
            absl::string_view::npos);
}

TEST(RegistrationTest, MaxAttemptsDefaultsToIntervalsPlusOne) {
  v1::RetryPolicy policy;
  EXPECT_EQ(EffectiveMaxAttempts(policy), 6);
  policy.add_intervals_ms(10);
  policy.add_intervals_ms(20);
  EXPECT_EQ(EffectiveMaxAttempts(policy), 3);
  policy.set_max_attempts(9);
  EXPECT_EQ(EffectiveMaxAttempts(policy), 9);
}

TEST(RegistrationTest, RetryDelayFollowsThePolicy) {
  v1::RetryPolicy policy;
  EXPECT_EQ(RetryDelayMs(policy, 1, 0), 5'000);
  EXPECT_EQ(RetryDelayMs(policy, 2, 0), 300'000);
  EXPECT_EQ(RetryDelayMs(policy, 5, 0), 7'200'000);
  EXPECT_EQ(RetryDelayMs(policy, 9, 0), 7'200'000);  // last interval repeats
  policy.add_intervals_ms(100);
  policy.add_intervals_ms(200);
  EXPECT_EQ(RetryDelayMs(policy, 1, 0), 100);
  EXPECT_EQ(RetryDelayMs(policy, 2, 0), 200);
  EXPECT_EQ(RetryDelayMs(policy, 2, 50), 50);  // retry-after replaces it
}

TEST(RegistrationTest, ExponentialGrowsToItsCapWithJitter) {
  v1::RetryPolicy policy;
  policy.mutable_exponential()->set_initial_ms(100);
  policy.mutable_exponential()->set_max_ms(1000);
  EXPECT_EQ(RetryDelayMs(policy, 1, 0), 100);
  EXPECT_EQ(RetryDelayMs(policy, 2, 0), 200);
  EXPECT_EQ(RetryDelayMs(policy, 4, 0), 800);
  EXPECT_EQ(RetryDelayMs(policy, 5, 0), 1000);
  EXPECT_EQ(RetryDelayMs(policy, 60, 0), 1000);
  EXPECT_EQ(EffectiveMaxAttempts(policy), 6);
  policy.mutable_exponential()->set_jitter(0.5);
  EXPECT_EQ(RetryDelayMs(policy, 1, 0, 0.0), 50);
  EXPECT_EQ(RetryDelayMs(policy, 1, 0, 0.5), 100);
  EXPECT_EQ(RetryDelayMs(policy, 1, 0, 0.999), 149);
  EXPECT_TRUE(ValidateRetryPolicy(policy).ok());
  policy.add_intervals_ms(5);
  EXPECT_FALSE(ValidateRetryPolicy(policy).ok());
}

TEST(RegistrationTest, SameSettingsComparesEverything) {
  auto a = Make("e", "demo", "t");
  auto b = a;
  EXPECT_TRUE(SameSettings(a, b));
  b.set_delay_ms(5);
  EXPECT_FALSE(SameSettings(a, b));
}

}  // namespace
}  // namespace ebats::domain
