#include "libs/store/store.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "libs/common/status_macros.h"
#include "libs/domain/dispatch_plan.h"
#include "libs/domain/registration.h"
#include "libs/domain/task_state.h"
#include "spdlog/spdlog.h"

namespace ebats::store {
namespace {

constexpr char kSchema[] = R"sql(
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
-- Every dispatch and report looks a task up by id; with SQLite's default
-- 2 MiB page cache a store of a few hundred thousand tasks reads most
-- index pages back from the OS (a third of the scheduler's CPU went to
-- pread copies). 64 MiB of cache, plus reads through a memory map.
PRAGMA cache_size = -65536;
PRAGMA mmap_size = 268435456;
CREATE TABLE IF NOT EXISTS registrations (
  event TEXT NOT NULL, topic TEXT NOT NULL, task TEXT NOT NULL,
  spec BLOB NOT NULL,
  PRIMARY KEY (event, topic, task));
CREATE TABLE IF NOT EXISTS tasks (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  event_id TEXT NOT NULL, event TEXT NOT NULL, topic TEXT NOT NULL, task TEXT NOT NULL,
  params TEXT NOT NULL,
  state INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  publish_time_ms INTEGER NOT NULL DEFAULT 0, due_time_ms INTEGER NOT NULL DEFAULT 0,
  start_time_ms INTEGER NOT NULL DEFAULT 0, finish_time_ms INTEGER NOT NULL DEFAULT 0,
  time_used_us INTEGER NOT NULL DEFAULT 0, lateness_ms INTEGER NOT NULL DEFAULT 0,
  message TEXT NOT NULL DEFAULT '', worker_id TEXT NOT NULL DEFAULT '',
  dead_reason TEXT NOT NULL DEFAULT '', retry BLOB NOT NULL DEFAULT x'',
  dispatch_time_ms INTEGER NOT NULL DEFAULT 0,
  runs INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS tasks_by_event ON tasks (event_id);
-- Dead tasks by topic, for listing and replaying them. Partial: the bulk of
-- tasks (pending, running, succeeded) never enter it, so their state
-- changes cost no index work. Full indexes on (topic, state) and (state)
-- cost a third of the store's time per task and no query used them.
DROP INDEX IF EXISTS tasks_by_topic_state;
DROP INDEX IF EXISTS tasks_by_state;
CREATE INDEX IF NOT EXISTS tasks_dead_by_topic ON tasks (topic) WHERE state = 6;
CREATE TABLE IF NOT EXISTS topics (topic TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS idempotency_keys (
  event_id TEXT PRIMARY KEY, generation INTEGER NOT NULL,
  started_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS workers (
  id TEXT PRIMARY KEY, spec BLOB NOT NULL, last_heartbeat_ms INTEGER NOT NULL,
  in_flight INTEGER NOT NULL DEFAULT 0);
)sql";

// The schema's partial index names the dead state by number.
static_assert(v1::TASK_STATE_DEAD == 6, "update tasks_dead_by_topic");

constexpr char kTaskColumns[] =
    "id, event_id, event, topic, task, params, state, attempts, max_attempts, "
    "publish_time_ms, due_time_ms, start_time_ms, finish_time_ms, "
    "time_used_us, "
    "message, worker_id, dead_reason, retry, lateness_ms, seq, runs";

v1::Task ReadTask(const Statement& s) {
  v1::Task t;
  t.set_id(s.Text(0));
  t.set_event_id(s.Text(1));
  t.set_event(s.Text(2));
  t.set_topic(s.Text(3));
  t.set_task(s.Text(4));
  t.set_params(s.Text(5));
  t.set_state(static_cast<v1::TaskState>(s.Int(6)));
  t.set_attempts(static_cast<int32_t>(s.Int(7)));
  t.set_max_attempts(static_cast<int32_t>(s.Int(8)));
  t.set_publish_time_ms(s.Int(9));
  t.set_due_time_ms(s.Int(10));
  t.set_start_time_ms(s.Int(11));
  t.set_finish_time_ms(s.Int(12));
  t.set_time_used_us(s.Int(13));
  t.set_message(s.Text(14));
  t.set_worker_id(s.Text(15));
  t.set_dead_reason(s.Text(16));
  t.mutable_retry()->ParseFromString(s.Text(17));
  t.set_lateness_ms(s.Int(18));
  t.set_runs(static_cast<int32_t>(s.Int(20)));
  return t;
}

// Commits on success, rolls back otherwise.
absl::Status InTransaction(Database& db,
                           const std::function<absl::Status()>& body) {
  EBATS_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  absl::Status status = body();
  if (!status.ok()) {
    db.Exec("ROLLBACK").IgnoreError();
    return status;
  }
  return db.Exec("COMMIT");
}

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& path) {
  EBATS_ASSIGN_OR_RETURN(auto db, Database::Open(path));
  std::unique_ptr<Store> store(new Store(std::move(db)));
  EBATS_RETURN_IF_ERROR(store->Init());
  // In memory (tests) there is no log to copy and no second connection.
  if (path != ":memory:" && !path.empty()) {
    EBATS_RETURN_IF_ERROR(store->StartCheckpoints(path));
  }
  return store;
}

Store::~Store() {
  if (!checkpointer_.joinable()) return;
  checkpoint_stop_.Notify();
  checkpointer_.join();
}

absl::Status Store::StartCheckpoints(const std::string& path) {
  EBATS_ASSIGN_OR_RETURN(checkpoint_db_, Database::Open(path));
  // A connection sees the log only once it has read the database;
  // until then a checkpoint finds "not in WAL mode" and does nothing.
  EBATS_RETURN_IF_ERROR(checkpoint_db_->Exec("PRAGMA journal_mode = WAL"));
  {
    absl::MutexLock lock(&mu_);
    // The writer checkpoints only a log past 4096 pages (16 MiB): under
    // writes without a pause the thread's checkpoints never leave the log
    // wholly copied between two writes, and only then can it restart. A log
    // that grew anyway is cut back to 64 MiB when it restarts.
    EBATS_RETURN_IF_ERROR(
        db_->Exec("PRAGMA wal_autocheckpoint = 4096; "
                  "PRAGMA journal_size_limit = 67108864;"));
  }
  checkpointer_ = std::thread([this] { CheckpointLoop(); });
  return absl::OkStatus();
}

void Store::CheckpointLoop() {
  constexpr absl::Duration kInterval = absl::Milliseconds(100);
  bool failing = false;
  while (!checkpoint_stop_.WaitForNotificationWithTimeout(kInterval)) {
    absl::Status status = checkpoint_db_->CheckpointWal();
    // Once per spell of failures. Nothing is lost meanwhile: the log grows
    // until writes checkpoint it themselves (at 4096 pages).
    if (!status.ok() && !failing) {
      spdlog::warn("{} (writes checkpoint the log themselves meanwhile)",
                   status.ToString());
    }
    failing = !status.ok();
  }
}

absl::Status Store::Init() {
  absl::MutexLock lock(&mu_);
  EBATS_RETURN_IF_ERROR(db_->Exec(kSchema));
  // Stores created before tasks counted their runs get the column.
  if (!db_->Exec("SELECT runs FROM tasks LIMIT 0").ok()) {
    EBATS_RETURN_IF_ERROR(db_->Exec(
        "ALTER TABLE tasks ADD COLUMN runs INTEGER NOT NULL DEFAULT 0"));
  }
  // And before heartbeats carried the tasks in flight.
  if (!db_->Exec("SELECT in_flight FROM workers LIMIT 0").ok()) {
    EBATS_RETURN_IF_ERROR(db_->Exec(
        "ALTER TABLE workers ADD COLUMN in_flight INTEGER NOT NULL DEFAULT 0"));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> Store::PutRegistration(
    const v1::Registration& registration) {
  absl::MutexLock lock(&mu_);
  EBATS_ASSIGN_OR_RETURN(
      auto get,
      db_->Prepare(
          "SELECT spec FROM registrations WHERE event = ? AND topic = ? "
          "AND task = ?"));
  get->Bind(1, registration.event())
      .Bind(2, registration.topic())
      .Bind(3, registration.task());
  EBATS_ASSIGN_OR_RETURN(bool found, get->Step());
  if (found) {
    v1::Registration existing;
    existing.ParseFromString(get->Text(0));
    if (domain::SameSettings(existing, registration)) return false;
    return absl::AlreadyExistsError(
        absl::StrCat("registration ", registration.event(), " -> ",
                     registration.task(), " on topic ", registration.topic(),
                     " already exists with other settings (",
                     existing.ShortDebugString(), "); unregister it first"));
  }
  EBATS_ASSIGN_OR_RETURN(
      auto put,
      db_->Prepare("INSERT INTO registrations (event, topic, task, spec) "
                   "VALUES (?, ?, ?, ?)"));
  put->Bind(1, registration.event())
      .Bind(2, registration.topic())
      .Bind(3, registration.task());
  put->BindBlob(4, registration.SerializeAsString());
  EBATS_RETURN_IF_ERROR(put->Run());
  return true;
}

absl::Status Store::DeleteRegistration(absl::string_view event,
                                       absl::string_view topic,
                                       absl::string_view task) {
  absl::MutexLock lock(&mu_);
  EBATS_ASSIGN_OR_RETURN(
      auto del,
      db_->Prepare(
          "DELETE FROM registrations WHERE event = ? AND topic = ? AND "
          "task = ?"));
  del->Bind(1, event).Bind(2, topic).Bind(3, task);
  EBATS_RETURN_IF_ERROR(del->Run());
  if (db_->Changes() == 0) {
    return absl::NotFoundError(absl::StrCat("no registration ", event, " -> ",
                                            task, " on topic ", topic));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::Registration>> Store::ListRegistrations(
    absl::string_view event) {
  absl::MutexLock lock(&mu_);
  EBATS_ASSIGN_OR_RETURN(
      auto list,
      db_->Prepare("SELECT spec FROM registrations WHERE ?1 = '' OR event = ?1 "
                   "ORDER BY event, topic, task"));
  list->Bind(1, event);
  std::vector<v1::Registration> registrations;
  for (;;) {
    EBATS_ASSIGN_OR_RETURN(bool row, list->Step());
    if (!row) break;
    registrations.emplace_back().ParseFromString(list->Text(0));
  }
  return registrations;
}

absl::Status Store::AddTopic(absl::string_view topic) {
  absl::MutexLock lock(&mu_);
  EBATS_ASSIGN_OR_RETURN(
      auto add,
      db_->Prepare("INSERT OR IGNORE INTO topics (topic) VALUES (?)"));
  add->Bind(1, topic);
  return add->Run();
}

absl::StatusOr<std::vector<std::string>> Store::ListTopics() {
  absl::MutexLock lock(&mu_);
  EBATS_ASSIGN_OR_RETURN(
      auto list, db_->Prepare("SELECT topic FROM topics ORDER BY topic"));
  std::vector<std::string> topics;
  for (;;) {
    EBATS_ASSIGN_OR_RETURN(bool row, list->Step());
    if (!row) break;
    topics.push_back(list->Text(0));
  }
  return topics;
}

absl::Status Store::InsertTasks(const std::vector<v1::Task>& tasks,
                                std::vector<InsertOutcome>* outcomes) {
  absl::MutexLock lock(&mu_);
  outcomes->clear();
  EBATS_ASSIGN_OR_RETURN(
      auto insert,
      db_->Prepare(
          "INSERT OR IGNORE INTO tasks (id, event_id, event, topic, task, "
          "params, "
          "state, attempts, max_attempts, publish_time_ms, due_time_ms, retry) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)"));
  EBATS_ASSIGN_OR_RETURN(
      auto dispatched,
      db_->Prepare("SELECT dispatch_time_ms FROM tasks WHERE id = ?"));
  std::vector<const std::string*> awaited;  // inserted, and waited for
  absl::Status status = InTransaction(*db_, [&]() -> absl::Status {
    awaited.clear();
    for (const v1::Task& t : tasks) {
      insert->Bind(1, t.id())
          .Bind(2, t.event_id())
          .Bind(3, t.event())
          .Bind(4, t.topic());
      insert->Bind(5, t.task()).Bind(6, t.params()).Bind(7, int64_t{t.state()});
      insert->Bind(8, int64_t{t.max_attempts()}).Bind(9, t.publish_time_ms());
      insert->Bind(10, t.due_time_ms())
          .BindBlob(11, t.retry().SerializeAsString());
      EBATS_RETURN_IF_ERROR(insert->Run());
      if (db_->Changes() > 0) {
        outcomes->push_back(InsertOutcome::kInserted);
        if (!awaiting_.empty() && awaiting_.contains(t.id()))
          awaited.push_back(&t.id());
        continue;
      }
      dispatched->Bind(1, t.id());
      EBATS_ASSIGN_OR_RETURN(bool row, dispatched->Step());
      bool was_dispatched = row && dispatched->Int(0) > 0;
      dispatched->Reset();
      outcomes->push_back(was_dispatched ? InsertOutcome::kExistsDispatched
                                         : InsertOutcome::kExistsNotDispatched);
    }
    return absl::OkStatus();
  });
  if (status.ok()) {
    for (const std::string* id : awaited)
      for (Awaiting* waiter : awaiting_[*id]) waiter->recorded = true;
  }
  return status;
}

absl::Status Store::KeyGenerations(
    const std::vector<std::pair<std::string, int64_t>>& events,
    int64_t window_ms, std::vector<int>* generations) {
  absl::MutexLock lock(&mu_);
  generations->clear();
  EBATS_ASSIGN_OR_RETURN(auto get,
                         db_->Prepare("SELECT generation, started_ms FROM "
                                      "idempotency_keys WHERE event_id = ?"));
  EBATS_ASSIGN_OR_RETURN(
      auto put,
      db_->Prepare("INSERT OR REPLACE INTO idempotency_keys (event_id, "
                   "generation, started_ms) VALUES (?, ?, ?)"));
  return InTransaction(*db_, [&]() -> absl::Status {
    for (const auto& [event_id, publish_time_ms] : events) {
      get->Bind(1, event_id);
      EBATS_ASSIGN_OR_RETURN(bool known, get->Step());
      const int generation = known ? static_cast<int>(get->Int(0)) : 0;
      const int64_t started_ms = known ? get->Int(1) : 0;
      get->Reset();
      domain::KeyGeneration next = domain::NextKeyGeneration(
          known, generation, started_ms, publish_time_ms, window_ms);
      if (next.changed) {
        put->Bind(1, event_id)
            .Bind(2, int64_t{next.generation})
            .Bind(3, next.started_ms);
        EBATS_RETURN_IF_ERROR(put->Run());
      }
      generations->push_back(next.generation);
    }
    return absl::OkStatus();
  });
}

absl::Status Store::MarkDispatched(const std::vector<std::string>& task_ids,
                                   int64_t now_ms) {
  absl::MutexLock lock(&mu_);
  EBATS_ASSIGN_OR_RETURN(
      auto mark,
      db_->Prepare("UPDATE tasks SET dispatch_time_ms = ? WHERE id = ? AND "
                   "dispatch_time_ms = 0"));
  return InTransaction(*db_, [&]() -> absl::Status {
    for (const auto& id : task_ids) {
      mark->Bind(1, now_ms).Bind(2, id);
      EBATS_RETURN_IF_ERROR(mark->Run());
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::Task> Store::GetTask(absl::string_view task_id) {
  absl::MutexLock lock(&mu_);
  return GetTaskLocked(task_id);
}

absl::StatusOr<v1::Task> Store::AwaitTask(absl::string_view task_id,
                                          absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<v1::Task> task = GetTaskLocked(task_id);
  if (!absl::IsNotFound(task.status()) || deadline <= absl::Now()) return task;
  Awaiting self;
  awaiting_[task_id].push_back(&self);
  auto recorded = [&self]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return self.recorded;
  };
  mu_.AwaitWithDeadline(absl::Condition(&recorded), deadline);
  // Looked up again: other waiters may have rehashed the map meanwhile.
  auto it = awaiting_.find(task_id);
  std::vector<Awaiting*>& waiters = it->second;
  waiters.erase(std::find(waiters.begin(), waiters.end(), &self));
  if (waiters.empty()) awaiting_.erase(it);
  return self.recorded ? GetTaskLocked(task_id) : task;
}

absl::StatusOr<v1::Task> Store::GetTaskLocked(absl::string_view task_id) {
  EBATS_ASSIGN_OR_RETURN(
      auto get, db_->Prepare(absl::StrCat("SELECT ", kTaskColumns,
                                          " FROM tasks WHERE id = ?")));
  get->Bind(1, task_id);
  EBATS_ASSIGN_OR_RETURN(bool row, get->Step());
  if (!row)
    return absl::NotFoundError(
        absl::StrCat("no task with id \"", task_id, "\""));
  return ReadTask(*get);
}

absl::StatusOr<TaskPage> Store::ListTasks(const TaskFilter& filter,
                                          int page_size,
                                          absl::string_view page_token) {
  int64_t before = INT64_MAX;
  if (!page_token.empty() &&
      (!absl::SimpleAtoi(page_token, &before) || before <= 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page token \"", page_token, "\" was not issued by ListTasks"));
  }
  int limit = page_size <= 0 ? 100 : std::min(page_size, 1000);
  // Only the filters given, and the state as a literal: SQLite then uses
  // tasks_by_event for an event and tasks_dead_by_topic for dead tasks (a
  // partial index needs the literal; named, since without statistics the
  // planner would rather walk seq backwards through every task).
  const bool dead_only =
      filter.state == v1::TASK_STATE_DEAD && filter.event_id.empty();
  std::string where = "seq < ?1";
  if (!filter.event_id.empty()) absl::StrAppend(&where, " AND event_id = ?2");
  if (!filter.topic.empty()) absl::StrAppend(&where, " AND topic = ?3");
  if (filter.state != v1::TASK_STATE_UNSPECIFIED)
    absl::StrAppend(&where, " AND state = ", int{filter.state});
  absl::MutexLock lock(&mu_);
  EBATS_ASSIGN_OR_RETURN(auto list,
                         db_->Prepare(absl::StrCat(
                             "SELECT ", kTaskColumns, " FROM tasks",
                             dead_only ? " INDEXED BY tasks_dead_by_topic" : "",
                             " WHERE ", where, " ORDER BY seq DESC LIMIT ?4")));
  list->Bind(1, before);
  if (!filter.event_id.empty()) list->Bind(2, filter.event_id);
  if (!filter.topic.empty()) list->Bind(3, filter.topic);
  list->Bind(4, int64_t{limit} + 1);
  TaskPage page;
  int64_t last_seq = 0;
  for (;;) {
    EBATS_ASSIGN_OR_RETURN(bool row, list->Step());
    if (!row) break;
    if (static_cast<int>(page.tasks.size()) == limit) {
      page.next_page_token = absl::StrCat(last_seq);
      break;
    }
    page.tasks.push_back(ReadTask(*list));
    last_seq = list->Int(19);
  }
  return page;
}

absl::Status Store::ApplyResults(const std::vector<v1::TaskResult>& results,
                                 int* unknown) {
  absl::MutexLock lock(&mu_);
  // Every run counts (redeliveries and duplicates included); RUNNING only
  // from a state that waits for a run, and never for an older attempt than
  // the one recorded (reports of different workers race). SET expressions
  // all see the row as it was.
  static const std::string kStartedSql = absl::StrReplaceAll(
      "UPDATE tasks SET runs = runs + 1, "
      "state = CASE WHEN $run THEN ?1 ELSE state END, "
      "attempts = CASE WHEN $run THEN ?2 ELSE attempts END, "
      "start_time_ms = CASE WHEN $run THEN ?3 ELSE start_time_ms END, "
      "worker_id = CASE WHEN $run THEN ?4 ELSE worker_id END, "
      "lateness_ms = CASE WHEN $run THEN ?3 - due_time_ms ELSE lateness_ms END "
      "WHERE id = ?5",
      {{"$run", "(attempts <= ?2 AND state IN (?6, ?7, ?8, ?1))"}});
  EBATS_ASSIGN_OR_RETURN(auto started, db_->Prepare(kStartedSql));
  EBATS_ASSIGN_OR_RETURN(
      auto finished,
      db_->Prepare(
          "UPDATE tasks SET state = ?1, attempts = ?2, start_time_ms = ?3, "
          "finish_time_ms = ?4, time_used_us = ?5, message = ?6, worker_id = "
          "?7, "
          "dead_reason = ?8, lateness_ms = ?3 - due_time_ms, "
          "due_time_ms = CASE WHEN ?11 > 0 THEN ?11 ELSE due_time_ms END, "
          "runs = runs + ?12 "
          "WHERE id = ?9 AND attempts <= ?2 AND state != ?10"));
  EBATS_ASSIGN_OR_RETURN(auto exists,
                         db_->Prepare("SELECT 1 FROM tasks WHERE id = ?"));
  // Under load a run's STARTED and its outcome usually arrive in one batch.
  // The outcome's UPDATE sets every column STARTED would, so the pair costs
  // one UPDATE (counting the run) instead of two.
  absl::flat_hash_set<std::pair<absl::string_view, int32_t>> outcomes;
  for (const v1::TaskResult& r : results) {
    if (r.outcome() != v1::OUTCOME_STARTED)
      outcomes.emplace(r.task_id(), r.attempt());
  }
  absl::flat_hash_set<std::pair<absl::string_view, int32_t>> merged;
  auto run_started = [&](const v1::TaskResult& r) {
    started->Bind(1, int64_t{v1::TASK_STATE_RUNNING})
        .Bind(2, int64_t{r.attempt()});
    started->Bind(3, r.start_time_ms())
        .Bind(4, r.worker_id())
        .Bind(5, r.task_id());
    started->Bind(6, int64_t{v1::TASK_STATE_PENDING});
    started->Bind(7, int64_t{v1::TASK_STATE_RETRYING});
    started->Bind(8, int64_t{v1::TASK_STATE_SCHEDULED});
    return started->Run();
  };
  int missing = 0;
  absl::Status status = InTransaction(*db_, [&]() -> absl::Status {
    for (const v1::TaskResult& r : results) {
      if (r.outcome() == v1::OUTCOME_STARTED) {
        if (outcomes.contains({r.task_id(), r.attempt()}) &&
            merged.emplace(r.task_id(), r.attempt()).second) {
          continue;
        }
        EBATS_RETURN_IF_ERROR(run_started(r));
        continue;
      }
      v1::TaskState state = v1::TASK_STATE_SUCCEEDED;
      std::string dead_reason = r.dead_reason();
      if (r.outcome() == v1::OUTCOME_FAILED) {
        state = v1::TASK_STATE_DEAD;
        if (dead_reason.empty()) dead_reason = "failed";
      } else if (r.outcome() == v1::OUTCOME_RETRY) {
        state =
            dead_reason.empty() ? v1::TASK_STATE_RETRYING : v1::TASK_STATE_DEAD;
      }
      finished->Bind(1, int64_t{state}).Bind(2, int64_t{r.attempt()});
      finished->Bind(3, r.start_time_ms()).Bind(4, r.finish_time_ms());
      finished->Bind(5, r.time_used_us())
          .Bind(6, r.message())
          .Bind(7, r.worker_id());
      finished->Bind(8, dead_reason).Bind(9, r.task_id());
      finished->Bind(10, int64_t{v1::TASK_STATE_CANCELED});
      finished->Bind(
          11, state == v1::TASK_STATE_RETRYING ? r.retry_due_time_ms() : 0);
      const bool counts_run =
          merged.erase({r.task_id(), r.attempt()}) > 0 || r.start_unreported();
      // A STARTED after this outcome belongs to another run.
      outcomes.erase({r.task_id(), r.attempt()});
      finished->Bind(12, int64_t{counts_run ? 1 : 0});
      EBATS_RETURN_IF_ERROR(finished->Run());
      // Nothing changed: canceled, superseded, or unknown. Count the last,
      // which is rare enough to look up.
      if (db_->Changes() == 0) {
        // The run still counts, as its STARTED alone would have.
        if (counts_run) EBATS_RETURN_IF_ERROR(run_started(r));
        exists->Bind(1, r.task_id());
        EBATS_ASSIGN_OR_RETURN(bool row, exists->Step());
        exists->Reset();
        if (!row) ++missing;
      }
    }
    return absl::OkStatus();
  });
  if (unknown != nullptr) *unknown = missing;
  return status;
}

absl::Status Store::ReleaseTasks(const std::vector<DueRun>& runs,
                                 std::vector<ReleaseDecision>* decisions) {
  absl::MutexLock lock(&mu_);
  decisions->clear();
  EBATS_ASSIGN_OR_RETURN(
      auto release,
      db_->Prepare("UPDATE tasks SET state = ?1 WHERE id = ?2 AND (state IN "
                   "(?3, ?5) OR (state = ?4 AND (attempts < ?6 OR ?7)))"));
  EBATS_ASSIGN_OR_RETURN(auto state,
                         db_->Prepare("SELECT state FROM tasks WHERE id = ?"));
  return InTransaction(*db_, [&]() -> absl::Status {
    for (const DueRun& run : runs) {
      release->Bind(1, int64_t{v1::TASK_STATE_PENDING}).Bind(2, run.task_id);
      release->Bind(3, int64_t{v1::TASK_STATE_SCHEDULED});
      release->Bind(4, int64_t{v1::TASK_STATE_RETRYING});
      release->Bind(5, int64_t{v1::TASK_STATE_RUNNING});
      release->Bind(6, int64_t{run.attempt}).Bind(7, int64_t{run.rerun});
      EBATS_RETURN_IF_ERROR(release->Run());
      if (db_->Changes() > 0) {
        decisions->push_back(ReleaseDecision::kRelease);
        continue;
      }
      state->Bind(1, run.task_id);
      EBATS_ASSIGN_OR_RETURN(bool row, state->Step());
      const auto current = row ? static_cast<v1::TaskState>(state->Int(0))
                               : v1::TASK_STATE_UNSPECIFIED;
      state->Reset();
      // RETRYING here: an old copy (see the UPDATE).
      decisions->push_back(current == v1::TASK_STATE_CANCELED ||
                                   current == v1::TASK_STATE_SUCCEEDED ||
                                   current == v1::TASK_STATE_DEAD ||
                                   current == v1::TASK_STATE_RETRYING
                               ? ReleaseDecision::kDrop
                               : ReleaseDecision::kRelease);
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::Task> Store::CancelTask(absl::string_view task_id) {
  absl::MutexLock lock(&mu_);
  EBATS_ASSIGN_OR_RETURN(
      auto cancel,
      db_->Prepare("UPDATE tasks SET state = ?1 WHERE id = ?2 AND state IN "
                   "(?3, ?4)"));
  cancel->Bind(1, int64_t{v1::TASK_STATE_CANCELED}).Bind(2, task_id);
  cancel->Bind(3, int64_t{v1::TASK_STATE_SCHEDULED})
      .Bind(4, int64_t{v1::TASK_STATE_RETRYING});
  EBATS_RETURN_IF_ERROR(cancel->Run());
  const bool canceled = db_->Changes() > 0;
  EBATS_ASSIGN_OR_RETURN(v1::Task task, GetTaskLocked(task_id));
  if (!canceled) {
    // A delayed task turns pending shortly before its due time (the due
    // stage's claim), which a caller who sees a future due time would not
    // expect.
    const bool claimed = task.state() == v1::TASK_STATE_PENDING &&
                         task.due_time_ms() > task.publish_time_ms();
    return absl::FailedPreconditionError(absl::StrCat(
        "task ", task_id, " is ", domain::TaskStateName(task.state()),
        "; only scheduled or retrying tasks can be canceled",
        claimed ? " (a delayed task is pending from shortly before its due "
                  "time, when the scheduler claims it to run)"
                : ""));
  }
  return task;
}

absl::StatusOr<v1::Task> Store::PrepareReplay(absl::string_view task_id,
                                              int64_t now_ms) {
  absl::MutexLock lock(&mu_);
  EBATS_ASSIGN_OR_RETURN(bool replayed, ReplayLocked(task_id, now_ms));
  EBATS_ASSIGN_OR_RETURN(v1::Task task, GetTaskLocked(task_id));
  if (!replayed) {
    return absl::FailedPreconditionError(absl::StrCat(
        "task ", task_id, " is ", domain::TaskStateName(task.state()),
        "; only dead tasks can be replayed"));
  }
  return task;
}

absl::StatusOr<std::vector<v1::Task>> Store::PrepareReplays(
    const std::vector<std::string>& task_ids, int64_t now_ms) {
  absl::MutexLock lock(&mu_);
  std::vector<v1::Task> prepared;
  absl::Status status = InTransaction(*db_, [&]() -> absl::Status {
    prepared.clear();
    for (const std::string& id : task_ids) {
      EBATS_ASSIGN_OR_RETURN(bool replayed, ReplayLocked(id, now_ms));
      if (!replayed) continue;
      EBATS_ASSIGN_OR_RETURN(v1::Task task, GetTaskLocked(id));
      prepared.push_back(std::move(task));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return prepared;
}

absl::StatusOr<bool> Store::ReplayLocked(absl::string_view task_id,
                                         int64_t now_ms) {
  EBATS_ASSIGN_OR_RETURN(
      auto replay,
      db_->Prepare(
          "UPDATE tasks SET state = ?1, attempts = 0, runs = 0, "
          "dead_reason = '', "
          "message = '', due_time_ms = ?2, start_time_ms = 0, finish_time_ms = "
          "0, "
          "time_used_us = 0, lateness_ms = 0 WHERE id = ?3 AND state = ?4"));
  replay->Bind(1, int64_t{v1::TASK_STATE_PENDING})
      .Bind(2, now_ms)
      .Bind(3, task_id);
  replay->Bind(4, int64_t{v1::TASK_STATE_DEAD});
  EBATS_RETURN_IF_ERROR(replay->Run());
  return db_->Changes() > 0;
}

absl::Status Store::RestoreDead(absl::string_view task_id,
                                absl::string_view dead_reason) {
  absl::MutexLock lock(&mu_);
  EBATS_ASSIGN_OR_RETURN(
      auto restore, db_->Prepare("UPDATE tasks SET state = ?1, dead_reason = "
                                 "?2 WHERE id = ?3 AND state = ?4"));
  restore->Bind(1, int64_t{v1::TASK_STATE_DEAD})
      .Bind(2, dead_reason)
      .Bind(3, task_id);
  restore->Bind(4, int64_t{v1::TASK_STATE_PENDING});
  return restore->Run();
}

absl::Status Store::PutWorker(const v1::Worker& worker) {
  absl::MutexLock lock(&mu_);
  EBATS_ASSIGN_OR_RETURN(
      auto put,
      db_->Prepare(
          "INSERT OR REPLACE INTO workers (id, spec, last_heartbeat_ms) "
          "VALUES (?, ?, ?)"));
  put->Bind(1, worker.id()).BindBlob(2, worker.SerializeAsString());
  put->Bind(3, worker.last_heartbeat_ms());
  return put->Run();
}

absl::Status Store::TouchWorker(absl::string_view worker_id, int64_t now_ms,
                                int32_t in_flight) {
  absl::MutexLock lock(&mu_);
  EBATS_ASSIGN_OR_RETURN(
      auto touch,
      db_->Prepare("UPDATE workers SET last_heartbeat_ms = ?, in_flight = ? "
                   "WHERE id = ?"));
  touch->Bind(1, now_ms).Bind(2, int64_t{in_flight}).Bind(3, worker_id);
  EBATS_RETURN_IF_ERROR(touch->Run());
  if (db_->Changes() == 0) {
    return absl::NotFoundError(
        absl::StrCat("unknown worker \"", worker_id, "\""));
  }
  return absl::OkStatus();
}

absl::Status Store::DeleteWorker(absl::string_view worker_id) {
  absl::MutexLock lock(&mu_);
  EBATS_ASSIGN_OR_RETURN(auto remove,
                         db_->Prepare("DELETE FROM workers WHERE id = ?"));
  remove->Bind(1, worker_id);
  return remove->Run();
}

absl::StatusOr<int> Store::ForgetWorkers(int64_t before_ms) {
  absl::MutexLock lock(&mu_);
  EBATS_ASSIGN_OR_RETURN(
      auto forget,
      db_->Prepare("DELETE FROM workers WHERE last_heartbeat_ms < ?"));
  forget->Bind(1, before_ms);
  EBATS_RETURN_IF_ERROR(forget->Run());
  return db_->Changes();
}

absl::StatusOr<std::vector<v1::Worker>> Store::ListWorkers() {
  absl::MutexLock lock(&mu_);
  EBATS_ASSIGN_OR_RETURN(
      auto list, db_->Prepare("SELECT spec, last_heartbeat_ms, in_flight FROM "
                              "workers ORDER BY id"));
  std::vector<v1::Worker> workers;
  for (;;) {
    EBATS_ASSIGN_OR_RETURN(bool row, list->Step());
    if (!row) break;
    v1::Worker& w = workers.emplace_back();
    w.ParseFromString(list->Text(0));
    w.set_last_heartbeat_ms(list->Int(1));
    w.set_in_flight(static_cast<int32_t>(list->Int(2)));
  }
  return workers;
}

}  // namespace ebats::store
