// The gateway's gRPC API through the real generated stub, on an in-process
// server (port 0) publishing to a real RabbitMQ.
#include <thread>

#include "absl/strings/str_cat.h"
#include "ebats/v1/gateway.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "libs/codec/message_codec.h"
#include "libs/domain/broker_names.h"
#include "libs/domain/ids.h"
#include "libs/rpc/server.h"
#include "services/gateway/gateway_service.h"
#include "tests/integration/queue_probe.h"

namespace ebats::gateway {
namespace {

using ::ebats::testing::QueueProbe;
using ::ebats::testing::TestSessionOptions;

class GatewayApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StartGateway(
        TestSessionOptions(amqp::GatewayTopology(amqp::QueueType::kQuorum)));
  }

  void StartGateway(amqp::SessionOptions options) {
    session_ = std::make_unique<amqp::Session>(std::move(options));
    session_->Start();
    service_ = std::make_unique<GatewayService>(*session_, GatewayOptions{},
                                                registry_);
    rpc::ServerOptions server_options;
    server_options.address = "127.0.0.1:0";
    server_ = *rpc::RunningServer::Start(server_options, {service_.get()});
    stub_ = v1::EventGateway::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                            grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    server_->Shutdown(absl::Seconds(1));
    session_->Shutdown();
  }

  // Consumes what the gateway publishes for the scheduler.
  static QueueProbe SchedulerInputProbe() {
    return QueueProbe({domain::kSchedulerQueue},
                      amqp::GatewayTopology(amqp::QueueType::kQuorum));
  }

  grpc::Status Publish(const v1::PublishEventRequest& request,
                       v1::PublishEventResponse* response) {
    grpc::ClientContext context;
    return stub_->PublishEvent(&context, request, response);
  }

  prometheus::Registry registry_;
  std::unique_ptr<amqp::Session> session_;
  std::unique_ptr<GatewayService> service_;
  std::unique_ptr<rpc::RunningServer> server_;
  std::unique_ptr<v1::EventGateway::Stub> stub_;
};

TEST_F(GatewayApiTest, PublishedEventReachesTheSchedulerQueueUnchanged) {
  QueueProbe probe = SchedulerInputProbe();
  ASSERT_TRUE(probe.WaitUp());
  ASSERT_TRUE(testing::WaitFor([&] { return session_->IsUp(); }));
  v1::PublishEventRequest request;
  request.set_event("order_paid");
  request.set_params(
      R"({"order_id":  "FB138020392193312", "big": 123456789012345678901})");
  v1::PublishEventResponse response;
  grpc::Status status = Publish(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_GT(response.publish_time_ms(), 0);
  // Time-ordered: the publish time as 12 hex digits leads the id.
  EXPECT_EQ(response.event_id().size(), 33u);
  EXPECT_EQ(response.event_id().substr(0, 13),
            absl::StrCat(
                absl::Hex(response.publish_time_ms(), absl::kZeroPad12), "-"));

  auto got = probe.WaitMatching(
      [&](const amqp::Delivery& d) {
        return d.message_id == response.event_id();
      },
      1);
  ASSERT_EQ(got.size(), 1u);
  auto input = codec::DecodeSchedulerInput(got[0]);
  ASSERT_TRUE(input.ok()) << input.status();
  EXPECT_EQ(input->event().params(), request.params());
  EXPECT_EQ(input->event().event(), "order_paid");
  EXPECT_EQ(input->event().publish_time_ms(), response.publish_time_ms());
  EXPECT_EQ(got[0].routing_key, "order_paid");
}

TEST_F(GatewayApiTest, IdempotencyKeyGivesTheSameEventId) {
  ASSERT_TRUE(testing::WaitFor([&] { return session_->IsUp(); }));
  v1::PublishEventRequest request;
  request.set_event("order_paid");
  request.set_idempotency_key("key-1");
  v1::PublishEventResponse first, second;
  ASSERT_TRUE(Publish(request, &first).ok());
  ASSERT_TRUE(Publish(request, &second).ok());
  EXPECT_EQ(first.event_id(), second.event_id());
  EXPECT_EQ(first.event_id(), domain::EventIdFromKey("key-1"));
}

TEST_F(GatewayApiTest, BadInputIsInvalidArgumentAndPublishesNothing) {
  ASSERT_TRUE(testing::WaitFor([&] { return session_->IsUp(); }));
  struct Case {
    const char* event;
    const char* params;
    const char* key;
  };
  const std::string long_name(129, 'e');
  const std::string long_key(65, 'k');
  for (const Case& c : std::vector<Case>{{"", "{}", ""},
                                         {long_name.c_str(), "{}", ""},
                                         {"order paid", "{}", ""},
                                         {"order_paid", "[1]", ""},
                                         {"order_paid", "{\"a\": }", ""},
                                         {"order_paid", "{}", long_key.c_str()},
                                         {"order_paid", "{}", "bad\nkey"}}) {
    v1::PublishEventRequest request;
    request.set_event(c.event);
    request.set_params(c.params);
    request.set_idempotency_key(c.key);
    v1::PublishEventResponse response;
    grpc::Status status = Publish(request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << c.event << " " << c.params;
    EXPECT_FALSE(status.error_message().empty());
    EXPECT_TRUE(response.event_id().empty());
  }
  double rejected = 0;
  for (const auto& family : registry_.Collect()) {
    if (family.name != "ebats_gateway_rejected_total") continue;
    for (const auto& m : family.metric) rejected += m.counter.value;
  }
  EXPECT_EQ(rejected, 7);
}

TEST_F(GatewayApiTest, CreateTaskValidatesAndPublishesARequest) {
  QueueProbe probe = SchedulerInputProbe();
  ASSERT_TRUE(probe.WaitUp());
  ASSERT_TRUE(testing::WaitFor([&] { return session_->IsUp(); }));
  v1::CreateTaskRequest bad;
  bad.set_topic("de.mo");
  bad.set_task("t");
  v1::CreateTaskResponse response;
  {
    grpc::ClientContext context;
    EXPECT_EQ(stub_->CreateTask(&context, bad, &response).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  v1::CreateTaskRequest good;
  good.set_topic("demo");
  good.set_task("orderAsync");
  good.set_delay_ms(1500);
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->CreateTask(&context, good, &response).ok());
  }
  auto got = probe.WaitMatching(
      [&](const amqp::Delivery& d) {
        return d.message_id == response.task_id();
      },
      1);
  ASSERT_EQ(got.size(), 1u);
  auto input = codec::DecodeSchedulerInput(got[0]);
  ASSERT_TRUE(input.ok());
  ASSERT_TRUE(input->has_task_request());
  EXPECT_EQ(input->task_request().params(), "{}");
  EXPECT_EQ(input->task_request().due_time_ms() -
                input->task_request().publish_time_ms(),
            1500);
  // A task request is not an event: nothing counts as a published event.
  for (const auto& family : registry_.Collect()) {
    if (family.name == "ebats_events_published_total") {
      EXPECT_TRUE(family.metric.empty());
    }
  }
}

TEST_F(GatewayApiTest, BatchIsAllOrNothingOnValidation) {
  QueueProbe probe = SchedulerInputProbe();
  ASSERT_TRUE(probe.WaitUp());
  ASSERT_TRUE(testing::WaitFor([&] { return session_->IsUp(); }));
  v1::PublishEventsRequest batch;
  for (int i = 0; i < 50; ++i) {
    auto* e = batch.add_events();
    e->set_event(i % 5 == 4 ? "order_created" : "order_paid");
    e->set_params(absl::StrCat(R"({"i": )", i, "}"));
  }
  v1::PublishEventsResponse response;
  {
    grpc::ClientContext context;
    grpc::Status status = stub_->PublishEvents(&context, batch, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  ASSERT_EQ(response.results_size(), 50);
  // One broker message per event name, events in call order, ids as
  // answered.
  auto got = probe.WaitMatching(
      [&](const amqp::Delivery& d) {
        return d.type == domain::kTypeEventBatch;
      },
      2);
  ASSERT_EQ(got.size(), 2u);
  for (const amqp::Delivery& delivery : got) {
    auto input = codec::DecodeSchedulerInput(delivery);
    ASSERT_TRUE(input.ok()) << input.status();
    const bool paid = delivery.routing_key == "order_paid";
    const v1::EventBatch& events = input->event_batch();
    ASSERT_EQ(events.events_size(), paid ? 40 : 10);
    for (int k = 0; k < events.events_size(); ++k) {
      const int i = paid ? k + k / 4 : 5 * k + 4;
      EXPECT_EQ(events.events(k).event(), delivery.routing_key);
      EXPECT_EQ(events.events(k).params(), absl::StrCat(R"({"i": )", i, "}"));
      EXPECT_EQ(events.events(k).event_id(), response.results(i).event_id());
    }
  }

  batch.mutable_events(7)->set_params("[]");
  v1::PublishEventsResponse refused;
  grpc::ClientContext context;
  grpc::Status status = stub_->PublishEvents(&context, batch, &refused);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("events[7]"), std::string::npos)
      << status.error_message();
  EXPECT_EQ(refused.results_size(), 0);
}

TEST_F(GatewayApiTest, BrokerDownIsUnavailableNeverOk) {
  TearDown();
  amqp::SessionOptions down =
      TestSessionOptions(amqp::GatewayTopology(amqp::QueueType::kQuorum));
  down.brokers = *amqp::ParseBrokerUrls("amqp://guest:guest@127.0.0.1:1/");
  StartGateway(down);
  v1::PublishEventRequest request;
  request.set_event("order_paid");
  v1::PublishEventResponse response;
  grpc::Status status = Publish(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << status.error_message();
}

// In a resource alarm the broker blocks the gateway's connection at its
// first publish: that call waits and succeeds once the alarm lifts; calls
// after it fail at once with the broker's reason instead of hanging.
TEST_F(GatewayApiTest, WhileTheBrokerBlocksPublishingCallsFailFast) {
  QueueProbe probe = SchedulerInputProbe();
  ASSERT_TRUE(probe.WaitUp());
  ASSERT_TRUE(testing::WaitFor([&] { return session_->IsUp(); }));
  v1::PublishEventRequest request;
  request.set_event("order_paid");
  v1::PublishEventResponse first_response;
  grpc::Status first_status;
  std::thread first;
  {
    testing::ScopedMemoryAlarm alarm;
    first =
        std::thread([&] { first_status = Publish(request, &first_response); });
    ASSERT_TRUE(
        testing::WaitFor([&] { return !session_->BlockedReason().empty(); }));
    v1::PublishEventResponse response;
    grpc::Status status = Publish(request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
        << status.error_message();
    EXPECT_NE(status.error_message().find("blocking publishes (low on memory)"),
              std::string::npos)
        << status.error_message();
    v1::CreateTaskRequest task;
    task.set_topic("demo");
    task.set_task("closeOrder");
    v1::CreateTaskResponse created;
    grpc::ClientContext context;
    EXPECT_EQ(stub_->CreateTask(&context, task, &created).error_code(),
              grpc::StatusCode::UNAVAILABLE);
  }
  first.join();
  ASSERT_TRUE(first_status.ok()) << first_status.error_message();
  EXPECT_EQ(probe
                .WaitMatching(
                    [&](const amqp::Delivery& d) {
                      return d.message_id == first_response.event_id();
                    },
                    1)
                .size(),
            1u);
}

TEST_F(GatewayApiTest, OversizedAndNonUtf8InputIsRefused) {
  ASSERT_TRUE(testing::WaitFor([&] { return session_->IsUp(); }));
  v1::PublishEventRequest request;
  request.set_event("order_paid");
  v1::PublishEventResponse response;

  // Over the params limit (256 KiB by default) but within the gRPC limit:
  // the gateway refuses it and says why.
  request.set_params(
      absl::StrCat(R"({"pad": ")", std::string(300 * 1024, 'x'), R"("})"));
  grpc::Status status = Publish(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("bytes"), std::string::npos)
      << status.error_message();

  // Over the server's maximum message size: gRPC itself refuses it.
  request.set_params(
      absl::StrCat(R"({"pad": ")", std::string(5 * 1024 * 1024, 'x'), R"("})"));
  status = Publish(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << status.error_message();

  // Invalid UTF-8 in a proto3 string field fails to parse on the server
  // before any ebats code runs; gRPC 1.51's C++ server answers such a
  // request with UNIMPLEMENTED (documented in the README).
  request.set_params("{\"name\": \"\xc3\x28\"}");
  status = Publish(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED)
      << status.error_message();
  std::cerr << "invalid UTF-8: code " << status.error_code() << " \""
            << status.error_message() << "\"\n";
  EXPECT_TRUE(response.event_id().empty());
}

// gRPC would set SO_REUSEPORT and let a second server share the port,
// silently taking half its connections; ebats refuses instead.
TEST(RunningServerTest, ABusyPortIsRefused) {
  rpc::ServerOptions options;
  options.address = "127.0.0.1:0";
  auto first = rpc::RunningServer::Start(options, {});
  ASSERT_TRUE(first.ok()) << first.status();
  options.address = absl::StrCat("127.0.0.1:", (*first)->port());
  auto second = rpc::RunningServer::Start(options, {});
  EXPECT_FALSE(second.ok());
}

}  // namespace
}  // namespace ebats::gateway
