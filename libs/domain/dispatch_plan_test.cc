#include "libs/domain/dispatch_plan.h"

#include "gtest/gtest.h"
#include "libs/domain/ids.h"

namespace ebats::domain {
namespace {

v1::EventMessage Event() {
  v1::EventMessage e;
  e.set_event_id("ev1");
  e.set_event("order_created");
  e.set_params(R"({"order_id": "FB138020392193312"})");
  e.set_publish_time_ms(1'000'000);
  return e;
}

v1::Registration Reg(const char* topic, const char* task, int64_t delay_ms) {
  v1::Registration r;
  r.set_event("order_created");
  r.set_topic(topic);
  r.set_task(task);
  r.set_delay_ms(delay_ms);
  return r;
}

TEST(DispatchPlanTest, OneTaskPerRegistrationWithDerivedIds) {
  auto tasks = PlanTasks(
      Event(), {Reg("demo", "closeOrder", 0), Reg("mail", "notify", 0)},
      1'000'005);
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(tasks[0].id(), TaskIdFor("ev1", "demo", "closeOrder"));
  EXPECT_EQ(tasks[1].topic(), "mail");
  EXPECT_EQ(tasks[0].params(), R"({"order_id": "FB138020392193312"})");
  EXPECT_EQ(tasks[0].state(), v1::TASK_STATE_PENDING);
  EXPECT_EQ(tasks[0].max_attempts(), 6);
}

TEST(DispatchPlanTest, DelayCountsFromPublishTime) {
  auto tasks =
      PlanTasks(Event(), {Reg("demo", "closeOrder", 10'000)}, 1'000'500);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].due_time_ms(), 1'010'000);
  EXPECT_EQ(tasks[0].state(), v1::TASK_STATE_SCHEDULED);
  // Processed after its due time (a backlog): ready at once.
  EXPECT_EQ(
      PlanTasks(Event(), {Reg("demo", "closeOrder", 10'000)}, 1'020'000)[0]
          .state(),
      v1::TASK_STATE_PENDING);
}

TEST(DispatchPlanTest, NoRegistrationsNoTasks) {
  EXPECT_TRUE(PlanTasks(Event(), {}, 0).empty());
}

TEST(DispatchPlanTest, FirstRunCarriesEverything) {
  v1::TaskRequest request;
  request.set_task_id("t1");
  request.set_topic("demo");
  request.set_task("orderAsync");
  request.set_params("{}");
  request.set_publish_time_ms(5);
  v1::Task task = TaskFromRequest(request, 5);
  EXPECT_EQ(task.due_time_ms(), 5);
  v1::TaskMessage m = FirstRun(task);
  EXPECT_EQ(m.task_id(), "t1");
  EXPECT_EQ(m.attempt(), 1);
  EXPECT_EQ(m.max_attempts(), 6);
}

TEST(DispatchPlanTest, KeyGenerationsFollowTheWindow) {
  constexpr int64_t kWindow = 1000;
  KeyGeneration first = NextKeyGeneration(false, 0, 0, 5000, kWindow);
  EXPECT_EQ(first.generation, 0);
  EXPECT_EQ(first.started_ms, 5000);
  EXPECT_TRUE(first.changed);
  // Within the window (and a redelivery published before it started): the
  // same event.
  for (int64_t t : {5000, 5999, 4000}) {
    KeyGeneration same = NextKeyGeneration(true, 0, 5000, t, kWindow);
    EXPECT_EQ(same.generation, 0) << t;
    EXPECT_FALSE(same.changed) << t;
  }
  KeyGeneration next = NextKeyGeneration(true, 0, 5000, 6000, kWindow);
  EXPECT_EQ(next.generation, 1);
  EXPECT_EQ(next.started_ms, 6000);
  EXPECT_TRUE(next.changed);
}

TEST(DispatchPlanTest, LaterGenerationsGetFreshTaskIds) {
  v1::EventMessage event;
  event.set_event_id("e1");
  event.set_keyed(true);
  v1::Registration r;
  r.set_event("order_paid");
  r.set_topic("demo");
  r.set_task("ship");
  auto gen0 = PlanTasks(event, {r}, 0, 0);
  auto gen1 = PlanTasks(event, {r}, 0, 1);
  EXPECT_EQ(gen0[0].id(), TaskIdFor("e1", "demo", "ship"));
  EXPECT_NE(gen1[0].id(), gen0[0].id());
  EXPECT_EQ(gen1[0].event_id(), "e1");
}

}  // namespace
}  // namespace ebats::domain
