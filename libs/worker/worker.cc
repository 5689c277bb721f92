#include "libs/worker/worker.h"

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <exception>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "libs/amqp/confirm_join.h"
#include "libs/amqp/ebats_topology.h"
#include "libs/codec/message_codec.h"
#include "libs/domain/broker_names.h"
#include "libs/domain/ids.h"
#include "libs/domain/names.h"
#include "libs/domain/registration.h"
#include "spdlog/spdlog.h"

namespace ebats::worker {
namespace {

std::string DefaultWorkerId() {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  return absl::StrCat(host, "-", getpid(), "-",
                      domain::NewRandomId().substr(0, 6));
}

}  // namespace

Worker::Worker(WorkerOptions options)
    : options_(std::move(options)),
      id_(options_.worker_id.empty() ? DefaultWorkerId() : options_.worker_id),
      registry_(options_.registry ? options_.registry
                                  : std::make_shared<prometheus::Registry>()),
      metrics_(*registry_) {
  amqp::SessionOptions session;
  session.brokers = options_.brokers;
  session.tls = options_.broker_tls;
  session.connection_name = absl::StrCat("ebats-worker ", id_);
  // Start refuses values outside the range; this only keeps the cast sane.
  session.prefetch = static_cast<uint16_t>(std::clamp<int64_t>(
      options_.prefetch > 0 ? options_.prefetch
                            : int64_t{32} * options_.concurrency,
      1, amqp::kMaxPrefetch));
  session.topology = amqp::WorkerTopology(options_.queue_type, options_.topics,
                                          options_.delivery_limit);
  session_ = std::make_unique<amqp::Session>(std::move(session));
  reports_ = std::make_unique<amqp::PublishBatcher<v1::TaskResult>>(
      *session_, codec::EncodeResultBatch);
}

Worker::~Worker() { Shutdown(absl::ZeroDuration()); }

void Worker::Handle(const std::string& task, Handler handler) {
  handlers_[task] = std::move(handler);
}

void Worker::OnReport(ReportCallback callback) {
  report_ = std::move(callback);
}

v1::Worker Worker::Description() const {
  v1::Worker w;
  w.set_id(id_);
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  w.set_host(host);
  w.set_pid(getpid());
  for (const auto& topic : options_.topics) w.add_topics(topic);
  for (const auto& [task, handler] : handlers_) w.add_tasks(task);
  w.set_concurrency(options_.concurrency);
  return w;
}

absl::Status Worker::Start() {
  if (options_.topics.empty())
    return absl::InvalidArgumentError("worker: no topics to consume");
  for (const auto& topic : options_.topics) {
    if (absl::Status s = domain::ValidateTopicName(topic); !s.ok()) return s;
  }
  if (options_.brokers.empty())
    return absl::InvalidArgumentError("worker: no broker URL");
  if (options_.concurrency < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "worker: concurrency must be 1 or more, not ", options_.concurrency));
  }
  if (options_.prefetch < 0 || options_.prefetch > amqp::kMaxPrefetch) {
    return absl::InvalidArgumentError(absl::StrCat(
        "worker: prefetch must be between 0 (32 x concurrency) and ",
        amqp::kMaxPrefetch, ", not ", options_.prefetch));
  }
  if (options_.task_timeout <= absl::ZeroDuration() ||
      options_.task_timeout > absl::Milliseconds(domain::kMaxTaskTimeoutMs)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "worker: task timeout ", absl::FormatDuration(options_.task_timeout),
        " must be above 0 and at most ",
        absl::FormatDuration(absl::Milliseconds(domain::kMaxTaskTimeoutMs))));
  }
  started_ = true;
  for (const auto& topic : options_.topics) {
    session_->AddConsumer(domain::TaskQueueName(topic),
                          [this](amqp::Delivery d) { Enqueue(std::move(d)); });
  }
  {
    absl::MutexLock lock(&mu_);
    for (int i = 0; i < options_.concurrency; ++i) AddPoolThread();
  }
  watchdog_ = std::thread([this] { WatchdogLoop(); });
  session_->Start();
  if (!options_.scheduler_address.empty()) {
    HeartbeaterOptions hb;
    hb.scheduler_address = options_.scheduler_address;
    hb.tls = options_.scheduler_tls;
    hb.token = options_.scheduler_token;
    hb.worker = Description();
    heartbeater_ = std::make_unique<Heartbeater>(
        std::move(hb), [this] { return in_flight(); });
    heartbeater_->Start();
  }
  return absl::OkStatus();
}

void Worker::Drain(absl::Duration grace) {
  if (drained_) return;
  drained_ = true;
  if (started_) {
    session_->StopConsuming();
    // Let what was received finish, within the grace period.
    absl::Time deadline = absl::Now() + grace;
    while (in_flight_.load() > 0 && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    if (in_flight_.load() > 0) {
      spdlog::warn(
          "worker {}: {} task(s) unfinished after the grace period; "
          "they return to their queue",
          id_, in_flight_.load());
    }
  }
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (heartbeater_) heartbeater_->Shutdown();
  // Close the connection before waiting for handlers still running past the
  // grace period: their tasks, unacked, go back to the queue now (and may
  // run elsewhere while these finish; their outcomes are then dropped).
  session_->Shutdown();
  // The watchdog adds pool threads: once it stops, Shutdown's join of the
  // pool is final.
  {
    absl::MutexLock lock(&running_mu_);
    watchdog_stop_ = true;
  }
  if (watchdog_.joinable()) watchdog_.join();
}

void Worker::Shutdown(absl::Duration grace) {
  Drain(grace);
  if (shut_down_) return;
  shut_down_ = true;
  std::vector<std::thread> pool;
  {
    absl::MutexLock lock(&mu_);
    pool.swap(pool_);
  }
  for (auto& thread : pool) thread.join();
}

int Worker::running_handlers() {
  absl::MutexLock lock(&running_mu_);
  return static_cast<int>(running_.size());
}

void Worker::FreeOverdueSlots(int runs) {
  absl::MutexLock lock(&mu_);
  slots_taken_ -= runs;
  overdue_ += runs;
  metrics_.overdue_runs().Increment(runs);
  // Keep `concurrency` threads that are not held by an overdue handler.
  while (static_cast<int>(pool_.size()) - overdue_ < options_.concurrency) {
    if (!AddPoolThread()) {
      spdlog::warn(
          "worker {}: {} handler(s) still running past their timeout; the "
          "pool is at its bound of {} threads, so fewer tasks run at once "
          "until they return",
          id_, overdue_, pool_.size());
      break;
    }
  }
}

bool Worker::AddPoolThread() {
  if (static_cast<int>(pool_.size()) >= 2 * options_.concurrency) return false;
  pool_.emplace_back([this] { PoolLoop(); });
  return true;
}

void Worker::Enqueue(amqp::Delivery delivery) {
  in_flight_.fetch_add(1);
  metrics_.in_flight().Increment();
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(delivery));
}

void Worker::PoolLoop() {
  // The previous run's slot (or overdue count) is given back under the same
  // lock that takes the next task: one lock per task.
  bool ran = false;
  bool overdue = false;
  for (;;) {
    amqp::Delivery delivery;
    {
      absl::MutexLock lock(&mu_);
      if (overdue) {
        --overdue_;
        metrics_.overdue_runs().Decrement();
      } else if (ran) {
        --slots_taken_;
      }
      mu_.Await(absl::Condition(
          +[](Worker* w) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return w->stopping_ || (!w->queue_.empty() &&
                                    w->slots_taken_ < w->options_.concurrency);
          },
          this));
      if (stopping_) return;
      delivery = std::move(queue_.front());
      queue_.pop_front();
      ++slots_taken_;
    }
    overdue = Process(std::move(delivery));
    ran = true;
  }
}

Result Worker::RunHandler(const TaskContext& context) {
  auto it = handlers_.find(context.task);
  if (it == handlers_.end()) {
    // Likely transient: during a rolling deploy another worker of the topic
    // (or this one, updated) has the handler. So the task retries by its
    // policy, as Asynq and Sidekiq do, instead of dying on the first worker
    // that lacks it; when its attempts run out it is dead ("exhausted") with
    // this message.
    return Result::Retry(absl::StrCat("no handler for task \"", context.task,
                                      "\" on worker ", id_));
  }
  try {
    return it->second(context);
  } catch (const std::exception& e) {
    return Result::Retry(absl::StrCat("handler threw: ", e.what()));
  } catch (...) {
    return Result::Retry("handler threw a non-standard exception");
  }
}

// One run of one task, shared by the pool thread running the handler and
// the watchdog: whichever finishes it first (handler returned, or timeout)
// reports the outcome; the other one's result is dropped.
struct Worker::Run {
  amqp::DeliveryTag handle;
  v1::TaskMessage task;
  TaskContext context;
  int64_t start_ms = 0;
  int64_t start_us = 0;
  int64_t deadline_us = 0;
  std::atomic<bool> finished{false};
  // Not run: over the delivery limit.
  bool poisoned = false;
  // A STARTED report, when there is one, reaches the report batcher before
  // the outcome (a STARTED applied after a retry outcome would show the
  // RETRYING task as RUNNING): it is sent under this mutex, and only while
  // `finished` is unset; the outcome reads start_reported under it.
  absl::Mutex report_mu;
  bool start_reported ABSL_GUARDED_BY(report_mu) = false;
};

// Set by quorum queues on a redelivery: earlier deliveries without an ack.
constexpr char kDeliveryCountHeader[] = "x-delivery-count";
// Classic queues: how long a counted redelivery waits before it runs.
constexpr int64_t kClassicRedeliveryDelayMs = 1000;

int64_t Worker::DeliveryNumber(const amqp::Delivery& delivery,
                               const v1::TaskMessage& task) const {
  if (options_.queue_type == amqp::QueueType::kQuorum) {
    // Quorum queues count earlier deliveries that ended without an ack.
    return 1 + delivery.IntHeader(kDeliveryCountHeader, 0);
  }
  return codec::DeliveryOfAttempt(task) + (delivery.redelivered ? 1 : 0);
}

bool Worker::Process(amqp::Delivery delivery) {
  auto decoded = codec::DecodeTask(delivery);
  if (!decoded.ok()) {
    spdlog::error("worker {}: undecodable message on {} sent to {}: {}", id_,
                  delivery.queue, domain::kPoisonQueue,
                  decoded.status().ToString());
    Complete(delivery.tag(),
             {codec::EncodePoison(delivery,
                                  std::string(decoded.status().message()))},
             TaskReport());
    return false;
  }
  const int64_t delivery_number = DeliveryNumber(delivery, *decoded);
  if (delivery.redelivered &&
      options_.queue_type == amqp::QueueType::kClassic &&
      delivery_number <= options_.delivery_limit) {
    // Classic queues do not count deliveries: re-publish the task with its
    // count and drop this delivery once the copy is confirmed. The copy
    // takes the delay path, due in a second: a crash loop backs off, and the
    // ack of this delivery is long through before the copy can run (an ack
    // lost with a crashing process would otherwise bring back the uncounted
    // original).
    v1::TaskMessage copy = *decoded;
    copy.set_deliveries(static_cast<int32_t>(delivery_number));
    const int64_t now_ms = options_.clock->NowMs();
    copy.set_due_time_ms(now_ms + kClassicRedeliveryDelayMs);
    Complete(delivery.tag(), {codec::EncodeDelayed(copy, now_ms)},
             TaskReport());
    return false;
  }
  auto run = std::make_shared<Run>();
  run->handle = delivery.tag();
  run->task = *std::move(decoded);
  run->poisoned = delivery_number > options_.delivery_limit;
  const v1::TaskMessage& task = run->task;
  run->context = TaskContext{
      task.task_id(),    task.event_id(),     task.event(),
      task.topic(),      task.task(),         task.params(),
      task.attempt(),    task.max_attempts(), task.publish_time_ms(),
      task.due_time_ms()};
  if (run->context.max_attempts < 1) {
    run->context.max_attempts = domain::EffectiveMaxAttempts(task.retry());
  }
  run->start_ms = options_.clock->NowMs();
  run->start_us = options_.clock->NowUs();
  const int64_t timeout_ms =
      std::min(task.retry().timeout_ms() > 0
                   ? task.retry().timeout_ms()
                   : absl::ToInt64Milliseconds(options_.task_timeout),
               domain::kMaxTaskTimeoutMs);
  run->deadline_us = run->start_us + timeout_ms * 1000;
  if (run->poisoned) {
    spdlog::error(
        "worker {}: task {} ({}) was delivered {} times without an outcome "
        "(limit {}); dead with reason poison, not run",
        id_, task.task_id(), task.task(), delivery_number - 1,
        options_.delivery_limit);
    Finish(*run,
           Result::Fail(absl::StrCat(
               "delivered ", delivery_number - 1,
               " times without an outcome (each run ended with its worker "
               "gone); delivery limit ",
               options_.delivery_limit)),
           /*timed_out=*/false);
    return false;
  }
  metrics_.Started(task.topic(),
                   absl::Milliseconds(run->start_ms - task.publish_time_ms()),
                   absl::Milliseconds(run->start_ms - task.due_time_ms()));
  if (options_.report_start_after <= absl::ZeroDuration()) ReportStart(*run);
  {
    absl::MutexLock lock(&running_mu_);
    running_.insert(run);
  }
  Result outcome = RunHandler(run->context);
  {
    absl::MutexLock lock(&running_mu_);
    running_.erase(run);
  }
  if (run->finished.exchange(true)) {
    spdlog::warn(
        "worker {}: task {} returned after its timeout; its result is dropped",
        id_, task.task_id());
    return true;
  }
  Finish(*run, outcome, /*timed_out=*/false);
  return false;
}

void Worker::WatchdogLoop() {
  for (;;) {
    std::vector<std::shared_ptr<Run>> expired;
    std::vector<std::shared_ptr<Run>> long_runs;
    {
      absl::MutexLock lock(&running_mu_);
      if (running_mu_.AwaitWithTimeout(absl::Condition(&watchdog_stop_),
                                       absl::Milliseconds(20))) {
        return;
      }
      const int64_t now_us = options_.clock->NowUs();
      for (const auto& run : running_) {
        if (now_us >= run->deadline_us && !run->finished.exchange(true)) {
          expired.push_back(run);
        } else if (absl::Microseconds(now_us - run->start_us) >=
                   options_.report_start_after) {
          long_runs.push_back(run);
        }
      }
      // Under running_mu_: the pool thread of an expired run counts it back
      // only after taking running_mu_ to leave running_, so after this.
      if (!expired.empty()) FreeOverdueSlots(static_cast<int>(expired.size()));
    }
    // Runs already reported return at once: a few per thread at most.
    for (const auto& run : long_runs) ReportStart(*run);
    for (const auto& run : expired) {
      const int64_t limit_ms = (run->deadline_us - run->start_us) / 1000;
      spdlog::warn(
          "worker {}: task {} ({}) exceeded its {} ms timeout; {} (the "
          "handler runs on, its result will be dropped)",
          id_, run->task.task_id(), run->task.task(), limit_ms,
          run->context.attempt >= run->context.max_attempts
              ? "no attempts left, dead"
              : "retrying it");
      Finish(*run,
             Result::Retry(absl::StrCat("timed out after ", limit_ms, " ms")),
             /*timed_out=*/true);
    }
  }
}

v1::TaskResult Worker::BaseResult(const Run& run) const {
  v1::TaskResult result;
  result.set_task_id(run.task.task_id());
  result.set_topic(run.task.topic());
  result.set_task(run.task.task());
  result.set_attempt(run.context.attempt);
  result.set_worker_id(id_);
  result.set_start_time_ms(run.start_ms);
  return result;
}

void Worker::ReportStart(Run& run) {
  absl::MutexLock lock(&run.report_mu);
  if (run.start_reported || run.finished.load()) return;
  run.start_reported = true;
  v1::TaskResult started = BaseResult(run);
  started.set_outcome(v1::OUTCOME_STARTED);
  // Informational: the final report supersedes it, so nobody waits for it.
  reports_->Add(std::move(started), [](absl::Status) {});
}

void Worker::Finish(Run& run, const Result& outcome, bool timed_out) {
  const v1::TaskMessage& task = run.task;
  const int64_t now_ms = options_.clock->NowMs();
  const int64_t time_used_us = options_.clock->NowUs() - run.start_us;
  metrics_.Finished(task.topic(), task.task(), outcome.outcome(),
                    absl::Microseconds(time_used_us));

  v1::TaskResult result = BaseResult(run);
  result.set_outcome(outcome.outcome());
  result.set_finish_time_ms(now_ms);
  result.set_time_used_us(time_used_us);
  result.set_message(outcome.message());
  {
    // `finished` is set (a poisoned run never had a STARTED to send).
    absl::MutexLock lock(&run.report_mu);
    // A poisoned task did not run: there is no run to count.
    result.set_start_unreported(!run.start_reported && !run.poisoned);
  }

  std::vector<amqp::Message> messages;
  if (run.poisoned) {
    result.set_dead_reason("poison");
  } else if (outcome.outcome() == v1::OUTCOME_FAILED) {
    result.set_dead_reason("failed");
  } else if (outcome.outcome() == v1::OUTCOME_RETRY) {
    if (run.context.attempt >= run.context.max_attempts) {
      result.set_dead_reason(timed_out ? "timeout" : "exhausted");
    } else {
      // A fresh message with our own attempt counter: re-publishing the
      // delivery (with its x-death history) would trip the broker's
      // dead-letter cycle detection, which silently drops it.
      thread_local absl::BitGen gen;
      v1::TaskMessage next = task;
      next.set_attempt(run.context.attempt + 1);
      // The new attempt's first delivery: a count carried over from a
      // re-run of this attempt would spend the next attempt's delivery
      // limit and mark its message as a re-run to the due stage.
      next.clear_deliveries();
      next.set_max_attempts(run.context.max_attempts);
      next.set_due_time_ms(
          now_ms +
          domain::RetryDelayMs(task.retry(), run.context.attempt,
                               absl::ToInt64Milliseconds(outcome.retry_after()),
                               absl::Uniform(gen, 0.0, 1.0)));
      result.set_retry_due_time_ms(next.due_time_ms());
      messages.push_back(codec::EncodeDelayed(next, now_ms));
      metrics_.Retried(task.topic(), task.task());
    }
  }
  if (!result.dead_reason().empty()) {
    messages.push_back(
        codec::EncodeDead(task, result.dead_reason(), outcome.message()));
    metrics_.Dead(task.topic(), result.dead_reason());
  }
  TaskReport report{task.topic(),
                    task.task_id(),
                    task.task(),
                    task.params(),
                    absl::Microseconds(time_used_us),
                    outcome.message(),
                    outcome.outcome(),
                    run.context.attempt,
                    result.dead_reason()};
  Complete(run.handle, std::move(messages), std::move(report),
           std::move(result));
}

void Worker::Complete(const amqp::DeliveryTag& handle,
                      std::vector<amqp::Message> messages, TaskReport report,
                      std::optional<v1::TaskResult> result) {
  auto shared_report = std::make_shared<TaskReport>(std::move(report));
  // Settles the delivery once all its messages are confirmed (on the Session
  // thread, or on a pool thread when a publish fails at once). Captures only
  // what settling needs; the body can be large.
  auto settle = amqp::JoinConfirms(
      static_cast<int>(messages.size()) + (result.has_value() ? 1 : 0),
      [this, handle, shared_report](absl::Status error) {
        if (error.ok()) {
          session_->Ack(handle);
          if (report_ && !shared_report->task_id.empty())
            report_(*shared_report);
        } else {
          // Not acked: the broker hands the task out again (at-least-once).
          spdlog::warn(
              "worker {}: outcome of task {} not confirmed ({}); it will run "
              "again",
              id_, shared_report->task_id, error.ToString());
          session_->Reject(handle, /*requeue=*/true);
        }
        in_flight_.fetch_sub(1);
        metrics_.in_flight().Decrement();
      });
  for (auto& message : messages) session_->Publish(std::move(message), settle);
  if (result.has_value()) reports_->Add(*std::move(result), settle);
}

}  // namespace ebats::worker
