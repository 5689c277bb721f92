#include "libs/store/store.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "libs/store/sqlite_db.h"

namespace ebats::store {
namespace {

std::unique_ptr<Store> OpenMemory() {
  auto store = Store::Open(":memory:");
  EXPECT_TRUE(store.ok()) << store.status();
  return *std::move(store);
}

v1::Registration Reg(const char* event, const char* topic, const char* task) {
  v1::Registration r;
  r.set_event(event);
  r.set_topic(topic);
  r.set_task(task);
  return r;
}

v1::Task NewTask(const std::string& id, const std::string& topic = "demo") {
  v1::Task t;
  t.set_id(id);
  t.set_event_id("ev1");
  t.set_event("order_paid");
  t.set_topic(topic);
  t.set_task("virtualShipping");
  t.set_params(R"({"order_id": "FB138020392193312"})");
  t.set_state(v1::TASK_STATE_PENDING);
  t.set_max_attempts(6);
  t.set_publish_time_ms(1000);
  t.set_due_time_ms(1000);
  return t;
}

// Worker report `outcome` of task t1's attempt `attempt`, run by w1 from
// `start_ms` (outcomes finish 5 ms later).
v1::TaskResult Report(v1::Outcome outcome, int attempt = 1,
                      int64_t start_ms = 1005) {
  v1::TaskResult r;
  r.set_task_id("t1");
  r.set_outcome(outcome);
  r.set_attempt(attempt);
  r.set_start_time_ms(start_ms);
  r.set_worker_id("w1");
  if (outcome != v1::OUTCOME_STARTED) r.set_finish_time_ms(start_ms + 5);
  return r;
}

TEST(StoreTest, RegistrationIsIdempotentForSameSettings) {
  auto store = OpenMemory();
  EXPECT_EQ(*store->PutRegistration(Reg("e", "demo", "t")), true);
  EXPECT_EQ(*store->PutRegistration(Reg("e", "demo", "t")), false);
  auto other = Reg("e", "demo", "t");
  other.set_delay_ms(10);
  EXPECT_EQ(store->PutRegistration(other).status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST(StoreTest, ListAndDeleteRegistrations) {
  auto store = OpenMemory();
  ASSERT_TRUE(store->PutRegistration(Reg("a", "demo", "t1")).ok());
  ASSERT_TRUE(store->PutRegistration(Reg("b", "demo", "t2")).ok());
  EXPECT_EQ(store->ListRegistrations("")->size(), 2u);
  EXPECT_EQ(store->ListRegistrations("a")->size(), 1u);
  EXPECT_TRUE(store->DeleteRegistration("a", "demo", "t1").ok());
  EXPECT_EQ(store->DeleteRegistration("a", "demo", "t1").code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store->ListRegistrations("")->size(), 1u);
}

TEST(StoreTest, InsertTasksReportsExistingAndDispatched) {
  auto store = OpenMemory();
  std::vector<InsertOutcome> outcomes;
  ASSERT_TRUE(
      store->InsertTasks({NewTask("t1"), NewTask("t2")}, &outcomes).ok());
  EXPECT_EQ(outcomes, (std::vector<InsertOutcome>{InsertOutcome::kInserted,
                                                  InsertOutcome::kInserted}));
  ASSERT_TRUE(store->MarkDispatched({"t1"}, 2000).ok());
  ASSERT_TRUE(
      store->InsertTasks({NewTask("t1"), NewTask("t2")}, &outcomes).ok());
  EXPECT_EQ(outcomes,
            (std::vector<InsertOutcome>{InsertOutcome::kExistsDispatched,
                                        InsertOutcome::kExistsNotDispatched}));
}

TEST(StoreTest, AwaitTaskFindsATaskRecordedWhileItWaits) {
  auto store = OpenMemory();
  std::vector<InsertOutcome> outcomes;
  ASSERT_TRUE(store->InsertTasks({NewTask("known")}, &outcomes).ok());
  EXPECT_EQ(store->AwaitTask("known", absl::InfinitePast())->id(), "known");

  // Two waiters for one task, one for another; other tasks' inserts (and
  // an insert of a task already there) do not end the wait.
  absl::StatusOr<v1::Task> late_too;
  std::thread second_waiter([&] {
    late_too = store->AwaitTask("late", absl::Now() + absl::Seconds(30));
  });
  absl::StatusOr<v1::Task> other;
  std::thread other_waiter([&] {
    other = store->AwaitTask("other", absl::Now() + absl::Seconds(30));
  });
  std::thread inserter([&] {
    absl::SleepFor(absl::Milliseconds(50));
    std::vector<InsertOutcome> ignored;
    EXPECT_TRUE(
        store->InsertTasks({NewTask("known"), NewTask("other")}, &ignored)
            .ok());
    absl::SleepFor(absl::Milliseconds(50));
    EXPECT_TRUE(store->InsertTasks({NewTask("late")}, &ignored).ok());
  });
  auto late = store->AwaitTask("late", absl::Now() + absl::Seconds(30));
  inserter.join();
  second_waiter.join();
  other_waiter.join();
  ASSERT_TRUE(late.ok()) << late.status();
  EXPECT_EQ(late->state(), v1::TASK_STATE_PENDING);
  ASSERT_TRUE(late_too.ok()) << late_too.status();
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(other->id(), "other");

  const absl::Time start = absl::Now();
  EXPECT_TRUE(absl::IsNotFound(
      store->AwaitTask("never", start + absl::Milliseconds(100)).status()));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(100));
  EXPECT_TRUE(absl::IsNotFound(
      store->AwaitTask("never", absl::InfinitePast()).status()));
}

TEST(StoreTest, GetTaskKeepsParamsByteExact) {
  auto store = OpenMemory();
  std::vector<InsertOutcome> outcomes;
  ASSERT_TRUE(store->InsertTasks({NewTask("t1")}, &outcomes).ok());
  auto task = store->GetTask("t1");
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->params(), R"({"order_id": "FB138020392193312"})");
  EXPECT_EQ(task->state(), v1::TASK_STATE_PENDING);
  EXPECT_EQ(store->GetTask("nope").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(StoreTest, ResultsMoveTheStateForward) {
  auto store = OpenMemory();
  std::vector<InsertOutcome> outcomes;
  ASSERT_TRUE(store->InsertTasks({NewTask("t1")}, &outcomes).ok());
  v1::TaskResult started = Report(v1::OUTCOME_STARTED);
  v1::TaskResult done = Report(v1::OUTCOME_SUCCEEDED);
  done.set_time_used_us(5000);
  done.set_message("shipped");
  int unknown = -1;
  ASSERT_TRUE(store->ApplyResults({started, done, started}, &unknown).ok());
  EXPECT_EQ(unknown, 0);
  auto task = store->GetTask("t1");
  ASSERT_TRUE(task.ok());
  // A STARTED after the result is a repeat of the run (e.g. redelivered
  // after a lost ack): it leaves the state alone but counts as a run.
  EXPECT_EQ(task->state(), v1::TASK_STATE_SUCCEEDED);
  EXPECT_EQ(task->attempts(), 1);
  EXPECT_EQ(task->runs(), 2);
  EXPECT_EQ(task->lateness_ms(), 5);
  EXPECT_EQ(task->message(), "shipped");
  EXPECT_EQ(task->worker_id(), "w1");

  v1::TaskResult stray = done;
  stray.set_task_id("nope");
  ASSERT_TRUE(store->ApplyResults({stray}, &unknown).ok());
  EXPECT_EQ(unknown, 1);
}

// A run shorter than the worker's start-report delay has no STARTED: its
// outcome says so and counts the run itself, once, whatever else arrives.
TEST(StoreTest, AnOutcomeWithAnUnreportedStartCountsItsRun) {
  auto store = OpenMemory();
  std::vector<InsertOutcome> outcomes;
  ASSERT_TRUE(store->InsertTasks({NewTask("t1")}, &outcomes).ok());
  v1::TaskResult retry = Report(v1::OUTCOME_RETRY);
  retry.set_retry_due_time_ms(2000);
  retry.set_start_unreported(true);
  ASSERT_TRUE(store->ApplyResults({retry}, nullptr).ok());
  auto task = store->GetTask("t1");
  ASSERT_TRUE(task.ok());
  EXPECT_EQ(task->state(), v1::TASK_STATE_RETRYING);
  EXPECT_EQ(task->runs(), 1);
  EXPECT_EQ(task->start_time_ms(), 1005);
  EXPECT_EQ(task->worker_id(), "w1");

  // The next attempt ran long enough to be reported STARTED: one more run.
  v1::TaskResult done = Report(v1::OUTCOME_SUCCEEDED, 2, 2003);
  ASSERT_TRUE(
      store->ApplyResults({Report(v1::OUTCOME_STARTED, 2, 2003)}, nullptr)
          .ok());
  ASSERT_TRUE(store->ApplyResults({done}, nullptr).ok());
  task = store->GetTask("t1");
  ASSERT_TRUE(task.ok());
  EXPECT_EQ(task->state(), v1::TASK_STATE_SUCCEEDED);
  EXPECT_EQ(task->attempts(), 2);
  EXPECT_EQ(task->runs(), 2);
  EXPECT_EQ(task->lateness_ms(), 3);
}

// The store folds a run's STARTED and outcome into one UPDATE when they
// arrive together; the record must be what one-by-one reports give.
TEST(StoreTest, ReportsInOneBatchRecordWhatTheyDoOneByOne) {
  const v1::TaskResult started = Report(v1::OUTCOME_STARTED);
  const v1::TaskResult done = Report(v1::OUTCOME_SUCCEEDED);
  v1::TaskResult retry = Report(v1::OUTCOME_RETRY);
  retry.set_retry_due_time_ms(2000);
  const v1::TaskResult started2 = Report(v1::OUTCOME_STARTED, 2, 2003);
  const v1::TaskResult done2 = Report(v1::OUTCOME_SUCCEEDED, 2, 2003);
  const std::vector<std::vector<v1::TaskResult>> sequences = {
      {started, done},
      {done, started},
      {started, started, done},
      {started, done, started, done},
      {started, retry, started2, done2},
      {started2, done2, started, retry},
  };
  for (bool canceled : {false, true}) {
    for (const auto& sequence : sequences) {
      auto batched = OpenMemory();
      auto single = OpenMemory();
      std::vector<InsertOutcome> outcomes;
      v1::Task task = NewTask("t1");
      if (canceled) task.set_state(v1::TASK_STATE_SCHEDULED);
      for (Store* store : {batched.get(), single.get()}) {
        ASSERT_TRUE(store->InsertTasks({task}, &outcomes).ok());
        if (canceled) {
          ASSERT_TRUE(store->CancelTask("t1").ok());
        }
      }
      ASSERT_TRUE(batched->ApplyResults(sequence, nullptr).ok());
      for (const v1::TaskResult& r : sequence)
        ASSERT_TRUE(single->ApplyResults({r}, nullptr).ok());
      auto want = single->GetTask("t1");
      auto got = batched->GetTask("t1");
      ASSERT_TRUE(want.ok() && got.ok());
      EXPECT_EQ(got->SerializeAsString(), want->SerializeAsString())
          << "sequence of " << sequence.size() << ", canceled=" << canceled
          << "\n got " << got->ShortDebugString() << "\nwant "
          << want->ShortDebugString();
    }
  }
}

TEST(StoreTest, FailedGoesDead) {
  auto store = OpenMemory();
  std::vector<InsertOutcome> outcomes;
  ASSERT_TRUE(store->InsertTasks({NewTask("t1")}, &outcomes).ok());
  v1::TaskResult failed;
  failed.set_task_id("t1");
  failed.set_outcome(v1::OUTCOME_FAILED);
  failed.set_attempt(1);
  ASSERT_TRUE(store->ApplyResults({failed}, nullptr).ok());
  EXPECT_EQ(store->GetTask("t1")->state(), v1::TASK_STATE_DEAD);
  EXPECT_EQ(store->GetTask("t1")->dead_reason(), "failed");
}

TEST(StoreTest, ListTasksFiltersAndPages) {
  auto store = OpenMemory();
  std::vector<InsertOutcome> outcomes;
  std::vector<v1::Task> tasks;
  for (int i = 0; i < 5; ++i) tasks.push_back(NewTask("t" + std::to_string(i)));
  tasks.push_back(NewTask("x", "other"));
  ASSERT_TRUE(store->InsertTasks(tasks, &outcomes).ok());
  TaskFilter demo;
  demo.topic = "demo";
  auto first = store->ListTasks(demo, 2, "");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->tasks.size(), 2u);
  EXPECT_EQ(first->tasks[0].id(), "t4");  // newest first
  std::vector<std::string> seen;
  std::string token = first->next_page_token;
  for (const auto& t : first->tasks) seen.push_back(t.id());
  while (!token.empty()) {
    auto page = store->ListTasks(demo, 2, token);
    ASSERT_TRUE(page.ok());
    for (const auto& t : page->tasks) seen.push_back(t.id());
    token = page->next_page_token;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"t4", "t3", "t2", "t1", "t0"}));
  TaskFilter succeeded;
  succeeded.state = v1::TASK_STATE_SUCCEEDED;
  EXPECT_TRUE(store->ListTasks(succeeded, 0, "")->tasks.empty());
  EXPECT_EQ(store->ListTasks(demo, 2, "garbage").status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Every filter combination, the dead ones through their partial index,
// paged newest first, on a store that also holds many tasks of other states.
TEST(StoreTest, ListTasksByEventTopicAndDeadState) {
  auto store = OpenMemory();
  std::vector<InsertOutcome> outcomes;
  std::vector<v1::Task> tasks;
  std::vector<v1::TaskResult> results;
  for (int i = 0; i < 60; ++i) {
    v1::Task t = NewTask("t" + std::to_string(i), i % 2 ? "odd" : "even");
    t.set_event_id("e" + std::to_string(i / 10));
    tasks.push_back(t);
    v1::TaskResult r;
    r.set_task_id(t.id());
    r.set_attempt(1);
    r.set_outcome(i % 3 == 0 ? v1::OUTCOME_FAILED : v1::OUTCOME_SUCCEEDED);
    results.push_back(r);
  }
  ASSERT_TRUE(store->InsertTasks(tasks, &outcomes).ok());
  ASSERT_TRUE(store->ApplyResults(results, nullptr).ok());
  auto ids = [&](const TaskFilter& filter) {
    std::vector<std::string> seen;
    std::string token;
    do {
      auto page = store->ListTasks(filter, 4, token);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) break;
      for (const auto& t : page->tasks) seen.push_back(t.id());
      token = page->next_page_token;
    } while (!token.empty());
    return seen;
  };
  auto expected = [&](auto keep) {
    std::vector<std::string> want;
    for (int i = 59; i >= 0; --i) {
      if (keep(i)) want.push_back("t" + std::to_string(i));
    }
    return want;
  };
  TaskFilter dead;
  dead.state = v1::TASK_STATE_DEAD;
  EXPECT_EQ(ids(dead), expected([](int i) { return i % 3 == 0; }));
  dead.topic = "odd";
  EXPECT_EQ(ids(dead), expected([](int i) { return i % 3 == 0 && i % 2; }));
  dead.event_id = "e3";
  EXPECT_EQ(ids(dead),
            expected([](int i) { return i % 3 == 0 && i % 2 && i / 10 == 3; }));
  TaskFilter by_event;
  by_event.event_id = "e2";
  EXPECT_EQ(ids(by_event), expected([](int i) { return i / 10 == 2; }));
  TaskFilter succeeded;
  succeeded.topic = "even";
  succeeded.state = v1::TASK_STATE_SUCCEEDED;
  EXPECT_EQ(ids(succeeded),
            expected([](int i) { return i % 3 != 0 && i % 2 == 0; }));
  // A replayed task leaves the dead listing.
  ASSERT_TRUE(store->PrepareReplay("t0", 2000).ok());
  dead = TaskFilter();
  dead.state = v1::TASK_STATE_DEAD;
  EXPECT_EQ(ids(dead), expected([](int i) { return i % 3 == 0 && i > 0; }));
}

// A path in the test's temp dir with no store (nor log) left there.
std::string FreshPath(const std::string& name) {
  std::string path = ::testing::TempDir() + "/" + name;
  for (const char* suffix : {"", "-wal", "-shm"})
    std::remove((path + suffix).c_str());
  return path;
}

TEST(StoreTest, SurvivesReopen) {
  const std::string path = FreshPath("store_reopen.db");
  {
    auto store = Store::Open(path);
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->PutRegistration(Reg("e", "demo", "t")).ok());
  }
  auto store = Store::Open(path);
  ASSERT_TRUE(store.ok());
  EXPECT_EQ((*store)->ListRegistrations("")->size(), 1u);
}

TEST(StoreTest, TopicsAreRememberedOnceAndAcrossAReopen) {
  const std::string path = FreshPath("store_topics.db");
  {
    auto store = Store::Open(path);
    ASSERT_TRUE(store.ok());
    EXPECT_TRUE((*store)->ListTopics()->empty());
    ASSERT_TRUE((*store)->AddTopic("reports").ok());
    ASSERT_TRUE((*store)->AddTopic("billing").ok());
    ASSERT_TRUE((*store)->AddTopic("reports").ok());
  }
  auto store = Store::Open(path);
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(*(*store)->ListTopics(),
            (std::vector<std::string>{"billing", "reports"}));
}

// A waiter wakes only for a task that stays recorded. Here a trigger
// refuses the batch's second task after its first, the awaited one, was
// written: the insert is rolled back, the waiter keeps waiting, and the
// insert that follows is what it finds.
TEST(StoreTest, ARolledBackInsertDoesNotEndAWait) {
  const std::string path = FreshPath("store_rollback.db");
  auto store = Store::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  {
    auto other = Database::Open(path);
    ASSERT_TRUE(other.ok()) << other.status();
    ASSERT_TRUE((*other)
                    ->Exec("CREATE TRIGGER refuse BEFORE INSERT ON tasks "
                           "WHEN NEW.id = 'refused' BEGIN "
                           "SELECT RAISE(ABORT, 'refused by the test'); END")
                    .ok());
  }
  absl::StatusOr<v1::Task> awaited;
  std::thread waiter([&] {
    awaited = (*store)->AwaitTask("awaited", absl::Now() + absl::Seconds(30));
  });
  absl::SleepFor(absl::Milliseconds(50));  // the waiter is waiting
  std::vector<InsertOutcome> outcomes;
  absl::Status refused = (*store)->InsertTasks(
      {NewTask("awaited"), NewTask("refused")}, &outcomes);
  EXPECT_NE(refused.message().find("refused by the test"),
            absl::string_view::npos)
      << refused;
  EXPECT_TRUE(absl::IsNotFound((*store)->GetTask("awaited").status()));
  absl::SleepFor(absl::Milliseconds(50));  // a waiter woken wrongly returns
  ASSERT_TRUE((*store)->InsertTasks({NewTask("awaited")}, &outcomes).ok());
  waiter.join();
  ASSERT_TRUE(awaited.ok()) << awaited.status();
  EXPECT_EQ(awaited->id(), "awaited");
}

// Inserts 100 tasks with ids "<prefix>-0".."<prefix>-99" in one batch.
absl::Status InsertHundred(Store& store, const std::string& prefix) {
  std::vector<v1::Task> tasks;
  for (int i = 0; i < 100; ++i)
    tasks.push_back(NewTask(absl::StrCat(prefix, "-", i)));
  std::vector<InsertOutcome> outcomes;
  return store.InsertTasks(tasks, &outcomes);
}

// Writes checkpoint the log only past 4096 pages (see store.h): below that
// the store's own thread must copy it into the database file while the
// store is open.
TEST(StoreTest, CopiesItsLogIntoTheDatabaseFileInTheBackground) {
  const std::string path = FreshPath("store_checkpoint.db");
  auto store = Store::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  for (int batch = 0; batch < 50; ++batch)
    ASSERT_TRUE(InsertHundred(**store, absl::StrCat("cp", batch)).ok());
  // 5,000 tasks are ~0.7 MB of table and index pages; the file starts
  // at one page.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  std::error_code error;
  while (std::filesystem::file_size(path, error) < 400000 &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_GE(std::filesystem::file_size(path, error), 400000u)
      << "the log was not checkpointed";
  EXPECT_EQ((*store)->GetTask("cp49-99")->id(), "cp49-99");
}

// Under writes without a pause the checkpoint thread never finds the log
// wholly copied with no write in between, so the log cannot restart: the
// writer's own checkpoint at 4096 pages bounds it (without, it grew to
// ~400 MB in 8 s here).
TEST(StoreTest, LogStaysBoundedUnderWritesWithoutAPause) {
  const std::string path = FreshPath("store_busy.db");
  auto store = Store::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  std::uintmax_t largest_log = 0;
  for (int batch = 0; batch < 1500; ++batch) {
    ASSERT_TRUE(InsertHundred(**store, absl::StrCat("busy", batch)).ok());
    std::error_code error;
    largest_log =
        std::max(largest_log, std::filesystem::file_size(path + "-wal", error));
  }
  // 4096 pages of 4 KiB and the batch that crossed the mark.
  EXPECT_LT(largest_log, 40u << 20);
}

TEST(StoreTest, OpensAStoreFromBeforeWorkersReportedTasksInFlight) {
  const std::string path = FreshPath("store_old_workers.db");
  {
    auto db = Database::Open(path);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)
                    ->Exec("CREATE TABLE workers (id TEXT PRIMARY KEY, spec "
                           "BLOB NOT NULL, last_heartbeat_ms INTEGER NOT "
                           "NULL); INSERT INTO workers VALUES ('w1', '', 7)")
                    .ok());
  }
  auto store = Store::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  auto workers = (*store)->ListWorkers();
  ASSERT_EQ(workers->size(), 1u);
  EXPECT_EQ((*workers)[0].in_flight(), 0);
  EXPECT_TRUE((*store)->TouchWorker("w1", 8, 2).ok());
  EXPECT_EQ((*store)->ListWorkers()->at(0).in_flight(), 2);
}

v1::TaskResult Report(const std::string& id, v1::Outcome outcome, int attempt) {
  v1::TaskResult r;
  r.set_task_id(id);
  r.set_outcome(outcome);
  r.set_attempt(attempt);
  return r;
}

TEST(StoreTest, CancelOnlyFromScheduledOrRetrying) {
  auto store = OpenMemory();
  std::vector<InsertOutcome> outcomes;
  v1::Task scheduled = NewTask("s");
  scheduled.set_state(v1::TASK_STATE_SCHEDULED);
  ASSERT_TRUE(store->InsertTasks({scheduled, NewTask("p")}, &outcomes).ok());
  auto canceled = store->CancelTask("s");
  ASSERT_TRUE(canceled.ok()) << canceled.status();
  EXPECT_EQ(canceled->state(), v1::TASK_STATE_CANCELED);
  auto pending = store->CancelTask("p");
  EXPECT_EQ(pending.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(pending.status().message().find("pending"),
            absl::string_view::npos);
  EXPECT_EQ(store->CancelTask("nope").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(StoreTest, ReleaseDropsCanceledAndFinishedTasks) {
  auto store = OpenMemory();
  std::vector<InsertOutcome> outcomes;
  v1::Task a = NewTask("a"), b = NewTask("b"), c = NewTask("c");
  a.set_state(v1::TASK_STATE_SCHEDULED);
  a.set_due_time_ms(a.publish_time_ms() + 10'000);
  b.set_state(v1::TASK_STATE_SCHEDULED);
  ASSERT_TRUE(store->InsertTasks({a, b, c}, &outcomes).ok());
  ASSERT_TRUE(store->CancelTask("b").ok());
  ASSERT_TRUE(
      store->ApplyResults({Report("c", v1::OUTCOME_SUCCEEDED, 1)}, nullptr)
          .ok());
  std::vector<ReleaseDecision> decisions;
  ASSERT_TRUE(store
                  ->ReleaseTasks({{"a", 1}, {"b", 1}, {"c", 1}, {"unknown", 1}},
                                 &decisions)
                  .ok());
  EXPECT_EQ(decisions, (std::vector<ReleaseDecision>{
                           ReleaseDecision::kRelease, ReleaseDecision::kDrop,
                           ReleaseDecision::kDrop, ReleaseDecision::kRelease}));
  EXPECT_EQ(store->GetTask("a")->state(), v1::TASK_STATE_PENDING);
  // A claimed task that comes back (the scheduler stopped before sending
  // it) is released again, not lost.
  ASSERT_TRUE(store->ReleaseTasks({{"a", 1}}, &decisions).ok());
  EXPECT_EQ(decisions,
            (std::vector<ReleaseDecision>{ReleaseDecision::kRelease}));
  // Canceling after the release (the claim) is too late, and the error says
  // why a task that is not due yet is pending.
  auto late = store->CancelTask("a");
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(late.status().message().find("before its due time"),
            absl::string_view::npos)
      << late.status();
}

// A due copy of a run that comes back after it was released (the scheduler
// stopped before acking it) must not bring the task's retry forward; a
// worker's re-run of a run that crashed (classic queues) runs.
TEST(StoreTest, ReleaseDropsAnOldCopyOfARetryingTask) {
  auto store = OpenMemory();
  std::vector<InsertOutcome> outcomes;
  v1::Task t = NewTask("r");
  t.set_state(v1::TASK_STATE_SCHEDULED);
  ASSERT_TRUE(store->InsertTasks({t}, &outcomes).ok());
  std::vector<ReleaseDecision> decisions;
  const auto release = [&](int attempt, bool rerun = false) {
    EXPECT_TRUE(store->ReleaseTasks({{"r", attempt, rerun}}, &decisions).ok());
    return decisions.at(0);
  };
  EXPECT_EQ(release(1), ReleaseDecision::kRelease);
  ASSERT_TRUE(
      store->ApplyResults({Report("r", v1::OUTCOME_STARTED, 1)}, nullptr).ok());
  // Its worker crashed: the re-run copy of attempt 1 runs.
  EXPECT_EQ(release(1, /*rerun=*/true), ReleaseDecision::kRelease);
  v1::TaskResult retry = Report("r", v1::OUTCOME_RETRY, 1);
  retry.set_retry_due_time_ms(t.publish_time_ms() + 60'000);
  ASSERT_TRUE(store->ApplyResults({retry}, nullptr).ok());
  ASSERT_EQ(store->GetTask("r")->state(), v1::TASK_STATE_RETRYING);
  EXPECT_EQ(release(1), ReleaseDecision::kDrop);
  EXPECT_EQ(store->GetTask("r")->state(), v1::TASK_STATE_RETRYING);
  // The retry's own message, when it is due.
  EXPECT_EQ(release(2), ReleaseDecision::kRelease);
  EXPECT_EQ(store->GetTask("r")->state(), v1::TASK_STATE_PENDING);
}

TEST(StoreTest, RetryRecordsTheNextDueTimeAndOldReportsDoNotWin) {
  auto store = OpenMemory();
  std::vector<InsertOutcome> outcomes;
  ASSERT_TRUE(store->InsertTasks({NewTask("t")}, &outcomes).ok());
  v1::TaskResult retry = Report("t", v1::OUTCOME_RETRY, 1);
  retry.set_retry_due_time_ms(9000);
  ASSERT_TRUE(store->ApplyResults({retry}, nullptr).ok());
  EXPECT_EQ(store->GetTask("t")->state(), v1::TASK_STATE_RETRYING);
  EXPECT_EQ(store->GetTask("t")->due_time_ms(), 9000);
  // Attempt 2 succeeds; a late duplicate of attempt 1's report changes nothing.
  ASSERT_TRUE(store
                  ->ApplyResults({Report("t", v1::OUTCOME_SUCCEEDED, 2), retry},
                                 nullptr)
                  .ok());
  EXPECT_EQ(store->GetTask("t")->state(), v1::TASK_STATE_SUCCEEDED);
  EXPECT_EQ(store->GetTask("t")->attempts(), 2);
}

// Replay resets the run count with the attempts: runs > attempts means a
// run was repeated (a worker died or its ack was lost), and every replayed
// task said so ("some ran again") when runs kept counting.
TEST(StoreTest, ReplayOnlyDeadTasksAndResetsAttemptsAndRuns) {
  auto store = OpenMemory();
  std::vector<InsertOutcome> outcomes;
  ASSERT_TRUE(store->InsertTasks({NewTask("t")}, &outcomes).ok());
  EXPECT_EQ(store->PrepareReplay("t", 5).status().code(),
            absl::StatusCode::kFailedPrecondition);
  v1::TaskResult dead = Report("t", v1::OUTCOME_RETRY, 6);
  dead.set_dead_reason("exhausted");
  ASSERT_TRUE(
      store->ApplyResults({Report("t", v1::OUTCOME_STARTED, 6)}, nullptr).ok());
  ASSERT_TRUE(store->ApplyResults({dead}, nullptr).ok());
  ASSERT_EQ(store->GetTask("t")->state(), v1::TASK_STATE_DEAD);
  ASSERT_EQ(store->GetTask("t")->runs(), 1);
  auto replayed = store->PrepareReplay("t", 5);
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  EXPECT_EQ(replayed->state(), v1::TASK_STATE_PENDING);
  EXPECT_EQ(replayed->attempts(), 0);
  EXPECT_EQ(replayed->runs(), 0);
  EXPECT_TRUE(replayed->dead_reason().empty());
  v1::TaskResult succeeded = Report("t", v1::OUTCOME_SUCCEEDED, 1);
  succeeded.set_start_unreported(true);  // a short run: no STARTED report
  ASSERT_TRUE(store->ApplyResults({succeeded}, nullptr).ok());
  EXPECT_EQ(store->GetTask("t")->state(), v1::TASK_STATE_SUCCEEDED);
  EXPECT_EQ(store->GetTask("t")->attempts(), 1);
  EXPECT_EQ(store->GetTask("t")->runs(), 1);
}

// A topic's replay prepares a round in one transaction: only the tasks
// still dead, in the order asked, and each once.
TEST(StoreTest, PrepareReplaysTakesTheDeadOnesOnce) {
  auto store = OpenMemory();
  std::vector<InsertOutcome> outcomes;
  ASSERT_TRUE(
      store
          ->InsertTasks({NewTask("a"), NewTask("pending"), NewTask("b")},
                        &outcomes)
          .ok());
  for (const char* id : {"b", "a"}) {
    v1::TaskResult dead = Report(id, v1::OUTCOME_FAILED, 1);
    dead.set_dead_reason("failed");
    ASSERT_TRUE(store->ApplyResults({dead}, nullptr).ok());
  }
  auto prepared = store->PrepareReplays({"a", "pending", "b", "unknown"}, 7);
  ASSERT_TRUE(prepared.ok()) << prepared.status();
  ASSERT_EQ(prepared->size(), 2u);
  EXPECT_EQ((*prepared)[0].id(), "a");
  EXPECT_EQ((*prepared)[1].id(), "b");
  for (const v1::Task& task : *prepared) {
    EXPECT_EQ(task.state(), v1::TASK_STATE_PENDING);
    EXPECT_EQ(task.attempts(), 0);
    EXPECT_EQ(task.due_time_ms(), 7);
  }
  EXPECT_EQ(store->GetTask("pending")->state(), v1::TASK_STATE_PENDING);
  EXPECT_TRUE(store->PrepareReplays({"a", "b"}, 8)->empty());
}

TEST(StoreTest, WorkersHeartbeat) {
  auto store = OpenMemory();
  v1::Worker w;
  w.set_id("w1");
  w.add_topics("demo");
  ASSERT_TRUE(store->PutWorker(w).ok());
  EXPECT_TRUE(store->TouchWorker("w1", 42, /*in_flight=*/3).ok());
  EXPECT_EQ(store->TouchWorker("w2", 42).code(), absl::StatusCode::kNotFound);
  auto workers = store->ListWorkers();
  ASSERT_EQ(workers->size(), 1u);
  EXPECT_EQ((*workers)[0].last_heartbeat_ms(), 42);
  EXPECT_EQ((*workers)[0].in_flight(), 3);
  EXPECT_EQ((*workers)[0].topics(0), "demo");
}

TEST(StoreTest, WorkersAreDeletedAndForgotten) {
  auto store = OpenMemory();
  for (const char* id : {"old", "recent", "leaving"}) {
    v1::Worker w;
    w.set_id(id);
    w.set_last_heartbeat_ms(std::string(id) == "old" ? 1000 : 5000);
    ASSERT_TRUE(store->PutWorker(w).ok());
  }
  EXPECT_TRUE(store->DeleteWorker("leaving").ok());
  EXPECT_TRUE(store->DeleteWorker("never-known").ok());
  EXPECT_EQ(store->ForgetWorkers(/*before_ms=*/5000).value_or(-1), 1);
  auto workers = store->ListWorkers();
  ASSERT_EQ(workers->size(), 1u);
  EXPECT_EQ((*workers)[0].id(), "recent");
}

TEST(StoreTest, IdempotencyKeyGenerationsAreRemembered) {
  auto store = OpenMemory();
  std::vector<int> generations;
  ASSERT_TRUE(store
                  ->KeyGenerations({{"k1", 1000},
                                    {"k1", 1500},
                                    {"k2", 1500},
                                    {"k1", 2100},
                                    {"k1", 2200}},
                                   1000, &generations)
                  .ok());
  EXPECT_EQ(generations, (std::vector<int>{0, 0, 0, 1, 1}));
  // A late redelivery of the first event joins the current generation: a
  // duplicate, never a new event.
  ASSERT_TRUE(store->KeyGenerations({{"k1", 1000}}, 1000, &generations).ok());
  EXPECT_EQ(generations, (std::vector<int>{1}));
}

}  // namespace
}  // namespace ebats::store
