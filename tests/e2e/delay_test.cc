// The delay path end to end: the real scheduler and gateway binaries, an
// in-process worker with handlers that misbehave on purpose, a private
// RabbitMQ node that gets restarted and killed. Runs in the queue mode named
// by EBATS_TEST_QUEUE_TYPE (quorum by default; CTest runs both).
#include <cstdlib>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "libs/client/client.h"
#include "libs/domain/ids.h"
#include "libs/store/sqlite_db.h"
#include "libs/worker/worker.h"
#include "tests/e2e/ebats_stack.h"
#include "tests/harness/broker_environment.h"
#include "tests/harness/wait.h"

namespace ebats::testing {
namespace {

std::string QueueType() {
  const char* type = std::getenv("EBATS_TEST_QUEUE_TYPE");
  return type && *type ? type : "quorum";
}

// When each task's runs started (handler side, worker clock).
class Runs {
 public:
  void Record(const worker::TaskContext& task) {
    absl::MutexLock lock(&mu_);
    starts_[task.task_id].push_back(absl::ToUnixMillis(absl::Now()));
  }
  std::vector<int64_t> Of(const std::string& id) {
    absl::MutexLock lock(&mu_);
    return starts_[id];
  }
  size_t Count(const std::string& id) { return Of(id).size(); }

 private:
  absl::Mutex mu_;
  std::map<std::string, std::vector<int64_t>> starts_;
};

class DelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stack_ = std::make_unique<EbatsStack>(BrokerEnvironment::Node().url(),
                                          QueueType());
    ASSERT_TRUE(stack_->StartScheduler().ok());
    ASSERT_TRUE(stack_->StartGateway().ok());
    worker::WorkerOptions options;
    options.brokers = *amqp::ParseBrokerUrls(BrokerEnvironment::Node().url());
    options.queue_type = *amqp::ParseQueueType(QueueType());
    options.topics = {"delay"};
    options.concurrency = 4;
    options.scheduler_address = stack_->scheduler_address();
    worker_ = std::make_unique<worker::Worker>(options);
    worker_->Handle("record", [this](const worker::TaskContext& t) {
      runs_.Record(t);
      return worker::Result::Success();
    });
    // Asks for a retry until attempt `succeed_on` (from params {"n": N}).
    worker_->Handle("flaky", [this](const worker::TaskContext& t) {
      runs_.Record(t);
      int succeed_on =
          std::atoi(t.params.substr(t.params.find(':') + 1).c_str());
      return t.attempt >= succeed_on ? worker::Result::Success("finally")
                                     : worker::Result::Retry("not yet");
    });
    worker_->Handle("retry_after", [this](const worker::TaskContext& t) {
      runs_.Record(t);
      return t.attempt == 1
                 ? worker::Result::Retry("later", absl::Milliseconds(300))
                 : worker::Result::Success();
    });
    worker_->Handle("retry_in_3s", [this](const worker::TaskContext& t) {
      runs_.Record(t);
      return t.attempt == 1 ? worker::Result::Retry("later", absl::Seconds(3))
                            : worker::Result::Success();
    });
    worker_->Handle("fail_once", [this](const worker::TaskContext& t) {
      runs_.Record(t);
      return runs_.Count(t.task_id) == 1 ? worker::Result::Fail("permanent")
                                         : worker::Result::Success("replayed");
    });
    worker_->Handle("fail", [this](const worker::TaskContext& t) {
      runs_.Record(t);
      return worker::Result::Fail("still broken");
    });
    ASSERT_TRUE(worker_->Start().ok());
    ASSERT_TRUE(WaitFor([&] { return worker_->IsUp(); }));
  }

  void TearDown() override {
    worker_->Shutdown(absl::Seconds(5));
    absl::Status stopped = stack_->StopAll();
    EXPECT_TRUE(stopped.ok()) << stopped;
  }

  std::string Create(const std::string& task, int64_t delay_ms,
                     const std::string& params = "{}",
                     v1::RetryPolicy retry = {}) {
    v1::CreateTaskRequest request;
    request.set_topic("delay");
    request.set_task(task);
    request.set_delay_ms(delay_ms);
    request.set_params(params);
    *request.mutable_retry() = retry;
    auto created = stack_->client().CreateTask(request);
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? created->task_id() : "";
  }

  v1::Task WaitState(const std::string& id, v1::TaskState state,
                     absl::Duration timeout = absl::Seconds(30)) {
    v1::Task last;
    WaitFor(
        [&] {
          auto task = stack_->client().GetTask(id);
          if (task.ok()) last = *task;
          return task.ok() && task->state() == state;
        },
        timeout);
    return last;
  }

  // Runs ebatsctl against the stack (or a `gateway` elsewhere); expects exit
  // code `expected` and returns the end of its output (stdout and stderr).
  std::string Ctl(const std::vector<std::string>& args, int expected,
                  const std::string& gateway = "") {
    const std::string log =
        absl::StrCat(stack_->dir(), "/ctl-", ++ctl_runs_, ".log");
    std::vector<std::string> argv = {
        EBATS_CTL_BIN, "--scheduler", stack_->scheduler_address(), "--gateway",
        gateway.empty() ? stack_->gateway_address() : gateway};
    argv.insert(argv.end(), args.begin(), args.end());
    auto code = RunCommand(argv, {}, log, absl::Seconds(30));
    EXPECT_TRUE(code.ok()) << code.status();
    EXPECT_EQ(code.value_or(-1), expected) << LogTail(log, 20);
    return LogTail(log, 20);
  }

  // The id in ebatsctl's "created task ID".
  static std::string CreatedId(const std::string& output) {
    const std::string prefix = "created task ";
    const size_t at = output.find(prefix);
    if (at == std::string::npos) return "";
    const size_t start = at + prefix.size();
    return output.substr(start, output.find('\n', start) - start);
  }

  std::unique_ptr<EbatsStack> stack_;
  std::unique_ptr<worker::Worker> worker_;
  Runs runs_;
  int ctl_runs_ = 0;
};

TEST_F(DelayTest, DelaysFireOnTimeAndNeverEarly) {
  std::map<std::string, int64_t> ids;
  for (int64_t delay : {100, 1000, 3000}) ids[Create("record", delay)] = delay;
  for (const auto& [id, delay] : ids) {
    v1::Task task = WaitState(id, v1::TASK_STATE_SUCCEEDED);
    ASSERT_EQ(task.state(), v1::TASK_STATE_SUCCEEDED)
        << task.ShortDebugString();
    ASSERT_EQ(runs_.Count(id), 1u);
    const int64_t started = runs_.Of(id)[0];
    EXPECT_EQ(task.due_time_ms() - task.publish_time_ms(), delay);
    EXPECT_GE(started, task.due_time_ms())
        << "early by " << task.due_time_ms() - started;
    EXPECT_LE(started, task.due_time_ms() + 500)
        << "late by " << started - task.due_time_ms();
    EXPECT_GE(task.lateness_ms(), 0);
  }
}

TEST_F(DelayTest, ShortDelayIsNotStuckBehindALongOne) {
  const std::string hour = Create("record", 3'600'000);
  const std::string second = Create("record", 1000);
  v1::Task task =
      WaitState(second, v1::TASK_STATE_SUCCEEDED, absl::Seconds(10));
  ASSERT_EQ(task.state(), v1::TASK_STATE_SUCCEEDED);
  EXPECT_LE(runs_.Of(second)[0], task.due_time_ms() + 500);
  EXPECT_EQ(stack_->client().GetTask(hour)->state(), v1::TASK_STATE_SCHEDULED);
  EXPECT_EQ(runs_.Count(hour), 0u);
}

TEST_F(DelayTest, RetriesFollowThePolicyAndSucceedOnTheThirdAttempt) {
  v1::RetryPolicy retry;
  retry.add_intervals_ms(200);
  retry.add_intervals_ms(400);
  const std::string id = Create("flaky", 0, R"({"n":3})", retry);
  v1::Task task = WaitState(id, v1::TASK_STATE_SUCCEEDED);
  ASSERT_EQ(task.state(), v1::TASK_STATE_SUCCEEDED) << task.ShortDebugString();
  EXPECT_EQ(task.attempts(), 3);
  auto starts = runs_.Of(id);
  ASSERT_EQ(starts.size(), 3u);
  EXPECT_GE(starts[1] - starts[0], 200);
  EXPECT_LE(starts[1] - starts[0], 200 + 500);
  EXPECT_GE(starts[2] - starts[1], 400);
  EXPECT_LE(starts[2] - starts[1], 400 + 500);
}

TEST_F(DelayTest, RetryThroughTheSameLevelsAgainAndAgainIsNotDropped) {
  // Each retry waits at the same ladder levels; a re-published delivery
  // (with its x-death history) would be dropped by cycle detection.
  v1::RetryPolicy retry;
  retry.add_intervals_ms(300);
  retry.set_max_attempts(5);
  const std::string id = Create("flaky", 0, R"({"n":4})", retry);
  v1::Task task = WaitState(id, v1::TASK_STATE_SUCCEEDED);
  ASSERT_EQ(task.state(), v1::TASK_STATE_SUCCEEDED) << task.ShortDebugString();
  EXPECT_EQ(task.attempts(), 4);
}

TEST_F(DelayTest, RetryAfterReplacesTheNextInterval) {
  v1::RetryPolicy retry;
  retry.add_intervals_ms(60'000);
  const std::string id = Create("retry_after", 0, "{}", retry);
  v1::Task task = WaitState(id, v1::TASK_STATE_SUCCEEDED, absl::Seconds(10));
  ASSERT_EQ(task.state(), v1::TASK_STATE_SUCCEEDED);
  auto starts = runs_.Of(id);
  ASSERT_EQ(starts.size(), 2u);
  EXPECT_GE(starts[1] - starts[0], 300);
  EXPECT_LE(starts[1] - starts[0], 300 + 500);
}

TEST_F(DelayTest, ExhaustedAttemptsGoDead) {
  v1::RetryPolicy retry;
  retry.add_intervals_ms(50);
  retry.set_max_attempts(2);
  const std::string id = Create("flaky", 0, R"({"n":99})", retry);
  v1::Task task = WaitState(id, v1::TASK_STATE_DEAD);
  ASSERT_EQ(task.state(), v1::TASK_STATE_DEAD);
  EXPECT_EQ(task.dead_reason(), "exhausted");
  EXPECT_EQ(task.attempts(), 2);
  EXPECT_EQ(runs_.Count(id), 2u);
}

// The worker binary's --task_timeout (the README documents it) bounds a run
// whose retry policy sets no timeout of its own.
TEST_F(DelayTest, WorkerBinaryTimesOutARunByItsTaskTimeoutFlag) {
  absl::Status started = stack_->StartWorker(
      {"--topics=timeouts", "--drill_handlers", "--task_timeout=300ms"});
  ASSERT_TRUE(started.ok()) << started;
  v1::CreateTaskRequest request;
  request.set_topic("timeouts");
  request.set_task("flakyTask");
  request.set_params(R"({"sleep_ms": 2000})");
  request.mutable_retry()->set_max_attempts(1);
  auto created = stack_->client().CreateTask(request);
  ASSERT_TRUE(created.ok()) << created.status();
  v1::Task task = WaitState(created->task_id(), v1::TASK_STATE_DEAD);
  ASSERT_EQ(task.state(), v1::TASK_STATE_DEAD) << task.DebugString();
  EXPECT_EQ(task.dead_reason(), "timeout");
  EXPECT_NE(task.message().find("timed out after 300 ms"), std::string::npos)
      << task.message();
}

// SIGTERM stops a worker whose handler does not return: after the grace
// period the worker exits 0 without it, and the task runs again on another
// worker. The worker used to wait for every handler, so it never exited
// until a SIGKILL (and up.sh's Ctrl-C hung).
TEST_F(DelayTest, WorkerBinaryExitsOnSigtermPastAHandlerThatDoesNotReturn) {
  const std::vector<std::string> flags = {"--topics=stuck", "--drill_handlers",
                                          "--grace_seconds=1"};
  absl::Status started = stack_->StartWorker(flags);
  ASSERT_TRUE(started.ok()) << started;
  const std::string first = stack_->last_worker();
  v1::CreateTaskRequest request;
  request.set_topic("stuck");
  request.set_task("flakyTask");
  request.set_params(R"({"sleep_ms": 600000})");  // longer than the test
  auto created = stack_->client().CreateTask(request);
  ASSERT_TRUE(created.ok()) << created.status();
  const std::string id = created->task_id();
  ASSERT_EQ(WaitState(id, v1::TASK_STATE_RUNNING).state(),
            v1::TASK_STATE_RUNNING);

  const absl::Time signaled = absl::Now();
  absl::Status stopped = stack_->Stop(first);  // waits up to 30 s for exit 0
  ASSERT_TRUE(stopped.ok()) << stopped;
  EXPECT_LT(absl::Now() - signaled, absl::Seconds(20));
  // It says what it left behind.
  const std::string log =
      LogTail(absl::StrCat(stack_->dir(), "/", first, ".log"), 10);
  EXPECT_NE(log.find("stopped with 1 handler(s) still running; exiting "
                     "without them"),
            std::string::npos)
      << log;

  // The task went back to its queue: the next worker runs it again.
  started = stack_->StartWorker(flags);
  ASSERT_TRUE(started.ok()) << started;
  v1::Task task;
  EXPECT_TRUE(WaitFor([&] {
    auto got = stack_->client().GetTask(id);
    if (got.ok()) task = *got;
    return got.ok() && got->runs() == 2;
  })) << task.DebugString();
  EXPECT_EQ(task.state(), v1::TASK_STATE_RUNNING);
  EXPECT_EQ(task.attempts(), 1);
  stopped = stack_->Stop(stack_->last_worker());
  EXPECT_TRUE(stopped.ok()) << stopped;
}

TEST_F(DelayTest, FailIsDeadAtOnceAndReplayRunsItAgain) {
  v1::RetryPolicy retry;
  retry.add_intervals_ms(50);
  const std::string id = Create("fail_once", 0, "{}", retry);
  v1::Task task = WaitState(id, v1::TASK_STATE_DEAD);
  ASSERT_EQ(task.state(), v1::TASK_STATE_DEAD);
  EXPECT_EQ(task.dead_reason(), "failed");
  EXPECT_EQ(task.attempts(), 1);
  v1::ListTasksRequest dead;
  dead.set_topic("delay");
  dead.set_state(v1::TASK_STATE_DEAD);
  auto listed = stack_->client().ListTasks(dead);
  ASSERT_TRUE(listed.ok());
  EXPECT_GE(listed->tasks_size(), 1);

  v1::ReplayTasksRequest replay;
  replay.set_task_id(id);
  auto replayed = stack_->client().ReplayTasks(replay);
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  task = WaitState(id, v1::TASK_STATE_SUCCEEDED);
  ASSERT_EQ(task.state(), v1::TASK_STATE_SUCCEEDED);
  EXPECT_EQ(task.attempts(), 1);
  EXPECT_EQ(task.runs(), 1);  // not 2: nothing ran twice
  EXPECT_EQ(task.message(), "replayed");
  // Replaying a task that is not dead is refused.
  EXPECT_EQ(stack_->client().ReplayTasks(replay).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// Replaying a topic sends each of its dead tasks once, also when they fail
// again at once. The scheduler read the first page of dead tasks again and
// again until it was empty, so it found the replayed tasks dead again and
// replayed them over and over, for as long as their handler kept failing
// (and past the caller's deadline).
TEST_F(DelayTest, ReplayOfATopicSendsEachDeadTaskOnceEvenIfItDiesAgain) {
  constexpr int kTasks = 40;
  std::set<std::string> ids;
  for (int i = 0; i < kTasks; ++i) ids.insert(Create("fail", 0));
  ASSERT_EQ(ids.size(), static_cast<size_t>(kTasks));
  for (const std::string& id : ids) {
    ASSERT_EQ(WaitState(id, v1::TASK_STATE_DEAD).state(), v1::TASK_STATE_DEAD);
  }
  v1::ReplayTasksRequest replay;
  replay.set_topic("delay");
  auto replayed = stack_->client().ReplayTasks(replay);
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  EXPECT_EQ(replayed->replayed(), kTasks);
  std::multiset<std::string> sent(replayed->task_ids().begin(),
                                  replayed->task_ids().end());
  EXPECT_EQ(sent, std::multiset<std::string>(ids.begin(), ids.end()));
  for (const std::string& id : ids) {
    EXPECT_TRUE(WaitFor([&] { return runs_.Count(id) == 2; })) << id;
    EXPECT_EQ(WaitState(id, v1::TASK_STATE_DEAD).attempts(), 1) << id;
  }
  // Nothing is sent a third time.
  EXPECT_FALSE(WaitFor(
      [&] {
        for (const std::string& id : ids)
          if (runs_.Count(id) > 2) return true;
        return false;
      },
      absl::Milliseconds(500)));
}

// The caller's deadline stops a topic's replay after the round of 1,000 it
// is in: what was sent runs, the rest stays dead, and the same call again
// replays only that. (A server that ran on past the deadline would replay
// all of them in the first call.)
TEST_F(DelayTest, ReplayStoppedByItsDeadlineLeavesTheRestForTheNextCall) {
  constexpr int kTasks = 2500;  // three rounds
  std::vector<std::string> ids;
  for (int i = 0; i < kTasks; ++i) ids.push_back(Create("fail_once", 0));
  const auto dead_count = [&]() {
    v1::ListTasksRequest request;
    request.set_topic("delay");
    request.set_state(v1::TASK_STATE_DEAD);
    request.set_page_size(1000);
    int dead = 0;
    for (;;) {
      auto page = stack_->client().ListTasks(request);
      if (!page.ok()) return -1;
      dead += page->tasks_size();
      if (page->next_page_token().empty()) return dead;
      request.set_page_token(page->next_page_token());
    }
  };
  ASSERT_TRUE(
      WaitFor([&] { return dead_count() == kTasks; }, absl::Seconds(120)));

  client::ClientOptions hasty;
  hasty.scheduler_address = stack_->scheduler_address();
  hasty.timeout = absl::Milliseconds(50);
  v1::ReplayTasksRequest replay;
  replay.set_topic("delay");
  EXPECT_EQ(client::Client(hasty).ReplayTasks(replay).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  // The first call is over on the server once nothing changes for a second.
  int left = dead_count();
  for (;;) {
    absl::SleepFor(absl::Seconds(1));
    const int now = dead_count();
    if (now == left) break;
    left = now;
  }
  EXPECT_GT(left, 0);
  auto rest = stack_->client().ReplayTasks(replay);
  ASSERT_TRUE(rest.ok()) << rest.status();
  EXPECT_EQ(rest->replayed(), left);
  for (const std::string& id : ids) {
    ASSERT_EQ(WaitState(id, v1::TASK_STATE_SUCCEEDED).state(),
              v1::TASK_STATE_SUCCEEDED)
        << id;
    EXPECT_EQ(runs_.Count(id), 2u) << id;
  }
}

// What `ebatsctl replay --topic` prints: the count and the ids; and, when
// the call's deadline passed, what became of the topic's dead tasks.
TEST_F(DelayTest, EbatsctlReplaysATopicAndSaysWhatADeadlineLeft) {
  const std::string id = Create("fail", 0);
  ASSERT_EQ(WaitState(id, v1::TASK_STATE_DEAD).state(), v1::TASK_STATE_DEAD);
  const std::string replayed = Ctl({"replay", "--topic", "delay"}, 0);
  EXPECT_NE(replayed.find("replayed 1 task(s)\n  " + id), std::string::npos)
      << replayed;
  // A deadline already past when the call starts.
  const std::string late =
      Ctl({"--timeout", "1us", "replay", "--topic", "delay"}, 1);
  // It says which service did not answer in time, and where.
  EXPECT_NE(late.find("DEADLINE_EXCEEDED: scheduler at " +
                      stack_->scheduler_address() + ": "),
            std::string::npos)
      << late;
  EXPECT_NE(late.find("run the same command to replay the rest"),
            std::string::npos)
      << late;
}

// ebatsctl's delay and retry flags reach the task record, and `task` and
// `registrations` show the policy back.
TEST_F(DelayTest, EbatsctlCreatesDelayedTasksWithTheirRetryPolicy) {
  const std::string backoff =
      CreatedId(Ctl({"create-task", "delay", "record", "--delay", "1500ms",
                     "--retry-backoff", "100ms", "--retry-backoff-max", "1s",
                     "--retry-jitter", "0.2", "--max-attempts", "4"},
                    0));
  ASSERT_FALSE(backoff.empty());
  auto task = stack_->client().GetTask(backoff);
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->due_time_ms() - task->publish_time_ms(), 1500);
  EXPECT_EQ(task->retry().exponential().initial_ms(), 100);
  EXPECT_EQ(task->retry().exponential().max_ms(), 1000);
  EXPECT_DOUBLE_EQ(task->retry().exponential().jitter(), 0.2);
  EXPECT_EQ(task->max_attempts(), 4);
  const std::string shown = Ctl({"task", backoff}, 0);
  EXPECT_NE(shown.find("retry      backoff 100ms x2 max 1s +/-20%  "
                       "max-attempts=4"),
            std::string::npos)
      << shown;

  // --at to the millisecond.
  const int64_t at_ms = absl::ToUnixMillis(absl::Now() + absl::Seconds(2));
  const std::string at = CreatedId(
      Ctl({"create-task", "delay", "record", "--at",
           absl::FormatTime(absl::RFC3339_full, absl::FromUnixMillis(at_ms),
                            absl::UTCTimeZone())},
          0));
  ASSERT_FALSE(at.empty());
  // Days, which absl's durations do not spell.
  const std::string later =
      CreatedId(Ctl({"create-task", "delay", "record", "--delay", "2d12h"}, 0));
  ASSERT_FALSE(later.empty());
  auto later_task = stack_->client().GetTask(later);
  ASSERT_TRUE(later_task.ok()) << later_task.status();
  EXPECT_EQ(later_task->due_time_ms() - later_task->publish_time_ms(),
            absl::ToInt64Milliseconds(absl::Hours(60)));
  Ctl({"cancel", later}, 0);

  for (const std::string& id : {backoff, at}) {
    v1::Task done = WaitState(id, v1::TASK_STATE_SUCCEEDED);
    ASSERT_EQ(done.state(), v1::TASK_STATE_SUCCEEDED) << id;
    ASSERT_EQ(runs_.Count(id), 1u);
    EXPECT_GE(runs_.Of(id)[0], done.due_time_ms()) << id;
  }
  EXPECT_EQ(stack_->client().GetTask(at)->due_time_ms(), at_ms);

  // Past what the delay path reaches: refused before any call, in days.
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--delay", "400d"},
        {"--retry-intervals", "5s,398d"},
        {"--at", absl::FormatTime(absl::RFC3339_full,
                                  absl::Now() + absl::Hours(24 * 400),
                                  absl::UTCTimeZone())}}) {
    std::vector<std::string> create = {"create-task", "delay", "record"};
    create.insert(create.end(), args.begin(), args.end());
    const std::string too_far = Ctl(create, 2);
    EXPECT_NE(too_far.find("than the longest delay, 397d16h22m18.367s"),
              std::string::npos)
        << too_far;
  }
  // A gateway that is not there: the error says which address was tried and
  // which flag sets it.
  const std::string nowhere = absl::StrCat("127.0.0.1:", FreePort());
  const std::string refused =
      Ctl({"create-task", "delay", "record"}, 1, nowhere);
  EXPECT_NE(refused.find("error: UNAVAILABLE: gateway at " + nowhere + ": "),
            std::string::npos)
      << refused;
  EXPECT_NE(refused.find("hint: --gateway and --scheduler"), std::string::npos)
      << refused;

  const std::string both =
      Ctl({"create-task", "delay", "record", "--retry-intervals", "1s",
           "--retry-backoff", "1s"},
          2);
  EXPECT_NE(both.find("not both"), std::string::npos) << both;
  const std::string shape_only =
      Ctl({"create-task", "delay", "record", "--retry-jitter", "0.2"}, 2);
  EXPECT_NE(shape_only.find("give it too"), std::string::npos) << shape_only;
  // A timeout the worker could not honour is refused by the scheduler.
  const std::string too_long =
      Ctl({"create-task", "delay", "record", "--task-timeout", "1h"}, 1);
  EXPECT_NE(too_long.find("INVALID_ARGUMENT: retry.timeout_ms"),
            std::string::npos)
      << too_long;
  Ctl({"register", "ctl_backoff", "record", "--topic", "delay",
       "--retry-backoff", "1s", "--retry-backoff-max", "1m"},
      0);
  const std::string listed =
      Ctl({"registrations", "--event", "ctl_backoff"}, 0);
  EXPECT_NE(listed.find("retry=backoff 1s x2 max 1m"), std::string::npos)
      << listed;
}

// `register` says when no live worker would run the task: a misspelt name
// would otherwise show only as retries.
TEST_F(DelayTest, EbatsctlRegisterAndCreateTaskSayWhenNoWorkerRunsTheTask) {
  // The in-process worker has registered with the scheduler.
  ASSERT_TRUE(WaitFor([&] {
    auto workers = stack_->client().ListWorkers();
    return workers.ok() && workers->workers_size() > 0;
  }));
  // register and create-task say the same; an empty note: none expected.
  const std::string wrong_task =
      "warning: no live worker of topic delay has a handler for recrod";
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"register", "ctl_ok", "record", "--topic", "delay"}, ""},
      {{"register", "ctl_typo", "recrod", "--topic", "delay"}, wrong_task},
      {{"register", "ctl_nobody", "record", "--topic", "nobody"},
       "note: no live worker consumes topic nobody yet"},
      {{"create-task", "delay", "record", "--delay", "1h"}, ""},
      {{"create-task", "delay", "recrod", "--delay", "1h"}, wrong_task}};
  for (const auto& [args, note] : cases) {
    const std::string output = Ctl(args, 0);
    if (note.empty()) {
      EXPECT_EQ(output.find("no live worker"), std::string::npos) << output;
    } else {
      EXPECT_NE(output.find(note), std::string::npos) << output;
    }
  }
}

TEST_F(DelayTest, EbatsctlQueuesShowsTasksWaitingAndWhoConsumesThem) {
  // The in-process worker consumes "delay"; nobody consumes "unstaffed".
  Ctl({"create-task", "unstaffed", "record"}, 0);
  Ctl({"create-task", "unstaffed", "record"}, 0);
  Ctl({"create-task", "unstaffed", "record", "--delay", "1h"}, 0);
  // The worker registered with the scheduler, which so knows its topic.
  const std::regex waiting(R"(\nebats\.task\.unstaffed +2 +0\n)");
  const std::regex consumed(R"(\nebats\.task\.delay +\d+ +1\n)");
  // The ladder's levels are one row: the delayed task waits there (with
  // those of earlier tests: the broker is shared).
  const std::regex delayed(R"(\nebats\.delay\.l00\.\.l34 +[1-9]\d* +0\n)");
  std::string all;
  ASSERT_TRUE(WaitFor([&] {
    all = Ctl({"queues"}, 0);
    return std::regex_search(all, waiting) &&
           std::regex_search(all, consumed) && std::regex_search(all, delayed);
  })) << all;
  EXPECT_EQ(all.find("ebats.delay.l21"), std::string::npos) << all;
  // --json after the subcommand, with every field, zeros included.
  const std::string json = Ctl({"queues", "--topic", "unstaffed", "--json"}, 0);
  EXPECT_NE(json.find(R"({"queue":"ebats.dead.unstaffed","topic":"unstaffed",)"
                      R"("ready_messages":0,"consumers":0})"),
            std::string::npos)
      << json;
  EXPECT_TRUE(
      std::regex_search(all, std::regex(R"(queue +ready +consumers\n)")))
      << all;
  EXPECT_TRUE(
      std::regex_search(all, std::regex(R"(\nebats\.scheduler +\d+ +1\n)")))
      << all;
  EXPECT_NE(all.find("note: no worker consumes topic unstaffed"),
            std::string::npos)
      << all;
  EXPECT_EQ(all.find("topic delay;"), std::string::npos) << all;

  const std::string one = Ctl({"queues", "--topic", "delay"}, 0);
  EXPECT_NE(one.find("ebats.dead.delay"), std::string::npos) << one;
  EXPECT_EQ(one.find("ebats.scheduler"), std::string::npos) << one;
  EXPECT_EQ(one.find("unstaffed"), std::string::npos) << one;
  const std::string unknown = Ctl({"queues", "--topic", "no-such-topic"}, 1);
  EXPECT_NE(
      unknown.find("NOT_FOUND: scheduler.ListQueues: topic no-such-topic"),
      std::string::npos)
      << unknown;
}

TEST_F(DelayTest, CanceledTaskNeverRunsEvenAcrossASchedulerRestart) {
  const std::string canceled = Create("record", 2000);
  const std::string control = Create("record", 2000);
  // Right after CreateTask: the scheduler may not have recorded the task
  // yet, and the cancel waits for the record.
  v1::CancelTaskRequest cancel;
  cancel.set_task_id(canceled);
  auto response = stack_->client().CancelTask(cancel);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->task().state(), v1::TASK_STATE_CANCELED);

  ASSERT_TRUE(stack_->Stop("scheduler").ok());
  ASSERT_TRUE(stack_->StartScheduler().ok());
  ASSERT_EQ(WaitState(control, v1::TASK_STATE_SUCCEEDED).state(),
            v1::TASK_STATE_SUCCEEDED);
  // The canceled one was due at the same time; give it a moment anyway.
  EXPECT_FALSE(WaitFor([&] { return runs_.Count(canceled) > 0; },
                       absl::Milliseconds(500)));
  EXPECT_EQ(stack_->client().GetTask(canceled)->state(),
            v1::TASK_STATE_CANCELED);
  // A finished task cannot be canceled.
  cancel.set_task_id(control);
  EXPECT_EQ(stack_->client().CancelTask(cancel).status().code(),
            absl::StatusCode::kFailedPrecondition);
  cancel.set_task_id("no-such-task");
  EXPECT_EQ(stack_->client().CancelTask(cancel).status().code(),
            absl::StatusCode::kNotFound);
}

// The due stage claims a task in the store ahead of its due time and
// releases it without the store, so a store that is busy at the due time
// (here: another connection holds its write lock) does not make it late.
TEST_F(DelayTest, ClaimedTaskRunsOnTimeWhileTheStoreIsLocked) {
  ASSERT_TRUE(stack_->Stop("scheduler").ok());
  ASSERT_TRUE(stack_->StartScheduler({"--due_claim_lead=800ms"}).ok());
  const std::string id = Create("record", 2500);
  const v1::Task claimed =
      WaitState(id, v1::TASK_STATE_PENDING, absl::Seconds(10));
  ASSERT_EQ(claimed.state(), v1::TASK_STATE_PENDING)
      << claimed.ShortDebugString();
  auto db = store::Database::Open(stack_->dir() + "/scheduler.db");
  ASSERT_TRUE(db.ok()) << db.status();
  ASSERT_TRUE((*db)->Exec("BEGIN IMMEDIATE").ok());
  const int64_t locked_at = absl::ToUnixMillis(absl::Now());
  const bool ran =
      WaitFor([&] { return runs_.Count(id) > 0; }, absl::Seconds(5));
  ASSERT_TRUE((*db)->Exec("ROLLBACK").ok());
  ASSERT_LT(locked_at, claimed.due_time_ms()) << "locked too late to tell";
  ASSERT_TRUE(ran) << "not released while the store was locked";
  EXPECT_GE(runs_.Of(id)[0], claimed.due_time_ms());
  EXPECT_LE(runs_.Of(id)[0], claimed.due_time_ms() + 500)
      << "late by " << runs_.Of(id)[0] - claimed.due_time_ms();
  // Its reports wait for the lock and are recorded after it.
  EXPECT_EQ(WaitState(id, v1::TASK_STATE_SUCCEEDED).state(),
            v1::TASK_STATE_SUCCEEDED);
}

// A task claimed (PENDING) but not yet released when the scheduler stops is
// not lost: its delivery was never acked, it comes back through ebats.due
// and runs once, not early.
TEST_F(DelayTest, ClaimedTaskRunsAfterASchedulerRestart) {
  ASSERT_TRUE(stack_->Stop("scheduler").ok());
  ASSERT_TRUE(stack_->StartScheduler({"--due_claim_lead=1s"}).ok());
  const std::string id = Create("record", 3000);
  ASSERT_EQ(WaitState(id, v1::TASK_STATE_PENDING, absl::Seconds(10)).state(),
            v1::TASK_STATE_PENDING);
  ASSERT_TRUE(stack_->Stop("scheduler").ok());
  ASSERT_EQ(runs_.Count(id), 0u) << "released before the stop";
  ASSERT_TRUE(stack_->StartScheduler().ok());
  const v1::Task done = WaitState(id, v1::TASK_STATE_SUCCEEDED);
  ASSERT_EQ(done.state(), v1::TASK_STATE_SUCCEEDED) << done.ShortDebugString();
  ASSERT_EQ(runs_.Count(id), 1u);
  EXPECT_GE(runs_.Of(id)[0], done.due_time_ms());
}

// The due stage acks in arrival order, so a released task's ack waits behind
// an older task it still holds. A scheduler killed then gets the released
// copy back; when that task is already waiting for its retry, the old copy
// must not run it again before the retry is due (the retry has its own
// message).
TEST_F(DelayTest, KilledSchedulerDoesNotBringARetryForward) {
  // Both go straight to the due stage (under the ladder's 4.096 s unit plus
  // its 1 s lead): `holder` first, so its delivery is the older one and stays
  // unsettled until after the kill.
  const std::string holder = Create("record", 4000);
  const std::string retried = Create("retry_in_3s", 200);
  const v1::Task retrying =
      WaitState(retried, v1::TASK_STATE_RETRYING, absl::Seconds(10));
  ASSERT_EQ(retrying.state(), v1::TASK_STATE_RETRYING)
      << retrying.ShortDebugString();
  ASSERT_TRUE(stack_->Kill("scheduler").ok());
  const int64_t killed_ms = absl::ToUnixMillis(absl::Now());
  ASSERT_TRUE(stack_->StartScheduler().ok());
  ASSERT_LT(killed_ms + 500, retrying.due_time_ms())
      << "killed too late to tell";
  ASSERT_EQ(runs_.Count(holder), 0u) << "holder released before the kill";

  const v1::Task done = WaitState(retried, v1::TASK_STATE_SUCCEEDED);
  ASSERT_EQ(done.state(), v1::TASK_STATE_SUCCEEDED) << done.ShortDebugString();
  EXPECT_EQ(done.attempts(), 2);
  const std::vector<int64_t> runs = runs_.Of(retried);
  ASSERT_EQ(runs.size(), 2u) << "the old copy ran it again";
  EXPECT_GE(runs[1], retrying.due_time_ms())
      << "retry ran early by " << retrying.due_time_ms() - runs[1];
  // The holder came back too and ran once, not early.
  const v1::Task held = WaitState(holder, v1::TASK_STATE_SUCCEEDED);
  ASSERT_EQ(held.state(), v1::TASK_STATE_SUCCEEDED);
  ASSERT_EQ(runs_.Count(holder), 1u);
  EXPECT_GE(runs_.Of(holder)[0], held.due_time_ms());
}

TEST_F(DelayTest, DelayedTasksSurviveAGracefulBrokerRestart) {
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) ids.push_back(Create("record", 3000 + 50 * i));
  RabbitMqNode& node = BrokerEnvironment::Node();
  ASSERT_TRUE(node.Stop().ok());
  const absl::Time down = absl::Now();
  ASSERT_TRUE(node.Start().ok());
  const absl::Duration outage = absl::Now() - down;
  for (const auto& id : ids) {
    ASSERT_TRUE(
        WaitFor([&] { return runs_.Count(id) >= 1; }, absl::Seconds(60)))
        << "lost task " << id;
  }
  std::cout << "graceful broker restart: outage "
            << absl::FormatDuration(outage) << ", " << ids.size()
            << " delayed tasks all ran\n";
}

TEST_F(DelayTest, DelayedTasksSurviveABrokerKillInQuorumMode) {
  if (QueueType() != "quorum") {
    GTEST_SKIP() << "classic queues dead-letter at-most-once; a hard kill may "
                    "lose tasks";
  }
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) ids.push_back(Create("record", 2500 + 50 * i));
  RabbitMqNode& node = BrokerEnvironment::Node();
  node.Kill();
  ASSERT_TRUE(node.Start().ok());
  for (const auto& id : ids) {
    ASSERT_TRUE(
        WaitFor([&] { return runs_.Count(id) >= 1; }, absl::Seconds(60)))
        << "lost task " << id;
  }
}

}  // namespace
}  // namespace ebats::testing
