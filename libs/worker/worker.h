// The worker library: runs task handlers for one or more topics.
//
//   ebats::worker::Worker worker(options);
//   worker.Handle("virtualShipping", [](const TaskContext& task) {
//     ship(task.params);
//     return Result::Success("shipped");
//   });
//   worker.Start();
//
// Tasks arrive from ebats.task.<topic> with manual acks and a bounded
// prefetch, and run on a pool of `concurrency` threads. A task is acked only
// after its outcome is confirmed by the broker (the report on ebats.results,
// plus the retry or dead-letter message when there is one). So the worker
// never waits on the scheduler, and a crash before the ack means the task
// runs again: handlers must be idempotent (use task_id and attempt).
#ifndef EBATS_LIBS_WORKER_WORKER_H_
#define EBATS_LIBS_WORKER_WORKER_H_

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/amqp/ebats_topology.h"
#include "libs/amqp/publish_batcher.h"
#include "libs/amqp/session.h"
#include "libs/common/clock.h"
#include "libs/worker/handler.h"
#include "libs/worker/heartbeater.h"
#include "libs/worker/worker_metrics.h"
#include "prometheus/registry.h"

namespace ebats::worker {

struct WorkerOptions {
  std::vector<amqp::BrokerUrl> brokers;
  // For amqps:// brokers.
  amqp::AmqpTls broker_tls;
  amqp::QueueType queue_type = amqp::QueueType::kQuorum;
  // Topics to consume; at least one.
  std::vector<std::string> topics;
  // Handlers running at once; 1 or more.
  int concurrency = 4;
  // Unacked tasks held per topic, up to 65535 (AMQP's limit); 0 means
  // 32 * concurrency (at most 65535). A task stays
  // unacked until its outcome report is confirmed (a broker round trip
  // after the run, 10-20 ms when the broker is busy), so short tasks need a
  // deep prefetch to keep threads busy: no-op tasks in batches of 100 ran
  // at 8,500-9,700/s with 16 per thread and 10,900/s with 32 or 64
  // (bench/README.md). For long tasks shared by many workers, a small one
  // (2 * concurrency) hoards less.
  int prefetch = 0;
  // Empty: <hostname>-<pid>-<random>.
  std::string worker_id;
  // Where to register and heartbeat; empty: do not register.
  std::string scheduler_address;
  // TLS and bearer token for the scheduler calls.
  rpc::ClientTls scheduler_tls;
  std::string scheduler_token;
  // Metrics go here; null: a private registry.
  std::shared_ptr<prometheus::Registry> registry;
  // A run still going after this long gets an informational STARTED report,
  // so the store shows the task RUNNING (and on which worker) while it runs.
  // A shorter run sends none: its outcome carries the start and counts the
  // run, saving a broker message (a quorum log entry) per short task.
  // Checked every 20 ms. Zero: report every start at once; an infinite
  // duration: never.
  absl::Duration report_start_after = absl::Milliseconds(100);
  // Longest run of a task whose retry policy sets no timeout. A run over its
  // timeout counts as a retry (reason "timeout" when attempts run out). The
  // handler cannot be interrupted: it keeps its thread until it returns, and
  // its result is then dropped. Its place is not lost: the pool starts a
  // thread in its stead, up to `concurrency` threads beyond the pool's size
  // (gauge ebats_worker_overdue_runs counts such handlers; past that bound
  // the worker runs fewer tasks at once until they return). Capped at
  // 25 min, below RabbitMQ's 30 min consumer_timeout.
  absl::Duration task_timeout = absl::Minutes(10);
  // Deliveries of one task without an outcome (the process crashed or lost
  // its connection mid-run each time) before the task is dead with reason
  // "poison" instead of running again. Must match the other services (see
  // amqp::kDefaultDeliveryLimit). Quorum queues count (x-delivery-count);
  // with classic queues the worker counts, re-publishing a redelivered task
  // with its count through the delay path (due a second later).
  int delivery_limit = amqp::kDefaultDeliveryLimit;
  // Not owned; must outlive the Worker.
  const Clock* clock = &Clock::Real();
};

class Worker {
 public:
  explicit Worker(WorkerOptions options);
  ~Worker();  // Shutdown() with no grace.
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Before Start(). A task with no handler here is retried by its policy
  // (another worker may have it) with a message saying so; once its
  // attempts run out it is dead with reason "exhausted".
  void Handle(const std::string& task, Handler handler);
  // Before Start(). Called after each run's outcome is confirmed.
  void OnReport(ReportCallback callback);
  // Before Start(). Called when the broker connection goes up or down.
  void OnBrokerState(amqp::Session::StateHandler handler) {
    session_->SetStateHandler(std::move(handler));
  }
  // Before Start(). Called when the broker blocks or unblocks publishing
  // (a resource alarm): outcomes wait, unacked, until it lifts.
  void OnBrokerBlocked(amqp::Session::BlockedHandler handler) {
    session_->SetBlockedHandler(std::move(handler));
  }

  // Connects (in the background; see IsUp) and starts consuming.
  // INVALID_ARGUMENT for bad options (no topics, a bad topic name, a
  // concurrency below 1, a prefetch outside [0, 65535], a task timeout
  // outside (0, 25 min]).
  absl::Status Start();
  // Stops taking tasks, lets runs in progress (and tasks already received)
  // finish for up to `grace` with their outcomes confirmed, then disconnects:
  // whatever did not finish returns to its queue and runs again (a handler
  // still running past the grace period cannot be interrupted; its outcome
  // is dropped). Does not wait for such handlers: running_handlers() says
  // how many there are, and Shutdown() must still follow before the Worker
  // is destroyed, unless the process ends first (a stuck handler would
  // otherwise keep it from ever exiting). Idempotent.
  void Drain(absl::Duration grace = absl::Seconds(30));
  // Drain(grace), then blocks until every handler has returned. Idempotent.
  void Shutdown(absl::Duration grace = absl::Seconds(30));
  // Handlers running now, those past their timeout included.
  int running_handlers();

  bool IsUp() const { return session_->IsUp(); }
  const std::string& id() const { return id_; }
  int in_flight() const { return in_flight_.load(); }
  // The worker's topics and handlers, as the scheduler sees them.
  v1::Worker Description() const;

 private:
  void Enqueue(amqp::Delivery delivery);
  void PoolLoop();
  // Gives the slots of `runs` runs past their timeout back and adds a pool
  // thread for each handler that keeps running.
  void FreeOverdueSlots(int runs);
  // Adds a pool thread; false when the pool is at its bound.
  bool AddPoolThread() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  struct Run;
  // Runs one delivery. True when the run went past its timeout: the
  // watchdog finished it and gave its slot back.
  bool Process(amqp::Delivery delivery);
  // Which delivery of its task this is (1 = first), as far as known.
  int64_t DeliveryNumber(const amqp::Delivery& delivery,
                         const v1::TaskMessage& task) const;
  Result RunHandler(const TaskContext& context);
  // Sends the run's STARTED report unless it was sent or the run finished.
  void ReportStart(Run& run);
  // Reports `outcome` of `run` (retry or dead-letter messages included).
  void Finish(Run& run, const Result& outcome, bool timed_out);
  v1::TaskResult BaseResult(const Run& run) const;
  // Finishes runs that exceed their timeout.
  void WatchdogLoop();
  // Publishes `messages` and `result` (through the report batcher); acks
  // the delivery once all are confirmed, else hands it back.
  void Complete(const amqp::DeliveryTag& handle,
                std::vector<amqp::Message> messages, TaskReport report,
                std::optional<v1::TaskResult> result = std::nullopt);

  WorkerOptions options_;
  std::string id_;
  std::shared_ptr<prometheus::Registry> registry_;
  WorkerMetrics metrics_;
  std::map<std::string, Handler> handlers_;
  ReportCallback report_;
  std::unique_ptr<amqp::Session> session_;
  // Sends STARTED reports and outcomes to ebats.results; uses session_.
  std::unique_ptr<amqp::PublishBatcher<v1::TaskResult>> reports_;
  std::unique_ptr<Heartbeater> heartbeater_;

  absl::Mutex mu_;
  std::deque<amqp::Delivery> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Runs holding one of the `concurrency` slots. A run past its timeout
  // gives its slot up (its outcome is reported), so a stuck handler does not
  // take a place from the tasks that wait.
  int slots_taken_ ABSL_GUARDED_BY(mu_) = 0;
  // Handlers still running past their timeout, each holding a thread.
  int overdue_ ABSL_GUARDED_BY(mu_) = 0;
  // `concurrency` threads, plus one per overdue handler (up to
  // `concurrency` more), so that `concurrency` are free to run tasks.
  std::vector<std::thread> pool_ ABSL_GUARDED_BY(mu_);
  std::thread watchdog_;
  absl::Mutex running_mu_;
  std::set<std::shared_ptr<Run>> running_ ABSL_GUARDED_BY(running_mu_);
  bool watchdog_stop_ ABSL_GUARDED_BY(running_mu_) = false;
  // Received and not yet settled (run + outcome confirmed, or given up).
  std::atomic<int> in_flight_{0};
  bool started_ = false;
  bool drained_ = false;
  bool shut_down_ = false;
};

}  // namespace ebats::worker

#endif  // EBATS_LIBS_WORKER_WORKER_H_
