// Security end to end, with certificates the test makes itself: amqps to a
// RabbitMQ node with a TLS listener, TLS on every gRPC endpoint with client
// certificates required, and bearer tokens on the gateway and scheduler.
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <fstream>
#include <map>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "libs/amqp/session.h"
#include "libs/common/openssl_init.h"
#include "libs/domain/ids.h"
#include "libs/rpc/health_client.h"
#include "tests/e2e/ebats_stack.h"
#include "tests/harness/broker_environment.h"
#include "tests/harness/certs.h"
#include "tests/harness/hung_broker.h"
#include "tests/harness/tcp_proxy.h"
#include "tests/harness/wait.h"

namespace ebats::testing {
namespace {

constexpr char kToken[] = "s3cret-token-for-tests";

TestCerts& Certs() {
  static TestCerts certs;
  return certs;
}

rpc::ClientTls FullClientTls() {
  return {Certs().ca_cert, Certs().client_cert, Certs().client_key};
}

TEST(SecurityTest, AmqpsConnectsOnlyToABrokerItCanVerify) {
  amqp::SessionOptions options;
  options.brokers = *amqp::ParseBrokerUrls(BrokerEnvironment::Node().tls_url());
  options.tls.ca_file = Certs().ca_cert;
  options.tls.cert_file = Certs().client_cert;
  options.tls.key_file = Certs().client_key;
  options.topology.queues.push_back(
      amqp::DurableQueue("tls.probe", amqp::QueueType::kQuorum));
  amqp::Session verified(options);
  verified.Start();
  ASSERT_TRUE(WaitFor([&] { return verified.IsUp(); }));
  amqp::Message message;
  message.routing_key = "tls.probe";
  message.body = "over TLS";
  EXPECT_TRUE(verified.PublishAndWait(message).ok());
  verified.Shutdown();

  options.tls.ca_file = Certs().other_ca_cert;  // cannot verify the broker
  amqp::Session unverified(options);
  unverified.Start();
  absl::SleepFor(absl::Seconds(2));
  EXPECT_FALSE(unverified.IsUp());
  EXPECT_EQ(unverified.PublishAndWait(message).code(),
            absl::StatusCode::kUnavailable);
  unverified.Shutdown();
}

// A TLS connection whose broker stops answering (frozen behind a proxy):
// Shutdown() cuts it after shutdown_grace, as a plain one (see
// amqp_session_test), and the unconfirmed publish fails.
TEST(SecurityTest, ShutdownDropsATlsConnectionWhoseBrokerStoppedResponding) {
  auto proxy = TcpProxy::Start(BrokerEnvironment::Node().tls_port());
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  amqp::SessionOptions options;
  options.brokers = *amqp::ParseBrokerUrls(
      absl::StrCat("amqps://guest:guest@localhost:", (*proxy)->port(), "/"));
  options.tls.ca_file = Certs().ca_cert;
  options.io_timeout = absl::Seconds(60);
  options.shutdown_grace = absl::Milliseconds(500);
  options.topology.queues.push_back(
      amqp::DurableQueue("tls.frozen", amqp::QueueType::kQuorum));
  amqp::Session session(options);
  session.Start();
  ASSERT_TRUE(WaitFor([&] { return session.IsUp(); }));
  amqp::Message message;
  message.routing_key = "tls.frozen";
  message.body = "before";
  ASSERT_TRUE(session.PublishAndWait(message).ok());

  message.body = "never confirmed";
  ExpectShutdownDropsAFrozenConnection(session, **proxy, message);
}

// A handshake that fails (the broker cannot be verified) closes its socket
// inside rabbitmq-c, and the session then waits before it tries again. A
// Shutdown() meanwhile must not shut down the socket that now has the same
// number (anyone's: here the test's own).
TEST(SecurityTest, ShutdownAfterAFailedHandshakeLeavesOtherSocketsAlone) {
  amqp::SessionOptions options;
  options.brokers = *amqp::ParseBrokerUrls(BrokerEnvironment::Node().tls_url());
  options.tls.ca_file = Certs().other_ca_cert;
  options.reconnect_min = absl::Seconds(20);  // waits 10-20 s to try again
  absl::Notification refused;
  amqp::Session session(options);
  session.SetStateHandler([&](bool up, const absl::Status&) {
    if (!up && !refused.HasBeenNotified()) refused.Notify();
  });
  session.Start();
  ASSERT_TRUE(refused.WaitForNotificationWithTimeout(absl::Seconds(30)));
  // The lowest free numbers go first: these take the handshake's.
  std::vector<std::array<int, 2>> pairs(16);
  for (auto& pair : pairs)
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, pair.data()), 0);
  session.Shutdown();
  for (const auto& pair : pairs) {
    char byte = 'x';
    EXPECT_EQ(send(pair[0], &byte, 1, MSG_NOSIGNAL), 1)
        << "fd " << pair[0] << " was shut down";
    EXPECT_EQ(recv(pair[1], &byte, 1, MSG_DONTWAIT), 1)
        << "fd " << pair[1] << " was shut down";
    close(pair[0]);
    close(pair[1]);
  }
}

class SecureStackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stack_ = std::make_unique<EbatsStack>(BrokerEnvironment::Node().tls_url());
    const std::string token_file = stack_->dir() + "/token";
    std::ofstream(token_file) << kToken << "\n";
    stack_->set_common_flags({
        absl::StrCat("--amqp_ca=", Certs().ca_cert),
        absl::StrCat("--amqp_cert=", Certs().client_cert),
        absl::StrCat("--amqp_key=", Certs().client_key),
        absl::StrCat("--tls_cert=", Certs().server_cert),
        absl::StrCat("--tls_key=", Certs().server_key),
        absl::StrCat("--tls_client_ca=", Certs().ca_cert),
        absl::StrCat("--tls_ca=", Certs().ca_cert),
        absl::StrCat("--tls_client_cert=", Certs().client_cert),
        absl::StrCat("--tls_client_key=", Certs().client_key),
        absl::StrCat("--token_file=", token_file),
    });
    stack_->set_client_security(FullClientTls(), kToken);
    absl::Status started = stack_->Start();
    ASSERT_TRUE(started.ok()) << started;
  }
  void TearDown() override { EXPECT_TRUE(stack_->StopAll().ok()); }

  client::Client ClientWith(rpc::ClientTls tls, std::string token) {
    client::ClientOptions options;
    options.gateway_address = stack_->gateway_address();
    options.scheduler_address = stack_->scheduler_address();
    options.tls = std::move(tls);
    options.token = std::move(token);
    options.timeout = absl::Seconds(5);
    return client::Client(options);
  }

  std::unique_ptr<EbatsStack> stack_;
};

TEST_F(SecureStackTest, TasksRunWithTlsEverywhereAndTheRightToken) {
  v1::RegisterTaskRequest registration;
  registration.mutable_registration()->set_event("order_paid");
  registration.mutable_registration()->set_topic("demo");
  registration.mutable_registration()->set_task("virtualShipping");
  ASSERT_TRUE(stack_->client().RegisterTask(registration).ok());
  v1::PublishEventRequest event;
  event.set_event("order_paid");
  event.set_params(R"({"order_id": "1"})");
  auto published = stack_->client().PublishEvent(event);
  ASSERT_TRUE(published.ok()) << published.status();
  const std::string id =
      domain::TaskIdFor(published->event_id(), "demo", "virtualShipping");
  EXPECT_TRUE(WaitFor([&] {
    auto task = stack_->client().GetTask(id);
    return task.ok() && task->state() == v1::TASK_STATE_SUCCEEDED;
  }));
  // The worker registered over TLS with the token.
  EXPECT_TRUE(WaitFor([&] {
    auto workers = stack_->client().ListWorkers();
    return workers.ok() && workers->workers_size() == 1;
  }));
}

TEST_F(SecureStackTest, MissingOrWrongTokenIsUnauthenticatedAndHealthIsOpen) {
  for (const std::string& token : {std::string(), std::string("wrong")}) {
    client::Client client = ClientWith(FullClientTls(), token);
    v1::PublishEventRequest event;
    event.set_event("order_paid");
    auto published = client.PublishEvent(event);
    EXPECT_EQ(published.status().code(), absl::StatusCode::kUnauthenticated)
        << published.status();
    EXPECT_TRUE(absl::StrContains(published.status().message(),
                                  token.empty() ? "missing" : "wrong"))
        << published.status();
    EXPECT_EQ(client.ListRegistrations({}).status().code(),
              absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(client.ListWorkers().status().code(),
              absl::StatusCode::kUnauthenticated);
  }
  // Probes need no token.
  auto serving = rpc::CheckServing(stack_->gateway_address(), absl::Seconds(5),
                                   FullClientTls());
  ASSERT_TRUE(serving.ok()) << serving.status();
  EXPECT_TRUE(*serving);
}

TEST_F(SecureStackTest, PlaintextUnknownCaAndNoClientCertificateAreRefused) {
  for (const rpc::ClientTls& tls :
       {rpc::ClientTls{},  // plaintext
        rpc::ClientTls{Certs().other_ca_cert, Certs().client_cert,
                       Certs().client_key},          // wrong CA
        rpc::ClientTls{Certs().ca_cert, "", ""}}) {  // no cert
    client::Client client = ClientWith(tls, kToken);
    EXPECT_EQ(client.ListRegistrations({}).status().code(),
              absl::StatusCode::kUnavailable)
        << tls.ca_file << " " << tls.cert_file;
  }
}

TEST_F(SecureStackTest, EbatsctlTakesTheCertificatesAndTheToken) {
  const std::string token_file = stack_->dir() + "/token";
  int run = 0;
  // Each run logs to a file of its own, shown when the exit code is not the
  // expected one (a crash at exit prints nothing to the test's output).
  auto ctl = [&](const std::string& command,
                 std::map<std::string, std::string> env, int expected) {
    const std::string log = absl::StrCat(stack_->dir(), "/ctl-", ++run, ".log");
    auto code = RunCommand(
        {EBATS_CTL_BIN, "--gateway", stack_->gateway_address(), "--scheduler",
         stack_->scheduler_address(), "--tls-ca", Certs().ca_cert, "--tls-cert",
         Certs().client_cert, "--tls-key", Certs().client_key, command},
        env, log, absl::Seconds(30));
    ASSERT_TRUE(code.ok()) << code.status();
    EXPECT_EQ(*code, expected) << "ebatsctl " << command << ":\n"
                               << LogTail(log, 40);
  };
  ctl("health", {}, 0);  // health needs no token
  ctl("registrations", {{"EBATS_TOKEN_FILE", token_file}}, 0);
  ctl("registrations", {{"EBATS_TOKEN", kToken}}, 0);
  ctl("registrations", {}, 1);  // UNAUTHENTICATED
}

}  // namespace
}  // namespace ebats::testing

int main(int argc, char** argv) {
  ebats::InitOpenSslWithoutExitCleanup();  // as in the services
  ::testing::InitGoogleTest(&argc, argv);
  ebats::testing::KillChildrenOnTermination();
  ebats::testing::TempDir certs_dir("ebats-certs-");
  auto certs = ebats::testing::MakeTestCerts(certs_dir.path());
  if (!certs.ok()) {
    std::fprintf(stderr, "%s\n", certs.status().ToString().c_str());
    return 1;
  }
  ebats::testing::Certs() = *certs;
  ebats::testing::BrokerEnvironment::EnableTls(
      certs->ca_cert, certs->server_cert, certs->server_key);
  ::testing::AddGlobalTestEnvironment(new ebats::testing::BrokerEnvironment);
  return RUN_ALL_TESTS();
}
