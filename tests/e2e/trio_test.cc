// The whole system: RabbitMQ, ebats-scheduler, ebats-gateway, ebats-worker
// as real processes; the order example from DESIGN.md end to end.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "libs/domain/ids.h"
#include "libs/rpc/health_client.h"
#include "tests/e2e/ebats_stack.h"
#include "tests/harness/broker_environment.h"
#include "tests/harness/process.h"
#include "tests/harness/wait.h"

namespace ebats::testing {
namespace {

constexpr char kParams[] = R"({"order_id": "FB138020392193312"})";

class TrioTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stack_ = std::make_unique<EbatsStack>(BrokerEnvironment::Node().url());
    absl::Status started = stack_->Start();
    ASSERT_TRUE(started.ok()) << started;
  }
  void TearDown() override {
    absl::Status stopped = stack_->StopAll();
    EXPECT_TRUE(stopped.ok()) << stopped;
  }

  void Register(const std::string& event, const std::string& task,
                int64_t delay_ms = 0) {
    v1::RegisterTaskRequest request;
    request.mutable_registration()->set_event(event);
    request.mutable_registration()->set_topic("demo");
    request.mutable_registration()->set_task(task);
    request.mutable_registration()->set_delay_ms(delay_ms);
    auto response = stack_->client().RegisterTask(request);
    ASSERT_TRUE(response.ok()) << response.status();
  }

  // Waits until the task exists and is final; returns it.
  v1::Task WaitFinal(const std::string& task_id) {
    v1::Task last;
    WaitFor(
        [&] {
          auto task = stack_->client().GetTask(task_id);
          if (!task.ok()) return false;
          last = *task;
          return last.state() == v1::TASK_STATE_SUCCEEDED ||
                 last.state() == v1::TASK_STATE_DEAD;
        },
        absl::Seconds(30));
    return last;
  }

  std::unique_ptr<EbatsStack> stack_;
};

TEST_F(TrioTest, PublishedEventRunsItsTaskWithParamsByteExact) {
  Register("order_paid", "virtualShipping");
  v1::PublishEventRequest request;
  request.set_event("order_paid");
  request.set_params(kParams);
  auto published = stack_->client().PublishEvent(request);
  ASSERT_TRUE(published.ok()) << published.status();

  const std::string task_id =
      domain::TaskIdFor(published->event_id(), "demo", "virtualShipping");
  v1::Task task = WaitFinal(task_id);
  EXPECT_EQ(task.state(), v1::TASK_STATE_SUCCEEDED) << task.ShortDebugString();
  EXPECT_EQ(task.params(), kParams);
  EXPECT_EQ(task.event(), "order_paid");
  EXPECT_EQ(task.event_id(), published->event_id());
  EXPECT_EQ(task.attempts(), 1);
  EXPECT_FALSE(task.worker_id().empty());
  EXPECT_GE(task.start_time_ms(), task.publish_time_ms());
  EXPECT_GE(task.finish_time_ms(), task.start_time_ms());
  EXPECT_EQ(task.message(), "virtual goods shipped");
}

TEST_F(TrioTest, OneEventFansOutToEveryRegistration) {
  Register("order_paid", "virtualShipping");
  Register("order_paid", "orderAsync");
  v1::PublishEventRequest request;
  request.set_event("order_paid");
  request.set_params(kParams);
  auto published = stack_->client().PublishEvent(request);
  ASSERT_TRUE(published.ok()) << published.status();
  for (const char* name : {"virtualShipping", "orderAsync"}) {
    v1::Task task =
        WaitFinal(domain::TaskIdFor(published->event_id(), "demo", name));
    EXPECT_EQ(task.state(), v1::TASK_STATE_SUCCEEDED) << name;
  }
  v1::ListTasksRequest list;
  list.set_event_id(published->event_id());
  auto tasks = stack_->client().ListTasks(list);
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  EXPECT_EQ(tasks->tasks_size(), 2);
}

TEST_F(TrioTest, CreatedTaskRunsWithoutAnEvent) {
  v1::CreateTaskRequest request;
  request.set_topic("demo");
  request.set_task("orderAsync");
  request.set_params(R"({"n": 12345678901234567890123})");
  auto created = stack_->client().CreateTask(request);
  ASSERT_TRUE(created.ok()) << created.status();
  v1::Task task = WaitFinal(created->task_id());
  EXPECT_EQ(task.state(), v1::TASK_STATE_SUCCEEDED) << task.ShortDebugString();
  EXPECT_EQ(task.params(), R"({"n": 12345678901234567890123})");
  EXPECT_TRUE(task.event_id().empty());
}

TEST_F(TrioTest, SameIdempotencyKeyGivesTheSameEventAndOneTask) {
  Register("order_paid", "virtualShipping");
  v1::PublishEventRequest request;
  request.set_event("order_paid");
  request.set_params(kParams);
  request.set_idempotency_key("order-FB138020392193312-paid");
  auto first = stack_->client().PublishEvent(request);
  auto second = stack_->client().PublishEvent(request);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->event_id(), second->event_id());
  v1::Task task = WaitFinal(
      domain::TaskIdFor(first->event_id(), "demo", "virtualShipping"));
  EXPECT_EQ(task.state(), v1::TASK_STATE_SUCCEEDED);
  v1::ListTasksRequest list;
  list.set_event_id(first->event_id());
  EXPECT_EQ(stack_->client().ListTasks(list)->tasks_size(), 1);
}

TEST_F(TrioTest, UnmatchedEventIsAcceptedAndCreatesNothing) {
  v1::PublishEventRequest request;
  request.set_event("nobody_listens");
  auto published = stack_->client().PublishEvent(request);
  ASSERT_TRUE(published.ok()) << published.status();
  v1::ListTasksRequest list;
  list.set_event_id(published->event_id());
  // The scheduler acks it and records nothing; give it a moment to have acted.
  EXPECT_FALSE(WaitFor(
      [&] { return stack_->client().ListTasks(list)->tasks_size() > 0; },
      absl::Milliseconds(500)));
}

TEST_F(TrioTest, WorkerRegistersWithTheScheduler) {
  ASSERT_TRUE(WaitFor([&] {
    auto workers = stack_->client().ListWorkers();
    return workers.ok() && workers->workers_size() == 1;
  }));
  auto workers = stack_->client().ListWorkers();
  EXPECT_EQ(workers->workers(0).topics(0), "demo");
  EXPECT_GT(workers->workers(0).last_heartbeat_ms(), 0);
  EXPECT_FALSE(workers->workers(0).lost());
  // A second worker that stops gracefully leaves the list at once, not as
  // a lost worker 15 s later.
  ASSERT_TRUE(stack_->StartWorker().ok());
  ASSERT_TRUE(WaitFor([&] {
    auto listed = stack_->client().ListWorkers();
    return listed.ok() && listed->workers_size() == 2;
  }));
  ASSERT_TRUE(stack_->Stop(stack_->last_worker()).ok());
  workers = stack_->client().ListWorkers(/*include_lost=*/true);
  ASSERT_TRUE(workers.ok()) << workers.status();
  EXPECT_EQ(workers->workers_size(), 1);
}

TEST_F(TrioTest, BadInputIsRefusedWithClearCodes) {
  v1::PublishEventRequest bad_name;
  bad_name.set_event("order paid");
  EXPECT_EQ(stack_->client().PublishEvent(bad_name).status().code(),
            absl::StatusCode::kInvalidArgument);
  v1::PublishEventRequest bad_params;
  bad_params.set_event("order_paid");
  bad_params.set_params("[1, 2]");
  EXPECT_EQ(stack_->client().PublishEvent(bad_params).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(stack_->client().GetTask("no-such-task").status().code(),
            absl::StatusCode::kNotFound);
  Register("order_paid", "virtualShipping");
  v1::RegisterTaskRequest changed;
  changed.mutable_registration()->set_event("order_paid");
  changed.mutable_registration()->set_topic("demo");
  changed.mutable_registration()->set_task("virtualShipping");
  changed.mutable_registration()->set_delay_ms(5000);
  EXPECT_EQ(stack_->client().RegisterTask(changed).status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(TrioTest, RegistrationsAndHistorySurviveASchedulerRestart) {
  Register("order_paid", "virtualShipping");
  v1::PublishEventRequest request;
  request.set_event("order_paid");
  request.set_params(kParams);
  auto published = stack_->client().PublishEvent(request);
  ASSERT_TRUE(published.ok());
  const std::string task_id =
      domain::TaskIdFor(published->event_id(), "demo", "virtualShipping");
  ASSERT_EQ(WaitFinal(task_id).state(), v1::TASK_STATE_SUCCEEDED);

  ASSERT_TRUE(stack_->StopAll().ok());
  ASSERT_TRUE(stack_->Start().ok());
  auto registrations =
      stack_->client().ListRegistrations(v1::ListRegistrationsRequest());
  ASSERT_TRUE(registrations.ok());
  EXPECT_EQ(registrations->registrations_size(), 1);
  auto task = stack_->client().GetTask(task_id);
  ASSERT_TRUE(task.ok());
  EXPECT_EQ(task->state(), v1::TASK_STATE_SUCCEEDED);
  EXPECT_EQ(task->params(), kParams);
}

// A number out of range is refused at start with exit code 2 and the
// flag's name, not clamped or wrapped: a scheduler --prefetch of 0 (or of
// 65536, cast to 16 bits) was "no limit" to the broker, and a worker
// --concurrency of 0 silently ran one handler.
TEST(ServiceFlagsTest, OutOfRangeNumbersAreRefusedAtStart) {
  TempDir dir("ebats-flags");
  struct Case {
    const char* binary;
    std::string flag;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {EBATS_SCHEDULER_BIN, "--prefetch=0",
       "--prefetch must be between 1 and 65535, not 0"},
      {EBATS_SCHEDULER_BIN, "--due_prefetch=65536",
       "--due_prefetch must be between 1 and 65535, not 65536"},
      {EBATS_SCHEDULER_BIN, "--dispatch_max_in_flight=0",
       "--dispatch_max_in_flight must be between 1"},
      {EBATS_SCHEDULER_BIN, "--idempotency_window=-1h",
       "--idempotency_window must not be negative, not -1h"},
      {EBATS_SCHEDULER_BIN, "--due_claim_lead=2s",
       "--due_claim_lead must be between 0 and 1s, not 2s"},
      {EBATS_SCHEDULER_BIN, "--queue_stats_interval=0",
       "--queue_stats_interval must be between 100ms and 1h, not 0"},
      {EBATS_GATEWAY_BIN, "--max_params_bytes=0",
       "--max_params_bytes must be between 2 and"},
      {EBATS_WORKER_BIN, "--concurrency=0",
       "concurrency must be 1 or more, not 0"},
      {EBATS_WORKER_BIN, "--prefetch=70000", "prefetch must be between 0"},
      {EBATS_WORKER_BIN, "--grace_seconds=-1",
       "--grace_seconds must be between 0 and"},
      {EBATS_WORKER_BIN, "--report_start_after=-1s",
       "--report_start_after must not be negative"},
  };
  int run = 0;
  for (const Case& c : cases) {
    const std::string log = absl::StrCat(dir.path(), "/", ++run, ".log");
    // Should a bad value get through, the service starts harmlessly on
    // free ports (no broker there) and the wait runs out.
    std::vector<std::string> argv = {
        c.binary, c.flag, "--listen=127.0.0.1:0", "--metrics_addr=127.0.0.1:0",
        absl::StrCat("--amqp_url=amqp://guest:guest@127.0.0.1:", FreePort())};
    if (c.binary == std::string(EBATS_SCHEDULER_BIN))
      argv.push_back(absl::StrCat("--data_dir=", dir.path()));
    if (c.binary == std::string(EBATS_WORKER_BIN))
      argv.push_back("--scheduler=");
    auto code = RunCommand(argv, {}, log, absl::Seconds(20));
    EXPECT_EQ(code.value_or(-1), 2) << c.binary << " " << c.flag;
    const std::string output = LogTail(log);
    EXPECT_NE(output.find(c.expected), std::string::npos) << c.flag << ":\n"
                                                          << output;
  }
}

}  // namespace
}  // namespace ebats::testing
