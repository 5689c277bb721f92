#include "libs/codec/message_codec.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "libs/domain/broker_names.h"

namespace ebats::codec {
namespace {

v1::EventMessage Event(const std::string& name, int i,
                       size_t params_bytes = 0) {
  v1::EventMessage e;
  e.set_event_id(absl::StrCat("e", i));
  e.set_event(name);
  e.set_params(params_bytes == 0
                   ? absl::StrCat(R"({"i":)", i, "}")
                   : absl::StrCat(R"({"pad":")", std::string(params_bytes, 'x'),
                                  R"("})"));
  e.set_publish_time_ms(1000);
  return e;
}

amqp::Delivery AsDelivery(const amqp::Message& m) {
  amqp::Delivery d;
  d.exchange = m.exchange;
  d.routing_key = m.routing_key;
  d.body = m.body;
  d.type = m.type;
  d.headers = m.headers;
  return d;
}

std::vector<std::string> IdsOf(const amqp::Message& m) {
  auto input = DecodeSchedulerInput(AsDelivery(m));
  EXPECT_TRUE(input.ok()) << input.status();
  std::vector<std::string> ids;
  if (!input.ok()) return ids;
  for (const v1::EventMessage* e : EventsOf(*input))
    ids.push_back(e->event_id());
  return ids;
}

TEST(EncodeEventsTest, OneMessagePerEventNameInCallOrder) {
  std::vector<v1::EventMessage> events = {Event("b", 0), Event("a", 1),
                                          Event("b", 2), Event("b", 3),
                                          Event("a", 4)};
  std::vector<amqp::BatchPart> out = EncodeEvents(events);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].message.routing_key, "b");
  EXPECT_EQ(out[0].message.exchange, domain::kEventsExchange);
  EXPECT_EQ(out[0].message.type, domain::kTypeEventBatch);
  EXPECT_EQ(out[0].items, (std::vector<int>{0, 2, 3}));
  EXPECT_EQ(IdsOf(out[0].message),
            (std::vector<std::string>{"e0", "e2", "e3"}));
  EXPECT_EQ(out[1].message.routing_key, "a");
  EXPECT_EQ(IdsOf(out[1].message), (std::vector<std::string>{"e1", "e4"}));
  EXPECT_EQ(out[1].items, (std::vector<int>{1, 4}));
}

TEST(EncodeEventsTest, ALoneEventTravelsInItsSingleForm) {
  std::vector<amqp::BatchPart> out =
      EncodeEvents({Event("a", 0), Event("b", 1)});
  ASSERT_EQ(out.size(), 2u);
  for (const amqp::BatchPart& e : out) {
    EXPECT_EQ(e.items.size(), 1u);
    EXPECT_EQ(e.message.type, domain::kTypeEvent);
    auto input = DecodeSchedulerInput(AsDelivery(e.message));
    ASSERT_TRUE(input.ok());
    EXPECT_TRUE(input->has_event());
  }
}

TEST(EncodeEventsTest, SplitsAtTheBodyLimit) {
  std::vector<v1::EventMessage> events;
  for (int i = 0; i < 10; ++i) events.push_back(Event("a", i, 300));
  std::vector<amqp::BatchPart> out = EncodeEvents(events, 1000);
  int total = 0;
  std::vector<std::string> ids;
  for (const amqp::BatchPart& e : out) {
    EXPECT_LE(e.message.body.size(), 1000u);
    total += static_cast<int>(e.items.size());
    for (std::string& id : IdsOf(e.message)) ids.push_back(std::move(id));
  }
  EXPECT_EQ(total, 10);
  EXPECT_GT(out.size(), 3u);
  ASSERT_EQ(ids.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(ids[i], absl::StrCat("e", i));
  // An event over the limit on its own still goes, alone.
  std::vector<amqp::BatchPart> big = EncodeEvents({Event("a", 0, 2000)}, 1000);
  ASSERT_EQ(big.size(), 1u);
  EXPECT_EQ(big[0].items, std::vector<int>{0});
}

TEST(EncodeTaskRequestsTest, OneMessagePerTopic) {
  std::vector<v1::TaskRequest> requests;
  for (int i = 0; i < 5; ++i) {
    v1::TaskRequest r;
    r.set_task_id(absl::StrCat("t", i));
    r.set_topic(i == 3 ? "other" : "demo");
    r.set_task("closeOrder");
    r.set_params("{}");
    requests.push_back(r);
  }
  std::vector<amqp::BatchPart> out = EncodeTaskRequests(requests);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].message.type, domain::kTypeTaskRequestBatch);
  EXPECT_EQ(out[0].message.routing_key, domain::TaskRequestRoutingKey("demo"));
  EXPECT_EQ(out[0].items, (std::vector<int>{0, 1, 2, 4}));
  EXPECT_EQ(out[1].message.type, domain::kTypeTaskRequest);
  EXPECT_EQ(out[1].items, std::vector<int>{3});
  auto input = DecodeSchedulerInput(AsDelivery(out[0].message));
  ASSERT_TRUE(input.ok()) << input.status();
  std::vector<std::string> ids;
  for (const v1::TaskRequest* r : TaskRequestsOf(*input))
    ids.push_back(r->task_id());
  EXPECT_EQ(ids, (std::vector<std::string>{"t0", "t1", "t2", "t4"}));
  EXPECT_TRUE(EventsOf(*input).empty());
}

TEST(DecodeSchedulerInputTest, RefusesAnEmptyOrInvalidBatch) {
  v1::SchedulerInput input;
  input.mutable_event_batch();
  amqp::Delivery d;
  d.body = input.SerializeAsString();
  EXPECT_FALSE(DecodeSchedulerInput(d).ok());
  *input.mutable_event_batch()->add_events() = Event("a", 0);
  *input.mutable_event_batch()->add_events() = Event("bad name!", 1);
  d.body = input.SerializeAsString();
  auto decoded = DecodeSchedulerInput(d);
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
  v1::SchedulerInput requests;
  requests.mutable_task_request_batch();
  d.body = requests.SerializeAsString();
  EXPECT_FALSE(DecodeSchedulerInput(d).ok());
}

TEST(DeliveryOfAttemptTest, AFirstDeliveryIsNotAReRun) {
  v1::TaskMessage task;
  EXPECT_EQ(DeliveryOfAttempt(task), 1);  // the field left unset
  EXPECT_FALSE(IsReRun(task));
  task.set_deliveries(1);
  EXPECT_FALSE(IsReRun(task));
  task.set_deliveries(2);
  EXPECT_EQ(DeliveryOfAttempt(task), 2);
  EXPECT_TRUE(IsReRun(task));
}

}  // namespace
}  // namespace ebats::codec
