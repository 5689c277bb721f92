// The scheduler's durable state: registrations, task records and workers,
// in one SQLite file (WAL mode). Survives restarts.
//
// Thread-safe: all methods may be called from any thread; writes are
// serialized internally. Batch methods run in one transaction.
//
// A store in a file copies its write-ahead log into the database file on a
// thread and connection of its own, a little every 100 ms: SQLite's own
// checkpoint runs in the commit that fills the log (1000 pages), and its
// fsyncs held that commit, every task waiting on the store, and the broker's
// own disk writes, for 10-25 ms about once a second at 200 tasks/s. A write
// still checkpoints a log past 4096 pages, which only writes without a pause
// reach.
#ifndef EBATS_LIBS_STORE_STORE_H_
#define EBATS_LIBS_STORE_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "ebats/v1/messages.pb.h"
#include "ebats/v1/types.pb.h"
#include "libs/store/sqlite_db.h"

namespace ebats::store {

struct TaskFilter {
  std::string event_id;                              // empty = any
  std::string topic;                                 // empty = any
  v1::TaskState state = v1::TASK_STATE_UNSPECIFIED;  // unspecified = any
};

struct TaskPage {
  std::vector<v1::Task> tasks;
  std::string next_page_token;  // empty when there is no further page
};

// What InsertTasks found for one task.
enum class InsertOutcome {
  kInserted,             // new record
  kExistsNotDispatched,  // recorded before, never confirmed dispatched
  kExistsDispatched,     // recorded and dispatched before: do not send again
};

// What the due stage may do with a task whose due time has come.
enum class ReleaseDecision {
  kRelease,  // now PENDING (or unknown to the store): publish it
  kDrop,     // canceled, finished, or an old copy of a retrying task
};

// A delayed run that has reached the due stage: the task, the attempt its
// message carries, and whether it is a worker's re-run of a delivery that
// ended without an outcome (classic queues count deliveries this way: see
// Worker), which runs again on purpose.
struct DueRun {
  std::string task_id;
  int attempt = 1;
  bool rerun = false;
};

class Store {
 public:
  // Opens or creates the store at `path` (":memory:" for tests) and creates
  // the schema. UNAVAILABLE when the file cannot be opened.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& path);
  ~Store();  // Stops the checkpoint thread; closing checkpoints the rest.
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Adds a registration. Returns true when created, false when the same
  // registration (same settings) already existed; ALREADY_EXISTS when one with
  // the same (event, topic, task) has other settings.
  absl::StatusOr<bool> PutRegistration(const v1::Registration& registration);
  // NOT_FOUND when there is no such registration.
  absl::Status DeleteRegistration(absl::string_view event,
                                  absl::string_view topic,
                                  absl::string_view task);
  // Registrations under `event`, or all when it is empty; ordered by key.
  absl::StatusOr<std::vector<v1::Registration>> ListRegistrations(
      absl::string_view event);

  // Remembers that tasks went to `topic`, so that a restarted scheduler
  // still knows topics that have no registration (created tasks).
  // Idempotent.
  absl::Status AddTopic(absl::string_view topic);
  // Every topic given to AddTopic, sorted.
  absl::StatusOr<std::vector<std::string>> ListTopics();

  // Records new tasks (existing ids are left as they are) and says for each
  // task what was found. `outcomes` gets one entry per task.
  absl::Status InsertTasks(const std::vector<v1::Task>& tasks,
                           std::vector<InsertOutcome>* outcomes);
  // For each keyed event (event id, publish time), in order: the generation
  // of its idempotency key (domain::NextKeyGeneration with `window_ms`),
  // recording generations that start. One row per distinct key is kept for
  // good: forgetting a key would reuse generation 0's task ids.
  absl::Status KeyGenerations(
      const std::vector<std::pair<std::string, int64_t>>& events,
      int64_t window_ms, std::vector<int>* generations);
  // Marks tasks as confirmed on ebats.ntask.
  absl::Status MarkDispatched(const std::vector<std::string>& task_ids,
                              int64_t now_ms);
  // NOT_FOUND for an unknown id.
  absl::StatusOr<v1::Task> GetTask(absl::string_view task_id);
  // GetTask that waits for an unknown task to be recorded: it returns as
  // soon as InsertTasks records it, or NOT_FOUND once `deadline` has passed
  // (at once for a deadline already past: then it is GetTask).
  absl::StatusOr<v1::Task> AwaitTask(absl::string_view task_id,
                                     absl::Time deadline);
  // Newest first. page_size is clamped to 1..1000 (0 = 100). INVALID_ARGUMENT
  // for a malformed page token.
  absl::StatusOr<TaskPage> ListTasks(const TaskFilter& filter, int page_size,
                                     absl::string_view page_token);
  // Applies worker reports in order, in one transaction. Reports for unknown
  // tasks are skipped and counted in `unknown` (may be null). A STARTED report
  // never moves a finished task back.
  absl::Status ApplyResults(const std::vector<v1::TaskResult>& results,
                            int* unknown);

  // For each run, atomically moves a SCHEDULED, RETRYING or RUNNING task to
  // PENDING and says kRelease, or says kDrop for a CANCELED, SUCCEEDED or
  // DEAD one, and for an old copy of a task that is RETRYING (attempts >= the
  // run's attempt, not a re-run): a copy that came back after its release
  // (the scheduler stopped before acking it) must not bring the retry
  // forward; the retry has a message of its own. PENDING tasks and ids the
  // store does not know are released (again): at-least-once beats losing a
  // task. One transaction.
  absl::Status ReleaseTasks(const std::vector<DueRun>& runs,
                            std::vector<ReleaseDecision>* decisions);
  // SCHEDULED or RETRYING -> CANCELED; returns the task. NOT_FOUND for an
  // unknown id, FAILED_PRECONDITION (naming the state) for any other state.
  absl::StatusOr<v1::Task> CancelTask(absl::string_view task_id);
  // DEAD -> PENDING with attempts, runs, message and dead reason cleared
  // (runs > attempts then still means a repeated run); returns
  // the task to publish. NOT_FOUND, or FAILED_PRECONDITION when not DEAD.
  absl::StatusOr<v1::Task> PrepareReplay(absl::string_view task_id,
                                         int64_t now_ms);
  // PrepareReplay for many tasks in one transaction: returns the ones that
  // were DEAD, now PENDING, in `task_ids` order, and skips the others (a
  // concurrent replay took them).
  absl::StatusOr<std::vector<v1::Task>> PrepareReplays(
      const std::vector<std::string>& task_ids, int64_t now_ms);

  // Undoes PrepareReplay when the replay could not be published: PENDING ->
  // DEAD with `dead_reason`.
  absl::Status RestoreDead(absl::string_view task_id,
                           absl::string_view dead_reason);

  // Inserts or replaces a worker.
  absl::Status PutWorker(const v1::Worker& worker);
  // Records a heartbeat: its time and the tasks running. NOT_FOUND when the
  // worker is unknown.
  absl::Status TouchWorker(absl::string_view worker_id, int64_t now_ms,
                           int32_t in_flight = 0);
  // OK whether or not the worker was known.
  absl::Status DeleteWorker(absl::string_view worker_id);
  // Deletes the workers whose last heartbeat is before `before_ms`; returns
  // how many.
  absl::StatusOr<int> ForgetWorkers(int64_t before_ms);
  // Every known worker with its last heartbeat and tasks in flight.
  absl::StatusOr<std::vector<v1::Worker>> ListWorkers();

 private:
  explicit Store(std::unique_ptr<Database> db) : db_(std::move(db)) {}
  absl::Status Init();
  // For a store in a file: leaves the commit path only a backstop checkpoint
  // (at 4096 pages) and starts the checkpoint thread on a connection of its
  // own.
  absl::Status StartCheckpoints(const std::string& path);
  void CheckpointLoop();
  absl::StatusOr<v1::Task> GetTaskLocked(absl::string_view task_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // DEAD -> PENDING as PrepareReplay says; false when the task is not DEAD.
  absl::StatusOr<bool> ReplayLocked(absl::string_view task_id, int64_t now_ms)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  std::unique_ptr<Database> db_ ABSL_GUARDED_BY(mu_);
  // AwaitTask's callers by the task id each waits for; InsertTasks marks
  // the ones whose task it recorded, so a waiter wakes for its own task
  // only, not at every insert.
  struct Awaiting {
    bool recorded = false;
  };
  absl::flat_hash_map<std::string, std::vector<Awaiting*>> awaiting_
      ABSL_GUARDED_BY(mu_);

  // Used only by checkpointer_.
  std::unique_ptr<Database> checkpoint_db_;
  absl::Notification checkpoint_stop_;
  std::thread checkpointer_;
};

}  // namespace ebats::store

#endif  // EBATS_LIBS_STORE_STORE_H_
