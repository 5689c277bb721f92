#include "libs/amqp/broker_url.h"

#include "gtest/gtest.h"

namespace ebats::amqp {
namespace {

TEST(BrokerUrlTest, ParsesFullUrl) {
  auto url = ParseBrokerUrl("amqp://ebats:s%40cret@127.0.0.1:25672/prod");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->host, "127.0.0.1");
  EXPECT_EQ(url->port, 25672);
  EXPECT_EQ(url->user, "ebats");
  EXPECT_EQ(url->password, "s@cret");
  EXPECT_EQ(url->vhost, "prod");
  EXPECT_FALSE(url->tls);
  EXPECT_EQ(url->Redacted(), "amqp://ebats:***@127.0.0.1:25672/prod");
}

TEST(BrokerUrlTest, DefaultsFollowTheSpec) {
  auto url = ParseBrokerUrl("amqp://localhost");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->port, 5672);
  EXPECT_EQ(url->vhost, "/");
  auto tls = ParseBrokerUrl("amqps://h");
  ASSERT_TRUE(tls.ok());
  EXPECT_TRUE(tls->tls);
  EXPECT_EQ(tls->port, 5671);
}

TEST(BrokerUrlTest, RejectsOtherSchemes) {
  EXPECT_EQ(ParseBrokerUrl("http://x").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(ParseBrokerUrl("").ok());
}

TEST(BrokerUrlTest, ParsesLists) {
  auto urls = ParseBrokerUrls("amqp://a:1, amqp://b:2");
  ASSERT_TRUE(urls.ok()) << urls.status();
  ASSERT_EQ(urls->size(), 2u);
  EXPECT_EQ((*urls)[1].host, "b");
  EXPECT_FALSE(ParseBrokerUrls(" , ").ok());
}

}  // namespace
}  // namespace ebats::amqp
