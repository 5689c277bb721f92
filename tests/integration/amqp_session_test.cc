// The AMQP layer against a real RabbitMQ: confirms, returns, consumers,
// refused declarations, outages.
#include <atomic>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "libs/amqp/ebats_topology.h"
#include "libs/amqp/session.h"
#include "libs/service/service_runtime.h"
#include "tests/harness/broker_environment.h"
#include "tests/harness/hung_broker.h"
#include "tests/harness/tcp_proxy.h"
#include "tests/harness/wait.h"

namespace ebats::amqp {
namespace {

using ::ebats::testing::BrokerEnvironment;
using ::ebats::testing::WaitFor;

SessionOptions Options(Topology topology = {}) {
  SessionOptions options;
  options.brokers = *ParseBrokerUrls(BrokerEnvironment::Node().url());
  options.topology = std::move(topology);
  options.connection_name =
      ::testing::UnitTest::GetInstance()->current_test_info()->name();
  return options;
}

Topology OneQueue(const std::string& name,
                  QueueType type = QueueType::kQuorum) {
  Topology t;
  t.exchanges.push_back({"test.direct", "direct"});
  QueueSpec q = DurableQueue(name, type);
  q.bindings.push_back({"test.direct", name, {}});
  t.queues.push_back(q);
  return t;
}

Message To(const std::string& key, std::string body) {
  Message m;
  m.exchange = "test.direct";
  m.routing_key = key;
  m.body = std::move(body);
  return m;
}

// Collects deliveries from the Session thread.
struct Inbox {
  absl::Mutex mu;
  std::vector<Delivery> deliveries;
  Session::DeliveryHandler Handler() {
    return [this](Delivery d) {
      absl::MutexLock lock(&mu);
      deliveries.push_back(std::move(d));
    };
  }
  size_t size() {
    absl::MutexLock lock(&mu);
    return deliveries.size();
  }
};

TEST(AmqpSessionTest, PublishIsConfirmedAndConsumedWithHeaders) {
  Inbox inbox;
  Session session(Options(OneQueue("t.roundtrip")));
  session.AddConsumer("t.roundtrip", inbox.Handler());
  session.Start();
  ASSERT_TRUE(WaitFor([&] { return session.IsUp(); }));

  Message m = To("t.roundtrip", std::string("bin\0ary", 7));
  m.type = "ebats.task";
  m.headers.emplace_back("x-ebats-attempt", int64_t{3});
  m.headers.emplace_back("x-ebats-task-id", std::string("abc"));
  ASSERT_TRUE(session.PublishAndWait(m).ok());

  ASSERT_TRUE(WaitFor([&] { return inbox.size() == 1; }));
  absl::MutexLock lock(&inbox.mu);
  const Delivery& d = inbox.deliveries[0];
  EXPECT_EQ(d.body, std::string("bin\0ary", 7));
  EXPECT_EQ(d.type, "ebats.task");
  EXPECT_EQ(d.queue, "t.roundtrip");
  EXPECT_EQ(d.IntHeader("x-ebats-attempt"), 3);
  EXPECT_EQ(d.StringHeader("x-ebats-task-id"), "abc");
  session.Ack(d);
}

TEST(AmqpSessionTest, ManyPipelinedPublishesAreAllConfirmed) {
  Session session(Options(OneQueue("t.pipelined", QueueType::kClassic)));
  session.Start();
  ASSERT_TRUE(WaitFor([&] { return session.IsUp(); }));
  constexpr int kCount = 5000;
  std::atomic<int> ok{0}, failed{0};
  for (int i = 0; i < kCount; ++i) {
    session.Publish(To("t.pipelined", std::to_string(i)), [&](absl::Status s) {
      (s.ok() ? ok : failed).fetch_add(1);
    });
  }
  ASSERT_TRUE(WaitFor([&] { return ok + failed == kCount; }));
  EXPECT_EQ(ok.load(), kCount);
}

TEST(AmqpSessionTest, InspectQueuesCountsReadyMessagesAndConsumers) {
  Session session(Options(OneQueue("t.inspect")));
  session.Start();
  ASSERT_TRUE(WaitFor([&] { return session.IsUp(); }));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(session.PublishAndWait(To("t.inspect", "x")).ok());
  }
  auto inspect = [&session](std::vector<std::string> queues) {
    absl::Notification done;
    absl::StatusOr<std::vector<QueueCounts>> result;
    session.InspectQueues(std::move(queues),
                          [&](absl::StatusOr<std::vector<QueueCounts>> counts) {
                            result = std::move(counts);
                            done.Notify();
                          });
    EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
    return result;
  };

  auto counts = inspect({"t.inspect", "t.no-such-queue", "t.inspect"});
  ASSERT_TRUE(counts.ok()) << counts.status();
  ASSERT_EQ(counts->size(), 3u);
  EXPECT_EQ((*counts)[0].queue, "t.inspect");
  EXPECT_TRUE((*counts)[0].exists);
  EXPECT_EQ((*counts)[0].ready_messages, 3u);
  EXPECT_EQ((*counts)[0].consumers, 0u);
  EXPECT_EQ((*counts)[1].queue, "t.no-such-queue");
  EXPECT_FALSE((*counts)[1].exists);
  // The miss did not cost the channel the rest of the round.
  EXPECT_TRUE((*counts)[2].exists);
  EXPECT_EQ((*counts)[2].ready_messages, 3u);

  // Delivered and unacked messages are not ready; their consumer counts.
  Inbox inbox;
  Session consumer(Options());
  consumer.AddConsumer("t.inspect", inbox.Handler());
  consumer.Start();
  ASSERT_TRUE(WaitFor([&] { return inbox.size() == 3; }));
  counts = inspect({"t.inspect", "t.no-such-queue"});
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ((*counts)[0].ready_messages, 0u);
  EXPECT_EQ((*counts)[0].consumers, 1u);
  // Looking did not create the missing queue.
  EXPECT_FALSE((*counts)[1].exists);
  EXPECT_TRUE(session.PublishAndWait(To("t.inspect", "y")).ok());

  session.Shutdown();
  counts = inspect({"t.inspect"});
  EXPECT_EQ(counts.status().code(), absl::StatusCode::kUnavailable)
      << counts.status();
}

TEST(AmqpSessionTest, UnroutableMessageIsAnError) {
  Session session(Options(OneQueue("t.unroutable")));
  session.Start();
  ASSERT_TRUE(WaitFor([&] { return session.IsUp(); }));
  absl::Status status = session.PublishAndWait(To("no-such-queue", "x"));
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_NE(status.message().find("unroutable"), absl::string_view::npos)
      << status;
  // The channel is still fine.
  EXPECT_TRUE(session.PublishAndWait(To("t.unroutable", "y")).ok());
}

TEST(AmqpSessionTest, MissingExchangeFailsThePublishAndTheSessionRecovers) {
  Session session(Options(OneQueue("t.recover")));
  session.Start();
  ASSERT_TRUE(WaitFor([&] { return session.IsUp(); }));
  Message m = To("t.recover", "x");
  m.exchange = "no.such.exchange";
  absl::Status status = session.PublishAndWait(m);
  EXPECT_FALSE(status.ok());
  ASSERT_TRUE(
      WaitFor([&] { return session.IsUp() && session.connects() >= 2; }));
  EXPECT_TRUE(session.PublishAndWait(To("t.recover", "y")).ok());
}

TEST(AmqpSessionTest, IncompatibleQueueIsReportedClearly) {
  Session quorum(Options(OneQueue("t.conflict", QueueType::kQuorum)));
  quorum.Start();
  ASSERT_TRUE(WaitFor([&] { return quorum.IsUp(); }));
  absl::Status declared = absl::UnknownError("not called");
  absl::Notification done;
  quorum.Declare(OneQueue("t.conflict", QueueType::kClassic),
                 [&](absl::Status s) {
                   declared = s;
                   done.Notify();
                 });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(declared.code(), absl::StatusCode::kFailedPrecondition) << declared;
  EXPECT_NE(declared.message().find("t.conflict"), absl::string_view::npos)
      << declared;
  EXPECT_NE(declared.message().find("x-queue-type"), absl::string_view::npos)
      << declared;
  // The publish channel was not affected.
  EXPECT_TRUE(quorum.PublishAndWait(To("t.conflict", "z")).ok());
}

TEST(AmqpSessionTest, QueueWithItsLegacyArgumentsIsUsedAsItIs) {
  // A task queue made by an ebats version without the delivery limit.
  Session old(Options(OneQueue("ebats.task.upgraded", QueueType::kQuorum)));
  old.Start();
  ASSERT_TRUE(WaitFor([&] { return old.IsUp(); }));
  old.Shutdown();
  Session current(Options(TopicTopology(QueueType::kQuorum, "upgraded")));
  current.Start();
  ASSERT_TRUE(WaitFor([&] { return current.IsUp(); }));
  EXPECT_TRUE(current.PublishAndWait(To("ebats.task.upgraded", "z")).ok());
}

TEST(AmqpSessionTest, PublishWithoutBrokerIsUnavailableAtOnce) {
  SessionOptions options = Options();
  options.brokers = *ParseBrokerUrls("amqp://guest:guest@127.0.0.1:1/");
  Session session(options);
  session.Start();
  absl::Status status = session.PublishAndWait(To("x", "y"), absl::Seconds(2));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_FALSE(session.IsUp());
}

TEST(AmqpSessionTest, FailsOverToTheNextBrokerUrl) {
  SessionOptions options = Options(OneQueue("t.failover"));
  options.brokers = *ParseBrokerUrls("amqp://guest:guest@127.0.0.1:1/," +
                                     BrokerEnvironment::Node().url());
  Session session(options);
  session.Start();
  ASSERT_TRUE(WaitFor([&] { return session.IsUp(); }));
  EXPECT_TRUE(session.PublishAndWait(To("t.failover", "x")).ok());
}

TEST(AmqpSessionTest, UnackedDeliveryComesBackAfterTheConsumerGoes) {
  {
    Session producer(Options(OneQueue("t.redeliver")));
    producer.Start();
    ASSERT_TRUE(WaitFor([&] { return producer.IsUp(); }));
    ASSERT_TRUE(producer.PublishAndWait(To("t.redeliver", "once")).ok());
  }
  {
    Inbox inbox;
    Session consumer(Options(OneQueue("t.redeliver")));
    consumer.AddConsumer("t.redeliver", inbox.Handler());
    consumer.Start();
    ASSERT_TRUE(WaitFor([&] { return inbox.size() == 1; }));
    // Shut down without acking: the broker must keep the message.
  }
  Inbox inbox;
  Session consumer(Options(OneQueue("t.redeliver")));
  consumer.AddConsumer("t.redeliver", inbox.Handler());
  consumer.Start();
  ASSERT_TRUE(WaitFor([&] { return inbox.size() == 1; }));
  absl::MutexLock lock(&inbox.mu);
  EXPECT_EQ(inbox.deliveries[0].body, "once");
  EXPECT_TRUE(inbox.deliveries[0].redelivered);
  consumer.Ack(inbox.deliveries[0]);
}

TEST(AmqpSessionTest, OutOfOrderAcksAndRejectsAreHonoured) {
  // Acks in reverse order with a reject in the middle: no channel error, the
  // rejected message is gone, the unacked one comes back. (An ack still in
  // flight when the connection closes may also bring its message back: that
  // is at-least-once, so the check is on what must and must not return.)
  Session producer(Options(OneQueue("t.acks", QueueType::kQuorum)));
  producer.Start();
  ASSERT_TRUE(WaitFor([&] { return producer.IsUp(); }));
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(producer.PublishAndWait(To("t.acks", std::to_string(i))).ok());
  }
  {
    Inbox inbox;
    Session consumer(Options(OneQueue("t.acks", QueueType::kQuorum)));
    consumer.AddConsumer("t.acks", inbox.Handler());
    consumer.Start();
    ASSERT_TRUE(WaitFor([&] { return inbox.size() == 50; }));
    absl::MutexLock lock(&inbox.mu);
    for (int i = 49; i >= 0; --i) {
      if (i == 20) {
        consumer.Reject(inbox.deliveries[i],
                        /*requeue=*/false);  // dropped for good
      } else if (i != 30) {
        consumer.Ack(inbox.deliveries[i]);
      }
    }
    EXPECT_EQ(consumer.connects(), 1u);  // no channel error so far
  }
  Inbox inbox;
  Session consumer(Options(OneQueue("t.acks", QueueType::kQuorum)));
  consumer.AddConsumer("t.acks", inbox.Handler());
  consumer.Start();
  auto has = [&](const std::string& body) {
    absl::MutexLock lock(&inbox.mu);
    for (const auto& d : inbox.deliveries) {
      if (d.body == body) return true;
    }
    return false;
  };
  ASSERT_TRUE(WaitFor([&] { return has("30"); }));
  EXPECT_FALSE(has("20"));
  absl::MutexLock lock(&inbox.mu);
  EXPECT_LE(inbox.deliveries.size(), 49u);
  for (const auto& d : inbox.deliveries) consumer.Ack(d);
}

TEST(AmqpSessionTest, AcksInDeliveryOrderWaitForEveryOlderDelivery) {
  // Seen through the prefetch: acks held behind an unsettled older delivery
  // free no slot; once it is acked, all go (as one multiple-ack) and the
  // rest arrive. A graceful shutdown sends what is still held, so only the
  // unsettled delivery comes back.
  Session producer(Options(OneQueue("t.inorder")));
  producer.Start();
  ASSERT_TRUE(WaitFor([&] { return producer.IsUp(); }));
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(
        producer.PublishAndWait(To("t.inorder", std::to_string(i))).ok());
  }
  {
    SessionOptions options = Options(OneQueue("t.inorder"));
    options.prefetch = 3;
    options.ack_in_delivery_order = true;
    Inbox inbox;
    Session consumer(options);
    consumer.AddConsumer("t.inorder", inbox.Handler());
    consumer.Start();
    ASSERT_TRUE(WaitFor([&] { return inbox.size() == 3; }));
    const auto ack = [&](size_t i) {
      absl::MutexLock lock(&inbox.mu);
      consumer.Ack(inbox.deliveries.at(i));
    };
    ack(2);
    ack(1);
    EXPECT_FALSE(
        WaitFor([&] { return inbox.size() > 3; }, absl::Milliseconds(500)));
    ack(0);
    ASSERT_TRUE(WaitFor([&] { return inbox.size() == 5; }));
    ack(4);  // held behind 3, which stays unsettled
    EXPECT_EQ(consumer.connects(), 1u);
  }
  Inbox inbox;
  Session consumer(Options(OneQueue("t.inorder")));
  consumer.AddConsumer("t.inorder", inbox.Handler());
  consumer.Start();
  ASSERT_TRUE(WaitFor([&] { return inbox.size() >= 1; }));
  EXPECT_FALSE(
      WaitFor([&] { return inbox.size() > 1; }, absl::Milliseconds(500)));
  absl::MutexLock lock(&inbox.mu);
  EXPECT_EQ(inbox.deliveries[0].body, "3");
  for (const auto& d : inbox.deliveries) consumer.Ack(d);
}

TEST(AmqpSessionTest, PrefetchBoundsUnackedDeliveries) {
  SessionOptions options = Options(OneQueue("t.prefetch", QueueType::kClassic));
  options.prefetch = 3;
  Session producer(Options(OneQueue("t.prefetch", QueueType::kClassic)));
  producer.Start();
  ASSERT_TRUE(WaitFor([&] { return producer.IsUp(); }));
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(
        producer.PublishAndWait(To("t.prefetch", std::to_string(i))).ok());
  }
  Inbox inbox;
  Session consumer(options);
  consumer.AddConsumer("t.prefetch", inbox.Handler());
  consumer.Start();
  ASSERT_TRUE(WaitFor([&] { return inbox.size() == 3; }));
  // Give the broker a chance to overshoot; it must not.
  EXPECT_FALSE(
      WaitFor([&] { return inbox.size() > 3; }, absl::Milliseconds(300)));
  {
    absl::MutexLock lock(&inbox.mu);
    consumer.Ack(inbox.deliveries[0]);
  }
  ASSERT_TRUE(WaitFor([&] { return inbox.size() == 4; }));
}

// Records what the blocked handler says.
struct BlockedLog {
  absl::Mutex mu;
  std::vector<std::pair<bool, std::string>> events;
  Session::BlockedHandler Handler() {
    return [this](bool blocked, const std::string& reason) {
      absl::MutexLock lock(&mu);
      events.emplace_back(blocked, reason);
    };
  }
  std::vector<std::pair<bool, std::string>> Get() {
    absl::MutexLock lock(&mu);
    return events;
  }
};

// In a resource alarm the broker stops reading a connection at its first
// publish and says so (connection.blocked). The session then holds further
// publishes instead of writing them to a socket nobody reads, and sends them
// in order when the alarm lifts.
TEST(AmqpSessionTest, PublishesWaitWhileTheBrokerBlocksAndGoOutInOrder) {
  SessionOptions options = Options(OneQueue("t.alarm", QueueType::kClassic));
  Inbox inbox;
  BlockedLog log;
  Session session(options);
  session.AddConsumer("t.alarm", inbox.Handler());
  session.SetBlockedHandler(log.Handler());
  session.Start();
  ASSERT_TRUE(WaitFor([&] { return session.IsUp(); }));

  absl::Mutex mu;
  std::vector<std::pair<int, absl::Status>> outcomes;
  {
    testing::ScopedMemoryAlarm alarm;
    auto publish = [&](int n) {
      session.Publish(To("t.alarm", std::to_string(n)), [&, n](absl::Status s) {
        absl::MutexLock lock(&mu);
        outcomes.emplace_back(n, std::move(s));
      });
    };
    publish(0);  // the broker blocks the connection at this one
    ASSERT_TRUE(WaitFor([&] { return !session.BlockedReason().empty(); }));
    EXPECT_NE(session.BlockedReason().find("memory"), std::string::npos)
        << session.BlockedReason();
    publish(1);
    publish(2);
    EXPECT_FALSE(WaitFor(
        [&] {
          absl::MutexLock lock(&mu);
          return !outcomes.empty();
        },
        absl::Milliseconds(300)));
    EXPECT_EQ(inbox.size(), 0u);
  }
  ASSERT_TRUE(WaitFor([&] {
    absl::MutexLock lock(&mu);
    return outcomes.size() == 3;
  }));
  {
    absl::MutexLock lock(&mu);
    for (int n = 0; n < 3; ++n) {
      EXPECT_EQ(outcomes[n].first, n);
      EXPECT_TRUE(outcomes[n].second.ok()) << outcomes[n].second;
    }
  }
  ASSERT_TRUE(WaitFor([&] { return inbox.size() == 3; }));
  {
    absl::MutexLock lock(&inbox.mu);
    for (int n = 0; n < 3; ++n)
      EXPECT_EQ(inbox.deliveries[n].body, std::to_string(n));
  }
  EXPECT_TRUE(session.BlockedReason().empty());
  auto events = log.Get();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_TRUE(events[0].first);
  EXPECT_NE(events[0].second.find("memory"), std::string::npos);
  EXPECT_FALSE(events[1].first);
}

// Shutdown does not wait for a block to lift: publishes not confirmed (the
// one the broker holds, the one held here) fail at once.
TEST(AmqpSessionTest, ShutdownWhileBlockedFailsHeldPublishes) {
  Session session(Options(OneQueue("t.alarm.stop")));
  session.Start();
  ASSERT_TRUE(WaitFor([&] { return session.IsUp(); }));
  testing::ScopedMemoryAlarm alarm;
  absl::Mutex mu;
  std::vector<absl::Status> outcomes;
  auto record = [&](absl::Status s) {
    absl::MutexLock lock(&mu);
    outcomes.push_back(std::move(s));
  };
  session.Publish(To("t.alarm.stop", "first"), record);
  ASSERT_TRUE(WaitFor([&] { return !session.BlockedReason().empty(); }));
  session.Publish(To("t.alarm.stop", "held"), record);
  const absl::Time start = absl::Now();
  session.Shutdown();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  absl::MutexLock lock(&mu);
  ASSERT_EQ(outcomes.size(), 2u);
  for (const absl::Status& s : outcomes)
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_NE(outcomes[0].message().find("blocked"), absl::string_view::npos)
      << outcomes[0];
}

// Options for a session on `queue` that reaches the test broker through
// `proxy`.
SessionOptions ThroughProxy(const testing::TcpProxy& proxy,
                            const std::string& queue) {
  SessionOptions options = Options(OneQueue(queue));
  options.brokers = *ParseBrokerUrls(
      absl::StrCat("amqp://guest:guest@127.0.0.1:", proxy.port(), "/"));
  return options;
}

// A broker that accepts the connection and never answers (hung from the
// start): Shutdown() does not wait out the handshake's io_timeout (60 s
// here; before, it took all of it).
void ExpectPromptShutdownWithASilentBroker(absl::string_view scheme_and_host) {
  auto silent = testing::TcpProxy::Start(0);
  ASSERT_TRUE(silent.ok()) << silent.status();
  SessionOptions options = Options(OneQueue("t.silent"));
  options.brokers = *ParseBrokerUrls(
      absl::StrCat(scheme_and_host, ":", (*silent)->port(), "/"));
  options.io_timeout = absl::Seconds(60);
  Session session(options);
  session.Start();
  ASSERT_TRUE(WaitFor([&] { return (*silent)->accepted() > 0; }));
  const absl::Time start = absl::Now();
  session.Shutdown();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_FALSE(session.IsUp());
}

TEST(AmqpSessionTest, ShutdownDoesNotWaitForABrokerThatNeverAnswers) {
  ExpectPromptShutdownWithASilentBroker("amqp://guest:guest@127.0.0.1");
}

// Over TLS the wait is the handshake's first read (the server's hello),
// inside rabbitmq-c, before the socket is handed back to the session.
TEST(AmqpSessionTest, ShutdownDoesNotWaitForATlsHandshakeThatNeverAnswers) {
  ExpectPromptShutdownWithASilentBroker("amqps://guest:guest@localhost");
}

// A broker that stops responding while the session is up: Shutdown() gives
// the close handshake shutdown_grace, then drops the connection (before, it
// waited out io_timeout per call); the unconfirmed publish fails.
TEST(AmqpSessionTest, ShutdownDropsAConnectionWhoseBrokerStoppedResponding) {
  auto proxy = testing::TcpProxy::Start(BrokerEnvironment::Node().amqp_port());
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  SessionOptions options = ThroughProxy(**proxy, "t.frozen");
  options.io_timeout = absl::Seconds(60);
  options.shutdown_grace = absl::Milliseconds(500);
  Session session(options);
  session.Start();
  ASSERT_TRUE(WaitFor([&] { return session.IsUp(); }));
  ASSERT_TRUE(session.PublishAndWait(To("t.frozen", "before")).ok());
  testing::ExpectShutdownDropsAFrozenConnection(
      session, **proxy, To("t.frozen", "never confirmed"));
}

// A publish still unconfirmed when the connection is lost fails then, not
// after the wait before the next connection attempt.
TEST(AmqpSessionTest, UnconfirmedPublishFailsAsSoonAsTheConnectionIsLost) {
  auto proxy = testing::TcpProxy::Start(BrokerEnvironment::Node().amqp_port());
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  SessionOptions options = ThroughProxy(**proxy, "t.lost");
  options.reconnect_min = absl::Seconds(20);  // waits 10-20 s to reconnect
  Session session(options);
  session.Start();
  ASSERT_TRUE(WaitFor([&] { return session.IsUp(); }));
  (*proxy)->Freeze();
  absl::Notification failed;
  absl::Status unconfirmed;
  session.Publish(To("t.lost", "never confirmed"), [&](absl::Status s) {
    unconfirmed = std::move(s);
    failed.Notify();
  });
  const absl::Time lost = absl::Now();
  proxy->reset();  // closes the connection
  ASSERT_TRUE(failed.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_LT(absl::Now() - lost, absl::Seconds(5));
  EXPECT_EQ(unconfirmed.code(), absl::StatusCode::kUnavailable) << unconfirmed;
}

// Shutdown() while the session waits to reconnect returns at once. The
// wake-up Shutdown() sends could be swallowed: when a command's wake-up was
// read in the same turn as the connection failed, the next wait ignored
// every later one and Shutdown() slept it out (10-20 s here). Timing decides
// whether a round meets that turn, hence the rounds, each with a publish
// racing the lost connection.
TEST(AmqpSessionTest, ShutdownWhileWaitingToReconnectIsPrompt) {
  constexpr int kRounds = 20;
  int slow = 0;
  for (int round = 0; round < kRounds; ++round) {
    auto proxy =
        testing::TcpProxy::Start(BrokerEnvironment::Node().amqp_port());
    ASSERT_TRUE(proxy.ok()) << proxy.status();
    SessionOptions options = ThroughProxy(**proxy, "t.lost");
    options.reconnect_min = absl::Seconds(20);  // waits 10-20 s
    Session session(options);
    session.Start();
    ASSERT_TRUE(WaitFor([&] { return session.IsUp(); }));
    absl::Notification done;
    session.Publish(To("t.lost", "racing the loss"),
                    [&](absl::Status) { done.Notify(); });
    proxy->reset();  // closes the connection
    ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
    ASSERT_TRUE(WaitFor([&] { return !session.IsUp(); }));
    const absl::Time start = absl::Now();
    session.Shutdown();
    slow += absl::Now() - start > absl::Seconds(2);
  }
  EXPECT_EQ(slow, 0) << "of " << kRounds << " rounds";
}

// Every publish completes exactly once, also when its write fails because
// the connection was reset under it. Before, the publish whose write failed
// ran its completion twice (once for itself, once with the batch it was in):
// a gateway call then finished twice.
TEST(AmqpSessionTest, PublishesRacingAResetConnectionCompleteOnce) {
  constexpr int kRounds = 40;  // timing decides which rounds meet the race
  constexpr int kBurst = 64;
  for (int round = 0; round < kRounds; ++round) {
    auto proxy =
        testing::TcpProxy::Start(BrokerEnvironment::Node().amqp_port());
    ASSERT_TRUE(proxy.ok()) << proxy.status();
    SessionOptions options = ThroughProxy(**proxy, "t.reset");
    Session session(options);
    session.Start();
    ASSERT_TRUE(WaitFor([&] { return session.IsUp(); }));
    std::vector<std::atomic<int>> calls(kBurst + 1);
    // Left unread in the frozen proxy, it makes the proxy's close a reset.
    (*proxy)->Freeze();
    session.Publish(To("t.reset", "unread"), [&](absl::Status) { ++calls[0]; });
    ASSERT_TRUE(WaitFor([&] { return (*proxy)->accepted() > 0; }));
    proxy->reset();
    for (int i = 1; i <= kBurst; ++i) {
      session.Publish(To("t.reset", "racing the reset"),
                      [&, i](absl::Status) { ++calls[i]; });
    }
    ASSERT_TRUE(WaitFor([&] {
      for (const auto& c : calls)
        if (c.load() == 0) return false;
      return true;
    }));
    session.Shutdown();
    for (int i = 0; i <= kBurst; ++i)
      EXPECT_EQ(calls[i].load(), 1) << "publish " << i << ", round " << round;
  }
}

// Declare()'s contract when the connection is lost under the declaration:
// it completes once, as UNAVAILABLE, and the topology is declared at the
// next connect all the same (the worker and the scheduler rely on that for
// the topic queues they add). The declaration waits for its reply in a
// frozen proxy whose close then resets the connection; timing decides
// whether it is sent first or failed unsent, hence the rounds. The session
// then fails over to the broker itself.
TEST(AmqpSessionTest, DeclarationOnALostConnectionCompletesOnceAndIsRedone) {
  constexpr int kRounds = 10;
  for (int round = 0; round < kRounds; ++round) {
    auto proxy =
        testing::TcpProxy::Start(BrokerEnvironment::Node().amqp_port());
    ASSERT_TRUE(proxy.ok()) << proxy.status();
    SessionOptions options = ThroughProxy(**proxy, "t.declare.base");
    options.brokers.push_back(Options().brokers[0]);
    Session session(options);
    session.Start();
    ASSERT_TRUE(WaitFor([&] { return session.IsUp(); }));
    const uint64_t connects = session.connects();
    const std::string queue = absl::StrCat("t.declare.lost.", round);
    absl::Mutex mu;
    std::vector<absl::Status> outcomes;
    (*proxy)->Freeze();
    session.Declare(OneQueue(queue), [&](absl::Status s) {
      absl::MutexLock lock(&mu);
      outcomes.push_back(std::move(s));
    });
    proxy->reset();
    ASSERT_TRUE(WaitFor([&] {
      absl::MutexLock lock(&mu);
      return !outcomes.empty();
    }));
    ASSERT_TRUE(WaitFor(
        [&] { return session.connects() > connects && session.IsUp(); }));
    // Routable only once the queue and its binding exist.
    absl::Status routed = session.PublishAndWait(To(queue, "declared"));
    EXPECT_TRUE(routed.ok()) << routed << ", round " << round;
    session.Shutdown();
    absl::MutexLock lock(&mu);
    ASSERT_EQ(outcomes.size(), 1u) << "round " << round;
    EXPECT_EQ(outcomes[0].code(), absl::StatusCode::kUnavailable)
        << outcomes[0] << ", round " << round;
  }
}

// A connection lost while blocked fails what it held (the caller hands its
// input back, as for any unconfirmed publish) and the next connection starts
// unblocked.
TEST(AmqpSessionTest, ConnectionLostWhileBlockedFailsHeldPublishes) {
  Session session(Options(OneQueue("t.alarm.lost")));
  session.Start();
  ASSERT_TRUE(WaitFor([&] { return session.IsUp(); }));
  const uint64_t connects = session.connects();
  absl::Mutex mu;
  std::vector<absl::Status> outcomes;
  auto record = [&](absl::Status s) {
    absl::MutexLock lock(&mu);
    outcomes.push_back(std::move(s));
  };
  {
    testing::ScopedMemoryAlarm alarm;
    session.Publish(To("t.alarm.lost", "first"), record);
    ASSERT_TRUE(WaitFor([&] { return !session.BlockedReason().empty(); }));
    session.Publish(To("t.alarm.lost", "held"), record);
    ASSERT_TRUE(BrokerEnvironment::Node()
                    .Ctl({"close_all_connections", "test: connection lost"})
                    .ok());
    ASSERT_TRUE(WaitFor([&] {
      absl::MutexLock lock(&mu);
      return outcomes.size() == 2;
    }));
    ASSERT_TRUE(WaitFor([&] { return session.connects() > connects; }));
    EXPECT_TRUE(session.BlockedReason().empty());
  }
  absl::MutexLock lock(&mu);
  for (const absl::Status& s : outcomes)
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_NE(outcomes[0].message().find("not sent"), absl::string_view::npos)
      << outcomes[0];
}

// A service runtime's broker gauge `name`; -1 when not registered.
double BrokerGauge(service::Runtime& runtime, const std::string& name) {
  for (const auto& family : runtime.registry().Collect()) {
    if (family.name == name) return family.metric[0].gauge.value;
  }
  return -1.0;
}

// What EbatsBrokerBlocked alerts on: a service's runtime wires the session
// so that ebats_broker_blocked follows the broker's alarm.
TEST(AmqpSessionTest, RuntimeGaugeFollowsTheBrokersAlarm) {
  auto runtime = service::Runtime::Create("test", "127.0.0.1:0");
  ASSERT_TRUE(runtime.ok()) << runtime.status();
  auto blocked = [&] { return BrokerGauge(**runtime, "ebats_broker_blocked"); };
  Session session(Options(OneQueue("t.alarm.gauge")));
  (*runtime)->TrackBroker(session);
  session.Start();
  ASSERT_TRUE(WaitFor([&] { return session.IsUp(); }));
  EXPECT_EQ(blocked(), 0);
  {
    testing::ScopedMemoryAlarm alarm;
    session.Publish(To("t.alarm.gauge", "x"), [](absl::Status) {});
    EXPECT_TRUE(WaitFor([&] { return blocked() == 1; }));
  }
  EXPECT_TRUE(WaitFor([&] { return blocked() == 0; }));
}

// The scheduler has two connections (its due stage has its own): the service
// is up only while both are.
TEST(AmqpSessionTest, RuntimeIsUpOnlyWhileEveryTrackedSessionIs) {
  auto runtime = service::Runtime::Create("test", "127.0.0.1:0");
  ASSERT_TRUE(runtime.ok()) << runtime.status();
  auto up = [&] { return BrokerGauge(**runtime, "ebats_broker_up"); };
  Session first(Options(OneQueue("t.runtime.first")));
  Session second(Options(OneQueue("t.runtime.second")));
  (*runtime)->TrackBroker(first);
  (*runtime)->TrackBroker(second);
  first.Start();
  ASSERT_TRUE(WaitFor([&] { return first.IsUp(); }));
  EXPECT_EQ(up(), 0) << "up with one of two connections";
  second.Start();
  ASSERT_TRUE(WaitFor([&] { return second.IsUp(); }));
  EXPECT_TRUE(WaitFor([&] { return up() == 1; }));
}

}  // namespace
}  // namespace ebats::amqp
