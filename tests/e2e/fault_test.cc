// Faults end to end: the real gateway, scheduler and worker binaries against
// a private RabbitMQ node that gets stopped and killed, with services killed
// (SIGKILL) and restarted. The promise under test: at-least-once; nothing the
// gateway confirmed is lost; every service heals itself.
//
// FaultTest.Drill is the fault suite (labelled "fault" in CTest): it
// publishes EBATS_FAULT_EVENTS events (2,000 by default) while restarting the
// broker twice, killing a worker and the scheduler, and prints one summary
// line.
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <map>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "libs/amqp/ebats_topology.h"
#include "libs/domain/broker_names.h"
#include "libs/domain/delay_ladder.h"
#include "libs/domain/ids.h"
#include "libs/rpc/health_client.h"
#include "tests/e2e/drill.h"
#include "tests/e2e/ebats_stack.h"
#include "tests/harness/broker_environment.h"
#include "tests/harness/wait.h"
#include "tests/integration/queue_probe.h"

namespace ebats::testing {
namespace {

constexpr char kTopic[] = "drill";
constexpr char kTask[] = "flakyTask";

int FaultEvents() {
  const char* n = std::getenv("EBATS_FAULT_EVENTS");
  return n && *n ? std::atoi(n) : 2000;
}

bool IsServing(const std::string& address) {
  auto serving = rpc::CheckServing(address, absl::Seconds(1));
  return serving.ok() && *serving;
}

class FaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stack_ = std::make_unique<EbatsStack>(BrokerEnvironment::Node().url());
  }
  void TearDown() override {
    // The node may have been left frozen or stopped by a failed test.
    RabbitMqNode& node = BrokerEnvironment::Node();
    node.Thaw();
    if (!PortOpen(node.amqp_port())) {
      EXPECT_TRUE(node.Start().ok());
    }
    absl::Status stopped = stack_->StopAll();
    EXPECT_TRUE(stopped.ok()) << stopped;
  }

  std::string StartDrillWorker(const std::string& worker_id,
                               int concurrency = 4) {
    absl::Status s = stack_->StartWorker(
        {absl::StrCat("--topics=", kTopic), "--drill_handlers",
         absl::StrCat("--worker_id=", worker_id),
         absl::StrCat("--concurrency=", concurrency)});
    EXPECT_TRUE(s.ok()) << s;
    return stack_->last_worker();
  }

  void Register(const std::string& event, const std::string& task,
                int64_t delay_ms = 0) {
    v1::RegisterTaskRequest request;
    v1::Registration* r = request.mutable_registration();
    r->set_event(event);
    r->set_topic(kTopic);
    r->set_task(task);
    r->set_delay_ms(delay_ms);
    r->mutable_retry()->add_intervals_ms(100);
    r->mutable_retry()->add_intervals_ms(300);
    r->mutable_retry()->set_max_attempts(5);
    auto response = stack_->client().RegisterTask(request);
    ASSERT_TRUE(response.ok()) << response.status();
  }

  absl::StatusOr<v1::Task> Get(const std::string& id) {
    return stack_->client().GetTask(id);
  }

  bool WaitState(const std::string& id, v1::TaskState state,
                 absl::Duration timeout = absl::Seconds(30)) {
    return WaitFor(
        [&] {
          auto t = Get(id);
          return t.ok() && t->state() == state;
        },
        timeout);
  }

  std::unique_ptr<EbatsStack> stack_;
};

TEST_F(FaultTest, ServicesStartWithTheBrokerDownAndHealWhenItComes) {
  RabbitMqNode& node = BrokerEnvironment::Node();
  ASSERT_TRUE(node.Stop().ok());
  stack_->set_wait_serving(false);
  ASSERT_TRUE(stack_->StartScheduler().ok());
  ASSERT_TRUE(stack_->StartGateway().ok());
  StartDrillWorker("w-down");
  EXPECT_FALSE(IsServing(stack_->gateway_address()));
  EXPECT_FALSE(IsServing(stack_->scheduler_address()));
  v1::PublishEventRequest event;
  event.set_event("drill_event");
  event.set_params(R"({"sleep_ms": 1})");
  EXPECT_EQ(stack_->client().PublishEvent(event).status().code(),
            absl::StatusCode::kUnavailable);

  ASSERT_TRUE(node.Start().ok());
  EXPECT_TRUE(WaitServing(stack_->gateway_address(), absl::Seconds(60)));
  EXPECT_TRUE(WaitServing(stack_->scheduler_address(), absl::Seconds(60)));
  Register("drill_event", kTask);
  auto published = stack_->client().PublishEvent(event);
  ASSERT_TRUE(published.ok()) << published.status();
  EXPECT_TRUE(WaitState(domain::TaskIdFor(published->event_id(), kTopic, kTask),
                        v1::TASK_STATE_SUCCEEDED));
}

TEST_F(FaultTest, WorkerKilledMidTaskRunsItAgainElsewhere) {
  ASSERT_TRUE(stack_->StartScheduler().ok());
  ASSERT_TRUE(stack_->StartGateway().ok());
  std::map<std::string, std::string> service_of = {
      {"w-a", StartDrillWorker("w-a")}, {"w-b", StartDrillWorker("w-b")}};
  Register("slow_event", kTask);
  v1::PublishEventRequest event;
  event.set_event("slow_event");
  event.set_params(R"({"sleep_ms": 3000})");
  auto published = stack_->client().PublishEvent(event);
  ASSERT_TRUE(published.ok()) << published.status();
  const std::string id =
      domain::TaskIdFor(published->event_id(), kTopic, kTask);
  ASSERT_TRUE(WaitState(id, v1::TASK_STATE_RUNNING));
  const std::string victim = Get(id)->worker_id();
  ASSERT_TRUE(stack_->Kill(service_of[victim]).ok());

  ASSERT_TRUE(WaitState(id, v1::TASK_STATE_SUCCEEDED));
  auto task = Get(id);
  EXPECT_NE(task->worker_id(), victim);
  EXPECT_EQ(task->attempts(), 1);  // the crash is not the handler's failure
  EXPECT_EQ(task->runs(), 2);      // but the record shows the repeat
}

TEST_F(FaultTest, WorkerSigtermFinishesTheRunningTaskAndExitsZero) {
  ASSERT_TRUE(stack_->StartScheduler().ok());
  ASSERT_TRUE(stack_->StartGateway().ok());
  const std::string worker = StartDrillWorker("w-term");
  Register("slow_event", kTask);
  v1::PublishEventRequest event;
  event.set_event("slow_event");
  event.set_params(R"({"sleep_ms": 1500})");
  auto published = stack_->client().PublishEvent(event);
  ASSERT_TRUE(published.ok()) << published.status();
  const std::string id =
      domain::TaskIdFor(published->event_id(), kTopic, kTask);
  ASSERT_TRUE(WaitState(id, v1::TASK_STATE_RUNNING));
  EXPECT_TRUE(stack_->Stop(worker).ok());  // exit 0 within its grace
  auto task = Get(id);
  ASSERT_TRUE(task.ok());
  EXPECT_EQ(task->state(), v1::TASK_STATE_SUCCEEDED);
  EXPECT_EQ(task->runs(), 1);
}

TEST_F(FaultTest, WhileTheSchedulerIsDownWorkersRunAndNothingIsLost) {
  ASSERT_TRUE(stack_->StartScheduler().ok());
  ASSERT_TRUE(stack_->StartGateway().ok());
  StartDrillWorker("w-1");
  Register("order_paid", kTask);                 // ready at once
  Register("order_created", "flakyTask", 1500);  // through the ladder
  v1::CreateTaskRequest doomed;
  doomed.set_topic(kTopic);
  doomed.set_task(kTask);
  doomed.set_delay_ms(2000);
  auto created = stack_->client().CreateTask(doomed);
  ASSERT_TRUE(created.ok()) << created.status();
  ASSERT_TRUE(WaitState(created->task_id(), v1::TASK_STATE_SCHEDULED));
  v1::CancelTaskRequest cancel;
  cancel.set_task_id(created->task_id());
  ASSERT_TRUE(stack_->client().CancelTask(cancel).ok());

  v1::PublishEventRequest paid;
  paid.set_event("order_paid");
  paid.set_params(R"({"sleep_ms": 1000})");
  auto ready = stack_->client().PublishEvent(paid);
  ASSERT_TRUE(ready.ok()) << ready.status();
  const std::string ready_id =
      domain::TaskIdFor(ready->event_id(), kTopic, kTask);
  v1::PublishEventRequest order_created;
  order_created.set_event("order_created");
  order_created.set_params("{}");
  auto delayed = stack_->client().PublishEvent(order_created);
  ASSERT_TRUE(delayed.ok()) << delayed.status();
  const std::string delayed_id =
      domain::TaskIdFor(delayed->event_id(), kTopic, kTask);
  ASSERT_TRUE(WaitState(ready_id, v1::TASK_STATE_RUNNING));
  ASSERT_TRUE(WaitState(delayed_id, v1::TASK_STATE_SCHEDULED));

  ASSERT_TRUE(stack_->Kill("scheduler").ok());
  // The outage outlasts the running task and both delays.
  absl::SleepFor(absl::Milliseconds(2500));
  const int64_t restart_ms = absl::ToUnixMillis(absl::Now());
  ASSERT_TRUE(stack_->StartScheduler().ok());

  auto registrations = stack_->client().ListRegistrations({});
  ASSERT_TRUE(registrations.ok());
  EXPECT_EQ(registrations->registrations_size(), 2);
  ASSERT_TRUE(WaitState(ready_id, v1::TASK_STATE_SUCCEEDED));
  EXPECT_LT(Get(ready_id)->finish_time_ms(), restart_ms)
      << "the worker finished it while the scheduler was down";
  ASSERT_TRUE(WaitState(delayed_id, v1::TASK_STATE_SUCCEEDED));
  auto late = Get(delayed_id);
  EXPECT_GE(late->start_time_ms(), late->due_time_ms());
  auto canceled = Get(created->task_id());
  EXPECT_EQ(canceled->state(), v1::TASK_STATE_CANCELED);
  EXPECT_EQ(canceled->runs(), 0);
}

TEST_F(FaultTest, UndecodableMessagesOnEveryInputGoToPoison) {
  ASSERT_TRUE(stack_->StartScheduler().ok());
  ASSERT_TRUE(stack_->StartGateway().ok());
  StartDrillWorker("w-poison");
  Register("drill_event", kTask);
  QueueProbe poison({domain::kPoisonQueue},
                    amqp::SchedulerTopology(amqp::QueueType::kQuorum));
  ASSERT_TRUE(poison.WaitUp());
  const std::vector<std::pair<std::string, std::string>> inputs = {
      {domain::kEventsExchange, "drill_event"},  // scheduler input
      {"", domain::kResultsQueue},               // worker reports
      {"", domain::kDueQueue},                   // ladder output
      {"", domain::TaskQueueName(kTopic)}};      // a task queue
  for (size_t i = 0; i < inputs.size(); ++i) {
    amqp::Message garbage;
    garbage.exchange = inputs[i].first;
    garbage.routing_key = inputs[i].second;
    garbage.body = absl::StrCat("\xff\xff garbage ", i);
    garbage.message_id = absl::StrCat("garbage-", i);
    ASSERT_TRUE(poison.session().PublishAndWait(garbage).ok());
  }
  auto parked = poison.WaitMatching(
      [](const amqp::Delivery& d) {
        return absl::StartsWith(d.body, "\xff\xff garbage");
      },
      inputs.size());
  ASSERT_EQ(parked.size(), inputs.size());
  for (const auto& d : parked) {
    EXPECT_FALSE(d.StringHeader(domain::kHeaderPoisonReason).empty()) << d.body;
  }
  // Everything keeps working.
  v1::PublishEventRequest event;
  event.set_event("drill_event");
  event.set_params("{}");
  auto published = stack_->client().PublishEvent(event);
  ASSERT_TRUE(published.ok()) << published.status();
  EXPECT_TRUE(WaitState(domain::TaskIdFor(published->event_id(), kTopic, kTask),
                        v1::TASK_STATE_SUCCEEDED));
}

TEST_F(FaultTest, IdempotencyKeyHoldsAcrossGatewayReplicasWithinItsWindow) {
  ASSERT_TRUE(stack_->StartScheduler({"--idempotency_window=3s"}).ok());
  ASSERT_TRUE(stack_->StartGateway().ok());
  auto replica = stack_->StartGatewayReplica();
  ASSERT_TRUE(replica.ok()) << replica.status();
  StartDrillWorker("w-idem");
  Register("order_paid", kTask);
  client::ClientOptions options;
  options.gateway_address = *replica;
  client::Client other(options);

  v1::PublishEventRequest request;
  request.set_event("order_paid");
  request.set_params("{}");
  request.set_idempotency_key("order-42-paid");
  auto first = stack_->client().PublishEvent(request);
  auto second = other.PublishEvent(request);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->event_id(), second->event_id());
  const std::string id = domain::TaskIdFor(first->event_id(), kTopic, kTask);
  ASSERT_TRUE(WaitState(id, v1::TASK_STATE_SUCCEEDED));

  v1::ListTasksRequest list;
  list.set_event_id(first->event_id());
  auto count_tasks = [&] {
    auto tasks = stack_->client().ListTasks(list);
    return tasks.ok() ? tasks->tasks_size() : -1;
  };
  // The scheduler takes its input in order: once an event published after
  // the duplicate has its task, the duplicate has been handled.
  v1::PublishEventRequest marker = request;
  marker.clear_idempotency_key();
  auto marked = other.PublishEvent(marker);
  ASSERT_TRUE(marked.ok());
  ASSERT_TRUE(WaitState(domain::TaskIdFor(marked->event_id(), kTopic, kTask),
                        v1::TASK_STATE_SUCCEEDED));
  EXPECT_EQ(count_tasks(), 1);
  EXPECT_EQ(Get(id)->runs(), 1);

  // After the window the key names a new event: same event id, new task.
  absl::SleepFor(absl::Seconds(3));
  auto later = other.PublishEvent(request);
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(later->event_id(), first->event_id());
  const std::string next_id =
      domain::TaskIdFor(first->event_id(), kTopic, kTask, 1);
  EXPECT_TRUE(WaitState(next_id, v1::TASK_STATE_SUCCEEDED));
  EXPECT_EQ(count_tasks(), 2);
}

// A handler that aborts its worker every time: each run crashes a fresh
// worker until the task reaches the delivery limit, then it is dead with
// reason "poison" without running again.
void ExpectCrashLoopEndsAsPoison(EbatsStack& stack) {
  constexpr int kLimit = 3;
  stack.set_common_flags({absl::StrCat("--delivery_limit=", kLimit)});
  ASSERT_TRUE(stack.StartScheduler().ok());
  ASSERT_TRUE(stack.StartGateway().ok());
  v1::RegisterTaskRequest registration;
  registration.mutable_registration()->set_event("poison_pill");
  registration.mutable_registration()->set_topic("poison");
  registration.mutable_registration()->set_task("crashTask");
  ASSERT_TRUE(stack.client().RegisterTask(registration).ok());
  v1::PublishEventRequest event;
  event.set_event("poison_pill");
  event.set_params("{}");
  auto published = stack.client().PublishEvent(event);
  ASSERT_TRUE(published.ok()) << published.status();
  const std::string id =
      domain::TaskIdFor(published->event_id(), "poison", "crashTask");
  auto dead = [&] {
    auto task = stack.client().GetTask(id);
    return task.ok() && task->state() == v1::TASK_STATE_DEAD;
  };
  int crashes = 0;
  for (int i = 0; i < 3 * kLimit && !dead(); ++i) {
    stack.StartWorker({"--topics=poison", "--drill_handlers"}).IgnoreError();
    const std::string worker = stack.last_worker();
    WaitFor([&] { return !stack.Running(worker) || dead(); },
            absl::Seconds(30));
    if (!stack.Running(worker)) ++crashes;
  }
  ASSERT_TRUE(WaitFor(dead, absl::Seconds(30)));
  auto task = stack.client().GetTask(id);
  EXPECT_EQ(task->dead_reason(), "poison");
  EXPECT_NE(task->message().find("delivery limit 3"), std::string::npos)
      << task->message();
  EXPECT_EQ(crashes, kLimit);
  // The worker that stopped it is still up.
  EXPECT_TRUE(stack.Running(stack.last_worker()));
}

TEST_F(FaultTest, CrashingHandlerEndsDeadAsPoisonWithQuorumQueues) {
  ExpectCrashLoopEndsAsPoison(*stack_);
}

TEST_F(FaultTest, CrashingHandlerEndsDeadAsPoisonWithClassicQueues) {
  auto url = BrokerEnvironment::Node().AddVhost("classic-poison");
  ASSERT_TRUE(url.ok()) << url.status();
  EbatsStack classic(*url, "classic");
  ExpectCrashLoopEndsAsPoison(classic);
  EXPECT_TRUE(classic.StopAll().ok());
}

// A broker that hangs mid-stream (SIGSTOP: connections stay open, nothing
// answers) for longer than the services' AMQP heartbeat timeout, then
// resumes. Publishes meanwhile are refused or time out, never confirmed and
// lost; the services find the broker again without a restart.
TEST_F(FaultTest, BrokerThatHangsAndResumesLosesNothing) {
  RabbitMqNode& node = BrokerEnvironment::Node();
  ASSERT_TRUE(stack_->StartScheduler().ok());
  ASSERT_TRUE(stack_->StartGateway().ok());
  StartDrillWorker("w-hang", 8);
  Register("hang_drill", kTask);

  // Over ~45 s: 4 s before the hang, 25 s of it, ~16 s after.
  const int events = 450;
  Publisher publisher(stack_->client(), "hang_drill", events,
                      absl::Milliseconds(100));
  absl::SleepFor(absl::Seconds(4));
  node.Freeze();
  const size_t confirmed_before = publisher.confirmed().size();
  // Two heartbeat intervals (10 s each) and then some: both sides give the
  // connections up.
  absl::SleepFor(absl::Seconds(25));
  node.Thaw();
  EXPECT_TRUE(WaitServing(stack_->gateway_address(), absl::Seconds(60)));

  const DrillResult result = AwaitDrill(stack_->client(), publisher, events,
                                        kTopic, kTask, absl::Minutes(3));
  std::cout << result.Summary() << std::endl;
  EXPECT_EQ(result.lost, 0);
  EXPECT_EQ(result.confirmed + result.refused, events);
  // Events published after the hang went through again.
  EXPECT_GT(result.confirmed, static_cast<int>(confirmed_before) + 10)
      << confirmed_before << " confirmed before the hang";
  for (const auto& [code, n] : publisher.refused_codes()) {
    EXPECT_TRUE(code == absl::StatusCode::kUnavailable ||
                code == absl::StatusCode::kDeadlineExceeded)
        << absl::StatusCodeToString(code) << " x" << n;
  }
}

TEST_F(FaultTest, Drill) {
  RabbitMqNode& node = BrokerEnvironment::Node();
  ASSERT_TRUE(stack_->StartScheduler().ok());
  ASSERT_TRUE(stack_->StartGateway().ok());
  const std::string first_worker = StartDrillWorker("w-1", 8);
  StartDrillWorker("w-2", 8);
  Register("fault_drill", kTask);

  const int events = FaultEvents();
  // Spread over ~40 s, so every fault below hits a stream in progress.
  Publisher publisher(stack_->client(), "fault_drill", events,
                      absl::Milliseconds(40000 / std::max(events, 1)));
  auto log = [start = absl::Now()](const std::string& what) {
    std::cout << "[" << absl::FormatDuration(absl::Now() - start) << "] "
              << what << std::endl;
  };
  auto broker_outage = [&](bool kill) {
    log(kill ? "broker: SIGKILL" : "broker: graceful stop");
    if (kill) {
      node.Kill();
    } else {
      ASSERT_TRUE(node.Stop().ok());
    }
    // While the broker is down the gateway says so.
    EXPECT_TRUE(WaitFor([&] { return !IsServing(stack_->gateway_address()); },
                        absl::Seconds(15)));
    ASSERT_TRUE(node.Start().ok());
    EXPECT_TRUE(WaitServing(stack_->gateway_address(), absl::Seconds(60)));
    log("broker: back");
  };

  absl::SleepFor(absl::Seconds(4));
  broker_outage(/*kill=*/false);
  absl::SleepFor(absl::Seconds(3));
  log("worker w-1: SIGKILL, restart");
  ASSERT_TRUE(stack_->Kill(first_worker).ok());
  StartDrillWorker("w-1b", 8);
  absl::SleepFor(absl::Seconds(3));
  broker_outage(/*kill=*/true);
  absl::SleepFor(absl::Seconds(3));
  log("scheduler: SIGKILL, restart");
  ASSERT_TRUE(stack_->Kill("scheduler").ok());
  ASSERT_TRUE(stack_->StartScheduler().ok());

  const DrillResult result = AwaitDrill(stack_->client(), publisher, events,
                                        kTopic, kTask, absl::Minutes(3));
  log("quiet");
  std::cout << result.Summary() << std::endl;
  EXPECT_EQ(result.lost, 0);
  EXPECT_EQ(result.confirmed + result.refused, events);
  // Only a sanity bound: the outages take a large and machine-dependent
  // share of the ~40 s (55% of the events were refused in one release-build
  // run on a clean clone); what matters is lost == 0.
  EXPECT_GT(result.confirmed, events / 5);
  EXPECT_GT(result.retried, 0);
  for (const auto& [code, n] : publisher.refused_codes()) {
    // Refusals during an outage are UNAVAILABLE (or a deadline), never a
    // silent OK and never a wrong code.
    EXPECT_TRUE(code == absl::StatusCode::kUnavailable ||
                code == absl::StatusCode::kDeadlineExceeded)
        << absl::StatusCodeToString(code) << " x" << n;
  }
}

}  // namespace
}  // namespace ebats::testing
