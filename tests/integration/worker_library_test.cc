// The worker library against a real RabbitMQ: handlers run, outcomes are
// published before the ack, the result callback sees what the original
// design promises.
#include <atomic>
#include <stdexcept>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "libs/codec/message_codec.h"
#include "libs/domain/broker_names.h"
#include "libs/domain/ids.h"
#include "libs/worker/worker.h"
#include "prometheus/registry.h"
#include "tests/harness/broker_environment.h"
#include "tests/integration/due_path.h"
#include "tests/integration/queue_probe.h"

namespace ebats::worker {
namespace {

using ::ebats::testing::BrokerEnvironment;
using ::ebats::testing::QueueProbe;
using ::ebats::testing::ScopedMemoryAlarm;
using ::ebats::testing::TestSessionOptions;
using ::ebats::testing::WaitFor;

constexpr auto kQuorum = amqp::QueueType::kQuorum;

WorkerOptions Options(const std::string& topic) {
  WorkerOptions options;
  options.brokers = *amqp::ParseBrokerUrls(BrokerEnvironment::Node().url());
  options.topics = {topic};
  options.concurrency = 2;
  return options;
}

v1::TaskMessage Task(const std::string& topic, const std::string& name,
                     const std::string& params) {
  v1::TaskMessage task;
  task.set_task_id(domain::NewRandomId());
  task.set_topic(topic);
  task.set_task(name);
  task.set_params(params);
  task.set_attempt(1);
  task.set_max_attempts(3);
  task.set_publish_time_ms(absl::ToUnixMillis(absl::Now()));
  task.set_due_time_ms(task.publish_time_ms());
  return task;
}

class Reports {
 public:
  ReportCallback Callback() {
    return [this](const TaskReport& r) {
      absl::MutexLock lock(&mu_);
      reports_.push_back(r);
    };
  }
  std::vector<TaskReport> For(const std::string& task_id) {
    absl::MutexLock lock(&mu_);
    std::vector<TaskReport> out;
    for (const auto& r : reports_) {
      if (r.task_id == task_id) out.push_back(r);
    }
    return out;
  }

 private:
  absl::Mutex mu_;
  std::vector<TaskReport> reports_;
};

class WorkerLibraryTest : public ::testing::Test {
 protected:
  void Send(const v1::TaskMessage& task) {
    amqp::Session producer(
        TestSessionOptions(amqp::TopicTopology(kQuorum, task.topic())));
    producer.Start();
    ASSERT_TRUE(WaitFor([&] { return producer.IsUp(); }));
    ASSERT_TRUE(producer.PublishAndWait(codec::EncodeTask(task)).ok());
  }
};

// Options the worker cannot honour are refused at Start, with the field
// named, instead of being cut down or failing later.
TEST_F(WorkerLibraryTest, StartRefusesBadOptionsClearly) {
  WorkerOptions no_topics = Options("wl_options");
  no_topics.topics.clear();
  EXPECT_EQ(Worker(no_topics).Start().code(),
            absl::StatusCode::kInvalidArgument);
  for (absl::Duration timeout : {absl::ZeroDuration(), absl::Minutes(26)}) {
    WorkerOptions options = Options("wl_options");
    options.task_timeout = timeout;
    absl::Status started = Worker(options).Start();
    EXPECT_EQ(started.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(started.message().find("task timeout"), std::string::npos)
        << started;
  }
  // Refused, not clamped: a concurrency of 0 became 1, and a prefetch of
  // 65536 or more would wrap (0 is "no limit" to the broker).
  WorkerOptions idle = Options("wl_options");
  idle.concurrency = 0;
  absl::Status started = Worker(idle).Start();
  EXPECT_EQ(started.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(started.message().find("concurrency must be 1 or more, not 0"),
            std::string::npos)
      << started;
  for (int prefetch : {-1, 65536}) {
    WorkerOptions options = Options("wl_options");
    options.prefetch = prefetch;
    started = Worker(options).Start();
    EXPECT_EQ(started.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(started.message().find("prefetch must be between 0"),
              std::string::npos)
        << started;
  }
}

TEST_F(WorkerLibraryTest, SuccessIsReportedThroughTheCallbackAndResultsQueue) {
  QueueProbe results({domain::kResultsQueue},
                     amqp::WorkerTopology(kQuorum, {"wl_ok"}));
  ASSERT_TRUE(results.WaitUp());
  Reports reports;
  Worker worker(Options("wl_ok"));
  std::atomic<int> runs{0};
  worker.Handle("virtualShipping", [&](const TaskContext& task) {
    ++runs;
    EXPECT_EQ(task.params, R"({"order_id": "FB138020392193312"})");
    return Result::Success("shipped");
  });
  worker.OnReport(reports.Callback());
  ASSERT_TRUE(worker.Start().ok());

  v1::TaskMessage task =
      Task("wl_ok", "virtualShipping", R"({"order_id": "FB138020392193312"})");
  Send(task);
  ASSERT_TRUE(WaitFor([&] { return reports.For(task.task_id()).size() == 1; }));
  TaskReport r = reports.For(task.task_id())[0];
  EXPECT_EQ(r.topic, "wl_ok");
  EXPECT_EQ(r.task, "virtualShipping");
  EXPECT_EQ(r.params, R"({"order_id": "FB138020392193312"})");
  EXPECT_EQ(r.message, "shipped");
  EXPECT_EQ(r.outcome, v1::OUTCOME_SUCCEEDED);
  EXPECT_GT(r.time_used, absl::ZeroDuration());

  auto reported = results.WaitMatching(
      [&](const amqp::Delivery& d) {
        auto res = codec::DecodeResult(d);
        return res.ok() && res->task_id() == task.task_id() &&
               res->outcome() == v1::OUTCOME_SUCCEEDED;
      },
      1);
  ASSERT_EQ(reported.size(), 1u);
  EXPECT_EQ(codec::DecodeResult(reported[0])->worker_id(), worker.id());
  EXPECT_EQ(runs.load(), 1);
  worker.Shutdown(absl::Seconds(5));
}

// Every report on the results queue for `task_id`, in arrival order.
std::vector<v1::TaskResult> ReportsOf(QueueProbe& results,
                                      const std::string& task_id) {
  std::vector<v1::TaskResult> out;
  for (const amqp::Delivery& d :
       results.Matching([](const amqp::Delivery&) { return true; })) {
    auto batch = codec::DecodeResults(d);
    if (!batch.ok()) continue;
    for (v1::TaskResult& r : *batch) {
      if (r.task_id() == task_id) out.push_back(std::move(r));
    }
  }
  return out;
}

TEST_F(WorkerLibraryTest, OnlyARunPastTheStartDelayIsReportedStarted) {
  QueueProbe results({domain::kResultsQueue},
                     amqp::WorkerTopology(kQuorum, {"wl_started"}));
  ASSERT_TRUE(results.WaitUp());
  WorkerOptions options = Options("wl_started");
  options.report_start_after = absl::Milliseconds(200);
  Worker worker(options);
  absl::Notification release;
  worker.Handle("quick", [](const TaskContext&) { return Result::Success(); });
  worker.Handle("slow", [&](const TaskContext&) {
    release.WaitForNotificationWithTimeout(absl::Seconds(20));
    return Result::Retry("again");
  });
  ASSERT_TRUE(worker.Start().ok());

  v1::TaskMessage quick = Task("wl_started", "quick", "{}");
  v1::TaskMessage slow = Task("wl_started", "slow", "{}");
  Send(quick);
  Send(slow);
  // The slow run is reported STARTED while it runs.
  ASSERT_TRUE(
      WaitFor([&] { return !ReportsOf(results, slow.task_id()).empty(); }));
  std::vector<v1::TaskResult> slow_reports = ReportsOf(results, slow.task_id());
  EXPECT_EQ(slow_reports[0].outcome(), v1::OUTCOME_STARTED);
  EXPECT_EQ(slow_reports[0].worker_id(), worker.id());
  release.Notify();
  ASSERT_TRUE(
      WaitFor([&] { return ReportsOf(results, slow.task_id()).size() == 2; }));
  slow_reports = ReportsOf(results, slow.task_id());
  EXPECT_EQ(slow_reports[1].outcome(), v1::OUTCOME_RETRY);
  EXPECT_FALSE(slow_reports[1].start_unreported());  // its STARTED counted it

  // The quick run: its outcome alone, carrying the start and the run.
  ASSERT_TRUE(
      WaitFor([&] { return !ReportsOf(results, quick.task_id()).empty(); }));
  std::vector<v1::TaskResult> quick_reports =
      ReportsOf(results, quick.task_id());
  ASSERT_EQ(quick_reports.size(), 1u);
  EXPECT_EQ(quick_reports[0].outcome(), v1::OUTCOME_SUCCEEDED);
  EXPECT_TRUE(quick_reports[0].start_unreported());
  EXPECT_GT(quick_reports[0].start_time_ms(), 0);
  worker.Shutdown(absl::Seconds(5));
}

TEST_F(WorkerLibraryTest, FailGoesToDeadLettersWithItsReason) {
  QueueProbe dead({domain::DeadQueueName("wl_fail")},
                  amqp::WorkerTopology(kQuorum, {"wl_fail"}));
  ASSERT_TRUE(dead.WaitUp());
  Reports reports;
  Worker worker(Options("wl_fail"));
  worker.Handle("charge", [](const TaskContext&) {
    return Result::Fail("card declined");
  });
  worker.OnReport(reports.Callback());
  ASSERT_TRUE(worker.Start().ok());
  v1::TaskMessage task = Task("wl_fail", "charge", "{}");
  Send(task);
  auto got = dead.WaitMatching(
      [&](const amqp::Delivery& d) { return d.message_id == task.task_id(); },
      1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].StringHeader("x-ebats-dead-reason"), "failed");
  EXPECT_EQ(got[0].StringHeader("x-ebats-last-message"), "card declined");
  ASSERT_TRUE(WaitFor([&] { return reports.For(task.task_id()).size() == 1; }));
  EXPECT_EQ(reports.For(task.task_id())[0].dead_reason, "failed");
  worker.Shutdown(absl::Seconds(5));
}

TEST_F(WorkerLibraryTest,
       ExceptionCountsAsRetryAndTheNextAttemptIsAFreshMessage) {
  testing::DuePath due_path;
  ASSERT_TRUE(due_path.WaitUp());
  Reports reports;
  Worker worker(Options("wl_retry"));
  std::atomic<int> runs{0};
  worker.Handle("flaky", [&](const TaskContext& task) -> Result {
    ++runs;
    if (task.attempt == 1) throw std::runtime_error("connection reset");
    return Result::Success("second time lucky");
  });
  worker.OnReport(reports.Callback());
  ASSERT_TRUE(worker.Start().ok());
  v1::TaskMessage task = Task("wl_retry", "flaky", "{}");
  task.mutable_retry()->add_intervals_ms(10);
  Send(task);
  ASSERT_TRUE(WaitFor([&] { return reports.For(task.task_id()).size() == 2; }));
  auto r = reports.For(task.task_id());
  EXPECT_EQ(r[0].outcome, v1::OUTCOME_RETRY);
  EXPECT_NE(r[0].message.find("connection reset"), std::string::npos);
  EXPECT_EQ(r[1].outcome, v1::OUTCOME_SUCCEEDED);
  EXPECT_EQ(r[1].attempt, 2);
  EXPECT_EQ(runs.load(), 2);
  worker.Shutdown(absl::Seconds(5));
}

// A retry starts a new attempt at its first delivery, also when it comes
// from a re-run (classic queues count a crashed attempt's deliveries in the
// message): the count is per attempt, and the due stage treats a message
// with a count as a re-run that must run again.
TEST_F(WorkerLibraryTest, RetryOfAReRunStartsItsDeliveryCountAfresh) {
  QueueProbe due({domain::kDueQueue}, amqp::SchedulerTopology(kQuorum));
  ASSERT_TRUE(due.WaitUp());
  Worker worker(Options("wl_rerun_retry"));
  worker.Handle("again", [](const TaskContext&) {
    return Result::Retry("later", absl::Milliseconds(10));
  });
  ASSERT_TRUE(worker.Start().ok());
  v1::TaskMessage task = Task("wl_rerun_retry", "again", "{}");
  task.set_deliveries(2);
  Send(task);
  const auto retries = due.WaitMatching(
      [&](const amqp::Delivery& d) {
        auto m = codec::DecodeTask(d);
        return m.ok() && m->task_id() == task.task_id();
      },
      1);
  ASSERT_EQ(retries.size(), 1u);
  auto retry = codec::DecodeTask(retries[0]);
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(retry->attempt(), 2);
  EXPECT_EQ(retry->deliveries(), 0);
  worker.Shutdown(absl::Seconds(5));
}

TEST_F(WorkerLibraryTest, ExhaustedAttemptsGoDead) {
  testing::DuePath due_path;
  ASSERT_TRUE(due_path.WaitUp());
  Reports reports;
  Worker worker(Options("wl_exhaust"));
  worker.Handle("never",
                [](const TaskContext&) { return Result::Retry("still down"); });
  worker.OnReport(reports.Callback());
  ASSERT_TRUE(worker.Start().ok());
  v1::TaskMessage task = Task("wl_exhaust", "never", "{}");
  task.set_max_attempts(2);
  task.mutable_retry()->add_intervals_ms(50);
  Send(task);
  ASSERT_TRUE(WaitFor([&] { return reports.For(task.task_id()).size() == 2; }));
  auto r = reports.For(task.task_id());
  EXPECT_TRUE(r[0].dead_reason.empty());
  EXPECT_EQ(r[1].dead_reason, "exhausted");
  worker.Shutdown(absl::Seconds(5));
}

TEST_F(WorkerLibraryTest, RunPastItsTimeoutIsRetriedThenDeadWithReasonTimeout) {
  testing::DuePath due_path;
  ASSERT_TRUE(due_path.WaitUp());
  QueueProbe results({domain::kResultsQueue},
                     amqp::WorkerTopology(kQuorum, {"wl_timeout"}));
  ASSERT_TRUE(results.WaitUp());
  Reports reports;
  WorkerOptions options = Options("wl_timeout");
  // Longer than the timeout: each run ends before its start is reported.
  options.report_start_after = absl::Milliseconds(500);
  Worker worker(options);
  std::atomic<bool> release{false};
  worker.Handle("stuck", [&](const TaskContext&) {
    // Stuck far beyond the 100 ms timeout; released at the end of the test.
    while (!release.load()) absl::SleepFor(absl::Milliseconds(5));
    return Result::Success("too late");
  });
  worker.OnReport(reports.Callback());
  ASSERT_TRUE(worker.Start().ok());
  v1::TaskMessage task = Task("wl_timeout", "stuck", "{}");
  task.set_max_attempts(2);
  task.mutable_retry()->add_intervals_ms(50);
  task.mutable_retry()->set_timeout_ms(100);
  Send(task);
  ASSERT_TRUE(WaitFor([&] { return reports.For(task.task_id()).size() == 2; }));
  auto r = reports.For(task.task_id());
  EXPECT_EQ(r[0].outcome, v1::OUTCOME_RETRY);
  EXPECT_NE(r[0].message.find("timed out after 100 ms"), std::string::npos)
      << r[0].message;
  EXPECT_TRUE(r[0].dead_reason.empty());
  EXPECT_EQ(r[1].attempt, 2);
  EXPECT_EQ(r[1].dead_reason, "timeout");
  // Both outcomes count their runs themselves, and the stuck handlers, still
  // running past the start delay, send no STARTED after their outcomes.
  ASSERT_TRUE(
      WaitFor([&] { return ReportsOf(results, task.task_id()).size() == 2; }));
  const absl::Time past_start_delay =
      absl::FromUnixMillis(
          ReportsOf(results, task.task_id())[1].start_time_ms()) +
      absl::Milliseconds(800);
  WaitFor([&] { return absl::Now() > past_start_delay; });
  for (const v1::TaskResult& result : ReportsOf(results, task.task_id())) {
    EXPECT_NE(result.outcome(), v1::OUTCOME_STARTED);
    EXPECT_TRUE(result.start_unreported());
  }
  release = true;
  worker.Shutdown(absl::Seconds(5));
  // The stuck runs' late results were dropped, not reported.
  EXPECT_EQ(reports.For(task.task_id()).size(), 2u);
}

// The value of the worker's unlabelled gauge `name`; -1 when not registered.
double Gauge(prometheus::Registry& registry, const std::string& name) {
  for (const auto& family : registry.Collect()) {
    if (family.name == name) return family.metric[0].gauge.value;
  }
  return -1.0;
}

// A handler that will not return cannot be interrupted, but it must not take
// the worker's place from the tasks that wait: the pool runs another thread
// in its stead (up to `concurrency` more), and the gauge shows it.
TEST_F(WorkerLibraryTest, AHandlerStuckPastItsTimeoutDoesNotHoldUpOtherTasks) {
  Reports reports;
  WorkerOptions options = Options("wl_overdue");
  options.concurrency = 1;
  options.registry = std::make_shared<prometheus::Registry>();
  Worker worker(options);
  absl::Notification release;
  std::atomic<int> stuck_returned{0};
  worker.Handle("stuck", [&](const TaskContext&) {
    release.WaitForNotificationWithTimeout(absl::Seconds(60));
    ++stuck_returned;
    return Result::Success("too late");
  });
  worker.Handle("quick",
                [](const TaskContext&) { return Result::Success("done"); });
  worker.OnReport(reports.Callback());
  ASSERT_TRUE(worker.Start().ok());
  auto overdue = [&] {
    return Gauge(*options.registry, "ebats_worker_overdue_runs");
  };
  EXPECT_EQ(overdue(), 0);

  auto stuck_task = [] {
    v1::TaskMessage task = Task("wl_overdue", "stuck", "{}");
    // One attempt: dead with reason timeout, no trip through the delay path.
    task.set_max_attempts(1);
    task.mutable_retry()->set_timeout_ms(100);
    return task;
  };
  const v1::TaskMessage first = stuck_task();
  Send(first);
  ASSERT_TRUE(
      WaitFor([&] { return reports.For(first.task_id()).size() == 1; }));
  EXPECT_EQ(reports.For(first.task_id())[0].dead_reason, "timeout");
  EXPECT_EQ(overdue(), 1);

  // The only slot's handler is still stuck, and the next task runs anyway.
  const v1::TaskMessage quick = Task("wl_overdue", "quick", "{}");
  Send(quick);
  ASSERT_TRUE(
      WaitFor([&] { return reports.For(quick.task_id()).size() == 1; }));
  EXPECT_EQ(reports.For(quick.task_id())[0].outcome, v1::OUTCOME_SUCCEEDED);
  EXPECT_EQ(stuck_returned.load(), 0);

  // A second stuck handler reaches the bound (two threads for a concurrency
  // of one): a task sent now waits until a stuck handler returns.
  const v1::TaskMessage second = stuck_task();
  Send(second);
  ASSERT_TRUE(
      WaitFor([&] { return reports.For(second.task_id()).size() == 1; }));
  EXPECT_EQ(overdue(), 2);
  const v1::TaskMessage waiting = Task("wl_overdue", "quick", "{}");
  Send(waiting);
  release.Notify();
  ASSERT_TRUE(
      WaitFor([&] { return reports.For(waiting.task_id()).size() == 1; }));
  ASSERT_TRUE(WaitFor([&] { return overdue() == 0; }));
  EXPECT_EQ(stuck_returned.load(), 2);
  worker.Shutdown(absl::Seconds(5));
  // What the stuck handlers returned was dropped.
  EXPECT_EQ(reports.For(first.task_id()).size(), 1u);
  EXPECT_EQ(reports.For(second.task_id()).size(), 1u);
}

// Drain does not wait for a handler that outlives the grace period (a stuck
// one would keep a worker process from ever exiting): running_handlers()
// counts it, and Shutdown() then waits for it.
TEST_F(WorkerLibraryTest, DrainDoesNotWaitForAHandlerPastTheGracePeriod) {
  Worker worker(Options("wl_drain"));
  absl::Notification entered;
  absl::Notification release;
  worker.Handle("hold", [&](const TaskContext&) {
    entered.Notify();
    release.WaitForNotificationWithTimeout(absl::Seconds(60));
    return Result::Success("late");
  });
  ASSERT_TRUE(worker.Start().ok());
  EXPECT_EQ(worker.running_handlers(), 0);
  Send(Task("wl_drain", "hold", "{}"));
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(worker.running_handlers(), 1);
  const absl::Time draining = absl::Now();
  worker.Drain(absl::Milliseconds(200));
  EXPECT_LT(absl::Now() - draining, absl::Seconds(20));
  EXPECT_EQ(worker.running_handlers(), 1);
  release.Notify();
  worker.Shutdown();
  EXPECT_EQ(worker.running_handlers(), 0);
}

// A worker without the task's handler (say, an older one during a rolling
// deploy) does not kill the task: it is retried by its policy, and dead
// ("exhausted") with the same clear message once its attempts run out.
TEST_F(WorkerLibraryTest, TaskWithoutHandlerIsRetriedWithAClearMessage) {
  testing::DuePath due_path;
  ASSERT_TRUE(due_path.WaitUp());
  Reports reports;
  Worker worker(Options("wl_nohandler"));
  worker.OnReport(reports.Callback());
  ASSERT_TRUE(worker.Start().ok());
  v1::TaskMessage task = Task("wl_nohandler", "unknownTask", "{}");
  task.set_max_attempts(2);
  task.mutable_retry()->add_intervals_ms(50);
  Send(task);
  ASSERT_TRUE(WaitFor([&] { return reports.For(task.task_id()).size() == 2; }));
  auto r = reports.For(task.task_id());
  EXPECT_EQ(r[0].outcome, v1::OUTCOME_RETRY);
  EXPECT_TRUE(r[0].dead_reason.empty());
  EXPECT_EQ(r[1].attempt, 2);
  EXPECT_EQ(r[1].dead_reason, "exhausted");
  for (const TaskReport& report : r) {
    EXPECT_NE(report.message.find("no handler for task \"unknownTask\" on "
                                  "worker " +
                                  worker.id()),
              std::string::npos)
        << report.message;
  }
  worker.Shutdown(absl::Seconds(5));
}

TEST_F(WorkerLibraryTest, UnfinishedTaskReturnsToTheQueueAndRunsAgain) {
  std::atomic<bool> release{false};
  std::atomic<int> started{0};
  v1::TaskMessage task = Task("wl_requeue", "slow", "{}");
  {
    Worker first(Options("wl_requeue"));
    first.Handle("slow", [&](const TaskContext&) {
      ++started;
      while (!release.load()) absl::SleepFor(absl::Milliseconds(5));
      return Result::Success();
    });
    ASSERT_TRUE(first.Start().ok());
    Send(task);
    ASSERT_TRUE(WaitFor([&] { return started.load() == 1; }));
    // Shut down with no grace: the run is not finished, so not acked.
    std::thread releaser([&] {
      absl::SleepFor(absl::Milliseconds(200));
      release = true;
    });
    first.Shutdown(absl::ZeroDuration());
    releaser.join();
  }
  Reports reports;
  Worker second(Options("wl_requeue"));
  second.Handle("slow",
                [](const TaskContext&) { return Result::Success("done"); });
  second.OnReport(reports.Callback());
  ASSERT_TRUE(second.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return reports.For(task.task_id()).size() == 1; }));
  second.Shutdown(absl::Seconds(5));
}

// A worker whose "gated" handler holds each run until release is set and
// then succeeds with `message`; it records its reports and whether the
// broker blocks it. Started on construction.
struct GatedWorker {
  GatedWorker(const std::string& topic, const std::string& message)
      : worker(Options(topic)) {
    worker.Handle("gated", [this, message](const TaskContext&) {
      ++started;
      while (!release.load()) absl::SleepFor(absl::Milliseconds(5));
      return Result::Success(message);
    });
    worker.OnReport(reports.Callback());
    worker.OnBrokerBlocked(
        [this](bool is_blocked, const std::string&) { blocked = is_blocked; });
    EXPECT_TRUE(worker.Start().ok());
  }

  Reports reports;
  std::atomic<bool> release{false};
  std::atomic<int> started{0};
  std::atomic<bool> blocked{false};
  Worker worker;
};

// Under a broker resource alarm an outcome waits in the worker (the task
// stays unacked, so nothing is lost), the worker hears of the alarm, and the
// outcome goes out, and the task is acked, when the alarm lifts.
TEST_F(WorkerLibraryTest, OutcomeDuringABrokerAlarmGoesOutWhenItLifts) {
  QueueProbe results({domain::kResultsQueue},
                     amqp::WorkerTopology(kQuorum, {"wl_alarm"}));
  ASSERT_TRUE(results.WaitUp());
  GatedWorker gated("wl_alarm", "after the alarm");
  v1::TaskMessage task = Task("wl_alarm", "gated", "{}");
  Send(task);
  ASSERT_TRUE(WaitFor([&] { return gated.started.load() == 1; }));
  auto succeeded = [&](const amqp::Delivery& d) {
    auto result = codec::DecodeResult(d);
    return result.ok() && result->task_id() == task.task_id() &&
           result->outcome() == v1::OUTCOME_SUCCEEDED;
  };
  {
    ScopedMemoryAlarm alarm;
    gated.release = true;
    EXPECT_TRUE(WaitFor([&] { return gated.blocked.load(); }))
        << "the worker did not hear of the alarm";
    EXPECT_TRUE(results.Matching(succeeded).empty());
    EXPECT_TRUE(gated.reports.For(task.task_id()).empty())
        << "settled unconfirmed";
  }
  EXPECT_EQ(results.WaitMatching(succeeded, 1).size(), 1u);
  EXPECT_TRUE(WaitFor([&] { return !gated.blocked.load(); }));
  ASSERT_TRUE(
      WaitFor([&] { return gated.reports.For(task.task_id()).size() == 1; }));
  EXPECT_EQ(gated.reports.For(task.task_id())[0].message, "after the alarm");
  EXPECT_EQ(gated.started.load(), 1);
  gated.worker.Shutdown(absl::Seconds(5));
}

// A graceful shutdown during a broker alarm cannot get a finished run's
// outcome confirmed, so it must not wait past its grace period nor ack the
// task: the delivery returns to the queue (once the broker reads the
// connection's close) and runs again. At-least-once, never lost.
TEST_F(WorkerLibraryTest, ShutdownDuringABrokerAlarmLeavesTheTaskToRunAgain) {
  QueueProbe results({domain::kResultsQueue},
                     amqp::WorkerTopology(kQuorum, {"wl_alarm_stop"}));
  ASSERT_TRUE(results.WaitUp());
  v1::TaskMessage task = Task("wl_alarm_stop", "gated", "{}");
  GatedWorker gated("wl_alarm_stop", "during the alarm");
  Send(task);
  ASSERT_TRUE(WaitFor([&] { return gated.started.load() == 1; }));
  {
    ScopedMemoryAlarm alarm;
    gated.release = true;
    ASSERT_TRUE(WaitFor([&] { return gated.blocked.load(); }))
        << "the worker did not hear of the alarm";
    const absl::Time stop_start = absl::Now();
    gated.worker.Shutdown(absl::Seconds(1));
    // The grace period and a dropped socket: ~1 s. A close handshake the
    // broker never reads would time out only after ~10 s.
    const absl::Duration stop_took = absl::Now() - stop_start;
    EXPECT_LT(stop_took, absl::Seconds(6))
        << "shutdown waited on a blocked broker: " << stop_took;
    EXPECT_TRUE(gated.reports.For(task.task_id()).empty())
        << "settled an outcome the broker never confirmed";
  }
  Reports second_reports;
  std::atomic<int> second_runs{0};
  Worker second(Options("wl_alarm_stop"));
  second.Handle("gated", [&](const TaskContext& context) {
    ++second_runs;
    EXPECT_EQ(context.task_id, task.task_id());
    return Result::Success("after the alarm");
  });
  second.OnReport(second_reports.Callback());
  ASSERT_TRUE(second.Start().ok());
  ASSERT_TRUE(WaitFor([&] {
    return second_reports.For(task.task_id()).size() == 1;
  })) << "the task held at shutdown did not come back";
  EXPECT_EQ(second_reports.For(task.task_id())[0].message, "after the alarm");
  EXPECT_EQ(gated.started.load(), 1);
  EXPECT_EQ(second_runs.load(), 1);
  // The second run's outcome is on the results queue; the first run's
  // may be too, if the broker read it before blocking (the scheduler settles a
  // task once whatever it hears twice).
  auto succeeded_after_alarm = [&](const amqp::Delivery& d) {
    auto result = codec::DecodeResult(d);
    return result.ok() && result->task_id() == task.task_id() &&
           result->message() == "after the alarm";
  };
  EXPECT_EQ(results.WaitMatching(succeeded_after_alarm, 1).size(), 1u);
  second.Shutdown(absl::Seconds(5));
}

}  // namespace
}  // namespace ebats::worker
