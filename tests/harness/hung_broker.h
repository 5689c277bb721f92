// The check of amqp::Session::Shutdown() against a broker that hangs mid
// connection (frozen behind a TcpProxy), shared by the plain AMQP
// (integration) and the TLS (e2e security) tests. The session under test
// should have an io_timeout far longer than the 10 s the check allows, so
// that only a cut connection passes.
#ifndef EBATS_TESTS_HARNESS_HUNG_BROKER_H_
#define EBATS_TESTS_HARNESS_HUNG_BROKER_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "libs/amqp/session.h"
#include "tests/harness/tcp_proxy.h"

namespace ebats::testing {

// `session` is up through `proxy`, which is then frozen: `message` is never
// confirmed, Shutdown() returns after the session's shutdown_grace and fails
// the publish with UNAVAILABLE.
inline void ExpectShutdownDropsAFrozenConnection(amqp::Session& session,
                                                 TcpProxy& proxy,
                                                 amqp::Message message) {
  proxy.Freeze();
  absl::Notification failed;
  absl::Status unconfirmed;
  session.Publish(std::move(message), [&](absl::Status s) {
    unconfirmed = std::move(s);
    failed.Notify();
  });
  const absl::Time start = absl::Now();
  session.Shutdown();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  ASSERT_TRUE(failed.HasBeenNotified());
  EXPECT_EQ(unconfirmed.code(), absl::StatusCode::kUnavailable) << unconfirmed;
}

}  // namespace ebats::testing

#endif  // EBATS_TESTS_HARNESS_HUNG_BROKER_H_
